package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/connectors/postgres/pgtest"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/schema"
)

// fromSchema is the table the source benchmarks upload: loans with a
// date, as the PostgreSQL server generates them.
var fromSchema = schema.Schema{Columns: []schema.Column{
	{Name: "loan_id", Type: schema.String, MaxLen: 32},
	{Name: "uscc", Type: schema.String, MaxLen: 18},
	{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
	{Name: "green", Type: schema.Bool},
	{Name: "issued", Type: schema.Date, Min: i64(10957), Max: i64(22645)},
}}

// BenchmarkUploadFrom uploads CLEANROOM_UPLOAD_FROM_ROWS rows (skipped
// when unset; the figure is 5,000,000) sealed to a node in this
// process, from a PostgreSQL table on a throwaway server on this machine
// and from a Parquet file of the same rows, as `dataset upload --from`
// does: read and checked through the connector, encoded in the columnar
// form, sealed in parts, sent, its blocks checked again and stored. It reports rows/s
// and the process's peak resident memory (VmHWM, reset before each
// upload; client and node together; the server is another process).
func BenchmarkUploadFrom(b *testing.B) {
	rows, err := strconv.Atoi(os.Getenv("CLEANROOM_UPLOAD_FROM_ROWS"))
	if err != nil || rows <= 0 {
		b.Skip("set CLEANROOM_UPLOAD_FROM_ROWS, for example to 5000000")
	}
	ctx := context.Background()
	dsn := pgtest.Start(b)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE UNLOGGED TABLE bench_loans AS
SELECT 'L' || lpad(i::text, 9, '0') AS loan_id,
	upper(substr(md5(i::text), 1, 18)) AS uscc,
	(i::bigint * 7919) %% 1000000001 AS amount,
	i %% 4 = 0 AS green,
	DATE '2000-01-01' + (i %% 11000) AS issued
FROM generate_series(1, %d) AS i`, rows))
	require.NoError(b, err)
	_, err = conn.Exec(ctx, "VACUUM ANALYZE bench_loans")
	require.NoError(b, err)

	// The same rows as a Parquet file, written from the table.
	dir := b.TempDir()
	pq := filepath.Join(dir, "loans.parquet")
	src, err := from.Open(ctx, from.Spec{Kind: "postgres", URL: dsn + "&table=bench_loans"}, &fromSchema, from.Options{})
	require.NoError(b, err)
	f, err := os.Create(pq)
	require.NoError(b, err)
	require.NoError(b, parquet.Write(f, &fromSchema, func(yield func(*schema.Batch) bool) {
		for {
			batch, err := src.Next()
			if err != nil {
				return
			}
			if !yield(batch) {
				return
			}
		}
	}, parquet.WriteOptions{})) // Write closes f
	require.NoError(b, src.Close())

	schemas["bench_loans"] = fromSchema
	defer delete(schemas, "bench_loans")
	r := newRoom(b, 1)
	r.registerDataset("bench_loans", "bank", policy.General, 1)
	for _, tc := range []struct {
		name string
		sp   from.Spec
	}{
		{"postgres", from.Spec{Kind: "postgres", URL: dsn + "&table=bench_loans"}},
		{"parquet", from.Spec{Kind: "parquet", Path: pq}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			resetPeak(b)
			var elapsed time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := r.c.UploadFrom(ctx, r.parties["bank"].signer, "bench_loans", &fromSchema, tc.sp, from.Options{}, client.UploadOptions{})
				require.NoError(b, err)
				require.Equal(b, int64(rows), res.Rows)
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-MiB")
		})
	}
}
