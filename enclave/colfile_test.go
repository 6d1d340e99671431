package enclave

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/schema"
)

var colSchema = &schema.Schema{Columns: []schema.Column{
	{Name: "s", Type: schema.String, MaxLen: 64},
	{Name: "n", Type: schema.Int, Min: i64(-1 << 62), Max: i64(1 << 62)},
	{Name: "b", Type: schema.Bool},
	{Name: "d", Type: schema.Date, Min: i64(-100000), Max: i64(100000)},
}}

func colBatch(n int) *schema.Batch {
	b := schema.NewBatch(colSchema, n)
	for i := range n {
		s := strings.Repeat("字", i%5)
		if i%7 == 0 {
			s = ""
		}
		b.Cols[0].Strs = append(b.Cols[0].Strs, s)
		b.Cols[1].Ints = append(b.Cols[1].Ints, int64(i*i)-(1<<40))
		b.Cols[2].Ints = append(b.Cols[2].Ints, int64(i%2))
		b.Cols[3].Ints = append(b.Cols[3].Ints, int64(i-50000))
	}
	b.Len = n
	return b
}

func encodeCols(t testing.TB, batches ...*schema.Batch) []byte {
	t.Helper()
	return encodeColsOf(t, colSchema, batches...)
}

func encodeColsOf(t testing.TB, s *schema.Schema, batches ...*schema.Batch) []byte {
	t.Helper()
	return writeBatches(t, func(w io.Writer) (batchWriter, error) { return newColWriter(w, s) }, batches...)
}

// batchWriter writes batches in a column file form (CRCOLS2, or the
// CRCOLS1 writer kept in colfile1_test.go).
type batchWriter interface {
	write(*schema.Batch) error
	close() error
}

// writeBatches writes batches with the writer newWriter makes and returns
// the file.
func writeBatches(t testing.TB, newWriter func(io.Writer) (batchWriter, error), batches ...*schema.Batch) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newWriter(&buf)
	require.NoError(t, err)
	for _, b := range batches {
		require.NoError(t, w.write(b))
	}
	require.NoError(t, w.close())
	return buf.Bytes()
}

// readCols reads a CRCOLS2 file of s into cb with up to workers workers,
// planned from the file, as Store.load plans, when cb is empty.
func readCols(data []byte, s *schema.Schema, cb *colBlocks, workers int) error {
	f, err := openColFile(bytes.NewReader(data), int64(len(data)), s)
	if err != nil {
		return err
	}
	if cb.rows == 0 {
		var t colTotals
		t.add(f)
		cb.plan(t)
		cb.grow(t)
	}
	return f.read(cb, workers)
}

// plainBatch returns b with its string columns plain, to compare.
func plainBatch(b *schema.Batch) *schema.Batch {
	out := schema.NewBatch(b.Schema, b.Len)
	out.Append(b)
	return out
}

func requireSameRows(t *testing.T, want, got *schema.Batch) {
	t.Helper()
	want, got = plainBatch(want), plainBatch(got)
	require.Equal(t, want.Len, got.Len)
	for i := range want.Cols {
		require.Equal(t, want.Cols[i].Ints, got.Cols[i].Ints, "column %d", i)
		require.Equal(t, want.Cols[i].Strs, got.Cols[i].Strs, "column %d", i)
	}
}

// TestColumnsRoundTrip writes batches (over several blocks) and reads the
// same rows back, with one worker and several; a second file appends
// after the first; wiping zeroes values, dictionaries and codes.
func TestColumnsRoundTrip(t *testing.T) {
	a, b := colBatch(2*colBlockRows+5), colBatch(3)
	data := encodeCols(t, a, schema.NewBatch(colSchema, 0), b)
	require.True(t, isColFile(data))
	want := schema.NewBatch(colSchema, 0)
	want.Append(a)
	want.Append(b)

	defer func(m int64) { colMinParallel = m }(colMinParallel)
	colMinParallel = 1
	for _, workers := range []int{1, 2, 3} {
		cb := newColBlocks(colSchema)
		require.NoError(t, readCols(data, colSchema, cb, workers))
		requireSameRows(t, want, cb.columns().batch)
	}

	cb := newColBlocks(colSchema)
	require.NoError(t, readCols(data, colSchema, cb, 2))
	require.NoError(t, readCols(encodeCols(t, b), colSchema, cb, 2))
	c := cb.columns()
	want.Append(b)
	requireSameRows(t, want, c.batch)
	// Each block's dictionary holds the 5 distinct strings it uses.
	// Each block's dictionary holds the distinct strings it uses: 5 in
	// each of the first file's 3 blocks, 3 in the second file's.
	require.Equal(t, 3*5+3, c.batch.Cols[0].Dict.Len())

	c.wipe()
	requireWiped(t, c.batch)
}

