package postgres

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/schema"
)

// TestDecode checks the decoding of values that a PostgreSQL server does
// not send (text that is not UTF-8 in a UTF-8 session, binary values of
// the wrong length), which a broken server or a proxy could.
func TestDecode(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "id", Type: schema.String},
		{Name: "n", Type: schema.Int, Min: i64(-5), Max: i64(5)},
		{Name: "ok", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: i64(0), Max: i64(100000)},
	}}
	r := &Reader{cur: &cursor{source: "query"}, schema: s, key: 0, arena: new(strings.Builder), fields: []field{
		{name: "id", col: 0, kind: kText},
		{name: "n", col: 1, kind: kInt4, min: -5, max: 5},
		{name: "ok", col: 2, kind: kBool},
		{name: "d", col: 3, kind: kDate, min: 0, max: 100000},
	}}
	b := schema.NewBatch(s, 0)
	good := [][]byte{[]byte("a"), {0xff, 0xff, 0xff, 0xfb}, {2}, {0, 0, 0, 1}}
	require.NoError(t, r.appendRow(b, good))
	require.Equal(t, []int64{-5}, b.Cols[1].Ints)
	require.Equal(t, []int64{1}, b.Cols[2].Ints, "any byte but 0 is true")
	require.Equal(t, []int64{pgEpoch + 1}, b.Cols[3].Ints)

	for _, tc := range []struct {
		vals [][]byte
		err  string
	}{
		{[][]byte{[]byte("a\xff"), good[1], good[2], good[3]}, "postgres query: row 2: column id: string is not valid UTF-8"},
		{[][]byte{[]byte("k"), {1}, good[2], good[3]}, "postgres query: row 2: column n: the server sent a 1-byte value, not a binary int"},
		{[][]byte{[]byte("k"), good[1], {}, good[3]}, "postgres query: row 2: column ok: the server sent a 0-byte value, not a binary bool"},
		{[][]byte{[]byte("k"), good[1], good[2], {1}}, "postgres query: row 2: column d: the server sent a 1-byte value, not a binary date"},
		{[][]byte{[]byte("k"), {0, 0, 0, 6}, good[2], good[3]}, `postgres query: row 2 (id "k"): column n: 6 is outside the declared bounds [-5, 5]`},
		{[][]byte{[]byte("k"), good[1], good[2], {0x7f, 0xff, 0xff, 0xff}}, `postgres query: row 2 (id "k"): column d: infinity is not a date (want a finite one)`},
		{[][]byte{[]byte("k")}, "postgres query: row 2 has 1 values, want 4"},
	} {
		err := r.appendRow(schema.NewBatch(s, 0), tc.vals)
		require.EqualError(t, err, tc.err)
	}
	require.Equal(t, int64(1), r.Rows())

	// A key that is not UTF-8 is shown escaped.
	e := r.rowError([][]byte{[]byte("k\xff"), {0, 0, 0, 6}}, 1, nil, "bad")
	require.EqualError(t, e, `postgres query: row 2 (id "k\xff"): column n: bad`)
}
