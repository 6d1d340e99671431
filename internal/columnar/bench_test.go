package columnar_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/schema"
)

// meters is the example generator's electricity table: an enterprise's
// 18-character credit code on 12 rows in a row, a month, a reading.
var meters = &schema.Schema{Columns: []schema.Column{
	{Name: "uscc", Type: schema.String, MaxLen: 18},
	{Name: "month", Type: schema.String, MaxLen: 7},
	{Name: "kwh", Type: schema.Int, Min: i64(0), Max: i64(100_000_000)},
}}

// meterBatches returns n rows of meters in batches of 8192, as a
// connector gives them.
func meterBatches(n int) []*schema.Batch {
	var out []*schema.Batch
	for lo := 0; lo < n; lo += 8192 {
		b := schema.NewBatch(meters, 8192)
		for k := lo; k < min(n, lo+8192); k++ {
			b.Cols[0].Strs = append(b.Cols[0].Strs, fmt.Sprintf("91650100MA%08X", k/12*2654435761%(1<<32)))
			b.Cols[1].Strs = append(b.Cols[1].Strs, fmt.Sprintf("2025-%02d", k%12+1))
			b.Cols[2].Ints = append(b.Cols[2].Ints, int64(k*7919%250_000))
			b.Len++
		}
		out = append(out, b)
	}
	return out
}

// BenchmarkEncodePart measures a client's encoding of rows into a part,
// and the node's check of the part, in rows per second.
func BenchmarkEncodePart(b *testing.B) {
	const n = 1 << 20
	batches := meterBatches(n)
	var part bytes.Buffer
	encode := func(b *testing.B) {
		part.Reset()
		pw, _ := columnar.NewPartWriter(&part, meters)
		enc, _ := columnar.NewEncoder(meters, pw.Add)
		enc.EndBlock = func(size int) bool { return part.Len()+size >= 16<<20 }
		for _, bt := range batches {
			if err := enc.Write(bt); err != nil {
				b.Fatal(err)
			}
		}
		enc.Flush()
		pw.Close()
	}
	encode(b)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			encode(b)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(part.Len())/n, "bytes/row")
	})
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			pr, err := columnar.NewPartReader(bytes.NewReader(part.Bytes()), meters)
			if err != nil {
				b.Fatal(err)
			}
			for {
				_, err := pr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
