// Package ledger is the clean room's append-only, tamper-evident log.
//
// Every state change of the clean room is an entry: opaque bytes to this
// package (the node puts signed statements and its decisions in them). The
// ledger stores and proves; it never judges what an entry says. Entries are
// the leaves of an RFC 6962 Merkle tree (https://www.rfc-editor.org/rfc/rfc6962#section-2.1),
// computed with github.com/transparency-dev/merkle, and after every append
// the node signs a checkpoint: a C2SP tlog-checkpoint
// (https://c2sp.org/tlog-checkpoint) in a signed note
// (https://c2sp.org/signed-note, golang.org/x/mod/sumdb/note).
//
// # Guarantees
//
//   - Durable appends. When [Log.Append] returns an index, the entry's record
//     has been written and fsynced and a checkpoint covering it has been
//     signed and atomically stored (write a temporary file, fsync, rename,
//     fsync the directory). Appends are serialised; indices are contiguous.
//   - Fail closed. After any write failure the Log refuses further appends
//     with [ErrUnavailable] until reopened; a failed append truncates its
//     record back where it can (see [Log.Append] for the narrow cases where
//     the outcome is unknown).
//   - Tamper evidence. Changing any byte of the entries file or of the
//     checkpoint, removing, reordering or truncating records, or pairing an
//     entries file with a checkpoint from another time is detected by
//     [Open] and by [Verify], with an [*EntryError] naming the first
//     damaged entry when there is one. (One exception for Open, by design:
//     a checkpoint exactly one append older than the entries file looks
//     like a crash between writing a record and storing its checkpoint, and
//     Open signs a checkpoint for that record; Verify refuses it.) What
//     cannot be detected from the directory alone is a consistent rollback
//     of both files together to an earlier state: for that, keep earlier
//     checkpoints and check new ones against them with [VerifyConsistency]
//     (auditors and agents do).
//   - Proofs. [Log.InclusionProof] and [Log.ConsistencyProof] are standard
//     RFC 6962 proofs; [VerifyInclusion] and [VerifyConsistency] check them
//     against parsed checkpoints, and any RFC 6962 verifier (for example
//     golang.org/x/mod/sumdb/tlog) accepts them too.
//
// # Files
//
// A log directory holds three files:
//
//	entries      the records, append-only
//	checkpoint   the latest signed checkpoint note, replaced atomically
//	lock         empty; held with flock(2) while a Log has the directory open
//
// and transiently entries.tmp or checkpoint.tmp while one is being replaced.
// Files are created with mode 0600, the directory with 0700.
//
// The entries file is a 20-byte header, the ASCII line
//
//	"cleanroom ledger v1\n"
//
// followed by one record per entry, back to back, in index order. A record is
//
//	length     4 bytes   big-endian uint32 n, 1 <= n <= MaxEntrySize (16 MiB)
//	entry      n bytes   the entry
//	leaf hash  32 bytes  SHA-256(0x00 || entry), the entry's RFC 6962 leaf hash
//
// so a log of k entries of sizes n_0 … n_(k-1) is 20 + Σ(36 + n_i) bytes.
// Record i starts right after record i-1; there is no index file: Open
// reads the records in order and keeps their offsets in memory. The stored
// leaf hash lets a damaged entry be named on its own, before any root is
// compared.
//
// The checkpoint file is a signed note whose text is exactly
//
//	<origin>\n
//	<size, decimal, no leading zeros>\n
//	<root hash, 32 bytes, standard base64 with padding>\n
//
// followed by a blank line and the signature line(s) of the note format.
// The origin is the deployment's name given to Open; the size counts the
// entries the checkpoint covers and the root is their RFC 6962 Merkle root
// (for size 0, SHA-256 of the empty string). This package writes no
// extension lines and refuses checkpoints that have them.
//
// # Trust on open
//
// Open recomputes the tree from the records and verifies the stored
// checkpoint with the signer it is given, by signing the checkpoint's text
// again and comparing the signatures: this is exact for a deterministic
// scheme such as note's Ed25519 (all signers in this project), and makes
// Open refuse a log signed by a randomised signer. It then requires every
// record the checkpoint covers to be intact and their root to be the
// checkpoint's.
//
// Beyond the checkpoint, Open accepts exactly what one interrupted append
// can leave, since every append stores its checkpoint before the next
// append starts: one complete record (the crash came before the new
// checkpoint was stored), which Open keeps and signs a checkpoint for, or
// one torn record (a frame running past the end of the file, a last frame
// whose bytes did not all reach the disk, or a zero-filled tail), which
// Open truncates away. Anything more is refused as a rolled-back
// checkpoint or a tampered file.
//
// # Memory
//
// An open Log keeps, per entry, its record's offset (8 bytes) and the hash
// of every perfect subtree of the Merkle tree (about 64 bytes per entry:
// the leaf hashes plus half as many at each level above), so proofs are
// lookups and appends cost one leaf hash plus amortised one node hash. The
// hashes live in 1 MiB chunks, so growing never copies more than one chunk.
// A million entries take about 77 MB of heap (BenchmarkOpen measures it);
// entries themselves are read from disk when asked for. [Verify] keeps only
// a compact range, plus the leaf hashes (32 bytes per entry) when it is
// given a callback.
package ledger
