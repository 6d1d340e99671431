package parquet_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

func i64(v int64) *int64 { return &v }

func day(s string) int64 {
	d, ok := schema.ParseDate(s)
	if !ok {
		panic("bad date " + s)
	}
	return d
}

// testSchema is the loan book of the benchmark, smaller.
func testSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "green", Type: schema.Bool},
		{Name: "opened", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
	}}
}

// row is one row of values: string, int64 (int and date) or bool.
type row []any

// batchOf returns the rows as one batch of s.
func batchOf(s *schema.Schema, rows ...row) *schema.Batch {
	b := schema.NewBatch(s, len(rows))
	for _, r := range rows {
		for i, v := range r {
			switch v := v.(type) {
			case string:
				b.Cols[i].Strs = append(b.Cols[i].Strs, v)
			case int64:
				b.Cols[i].Ints = append(b.Cols[i].Ints, v)
			case int:
				b.Cols[i].Ints = append(b.Cols[i].Ints, int64(v))
			case bool:
				x := int64(0)
				if v {
					x = 1
				}
				b.Cols[i].Ints = append(b.Cols[i].Ints, x)
			default:
				panic(v)
			}
		}
		b.Len++
	}
	return b
}

// yield returns the batches as a sequence for Write.
func yield(bs ...*schema.Batch) func(func(*schema.Batch) bool) {
	return func(y func(*schema.Batch) bool) {
		for _, b := range bs {
			if !y(b) {
				return
			}
		}
	}
}

// write returns the batches of s written by Write.
func write(t testing.TB, s *schema.Schema, opts parquet.WriteOptions, bs ...*schema.Batch) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, parquet.Write(&buf, s, yield(bs...), opts))
	return buf.Bytes()
}

// readBatches reads data with NewReader and Next and returns the rows as
// one batch, checking that no batch is larger than opts.BatchSize, that
// Rows keeps count, and that Next repeats io.EOF and errors.
func readBatches(t testing.TB, data []byte, s *schema.Schema, opts parquet.Options) (*schema.Batch, error) {
	t.Helper()
	r, err := parquet.NewReader(bytes.NewReader(data), int64(len(data)), s, opts)
	if err != nil {
		return nil, err
	}
	size := opts.BatchSize
	if size == 0 {
		size = parquet.DefaultBatchSize
	}
	all := schema.NewBatch(s, 0)
	for {
		b, err := r.Next()
		if err == io.EOF {
			require.Equal(t, int64(all.Len), r.Rows())
			_, err = r.Next()
			require.Equal(t, io.EOF, err, "Next after io.EOF")
			return all, nil
		}
		if err != nil {
			require.Nil(t, b)
			// Rows counts the good rows of the batch that failed.
			require.GreaterOrEqual(t, r.Rows(), int64(all.Len))
			require.Less(t, r.Rows(), int64(all.Len+size))
			_, again := r.Next()
			require.Equal(t, err, again, "Next after an error")
			return nil, err
		}
		require.Positive(t, b.Len)
		require.LessOrEqual(t, b.Len, size)
		for i := range b.Cols {
			require.Equal(t, b.Len, b.Cols[i].Len())
		}
		all.Append(b)
	}
}

// readAll reads data with ReadAll.
func readAll(data []byte, s *schema.Schema, opts parquet.Options) (*schema.Batch, error) {
	return parquet.ReadAll(bytes.NewReader(data), int64(len(data)), s, opts)
}

// arrowFile returns the records written by pqarrow, one row group each,
// uncompressed unless props say otherwise.
func arrowFile(t testing.TB, props *pq.WriterProperties, recs ...arrow.RecordBatch) []byte {
	t.Helper()
	if props == nil {
		props = pq.NewWriterProperties()
	}
	var buf bytes.Buffer
	fw, err := pqarrow.NewFileWriter(recs[0].Schema(), &buf, props, pqarrow.DefaultWriterProps())
	require.NoError(t, err)
	for _, rec := range recs {
		require.NoError(t, fw.Write(rec))
		rec.Release()
	}
	require.NoError(t, fw.Close())
	return buf.Bytes()
}

// record builds an arrow record of sch from rows whose values are nil
// (null) or of the Go type of the field's builder: int8 to int64, uint8
// to uint64, string, bool, float64, arrow.Date32, arrow.Timestamp, or
// []int32 for a list of int32.
func record(sch *arrow.Schema, rows ...row) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
	defer b.Release()
	for _, r := range rows {
		for i, v := range r {
			fb := b.Field(i)
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int8Builder:
				fb.Append(v.(int8))
			case *array.Int16Builder:
				fb.Append(v.(int16))
			case *array.Int32Builder:
				fb.Append(v.(int32))
			case *array.Int64Builder:
				fb.Append(v.(int64))
			case *array.Uint8Builder:
				fb.Append(v.(uint8))
			case *array.Uint16Builder:
				fb.Append(v.(uint16))
			case *array.Uint32Builder:
				fb.Append(v.(uint32))
			case *array.Uint64Builder:
				fb.Append(v.(uint64))
			case *array.StringBuilder:
				fb.Append(v.(string))
			case *array.LargeStringBuilder:
				fb.Append(v.(string))
			case *array.BinaryBuilder:
				fb.Append([]byte(v.(string)))
			case *array.BinaryDictionaryBuilder:
				if err := fb.AppendString(v.(string)); err != nil {
					panic(err)
				}
			case *array.BooleanBuilder:
				fb.Append(v.(bool))
			case *array.Date32Builder:
				fb.Append(v.(arrow.Date32))
			case *array.TimestampBuilder:
				fb.Append(v.(arrow.Timestamp))
			case *array.FixedSizeBinaryBuilder:
				fb.Append([]byte(v.(string)))
			case *array.Float64Builder:
				fb.Append(v.(float64))
			case *array.ListBuilder:
				fb.Append(true)
				for _, x := range v.([]int32) {
					fb.ValueBuilder().(*array.Int32Builder).Append(x)
				}
			default:
				panic(fb)
			}
		}
	}
	return b.NewRecordBatch()
}
