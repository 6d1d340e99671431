package parquet_test

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

func fuzzSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "name", Type: schema.String, MaxLen: 40},
		{Name: "n", Type: schema.Int, Min: i64(-1000), Max: i64(1000)},
		{Name: "ok", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: i64(day("1970-01-01")), Max: i64(day("2100-12-31"))},
	}}
}

// fuzzSeeds returns small files of fuzzSchema: valid ones written by Write
// and by pqarrow (optional columns in another order, INT32), and ones with
// a null, a value out of bounds or not UTF-8.
func fuzzSeeds(t testing.TB) [][]byte {
	s := fuzzSchema()
	rows := func(n int) []row {
		var rs []row
		for i := range n {
			rs = append(rs, row{"name " + string(rune('a'+i%26)) + "é", int64(i*37%2001 - 1000), i%3 == 0, day("2000-01-01") + int64(i)})
		}
		return rs
	}
	seeds := [][]byte{
		write(t, s, parquet.WriteOptions{Compression: "none"}, batchOf(s, rows(3)...)),
		write(t, s, parquet.WriteOptions{Compression: "none", RowGroupRows: 2}, batchOf(s, rows(5)...)),
		write(t, s, parquet.WriteOptions{Compression: "snappy", RowGroupRows: 4}, batchOf(s, rows(10)...)),
		write(t, s, parquet.WriteOptions{Compression: "zstd"}, batchOf(s, rows(2)...)),
		write(t, s, parquet.WriteOptions{Compression: "gzip"}, batchOf(s, rows(2)...)),
		write(t, s, parquet.WriteOptions{Compression: "none"}),
		write(t, s, parquet.WriteOptions{Compression: "none"}, batchOf(s, with(rows(1)[0], 1, int64(1001)))),
		write(t, s, parquet.WriteOptions{Compression: "none"}, batchOf(s, with(rows(1)[0], 0, "\xff"))),
		write(t, s, parquet.WriteOptions{Compression: "none"}, batchOf(s, rows(300)...)),
	}
	sch := arrow.NewSchema([]arrow.Field{
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	}, nil)
	d := arrow.Date32(day("2020-01-01"))
	seeds = append(seeds,
		arrowFile(t, nil, record(sch, row{d, int32(1), "x", true}, row{d, int32(-1), "y", false}), record(sch, row{d, int32(2), "z", true})),
		arrowFile(t, nil, record(sch, row{d, nil, "x", true})),
	)
	return seeds
}

// FuzzReader checks that the reader never panics; that every error is an
// *Error with a short message; that reading whole, or in batches of any
// size, gives the same rows or the same error; that every value it returns
// fits the schema; that what it returns, written by Write, reads back the
// same; and that Discover describes every file the reader reads. The seeds
// are small files written by Write and pqarrow; testdata/fuzz/FuzzReader
// holds hostile files made by hand (footers whose schema claims 2^31
// children, a dictionary page that claims more values than it holds, the
// DELTA encodings), which the fuzzer did not find but must keep refusing.
func FuzzReader(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		s := fuzzSchema()
		opts := parquet.Options{File: "fuzz.parquet", BatchSize: int(size%8) + 1}
		b, err := readAll(data, s, opts)
		b2, err2 := readBatches(t, data, s, opts)
		ds, derr := parquet.Discover(bytes.NewReader(data), int64(len(data)), "fuzz.parquet")
		if derr != nil {
			var e *parquet.Error
			require.ErrorAs(t, derr, &e)
			require.LessOrEqual(t, len(derr.Error()), 512, "message too long: %s", derr)
		} else {
			require.NoError(t, ds.Validate())
		}
		if err != nil {
			require.Nil(t, b)
			require.Error(t, err2)
			require.Equal(t, err.Error(), err2.Error())
			var e *parquet.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "fuzz.parquet", e.File)
			require.LessOrEqual(t, len(err.Error()), 512, "message too long: %s", err)
			if e.Row > 0 {
				require.Positive(t, e.RowGroup)
				require.GreaterOrEqual(t, e.Ordinal, e.Row)
			}
			return
		}
		require.NoError(t, err2)
		require.Equal(t, b.Len, b2.Len)
		require.Equal(t, b.Cols, b2.Cols)
		require.NoError(t, derr, "Discover refuses a file the reader reads")

		// Every value fits.
		for i, c := range s.Columns {
			require.Equal(t, b.Len, b.Cols[i].Len())
			for k := range b.Len {
				text := ""
				if c.Type == schema.String {
					text = b.Cols[i].Strs[k]
				} else {
					text = schema.FormatValue(c.Type, b.Cols[i].Ints[k])
				}
				v, str, err := c.ParseValue(text)
				require.NoError(t, err, "column %s, row %d", c.Name, k)
				if c.Type == schema.String {
					require.Equal(t, text, str)
				} else {
					require.Equal(t, b.Cols[i].Ints[k], v)
				}
			}
		}

		// What Write writes reads back.
		var out bytes.Buffer
		require.NoError(t, parquet.Write(&out, s, yield(b), parquet.WriteOptions{RowGroupRows: 3}))
		again, err := readAll(out.Bytes(), s, parquet.Options{})
		require.NoError(t, err)
		require.Equal(t, b.Len, again.Len)
		require.Equal(t, b.Cols, again.Cols)
	})
}
