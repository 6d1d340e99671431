package columnar_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/schema"
)

func i64(v int64) *int64 { return &v }

// table is a schema with a column of each type.
var table = &schema.Schema{Columns: []schema.Column{
	{Name: "id", Type: schema.String, MaxLen: 16},
	{Name: "name", Type: schema.String, MaxLen: 64},
	{Name: "n", Type: schema.Int, Min: i64(-1 << 62), Max: i64(1 << 62)},
	{Name: "ok", Type: schema.Bool},
	{Name: "day", Type: schema.Date, Min: i64(-1000), Max: i64(100000)},
}}

// rows returns n rows of table: unique ids, names from a few (some
// empty, some not ASCII), ints of every width.
func rows(n int) *schema.Batch {
	b := schema.NewBatch(table, n)
	names := []string{"", "晨光", "Acme", "绿色能源有限公司", "x"}
	for k := range n {
		b.Cols[0].Strs = append(b.Cols[0].Strs, fmt.Sprintf("ID%06d", k))
		b.Cols[1].Strs = append(b.Cols[1].Strs, names[(k/3)%len(names)])
		b.Cols[2].Ints = append(b.Cols[2].Ints, int64(k*k*k)-(1<<39))
		b.Cols[3].Ints = append(b.Cols[3].Ints, int64(k%2))
		b.Cols[4].Ints = append(b.Cols[4].Ints, int64(k%1000))
	}
	b.Len = n
	return b
}

// slice returns rows [lo, hi) of b.
func slice(b *schema.Batch, lo, hi int) *schema.Batch {
	out := schema.NewBatch(b.Schema, hi-lo)
	for i := range b.Cols {
		if b.Cols[i].Type == schema.String {
			out.Cols[i].Strs = b.Cols[i].Strs[lo:hi]
		} else {
			out.Cols[i].Ints = b.Cols[i].Ints[lo:hi]
		}
	}
	out.Len = hi - lo
	return out
}

// part encodes b, in batches of size rows, as one part of s; with
// endEvery > 0 blocks end at every endEvery rows.
func part(t testing.TB, s *schema.Schema, b *schema.Batch, size, endEvery int) []byte {
	t.Helper()
	var buf bytes.Buffer
	pw, err := columnar.NewPartWriter(&buf, s)
	require.NoError(t, err)
	enc, err := columnar.NewEncoder(s, pw.Add)
	require.NoError(t, err)
	if endEvery > 0 {
		gathered := 0
		enc.EndBlock = func(int) bool {
			gathered += columnar.SplitRows
			return gathered%endEvery == 0
		}
	}
	for lo := 0; lo < b.Len; lo += size {
		require.NoError(t, enc.Write(slice(b, lo, min(lo+size, b.Len))))
	}
	require.NoError(t, enc.Flush())
	require.NoError(t, pw.Close())
	require.EqualValues(t, b.Len, pw.Rows())
	return buf.Bytes()
}

// readPart reads a part of s whole, checking every block, and returns
// the stored file its blocks make.
func readPart(s *schema.Schema, data []byte) ([]byte, int64, error) {
	pr, err := columnar.NewPartReader(bytes.NewReader(data), s)
	if err != nil {
		return nil, 0, err
	}
	var file bytes.Buffer
	fw, err := columnar.NewFileWriter(&file, s)
	if err != nil {
		return nil, 0, err
	}
	for {
		b, err := pr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		if err := fw.Add(b); err != nil {
			return nil, 0, err
		}
	}
	if err := fw.Close(); err != nil {
		return nil, 0, err
	}
	return file.Bytes(), pr.Rows(), nil
}

