package enclave

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

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
	var buf bytes.Buffer
	w, err := newColWriter(&buf, colSchema)
	require.NoError(t, err)
	for _, b := range batches {
		require.NoError(t, w.write(b))
	}
	require.NoError(t, w.close())
	return buf.Bytes()
}

// TestColumnsRoundTrip writes batches (over several blocks) and reads the
// same rows back; wiping zeroes them.
func TestColumnsRoundTrip(t *testing.T) {
	a, b := colBatch(colBlockRows+5), colBatch(3)
	data := encodeCols(t, a, schema.NewBatch(colSchema, 0), b)
	require.True(t, isColFile(data))
	cb := newColBlocks(colSchema)
	require.NoError(t, readColumns(bytes.NewReader(data), colSchema, cb))
	c := cb.columns()
	want := schema.NewBatch(colSchema, 0)
	want.Append(a)
	want.Append(b)
	require.Equal(t, want.Len, c.batch.Len)
	for i := range want.Cols {
		require.Equal(t, want.Cols[i].Ints, c.batch.Cols[i].Ints)
		require.Equal(t, want.Cols[i].Strs, c.batch.Cols[i].Strs)
	}
	// A second file after the first.
	require.NoError(t, readColumns(bytes.NewReader(encodeCols(t, b)), colSchema, cb))
	c = cb.columns()
	require.Equal(t, want.Len+3, c.batch.Len)
	require.Equal(t, b.Cols[1].Ints, c.batch.Cols[1].Ints[want.Len:])

	c.wipe()
	for _, s := range c.batch.Cols[0].Strs {
		require.Equal(t, strings.Repeat("\x00", len(s)), s, "wiped in place")
	}
	for _, x := range c.batch.Cols[1].Ints {
		require.Zero(t, x)
	}
}

func TestColumnsErrors(t *testing.T) {
	good := encodeCols(t, colBatch(10))
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
		{"huge block", append([]byte(colMagic+"\x04sibd"), 0xff, 0xff, 0x7f), colSchema, "a block of 2097151 rows"},
	} {
		err := readColumns(bytes.NewReader(tc.data), tc.s, newColBlocks(tc.s))
		require.ErrorIs(t, err, errColFormat, tc.desc)
		require.ErrorContains(t, err, tc.want, tc.desc)
	}
}

// FuzzReadColumns: any input is read or refused with errColFormat, never
// a panic, and what reads encodes back to the same bytes.
func FuzzReadColumns(f *testing.F) {
	f.Add(encodeCols(f, colBatch(3)))
	f.Add(encodeCols(f))
	f.Add([]byte(colMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		cb := newColBlocks(colSchema)
		err := readColumns(bytes.NewReader(data), colSchema, cb)
		if err != nil {
			if !errors.Is(err, errColFormat) {
				t.Fatalf("error %v is not errColFormat", err)
			}
			return
		}
		c := cb.columns()
		var buf bytes.Buffer
		w, err := newColWriter(&buf, colSchema)
		require.NoError(t, err)
		require.NoError(t, w.write(c.batch))
		require.NoError(t, w.close())
		cb2 := newColBlocks(colSchema)
		require.NoError(t, readColumns(bytes.NewReader(buf.Bytes()), colSchema, cb2))
		c2 := cb2.columns()
		require.Equal(t, c.batch.Len, c2.batch.Len)
		for i := range c.batch.Cols {
			require.Equal(t, c.batch.Cols[i].Ints, c2.batch.Cols[i].Ints)
			require.Equal(t, c.batch.Cols[i].Strs, c2.batch.Cols[i].Strs)
		}
	})
}
