package ledger

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// Follower keeps a verified view of a remote log without storing it: the
// latest signed checkpoint it accepted and the compact Merkle range of
// every entry so far. Extend checks that a newer signed checkpoint is
// consistent with the last one (a consistency proof), then adds the
// entries in between and checks that they, after every entry before, lead
// to the new root. So the follower accepts only a log that kept every
// entry it saw: a log that shrank gives a *RollbackError, one that forked
// an error wrapping ErrSecurity; the caller holds both signed checkpoints
// as evidence. A provider's agent follows the node's log this way before
// it acts on an entry.
//
// A Follower is not safe for concurrent use.
type Follower struct {
	v      note.Verifier
	cp     *Checkpoint
	signed []byte
	rng    *compact.Range
}

// NewFollower returns a Follower of the log whose checkpoints v verifies,
// at size 0.
func NewFollower(v note.Verifier) *Follower {
	return &Follower{v: v, rng: rangeFactory.NewEmptyRange(0)}
}

// Size returns the number of entries followed.
func (f *Follower) Size() uint64 { return f.rng.End() }

// Checkpoint returns the last checkpoint accepted (nil before the first)
// and its signed note.
func (f *Follower) Checkpoint() (*Checkpoint, []byte) { return f.cp, f.signed }

// Extend verifies signed, a checkpoint of the log; proof, a consistency
// proof from the last checkpoint accepted to it (ignored for the first);
// and entries, the log's entries from index Size() up to its size. On
// success it adds them; on error the Follower is unchanged.
func (f *Follower) Extend(signed []byte, proof [][]byte, entries [][]byte) (*Checkpoint, error) {
	cp, err := parseCheckpoint(signed, f.v)
	if err != nil {
		return nil, fmt.Errorf("ledger: follow: %w", err)
	}
	n := f.rng.End()
	if f.cp != nil {
		switch {
		case cp.Origin != f.cp.Origin:
			return nil, fmt.Errorf("ledger: follow: checkpoint of %q, following %q", cp.Origin, f.cp.Origin)
		case cp.Size < n:
			return nil, fmt.Errorf("ledger: follow: %w", &RollbackError{Trusted: f.signed, Current: bytes.Clone(signed), TrustedSize: n, CurrentSize: cp.Size})
		}
		if err := VerifyConsistency(f.cp, cp, proof); err != nil {
			return nil, fmt.Errorf("ledger: follow: %w", err)
		}
	}
	if uint64(len(entries)) != cp.Size-n {
		return nil, fmt.Errorf("ledger: follow: %d entries from %d to a checkpoint of size %d", len(entries), n, cp.Size)
	}
	rng, err := rangeFactory.NewRange(f.rng.Begin(), f.rng.End(), f.rng.Hashes())
	if err != nil {
		return nil, fmt.Errorf("ledger: follow: %w", err)
	}
	for _, e := range entries {
		if err := rng.Append(hasher.HashLeaf(e), nil); err != nil {
			return nil, fmt.Errorf("ledger: follow: %w", err)
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("ledger: follow: %w", err)
	}
	if cp.Size == 0 {
		root = hasher.EmptyRoot()
	}
	if !bytes.Equal(root, cp.Root) {
		return nil, fmt.Errorf("ledger: follow: %w: entries %d to %d do not lead to the root of the checkpoint of size %d", ErrSecurity, n, cp.Size-1, cp.Size)
	}
	f.cp, f.signed, f.rng = cp, bytes.Clone(signed), rng
	return cp, nil
}