// storedFile encodes b straight into a stored file.
func storedFile(t testing.TB, s *schema.Schema, b *schema.Batch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := columnar.NewWriter(&buf, s)
	require.NoError(t, err)
	require.NoError(t, w.Write(b))
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// The same rows make the same part whatever batches they come in, and
// the blocks a part's reader checks make the same stored file as
// encoding the rows directly.
func TestPartRoundTrip(t *testing.T) {
	const n = 2*columnar.BlockRows + 77
	b := rows(n)
	want := part(t, table, b, n, 0)
	for _, size := range []int{1, 1000, 4096, columnar.BlockRows + 1} {
		if size == 1 && testing.Short() {
			continue
		}
		require.True(t, bytes.Equal(want, part(t, table, b, size, 0)), "batches of %d rows", size)
	}
	file, got, err := readPart(table, want)
	require.NoError(t, err)
	require.EqualValues(t, n, got)
	require.Equal(t, storedFile(t, table, b), file)

	// Blocks ended early by EndBlock: the same at any batch size.
	early := part(t, table, b, 1000, 640)
	require.Equal(t, early, part(t, table, b, 333, 640))
	require.NotEqual(t, want, early, "blocks end elsewhere")
	_, got, err = readPart(table, early)
	require.NoError(t, err)
	require.EqualValues(t, n, got)

	// An empty part.
	empty := part(t, table, schema.NewBatch(table, 0), 1, 0)
	_, got, err = readPart(table, empty)
	require.NoError(t, err)
	require.Zero(t, got)
}

// Every value the schema refuses is caught, naming the part's row and
// the column; the rows are encoded as a client with a looser schema would.
func TestPartValuesChecked(t *testing.T) {
	const n = 1000
	strict := &schema.Schema{Columns: []schema.Column{
		{Name: "id", Type: schema.String, MaxLen: 8},
		{Name: "name", Type: schema.String, MaxLen: 64},
		{Name: "n", Type: schema.Int, Min: i64(-1 << 40), Max: i64(1 << 40)},
		{Name: "ok", Type: schema.Bool},
		{Name: "day", Type: schema.Date, Min: i64(0), Max: i64(998)},
	}}
	cases := []struct {
		name   string
		change func(b *schema.Batch)
		want   string
	}{
		{"int above its bound", func(b *schema.Batch) { b.Cols[2].Ints[700] = 1<<40 + 1 }, "row 701 of the part, column n: 1099511627777 is outside the declared bounds [-1099511627776, 1099511627776]"},
		{"bool of 2", func(b *schema.Batch) { b.Cols[3].Ints[5] = 2 }, "row 6 of the part, column ok: 2 is not a bool"},
		{"date past its bound", func(b *schema.Batch) {}, "row 1000 of the part, column day: 1972-09-26 is outside the declared bounds [1970-01-01, 1972-09-25]"},
		{"string too long", func(b *schema.Batch) { b.Cols[0].Strs[42] = "ID0000420" }, "row 43 of the part, column id: string of 9 bytes is longer than max_len 8"},
		{"not UTF-8, unique column", func(b *schema.Batch) { b.Cols[0].Strs[9] = "ID\xff" }, "row 10 of the part, column id: string is not valid UTF-8"},
		{"not UTF-8, coded column", func(b *schema.Batch) {
			for k := 900; k < n; k++ {
				b.Cols[1].Strs[k] = "晨\xe6"
			}
		}, "row 901 of the part, column name: string is not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := rows(n)
			for k := range n {
				b.Cols[4].Ints[k] = min(int64(k), 998)
			}
			if c.name == "date past its bound" {
				b.Cols[4].Ints[n-1] = 999
			}
			c.change(b)
			_, _, err := readPart(strict, part(t, table, b, 100, 0))
			var re *columnar.RowError
			require.ErrorAs(t, err, &re)
			require.EqualError(t, err, c.want)
		})
	}
}

// A part whose structure is wrong anywhere is refused with ErrFormat, and
// never read past: cut short at every byte, with a byte more, with codes
// out of order, for another schema.
func TestPartStructureChecked(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "v", Type: schema.String}}}
	b := schema.NewBatch(s, 3)
	b.Cols[0].Strs = []string{"a", "b", "a"}
	b.Len = 3
	good := part(t, s, b, 3, 0)
	_, _, err := readPart(s, good)
	require.NoError(t, err)

	for k := range len(good) {
		_, _, err := readPart(s, good[:k])
		require.ErrorIs(t, err, columnar.ErrFormat, "cut at %d", k)
	}
	_, _, err = readPart(s, append(bytes.Clone(good), 0))
	require.ErrorIs(t, err, columnar.ErrFormat)
	require.ErrorContains(t, err, "data after the part's end")

	// The codes are the three bytes before the end (0, then 3 rows).
	bad := bytes.Clone(good)
	require.Equal(t, []byte{0, 1, 0, 0, 3}, bad[len(bad)-5:])
	bad[len(bad)-5] = 1
	_, _, err = readPart(s, bad)
	require.ErrorContains(t, err, "codes out of order")

	bad = bytes.Clone(good)
	bad[len(bad)-1] = 4
	_, _, err = readPart(s, bad)
	require.ErrorContains(t, err, "the part says 4 rows, its blocks hold 3")

	other := &schema.Schema{Columns: []schema.Column{{Name: "v", Type: schema.Int, Min: i64(0), Max: i64(1)}}}
	_, _, err = readPart(other, good)
	require.ErrorContains(t, err, "its header does not match the dataset's 1 columns")

	_, _, err = readPart(s, []byte(strings.Replace(string(good), "CRPART2", "CRPART9", 1)))
	require.ErrorContains(t, err, "no magic")
}

// A block that claims more bytes of strings than any encoder makes is
// refused before its bytes are read.
func TestPartBlockBounded(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "v", Type: schema.String, MaxLen: 10}}}
	hdr, err := columnar.Header(columnar.PartMagic, s)
	require.NoError(t, err)
	frame := []byte{}
	for _, x := range []uint64{1 << 30, 1, 1, 1 << 28, 0} { // bytes, rows, d, entry bytes, w
		frame = appendUvarint(frame, x)
	}
	_, _, err = readPart(s, append(hdr, frame...))
	require.ErrorIs(t, err, columnar.ErrFormat)
	require.ErrorContains(t, err, "bytes of strings, a block holds at most")
}

