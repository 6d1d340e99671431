package ledger_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/ledger/ledgertest"
)

// openFaulty opens a log in a new directory through a FaultFS, with n
// entries appended.
func openFaulty(t *testing.T, n uint64) (*ledger.Log, *ledgertest.FaultFS, string) {
	t.Helper()
	dir := t.TempDir()
	fsys := &ledgertest.FaultFS{}
	s, _ := ledger.InsecureTestKeys(t)
	l, err := ledger.OpenWithOptions(dir, s, ledger.OriginForTest, ledger.Options{FS: fsys})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	for i := range n {
		_, err := l.Append(ledger.EntryForTest(i))
		require.NoError(t, err)
	}
	return l, fsys, dir
}

func read(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return b
}

// addConcurrently adds k entries from k goroutines and returns what each
// Wait returned.
func addConcurrently(t *testing.T, l *ledger.Log, k int) []error {
	errs := make([]error, k)
	var wg sync.WaitGroup
	for j := range k {
		wg.Go(func() {
			p, err := l.Add([]byte{'c', byte(j)})
			if err == nil {
				err = p.Wait()
			}
			errs[j] = err
		})
	}
	wg.Wait()
	return errs
}

func verifyDir(t *testing.T, dir string) *ledger.Checkpoint {
	t.Helper()
	_, v := ledger.InsecureTestKeys(t)
	cp, err := ledger.Verify(dir, v, nil)
	require.NoError(t, err)
	return cp
}

func TestFaultFSWriteAndSyncFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		sw   func(*ledgertest.FaultFS, bool)
	}{
		{"FailWrites", func(f *ledgertest.FaultFS, on bool) { f.FailWrites.Store(on) }},
		{"FailSync", func(f *ledgertest.FaultFS, on bool) { f.FailSync.Store(on) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, fsys, dir := openFaulty(t, 10)
			entries, checkpoint := read(t, dir, "entries"), read(t, dir, "checkpoint")

			tc.sw(fsys, true)
			for _, err := range addConcurrently(t, l, 32) {
				require.ErrorIs(t, err, ledger.ErrUnavailable)
				require.ErrorIs(t, err, ledgertest.ErrInjected)
			}
			require.EqualValues(t, 10, l.Size())
			require.Equal(t, entries, read(t, dir, "entries"), "nothing partial stays")
			require.Equal(t, checkpoint, read(t, dir, "checkpoint"))
			require.Equal(t, checkpoint, l.Checkpoint())

			tc.sw(fsys, false)
			i, err := l.Append([]byte("after"))
			require.NoError(t, err, "the log resumes by itself")
			require.EqualValues(t, 10, i)
			for _, err := range addConcurrently(t, l, 32) {
				require.NoError(t, err)
			}
			require.EqualValues(t, 43, l.Size())
			require.NoError(t, l.Close())
			require.EqualValues(t, 43, verifyDir(t, dir).Size)
			require.True(t, bytes.HasPrefix(read(t, dir, "entries"), entries))
		})
	}
}

func TestFaultFSCheckpointFailureKeepsRecords(t *testing.T) {
	l, fsys, dir := openFaulty(t, 10)
	checkpoint := read(t, dir, "checkpoint")

	fsys.FailCheckpoint.Store(true)
	_, err := l.Append([]byte("durable but unacknowledged"))
	require.ErrorIs(t, err, ledger.ErrUnavailable)
	require.ErrorIs(t, err, ledgertest.ErrInjected)
	require.ErrorContains(t, err, "durable")
	require.EqualValues(t, 11, l.Size(), "the records were synced: the entry is committed")
	require.EqualValues(t, 11, l.Next(), "nothing was dropped")
	require.Equal(t, checkpoint, read(t, dir, "checkpoint"), "the stored checkpoint is the old one")
	require.ErrorContains(t, l.Close(), "store the last checkpoint", "Close tries again, and says it failed")

	_, v := ledger.InsecureTestKeys(t)
	_, err = ledger.Verify(dir, v, nil)
	require.ErrorIs(t, err, ledger.ErrSecurity, "a copy with records beyond its checkpoint is refused")
	s, _ := ledger.InsecureTestKeys(t)
	l, err = ledger.Open(dir, s, ledger.OriginForTest)
	require.NoError(t, err)
	require.EqualValues(t, 11, l.Size(), "a reopen keeps them")
	e, err := l.Entry(10)
	require.NoError(t, err)
	require.Equal(t, "durable but unacknowledged", string(e))
	require.NoError(t, l.Close())
	require.EqualValues(t, 11, verifyDir(t, dir).Size)
}

