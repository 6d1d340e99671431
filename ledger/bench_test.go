package ledger

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchEntry is a 200-byte entry, about the size of a signed statement.
func benchEntry(i uint64) []byte {
	e := make([]byte, 200)
	for k := 0; k < len(e); k += 8 {
		binary.BigEndian.PutUint64(e[k:], i*31+uint64(k))
	}
	return e
}

// BenchmarkAppend measures durable appends (two fsyncs, a rename and a
// directory fsync each) on the disk holding the test's temporary directory.
func BenchmarkAppend(b *testing.B) {
	l := openTest(b, b.TempDir())
	n := 0
	start := time.Now()
	for b.Loop() {
		if _, err := l.Append(benchEntry(uint64(n))); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "appends/s")
}

// BenchmarkAppendConcurrent measures durable appends from 1, 8 and 32
// goroutines at once, which the committer groups into batches (one write,
// one fsync and one checkpoint each). In mode "append" each goroutine calls
// Append; in mode "node" each does what the node does for a decision:
// under one shared lock, AddAt (and apply the entry to its state), then
// Wait outside the lock, so that durability is pipelined while state
// changes stay serialised.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, mode := range []string{"append", "node"} {
		for _, g := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("mode=%s/goroutines=%d", mode, g), func(b *testing.B) {
				var syncs atomic.Int64
				l, err := OpenWithOptions(b.TempDir(), testSigner(b), testOrigin, Options{FS: countingFS(&syncs)})
				require.NoError(b, err)
				b.Cleanup(func() { l.Close() })
				var (
					next    atomic.Int64 // work handed out
					mu      sync.Mutex   // the node's lock
					applied uint64       // entries the node has applied, under mu
					wg      sync.WaitGroup
				)
				b.ResetTimer()
				start := time.Now()
				for range g {
					wg.Go(func() {
						for {
							k := next.Add(1) - 1
							if k >= int64(b.N) {
								return
							}
							e := benchEntry(uint64(k))
							if mode == "append" {
								if _, err := l.Append(e); err != nil {
									b.Error(err)
									return
								}
								continue
							}
							mu.Lock()
							p, err := l.AddAt(applied, e)
							if err == nil {
								applied++ // the node applies the entry to its state here
							}
							mu.Unlock()
							if err == nil {
								err = p.Wait()
							}
							if err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
				b.ReportMetric(float64(b.N)/float64(max(syncs.Load(), 1)), "entries/batch")
			})
		}
	}
}

// BenchmarkVerify verifies a log of 100,000 200-byte entries, with and
// without a callback (which makes Verify read and hash every entry twice).
func BenchmarkVerify(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	buildLog(b, dir, n, benchEntry)
	v := testVerifier(b)
	for _, withFn := range []bool{false, true} {
		b.Run(fmt.Sprintf("callback=%t", withFn), func(b *testing.B) {
			var fn func(uint64, []byte) error
			if withFn {
				fn = func(uint64, []byte) error { return nil }
			}
			b.SetBytes(int64(len(readFile(b, dir, entriesName))))
			runs := 0
			start := time.Now()
			for b.Loop() {
				cp, err := Verify(dir, v, fn)
				if err != nil {
					b.Fatal(err)
				}
				if cp.Size != n {
					b.Fatal(cp.Size)
				}
				runs++
			}
			b.ReportMetric(float64(runs*n)/time.Since(start).Seconds(), "entries/s")
		})
	}
}

// BenchmarkOpen opens logs of 100,000 and 1,000,000 200-byte entries and
// reports the heap the open Log holds per entry.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []uint64{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			buildLog(b, dir, n, benchEntry)
			runs := 0
			var heap uint64
			start := time.Now()
			for b.Loop() {
				before := heapInUse()
				l, err := Open(dir, testSigner(b), testOrigin)
				if err != nil {
					b.Fatal(err)
				}
				heap = heapInUse() - before
				require.Equal(b, n, l.Size())
				require.NoError(b, l.Close())
				runs++
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(runs)*float64(n)/elapsed.Seconds(), "entries/s")
			b.ReportMetric(float64(heap)/float64(n), "heap-B/entry")
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkProofs measures proofs in a log of 1,000,000 entries.
func BenchmarkProofs(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	buildLog(b, dir, n, benchEntry)
	l := openTest(b, dir)
	b.Run("inclusion", func(b *testing.B) {
		i := uint64(0)
		for b.Loop() {
			i = (i + 7919) % n
			if _, err := l.InclusionProof(i, n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("consistency", func(b *testing.B) {
		i := uint64(0)
		for b.Loop() {
			i = (i+7919)%(n-1) + 1
			if _, err := l.ConsistencyProof(i, n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerify1M verifies a log of 1,000,000 entries of 300 bytes (about
// 336 MB), without a callback.
func BenchmarkVerify1M(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 336 MB log")
	}
	const n = 1_000_000
	dir := b.TempDir()
	buildLog(b, dir, n, func(i uint64) []byte {
		e := make([]byte, 300)
		for k := 0; k+8 <= len(e); k += 8 {
			binary.BigEndian.PutUint64(e[k:], i*131+uint64(k))
		}
		return e
	})
	v := testVerifier(b)
	b.SetBytes(int64(len(readFile(b, dir, checkpointName))) + n*(300+36) + headerSize)
	runs := 0
	start := time.Now()
	for b.Loop() {
		cp, err := Verify(dir, v, nil)
		if err != nil {
			b.Fatal(err)
		}
		if cp.Size != n {
			b.Fatal(cp.Size)
		}
		runs++
	}
	b.ReportMetric(float64(runs*n)/time.Since(start).Seconds(), "entries/s")
}
