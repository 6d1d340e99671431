package parquet_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

// failingWriter fails once it has written n bytes.
type failingWriter struct {
	n   int
	err error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, f.err
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	s := testSchema()
	ok := batchOf(s, good(1))
	write := func(b *schema.Batch, opts parquet.WriteOptions) error {
		return parquet.Write(new(bytes.Buffer), s, yield(ok, b), opts)
	}
	require.EqualError(t, write(ok, parquet.WriteOptions{RowGroupRows: -1}), "parquet: RowGroupRows is -1, want 0 (the default) or more")
	require.EqualError(t, write(ok, parquet.WriteOptions{Compression: "lzo"}), `parquet: unknown Compression "lzo" (want snappy, zstd, gzip or none)`)
	require.EqualError(t, parquet.Write(new(bytes.Buffer), &schema.Schema{}, yield(), parquet.WriteOptions{}), "parquet: schema: no columns")

	require.EqualError(t, write(nil, parquet.WriteOptions{}), "parquet: batch does not match the schema: batch 2: nil batch")
	other := allTypesRows(1)
	require.EqualError(t, write(other, parquet.WriteOptions{}), "parquet: batch does not match the schema: batch 2: 4 columns, want 5")
	short := batchOf(s, good(1))
	short.Cols[2].Ints = nil
	require.EqualError(t, write(short, parquet.WriteOptions{}), "parquet: batch does not match the schema: batch 2: column amount: 0 values in a batch of 1 rows")
	retyped := batchOf(s, good(1))
	retyped.Cols[3].Type = schema.Int
	require.EqualError(t, write(retyped, parquet.WriteOptions{}), `parquet: batch does not match the schema: batch 2: column green: type "int", want "bool"`)
	far := batchOf(s, with(good(1), 4, int64(1)<<31))
	err := write(far, parquet.WriteOptions{})
	require.EqualError(t, err, "parquet: batch does not match the schema: batch 2: column opened: date 2147483648 does not fit an INT32")

	boom := errors.New("boom")
	for _, n := range []int{0, 3, 100, 1000} {
		err := parquet.Write(&failingWriter{n: n, err: boom}, s, yield(batchOf(s, goodRows(0, 100)...)), parquet.WriteOptions{})
		require.ErrorIs(t, err, boom, "after %d bytes", n)
	}
}

// TestWriteStops checks that Write stops asking for batches after an error.
func TestWriteStops(t *testing.T) {
	s := testSchema()
	asked := 0
	err := parquet.Write(new(bytes.Buffer), s, func(yield func(*schema.Batch) bool) {
		for range 5 {
			asked++
			if !yield(nil) {
				return
			}
		}
	}, parquet.WriteOptions{})
	require.Error(t, err)
	require.Equal(t, 1, asked)
}
