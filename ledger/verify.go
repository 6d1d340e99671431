package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
)

// Verify checks the log in dir offline, as an auditor does with a copy: it
// needs no signer and writes nothing. It checks the checkpoint's signature
// against v, the entries file's header, every record's framing and stored
// leaf hash, that the entries are exactly those the checkpoint covers (no
// more, no fewer), and that their recomputed RFC 6962 root is the
// checkpoint's. It returns the verified checkpoint; the caller checks its
// Origin and, with VerifyConsistency, that it extends any checkpoint seen
// before.
//
// Only once all of that holds does Verify call fn (if not nil) for every
// entry in order, reading each again and checking it against the verified
// leaf hash, so fn sees only verified entries and can check what they say
// (statement signatures, decisions). The entry slice is valid only during
// the call.
//
// Integrity failures wrap ErrSecurity. When a specific entry is at fault,
// the error is an *EntryError naming the first bad one; an error returned
// by fn is reported as an *EntryError for that entry whose Err is fn's
// error.
//
// Verify expects a quiescent copy: the directory of a Log that is
// committing a batch may have records beyond its checkpoint, which Verify
// refuses. Copy a live log with Import (from Entry and Checkpoint, or the
// node's API) instead.
func Verify(dir string, v note.Verifier, fn func(i uint64, entry []byte) error) (*Checkpoint, error) {
	res, err := verify(dir, v, verifyOptions{keepLeaves: fn != nil})
	if err != nil {
		return nil, fmt.Errorf("ledger: verify %s: %w", dir, err)
	}
	if fn == nil {
		return res.cp, nil
	}
	if err := replay(dir, res.leaves, fn); err != nil {
		return nil, fmt.Errorf("ledger: verify %s: %w", dir, err)
	}
	return res.cp, nil
}

// verifyOptions select what verify returns beyond the checkpoint.
type verifyOptions struct {
	keepLeaves bool   // return the verified leaf hashes
	rootAt     uint64 // return the root of the first rootAt entries (rootAt <= the checkpoint's size)
	tail       bool   // ignore whatever follows the checkpointed records (a copy being imported into)
}

// verified is what verify found.
type verified struct {
	cp     *Checkpoint
	signed []byte // the checkpoint note
	leaves []byte // the verified leaf hashes, concatenated, if asked for
	rootAt []byte // the root of the first rootAt entries
	end    int64  // offset of the end of the checkpointed records
}

// verify is Verify's first pass: it checks the checkpoint, every record and
// the root.
func verify(dir string, v note.Verifier, opts verifyOptions) (*verified, error) {
	if v == nil {
		return nil, errors.New("nil verifier")
	}
	signed, err := readCheckpointFile(osFS{}, dir)
	if err != nil {
		return nil, err
	}
	cp, err := parseCheckpoint(signed, v)
	if err != nil {
		return nil, err
	}
	if opts.rootAt > cp.Size {
		return nil, fmt.Errorf("no root at size %d in a log of %d entries", opts.rootAt, cp.Size)
	}
	f, err := os.Open(filepath.Join(dir, entriesName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if err := checkHeader(f, size); err != nil {
		return nil, err
	}

	res := &verified{cp: cp, signed: signed, end: headerSize}
	if opts.keepLeaves {
		// The checkpoint's size is signed but may be huge; grow as we go
		// beyond a sane preallocation.
		res.leaves = make([]byte, 0, min(cp.Size, 1<<20)*hashSize)
	}
	if opts.rootAt == 0 {
		res.rootAt = hasher.EmptyRoot()
	}
	rng := rangeFactory.NewEmptyRange(0)
	rr := newRecordReader(io.NewSectionReader(f, headerSize, size-headerSize), headerSize, size)
	for i := uint64(0); !opts.tail || i < cp.Size; i++ {
		_, leaf, off, err := rr.next()
		if err == io.EOF {
			break
		}
		var fe *frameError
		if errors.As(err, &fe) {
			return nil, entryError(i, fe)
		}
		if err != nil {
			return nil, fmt.Errorf("read entry %d at offset %d: %w", i, off, err)
		}
		if i >= cp.Size {
			return nil, fmt.Errorf("%w: entries file holds entry %d at offset %d, beyond the checkpoint of size %d", ErrSecurity, i, off, cp.Size)
		}
		leaf = bytes.Clone(leaf)
		if err := rng.Append(leaf, nil); err != nil {
			return nil, err
		}
		if opts.keepLeaves {
			res.leaves = append(res.leaves, leaf...)
		}
		if i+1 == opts.rootAt {
			res.rootAt = rootOf(rng)
		}
		res.end = rr.off
	}
	if n := rng.End(); n != cp.Size {
		return nil, fmt.Errorf("%w: entries file holds %d entries, the checkpoint says %d", ErrSecurity, n, cp.Size)
	}
	if root := rootOf(rng); !bytes.Equal(root, cp.Root) {
		return nil, fmt.Errorf("%w: root of the %d entries is %x, the checkpoint says %x", ErrSecurity, cp.Size, root, cp.Root)
	}
	return res, nil
}

// replay is Verify's second pass: it reads the entries again, checks each
// against the leaf hash verified in the first pass, and calls fn.
func replay(dir string, leaves []byte, fn func(uint64, []byte) error) error {
	f, err := os.Open(filepath.Join(dir, entriesName))
	if err != nil {
		return err
	}
	defer f.Close()
	n := uint64(len(leaves) / hashSize)
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	rr := newRecordReader(io.NewSectionReader(f, headerSize, size-headerSize), headerSize, size)
	for i := uint64(0); i < n; i++ {
		entry, leaf, off, err := rr.next()
		var fe *frameError
		switch {
		case errors.As(err, &fe):
			e := entryError(i, fe)
			e.Reason = "entries file changed during verification: " + e.Reason
			return e
		case err == io.EOF:
			return fmt.Errorf("%w: entries file changed during verification: it ends before entry %d", ErrSecurity, i)
		case err != nil:
			return fmt.Errorf("read entry %d at offset %d: %w", i, off, err)
		case !bytes.Equal(leaf, leaves[i*hashSize:(i+1)*hashSize]):
			return &EntryError{Index: i, Offset: off, Reason: "entries file changed during verification", Err: ErrSecurity}
		}
		if err := fn(i, entry); err != nil {
			return &EntryError{Index: i, Offset: off, Reason: err.Error(), Err: err}
		}
	}
	return nil
}
