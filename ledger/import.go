package ledger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// Import writes a ledger directory from a fetched copy: entries, the log's
// entries in order from index 0, and checkpoint, the signed checkpoint that
// covers exactly them. It checks the checkpoint's signature with v (as
// ParseCheckpoint does) and that the entries are as many as it says and
// that their root is its root, and returns it; Verify accepts the result.
//
// If dir already holds a ledger (a copy imported earlier), Import checks it
// as Verify does with v and extends it only if it is a prefix of the new
// copy: same origin, no more entries, and the root of the new copy's first
// entries equal to its own. It then appends the new entries and replaces
// the checkpoint. A copy of fewer entries gives a *RollbackError, one whose
// first entries differ a *ForkError (both wrapping ErrSecurity, both
// carrying the two signed checkpoints as evidence), another origin a plain
// error; dir is then left as it was. So an auditor who imports every copy
// it fetches into one directory also checks each against the last.
//
// Import writes the entries to a temporary file (a fresh copy) or after
// the existing records (a prefix), fsyncs them, and only then atomically
// replaces the checkpoint: a failed or interrupted Import leaves the
// previous copy, and at worst records beyond its checkpoint, which Verify
// refuses and the next Import removes. It holds dir's lock meanwhile, so
// it fails while a Log has dir open.
func Import(dir string, v note.Verifier, checkpoint []byte, entries iter.Seq2[[]byte, error]) (*Checkpoint, error) {
	cp, err := doImport(dir, v, checkpoint, entries)
	if err != nil {
		return nil, fmt.Errorf("ledger: import into %s: %w", dir, err)
	}
	return cp, nil
}

