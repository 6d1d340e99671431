package parquet_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

// allTypes has a column of every type, with the loosest bounds.
func allTypes() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "s", Type: schema.String, MaxLen: 64},
		{Name: "n", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)},
		{Name: "ok", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
	}}
}

// allTypesRows returns n rows of allTypes with extreme and unicode values
// among ordinary ones, in a deterministic mix.
func allTypesRows(n int) *schema.Batch {
	strs := []string{"", "a", "福建省厦门市绿色能源科技有限公司", "emoji 🌱 and é", "\u0000nul", "tab\tand\nnewline", strings.Repeat("é", 31) + "x"}
	ints := []int64{0, 1, -1, math.MinInt64, math.MaxInt64, math.MinInt32 - 1, math.MaxInt32 + 1, 1e9}
	dates := []int64{schema.MinDate, schema.MaxDate, 0, -1, day("2024-02-29")}
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{
			strs[i%len(strs)] + strconv.Itoa(i%3),
			ints[i%len(ints)] ^ int64(i/len(ints)%2),
			i%3 == 0,
			dates[i%len(dates)],
		}
	}
	return batchOf(allTypes(), rows...)
}

func TestRoundTrip(t *testing.T) {
	s := allTypes()
	require.Len(t, allTypesRows(7).Cols[0].Strs[6], 64) // max_len
	for _, tc := range []struct {
		rows, rowGroup int
		compression    string
	}{
		{0, 0, ""},
		{1, 0, ""},
		{50, 1, "none"},
		{50, 7, "zstd"},
		{20000, 8191, "gzip"},
		{20000, 10000, ""},
		{20000, 0, "SNAPPY"},
	} {
		want := allTypesRows(tc.rows)
		// Written as one batch, and as batches of 333 rows and empty ones.
		var parts []*schema.Batch
		for off := 0; off < want.Len; off += 333 {
			parts = append(parts, slice(want, off, min(off+333, want.Len)), schema.NewBatch(s, 0))
		}
		for k, data := range [][]byte{
			write(t, s, parquet.WriteOptions{RowGroupRows: tc.rowGroup, Compression: tc.compression}, want),
			write(t, s, parquet.WriteOptions{RowGroupRows: tc.rowGroup, Compression: tc.compression}, parts...),
		} {
			for _, size := range []int{0, 1, 3, 8192, 10001} {
				if size == 1 && tc.rows > 1000 {
					continue
				}
				t.Run(fmt.Sprintf("%d rows/row groups of %d/%s/write %d/batch %d", tc.rows, tc.rowGroup, tc.compression, k, size), func(t *testing.T) {
					opts := parquet.Options{File: "all.parquet", BatchSize: size}
					got, err := readBatches(t, data, s, opts)
					require.NoError(t, err)
					require.Equal(t, want.Len, got.Len)
					require.Equal(t, want.Cols, got.Cols)

					got, err = readAll(data, s, opts)
					require.NoError(t, err)
					require.Equal(t, want.Len, got.Len)
					require.Equal(t, want.Cols, got.Cols)
				})
			}
		}
	}
}

// slice returns rows [from, to) of b as a new batch.
func slice(b *schema.Batch, from, to int) *schema.Batch {
	out := schema.NewBatch(b.Schema, to-from)
	for i := range b.Cols {
		if b.Cols[i].Type == schema.String {
			out.Cols[i].Strs = append(out.Cols[i].Strs, b.Cols[i].Strs[from:to]...)
		} else {
			out.Cols[i].Ints = append(out.Cols[i].Ints, b.Cols[i].Ints[from:to]...)
		}
	}
	out.Len = to - from
	return out
}

// TestArrowFiles reads files written by pqarrow from arrow records, not by
// Write: optional columns in another order, ints of every width, strings
// as BYTE_ARRAY with no logical type, large strings and dictionaries.
func TestArrowFiles(t *testing.T) {
	want := batchOf(testSchema(), goodRows(0, 12)...)
	same := func(_, _ int, v any) any { return v }
	conv := func(f func(int32) any) func(int, int, any) any {
		return func(_, _ int, v any) any { return f(v.(int32)) }
	}
	for _, tc := range []struct {
		desc string
		data []byte
	}{
		{"as written", arrowGroups(t, arrowFields[0], same, 3, 4, 5)},
		{"INT(16, signed)", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Int16}, conv(func(v int32) any { return int16(v) }), 12)},
		{"INT(32, unsigned)", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Uint32, Nullable: true}, conv(func(v int32) any { return uint32(v) }), 6, 6)},
		{"INT(16, unsigned)", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Uint16}, conv(func(v int32) any { return uint16(v) }), 12)},
		{"INT64", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Int64}, conv(func(v int32) any { return int64(v) }), 1, 11)},
		{"INT(64, unsigned)", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Uint64}, conv(func(v int32) any { return uint64(v) }), 12)},
		{"BYTE_ARRAY", arrowGroups(t, arrow.Field{Name: "uscc", Type: arrow.BinaryTypes.Binary}, same, 12)},
		{"large strings", arrowGroups(t, arrow.Field{Name: "uscc", Type: arrow.BinaryTypes.LargeString}, same, 12)},
		{"a dictionary", arrowGroups(t, arrow.Field{Name: "loan_id", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}}, same, 5, 7)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			for _, size := range []int{0, 1, 5} {
				got, err := readBatches(t, tc.data, testSchema(), parquet.Options{BatchSize: size})
				require.NoError(t, err)
				require.Equal(t, want.Len, got.Len)
				require.Equal(t, want.Cols, got.Cols)
			}
		})
	}
}