// requireWiped checks that every value, dictionary and code of b is zero.
func requireWiped(t *testing.T, b *schema.Batch) {
	t.Helper()
	for i := range b.Cols {
		v := &b.Cols[i]
		require.True(t, allZero(v.Ints) && allZero(v.Int32s) && allZero(v.Codes), "column %d", i)
		if v.Dict != nil {
			require.True(t, allZero(v.Dict.Bytes) && allZero(v.Dict.Offs), "column %d", i)
		}
	}
}

func allZero[T comparable](xs []T) bool {
	var zero T
	for _, x := range xs {
		if x != zero {
			return false
		}
	}
	return true
}

// TestColumnsEncoding pins how values are laid out: one dictionary entry
// per distinct string of a block, codes in 1 or 2 bytes or none, ints in
// the fewest bytes that hold the block's range, a block ending at
// colBlockBytes of strings.
func TestColumnsEncoding(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "s", Type: schema.String},
		{Name: "n", Type: schema.Int},
	}}
	mk := func(n int, str func(int) string, num func(int) int64) *schema.Batch {
		b := schema.NewBatch(s, n)
		for r := range n {
			b.Cols[0].Strs = append(b.Cols[0].Strs, str(r))
			b.Cols[1].Ints = append(b.Cols[1].Ints, num(r))
		}
		b.Len = n
		return b
	}
	for _, tc := range []struct {
		desc   string
		b      *schema.Batch
		blocks int
		size   int // bytes of the blocks
	}{
		{"constant, one width", mk(1000, func(int) string { return "x" }, func(int) int64 { return 7 }),
			1, 1 + 1 + 1 + 1000 + 9 + 1000},
		{"256 values, 1-byte codes, 2-byte ints", mk(1000, func(r int) string { return fmt.Sprintf("%03d", r%256) }, func(r int) int64 { return int64(r) }),
			1, 2 + 1 + 256*3 + 1000 + 9 + 2*1000},
		{"257 values, 2-byte codes", mk(1000, func(r int) string { return fmt.Sprintf("%03d", r%257) }, func(int) int64 { return -1 }),
			1, 2 + 1 + 257*3 + 2*1000 + 9 + 1000},
		{"distinct, codes omitted, lengths, 8-byte ints", mk(300, func(r int) string { return fmt.Sprint(r) }, func(r int) int64 { return int64(r) << 54 }),
			1, 2 + 1 + 300*4 + 10 + 2*90 + 3*200 + 9 + 8*300},
		{"extremes, 8-byte ints", mk(2, func(int) string { return "" }, func(r int) int64 { return []int64{math.MaxInt64, math.MinInt64}[r] }),
			1, 1 + 1 + 4 + 0 + 2 + 9 + 16},
		{"5-byte ints", mk(2, func(int) string { return "" }, func(r int) int64 { return int64(r) << 32 }),
			1, 1 + 1 + 4 + 0 + 2 + 9 + 10},
		{"full blocks", mk(2*colBlockRows+1, func(int) string { return "" }, func(int) int64 { return 0 }),
			3, 0},
		{"long strings end a block early", mk(5000, func(r int) string { return fmt.Sprintf("%04d", r) + strings.Repeat("z", 4096) }, func(int) int64 { return 0 }),
			2, 0},
	} {
		data := encodeColsOf(t, s, tc.b)
		f, err := openColFile(bytes.NewReader(data), int64(len(data)), s)
		require.NoError(t, err, tc.desc)
		require.Len(t, f.blocks, tc.blocks, tc.desc)
		if tc.size > 0 {
			require.EqualValues(t, tc.size, f.blocks[0].bytes, tc.desc)
		}
		cb := newColBlocks(s)
		require.NoError(t, f.read(cb, 2), tc.desc)
		requireSameRows(t, tc.b, cb.columns().batch)
	}
}