func TestFaultFSCheckpointFailureThenResume(t *testing.T) {
	l, fsys, dir := openFaulty(t, 3)
	fsys.FailCheckpoint.Store(true)
	for _, err := range addConcurrently(t, l, 8) {
		require.ErrorIs(t, err, ledger.ErrUnavailable)
	}
	require.EqualValues(t, 11, l.Size())
	fsys.FailCheckpoint.Store(false)
	i, err := l.Append([]byte("next"))
	require.NoError(t, err)
	require.EqualValues(t, 11, i)
	_, v := ledger.InsecureTestKeys(t)
	cp, err := ledger.ParseCheckpoint(read(t, dir, "checkpoint"), v)
	require.NoError(t, err)
	require.EqualValues(t, 12, cp.Size, "the next checkpoint covers the earlier batch too")
	require.NoError(t, l.Close())
	verifyDir(t, dir)
}

func TestFaultFSTruncateFailureRefusesUntilReopen(t *testing.T) {
	l, fsys, dir := openFaulty(t, 4)
	fsys.FailWrites.Store(true)
	fsys.FailTruncate.Store(true)
	_, err := l.Append([]byte("torn"))
	require.ErrorIs(t, err, ledger.ErrUnavailable)
	fsys.FailWrites.Store(false)
	fsys.FailTruncate.Store(false)
	_, err = l.Append([]byte("refused"))
	require.ErrorIs(t, err, ledger.ErrUnavailable, "refused until reopened")
	require.NoError(t, l.Close())

	s, _ := ledger.InsecureTestKeys(t)
	l, err = ledger.OpenWithOptions(dir, s, ledger.OriginForTest, ledger.Options{FS: fsys})
	require.NoError(t, err, "Open truncates the torn record")
	require.EqualValues(t, 4, l.Size())
	i, err := l.Append([]byte("after reopen"))
	require.NoError(t, err)
	require.EqualValues(t, 4, i)
	require.NoError(t, l.Close())
	verifyDir(t, dir)
}

func TestFaultFSCountsBatches(t *testing.T) {
	l, fsys, _ := openFaulty(t, 0)
	for _, err := range addConcurrently(t, l, 200) {
		require.NoError(t, err)
	}
	syncs := fsys.Syncs.Load()
	t.Logf("200 concurrent appends in %d fsyncs", syncs)
	require.Less(t, syncs, int64(100))
	require.Equal(t, syncs, fsys.Writes.Load())
}

// TestFaultFSFuncFields checks that the func fields replace the operating
// system's calls.
func TestFaultFSFuncFields(t *testing.T) {
	errRename := errors.New("rename refused")
	fsys := &ledgertest.FaultFS{RenameFunc: func(string, string) error { return errRename }}
	s, _ := ledger.InsecureTestKeys(t)
	_, err := ledger.OpenWithOptions(t.TempDir(), s, ledger.OriginForTest, ledger.Options{FS: fsys})
	require.ErrorIs(t, err, errRename)
}

