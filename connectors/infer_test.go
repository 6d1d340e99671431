package connectors_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/connectors/jsonl"
	"github.com/xjdata/cleanroom/schema"
)

func date(s string) *int64 {
	d, ok := schema.ParseDate(s)
	if !ok {
		panic(s)
	}
	return &d
}

// The same table as CSV and as JSON Lines suggests the same schema, with
// bounds rounded out so that the catalogue does not publish the extremes.
func TestDiscover(t *testing.T) {
	csvText := "id,amount,delta,green,issued,note\n" +
		"L1,12345,-3,true,2024-03-05,\"a, b\"\n" +
		"L2,987,17,false,2025-11-30,x\n" +
		"L3,0,-250,true,2025-01-01," + strings.Repeat("长", 500) + "\n"
	jsonText := `{"id":"L1","amount":12345,"delta":-3,"green":true,"issued":"2024-03-05","note":"a, b"}
{"id":"L2","amount":987,"delta":17,"green":false,"issued":"2025-11-30","note":"x"}
{"id":"L3","amount":0,"delta":-250,"green":true,"issued":"2025-01-01","note":"` + strings.Repeat("长", 500) + `"}
`
	want := &schema.Schema{Columns: []schema.Column{
		{Name: "id", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(100000)},
		{Name: "delta", Type: schema.Int, Min: i64(-1000), Max: i64(100)},
		{Name: "green", Type: schema.Bool},
		{Name: "issued", Type: schema.Date, Min: date("2024-01-01"), Max: date("2025-12-31")},
		{Name: "note", Type: schema.String, MaxLen: 2048},
	}}
	got, err := csv.Discover(strings.NewReader(csvText), csv.Options{File: "t.csv"}, 0)
	require.NoError(t, err)
	require.Equal(t, want, got)
	got, err = jsonl.Discover(strings.NewReader(jsonText), jsonl.Options{File: "t.jsonl"}, 0)
	require.NoError(t, err)
	require.Equal(t, want, got)
	// What it suggests reads the table back.
	_, err = csv.ReadAll(strings.NewReader(csvText), got, csv.Options{})
	require.NoError(t, err)
	_, err = jsonl.ReadAll(strings.NewReader(jsonText), got, jsonl.Options{})
	require.NoError(t, err)

	// maxRows stops early: only the first row's values are seen.
	got, err = csv.Discover(strings.NewReader(csvText), csv.Options{}, 1)
	require.NoError(t, err)
	require.Equal(t, int64(100000), *got.Columns[1].Max)
	require.Equal(t, int64(-10), *got.Columns[2].Min)
	// A JSON string of digits stays a string; in CSV it is an int.
	got, err = jsonl.Discover(strings.NewReader(`{"a":"12","b":"x"}`), jsonl.Options{}, 0)
	require.NoError(t, err)
	require.Equal(t, schema.String, got.Columns[0].Type)
	got, err = csv.Discover(strings.NewReader("a\n12\n"), csv.Options{}, 0)
	require.NoError(t, err)
	require.Equal(t, schema.Int, got.Columns[0].Type)
}

func TestDiscoverErrors(t *testing.T) {
	for _, c := range []struct{ csv, want string }{
		{"", "t.csv:1: empty file: want a header line naming the columns"},
		{"id,Amount\n", `t.csv:1: column name "Amount" is not valid`},
		{"id,id\n", `t.csv:1: duplicate column "id"`},
		{"a,b\n1,2\n3\n", "t.csv:3: wrong number of fields: got 1, want 2"},
	} {
		_, err := csv.Discover(strings.NewReader(c.csv), csv.Options{File: "t.csv"}, 0)
		require.ErrorContains(t, err, c.want, c.csv)
	}
	for _, c := range []struct{ jsonl, want string }{
		{"", "t.jsonl:1:1: empty input"},
		{`{"a":1}` + "\n" + `{"a":"x"}`, "t.jsonl:2:1: column a: a string here, a number on line 1"},
		{`{"a":1}` + "\n" + `{"b":1}`, `t.jsonl:2:1: key "b" is not in the first line`},
		{`{"a":1,"b":2}` + "\n" + `{"a":1}`, "t.jsonl:2:1: 1 of the first line's 2 keys"},
		{`{"a":1.5}`, "t.jsonl:1:1: 1.5 is not an integer"},
		{`{"a":null}`, "t.jsonl:1:1: column a: null: the schema has no nulls"},
		{`{"a":[1]}`, "t.jsonl:1:1: column a: nested objects and arrays are not supported"},
		{`[1]`, "t.jsonl:1:1: want a JSON object"},
		{`{"a":1,"a":2}`, `t.jsonl:1:1: repeated key "a"`},
		{`{"A":1}`, `t.jsonl:1:1: column name "A" is not valid`},
	} {
		_, err := jsonl.Discover(strings.NewReader(c.jsonl), jsonl.Options{File: "t.jsonl"}, 0)
		require.ErrorContains(t, err, c.want, c.jsonl)
	}
}

func TestInferrerRoundOut(t *testing.T) {
	in, err := connectors.NewInferrer([]string{"a", "b"})
	require.NoError(t, err)
	in.Text(0, "-9223372036854775808")
	in.Text(0, "9223372036854775807")
	in.Text(1, "")
	s := in.Schema()
	require.Equal(t, int64(-9223372036854775808), *s.Columns[0].Min)
	require.Equal(t, int64(9223372036854775807), *s.Columns[0].Max)
	require.Equal(t, schema.String, s.Columns[1].Type, "an empty value is a string")
	require.NoError(t, s.Validate())
}
