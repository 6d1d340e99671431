package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/note"
)

// Log is an open ledger directory: an append-only log of entries with a
// signed checkpoint after every append.
//
// A Log is safe for concurrent use. Appends are serialised; reads (Size,
// Entry, Scan, Checkpoint, proofs) run concurrently with each other and
// with an append, and see the log as of the last completed append.
type Log struct {
	dir    string
	origin string
	signer note.Signer
	fsys   fileSystem
	lock   *os.File

	// writeMu serialises Append and Close; while it is held, the fields
	// below may be read without mu, since only its holder writes them.
	writeMu sync.Mutex

	mu         sync.RWMutex
	f          file
	tree       *tree
	offsets    []int64 // offsets[i] is where record i starts; offsets[size] is the end of the last record
	checkpoint []byte  // latest signed checkpoint note
	failed     error   // first write failure; appends are refused once set
	closed     bool
}

// Open opens the log in dir, creating dir (mode 0700) and an empty log
// with a signed checkpoint of size 0 when there is none. origin names the
// log in its checkpoints (the deployment's name) and must not change over
// the log's life; signer signs the checkpoints.
//
// On an existing log, Open reads every record, recomputes the Merkle tree,
// verifies the stored checkpoint (see "Trust on open" in the package doc)
// and refuses, with an error wrapping ErrSecurity, a log that contradicts
// it: a damaged record within the checkpointed entries (an *EntryError), a
// checkpoint of another origin or not signed by signer, a root that differs
// from the checkpoint's, fewer entries than the checkpoint (rolled back), or
// more uncheckpointed data than one interrupted append can leave. The one
// record an interrupted append can leave beyond the checkpoint is kept and
// a new checkpoint is signed for it if it is complete, and truncated away
// if it is torn.
//
// Only one Log may have dir open at a time; a second Open fails while the
// first is open. Call Close when done.
func Open(dir string, signer note.Signer, origin string) (*Log, error) {
	return openLog(dir, signer, origin, osFS)
}

