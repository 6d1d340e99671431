package connectors_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/schema"
)

func i64(v int64) *int64 { return &v }

var mixed = &schema.Schema{Columns: []schema.Column{
	{Name: "s", Type: schema.String},
	{Name: "n", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)},
	{Name: "b", Type: schema.Bool},
	{Name: "d", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
}}

func batchOf(s *schema.Schema, strs []string, ints ...[]int64) *schema.Batch {
	b := schema.NewBatch(s, len(strs))
	b.Cols[0].Strs = strs
	for i, v := range ints {
		b.Cols[i+1].Ints = v
	}
	b.Len = len(strs)
	return b
}

func render(t testing.TB, s *schema.Schema, bs ...*schema.Batch) (string, error) {
	var out bytes.Buffer
	w, err := connectors.NewCSVWriter(&out, s)
	require.NoError(t, err)
	for _, b := range bs {
		if err := w.Write(b); err != nil {
			return out.String(), err
		}
	}
	require.NoError(t, w.Flush())
	return out.String(), nil
}

func TestCSVWriter(t *testing.T) {
	strs := []string{"plain", "", "a,b", `say "hi"`, "two\nlines", " lead", "\ttab", `\.`, "乌鲁木齐"}
	n := []int64{0, -1, math.MinInt64, math.MaxInt64, 42, 7, 8, 9, 10}
	bl := []int64{1, 0, 1, 0, 1, 0, 1, 0, 1}
	d := []int64{0, schema.MinDate, schema.MaxDate, 20000, 1, 2, 3, 4, 5}
	b := batchOf(mixed, strs, n, bl, d)
	got, err := render(t, mixed, b)
	require.NoError(t, err)
	require.Equal(t, `s,n,b,d
plain,0,true,1970-01-01
"",-1,false,0000-01-01
"a,b",-9223372036854775808,true,9999-12-31
"say ""hi""",9223372036854775807,false,2024-10-04
"two
lines",42,true,1970-01-02
" lead",7,false,1970-01-03
"	tab",8,true,1970-01-04
"\.",9,false,1970-01-05
乌鲁木齐,10,true,1970-01-06
`, got)

	// What it writes, the csv connector reads back as the same rows.
	back, err := csv.ReadAll(strings.NewReader(got), mixed, csv.Options{})
	require.NoError(t, err)
	require.Equal(t, b.Cols, back.Cols)
}

func TestCSVWriterRefusesCarriageReturn(t *testing.T) {
	b := batchOf(mixed, []string{"ok", "a\rb"}, []int64{1, 2}, []int64{0, 1}, []int64{0, 0})
	got, err := render(t, mixed, b)
	require.EqualError(t, err, "row 2: column s holds a carriage return, which the sealed CSV form cannot carry")
	require.NotContains(t, got, "a\rb")
}

// An empty string in a one-column schema is a line of its own, not a blank
// line a reader would skip.
func TestCSVWriterEmptyOnlyColumn(t *testing.T) {
	one := &schema.Schema{Columns: []schema.Column{{Name: "s", Type: schema.String}}}
	b := batchOf(one, []string{"", "x", ""})
	got, err := render(t, one, b)
	require.NoError(t, err)
	back, err := csv.ReadAll(strings.NewReader(got), one, csv.Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"", "x", ""}, back.Cols[0].Strs)
}

func FuzzCSVWriter(f *testing.F) {
	f.Add("a", "b", int64(1))
	f.Add("", "\"", int64(-5))
	f.Add(" x,", "\n\n", int64(math.MaxInt64))
	two := &schema.Schema{Columns: []schema.Column{
		{Name: "x", Type: schema.String, MaxLen: 1 << 16},
		{Name: "y", Type: schema.String, MaxLen: 1 << 16},
		{Name: "n", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)},
	}}
	f.Fuzz(func(t *testing.T, x, y string, n int64) {
		b := schema.NewBatch(two, 1)
		b.Cols[0].Strs, b.Cols[1].Strs, b.Cols[2].Ints, b.Len = []string{x}, []string{y}, []int64{n}, 1
		got, err := render(t, two, b)
		if strings.ContainsRune(x+y, '\r') {
			if err == nil {
				t.Fatal("a carriage return was written")
			}
			return
		}
		require.NoError(t, err)
		back, err := csv.ReadAll(strings.NewReader(got), two, csv.Options{})
		if err != nil {
			// Only what the schema refuses: invalid UTF-8.
			require.ErrorContains(t, err, "not valid UTF-8")
			return
		}
		require.Equal(t, b.Cols, back.Cols)
	})
}

func TestClamper(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "a", Type: schema.Int, Min: i64(0), Max: i64(100)},
		{Name: "s", Type: schema.String},
		{Name: "d", Type: schema.Date, Min: i64(100), Max: i64(200)},
	}}
	loose := connectors.Loosen(s)
	require.Equal(t, int64(0), *s.Columns[0].Min, "Loosen changed its argument")
	// The loose schema reads what the declared one refuses.
	in := "a,s,d\n-5,x,1970-01-01\n50,y,1970-06-01\n1000,z,1970-12-31\n"
	_, err := csv.ReadAll(strings.NewReader(in), s, csv.Options{File: "t.csv"})
	require.EqualError(t, err, "t.csv:2:1: column a: -5 is outside the declared bounds [0, 100]")
	b, err := csv.ReadAll(strings.NewReader(in), loose, csv.Options{File: "t.csv"})
	require.NoError(t, err)

	c := connectors.NewClamper(s)
	c.Clamp(b)
	require.Equal(t, []int64{0, 50, 100}, b.Cols[0].Ints)
	require.Equal(t, []int64{100, 151, 200}, b.Cols[2].Ints)
	require.Equal(t, map[string]int64{"a": 2, "d": 2}, c.Clamped())
	require.Equal(t, int64(4), c.Total())
}
