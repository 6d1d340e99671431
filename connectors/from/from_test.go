package from_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/schema"
)

func TestParse(t *testing.T) {
	for arg, want := range map[string]from.Spec{
		"loans.csv":                 {Kind: "csv", Path: "loans.csv"},
		"LOANS.CSV":                 {Kind: "csv", Path: "LOANS.CSV"},
		"csv:loans.txt":             {Kind: "csv", Path: "loans.txt"},
		"jsonl:x":                   {Kind: "jsonl", Path: "x"},
		"rows.ndjson":               {Kind: "jsonl", Path: "rows.ndjson"},
		"parquet:dir/a.pq":          {Kind: "parquet", Path: "dir/a.pq"},
		"/data/a.parquet":           {Kind: "parquet", Path: "/data/a.parquet"},
		"C:loans.csv":               {Kind: "csv", Path: "C:loans.csv"},
		"postgres://u@h/db?table=t": {Kind: "postgres", URL: "postgres://u@h/db?table=t"},
		"postgresql://u@h/db?query=SELECT+1+AS+x&key=x": {Kind: "postgres", URL: "postgresql://u@h/db?query=SELECT+1+AS+x&key=x"},
	} {
		got, err := from.Parse(arg)
		require.NoError(t, err, arg)
		require.Equal(t, want, got, arg)
	}
	for arg, msg := range map[string]string{
		"":                  "empty source",
		"loans.xlsx":        `source "loans.xlsx": cannot tell its kind from its name; write it as KIND:FILE`,
		"csv:":              `source "csv:" names no file`,
		"postgres://u@h/db": "table",
		"postgres://u@h/db?table=t&query=SELECT+1": "table",
	} {
		_, err := from.Parse(arg)
		require.ErrorContains(t, err, msg, arg)
	}
}

var oneCol = &schema.Schema{Columns: []schema.Column{{Name: "n", Type: schema.Int, Min: ptr(0), Max: ptr(10)}}}

func ptr(v int64) *int64 { return &v }

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	_, err := from.Open(ctx, from.Spec{Kind: "csv", Path: filepath.Join(dir, "none.csv")}, oneCol, from.Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = from.Open(ctx, from.Spec{Kind: "csv", Path: dir}, oneCol, from.Options{})
	require.ErrorContains(t, err, "is a directory, not a csv file")

	p := filepath.Join(dir, "n.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(`{"n":3}`+"\n"+`{"n":30}`+"\n"), 0o644))
	_, err = from.Open(ctx, from.Spec{Kind: "jsonl", Path: p}, oneCol, from.Options{Encoding: "gb18030"})
	require.ErrorContains(t, err, "JSON Lines are UTF-8")

	// Strict, then loose (for clamping); the source counts what it read.
	read := func(opts from.Options) (*schema.Batch, error) {
		src, err := from.Open(ctx, from.Spec{Kind: "jsonl", Path: p}, oneCol, opts)
		require.NoError(t, err)
		defer src.Close()
		require.Equal(t, "n.jsonl", src.Name)
		require.EqualValues(t, 17, src.Size)
		b, err := src.Next()
		if err != nil {
			return nil, err
		}
		_, err = src.Next()
		require.ErrorIs(t, err, io.EOF)
		require.EqualValues(t, 17, src.Read())
		return b, nil
	}
	_, err = read(from.Options{})
	require.EqualError(t, err, "n.jsonl:2:6: column n: 30 is outside the declared bounds [0, 10]")
	require.True(t, from.IsBadData(err))
	b, err := read(from.Options{Loose: true})
	require.NoError(t, err)
	require.Equal(t, []int64{3, 30}, b.Cols[0].Ints)
}

func TestIsBadData(t *testing.T) {
	require.False(t, from.IsBadData(io.ErrUnexpectedEOF))
	require.False(t, from.IsBadData(context.Canceled))
	require.False(t, from.IsBadData(fmt.Errorf("reading: %w", errors.New("connection reset"))))
	require.True(t, from.IsBadData(fmt.Errorf("row 3: column x holds %w", connectors.ErrCarriageReturn)))
}

func TestCSVDialect(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	p := filepath.Join(dir, "n.tsv")
	require.NoError(t, os.WriteFile(p, []byte("3\tx\n\\N\ty\n"), 0o644))
	two := &schema.Schema{Columns: []schema.Column{oneCol.Columns[0], {Name: "s", Type: schema.String, MaxLen: 8}}}
	opts := from.Options{CSV: csv.Options{Comma: '\t', NoHeader: true, NoQuotes: true}}
	src, err := from.Open(ctx, from.Spec{Kind: "csv", Path: p}, two, opts)
	require.NoError(t, err)
	defer src.Close()
	_, err = src.Next()
	require.EqualError(t, err, `n.tsv:2:1: column n: "\\N" is not an integer`)

	opts.CSV.Nulls = []string{`\N`}
	src, err = from.Open(ctx, from.Spec{Kind: "csv", Path: p}, two, opts)
	require.NoError(t, err)
	defer src.Close()
	_, err = src.Next()
	require.EqualError(t, err, `n.tsv:2:1: column n: null ("\\N") is not allowed: the schema has no nulls; fill the value or leave the row out at the source`)
	require.True(t, from.IsBadData(err))

	sc, err := from.Discover(ctx, from.Spec{Kind: "csv", Path: p}, from.Options{CSV: csv.Options{Comma: '\t', NoHeader: true}}, 1)
	require.NoError(t, err)
	require.Equal(t, "c1", sc.Columns[0].Name)

	// A dialect is for CSV only.
	j := filepath.Join(dir, "n.jsonl")
	require.NoError(t, os.WriteFile(j, []byte(`{"n":3}`+"\n"), 0o644))
	_, err = from.Open(ctx, from.Spec{Kind: "jsonl", Path: j}, oneCol, from.Options{CSV: csv.Options{NoHeader: true}})
	require.EqualError(t, err, "n.jsonl: a delimiter, quoting, header or null markers are for CSV sources")
	_, err = from.Discover(ctx, from.Spec{Kind: "jsonl", Path: j}, from.Options{CSV: csv.Options{Comma: ';'}}, 0)
	require.EqualError(t, err, "n.jsonl: a delimiter, quoting, header or null markers are for CSV sources")
}