// colSchemaIS is a small schema for hand-made files: an int and a string.
var colSchemaIS = &schema.Schema{Columns: []schema.Column{
	{Name: "n", Type: schema.Int},
	{Name: "s", Type: schema.String},
}}

// rawBlock is a hand-made block: its bytes and its index entry.
type rawBlock struct {
	data          []byte
	rows          uint64
	ents, strs, w uint64 // the string column's entries, bytes and w
}

// assemble lays out a CRCOLS2 file of colSchemaIS from hand-made blocks,
// with total as its count of rows.
func assemble(blocks []rawBlock, total uint64) []byte {
	out := append([]byte(colMagic), 2, 'i', 's')
	for _, b := range blocks {
		out = append(out, b.data...)
	}
	indexOff := len(out)
	out = binary.AppendUvarint(out, uint64(len(blocks)))
	for _, b := range blocks {
		for _, x := range []uint64{uint64(len(b.data)), b.rows, b.ents, b.strs, b.w} {
			out = binary.AppendUvarint(out, x)
		}
	}
	out = binary.AppendUvarint(out, total)
	return binary.LittleEndian.AppendUint64(out, uint64(indexOff))
}

// block2 is a good two-row block of colSchemaIS: ints 5 and 6, strings
// "ab" twice (1 entry, its length, 1-byte codes).
func block2() rawBlock {
	data := append(binary.LittleEndian.AppendUint64(nil, 5), 1, 0, 1)
	data = append(data, 1, 0, 2, 0, 0, 0, 'a', 'b', 0, 0)
	return rawBlock{data: data, rows: 2, ents: 1, strs: 2}
}

// block2w is block2 with its entry's width instead of its length.
func block2w() rawBlock {
	data := append(binary.LittleEndian.AppendUint64(nil, 5), 1, 0, 1)
	data = append(data, 1, 3, 'a', 'b', 0, 0)
	return rawBlock{data: data, rows: 2, ents: 1, strs: 2, w: 3}
}

// sparseFile is a file of size bytes that holds head at its start and
// tail at its end, and zeros between: a large file that costs no memory.
type sparseFile struct {
	head, tail []byte
	size       int64
}

func (f *sparseFile) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		o := off + int64(i)
		switch {
		case o >= f.size:
			return i, io.EOF
		case o < int64(len(f.head)):
			p[i] = f.head[o]
		case o >= f.size-int64(len(f.tail)):
			p[i] = f.tail[o-(f.size-int64(len(f.tail)))]
		default:
			p[i] = 0
		}
	}
	return len(p), nil
}