func openLog(dir string, signer note.Signer, origin string, fsys fileSystem) (_ *Log, err error) {
	if signer == nil {
		return nil, errors.New("ledger: Open: nil signer")
	}
	if err := checkOrigin(origin); err != nil {
		return nil, fmt.Errorf("ledger: Open: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	l := &Log{dir: dir, origin: origin, signer: signer, fsys: fsys, lock: lock}
	defer func() {
		if err != nil {
			if l.f != nil {
				l.f.Close()
			}
			lock.Close()
			err = fmt.Errorf("ledger: open %s: %w", dir, err)
		}
	}()

	signed, err := readCheckpointFile(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	entriesPath := filepath.Join(dir, entriesName)
	if _, err := os.Stat(entriesPath); errors.Is(err, fs.ErrNotExist) {
		if signed != nil {
			return nil, fmt.Errorf("%w: a checkpoint but no entries file", ErrSecurity)
		}
		if _, err := fsys.replaceFile(dir, entriesName, []byte(fileMagic)); err != nil {
			return nil, fmt.Errorf("create entries file: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	if l.f, err = fsys.openFile(entriesPath, os.O_RDWR, 0); err != nil {
		return nil, err
	}

	var cp *Checkpoint
	if signed != nil {
		if cp, err = parseCheckpoint(signed, signerVerifier{signer}); err != nil {
			return nil, fmt.Errorf("stored checkpoint: %w", err)
		}
		if cp.Origin != origin {
			return nil, fmt.Errorf("%w: stored checkpoint is for origin %q, not %q", ErrSecurity, cp.Origin, origin)
		}
	}
	if err := l.load(cp); err != nil {
		return nil, err
	}
	if cp == nil || l.tree.size() > cp.Size {
		c := &Checkpoint{Origin: origin, Size: l.tree.size(), Root: l.tree.root()}
		if l.checkpoint, err = signCheckpoint(c, signer); err != nil {
			return nil, fmt.Errorf("sign checkpoint: %w", err)
		}
		if _, err := parseCheckpoint(l.checkpoint, signerVerifier{signer}); err != nil {
			return nil, fmt.Errorf("signer %s cannot check its own signatures by signing again (not deterministic?): %w", signer.Name(), err)
		}
		if _, err := fsys.replaceFile(dir, checkpointName, l.checkpoint); err != nil {
			return nil, fmt.Errorf("write checkpoint: %w", err)
		}
	} else {
		l.checkpoint = signed
	}
	return l, nil
}

// readCheckpointFile reads dir/checkpoint, refusing one too large to be a
// checkpoint. A missing file gives an error wrapping fs.ErrNotExist.
func readCheckpointFile(dir string) ([]byte, error) {
	f, err := os.Open(filepath.Join(dir, checkpointName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCheckpointSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCheckpointSize {
		return nil, fmt.Errorf("%w: checkpoint file larger than %d bytes", ErrSecurity, maxCheckpointSize)
	}
	return b, nil
}

// load reads every record of the entries file into l.tree and l.offsets,
// checks them against cp (nil for a log that has none yet), and truncates
// a torn final record beyond the checkpoint.
func (l *Log) load(cp *Checkpoint) error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if err := checkHeader(l.f, size); err != nil {
		return err
	}
	var checkpointed uint64
	if cp != nil {
		checkpointed = cp.Size
		if cp.Size == 0 && !bytes.Equal(cp.Root, hasher.EmptyRoot()) {
			return fmt.Errorf("%w: checkpoint of size 0 has root %x, not the empty tree's", ErrSecurity, cp.Root)
		}
	}
	t := newTree()
	offsets := []int64{headerSize}
	rr := newRecordReader(io.NewSectionReader(l.f, headerSize, size-headerSize), headerSize, size)
	torn := int64(-1)
	for i := uint64(0); ; i++ {
		_, leaf, off, err := rr.next()
		if err == io.EOF {
			break
		}
		var fe *frameError
		if errors.As(err, &fe) {
			if cp == nil || i < cp.Size {
				return entryError(i, fe)
			}
			ok, err := isTornWrite(l.f, fe, size)
			if err != nil {
				return err
			}
			if !ok {
				e := entryError(i, fe)
				e.Reason += fmt.Sprintf(" (beyond the checkpoint of size %d, but more data follows, so not a torn final write)", cp.Size)
				return e
			}
			torn = off
			break
		}
		if err != nil {
			return fmt.Errorf("read entry %d: %w", i, err)
		}
		t.append(bytes.Clone(leaf))
		offsets = append(offsets, rr.off)
		if cp != nil && i+1 == cp.Size {
			if root := t.root(); !bytes.Equal(root, cp.Root) {
				return fmt.Errorf("%w: root of the first %d entries is %x, the checkpoint says %x", ErrSecurity, cp.Size, root, cp.Root)
			}
		}
	}
	n := t.size()
	switch {
	case cp == nil && n > 0:
		return fmt.Errorf("%w: %d entries but no checkpoint file", ErrSecurity, n)
	case n < checkpointed:
		return fmt.Errorf("%w: %d entries, fewer than the checkpoint's %d: the entries file was truncated or rolled back", ErrSecurity, n, checkpointed)
	}
	if beyond := n - checkpointed; cp != nil && (beyond > 1 || beyond == 1 && torn >= 0) {
		return fmt.Errorf("%w: %d complete entries (and torn data: %t) beyond the checkpoint of size %d, more than one interrupted append leaves: the checkpoint was rolled back or the entries file was extended", ErrSecurity, beyond, torn >= 0, cp.Size)
	}
	if torn >= 0 {
		if err := l.f.Truncate(torn); err != nil {
			return fmt.Errorf("truncate torn record at offset %d: %w", torn, err)
		}
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("truncate torn record at offset %d: %w", torn, err)
		}
	}
	l.tree, l.offsets = t, offsets
	return nil
}

// checkHeader checks that the entries file of the given size starts with
// the format's magic line.
func checkHeader(r io.ReaderAt, size int64) error {
	var magic [headerSize]byte
	if size >= headerSize {
		if _, err := r.ReadAt(magic[:], 0); err != nil {
			return err
		}
	}
	if string(magic[:]) != fileMagic {
		return fmt.Errorf("%w: entries file does not start with %q", ErrSecurity, fileMagic)
	}
	return nil
}

// isTornWrite reports whether the bad record fe, beyond the checkpoint, is
// what a crash during its append can leave: a frame running past the end
// of the file, a frame ending exactly at the end of the file whose bytes did
// not all reach the disk, or a zero-filled tail (a file extended before its
// data was written).
func isTornWrite(r io.ReaderAt, fe *frameError, size int64) (bool, error) {
	if fe.torn || fe.end == size {
		return true, nil
	}
	n := size - fe.off
	if n > recordSize(MaxEntrySize) {
		return false, nil
	}
	tail := make([]byte, n)
	if _, err := r.ReadAt(tail, fe.off); err != nil {
		return false, err
	}
	for _, b := range tail {
		if b != 0 {
			return false, nil
		}
	}
	return true, nil
}

// Append adds entry to the log and returns its index (0-based). When it
// returns without error the entry is durable: its record has been written
// and fsynced, and a checkpoint covering it has been signed and atomically
// stored. Entries must be 1 to MaxEntrySize bytes.
//
// An error wrapping ErrUnavailable means the entry was not appended; the
// Log then refuses further appends until reopened, and the caller must not
// act on the entry. The record is truncated away when the write fails
// before the new checkpoint is in place. Only when the checkpoint was
// renamed into place but the directory could not be synced, or the
// truncation itself fails, may the entry reappear when the log is reopened,
// so an entry whose Append failed may be in the log but was never acted on.
func (l *Log) Append(entry []byte) (uint64, error) {
	if err := checkEntry(entry); err != nil {
		return 0, err
	}
	leaf := hasher.HashLeaf(entry)
	rec := appendRecord(make([]byte, 0, recordSize(len(entry))), entry, leaf)

	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	switch {
	case l.closed:
		return 0, fmt.Errorf("%w: log is closed", ErrUnavailable)
	case l.failed != nil:
		return 0, fmt.Errorf("%w: an earlier append failed: %w", ErrUnavailable, l.failed)
	}
	index := l.tree.size()
	off := l.offsets[index]
	next := l.tree.prepare(leaf)
	signed, err := signCheckpoint(&Checkpoint{Origin: l.origin, Size: index + 1, Root: next.root}, l.signer)
	if err != nil {
		return 0, fmt.Errorf("%w: sign checkpoint: %w", ErrUnavailable, err)
	}
	if _, err := l.f.WriteAt(rec, off); err != nil {
		return 0, l.fail(index, off, true, fmt.Errorf("write record: %w", err))
	}
	if err := l.f.Sync(); err != nil {
		return 0, l.fail(index, off, true, fmt.Errorf("sync entries file: %w", err))
	}
	if renamed, err := l.fsys.replaceFile(l.dir, checkpointName, signed); err != nil {
		return 0, l.fail(index, off, !renamed, fmt.Errorf("store checkpoint: %w", err))
	}

	l.mu.Lock()
	l.tree.commit(next)
	l.offsets = append(l.offsets, off+int64(len(rec)))
	l.checkpoint = signed
	l.mu.Unlock()
	return index, nil
}

// fail records a failed append of entry index at offset off, truncating
// the entries file back to off when truncate is set, and returns the error
// to give the caller.
func (l *Log) fail(index uint64, off int64, truncate bool, err error) error {
	if truncate {
		if terr := l.f.Truncate(off); terr != nil {
			err = fmt.Errorf("%w; truncating it back also failed: %w", err, terr)
		} else if serr := l.f.Sync(); serr != nil {
			err = fmt.Errorf("%w; syncing its truncation also failed: %w", err, serr)
		}
	}
	err = fmt.Errorf("append entry %d: %w", index, err)
	l.mu.Lock()
	l.failed = err
	l.mu.Unlock()
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Size returns the number of entries in the log.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.tree.size()
}

// Checkpoint returns the latest signed checkpoint note, which covers every
// entry of the log.
func (l *Log) Checkpoint() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return bytes.Clone(l.checkpoint)
}

// Entry returns entry i, read from disk and checked against its leaf hash
// in memory (a mismatch is an *EntryError wrapping ErrSecurity).
func (l *Log) Entry(i uint64) ([]byte, error) {
	l.mu.RLock()
	if n := l.tree.size(); i >= n {
		l.mu.RUnlock()
		return nil, fmt.Errorf("ledger: entry %d out of range (log size %d)", i, n)
	}
	off, end, f := l.offsets[i], l.offsets[i+1], l.f
	leaf := bytes.Clone(l.tree.leaf(i))
	l.mu.RUnlock()

	rr := newRecordReader(io.NewSectionReader(f, off, end-off), off, end)
	entry, _, _, err := rr.next()
	if err != nil {
		return nil, l.readError(i, off, err)
	}
	if !bytes.Equal(hasher.HashLeaf(entry), leaf) {
		return nil, &EntryError{Index: i, Offset: off, Reason: "record changed on disk since the log was opened", Err: ErrSecurity}
	}
	return bytes.Clone(entry), nil
}

func (l *Log) readError(i uint64, off int64, err error) error {
	var fe *frameError
	if errors.As(err, &fe) {
		e := entryError(i, fe)
		e.Reason = "record changed on disk since the log was opened: " + e.Reason
		return e
	}
	return fmt.Errorf("ledger: read entry %d at offset %d: %w", i, off, err)
}

// Scan calls fn for entries from, from+1, … up to the size of the log when
// Scan was called, in order, and stops at the first error, which it returns
// wrapped. The entry slice is valid only during the call. Every entry is
// checked against its leaf hash in memory, as in Entry.
func (l *Log) Scan(from uint64, fn func(i uint64, entry []byte) error) error {
	l.mu.RLock()
	n := l.tree.size()
	if from > n {
		l.mu.RUnlock()
		return fmt.Errorf("ledger: scan from %d beyond the log size %d", from, n)
	}
	f := l.f
	start, end := l.offsets[from], l.offsets[n]
	l.mu.RUnlock()

	rr := newRecordReader(io.NewSectionReader(f, start, end-start), start, end)
	for i := from; i < n; i++ {
		entry, _, off, err := rr.next()
		if err != nil {
			return l.readError(i, off, err)
		}
		got := hasher.HashLeaf(entry)
		l.mu.RLock()
		ok := bytes.Equal(got, l.tree.leaf(i)) && off == l.offsets[i]
		l.mu.RUnlock()
		if !ok {
			return &EntryError{Index: i, Offset: off, Reason: "record changed on disk since the log was opened", Err: ErrSecurity}
		}
		if err := fn(i, entry); err != nil {
			return fmt.Errorf("ledger: scan entry %d: %w", i, err)
		}
	}
	return nil
}

// InclusionProof returns the RFC 6962 inclusion proof of entry index in
// the log's tree of the given size (index < size <= Size()), to be checked
// with VerifyInclusion against a checkpoint of that size. To prove an entry
// against the latest checkpoint while other goroutines append, parse
// Checkpoint() first and pass its Size: proofs for any earlier size remain
// available.
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if n := l.tree.size(); index >= size || size > n {
		return nil, fmt.Errorf("ledger: no inclusion proof of entry %d in size %d (log size %d)", index, size, n)
	}
	return l.tree.inclusion(index, size)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the
// log's trees of sizes size1 and size2 (size1 <= size2 <= Size()), to be
// checked with VerifyConsistency. It is empty when size1 is 0 or size1
// equals size2.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if n := l.tree.size(); size1 > size2 || size2 > n {
		return nil, fmt.Errorf("ledger: no consistency proof from size %d to %d (log size %d)", size1, size2, n)
	}
	return l.tree.consistency(size1, size2)
}

// Close closes the log's files and releases dir for another Open. Appends
// after Close fail with ErrUnavailable; reads fail. Closing twice is a
// no-op.
func (l *Log) Close() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.f.Close()
	if lerr := l.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("ledger: close %s: %w", l.dir, err)
	}
	return nil
}
