package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/note"
)

// Proofs in the C2SP tlog-proof format (https://c2sp.org/tlog-proof): an
// entry's index, its RFC 6962 inclusion proof and the signed checkpoint it
// leads to, in one offline-verifiable text:
//
//	c2sp.org/tlog-proof@v1
//	extra <base64>                       (optional, not authenticated)
//	index <decimal, no leading zeros>
//	<base64 SHA-256 hash>                (zero or more, the leaf's sibling first)
//
//	<the checkpoint note, verbatim>
//
// Files holding one should be named *.tlog-proof.

const (
	proofHeader = "c2sp.org/tlog-proof@v1\n"
	// maxProofSize bounds a proof ParseProof accepts: a checkpoint, 64
	// hashes, and up to about 900 KiB of extra data.
	maxProofSize = 1 << 20
	// maxProofHashes is the longest inclusion proof in a tree of at most
	// 2^64 - 1 entries.
	maxProofHashes = 64
)

// Proof is a parsed tlog-proof. Parsing checks its form only; Verify checks
// what it says.
type Proof struct {
	Index      uint64   // the entry's index in the log
	Hashes     [][]byte // the inclusion proof, 32-byte hashes, the leaf's sibling first
	Checkpoint []byte   // the signed checkpoint note, verbatim
	Extra      []byte   // opaque extra data, nil if none; not authenticated
}

// FormatProof returns the tlog-proof text of an inclusion proof: index, the
// hashes of [Log.InclusionProof] for index and the checkpoint's size, the
// signed checkpoint note, and extra data (omitted when empty). The hashes
// must be 32 bytes each and checkpoint a signed note, or ParseProof will
// refuse the result.
func FormatProof(index uint64, hashes [][]byte, checkpoint []byte, extra []byte) []byte {
	b := make([]byte, 0, len(proofHeader)+len(extra)*4/3+32+len(hashes)*45+1+len(checkpoint))
	b = append(b, proofHeader...)
	if len(extra) > 0 {
		b = append(b, "extra "...)
		b = base64.StdEncoding.AppendEncode(b, extra)
		b = append(b, '\n')
	}
	b = append(b, "index "...)
	b = strconv.AppendUint(b, index, 10)
	b = append(b, '\n')
	for _, h := range hashes {
		b = base64.StdEncoding.AppendEncode(b, h)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, checkpoint...)
}

// ParseProof parses a tlog-proof strictly, so that it is the only text
// FormatProof gives for what it holds: the exact header line, an optional
// extra line of non-empty canonical standard base64, an index in canonical
// decimal, at most 64 hash lines, each the canonical standard base64 of
// exactly 32 bytes, an empty line, and a checkpoint that parses as a
// signed note (of at most 64 KiB; its signatures are not checked here).
// Proofs larger than 1 MiB are refused.
func ParseProof(b []byte) (*Proof, error) {
	p, err := parseProof(b)
	if err != nil {
		return nil, fmt.Errorf("ledger: tlog-proof: %w", err)
	}
	return p, nil
}

func parseProof(b []byte) (*Proof, error) {
	if len(b) > maxProofSize {
		return nil, fmt.Errorf("%d bytes, more than %d", len(b), maxProofSize)
	}
	rest, ok := bytes.CutPrefix(b, []byte(proofHeader))
	if !ok {
		return nil, fmt.Errorf("does not start with %q", proofHeader)
	}
	next := func() ([]byte, error) {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, errors.New("truncated before the checkpoint")
		}
		rest = after
		return line, nil
	}
	p := &Proof{}
	line, err := next()
	if err != nil {
		return nil, err
	}
	if b64, ok := bytes.CutPrefix(line, []byte("extra ")); ok {
		if p.Extra, err = canonicalBase64(b64); err != nil || len(p.Extra) == 0 {
			return nil, fmt.Errorf("extra data %.40q is not non-empty canonical base64", b64)
		}
		if line, err = next(); err != nil {
			return nil, err
		}
	}
	num, ok := bytes.CutPrefix(line, []byte("index "))
	if !ok {
		return nil, fmt.Errorf("line %.40q is not the index line", line)
	}
	p.Index, err = strconv.ParseUint(string(num), 10, 64)
	if err != nil || strconv.FormatUint(p.Index, 10) != string(num) {
		return nil, fmt.Errorf("index %.40q is not a canonical decimal number", num)
	}
	for {
		if line, err = next(); err != nil {
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		if len(p.Hashes) == maxProofHashes {
			return nil, fmt.Errorf("more than %d proof hashes", maxProofHashes)
		}
		h, err := canonicalBase64(line)
		if err != nil || len(h) != hashSize {
			return nil, fmt.Errorf("proof hash %d (%.60q) is not %d bytes in canonical base64", len(p.Hashes), line, hashSize)
		}
		p.Hashes = append(p.Hashes, h)
	}
	if len(rest) > maxCheckpointSize {
		return nil, fmt.Errorf("checkpoint of %d bytes exceeds %d", len(rest), maxCheckpointSize)
	}
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(rest, note.VerifierList()); !errors.As(err, &unverified) {
		return nil, fmt.Errorf("checkpoint is not a signed note: %w", err)
	}
	p.Checkpoint = bytes.Clone(rest)
	return p, nil
}

// canonicalBase64 decodes standard base64 with padding, refusing any text
// that the encoder would not have produced (non-zero padding bits, and
// the carriage returns and newlines the decoder skips).
func canonicalBase64(s []byte) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(string(s))
	if err != nil {
		return nil, err
	}
	if base64.StdEncoding.EncodedLen(len(b)) != len(s) {
		return nil, errors.New("not canonical")
	}
	return b, nil
}

// Format returns the proof's tlog-proof text.
func (p *Proof) Format() []byte {
	return FormatProof(p.Index, p.Hashes, p.Checkpoint, p.Extra)
}

// Verify checks that the proof's checkpoint is signed by v (as
// ParseCheckpoint does) and that entry is the entry at p.Index of the tree
// it signs, and returns the checkpoint. The caller still checks the
// checkpoint's Origin, and that it is consistent with checkpoints it saw
// before (VerifyConsistency, CheckTrusted); the extra data is not
// authenticated. A proof that does not lead to the checkpoint's root
// gives an error wrapping ErrSecurity.
func (p *Proof) Verify(entry []byte, v note.Verifier) (*Checkpoint, error) {
	cp, err := ParseCheckpoint(p.Checkpoint, v)
	if err != nil {
		return nil, err
	}
	if err := VerifyInclusion(entry, p.Index, p.Hashes, cp); err != nil {
		return nil, err
	}
	return cp, nil
}

// Proof returns the tlog-proof of entry index against the latest
// checkpoint (the one Checkpoint returns), with optional extra data.
func (l *Log) Proof(index uint64, extra []byte) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := l.tree.size()
	if index >= n {
		return nil, fmt.Errorf("ledger: no proof of entry %d (log size %d)", index, n)
	}
	hashes, err := l.tree.inclusion(index, n)
	if err != nil {
		return nil, fmt.Errorf("ledger: proof of entry %d: %w", index, err)
	}
	return FormatProof(index, hashes, l.checkpoint, extra), nil
}
