package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/note"
)

// Log is an open ledger directory: an append-only log of entries, written
// in batches, each covered by a signed checkpoint.
//
// A Log is safe for concurrent use. Add assigns indices in call order and
// queues entries; a single committer goroutine, started by Open and
// stopped by Close, writes them in batches (see [Log.Add]). Reads (Size,
// Entry, Scan, Checkpoint, proofs) run concurrently with each other and
// with commits, and see the log as of the last committed batch.
type Log struct {
	dir    string
	origin string
	signer note.Signer
	fsys   FS
	lock   *os.File
	// root is dir when the Log made its own rootFS; closed with the Log.
	root *os.Root

	// The queue, guarded by qmu: entries added but not yet committed.
	qmu     sync.Mutex
	qcond   sync.Cond // signalled when the queue grows or the Log closes
	queue   []*batch  // oldest first; the committer takes queue[0]
	next    uint64    // index the next Add assigns
	broken  error     // set when a failed batch could not be removed from disk; Adds are refused until reopened
	closing bool      // Close was called; Adds are refused

	stopped   chan struct{} // closed when the committer has exited
	closeOnce sync.Once
	closeErr  error

	// The committed log, guarded by mu. Only the committer (and Open and
	// Close, when it is not running) writes these, so it reads them
	// without mu.
	mu         sync.RWMutex
	f          File
	tree       *tree
	offsets    []int64 // offsets[i] is where record i starts; offsets[size] is the end of the last record
	checkpoint []byte  // signed checkpoint of exactly the committed entries
	// unstored is set while checkpoint is not the one stored in dir (its
	// store failed); Close stores it then.
	unstored bool
}

// batch is a run of queued entries the committer writes with one write,
// one fsync and one checkpoint.
type batch struct {
	first  uint64 // index of its first entry
	n      int    // number of entries
	buf    []byte // their records, back to back
	leaves []byte // their leaf hashes, 32 bytes each
	done   chan struct{}
	err    error // why the batch failed, if it did; set before done is closed
}

// maxBatchBytes bounds the records of one batch, and so the zero-filled
// tail that Open accepts as an interrupted write. A batch always takes at
// least one entry; MaxEntrySize is smaller.
const maxBatchBytes = 32 << 20

// Pending is an entry that Add has queued: it has an index, and becomes
// durable when its batch is committed. Wait says when and whether.
type Pending struct {
	Index uint64 // the entry's index in the log, 0-based
	b     *batch
}

// Wait blocks until the entry's batch has been committed and returns nil
// when the entry is durable: its record has been written and fsynced, and
// a signed checkpoint covering it has been atomically stored. An error
// wraps ErrUnavailable, and the caller must not act on the entry, which
// may nonetheless be in the log: when its batch's records were synced but
// storing their checkpoint failed, it is committed (visible to Size and
// Entry, kept by a reopen); when a failed write could not be truncated
// away, or its truncation not synced, a reopen may find it. Otherwise it
// was dropped, and its index goes to the next entry added. Wait may be
// called any number of times, from any goroutine.
func (p *Pending) Wait() error {
	<-p.b.done
	if p.b.err != nil {
		return fmt.Errorf("%w: entry %d: %w", ErrUnavailable, p.Index, p.b.err)
	}
	return nil
}

// Open opens the log in dir with the operating system's file system; see
// OpenWithOptions.
func Open(dir string, signer note.Signer, origin string) (*Log, error) {
	return OpenWithOptions(dir, signer, origin, Options{})
}

// OpenWithOptions opens the log in dir, creating dir (mode 0700) and an
// empty log with a signed checkpoint of size 0 when there is none. origin
// names the log in its checkpoints (the deployment's name) and must not
// change over the log's life; signer signs the checkpoints.
//
// On an existing log, Open reads every record, recomputes the Merkle tree,
// verifies the stored checkpoint (see "Trust on open" in the package doc)
// and refuses, with an error wrapping ErrSecurity, a log that contradicts
// it: a damaged record within the checkpointed entries (an *EntryError), a
// checkpoint of another origin or not signed by signer, a root that differs
// from the checkpoint's, fewer entries than the checkpoint (rolled back), or
// damaged data beyond the checkpoint that an interrupted write cannot
// leave. Complete records beyond the checkpoint (a batch whose checkpoint
// was not stored) are kept, and one torn record at the very end of the
// file is truncated away; Open then signs and stores a checkpoint
// covering what it kept.
//
// Only one Log may have dir open at a time; a second Open fails while the
// first is open. Call Close when done: it stops the committer.
func OpenWithOptions(dir string, signer note.Signer, origin string, opts Options) (*Log, error) {
	return openLog(dir, signer, origin, opts)
}

