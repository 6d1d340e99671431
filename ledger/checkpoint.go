package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// maxCheckpointSize bounds a signed checkpoint note read from disk or given
// to ParseCheckpoint.
const maxCheckpointSize = 64 << 10

// Checkpoint is a log's signed statement of its size and root hash: the
// body of a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint).
type Checkpoint struct {
	Origin string // the log's name: the deployment, as given to Open
	Size   uint64 // number of entries
	Root   []byte // RFC 6962 root hash of those entries, 32 bytes
}

// text is the checkpoint body: "<origin>\n<size>\n<base64 root>\n".
func (c *Checkpoint) text() string {
	return c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root) + "\n"
}

// checkOrigin says why s cannot be a checkpoint origin, or returns nil.
func checkOrigin(s string) error {
	switch {
	case s == "":
		return errors.New("empty origin")
	case !utf8.ValidString(s):
		return errors.New("origin is not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("origin %q contains a control character", s)
	}
	return nil
}

// signCheckpoint returns the signed note of c.
func signCheckpoint(c *Checkpoint, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: c.text()}, s)
}

// ParseCheckpoint verifies a signed checkpoint note against v and parses
// its body. The note must carry a valid signature by v (it may carry others,
// such as witness cosignatures, which are not checked), every signature line
// must be canonical base64, and the body must be exactly three lines: an
// origin (non-empty, no control characters), the size in canonical decimal,
// and the root hash in canonical standard base64 of 32 bytes. Extension
// lines, which the C2SP format allows, are refused: this log never writes
// them. A known key whose signature does not verify gives an error wrapping
// ErrSecurity.
func ParseCheckpoint(signed []byte, v note.Verifier) (*Checkpoint, error) {
	if v == nil {
		return nil, errors.New("ledger: ParseCheckpoint: nil verifier")
	}
	c, err := parseCheckpoint(signed, v)
	if err != nil && !errors.Is(err, ErrSecurity) {
		err = fmt.Errorf("ledger: %w", err)
	}
	return c, err
}

// parseCheckpoint is ParseCheckpoint with errors not prefixed by "ledger: ".
func parseCheckpoint(signed []byte, v note.Verifier) (*Checkpoint, error) {
	if len(signed) > maxCheckpointSize {
		return nil, fmt.Errorf("checkpoint of %d bytes exceeds %d", len(signed), maxCheckpointSize)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var invalid *note.InvalidSignatureError
		if errors.As(err, &invalid) {
			return nil, fmt.Errorf("%w: checkpoint: %w", ErrSecurity, err)
		}
		return nil, fmt.Errorf("checkpoint not verified by key %s+%08x: %w", v.Name(), v.KeyHash(), err)
	}
	if err := checkSignatureLines(signed[len(n.Text)+1:]); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := parseCheckpointText(n.Text)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return c, nil
}

// checkSignatureLines refuses signature lines whose base64 is not canonical
// (non-zero padding bits), which note.Open accepts: otherwise two different
// files would carry the same checkpoint.
func checkSignatureLines(sigs []byte) error {
	for _, line := range strings.SplitAfter(string(sigs), "\n") {
		if line == "" {
			continue
		}
		line = strings.TrimSuffix(strings.TrimPrefix(line, "— "), "\n")
		_, b64, _ := strings.Cut(line, " ")
		if _, err := base64.StdEncoding.Strict().DecodeString(b64); err != nil {
			return fmt.Errorf("signature line %q: non-canonical base64", line)
		}
	}
	return nil
}