// TestFaultFSFlappingDisk appends from many goroutines while the disk
// fails and recovers at random: every entry whose Wait returned nil is in
// the log at its index, also after a reopen, and the log verifies.
func TestFaultFSFlappingDisk(t *testing.T) {
	l, fsys, dir := openFaulty(t, 0)
	var (
		mu   sync.Mutex
		ok   = map[uint64][]byte{}
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		switches := []*atomic.Bool{&fsys.FailWrites, &fsys.FailSync, &fsys.FailCheckpoint}
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(rng.IntN(500)) * time.Microsecond):
			}
			switches[rng.IntN(len(switches))].Store(rng.IntN(4) == 0)
		}
	}()
	failed := 0
	for w := range 16 {
		wg.Go(func() {
			for k := range 60 {
				e := fmt.Appendf(nil, "w%d k%d", w, k)
				i, err := l.Append(e)
				mu.Lock()
				if err == nil {
					if _, dup := ok[i]; dup {
						t.Errorf("index %d given twice", i)
					}
					ok[i] = e
				} else {
					if !errors.Is(err, ledger.ErrUnavailable) {
						t.Error(err)
					}
					failed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	t.Logf("%d appends succeeded, %d failed; log size %d", len(ok), failed, l.Size())
	require.NotEmpty(t, ok)
	fsys.FailWrites.Store(false)
	fsys.FailSync.Store(false)
	fsys.FailCheckpoint.Store(false)
	_, err := l.Append([]byte("last"))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	verifyDir(t, dir)

	s, _ := ledger.InsecureTestKeys(t)
	l, err = ledger.Open(dir, s, ledger.OriginForTest)
	require.NoError(t, err)
	defer l.Close()
	for i, e := range ok {
		got, err := l.Entry(i)
		require.NoError(t, err)
		require.Equal(t, e, got, "entry %d", i)
	}
}

// TestNodeRecipeUnderFaults follows the recipe of the package doc (AddAt
// under the caller's lock, apply, Wait outside it; rebuild on an
// IndexError, or after a failed Wait when Next is behind) while the disk
// fails at random, and checks that the caller's state ends up equal to
// the log and that every entry acted on is in it.
func TestNodeRecipeUnderFaults(t *testing.T) {
	l, fsys, _ := openFaulty(t, 0)
	var (
		mu       sync.Mutex
		state    [][]byte // the caller's state: every entry applied, in order
		rebuilds int
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	// rebuild replays the log into the state; the caller holds mu.
	rebuild := func() {
		state = state[:0]
		if err := l.Scan(0, func(_ uint64, e []byte) error {
			state = append(state, bytes.Clone(e))
			return nil
		}); err != nil {
			t.Error(err)
		}
		rebuilds++
	}
	go func() {
		rng := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(rng.IntN(800)) * time.Microsecond):
			}
			fsys.FailWrites.Store(rng.IntN(3) == 0)
		}
	}()
	acted := map[string]bool{}
	for w := range 8 {
		wg.Go(func() {
			for k := range 80 {
				e := fmt.Appendf(nil, "w%d k%d", w, k)
				mu.Lock()
				p, err := l.AddAt(uint64(len(state)), e)
				var ie *ledger.IndexError
				if errors.As(err, &ie) {
					rebuild()
					if n := l.Size(); n != uint64(len(state)) {
						t.Errorf("log size %d after replaying %d entries: entries in flight after a drop", n, len(state))
					}
					p, err = l.AddAt(uint64(len(state)), e)
				}
				if err == nil {
					state = append(state, e)
				}
				mu.Unlock()
				if err != nil {
					continue
				}
				werr := p.Wait()
				mu.Lock()
				if werr == nil {
					acted[string(e)] = true
				} else if l.Next() < uint64(len(state)) {
					// Dropped: rebuild now rather than at the next AddAt.
					rebuild()
					if n := l.Next(); n != uint64(len(state)) {
						t.Errorf("next index %d after replaying %d entries", n, len(state))
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	fsys.FailWrites.Store(false)

	mu.Lock()
	defer mu.Unlock()
	p, err := l.AddAt(uint64(len(state)), []byte("final"))
	var ie *ledger.IndexError
	if errors.As(err, &ie) {
		rebuild()
		p, err = l.AddAt(uint64(len(state)), []byte("final"))
	}
	require.NoError(t, err)
	state = append(state, []byte("final"))
	require.NoError(t, p.Wait())
	t.Logf("%d entries, %d acted on, %d rebuilds", len(state), len(acted), rebuilds)
	require.EqualValues(t, len(state), l.Size())
	require.NoError(t, l.Scan(0, func(i uint64, e []byte) error {
		require.Equal(t, state[i], e, "entry %d", i)
		return nil
	}))
	inLog := map[string]bool{}
	for _, e := range state {
		inLog[string(e)] = true
	}
	for e := range acted {
		require.True(t, inLog[e], "%s was acted on but is not in the log", e)
	}
}

// TestFaultFSCloseStoresAFailedCheckpoint: when a batch's checkpoint could
// not be stored and nothing was appended after it, Close stores it, so
// that the directory verifies without a reopen.
func TestFaultFSCloseStoresAFailedCheckpoint(t *testing.T) {
	l, fsys, dir := openFaulty(t, 3)
	fsys.FailCheckpoint.Store(true)
	_, err := l.Append([]byte("durable, checkpoint lost"))
	require.ErrorIs(t, err, ledger.ErrUnavailable)
	fsys.FailCheckpoint.Store(false)
	require.NoError(t, l.Close())
	require.EqualValues(t, 4, verifyDir(t, dir).Size)
}