func TestColumnsErrors(t *testing.T) {
	good := encodeCols(t, colBatch(10))
	other := &schema.Schema{Columns: []schema.Column{{Name: "x", Type: schema.Int}}}
	retype := &schema.Schema{Columns: []schema.Column{colSchema.Columns[1], colSchema.Columns[0], colSchema.Columns[2], colSchema.Columns[3]}}
	b := block2()
	with := func(f func(b *rawBlock)) []rawBlock {
		b := block2()
		f(&b)
		return []rawBlock{b}
	}
	for _, tc := range []struct {
		desc string
		data []byte
		s    *schema.Schema
		want string
	}{
		{"no magic", []byte("a,b\n1,2\nxxxxxxxxxxxxxxxxxxxxxx"), colSchema, "no magic"},
		{"short", []byte(colMagic), colSchema, "too short"},
		{"another schema", good, other, "4 columns, the schema has 1"},
		{"another type", good, retype, "column 0 (n) is not of the schema's type int"},
		{"truncated", good[:len(good)-30], colSchema, "an index at"},
		{"trailing data", append(bytes.Clone(good), 'x'), colSchema, "an index at"},
		{"good by hand", assemble([]rawBlock{b, b}, 4), colSchemaIS, ""},
		{"good by hand, one width", assemble([]rawBlock{block2w(), b, block2w()}, 6), colSchemaIS, ""},
		{"w disagrees", assemble(with(func(b *rawBlock) { b.w = 3 }), 2), colSchemaIS, "w 0, the index says 3"},
		{"width 0", assemble(with(func(b *rawBlock) { b.w = 1 }), 2), colSchemaIS, "1 entries of 2 bytes, each of 0"},
		{"width times entries is not the bytes", func() []byte {
			w := block2w()
			w.w = 4
			return assemble([]rawBlock{w}, 2)
		}(), colSchemaIS, "1 entries of 2 bytes, each of 3"},
		{"wrong total", assemble([]rawBlock{b}, 3), colSchemaIS, "the file says 3 rows, its blocks hold 2"},
		{"no rows", assemble(with(func(b *rawBlock) { b.rows = 0 }), 0), colSchemaIS, "block 0: 0 rows"},
		{"too many rows", assemble(with(func(b *rawBlock) { b.rows = colBlockRows + 1 }), colBlockRows+1), colSchemaIS, "block 0: 65537 rows"},
		{"too few bytes for its rows", assemble(with(func(b *rawBlock) { b.rows = 20 }), 20), colSchemaIS, "block 0: 21 bytes for 20 rows"},
		{"more entries than rows", assemble(with(func(b *rawBlock) { b.ents = 3 }), 2), colSchemaIS, "3 entries of 2 bytes for 2 rows"},
		{"no entries", assemble(with(func(b *rawBlock) { b.ents = 0 }), 2), colSchemaIS, "0 entries of 2 bytes for 2 rows"},
		{"entries bytes disagree", assemble(with(func(b *rawBlock) { b.strs = 3 }), 2), colSchemaIS, "entries of 2 bytes, the index says 3"},
		{"entries count disagrees", assemble(with(func(b *rawBlock) { b.data[11] = 2 }), 2), colSchemaIS, "2 entries, the index says 1"},
		{"int width 0", assemble(with(func(b *rawBlock) { b.data[8] = 0 }), 2), colSchemaIS, "width 0"},
		{"int width 9", assemble(with(func(b *rawBlock) { b.data[8] = 9 }), 2), colSchemaIS, "width 9"},
		{"code skips ahead", assemble(with(func(b *rawBlock) { b.data[len(b.data)-2] = 1 }), 2), colSchemaIS, "codes out of order"},
		{"entry unused", assemble(with(func(b *rawBlock) {
			b.data = append(binary.LittleEndian.AppendUint64(nil, 5), 1, 0, 1, 2)
			b.data = append(b.data, 2, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 'b', 0, 0, 0)
			b.rows, b.ents = 3, 2
		}), 3), colSchemaIS, "not using all 2 entries"},
		{"block longer than its bytes", assemble(with(func(b *rawBlock) { b.data = append(b.data, 0) }), 2), colSchemaIS, "ends at 32, the index says 33"},
		{"block past the index", assemble([]rawBlock{b}, 2)[:len(assemble([]rawBlock{b}, 2))-1], colSchemaIS, "an index at"},
		{"index of too many blocks", func() []byte {
			d := assemble([]rawBlock{b}, 2)
			d[len(colMagic)+3+len(b.data)] = 0x7f
			return d
		}(), colSchemaIS, "an index of 127 blocks"},
		{"bytes after the index", func() []byte {
			d := assemble([]rawBlock{b}, 2)
			return append(append(d[:len(d)-8:len(d)-8], 0), d[len(d)-8:]...)
		}(), colSchemaIS, "1 bytes after the index"},
		{"truncated index", func() []byte {
			d := assemble([]rawBlock{b}, 2)
			return append(d[:len(d)-10:len(d)-10], d[len(d)-8:]...)
		}(), colSchemaIS, "truncated index"},
	} {
		cb := newColBlocks(tc.s)
		err := readCols(tc.data, tc.s, cb, 2)
		if tc.want == "" {
			require.NoError(t, err, tc.desc)
			continue
		}
		require.ErrorIs(t, err, errColFormat, tc.desc)
		require.ErrorContains(t, err, tc.want, tc.desc)
	}

	// Every cut of a good file is refused, none panics.
	for n := range len(good) {
		require.ErrorIs(t, readCols(good[:n], colSchema, newColBlocks(colSchema), 2), errColFormat, "cut at %d", n)
	}
}