func parseCheckpointText(text string) (*Checkpoint, error) {
	body, ok := strings.CutSuffix(text, "\n")
	lines := strings.Split(body, "\n")
	if !ok || len(lines) != 3 {
		return nil, fmt.Errorf("body has %d lines, want origin, size and root hash", strings.Count(text, "\n"))
	}
	origin, sizeText, rootText := lines[0], lines[1], lines[2]
	if err := checkOrigin(origin); err != nil {
		return nil, err
	}
	size, err := strconv.ParseUint(sizeText, 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != sizeText {
		return nil, fmt.Errorf("size %q is not a canonical decimal number", sizeText)
	}
	root, err := base64.StdEncoding.Strict().DecodeString(rootText)
	if err != nil || len(root) != hashSize {
		return nil, fmt.Errorf("root hash %q is not %d bytes in canonical base64", rootText, hashSize)
	}
	return &Checkpoint{Origin: origin, Size: size, Root: root}, nil
}

// signerVerifier verifies a signature by signing the message again and
// comparing: Open has the node's signer, not its public key. It is exact for
// deterministic signature schemes, such as the Ed25519 of note.NewSigner; a
// randomised signer makes Open refuse to reopen its log.
type signerVerifier struct{ s note.Signer }

func (v signerVerifier) Name() string    { return v.s.Name() }
func (v signerVerifier) KeyHash() uint32 { return v.s.KeyHash() }
func (v signerVerifier) Verify(msg, sig []byte) bool {
	again, err := v.s.Sign(msg)
	return err == nil && bytes.Equal(again, sig)
}

// VerifyInclusion checks that entry is the entry at index of the log whose
// checkpoint is cp, using an inclusion proof from [Log.InclusionProof] for
// that index and cp.Size. A proof that does not lead to cp.Root gives an
// error wrapping ErrSecurity.
func VerifyInclusion(entry []byte, index uint64, proofHashes [][]byte, cp *Checkpoint) error {
	if cp == nil {
		return errors.New("ledger: VerifyInclusion: nil checkpoint")
	}
	return verifyInclusionHash(hasher.HashLeaf(entry), index, proofHashes, cp)
}

// verifyInclusionHash is VerifyInclusion for an entry's leaf hash.
func verifyInclusionHash(leafHash []byte, index uint64, proofHashes [][]byte, cp *Checkpoint) error {
	err := proof.VerifyInclusion(hasher, index, cp.Size, leafHash, proofHashes, cp.Root)
	if err != nil {
		return proofError(fmt.Errorf("entry %d is not proven in %q at size %d: %w", index, cp.Origin, cp.Size, err))
	}
	return nil
}

// VerifyConsistency checks that the log at checkpoint newer extends the log
// at checkpoint old (same origin, old.Size <= newer.Size), using a proof
// from [Log.ConsistencyProof](old.Size, newer.Size). Two checkpoints of one
// origin whose roots cannot be reconciled (a fork) give an error wrapping
// ErrSecurity.
//
// Every log extends the empty one: from size 0 the proof is empty and only
// the roots are checked (a checkpoint of size 0 must have the empty tree's
// root, SHA-256 of nothing). Releases of transparency-dev/merkle after
// v0.0.2 refuse such a proof as meaningless; this function accepts it, so
// that a caller whose last trusted checkpoint is empty need not treat it
// apart.
func VerifyConsistency(old, newer *Checkpoint, proofHashes [][]byte) error {
	if old == nil || newer == nil {
		return errors.New("ledger: VerifyConsistency: nil checkpoint")
	}
	if old.Origin != newer.Origin {
		return fmt.Errorf("ledger: checkpoints of different logs: %q and %q", old.Origin, newer.Origin)
	}
	if old.Size > newer.Size {
		return fmt.Errorf("ledger: checkpoint of size %d is not older than one of size %d", old.Size, newer.Size)
	}
	for _, c := range []*Checkpoint{old, newer} {
		if c.Size == 0 && !bytes.Equal(c.Root, hasher.EmptyRoot()) {
			return fmt.Errorf("ledger: checkpoint of size 0 has root %x, not the empty tree's", c.Root)
		}
	}
	err := proof.VerifyConsistency(hasher, old.Size, newer.Size, proofHashes, old.Root, newer.Root)
	if err != nil {
		return proofError(fmt.Errorf("%q at size %d is not proven to extend size %d: %w", newer.Origin, newer.Size, old.Size, err))
	}
	return nil
}

// proofError prefixes a failed proof's error: with ErrSecurity when the
// proof is well formed but leads to another root, else with "ledger: ".
func proofError(err error) error {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Errorf("%w: %w", ErrSecurity, err)
	}
	return fmt.Errorf("ledger: %w", err)
}