func doImport(dir string, v note.Verifier, signed []byte, entries iter.Seq2[[]byte, error]) (*Checkpoint, error) {
	if v == nil {
		return nil, errors.New("nil verifier")
	}
	cp, err := parseCheckpoint(signed, v)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()

	old, err := existingCopy(dir, v)
	if err != nil {
		return nil, fmt.Errorf("existing copy: %w", err)
	}
	w := &importWriter{dir: dir, rng: rangeFactory.NewEmptyRange(0)}
	if old != nil {
		switch {
		case old.cp.Origin != cp.Origin:
			return nil, fmt.Errorf("existing copy is of %q, the new one of %q", old.cp.Origin, cp.Origin)
		case old.cp.Size > cp.Size:
			return nil, &RollbackError{Trusted: old.signed, Current: bytes.Clone(signed), TrustedSize: old.cp.Size, CurrentSize: cp.Size}
		}
		w.keep, w.keepEnd = old.cp.Size, old.end
		w.check = func(root []byte) error {
			if !bytes.Equal(root, old.cp.Root) {
				return &ForkError{Trusted: old.signed, Current: bytes.Clone(signed), Size: old.cp.Size, Root: root}
			}
			return nil
		}
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	if err := w.write(entries, cp); err != nil {
		w.abort()
		return nil, err
	}
	if err := w.commit(); err != nil {
		w.abort()
		return nil, err
	}
	if _, err := replaceFile(osFS{}, dir, checkpointName, signed); err != nil {
		// The entries are in place: the copy as it stands has records
		// beyond its checkpoint, which the next Import removes.
		return nil, fmt.Errorf("store checkpoint: %w", err)
	}
	return cp, nil
}

// existingCopy verifies the ledger in dir, ignoring what follows its
// checkpointed records, or returns nil if dir holds none.
func existingCopy(dir string, v note.Verifier) (*verified, error) {
	_, cerr := os.Stat(filepath.Join(dir, checkpointName))
	_, eerr := os.Stat(filepath.Join(dir, entriesName))
	if errors.Is(cerr, fs.ErrNotExist) && errors.Is(eerr, fs.ErrNotExist) {
		return nil, nil
	}
	return verify(dir, v, verifyOptions{tail: true})
}

// importWriter writes the records of an Import: after the first keep
// records of the existing entries file (ending at keepEnd), or, when keep
// is 0 and there is no existing file, to a temporary file.
type importWriter struct {
	dir     string
	keep    uint64
	keepEnd int64
	check   func(root []byte) error // checks the root of the first keep entries

	f     *os.File
	tmp   bool // f is entries.tmp, to be renamed
	bw    *bufio.Writer
	rng   *compact.Range
	wrote bool
}

func (w *importWriter) open() error {
	var err error
	if w.check == nil {
		w.tmp = true
		w.f, err = os.OpenFile(filepath.Join(w.dir, entriesName+".tmp"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		w.bw = bufio.NewWriterSize(w.f, 1<<20)
		_, err = w.bw.WriteString(fileMagic)
		return err
	}
	w.f, err = os.OpenFile(filepath.Join(w.dir, entriesName), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	// Leftovers of an interrupted Import beyond the checkpoint go.
	if err := w.f.Truncate(w.keepEnd); err != nil {
		return err
	}
	if _, err := w.f.Seek(w.keepEnd, 0); err != nil {
		return err
	}
	w.bw = bufio.NewWriterSize(w.f, 1<<20)
	return nil
}

// write reads the entries, checks them against the existing copy and cp,
// and writes those beyond the existing copy.
func (w *importWriter) write(entries iter.Seq2[[]byte, error], cp *Checkpoint) error {
	if w.check != nil && w.keep == 0 {
		if err := w.check(hasher.EmptyRoot()); err != nil {
			return err
		}
	}
	var (
		i   uint64
		rec []byte
	)
	for e, err := range entries {
		if err != nil {
			return fmt.Errorf("fetch entry %d: %w", i, err)
		}
		if i >= cp.Size {
			return fmt.Errorf("%w: more entries than the checkpoint's %d", ErrSecurity, cp.Size)
		}
		if err := checkEntry(e); err != nil {
			return fmt.Errorf("%w: entry %d: %w", ErrSecurity, i, err)
		}
		leaf := hasher.HashLeaf(e)
		if err := w.rng.Append(leaf, nil); err != nil {
			return err
		}
		if i >= w.keep {
			rec = appendRecord(rec[:0], e, leaf)
			if _, err := w.bw.Write(rec); err != nil {
				return err
			}
			w.wrote = true
		}
		i++
		if i == w.keep && w.check != nil {
			if err := w.check(rootOf(w.rng)); err != nil {
				return err
			}
		}
	}
	if i != cp.Size {
		return fmt.Errorf("%w: %d entries, the checkpoint says %d", ErrSecurity, i, cp.Size)
	}
	if root := rootOf(w.rng); !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("%w: root of the %d entries is %x, the checkpoint says %x", ErrSecurity, i, root, cp.Root)
	}
	return nil
}

// commit makes the written records durable and puts them in place.
func (w *importWriter) commit() error {
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if !w.tmp {
		return nil
	}
	if err := os.Rename(filepath.Join(w.dir, entriesName+".tmp"), filepath.Join(w.dir, entriesName)); err != nil {
		return err
	}
	return osFS{}.SyncDir(w.dir)
}

// abort undoes what write did: it removes the temporary file, or
// truncates the existing one back to its checkpointed records.
func (w *importWriter) abort() {
	if w.f != nil {
		if !w.tmp && w.wrote {
			w.bw = nil
			if w.f.Truncate(w.keepEnd) == nil {
				w.f.Sync()
			}
		}
		w.f.Close()
	}
	if w.tmp {
		os.Remove(filepath.Join(w.dir, entriesName+".tmp"))
	}
}

// CheckTrusted checks the ledger in dir (as Verify does, with v) against
// trusted, a signed checkpoint of the same log that the caller kept from
// earlier (an auditor's last verified checkpoint, an agent's, one attached
// to a result): the directory must hold at least trusted's entries, and
// the root of its first trusted.Size entries must be trusted's root.
//
// A directory with fewer entries than trusted gives a *RollbackError, one
// whose first entries have another root a *ForkError; both wrap
// ErrSecurity and carry the two signed checkpoints, which together prove
// that the log's key signed two incompatible histories. A trusted
// checkpoint that v does not verify, or of another origin, is a plain
// error; so is a directory that fails verification (wrapping ErrSecurity
// as Verify's errors do).
func CheckTrusted(dir string, v note.Verifier, trusted []byte) error {
	if err := checkTrusted(dir, v, trusted); err != nil {
		return fmt.Errorf("ledger: check %s against a trusted checkpoint: %w", dir, err)
	}
	return nil
}

func checkTrusted(dir string, v note.Verifier, trusted []byte) error {
	if v == nil {
		return errors.New("nil verifier")
	}
	tcp, err := parseCheckpoint(trusted, v)
	if err != nil {
		return fmt.Errorf("trusted checkpoint: %w", err)
	}
	signed, err := readCheckpointFile(osFS{}, dir)
	if err != nil {
		return err
	}
	cp, err := parseCheckpoint(signed, v)
	if err != nil {
		return err
	}
	switch {
	case cp.Origin != tcp.Origin:
		return fmt.Errorf("the directory holds %q, the trusted checkpoint is of %q", cp.Origin, tcp.Origin)
	case tcp.Size > cp.Size:
		return &RollbackError{Trusted: bytes.Clone(trusted), Current: signed, TrustedSize: tcp.Size, CurrentSize: cp.Size}
	}
	res, err := verify(dir, v, verifyOptions{rootAt: tcp.Size})
	if err != nil {
		return err
	}
	if !bytes.Equal(res.signed, signed) {
		return fmt.Errorf("%w: the checkpoint file changed during the check", ErrSecurity)
	}
	if !bytes.Equal(res.rootAt, tcp.Root) {
		return &ForkError{Trusted: bytes.Clone(trusted), Current: signed, Size: tcp.Size, Root: res.rootAt}
	}
	return nil
}
