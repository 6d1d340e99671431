package parquet_test

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

func discover(data []byte) (*schema.Schema, error) {
	return parquet.Discover(bytes.NewReader(data), int64(len(data)), "x.parquet")
}

func TestDiscover(t *testing.T) {
	rows := goodRows(0, 30)
	rows[7] = with(rows[7], 0, "L-福建省厦门市绿色能源") // 29 bytes
	rows[8] = with(rows[8], 2, int64(-12))
	rows[9] = with(rows[9], 4, day("1999-12-31"))
	want := &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "uscc", Type: schema.String, MaxLen: 32},
		{Name: "amount", Type: schema.Int, Min: i64(-12), Max: i64(2900)},
		{Name: "green", Type: schema.Bool},
		{Name: "opened", Type: schema.Date, Min: i64(day("1999-12-31")), Max: i64(day("2020-01-01") + 29)},
	}}
	// With statistics in every row group, and with none (scanned).
	for _, data := range [][]byte{
		written(t, rows...),
		write(t, testSchema(), parquet.WriteOptions{}, batchOf(testSchema(), rows...)),
	} {
		got, err := discover(data)
		require.NoError(t, err)
		require.Equal(t, want, got)
		b, err := readAll(data, got, parquet.Options{})
		require.NoError(t, err)
		require.Equal(t, len(rows), b.Len)
	}

	// pqarrow, with and without statistics; INT(32, unsigned) is always
	// scanned.
	fields := append([]arrow.Field{}, arrowFields...)
	fields[1].Type = arrow.PrimitiveTypes.Uint32
	sch := arrow.NewSchema(fields, nil)
	var recs []row
	for i := range 10 {
		r := arrowRow(i)
		r[1] = uint32(r[1].(int32)) + 3e9
		recs = append(recs, r)
	}
	for _, stats := range []bool{true, false} {
		data := arrowFile(t, pq.NewWriterProperties(pq.WithStats(stats)), record(sch, recs[:4]...), record(sch, recs[4:]...))
		got, err := discover(data)
		require.NoError(t, err)
		require.Equal(t, &schema.Schema{Columns: []schema.Column{
			{Name: "opened", Type: schema.Date, Min: i64(day("2020-01-01")), Max: i64(day("2020-01-10"))},
			{Name: "amount", Type: schema.Int, Min: i64(3e9), Max: i64(3e9 + 900)},
			{Name: "green", Type: schema.Bool},
			{Name: "uscc", Type: schema.String, MaxLen: 32},
			{Name: "loan_id", Type: schema.String, MaxLen: 16},
		}}, got)
	}

	// Extremes, and a file of no rows.
	loose := allTypes()
	got, err := discover(write(t, loose, parquet.WriteOptions{RowGroupRows: 3}, allTypesRows(10)))
	require.NoError(t, err)
	require.Equal(t, &schema.Schema{Columns: []schema.Column{
		{Name: "s", Type: schema.String, MaxLen: 64},
		{Name: "n", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)},
		{Name: "ok", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
	}}, got)
	got, err = discover(write(t, loose, parquet.WriteOptions{}))
	require.NoError(t, err)
	require.Equal(t, &schema.Schema{Columns: []schema.Column{
		{Name: "s", Type: schema.String, MaxLen: 16},
		{Name: "n", Type: schema.Int, Min: i64(0), Max: i64(0)},
		{Name: "ok", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: i64(0), Max: i64(0)},
	}}, got)
}

func TestDiscoverErrors(t *testing.T) {
	upper := append([]arrow.Field{}, arrowFields...)
	upper[1].Name = "Amount"
	double := append([]arrow.Field{}, arrowFields...)
	double[2].Type = arrow.PrimitiveTypes.Float64
	list := append([]arrow.Field{}, arrowFields...)
	list[2].Type = arrow.ListOf(arrow.PrimitiveTypes.Int32)
	var wide []arrow.Field
	for i := range schema.MaxColumns + 1 {
		wide = append(wide, arrow.Field{Name: fmt.Sprintf("c%d", i), Type: arrow.PrimitiveTypes.Int32})
	}
	wideRow := make(row, len(wide))
	for i := range wideRow {
		wideRow[i] = int32(i)
	}
	for _, tc := range []struct {
		desc string
		data []byte
		err  string
	}{
		{"an invalid name", arrowFile(t, nil, record(arrow.NewSchema(upper, nil), arrowRow(1))),
			`x.parquet: column name "Amount" is not a valid schema name (want a lower-case letter, then up to 62 lower-case letters, digits or _)`},
		{"a DOUBLE", arrowFile(t, nil, record(arrow.NewSchema(double, nil), with(arrowRow(1), 2, 1.5))),
			"x.parquet: column green: Parquet type DOUBLE fits no schema type (want INT32 or INT64 with an INT logical type or none, INT32 (DATE), BOOLEAN, or BYTE_ARRAY with the STRING logical type or none)"},
		{"a list", arrowFile(t, nil, record(arrow.NewSchema(list, nil), with(arrowRow(1), 2, []int32{1}))),
			"x.parquet: column green: nested Parquet column (LIST); want one value per row"},
		{"too many columns", arrowFile(t, nil, record(arrow.NewSchema(wide, nil), wideRow)),
			"x.parquet: the file has 257 columns, a schema at most 256"},
		{"a null in a scanned column", arrowGroups(t, arrowFields[4], at(2, 1, nil), 2, 2),
			"x.parquet: row group 2, row 1 (row 3 of the file): column loan_id: null value; the schema has no nulls"},
		{"not Parquet", []byte("loan_id\nL1\n"), `x.parquet: not a Parquet file (it does not start and end with "PAR1")`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := discover(tc.data)
			require.EqualError(t, err, tc.err)
			var e *parquet.Error
			require.ErrorAs(t, err, &e)
		})
	}
}