// TestColumnsLimits: an index larger than colMaxIndex, or one that adds up
// to more rows than a table holds, is refused before any block is read.
func TestColumnsLimits(t *testing.T) {
	hdr := []byte(colMagic + "\x02is")
	huge := &sparseFile{head: hdr, tail: binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), size: colMaxIndex + 100}
	_, err := openColFile(huge, huge.size, colSchemaIS)
	require.ErrorIs(t, err, errColFormat)
	require.ErrorContains(t, err, "an index at 11 in")

	// 32,769 full blocks of 65,536 rows: one row past maxRows.
	const blocks = maxRows/colBlockRows + 1
	per := uint64(2 * (9 + colBlockRows + 1))
	var index []byte
	index = binary.AppendUvarint(index, blocks)
	for range blocks {
		for _, x := range []uint64{per, colBlockRows, 1, 0, 0} {
			index = binary.AppendUvarint(index, x)
		}
	}
	index = binary.AppendUvarint(index, blocks*colBlockRows)
	indexOff := uint64(len(hdr)) + blocks*per
	tail := binary.LittleEndian.AppendUint64(index, indexOff)
	big := &sparseFile{head: hdr, tail: tail, size: int64(indexOff) + int64(len(tail))}
	_, err = openColFile(big, big.size, colSchemaIS)
	require.ErrorIs(t, err, errColFormat)
	require.ErrorContains(t, err, fmt.Sprintf("more than %d rows", maxRows))

	// Rows past maxRows across files are refused as they are added.
	cb := newColBlocks(colSchemaIS)
	cb.rows = maxRows - 1
	require.ErrorIs(t, readCols(assemble([]rawBlock{block2()}, 2), colSchemaIS, cb, 1), errColFormat)
}

// readAny reads a file of either version into cb.
func readAny(data []byte, s *schema.Schema, cb *colBlocks) error {
	if colFormat(data) == colMagic1 {
		return readColumns1(bytes.NewReader(data), s, cb)
	}
	return readCols(data, s, cb, 2)
}

// FuzzReadColumns: any input, in either version, is read or refused with
// errColFormat, never a panic; what reads encodes (as CRCOLS2) back to
// the same rows.
func FuzzReadColumns(f *testing.F) {
	f.Add(encodeCols(f, colBatch(3)))
	f.Add(encodeCols(f, colBatch(300)))
	f.Add(encodeCols(f))
	f.Add(encodeCols1(f, colBatch(3)))
	f.Add([]byte(colMagic))
	f.Add([]byte(colMagic1))
	f.Fuzz(func(t *testing.T, data []byte) {
		cb := newColBlocks(colSchema)
		if err := readAny(data, colSchema, cb); err != nil {
			if !errors.Is(err, errColFormat) {
				t.Fatalf("error %v is not errColFormat", err)
			}
			return
		}
		c := cb.columns()
		cb2 := newColBlocks(colSchema)
		require.NoError(t, readCols(encodeCols(t, plainBatch(c.batch)), colSchema, cb2, 2))
		requireSameRows(t, c.batch, cb2.columns().batch)
		if colFormat(data) != colMagic {
			return
		}
		// Each column alone reads to the same values, the others passed
		// over.
		for i := range colSchema.Columns {
			need := make([]bool, len(colSchema.Columns))
			need[i] = true
			one := newColBlocksOf(colSchema, need)
			require.NoError(t, readCols(data, colSchema, one, 2))
			got := one.columns().batch
			require.Equal(t, c.batch.Len, got.Len)
			for r := range got.Len {
				if colSchema.Columns[i].Type == schema.String {
					require.Equal(t, c.batch.Cols[i].Str(r), got.Cols[i].Str(r))
				} else {
					require.Equal(t, c.batch.Cols[i].Int(r), got.Cols[i].Int(r))
				}
			}
		}
	})
}

// encodePart encodes batches of s as a columnar part, as a client sends.
func encodePart(t testing.TB, s *schema.Schema, batches ...*schema.Batch) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, columnar.EncodePart(&buf, s, batches...))
	return buf.Bytes()
}

