package csv_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/schema"
)

// plainSchema has a column of each type, in the order of names.
func plainSchema(names ...string) *schema.Schema {
	cols := map[string]schema.Column{
		"s": {Name: "s", Type: schema.String, MaxLen: 12},
		"n": {Name: "n", Type: schema.Int, Min: i64(-5000), Max: i64(1e15)},
		"b": {Name: "b", Type: schema.Bool},
		"d": {Name: "d", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
	}
	s := &schema.Schema{}
	for _, n := range names {
		s.Columns = append(s.Columns, cols[n])
	}
	return s
}

// plainValue returns a valid value of column name, mostly short, some
// not ASCII.
func plainValue(rng *rand.Rand, name string) string {
	switch name {
	case "s":
		return []string{"a", "", "uscc91350100", "福建", "x y", "ab\tc", "7"}[rng.IntN(7)]
	case "n":
		return strconv.Itoa(rng.IntN(200_000) - 5000)
	case "b":
		return strconv.FormatBool(rng.IntN(2) == 0)
	}
	return schema.FormatDate(day("2000-01-01") + int64(rng.IntN(11000)))
}

// TestPlainLines checks that the lines the reader converts straight from
// its buffer (appendLine) give the same rows, or the same error, as
// encoding/csv with ParseValue, and as the fast path's records converted
// one field at a time: over inputs of several buffers, each with one odd
// value or line placed before, at or after a buffer's end, in a column
// of each type and place, with options chosen at random.
func TestPlainLines(t *testing.T) {
	// Each turns a row's fields (or, with field -1, its line) into
	// something less common.
	odd := []struct {
		field string // the column it changes, or "" for the line
		text  string
	}{
		{"s", "\xff"}, {"s", "ab\xe4\xb8"}, {"s", "é\xe9"}, {"s", "\xed\xa0\x80"}, {"s", "福建省厦门"},
		{"s", "123456789012"}, {"s", "1234567890123"}, {"s", "NULL"}, {"s", `\N`}, {"s", "a\rb"},
		{"s", "福建省厦"}, {"s", "福建省厦门"}, {"s", "a\x00b"},
		{"n", "+5"}, {"n", "007"}, {"n", "-0"}, {"n", "-"}, {"n", ""}, {"n", " 5"}, {"n", "5 "},
		{"n", "1e3"}, {"n", "-5001"}, {"n", "-5000"}, {"n", "1000000000000000"}, {"n", "1000000000000001"},
		{"n", "000000000000000001"}, {"n", "0000000000000000001"}, {"n", "99999999999999999999"},
		{"n", "-1"}, {"n", "\xff"}, {"n", "5\r"}, {"n", "１"},
		{"b", "TRUE"}, {"b", ""}, {"b", "true "}, {"b", "false"}, {"b", "NULL"},
		{"d", "2020-1-1"}, {"d", "2020-02-30"}, {"d", "2020-02-29"}, {"d", "1999-12-31"},
		{"d", "2031-01-01"}, {"d", "2030-12-31"}, {"d", "20200101"}, {"d", "+020-01-01"},
		{"", ""}, {"", "\r"}, {"", ","}, {"", "x,"}, {"", "\"a,b\""}, {"", "a\"b"},
		{"", "\"x\ny\""}, {"", "\"open"}, {"", "\r\r"},
	}
	orders := [][]string{{"s", "n", "b", "d"}, {"d", "b", "n", "s"}, {"n", "s", "d", "b"}, {"b", "d", "s", "n"}, {"s"}, {"n"}}
	rng := rand.New(rand.NewPCG(5, 6))
	for o, order := range orders {
		s := plainSchema(order...)
		for k, x := range odd {
			if x.field != "" && !strings.Contains(strings.Join(order, ""), x.field) {
				continue
			}
			crlf := rng.IntN(2) == 0
			nl := "\n"
			if crlf {
				nl = "\r\n"
			}
			var buf bytes.Buffer
			buf.WriteString(strings.Join(order, ",") + nl)
			// Rows up to past the first buffer, then the odd one,
			// then more.
			at := 64<<10 - 200 + rng.IntN(400)
			done := false
			for buf.Len() < at+2000 {
				if !done && buf.Len() >= at {
					done = true
					if x.field == "" {
						buf.WriteString(x.text + nl)
						continue
					}
					for i, name := range order {
						if i > 0 {
							buf.WriteByte(',')
						}
						if name == x.field {
							buf.WriteString(x.text)
						} else {
							buf.WriteString(plainValue(rng, name))
						}
					}
					buf.WriteString(nl)
					continue
				}
				for i, name := range order {
					if i > 0 {
						buf.WriteByte(',')
					}
					buf.WriteString(plainValue(rng, name))
				}
				buf.WriteString(nl)
			}
			data := buf.Bytes()
			if k%3 == 0 {
				data = bytes.TrimSuffix(data, []byte(nl)) // no line end at EOF
			}
			options := []csv.Options{
				{File: "p.csv"},
				{File: "p.csv", BatchSize: 1 + rng.IntN(5000), Nulls: []string{"NULL", `\N`, "-1"}},
				{File: "p.csv", Comma: ';'},
				{File: "p.csv", NoQuotes: true},
			}
			for _, opts := range []csv.Options{options[0], options[1+rng.IntN(3)]} {
				in := data
				if opts.Comma == ';' {
					in = bytes.ReplaceAll(data, []byte(","), []byte(";"))
				}
				desc := fmt.Sprintf("%d/%q:%q crlf=%v %+v", o, x.field, x.text, crlf, opts)
				got, err := csv.ReadAll(bytes.NewReader(in), s, opts)
				want, wantErr := csv.ReadAllRecords(bytes.NewReader(in), s, opts)
				if wantErr != nil {
					require.Error(t, err, desc)
					require.Equal(t, wantErr.Error(), err.Error(), desc)
					require.Equal(t, wantErr, err, desc)
				} else {
					require.NoError(t, err, desc)
					require.Equal(t, want, got, desc)
				}
				if opts.NoQuotes || opts.Comma != 0 || opts.Nulls != nil {
					continue // ReadAllRecords is the reference
				}
				requireAsSlow(t, in, s, opts, got, err, desc)
			}
		}
	}
}

// TestInvalidUTF8Chunk checks that a value not valid UTF-8 among many
// valid lines, which the reader checks together, is reported as a value
// checked alone is: file, line, column and field.
func TestInvalidUTF8Chunk(t *testing.T) {
	s := electricitySchema()
	var buf bytes.Buffer
	buf.WriteString("uscc,month,kwh\n")
	for i := range 1000 {
		fmt.Fprintf(&buf, "91350100M%09d,2025-%02d,%d\n", i, i%12+1, i*7)
	}
	good := buf.String()
	for _, tc := range []struct {
		line string
		err  string
	}{
		{"91350100M00000\xff042,2025-03,1", "e.csv:1002:1: column uscc: string is not valid UTF-8"},
		{"91350100M000000042,2025-\xe4\xb8,1", "e.csv:1002:2: column month: string is not valid UTF-8"},
		{"91350100M000000042,2025-03,1\xff", `e.csv:1002:3: column kwh: "1\xff" is not an integer`},
		{"91350100M00000\xff042,2025-03,x", "e.csv:1002:1: column uscc: string is not valid UTF-8"},
		{"91350100M00000042,2025-03\xff,1", "e.csv:1002:2: column month: string of 8 bytes is longer than max_len 7"},
		{"91350100M000000042,2025-\xff,1,2", "e.csv:1002: wrong number of fields: got 4, want 3"},
		{"\"91350100M000000042\",\"2025-\xff\",1", "e.csv:1002:2: column month: string is not valid UTF-8"},
	} {
		for _, tail := range []string{"", "\n91350100M000000043,2025-04,2\n"} {
			in := good + tc.line + tail
			for _, opts := range []csv.Options{{File: "e.csv", BatchSize: 8192}, {File: "e.csv", BatchSize: 7}} {
				_, err := csv.ReadAll(strings.NewReader(in), s, opts)
				require.EqualError(t, err, tc.err)
				var e *csv.Error
				require.ErrorAs(t, err, &e)
				require.Equal(t, 1002, e.Line)
				_, err = readBatches(t, strings.NewReader(in), s, opts)
				require.EqualError(t, err, tc.err)
			}
		}
	}
	// A valid line after the same bytes in a quoted field, which is read
	// apart from the lines around it.
	b, err := csv.ReadAll(strings.NewReader(good+"\"福建\",2025-01,5\nA\xe5\x8e\xa6,2025-02,6\n"), s, csv.Options{})
	require.NoError(t, err)
	require.Equal(t, 1002, b.Len)
	require.Equal(t, []string{"福建", "A厦"}, b.Cols[0].Strs[1000:])
}

// TestPlainLineEnds checks line ends and blank lines around lines the
// reader converts from its buffer, with one column and with several.
func TestPlainLineEnds(t *testing.T) {
	one := plainSchema("s")
	b, err := csv.ReadAll(strings.NewReader("s\r\na\r\n\r\n\n\rb\r\r\nc\rd\n\r"), one, csv.Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "\rb\r", "c\rd"}, b.Cols[0].Strs)

	ints := plainSchema("n")
	b, err = csv.ReadAll(strings.NewReader("n\n1\r\n\r\n2\n\n-3\r"), ints, csv.Options{})
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2, -3}, b.Cols[0].Ints)
	_, err = csv.ReadAll(strings.NewReader("n\n1\r\n2\r\r\n"), ints, csv.Options{File: "n.csv"})
	require.EqualError(t, err, `n.csv:3:1: column n: "2\r" is not an integer`)
}

