// Package ledger is the clean room's append-only, tamper-evident log.
//
// Every state change of the clean room is an entry: opaque bytes to this
// package (the node puts signed statements and its decisions in them). The
// ledger stores and proves; it never judges what an entry says. Entries are
// the leaves of an RFC 6962 Merkle tree (https://www.rfc-editor.org/rfc/rfc6962#section-2.1),
// computed with github.com/transparency-dev/merkle, and after every batch
// of appends the node signs a checkpoint: a C2SP tlog-checkpoint
// (https://c2sp.org/tlog-checkpoint) in a signed note
// (https://c2sp.org/signed-note, golang.org/x/mod/sumdb/note).
//
// # Guarantees
//
//   - Durable, batched appends. [Log.Add] assigns an entry its index at
//     once, in call order, and queues it; one committer goroutine writes
//     everything queued as a batch: one write, one fsync of the entries
//     file, then one checkpoint covering the batch, signed and atomically
//     stored (write a temporary file, fsync, rename, fsync the directory).
//     Concurrent callers therefore share fsyncs, and entries queue up while
//     the previous batch is being written. When [Pending.Wait] returns nil
//     (or [Log.Append], which is Add then Wait, returns an index), the entry
//     is durable and covered by a stored signed checkpoint. Indices are
//     contiguous. Entries become visible to Size, Entry, Scan and proofs
//     only once their batch is committed.
//   - Fail closed, then resume. When a batch cannot be written, synced or
//     signed, the entries file is truncated back to the last committed
//     batch, and that batch and every entry queued after it are dropped:
//     their Waits return errors wrapping [ErrUnavailable] and the caller
//     must not act on them. The next Add tries again, so the log resumes by
//     itself once the disk is writable; [Log.AddAt] lets a caller that
//     derives state from entries not yet durable (the node) refuse to build
//     on dropped ones. If the truncation itself fails, the Log refuses
//     Adds until reopened. If a batch's records were synced but its
//     checkpoint could not be stored, the entries are in the log (a
//     reopen keeps them) but their Waits fail all the same: an entry whose
//     Wait failed may be in the log, but was never acted on.
//   - Tamper evidence. Changing any byte of the entries file or of the
//     checkpoint, removing, reordering or truncating records, or pairing an
//     entries file with a checkpoint from another time is detected by
//     [Verify], with an [*EntryError] naming the first damaged entry when
//     there is one, and by [Open] for everything the checkpoint covers.
//     (By design Open accepts complete records beyond the checkpoint, as a
//     batch whose checkpoint was not stored leaves them, and signs a
//     checkpoint for them; Verify refuses them. So whoever can write the
//     directory can append entries that the node will sign: keep it 0700.)
//     What cannot be detected from the directory alone is a consistent
//     rollback of both files together to an earlier state, or a fork: for
//     that, keep earlier checkpoints and check later ones, or a copy of
//     the log, against them with [VerifyConsistency] or [CheckTrusted]
//     (auditors and agents do).
//   - Proofs. [Log.InclusionProof] and [Log.ConsistencyProof] are standard
//     RFC 6962 proofs; [VerifyInclusion] and [VerifyConsistency] check them
//     against parsed checkpoints, and any RFC 6962 verifier (for example
//     golang.org/x/mod/sumdb/tlog) accepts them too. [Log.Proof] and
//     [FormatProof] package an inclusion proof with its signed checkpoint
//     in the C2SP tlog-proof format (https://c2sp.org/tlog-proof), which
//     [ParseProof] reads and [Proof.Verify] checks offline.
//
// # Batches and what Wait guarantees
//
// A batch holds whatever was queued when the committer became free, up to
// 32 MiB of records; with k callers adding at once, batches hold about k/2
// entries (one batch is written while the next one fills). The committer
// signs the batch's checkpoint first, so that a failing signer writes
// nothing; then writes and fsyncs the records and, at the same time, the
// checkpoint's temporary file; once both are durable, renames the
// checkpoint into place and fsyncs the directory; then publishes the batch
// to readers and releases its waiters. A batch thus costs two fsync
// latencies and a rename, however many entries it holds.
// [Log.Size] counts committed entries, exactly those the checkpoint that
// [Log.Checkpoint] returns covers; queued entries have indices Size() and
// up. [Log.Close] commits everything queued before it returns.
//
// A caller that serialises its own state changes, as the node does, keeps
// durability pipelined by adding under its lock and waiting outside it:
//
//	mu.Lock()
//	check(e)                        // against the state, with every earlier entry applied
//	p, err := log.AddAt(next, e)    // refuses if a failed batch dropped entries
//	if err == nil { apply(e); next++ }
//	mu.Unlock()
//	if err == nil { err = p.Wait() } // act on e only if this is nil
//
// When Wait fails, the caller answers that nothing was done. When AddAt
// fails with an [*IndexError], or, after a failed Wait, [Log.Next] is
// smaller than next, a failed batch dropped entries the caller had
// applied: it rebuilds its state by replaying the log's Size() entries
// (nothing is in flight then) and sets next to Size(). When Next equals
// next, nothing was dropped (a batch whose checkpoint could not be stored
// is committed all the same) and the state stands.
//
// # Copies for auditors
//
// An auditor fetches the entries and the signed checkpoint and writes them
// with [Import], which checks the signature and the root, and, when the
// directory already holds an earlier copy, that the earlier copy is a
// prefix of the new one (else a [*RollbackError] or a [*ForkError]
// carrying both signed checkpoints as evidence). [Verify] then checks the
// copy as it stands and calls back for every entry, and [CheckTrusted]
// checks it against any checkpoint the auditor kept from before.
//
// # Files
//
// A log directory holds three files:
//
//	entries      the records, append-only
//	checkpoint   the latest signed checkpoint note, replaced atomically
//	lock         empty; held with flock(2) while a Log has the directory open
//
// and transiently entries.tmp (created by Open and by Import) or
// checkpoint.tmp while one is being replaced.
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
// Beyond the checkpoint, Open accepts what an interrupted commit can
// leave, since a batch's records are synced before its checkpoint is
// stored: any number of complete records (a batch whose checkpoint was
// not stored, or that was still being written), which Open keeps and signs
// a checkpoint for, followed by at most one torn record at the very end
// of the file (a frame running past the end of the file, a last frame
// whose bytes did not all reach the disk, or a zero-filled tail no longer
// than a batch), which Open truncates away. Anything else beyond the
// checkpoint is refused as a tampered file, and fewer records than the
// checkpoint as a rollback. (A crash can also leave a hole of zeros in the
// middle of an unsynced batch on file systems that expose unwritten
// blocks; Open refuses that, naming the entry, and truncating the entries
// file at that entry's offset repairs it: nothing beyond the checkpoint was
// ever acknowledged.)
//
// # Fault injection
//
// [OpenWithOptions] takes the [FS] the Log's files are read and written
// through; package ledger/ledgertest provides FaultFS, whose switches make
// writes, fsyncs, truncations or checkpoint stores fail and succeed again
// while the Log is open, for tests of how callers fail closed.
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
// given a callback; [Import] and [CheckTrusted] keep a compact range only.
// Queued entries are held in memory, as records, until their batch is
// committed; the queue is not bounded, so a caller that adds without
// waiting should bound what it has in flight.
package ledger