// FuzzIngestPart: a part is refused, or its blocks, kept as they are,
// make a stored file that loads, with as many rows: no part a client can
// send makes a stored upload that cannot be read.
func FuzzIngestPart(f *testing.F) {
	f.Add(encodePart(f, colSchema, colBatch(3)))
	f.Add(encodePart(f, colSchema, colBatch(300)))
	f.Add(encodePart(f, colSchema))
	f.Fuzz(func(t *testing.T, data []byte) {
		var file bytes.Buffer
		rows, err := ingestPart(bytes.NewReader(data), colSchema, &file)
		if err != nil {
			return
		}
		cb := newColBlocks(colSchema)
		require.NoError(t, readCols(file.Bytes(), colSchema, cb, 2))
		require.EqualValues(t, rows, cb.columns().batch.Len)
	})
}

// TestColumnsPlan: a string column whose entries are all of one width
// keeps no offsets, one whose blocks hold distinct values no codes; files
// that break the plan, planned for or met later, read to the same rows.
func TestColumnsPlan(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "id", Type: schema.String},
		{Name: "k", Type: schema.String},
		{Name: "v", Type: schema.String},
	}}
	mk := func(n int, id func(int) string) *schema.Batch {
		b := schema.NewBatch(s, n)
		for r := range n {
			b.Cols[0].Strs = append(b.Cols[0].Strs, id(r))
			b.Cols[1].Strs = append(b.Cols[1].Strs, fmt.Sprintf("k%02d", r%7))
			b.Cols[2].Strs = append(b.Cols[2].Strs, strings.Repeat("v", r%3))
		}
		b.Len = n
		return b
	}
	a := mk(colBlockRows+10, func(r int) string { return fmt.Sprintf("A%07d", r) })
	b := mk(20, func(r int) string { return fmt.Sprintf("B%d", r%4) }) // other widths, repeats
	fa, fb := encodeColsOf(t, s, a), encodeColsOf(t, s, b)
	want := schema.NewBatch(s, 0)
	want.Append(a)
	want.Append(b)

	// Planned from the first file: no offsets for id and k, no codes for
	// id; the second file breaks both for id, and they are written out.
	cb := newColBlocks(s)
	require.NoError(t, readCols(fa, s, cb, 2))
	c := cb.columns().batch.Cols
	require.True(t, c[0].Dict.Offs == nil && c[0].Dict.Width == 8 && c[0].Codes == nil, "id")
	require.True(t, c[1].Dict.Offs == nil && c[1].Dict.Width == 3 && c[1].Codes != nil, "k")
	require.True(t, c[2].Dict.Offs != nil && c[2].Codes != nil, "v")
	requireSameRows(t, a, cb.columns().batch)
	require.NoError(t, readCols(fb, s, cb, 2))
	c = cb.columns().batch.Cols
	require.True(t, c[0].Dict.Offs != nil && c[0].Codes != nil, "id, after the second file")
	require.True(t, c[1].Dict.Offs == nil, "k keeps its width")
	requireSameRows(t, want, cb.columns().batch)

	// Planned from both files, as Store.load plans.
	cb = newColBlocks(s)
	var tot colTotals
	var files []*colFile
	for _, data := range [][]byte{fa, fb} {
		f, err := openColFile(bytes.NewReader(data), int64(len(data)), s)
		require.NoError(t, err)
		tot.add(f)
		files = append(files, f)
	}
	cb.plan(tot)
	cb.grow(tot)
	c = cb.columns().batch.Cols
	require.True(t, c[0].Dict.Offs != nil && c[0].Codes != nil && c[1].Dict.Offs == nil, "planned")
	for _, f := range files {
		require.NoError(t, f.read(cb, 2))
	}
	requireSameRows(t, want, cb.columns().batch)

	// An older form after a planned file writes them out too.
	cb = newColBlocks(s)
	require.NoError(t, readCols(fa, s, cb, 1))
	require.NoError(t, readColumns1(bytes.NewReader(encodeCols1Of(t, s, b)), s, cb))
	requireSameRows(t, want, cb.columns().batch)
	cb.wipe()
	requireWiped(t, cb.columns().batch)
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// TestSectionSkip: passing over bytes does not read the whole chunks
// among them, and reading goes on at the right byte.
func TestSectionSkip(t *testing.T) {
	data := make([]byte, 40*ageChunk)
	for i := range data {
		data[i] = byte(i / ageChunk)
	}
	ra := &countingReaderAt{r: bytes.NewReader(data)}
	r := newSectionReader(ra, 10, int64(len(data)), int64(len(data)))
	var b [1]byte
	require.NoError(t, r.full(b[:]))
	require.NoError(t, r.skip(30*ageChunk))
	require.NoError(t, r.full(b[:]))
	require.Equal(t, byte(30), b[0])
	require.EqualValues(t, 30*ageChunk+12, r.offset())
	require.Less(t, ra.n, int64(len(data))-10*ageChunk, "the chunks passed over are not read")
	require.ErrorIs(t, r.skip(20*ageChunk), errColFormat)
}