// TestUnsignedLimits checks that values at the limits of the unsigned
// and narrow types read as they are, not as their bits.
func TestUnsignedLimits(t *testing.T) {
	loose := &schema.Schema{Columns: []schema.Column{{Name: "v", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)}}}
	for _, tc := range []struct {
		typ  arrow.DataType
		vals []any
		want []int64
	}{
		{arrow.PrimitiveTypes.Int8, []any{int8(math.MinInt8), int8(math.MaxInt8)}, []int64{math.MinInt8, math.MaxInt8}},
		{arrow.PrimitiveTypes.Int16, []any{int16(math.MinInt16), int16(math.MaxInt16)}, []int64{math.MinInt16, math.MaxInt16}},
		{arrow.PrimitiveTypes.Int32, []any{int32(math.MinInt32), int32(math.MaxInt32)}, []int64{math.MinInt32, math.MaxInt32}},
		{arrow.PrimitiveTypes.Uint8, []any{uint8(0), uint8(math.MaxUint8)}, []int64{0, math.MaxUint8}},
		{arrow.PrimitiveTypes.Uint16, []any{uint16(0), uint16(math.MaxUint16)}, []int64{0, math.MaxUint16}},
		{arrow.PrimitiveTypes.Uint32, []any{uint32(0), uint32(math.MaxUint32)}, []int64{0, math.MaxUint32}},
		{arrow.PrimitiveTypes.Uint64, []any{uint64(0), uint64(math.MaxInt64)}, []int64{0, math.MaxInt64}},
		{arrow.PrimitiveTypes.Int64, []any{int64(math.MinInt64), int64(math.MaxInt64)}, []int64{math.MinInt64, math.MaxInt64}},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			sch := arrow.NewSchema([]arrow.Field{{Name: "v", Type: tc.typ}}, nil)
			data := arrowFile(t, nil, record(sch, row{tc.vals[0]}, row{tc.vals[1]}))
			got, err := readAll(data, loose, parquet.Options{})
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Cols[0].Ints)
		})
	}
}

// TestTruncated cuts a file at every length: every cut is an *Error. At
// every third length (11th with -short), it also puts the footer back, so
// that the file still ends with "PAR1", and loses or adds bytes there
// instead; every such file is an *Error or, when the bytes are in a part
// the reader does not use (the page index), read. None is a panic.
func TestTruncated(t *testing.T) {
	data := write(t, testSchema(), parquet.WriteOptions{RowGroupRows: 3}, batchOf(testSchema(), goodRows(0, 7)...))
	stride := 3
	if testing.Short() {
		stride = 11
	}
	var e *parquet.Error
	for n := range len(data) {
		_, err := readAll(data[:n], testSchema(), parquet.Options{File: "loans.parquet"})
		require.ErrorAs(t, err, &e, "cut at %d", n)
		if n%stride != 0 {
			continue
		}
		for k, cut := range [][]byte{
			append(bytes.Clone(data[:n]), data[max(n, len(data)-8):]...),   // the footer's length and magic
			append(bytes.Clone(data[:n]), data[n+1:]...),                   // one byte lost
			append(bytes.Clone(data[:n]), data[min(n+100, len(data)):]...), // 100 bytes lost
			append(append(bytes.Clone(data[:n]), 0), data[n:]...),          // one byte more
		} {
			_, err := readAll(cut, testSchema(), parquet.Options{File: "loans.parquet"})
			if k == 0 && n < len(data)-8 {
				require.Error(t, err, "cut at %d", n)
			}
			if err != nil {
				require.ErrorAs(t, err, &e, "cut at %d", n)
				require.LessOrEqual(t, len(err.Error()), 512)
			}
			_, err = parquet.Discover(bytes.NewReader(cut), int64(len(cut)), "loans.parquet")
			if err != nil {
				require.ErrorAs(t, err, &e, "cut at %d", n)
			}
		}
	}
}

// failingReaderAt fails every read that reaches past a byte.
type failingReaderAt struct {
	r     io.ReaderAt
	after int64
	err   error
}

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.after {
		return 0, f.err
	}
	return f.r.ReadAt(p, off)
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	data := written(t, goodRows(0, 10)...)
	var e *parquet.Error
	for after := range int64(len(data)) {
		r := failingReaderAt{bytes.NewReader(data), after, boom}
		_, err := parquet.ReadAll(r, int64(len(data)), testSchema(), parquet.Options{File: "loans.parquet"})
		require.ErrorIs(t, err, boom, "after %d", after)
		require.False(t, errors.As(err, &e), "a failed read is not an *Error: %v", err)
		require.EqualError(t, err, "parquet: reading loans.parquet: boom")
	}
}

