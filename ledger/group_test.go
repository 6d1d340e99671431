package ledger

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// countingFS counts the fsyncs of the entries file, one per batch.
func countingFS(syncs *atomic.Int64) *funcFS {
	fsys := &funcFS{}
	onFile(entriesName, func(f *faultyFile, _ *atomic.Bool) {
		f.sync = func(f File) error {
			syncs.Add(1)
			return f.Sync()
		}
	})(fsys, nil)
	return fsys
}

// gatedFS makes fsyncs of the entries file wait for gate, and fail with
// errInjected while fail is set.
func gatedFS(gate chan struct{}, fail *atomic.Bool) *funcFS {
	fsys := &funcFS{}
	onFile(entriesName, func(f *faultyFile, _ *atomic.Bool) {
		f.sync = func(f File) error {
			<-gate
			if fail.Load() {
				return errInjected
			}
			return f.Sync()
		}
	})(fsys, nil)
	return fsys
}

func TestGroupCommitConcurrent(t *testing.T) {
	const writers, perWriter = 64, 40
	dir := t.TempDir()
	var syncs atomic.Int64
	l, err := OpenWithOptions(dir, testSigner(t), testOrigin, Options{FS: countingFS(&syncs)})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })

	var (
		mu   sync.Mutex
		got  = map[uint64][]byte{}
		wg   sync.WaitGroup
		fail atomic.Bool
	)
	for w := range writers {
		wg.Go(func() {
			for k := range perWriter {
				e := []byte{byte(w), byte(k), 'g'}
				i, err := l.Append(e)
				if err != nil {
					fail.Store(true)
					t.Error(err)
					return
				}
				mu.Lock()
				got[i] = e
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.False(t, fail.Load())
	const n = writers * perWriter
	require.Len(t, got, n)
	require.EqualValues(t, n, l.Size())
	batches := syncs.Load()
	t.Logf("%d entries in %d batches (%.1f per batch)", n, batches, float64(n)/float64(batches))
	require.Less(t, batches, int64(n/2), "concurrent appends share fsyncs")

	require.NoError(t, l.Close())
	_, err = Verify(dir, testVerifier(t), nil)
	require.NoError(t, err)
	l = openTest(t, dir)
	require.EqualValues(t, n, l.Size())
	for i := uint64(0); i < n; i++ {
		e, err := l.Entry(i)
		require.NoError(t, err)
		require.Equal(t, got[i], e, "entry %d", i)
	}
}

// TestAddOrderUnderCallerLock models the node: it holds its own lock while
// it adds an entry and applies it, and waits for durability outside the
// lock. Indices follow the order of application.
func TestAddOrderUnderCallerLock(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	var (
		mu      sync.Mutex
		applied []uint64 // index of each entry, in order of application
		entries [][]byte
		wg      sync.WaitGroup
	)
	for w := range 16 {
		wg.Go(func() {
			for k := range 20 {
				e := []byte{byte(w), byte(k), 'o'}
				mu.Lock()
				p, err := l.AddAt(uint64(len(applied)), e)
				if !assertNoError(t, err) {
					mu.Unlock()
					return
				}
				applied = append(applied, p.Index)
				entries = append(entries, e)
				mu.Unlock()
				assertNoError(t, p.Wait())
			}
		})
	}
	wg.Wait()
	require.Len(t, applied, 320)
	for k, i := range applied {
		require.EqualValues(t, k, i)
	}
	require.NoError(t, l.Scan(0, func(i uint64, e []byte) error {
		require.Equal(t, entries[i], e)
		return nil
	}))
}

func TestEntriesVisibleOnlyOnceCommitted(t *testing.T) {
	dir := t.TempDir()
	gate := make(chan struct{})
	var fail atomic.Bool
	l, err := OpenWithOptions(dir, testSigner(t), testOrigin, Options{FS: gatedFS(gate, &fail)})
	require.NoError(t, err)
	t.Cleanup(func() { close(gate); l.Close() })
	cp0 := l.Checkpoint()

	p, err := l.Add([]byte("first"))
	require.NoError(t, err)
	require.EqualValues(t, 0, p.Index)
	q, err := l.Add([]byte("second"))
	require.NoError(t, err)
	require.EqualValues(t, 1, q.Index)
	require.EqualValues(t, 0, l.Size(), "queued entries are not counted")
	require.EqualValues(t, 2, l.Next(), "but they have their indices")
	require.Equal(t, cp0, l.Checkpoint())
	_, err = l.Entry(0)
	require.Error(t, err)
	_, err = l.InclusionProof(0, 1)
	require.Error(t, err)

	gate <- struct{}{} // the first batch's fsync
	require.NoError(t, p.Wait())
	require.NoError(t, p.Wait(), "Wait may be called again")
	if l.Size() == 1 {
		gate <- struct{}{} // the second batch's, if the first did not take both
	}
	require.NoError(t, q.Wait())
	require.EqualValues(t, 2, l.Size())
	cp, err := ParseCheckpoint(l.Checkpoint(), testVerifier(t))
	require.NoError(t, err)
	require.EqualValues(t, 2, cp.Size)
}

// TestDropAfterFailedBatch checks that a failed batch drops every entry
// queued behind it, that AddAt then refuses to build on them, and that the
// log goes on from the last committed entry.
func TestDropAfterFailedBatch(t *testing.T) {
	dir := t.TempDir()
	gate := make(chan struct{})
	var fail atomic.Bool
	l, err := OpenWithOptions(dir, testSigner(t), testOrigin, Options{FS: gatedFS(gate, &fail)})
	require.NoError(t, err)
	t.Cleanup(func() { close(gate); l.Close() })
	go func() { gate <- struct{}{}; gate <- struct{}{} }()
	appendN(t, l, 2)
	entries := readFile(t, dir, entriesName)

	fail.Store(true)
	var ps []*Pending
	for k := range 5 {
		p, err := l.AddAt(uint64(2+k), testEntry(uint64(2+k)))
		require.NoError(t, err)
		ps = append(ps, p)
	}
	gate <- struct{}{} // the failing fsync: the first batch, and the rest queued behind it
	gate <- struct{}{} // the fsync of its truncation, which fails too
	for _, p := range ps {
		err := p.Wait()
		require.ErrorIs(t, err, ErrUnavailable, "entry %d", p.Index)
		require.ErrorContains(t, err, "injected")
	}
	require.EqualValues(t, 2, l.Size())
	require.EqualValues(t, 2, l.Next(), "nothing in flight after a drop")
	require.Equal(t, entries, readFile(t, dir, entriesName), "nothing partial stays")

	_, err = l.AddAt(7, []byte("built on dropped entries"))
	var ie *IndexError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, IndexError{Want: 7, Next: 2}, *ie)
	require.ErrorIs(t, err, ErrUnavailable)

	fail.Store(false)
	p, err := l.AddAt(2, testEntry(2))
	require.NoError(t, err)
	gate <- struct{}{}
	require.NoError(t, p.Wait())
	require.EqualValues(t, 3, l.Size())
	require.NoError(t, l.Close())
	_, err = Verify(dir, testVerifier(t), nil)
	require.NoError(t, err)
}

func TestCloseCommitsQueued(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testSigner(t), testOrigin)
	require.NoError(t, err)
	var ps []*Pending
	for i := range uint64(200) {
		p, err := l.Add(testEntry(i))
		require.NoError(t, err)
		require.Equal(t, i, p.Index)
		ps = append(ps, p)
	}
	require.NoError(t, l.Close())
	for _, p := range ps {
		require.NoError(t, p.Wait())
	}
	_, err = l.Add([]byte("late"))
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = l.AddAt(200, []byte("late"))
	require.ErrorIs(t, err, ErrUnavailable)
	cp, err := Verify(dir, testVerifier(t), func(i uint64, e []byte) error {
		if string(e) != string(testEntry(i)) {
			return errors.New("wrong entry")
		}
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 200, cp.Size)
}

// TestBatchesAreBounded checks that a batch holds at most maxBatchBytes of
// records, so a zero-filled tail Open accepts is never longer than one.
func TestBatchesAreBounded(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var writes []int
	fsys := &funcFS{}
	onFile(entriesName, func(f *faultyFile, _ *atomic.Bool) {
		f.writeAt = func(f File, b []byte, off int64) (int, error) {
			mu.Lock()
			writes = append(writes, len(b))
			mu.Unlock()
			return f.WriteAt(b, off)
		}
	})(fsys, nil)
	l, err := OpenWithOptions(dir, testSigner(t), testOrigin, Options{FS: fsys})
	require.NoError(t, err)
	big := make([]byte, MaxEntrySize)
	var ps []*Pending
	for range 5 {
		p, err := l.Add(big)
		require.NoError(t, err)
		ps = append(ps, p)
	}
	for _, p := range ps {
		require.NoError(t, p.Wait())
	}
	require.NoError(t, l.Close())
	require.GreaterOrEqual(t, len(writes), 3)
	for _, n := range writes {
		require.LessOrEqual(t, n, maxBatchBytes)
	}
}