// TestPlainDelimiters checks lines converted from the buffer against the
// records converted a field at a time, and encoding/csv, with delimiters
// that can be part of a value, such as '-' in a negative number or a
// date.
func TestPlainDelimiters(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	tokens := []string{"-12", "-", "12", "007", "-0", "2020-01-02", "2020", "01", "true", "false", "x", "", "福", "+3", ".5", "1:2", "a b", "2/3", "-2020-01-02"}
	orders := [][]string{{"s", "n", "d", "b"}, {"n", "d"}, {"d", "n"}, {"b", "s", "n"}, {"n"}}
	for _, comma := range []byte{'-', '.', ' ', ':', '+', '/', '|', '\t', ';', ','} {
		for range 300 {
			order := orders[rng.IntN(len(orders))]
			s := plainSchema(order...)
			sep := string(comma)
			in := strings.Join(order, sep) + "\n"
			for range 1 + rng.IntN(3) {
				var fields []string
				for range len(order) - 1 + rng.IntN(3) {
					fields = append(fields, tokens[rng.IntN(len(tokens))])
				}
				in += strings.Join(fields, sep) + []string{"\n", "\r\n", ""}[rng.IntN(3)]
			}
			opts := csv.Options{File: "d.csv", Comma: comma}
			desc := fmt.Sprintf("%q", in)
			got, err := csv.ReadAll(strings.NewReader(in), s, opts)
			want, wantErr := csv.ReadAllRecords(strings.NewReader(in), s, opts)
			require.Equal(t, wantErr, err, desc)
			require.Equal(t, want, got, desc)
			requireAsSlow(t, []byte(in), s, opts, got, err, desc)
		}
	}
}

// requireAsSlow checks that got and err, what the reader made of in, are
// what the slow path (encoding/csv alone) makes of it.
func requireAsSlow(t *testing.T, in []byte, s *schema.Schema, opts csv.Options, got *schema.Batch, err error, desc string) {
	t.Helper()
	slow, slowErr := csv.ReadAllSlow(bytes.NewReader(in), s, opts)
	if slowErr != nil {
		require.Error(t, err, desc)
		require.Equal(t, slowErr.Error(), err.Error(), desc)
	} else {
		require.NoError(t, err, desc)
		require.Equal(t, slow, got, desc)
	}
}
