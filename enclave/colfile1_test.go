package enclave

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/schema"
)

// colWriter1 is the CRCOLS1 writer as Ingest had it (commit f83cd50),
// kept to make older stored uploads in tests.
type colWriter1 struct {
	w    *bufio.Writer
	s    *schema.Schema
	rows int64
	buf  []byte
}

func newColWriter1(w io.Writer, s *schema.Schema) (*colWriter1, error) {
	cw := &colWriter1{w: bufio.NewWriterSize(w, 1<<20), s: s}
	hdr, err := colHeader(colMagic1, s)
	if err != nil {
		return nil, err
	}
	_, err = cw.w.Write(hdr)
	return cw, err
}

func (cw *colWriter1) write(b *schema.Batch) error {
	for lo := 0; lo < b.Len; lo += colBlockRows {
		hi := min(lo+colBlockRows, b.Len)
		cw.buf = binary.AppendUvarint(cw.buf[:0], uint64(hi-lo))
		for i := range cw.s.Columns {
			v := &b.Cols[i]
			if v.Type != schema.String {
				for _, x := range v.Ints[lo:hi] {
					cw.buf = binary.LittleEndian.AppendUint64(cw.buf, uint64(x))
				}
				continue
			}
			total := 0
			for _, s := range v.Strs[lo:hi] {
				cw.buf = binary.LittleEndian.AppendUint32(cw.buf, uint32(len(s)))
				total += len(s)
			}
			if total > colMaxArena {
				return fmt.Errorf("enclave: column %s: %d bytes of strings in %d rows", cw.s.Columns[i].Name, total, hi-lo)
			}
			for _, s := range v.Strs[lo:hi] {
				cw.buf = append(cw.buf, s...)
			}
		}
		if _, err := cw.w.Write(cw.buf); err != nil {
			return err
		}
		cw.rows += int64(hi - lo)
	}
	return nil
}

func (cw *colWriter1) close() error {
	end := binary.AppendUvarint([]byte{0}, uint64(cw.rows))
	if _, err := cw.w.Write(end); err != nil {
		return err
	}
	return cw.w.Flush()
}

// encodeCols1 writes batches of s (colSchema if nil) as CRCOLS1.
func encodeCols1(t testing.TB, batches ...*schema.Batch) []byte {
	t.Helper()
	return encodeCols1Of(t, colSchema, batches...)
}

func encodeCols1Of(t testing.TB, s *schema.Schema, batches ...*schema.Batch) []byte {
	t.Helper()
	return writeBatches(t, func(w io.Writer) (batchWriter, error) { return newColWriter1(w, s) }, batches...)
}

// fixture1 is what testdata/crcols1.bin holds, in the two batches the
// writer of commit f83cd50 wrote it from (a Go test run in a checkout
// of that commit, with these rows).
func fixture1() (*schema.Batch, *schema.Batch) {
	mk := func(strs []string, n, b, d []int64) *schema.Batch {
		bt := schema.NewBatch(colSchema, len(strs))
		bt.Cols[0].Strs = strs
		bt.Cols[1].Ints, bt.Cols[2].Ints, bt.Cols[3].Ints = n, b, d
		bt.Len = len(strs)
		return bt
	}
	return mk([]string{"91650100MA00000001", "", "统一社会信用代码", "91650100MA00000001", "x"},
			[]int64{0, -1, 1 << 62, -(1 << 62), 42}, []int64{1, 0, 1, 1, 0}, []int64{0, -100000, 100000, 19000, -1}),
		mk([]string{"x", "y,z"}, []int64{7, 8}, []int64{0, 1}, []int64{20000, 20001})
}

// TestColumns1Fixture: a CRCOLS1 file written by the older Ingest still
// reads, to its rows, each string its own dictionary entry; the writer
// kept for tests writes it byte for byte.
func TestColumns1Fixture(t *testing.T) {
	data, err := os.ReadFile("testdata/crcols1.bin")
	require.NoError(t, err)
	a, b := fixture1()
	require.Equal(t, data, encodeCols1(t, a, b))
	require.Equal(t, colMagic1, colFormat(data))

	cb := newColBlocks(colSchema)
	require.NoError(t, readColumns1(bytes.NewReader(data), colSchema, cb))
	want := schema.NewBatch(colSchema, 0)
	want.Append(a)
	want.Append(b)
	c := cb.columns()
	requireSameRows(t, want, c.batch)
	require.Equal(t, 7, c.batch.Cols[0].Dict.Len())

	// After a CRCOLS2 file, into the same columns.
	require.NoError(t, readCols(encodeCols(t, b), colSchema, cb, 1))
	require.NoError(t, readColumns1(bytes.NewReader(data), colSchema, cb))
	want.Append(b)
	want.Append(a)
	want.Append(b)
	requireSameRows(t, want, cb.columns().batch)
}

func TestColumns1Errors(t *testing.T) {
	good := encodeCols1(t, colBatch(10))
	other := &schema.Schema{Columns: []schema.Column{{Name: "x", Type: schema.Int}}}
	for _, tc := range []struct {
		desc string
		data []byte
		s    *schema.Schema
		want string
	}{
		{"no magic", []byte("a,b\n1,2\n"), colSchema, "no magic"},
		{"another schema", good, other, "4 columns, the schema has 1"},
		{"truncated", good[:len(good)-30], colSchema, "truncated column"},
		{"no end", good[:len(good)-2], colSchema, "truncated block header"},
		{"trailing data", append(bytes.Clone(good), 'x'), colSchema, "data after the end"},
		{"wrong total", append(bytes.Clone(good[:len(good)-1]), 11), colSchema, "the file says 11 rows, its blocks hold 10"},
		{"huge block", append([]byte(colMagic1+"\x04sibd"), 0xff, 0xff, 0x7f), colSchema, "a block of 2097151 rows"},
		{"overflowing uvarint", append([]byte(colMagic1+"\x04sibd"), bytes.Repeat([]byte{0xff}, 11)...), colSchema, "overflows"},
	} {
		err := readColumns1(bytes.NewReader(tc.data), tc.s, newColBlocks(tc.s))
		require.ErrorIs(t, err, errColFormat, tc.desc)
		require.ErrorContains(t, err, tc.want, tc.desc)
	}
	for n := range len(good) {
		require.ErrorIs(t, readColumns1(bytes.NewReader(good[:n]), colSchema, newColBlocks(colSchema)), errColFormat, "cut at %d", n)
	}
}