func openLog(dir string, signer note.Signer, origin string, opts Options) (_ *Log, err error) {
	if signer == nil {
		return nil, errors.New("ledger: Open: nil signer")
	}
	if err := checkOrigin(origin); err != nil {
		return nil, fmt.Errorf("ledger: Open: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	fsys := opts.FS
	var root *os.Root
	if fsys == nil {
		// The files are reached through an os.Root of dir: no name, nor a
		// symbolic link placed in dir, leads outside it.
		if root, err = os.OpenRoot(dir); err != nil {
			return nil, fmt.Errorf("ledger: %w", err)
		}
		fsys = rootFS{root: root, dir: dir}
	}
	lock, err := lockDir(dir)
	if err != nil {
		if root != nil {
			root.Close()
		}
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	l := &Log{dir: dir, origin: origin, signer: signer, fsys: fsys, lock: lock, root: root}
	defer func() {
		if err != nil {
			if l.f != nil {
				l.f.Close()
			}
			if root != nil {
				root.Close()
			}
			lock.Close()
			err = fmt.Errorf("ledger: open %s: %w", dir, err)
		}
	}()

	signed, err := readCheckpointFile(fsys, dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	entriesPath := filepath.Join(dir, entriesName)
	l.f, err = fsys.OpenFile(entriesPath, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if signed != nil {
			return nil, fmt.Errorf("%w: a checkpoint but no entries file", ErrSecurity)
		}
		if _, err := replaceFile(fsys, dir, entriesName, []byte(fileMagic)); err != nil {
			return nil, fmt.Errorf("create entries file: %w", err)
		}
		l.f, err = fsys.OpenFile(entriesPath, os.O_RDWR, 0)
	}
	if err != nil {
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
		if _, err := replaceFile(fsys, dir, checkpointName, l.checkpoint); err != nil {
			return nil, fmt.Errorf("write checkpoint: %w", err)
		}
	} else {
		l.checkpoint = signed
	}
	l.next = l.tree.size()
	l.qcond.L = &l.qmu
	l.stopped = make(chan struct{})
	go l.run()
	return l, nil
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
				e.Reason += fmt.Sprintf(" (beyond the checkpoint of size %d, but more data follows, so not a torn final write; if this is the tail of a batch a crash damaged, truncating the entries file at offset %d repairs it)", cp.Size, fe.off)
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
// what a crash while writing a batch can leave at the end of the file: a
// frame running past the end of the file, a frame ending exactly at the
// end of the file whose bytes did not all reach the disk, or a
// zero-filled tail no longer than a batch (a file extended before its data
// was written).
func isTornWrite(r io.ReaderAt, fe *frameError, size int64) (bool, error) {
	if fe.torn || fe.end == size {
		return true, nil
	}
	n := size - fe.off
	if n > maxBatchBytes {
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

// Add queues entry (1 to MaxEntrySize bytes, copied) and assigns its index
// now, in call order: a caller that holds its own lock while calling Add
// gets indices in the order it applies entries. The entry is durable, and
// covered by a stored signed checkpoint, when Wait returns nil; until its
// batch is committed it is not visible to Size, Entry, Scan or proofs.
//
// The committer takes everything queued (up to 32 MiB of records) as one
// batch, writes its records with one write and one fsync, signs and
// atomically stores one checkpoint covering them, makes them visible and
// releases their waiters; entries added meanwhile form the next batch. So
// concurrent Adds share fsyncs, and a caller can keep adding while earlier
// entries are being written (pipelining), as long as it acts on an entry
// only once its Wait returned nil.
//
// When writing or syncing a batch fails, or signing its checkpoint does,
// the Log truncates the entries file back to the end of the last committed
// batch and drops the failed batch and every entry queued after it: their
// Waits return errors wrapping ErrUnavailable, and the next Add gets the
// failed batch's first index again and tries again, so the Log resumes by
// itself once the disk is writable. If the truncation itself fails, the
// Log refuses Adds with ErrUnavailable until it is reopened (Open then
// removes a torn record, and keeps complete ones, that the failed batch
// left). A caller that keeps state derived from entries it has added but
// that are not yet durable should use AddAt, which refuses to build on
// dropped entries.
//
// Add returns an error wrapping ErrUnavailable after Close or while the
// Log is refused, and a plain error for an entry of the wrong size.
func (l *Log) Add(entry []byte) (*Pending, error) {
	return l.add(entry, 0, false)
}

// AddAt is Add for a caller that derives state from the entries it adds
// before they are durable: it queues entry only if entry gets index, the
// caller's count of entries added so far, and otherwise returns an
// *IndexError (wrapping ErrUnavailable) and queues nothing. After a failed
// batch drops entries, the caller's state includes entries the log does
// not have, and AddAt refuses every entry until the caller has rebuilt
// its state from the log (whose Size is then the next index: nothing is
// in flight once entries were dropped and AddAt refused), so that no entry
// derived from a dropped one is ever logged.
func (l *Log) AddAt(index uint64, entry []byte) (*Pending, error) {
	return l.add(entry, index, true)
}

func (l *Log) add(entry []byte, want uint64, check bool) (*Pending, error) {
	if err := checkEntry(entry); err != nil {
		return nil, err
	}
	leaf := hasher.HashLeaf(entry)
	l.qmu.Lock()
	defer l.qmu.Unlock()
	switch {
	case l.closing:
		return nil, fmt.Errorf("%w: log is closed", ErrUnavailable)
	case l.broken != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, l.broken)
	case check && want != l.next:
		return nil, &IndexError{Want: want, Next: l.next}
	}
	size := int(recordSize(len(entry)))
	var b *batch
	if k := len(l.queue); k > 0 && len(l.queue[k-1].buf)+size <= maxBatchBytes {
		b = l.queue[k-1]
	} else {
		b = &batch{first: l.next, done: make(chan struct{})}
		l.queue = append(l.queue, b)
		l.qcond.Signal()
	}
	b.buf = appendRecord(b.buf, entry, leaf)
	b.leaves = append(b.leaves, leaf...)
	b.n++
	p := &Pending{Index: l.next, b: b}
	l.next++
	return p, nil
}

// Append adds entry to the log and waits until it is durable: it is Add
// followed by Wait, and returns the entry's index (0-based). When it
// returns without error, the entry's record has been written and fsynced,
// and a checkpoint covering it has been signed and atomically stored.
// Entries must be 1 to MaxEntrySize bytes.
//
// An error wrapping ErrUnavailable means the caller must not act on the
// entry; see Add for what a failure leaves and Wait for the one case in
// which the entry is nonetheless in the log.
func (l *Log) Append(entry []byte) (uint64, error) {
	p, err := l.Add(entry)
	if err != nil {
		return 0, err
	}
	if err := p.Wait(); err != nil {
		return 0, err
	}
	return p.Index, nil
}

// run is the committer: it commits queued batches, oldest first, until
// Close was called and the queue is empty.
func (l *Log) run() {
	defer close(l.stopped)
	for {
		l.qmu.Lock()
		for len(l.queue) == 0 && !l.closing {
			l.qcond.Wait()
		}
		if len(l.queue) == 0 {
			l.qmu.Unlock()
			return
		}
		b := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		l.qmu.Unlock()
		l.commit(b)
	}
}

// commit writes, syncs and checkpoints batch b, then publishes it and
// releases its waiters.
func (l *Log) commit(b *batch) {
	base := l.tree.size()
	if b.first != base {
		panic(fmt.Sprintf("ledger: batch starts at entry %d, log has %d", b.first, base))
	}
	off := l.offsets[base]
	last := base + uint64(b.n) - 1
	next := l.tree.prepare(b.leaves)
	signed, err := signCheckpoint(&Checkpoint{Origin: l.origin, Size: base + uint64(b.n), Root: next.root}, l.signer)
	if err != nil {
		l.drop(b, off, false, fmt.Errorf("sign checkpoint: %w", err))
		return
	}
	// The checkpoint's temporary file is written and fsynced while the
	// records are, so that a batch costs two fsync latencies, not three;
	// it is renamed into place only once the records are durable.
	tmp := make(chan error, 1)
	go func() { tmp <- writeTemp(l.fsys, l.dir, checkpointName, signed) }()
	if _, err := l.f.WriteAt(b.buf, off); err != nil {
		<-tmp
		l.drop(b, off, true, fmt.Errorf("write records: %w", err))
		return
	}
	if err := l.f.Sync(); err != nil {
		<-tmp
		l.drop(b, off, true, fmt.Errorf("sync entries file: %w", err))
		return
	}
	// The records are durable: from here on a reopen keeps them, so they
	// are committed whether or not their checkpoint can be stored.
	cerr := <-tmp
	if cerr == nil {
		_, cerr = installTemp(l.fsys, l.dir, checkpointName)
	}

	l.mu.Lock()
	l.tree.commit(next)
	end := off
	for k := 0; k < b.n; k++ {
		end += recordSize(int(binary.BigEndian.Uint32(b.buf[end-off:])))
		l.offsets = append(l.offsets, end)
	}
	l.checkpoint = signed
	l.unstored = cerr != nil
	l.mu.Unlock()

	if cerr != nil {
		b.err = fmt.Errorf("entries %d to %d are durable, but their checkpoint could not be stored (a reopen keeps them): %w", base, last, cerr)
	}
	b.buf, b.leaves = nil, nil
	close(b.done)
}

// drop fails batch b, which was to be written at offset off, and every
// batch queued after it, truncating the entries file back to off when
// truncate is set (the write may have reached the file).
func (l *Log) drop(b *batch, off int64, truncate bool, cause error) {
	// If the truncation cannot be synced, a crash before the next batch is
	// synced may bring the failed records back: Open then keeps the
	// complete ones, which were never acted on. Once the next batch is
	// synced, the file's size is durable again, so the Log goes on.
	var broken, unsynced error
	if truncate {
		if err := l.f.Truncate(off); err != nil {
			broken = fmt.Errorf("truncating the entries file back to offset %d after a failed write failed (reopen the log): %w", off, err)
		} else if err := l.f.Sync(); err != nil {
			unsynced = fmt.Errorf("syncing the entries file truncated back to offset %d failed: %w", off, err)
		}
	}
	last := b.first + uint64(b.n) - 1
	switch {
	case broken != nil:
		b.err = fmt.Errorf("entries %d to %d were not logged (they may reappear when the log is reopened): %w; %w", b.first, last, cause, broken)
	case unsynced != nil:
		b.err = fmt.Errorf("entries %d to %d were not logged (they may reappear if the log is reopened after a crash): %w; %w", b.first, last, cause, unsynced)
	default:
		b.err = fmt.Errorf("entries %d to %d were not logged: %w", b.first, last, cause)
	}

	l.qmu.Lock()
	queued := l.queue
	l.queue = nil
	l.next = b.first
	if broken != nil {
		l.broken = broken
	}
	l.qmu.Unlock()

	b.buf, b.leaves = nil, nil
	close(b.done)
	for _, q := range queued {
		q.err = fmt.Errorf("entries %d to %d were dropped, queued after entries %d to %d whose commit failed: %w", q.first, q.first+uint64(q.n)-1, b.first, last, cause)
		q.buf, q.leaves = nil, nil
		close(q.done)
	}
}

// Size returns the number of committed entries: entries whose records
// have been written and fsynced and which the latest signed checkpoint
// (Checkpoint) covers. Entries added but not yet committed are not
// counted; they have indices Size() and up.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.tree.size()
}

// Next returns the index the next Add will assign: Size() plus the
// entries queued or being committed. When a failed batch drops entries it
// falls back to the index of the batch's first entry, which is then
// Size(). A caller that adds under its own lock and counts what it has
// added can tell from it whether entries it applied were dropped (Next()
// is smaller than its count; nothing is in flight then, and its state is
// rebuilt by replaying the log's Size() entries) or are only in flight or
// committed (Next() equals its count).
func (l *Log) Next() uint64 {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return l.next
}

// Checkpoint returns the latest signed checkpoint note, which covers
// exactly the Size() committed entries. It is the stored checkpoint, except
// after a batch whose records were synced but whose checkpoint could not
// be stored: then it is the checkpoint signed for that batch, which a
// reopen signs and stores again (signatures are deterministic), until the
// next batch stores one.
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

// Close waits for the committer to commit everything queued (their Waits
// return), stops it, stores the checkpoint of the committed entries if the
// last attempt to store it failed, closes the log's files and releases dir
// for another Open. Adds after Close fail with ErrUnavailable; reads fail. Closing
// twice is a no-op.
func (l *Log) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		l.qmu.Lock()
		l.closing = true
		l.qcond.Broadcast()
		l.qmu.Unlock()
		<-l.stopped

		l.mu.Lock()
		defer l.mu.Unlock()
		var err error
		if l.unstored {
			// The last batch's checkpoint could not be stored: try once
			// more, so that the directory verifies without a reopen.
			if _, err = replaceFile(l.fsys, l.dir, checkpointName, l.checkpoint); err != nil {
				err = fmt.Errorf("store the last checkpoint: %w", err)
			}
		}
		if ferr := l.f.Close(); err == nil {
			err = ferr
		}
		if lerr := l.lock.Close(); err == nil {
			err = lerr
		}
		if l.root != nil {
			if rerr := l.root.Close(); err == nil {
				err = rerr
			}
		}
		if err != nil {
			l.closeErr = fmt.Errorf("ledger: close %s: %w", l.dir, err)
		}
	})
	if !first {
		return nil
	}
	return l.closeErr
}