// TestNarrowInts: int columns whose declared bounds fit in 32 bits, bools
// and dates load into Int32s, in half the memory, to the same values; a
// stored value past 32 bits in such a column (one outside the declared
// bounds) is refused, in every stored form, naming the column.
func TestNarrowInts(t *testing.T) {
	wide := &schema.Schema{Columns: []schema.Column{{Name: "s", Type: schema.String}, {Name: "n", Type: schema.Int}}}
	narrow := &schema.Schema{Columns: []schema.Column{{Name: "s", Type: schema.String}, {Name: "n", Type: schema.Int, Min: i64(math.MinInt32), Max: i64(math.MaxInt32)}}}
	require.False(t, narrow32(wide.Columns[1]))
	require.True(t, narrow32(narrow.Columns[1]))
	require.False(t, narrow32(schema.Column{Type: schema.Int, Min: i64(0), Max: i64(math.MaxInt32 + 1)}))
	require.True(t, narrow32(schema.Column{Type: schema.Bool}))
	require.True(t, narrow32(schema.Column{Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)}))
	// A date without bounds, or with bounds past 32 bits, may hold any
	// int64 in a columnar upload: it loads as it is.
	require.False(t, narrow32(schema.Column{Type: schema.Date}))
	require.False(t, narrow32(schema.Column{Type: schema.Date, Min: i64(-1 << 40), Max: i64(1 << 40)}))

	b := schema.NewBatch(wide, 0)
	for r := range 2*colBlockRows + 3 {
		b.Cols[0].Strs = append(b.Cols[0].Strs, "x")
		b.Cols[1].Ints = append(b.Cols[1].Ints, int64(r%5000)*int64(r%3-1)*400_000) // up to ±2·10⁹
	}
	b.Len = 2*colBlockRows + 3
	data := encodeColsOf(t, wide, b)
	cbWide, cbNarrow := newColBlocks(wide), newColBlocks(narrow)
	require.NoError(t, readCols(data, wide, cbWide, 2))
	require.NoError(t, readCols(data, narrow, cbNarrow, 2))
	w, n := cbWide.columns(), cbNarrow.columns()
	require.Nil(t, w.batch.Cols[1].Int32s)
	require.Nil(t, n.batch.Cols[1].Ints)
	require.Equal(t, b.Cols[1].Ints, plainBatch(n.batch).Cols[1].Ints)
	require.Equal(t, w.size()-4*int64(b.Len), n.size())
	// Coded alike (a range too wide for direct codes: a dictionary).
	wc, err := buildCodes(context.Background(), &Table{Name: "t", Schema: wide, Rows: w.batch}, 1)
	require.NoError(t, err)
	nc, err := buildCodes(context.Background(), &Table{Name: "t", Schema: narrow, Rows: n.batch}, 1)
	require.NoError(t, err)
	require.False(t, nc.direct)
	require.Equal(t, wc.n, nc.n)
	require.Equal(t, wc.ints, nc.ints)
	require.Equal(t, wc.byInt, nc.byInt)
	require.Equal(t, wc.rows, nc.rows)

	// Past 32 bits.
	over := schema.NewBatch(wide, 0)
	over.Cols[0].Strs = []string{"a", "b"}
	over.Cols[1].Ints = []int64{5, math.MaxInt32 + 1}
	over.Len = 2
	for form, data := range map[string][]byte{"columnar": encodeColsOf(t, wide, over), "columnar, first form": encodeCols1Of(t, wide, over)} {
		err := readAny(data, narrow, newColBlocks(narrow))
		require.ErrorIs(t, err, errColFormat, form)
		require.ErrorContains(t, err, "column n", form)
	}
	err = newColBlocks(narrow).add(over)
	require.ErrorIs(t, err, errColFormat)
	require.ErrorContains(t, err, "column n: value 2147483648 is outside its declared bounds")
}