// A block that claims hundreds of MiB costs only the memory of the bytes
// that come: a few bytes of input allocate no more than a few MiB.
func TestPartClaimCostsNothing(t *testing.T) {
	s := &schema.Schema{}
	for i := range 4 {
		s.Columns = append(s.Columns, schema.Column{Name: fmt.Sprintf("s%d", i), Type: schema.String, MaxLen: 1 << 28})
	}
	hdr, err := columnar.Header(columnar.PartMagic, s)
	require.NoError(t, err)
	frame := appendUvarint(appendUvarint(nil, 4*(columnar.MaxArena+24)), 1) // bytes, rows
	for range 4 {
		for _, x := range []uint64{1, columnar.MaxArena, 0} { // d, entry bytes, w
			frame = appendUvarint(frame, x)
		}
	}
	data := append(append(hdr, frame...), 0, 0, 0, 0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err = readPart(s, data)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, columnar.ErrFormat)
	require.ErrorContains(t, err, "truncated")
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "bytes allocated")
}

// A stored file's writer refuses what its reader would: an index past
// MaxIndex once its end is added, or more than MaxRows rows.
func TestFileWriterLimits(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "v", Type: schema.String}}}
	fw, err := columnar.NewFileWriter(io.Discard, s)
	require.NoError(t, err)
	err = fw.Add(&columnar.Block{Rows: 1, Entry: make([]byte, columnar.MaxIndex-10)})
	require.ErrorContains(t, err, "an index of more than")
	require.NoError(t, fw.Add(&columnar.Block{Rows: columnar.MaxRows, Entry: make([]byte, 8)}))
	require.ErrorContains(t, fw.Add(&columnar.Block{Rows: 1, Entry: make([]byte, 8)}), "more than 2147483647 rows")
}

func appendUvarint(b []byte, x uint64) []byte {
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

// FuzzPartReader: no input makes the reader panic or accept a block that
// breaks the form: whatever it accepts, re-encoded from its rows, is a
// part it accepts again with the same rows.
func FuzzPartReader(f *testing.F) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "v", Type: schema.String, MaxLen: 8},
		{Name: "n", Type: schema.Int, Min: i64(-5), Max: i64(300)},
		{Name: "ok", Type: schema.Bool},
	}}
	for _, n := range []int{0, 1, 3, 300} {
		b := schema.NewBatch(s, n)
		for k := range n {
			b.Cols[0].Strs = append(b.Cols[0].Strs, fmt.Sprint(k%7))
			b.Cols[1].Ints = append(b.Cols[1].Ints, int64(k-5))
			b.Cols[2].Ints = append(b.Cols[2].Ints, int64(k%2))
		}
		b.Len = n
		f.Add(part(f, s, b, 100, 0))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, n, err := readPart(s, data)
		if err != nil {
			var re *columnar.RowError
			if !errors.Is(err, columnar.ErrFormat) && !errors.As(err, &re) {
				t.Fatalf("an error of neither kind: %v", err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("%d rows", n)
		}
	})
}

// TestDecodeNarrow: every width decodes to lo plus its number, in 64 and
// in 32 bits; a value past 32 bits is reported.
func TestDecodeNarrow(t *testing.T) {
	for _, w := range []int{1, 2, 3, 4, 5, 8} {
		raw := make([]byte, 3*w)
		raw[0], raw[w] = 1, 0xff // 1, 255, 0
		lo := int64(-100)
		out := make([]int64, 3)
		columnar.DecodeNarrow(out, raw, lo, w)
		require.Equal(t, []int64{-99, 155, -100}, out, "width %d", w)
		out32 := make([]int32, 3)
		require.True(t, columnar.DecodeNarrow32(out32, raw, lo, w), "width %d", w)
		require.Equal(t, []int32{-99, 155, -100}, out32, "width %d", w)
		// lo at the edge of 32 bits: 1 + MaxInt32 does not fit.
		require.False(t, columnar.DecodeNarrow32(out32, raw, 1<<31-1, w), "width %d", w)
		require.True(t, columnar.DecodeNarrow32(out32[2:], raw[2*w:], 1<<31-1, w), "width %d", w)
		require.Equal(t, int32(1<<31-1), out32[2])
	}
	// The full width of 4 bytes from 0 passes 32 signed bits.
	require.False(t, columnar.DecodeNarrow32(make([]int32, 1), []byte{0xff, 0xff, 0xff, 0xff}, 0, 4))
	require.True(t, columnar.DecodeNarrow32(make([]int32, 1), []byte{0xff, 0xff, 0xff, 0xff}, -1<<31, 4))
}