func TestOptions(t *testing.T) {
	data := written(t, goodRows(0, parquet.DefaultBatchSize+1)...)
	in := bytes.NewReader(data)
	_, err := parquet.NewReader(in, int64(len(data)), testSchema(), parquet.Options{BatchSize: -1})
	require.EqualError(t, err, "parquet: BatchSize is -1, want 0 (the default) or more")

	_, err = parquet.NewReader(in, int64(len(data)), &schema.Schema{}, parquet.Options{})
	require.EqualError(t, err, "parquet: schema: no columns")

	_, err = parquet.NewReader(in, -1, testSchema(), parquet.Options{})
	require.EqualError(t, err, "parquet: size is -1, want 0 or more")

	// File defaults to "input", BatchSize to DefaultBatchSize.
	_, err = parquet.ReadAll(in, 0, testSchema(), parquet.Options{})
	require.EqualError(t, err, "input: not a Parquet file (it is empty)")

	r, err := parquet.NewReader(in, int64(len(data)), testSchema(), parquet.Options{})
	require.NoError(t, err)
	require.Equal(t, int64(parquet.DefaultBatchSize+1), r.TotalRows())
	b, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, parquet.DefaultBatchSize, b.Len)
	b, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, 1, b.Len)
	require.Equal(t, int64(parquet.DefaultBatchSize+1), r.Rows())
	_, err = r.Next()
	require.Equal(t, io.EOF, err)

	// A file with no rows.
	empty := write(t, testSchema(), parquet.WriteOptions{})
	b, err = readAll(empty, testSchema(), parquet.Options{})
	require.NoError(t, err)
	require.Zero(t, b.Len)
}

// TestRowsAfterError checks that Rows counts the good rows before an
// error, those of the batch that the error discarded too.
func TestRowsAfterError(t *testing.T) {
	rows := goodRows(0, 20)
	rows[13] = with(rows[13], 2, int64(-1))
	data := written(t, rows...)
	for _, size := range []int{1, 4, 5, 100} {
		r, err := parquet.NewReader(bytes.NewReader(data), int64(len(data)), testSchema(), parquet.Options{BatchSize: size})
		require.NoError(t, err)
		for err == nil {
			_, err = r.Next()
		}
		require.EqualError(t, err, "input: row group 4, row 2 (row 14 of the file): column amount: -1 is outside the declared bounds [0, 1000000000]")
		require.Equal(t, int64(13), r.Rows())
	}
}

// TestValueErrorWrapped checks that a value that does not fit its column
// is a *schema.ValueError too, and that other errors are not.
func TestValueErrorWrapped(t *testing.T) {
	_, err := readAll(written(t, with(good(0), 2, int64(-1))), testSchema(), parquet.Options{})
	var ve *schema.ValueError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "amount", ve.Column)
	require.Equal(t, "-1 is outside the declared bounds [0, 1000000000]", ve.Reason)

	_, err = readAll(arrowGroups(t, arrowFields[2], at(1, 1, nil), 1), testSchema(), parquet.Options{})
	require.Error(t, err)
	require.False(t, errors.As(err, &ve), "a null is not a ValueError: %v", err)
}

// sizeReaderAt records the largest read.
type sizeReaderAt struct {
	r       io.ReaderAt
	largest int
	total   int64
}

func (s *sizeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.largest = max(s.largest, len(p))
	s.total += int64(len(p))
	return s.r.ReadAt(p, off)
}

// TestBoundedReads checks that a row group is read a page at a time, not
// whole: no read of a file of one large row group is larger than a page
// and a bit.
func TestBoundedReads(t *testing.T) {
	n := 300_000
	b := schema.NewBatch(testSchema(), n)
	for i := range n {
		b.Cols[0].Strs = append(b.Cols[0].Strs, fmt.Sprintf("L%031d", i*7919%1000003))
		b.Cols[1].Strs = append(b.Cols[1].Strs, fmt.Sprintf("%018d", i*104729%1000000007))
		b.Cols[2].Ints = append(b.Cols[2].Ints, int64(i*7)%1e9)
		b.Cols[3].Ints = append(b.Cols[3].Ints, int64(i%2))
		b.Cols[4].Ints = append(b.Cols[4].Ints, day("2020-01-01")+int64(i%3000))
	}
	b.Len = n
	data := write(t, testSchema(), parquet.WriteOptions{Compression: "none"}, b)
	require.Greater(t, len(data), 10<<20)
	sr := &sizeReaderAt{r: bytes.NewReader(data)}
	got, err := parquet.ReadAll(sr, int64(len(data)), testSchema(), parquet.Options{})
	require.NoError(t, err)
	require.Equal(t, b.Cols, got.Cols)
	require.Less(t, sr.largest, 2<<20, "largest read")
	require.Less(t, sr.total, int64(len(data))*11/10, "bytes read in all")
}
