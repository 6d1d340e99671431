package parquet_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

// loansSchema is the bank's loan book of the demo scenario, plus the date
// the loan was opened.
func loansSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "green", Type: schema.Bool},
		{Name: "opened", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
	}}
}

// loans returns n loan rows of loansSchema, deterministically: unique loan
// ids, unified social credit codes of 18 characters drawn from 5000
// borrowers, amounts, one loan in four green.
func loans(n int) *schema.Batch {
	const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	rng := rand.New(rand.NewPCG(1, 2))
	borrowers := make([]string, 5000)
	for i := range borrowers {
		var u [18]byte
		for k := range u {
			u[k] = usccChars[rng.IntN(len(usccChars))]
		}
		borrowers[i] = string(u[:])
	}
	b := schema.NewBatch(loansSchema(), n)
	for i := range n {
		b.Cols[0].Strs = append(b.Cols[0].Strs, "L"+strconv.Itoa(10_000_000+i))
		b.Cols[1].Strs = append(b.Cols[1].Strs, borrowers[rng.IntN(len(borrowers))])
		b.Cols[2].Ints = append(b.Cols[2].Ints, int64(rng.IntN(1e9+1)))
		g := int64(0)
		if rng.IntN(4) == 0 {
			g = 1
		}
		b.Cols[3].Ints = append(b.Cols[3].Ints, g)
		b.Cols[4].Ints = append(b.Cols[4].Ints, day("2000-01-01")+int64(rng.IntN(11000)))
	}
	b.Len = n
	return b
}

// BenchmarkReader measures upload throughput over a file of a million loan
// rows written by Write in one row group, with each codec: decoding,
// checking and converting into batches of the default size. MB/s is of
// the file.
func BenchmarkReader(b *testing.B) {
	const rows = 1_000_000
	s := loansSchema()
	batch := loans(rows)
	for _, codec := range []string{"snappy", "zstd", "none"} {
		b.Run(codec, func(b *testing.B) {
			data := write(b, s, parquet.WriteOptions{Compression: codec}, batch)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := parquet.NewReader(bytes.NewReader(data), int64(len(data)), s, parquet.Options{File: "loans.parquet"})
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if r.Rows() != rows {
					b.Fatalf("read %d rows, want %d", r.Rows(), rows)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(len(data))/rows, "file-bytes/row")
		})
	}
}

// BenchmarkWrite measures Write over the same rows.
func BenchmarkWrite(b *testing.B) {
	const rows = 1_000_000
	s := loansSchema()
	batch := loans(rows)
	b.ReportAllocs()
	for b.Loop() {
		if err := parquet.Write(io.Discard, s, yield(batch), parquet.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
