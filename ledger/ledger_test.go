package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendReopenRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := Open(dir, testSigner(t), testOrigin)
	require.NoError(t, err)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	appendN(t, l, 30)
	require.EqualValues(t, 30, l.Size())
	cp := l.Checkpoint()
	require.NoError(t, l.Close())

	l = openTest(t, dir)
	require.EqualValues(t, 30, l.Size())
	require.Equal(t, cp, l.Checkpoint(), "reopening a clean log keeps its checkpoint")
	for i := uint64(0); i < 30; i++ {
		e, err := l.Entry(i)
		require.NoError(t, err)
		require.Equal(t, testEntry(i), e)
	}
	appendN(t, l, 45)
	c, err := ParseCheckpoint(l.Checkpoint(), testVerifier(t))
	require.NoError(t, err)
	require.Equal(t, &Checkpoint{Origin: testOrigin, Size: 45, Root: l.tree.root()}, c)
	require.NoError(t, l.Close())

	got, err := Verify(dir, testVerifier(t), nil)
	require.NoError(t, err)
	require.Equal(t, c, got)
}

func TestEmptyLog(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	require.EqualValues(t, 0, l.Size())
	c, err := ParseCheckpoint(l.Checkpoint(), testVerifier(t))
	require.NoError(t, err)
	require.Equal(t, &Checkpoint{Origin: testOrigin, Size: 0, Root: hasher.EmptyRoot()}, c)
	require.NoError(t, l.Scan(0, func(uint64, []byte) error { t.Fatal("no entries"); return nil }))
	_, err = l.Entry(0)
	require.Error(t, err)
	_, err = l.InclusionProof(0, 0)
	require.Error(t, err)
	p, err := l.ConsistencyProof(0, 0)
	require.NoError(t, err)
	require.Empty(t, p)
	require.NoError(t, l.Close())

	got, err := Verify(dir, testVerifier(t), func(uint64, []byte) error { t.Fatal("no entries"); return nil })
	require.NoError(t, err)
	require.Equal(t, c, got)
	openTest(t, dir)
}

func TestEntrySizeLimits(t *testing.T) {
	l := openTest(t, t.TempDir())
	_, err := l.Append(nil)
	require.Error(t, err)
	_, err = l.Append([]byte{})
	require.Error(t, err)
	_, err = l.Append(make([]byte, MaxEntrySize+1))
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrUnavailable, "a refused entry does not make the log unavailable")

	big := make([]byte, MaxEntrySize)
	big[0], big[MaxEntrySize-1] = 1, 2
	i, err := l.Append(big)
	require.NoError(t, err)
	require.EqualValues(t, 0, i)
	i, err = l.Append([]byte{0})
	require.NoError(t, err)
	require.EqualValues(t, 1, i)
	got, err := l.Entry(0)
	require.NoError(t, err)
	require.Equal(t, big, got)
}

func TestOpenRejectsBadArguments(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir, nil, testOrigin)
	require.Error(t, err)
	for _, origin := range []string{"", "two\nlines", "tab\there", "\xff"} {
		_, err = Open(dir, testSigner(t), origin)
		require.Error(t, err, "origin %q", origin)
	}
}

func TestScan(t *testing.T) {
	l := openTest(t, t.TempDir())
	appendN(t, l, 20)
	var seen []uint64
	require.NoError(t, l.Scan(7, func(i uint64, e []byte) error {
		require.Equal(t, testEntry(i), e)
		seen = append(seen, i)
		return nil
	}))
	require.Len(t, seen, 13)
	require.EqualValues(t, 7, seen[0])
	require.EqualValues(t, 19, seen[12])
	require.NoError(t, l.Scan(20, func(uint64, []byte) error { t.Fatal("none"); return nil }))
	require.Error(t, l.Scan(21, func(uint64, []byte) error { return nil }))

	stop := errors.New("stop")
	err := l.Scan(0, func(i uint64, _ []byte) error {
		if i == 3 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
}

func TestReadsDetectChangeOnDisk(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	appendN(t, l, 10)
	b := readFile(t, dir, entriesName)
	offs := recordBounds(t, b)
	b[offs[4]+5] ^= 1 // inside entry 4's payload
	writeFile(t, dir, entriesName, b)

	_, err := l.Entry(4)
	var ee *EntryError
	require.ErrorAs(t, err, &ee)
	require.EqualValues(t, 4, ee.Index)
	require.ErrorIs(t, err, ErrSecurity)
	_, err = l.Entry(3)
	require.NoError(t, err)

	err = l.Scan(0, func(uint64, []byte) error { return nil })
	require.ErrorAs(t, err, &ee)
	require.EqualValues(t, 4, ee.Index)
}

func TestOneOpenPerDirectory(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testSigner(t), testOrigin)
	require.NoError(t, err)
	_, err = Open(dir, testSigner(t), testOrigin)
	require.Error(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "second Close is a no-op")
	_, err = l.Append([]byte("x"))
	require.ErrorIs(t, err, ErrUnavailable)
	openTest(t, dir)
}

func TestConcurrentAppends(t *testing.T) {
	const writers, perWriter = 12, 8
	dir := t.TempDir()
	l := openTest(t, dir)

	type result struct {
		index uint64
		entry []byte
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		done    = make(chan struct{})
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < perWriter; k++ {
				e := []byte{byte(w), byte(k), 'x'}
				i, err := l.Append(e)
				if !assertNoError(t, err) {
					return
				}
				mu.Lock()
				results = append(results, result{i, e})
				mu.Unlock()
			}
		}()
	}
	// Readers run alongside the writers.
	var rwg sync.WaitGroup
	for r := 0; r < 4; r++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				n := l.Size()
				if n == 0 {
					continue
				}
				if _, err := l.Entry(n - 1); !assertNoError(t, err) {
					return
				}
				if _, err := l.InclusionProof(n/2, n); !assertNoError(t, err) {
					return
				}
				if _, err := l.ConsistencyProof(n/3, n); !assertNoError(t, err) {
					return
				}
				if _, err := ParseCheckpoint(l.Checkpoint(), testVerifier(t)); !assertNoError(t, err) {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	rwg.Wait()

	require.Len(t, results, writers*perWriter)
	sort.Slice(results, func(a, b int) bool { return results[a].index < results[b].index })
	for k, r := range results {
		require.EqualValues(t, k, r.index, "indices are distinct and contiguous")
		e, err := l.Entry(r.index)
		require.NoError(t, err)
		require.Equal(t, r.entry, e)
	}
	require.NoError(t, l.Close())
	_, err := Verify(dir, testVerifier(t), nil)
	require.NoError(t, err)
}

// assertNoError reports err without stopping a goroutine's caller.
func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
