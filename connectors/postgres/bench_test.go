package postgres_test

import (
	"context"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/postgres"
	"github.com/xjdata/cleanroom/schema"
)

// benchRows is the size of the benchmark's loan book.
const benchRows = 5_000_000

// benchLoans makes, once per server, a table of benchRows loans generated
// by the server: loan_id text, uscc text of 18 characters, amount bigint,
// green boolean, issued date.
var benchLoans = `
CREATE UNLOGGED TABLE IF NOT EXISTS bench_loans AS
SELECT 'L' || lpad(i::text, 8, '0') AS loan_id,
	upper(substr(md5(i::text), 1, 18)) AS uscc,
	(i::bigint * 7919) % 1000000001 AS amount,
	i % 4 = 0 AS green,
	DATE '2000-01-01' + (i % 11000) AS issued
FROM generate_series(1, ` + strconv.Itoa(benchRows) + `) AS i`

// BenchmarkReader reads 5 million loans in batches of the default size,
// checked and converted, from a server on the same machine (which shares
// its CPUs). It reports rows/s, and the peak growth of the Go heap in use
// (sampled after every batch) and of the process's resident set (VmHWM)
// while reading; the batches are dropped as they come, as a caller that
// streams them would.
func BenchmarkReader(b *testing.B) {
	conn := connect(b)
	ctx := context.Background()
	_, err := conn.Exec(ctx, benchLoans)
	require.NoError(b, err)
	_, err = conn.Exec(ctx, "VACUUM ANALYZE bench_loans")
	require.NoError(b, err)
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "green", Type: schema.Bool},
		{Name: "issued", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
	}}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap0, peak := ms.HeapInuse, ms.HeapInuse
	rss0 := vmHWM(b)
	var elapsed time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		r, err := postgres.NewReader(ctx, conn, postgres.Source{Table: "bench_loans"}, s, postgres.Options{})
		require.NoError(b, err)
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			require.NoError(b, err)
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		require.Equal(b, int64(benchRows), r.Rows())
		require.NoError(b, r.Close())
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(peak-heap0)/(1<<20), "peak-heap-MiB")
	if rss0 > 0 {
		b.ReportMetric(float64(vmHWM(b)-rss0)/(1<<10), "peak-rss-growth-MiB")
	}
}

// vmHWM returns the process's peak resident set size in KiB, or 0 where
// /proc/self/status does not tell it.
func vmHWM(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(b, err)
			return n
		}
	}
	return 0
}
