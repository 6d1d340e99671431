package parquet_test

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

// good returns row i of a valid file of testSchema.
func good(i int) row {
	return row{"L" + strconv.Itoa(i), "91350100M000100Y42", int64(100 * i), i%2 == 0, day("2020-01-01") + int64(i%3000)}
}

// goodRows returns rows [from, to) of good rows.
func goodRows(from, to int) []row {
	var rows []row
	for i := from; i < to; i++ {
		rows = append(rows, good(i))
	}
	return rows
}

// with returns r with the value of column i replaced by v.
func with(r row, i int, v any) row {
	r = append(row{}, r...)
	r[i] = v
	return r
}

// written returns the rows written by Write with testSchema, in row groups
// of 4 rows.
func written(t testing.TB, rows ...row) []byte {
	return write(t, testSchema(), parquet.WriteOptions{RowGroupRows: 4}, batchOf(testSchema(), rows...))
}

// arrowFields are the columns of testSchema as pqarrow writes them from
// arrow data, optional and in another order: opened, amount (int32),
// green, uscc, loan_id.
var arrowFields = []arrow.Field{
	{Name: "opened", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "green", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "uscc", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "loan_id", Type: arrow.BinaryTypes.String, Nullable: true},
}

// arrowRow returns good(i) in the order and types of arrowFields.
func arrowRow(i int) row {
	g := good(i)
	return row{arrow.Date32(g[4].(int64)), int32(g[2].(int64)), g[3], g[1], g[0]}
}

// arrowGroups returns a file written by pqarrow with arrowFields (the
// field named in change, if any, of another type), with a row group of
// each size; set(g, r) returns the value of the changed field in row r of
// row group g (both 1-based), or the row's own value if it returns
// unchanged.
func arrowGroups(t testing.TB, change arrow.Field, set func(g, r int, v any) any, sizes ...int) []byte {
	t.Helper()
	fields := append([]arrow.Field{}, arrowFields...)
	k := -1
	for i, f := range fields {
		if f.Name == change.Name {
			fields[i], k = change, i
		}
	}
	sch := arrow.NewSchema(fields, nil)
	var recs []arrow.RecordBatch
	n := 0
	for g, size := range sizes {
		var rows []row
		for r := range size {
			x := arrowRow(n)
			if k >= 0 {
				x[k] = set(g+1, r+1, x[k])
			}
			rows = append(rows, x)
			n++
		}
		recs = append(recs, record(sch, rows...))
	}
	return arrowFile(t, nil, recs...)
}

// at returns set for arrowGroups that puts v in row r of row group g.
func at(g, r int, v any) func(int, int, any) any {
	return func(gg, rr int, old any) any {
		if gg == g && rr == r {
			return v
		}
		return old
	}
}

// atElse returns set for arrowGroups that puts v in row r of row group g
// and other in the other rows.
func atElse(g, r int, v, other any) func(int, int, any) any {
	return func(gg, rr int, old any) any {
		if gg == g && rr == r {
			return v
		}
		return other
	}
}

// retyped returns set for arrowGroups that puts v in every row.
func retyped(v any) func(int, int, any) any {
	return func(int, int, any) any { return v }
}

type errorCase struct {
	desc     string
	data     []byte
	err      string
	rowGroup int
	row      int64
	ordinal  int64
	column   int
	field    string
}

func errorCases(t testing.TB) []errorCase {
	long := strings.Repeat("x", 100)
	rowsOf10000 := goodRows(0, 10000)
	rowsOf10000[8999] = with(rowsOf10000[8999], 2, int64(-1))
	rowsOf10000[9500] = with(rowsOf10000[9500], 0, "\xff")
	many := write(t, testSchema(), parquet.WriteOptions{}, batchOf(testSchema(), rowsOf10000...))

	wide := &schema.Schema{Columns: append(testSchema().Columns, schema.Column{Name: "rate_bp", Type: schema.Int, Min: i64(0), Max: i64(2000)})}
	without := &schema.Schema{Columns: slices.Delete(testSchema().Columns, 3, 4)}
	noGreen := write(t, without, parquet.WriteOptions{}, batchOf(without, row{"L1", "91350100M000100Y42", 100, day("2020-01-01")}))
	upper := slices.Clone(arrowFields)
	upper[1].Name = "Amount"
	caseFile := arrowFile(t, nil, record(arrow.NewSchema(upper, nil), arrowRow(1)))
	narrow := &schema.Schema{Columns: []schema.Column{testSchema().Columns[0], testSchema().Columns[2], testSchema().Columns[4]}}
	extra := func(s *schema.Schema, v any) []byte {
		r := append(good(1), v)
		return write(t, s, parquet.WriteOptions{}, batchOf(s, r))
	}
	narrowFile := write(t, narrow, parquet.WriteOptions{}, batchOf(narrow, row{"L1", 100, day("2020-01-01")}))
	dup := arrow.NewSchema(append(append([]arrow.Field{}, arrowFields...), arrowFields[1]), nil)
	dupFile := arrowFile(t, nil, record(dup, append(arrowRow(1), int32(1))))
	renamed := arrow.NewSchema(append(append([]arrow.Field{}, arrowFields...), arrow.Field{Name: "企业名称企业名称企业名称企业名称企业名称企业名称企业名称", Type: arrow.PrimitiveTypes.Int32}), nil)
	renamedFile := arrowFile(t, nil, record(renamed, append(arrowRow(1), int32(1))))

	fixed18 := &arrow.FixedSizeBinaryType{ByteWidth: 18}
	valid := written(t, goodRows(0, 6)...)

	return []errorCase{
		// Values.
		{"an int below its bounds", written(t, append(goodRows(0, 5), with(good(5), 2, int64(-5)))...),
			"loans.parquet: row group 2, row 2 (row 6 of the file): column amount: -5 is outside the declared bounds [0, 1000000000]", 2, 2, 6, 3, "amount"},
		{"the greatest int64", written(t, with(good(0), 2, int64(math.MaxInt64))),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column amount: 9223372036854775807 is outside the declared bounds [0, 1000000000]", 1, 1, 1, 3, "amount"},
		{"a date before its bounds", written(t, append(goodRows(0, 8), with(good(8), 4, day("1999-12-31")))...),
			"loans.parquet: row group 3, row 1 (row 9 of the file): column opened: 1999-12-31 is outside the declared bounds [2000-01-01, 2030-12-31]", 3, 1, 9, 5, "opened"},
		{"a date after 9999", written(t, with(good(0), 4, schema.MaxDate+1)),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column opened: 10000-01-01 is outside the declared bounds [2000-01-01, 2030-12-31]", 1, 1, 1, 5, "opened"},
		{"the last INT32 date", written(t, with(good(0), 4, int64(math.MaxInt32))),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column opened: 5881580-07-11 is outside the declared bounds [2000-01-01, 2030-12-31]", 1, 1, 1, 5, "opened"},
		{"a string longer than max_len", written(t, append(goodRows(0, 2), with(good(2), 1, "91350100M000100Y42X"))...),
			"loans.parquet: row group 1, row 3 (row 3 of the file): column uscc: string of 19 bytes is longer than max_len 18", 1, 3, 3, 2, "uscc"},
		{"a long string", written(t, with(good(0), 0, long)),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column loan_id: string of 100 bytes is longer than max_len 32", 1, 1, 1, 1, "loan_id"},
		{"a string that is not UTF-8", written(t, append(goodRows(0, 4), with(good(4), 0, "L\xff\xfe"))...),
			"loans.parquet: row group 2, row 1 (row 5 of the file): column loan_id: string is not valid UTF-8", 2, 1, 5, 1, "loan_id"},
		{"an unpaired surrogate in UTF-8", written(t, with(good(0), 0, "\xed\xa0\x80")),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column loan_id: string is not valid UTF-8", 1, 1, 1, 1, "loan_id"},

		// Which problem comes first.
		{"the first column of a row", written(t, with(with(good(0), 4, int64(0)), 0, "\xff")),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column loan_id: string is not valid UTF-8", 1, 1, 1, 1, "loan_id"},
		{"the first row, in a later column", written(t, with(good(0), 4, int64(0)), with(good(1), 0, "\xff")),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column opened: 1970-01-01 is outside the declared bounds [2000-01-01, 2030-12-31]", 1, 1, 1, 5, "opened"},
		{"the first row of the file's order of columns", arrowGroups(t, arrowFields[4], at(1, 1, nil), 2),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column loan_id: null value; the schema has no nulls", 1, 1, 1, 5, "loan_id"},
		{"in the second window of a row group", many,
			"loans.parquet: row group 1, row 9000 (row 9000 of the file): column amount: -1 is outside the declared bounds [0, 1000000000]", 1, 9000, 9000, 3, "amount"},

		// Files by pqarrow: optional columns in another order.
		{"a null", arrowGroups(t, arrowFields[2], at(2, 3, nil), 3, 4, 5),
			"loans.parquet: row group 2, row 3 (row 6 of the file): column green: null value; the schema has no nulls", 2, 3, 6, 3, "green"},
		{"a null string", arrowGroups(t, arrowFields[3], at(3, 5, nil), 3, 4, 5),
			"loans.parquet: row group 3, row 5 (row 12 of the file): column uscc: null value; the schema has no nulls", 3, 5, 12, 4, "uscc"},
		{"a null date", arrowGroups(t, arrowFields[0], at(1, 1, nil), 3),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column opened: null value; the schema has no nulls", 1, 1, 1, 1, "opened"},
		{"an INT32 out of bounds", arrowGroups(t, arrowFields[1], at(1, 2, int32(-7)), 3),
			"loans.parquet: row group 1, row 2 (row 2 of the file): column amount: -7 is outside the declared bounds [0, 1000000000]", 1, 2, 2, 2, "amount"},
		{"an INT(8, signed) out of bounds", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Int8}, retyped(int8(-128)), 1),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column amount: -128 is outside the declared bounds [0, 1000000000]", 1, 1, 1, 2, "amount"},
		{"an INT(32, unsigned) is unsigned", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Uint32}, retyped(uint32(4e9)), 1),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column amount: 4000000000 is outside the declared bounds [0, 1000000000]", 1, 1, 1, 2, "amount"},
		{"an INT(64, unsigned) beyond int64", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Uint64}, atElse(1, 2, uint64(math.MaxUint64), uint64(7)), 2),
			"loans.parquet: row group 1, row 2 (row 2 of the file): column amount: 18446744073709551615 is outside the declared bounds [0, 1000000000]", 1, 2, 2, 2, "amount"},
		{"a BYTE_ARRAY that is not UTF-8", arrowGroups(t, arrow.Field{Name: "uscc", Type: arrow.BinaryTypes.Binary, Nullable: true}, at(1, 1, "\xc3"), 1),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column uscc: string is not valid UTF-8", 1, 1, 1, 4, "uscc"},

		// Types.
		{"a DOUBLE for an int", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.PrimitiveTypes.Float64}, retyped(1.0), 1),
			"loans.parquet: column amount: Parquet type DOUBLE cannot hold an int column (want INT32 or INT64, with an INT logical type or none)", 0, 0, 0, 2, "amount"},
		{"a string for an int", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.BinaryTypes.String}, retyped("1"), 1),
			"loans.parquet: column amount: Parquet type BYTE_ARRAY (STRING) cannot hold an int column (want INT32 or INT64, with an INT logical type or none)", 0, 0, 0, 2, "amount"},
		{"a timestamp for an int", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.FixedWidthTypes.Timestamp_us}, retyped(arrow.Timestamp(1)), 1),
			"loans.parquet: column amount: Parquet type INT64 (TIMESTAMP) cannot hold an int column (want INT32 or INT64, with an INT logical type or none)", 0, 0, 0, 2, "amount"},
		{"a date for an int", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.FixedWidthTypes.Date32}, retyped(arrow.Date32(1)), 1),
			"loans.parquet: column amount: Parquet type INT32 (DATE) cannot hold an int column (want INT32 or INT64, with an INT logical type or none)", 0, 0, 0, 2, "amount"},
		{"an INT32 for a date", arrowGroups(t, arrow.Field{Name: "opened", Type: arrow.PrimitiveTypes.Int32}, retyped(int32(18262)), 1),
			"loans.parquet: column opened: Parquet type INT32 (INT(32, signed)) cannot hold a date column (want INT32 with the DATE logical type)", 0, 0, 0, 1, "opened"},
		{"a timestamp for a date", arrowGroups(t, arrow.Field{Name: "opened", Type: arrow.FixedWidthTypes.Timestamp_us}, retyped(arrow.Timestamp(1)), 1),
			"loans.parquet: column opened: Parquet type INT64 (TIMESTAMP) cannot hold a date column (want INT32 with the DATE logical type)", 0, 0, 0, 1, "opened"},
		{"a string for a date", arrowGroups(t, arrow.Field{Name: "opened", Type: arrow.BinaryTypes.String}, retyped("2020-01-01"), 1),
			"loans.parquet: column opened: Parquet type BYTE_ARRAY (STRING) cannot hold a date column (want INT32 with the DATE logical type)", 0, 0, 0, 1, "opened"},
		{"an INT(8) for a bool", arrowGroups(t, arrow.Field{Name: "green", Type: arrow.PrimitiveTypes.Int8}, retyped(int8(1)), 1),
			"loans.parquet: column green: Parquet type INT32 (INT(8, signed)) cannot hold a bool column (want BOOLEAN)", 0, 0, 0, 3, "green"},
		{"a FIXED_LEN_BYTE_ARRAY for a string", arrowGroups(t, arrow.Field{Name: "uscc", Type: fixed18}, retyped("91350100M000100Y42"), 1),
			"loans.parquet: column uscc: Parquet type FIXED_LEN_BYTE_ARRAY(18) cannot hold a string column (want BYTE_ARRAY, with the STRING logical type or none)", 0, 0, 0, 4, "uscc"},
		{"an INT64 for a string", arrowGroups(t, arrow.Field{Name: "uscc", Type: arrow.PrimitiveTypes.Int64}, retyped(int64(1)), 1),
			"loans.parquet: column uscc: Parquet type INT64 (INT(64, signed)) cannot hold a string column (want BYTE_ARRAY, with the STRING logical type or none)", 0, 0, 0, 4, "uscc"},
		{"a decimal for an int", arrowGroups(t, arrow.Field{Name: "amount", Type: &arrow.Decimal128Type{Precision: 10, Scale: 0}}, retyped(nil), 1),
			"loans.parquet: column amount: Parquet type FIXED_LEN_BYTE_ARRAY(5) (DECIMAL(10, 0)) cannot hold an int column (want INT32 or INT64, with an INT logical type or none)", 0, 0, 0, 2, "amount"},
		{"a list", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)}, retyped([]int32{1, 2}), 1),
			"loans.parquet: column amount: nested Parquet column (LIST); want one value per row", 0, 0, 0, 2, "amount"},
		{"a struct", arrowGroups(t, arrow.Field{Name: "amount", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int32})}, retyped(nil), 1),
			"loans.parquet: column amount: nested Parquet column (group); want one value per row", 0, 0, 0, 2, "amount"},
		{"a repeated column", repeatedFile(t),
			"loans.parquet: column amount: repeated Parquet column (a list of values); want one value per row", 0, 0, 0, 3, "amount"},

		// Columns.
		{"an unknown column", extra(wide, int64(1)),
			`loans.parquet: unknown column "rate_bp" in the file (not a column of the schema)`, 0, 0, 0, 6, ""},
		{"an unknown column with a long name", renamedFile,
			`loans.parquet: unknown column "企业名称企业名称企业名称企业名称企业名称企"… in the file (not a column of the schema)`, 0, 0, 0, 6, ""},
		{"names are case-sensitive", caseFile,
			`loans.parquet: unknown column "Amount" in the file (not a column of the schema)`, 0, 0, 0, 2, ""},
		{"a missing column", noGreen,
			`loans.parquet: missing column "green" in the file`, 0, 0, 0, 0, ""},
		{"missing columns", narrowFile,
			`loans.parquet: missing columns "uscc", "green" in the file`, 0, 0, 0, 0, ""},
		{"a duplicate column", dupFile,
			`loans.parquet: duplicate column "amount" in the file`, 0, 0, 0, 6, ""},

		// Not Parquet.
		{"an empty file", nil, "loans.parquet: not a Parquet file (it is empty)", 0, 0, 0, 0, ""},
		{"CSV", []byte("loan_id,uscc,amount,green,opened\nL1,91350100M000100Y42,100,true,2020-01-01\n"),
			`loans.parquet: not a Parquet file (it does not start and end with "PAR1")`, 0, 0, 0, 0, ""},
		{"PAR1 alone", []byte("PAR1"), `loans.parquet: not a Parquet file (it does not start and end with "PAR1")`, 0, 0, 0, 0, ""},
		{"PAR1PAR1", []byte("PAR1PAR1"), `loans.parquet: not a Parquet file (it does not start and end with "PAR1")`, 0, 0, 0, 0, ""},
		{"encrypted", []byte("PARE0000000000PARE"), "loans.parquet: encrypted Parquet files are not supported", 0, 0, 0, 0, ""},
		{"cut short by a byte", valid[:len(valid)-1],
			`loans.parquet: not a whole Parquet file: it starts with "PAR1" but does not end with it (was it cut short?)`, 0, 0, 0, 0, ""},
		{"cut in half", valid[:len(valid)/2],
			`loans.parquet: not a whole Parquet file: it starts with "PAR1" but does not end with it (was it cut short?)`, 0, 0, 0, 0, ""},
		{"no footer", append(valid[:100:100], "PAR1"...),
			"loans.parquet: corrupt Parquet footer: parquet: file is smaller than indicated metadata size", 0, 0, 0, 0, ""},
		{"a footer length beyond the file", func() []byte {
			b := bytes.Clone(valid)
			b[len(b)-8], b[len(b)-7] = 0xff, 0xff
			return b
		}(), "loans.parquet: corrupt Parquet footer: parquet: file is smaller than indicated metadata size", 0, 0, 0, 0, ""},
		{"a corrupt footer", func() []byte {
			b := bytes.Clone(valid)
			n := len(b) - 8 - int(b[len(b)-8]) - int(b[len(b)-7])<<8
			for i := n; i < n+16; i++ {
				b[i] = 0xff
			}
			return b
		}(), "loans.parquet: corrupt Parquet footer: parquet: could not read footer: *parquet.FileMetaData field 15 read error: don't know what type: 15", 0, 0, 0, 0, ""},
		{"bytes lost in the first column chunk", append(bytes.Clone(valid[:20]), valid[30:]...),
			"loans.parquet: row group 1, row 1 (row 1 of the file): column loan_id: corrupt column chunk: cannot read the page header at byte 44 of the file: incomplete page header", 1, 1, 1, 1, "loan_id"},
	}
}

// repeatedFile returns a file of testSchema but for a repeated amount, a
// list in the form of the first Parquet writers.
func repeatedFile(t testing.TB) []byte {
	t.Helper()
	fields := pqschema.FieldList{
		pqschema.NewByteArrayNode("loan_id", pq.Repetitions.Required, -1),
		pqschema.NewByteArrayNode("uscc", pq.Repetitions.Required, -1),
		pqschema.NewInt64Node("amount", pq.Repetitions.Repeated, -1),
		pqschema.NewBooleanNode("green", pq.Repetitions.Required, -1),
		pqschema.NewInt32Node("opened", pq.Repetitions.Required, -1),
	}
	root, err := pqschema.NewGroupNode("schema", pq.Repetitions.Required, fields, -1)
	require.NoError(t, err)
	var buf bytes.Buffer
	fw := file.NewParquetWriter(&buf, root)
	rg, err := fw.AppendRowGroupChecked()
	require.NoError(t, err)
	for i := range 5 {
		cw, err := rg.NextColumn()
		require.NoError(t, err)
		switch cw := cw.(type) {
		case *file.ByteArrayColumnChunkWriter:
			_, err = cw.WriteBatch([]pq.ByteArray{pq.ByteArray("x")}, nil, nil)
		case *file.Int64ColumnChunkWriter:
			_, err = cw.WriteBatch([]int64{1, 2}, []int16{1, 1}, []int16{0, 1})
		case *file.BooleanColumnChunkWriter:
			_, err = cw.WriteBatch([]bool{true}, nil, nil)
		case *file.Int32ColumnChunkWriter:
			_, err = cw.WriteBatch([]int32{1}, nil, nil)
		default:
			t.Fatalf("column %d: %T", i, cw)
		}
		require.NoError(t, err)
		require.NoError(t, cw.Close())
	}
	require.NoError(t, rg.Close())
	require.NoError(t, fw.Close())
	return buf.Bytes()
}

func TestErrors(t *testing.T) {
	for _, tc := range errorCases(t) {
		if tc.err == "" {
			continue
		}
		t.Run(tc.desc, func(t *testing.T) {
			opts := parquet.Options{File: "loans.parquet"}
			_, err := readAll(tc.data, testSchema(), opts)
			requireError(t, err, tc)

			for _, size := range []int{1, 3} {
				opts.BatchSize = size
				_, err = readBatches(t, tc.data, testSchema(), opts)
				requireError(t, err, tc)
			}
		})
	}
}

func requireError(t *testing.T, err error, tc errorCase) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, tc.err, err.Error())
	var e *parquet.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "loans.parquet", e.File)
	require.Equal(t, tc.rowGroup, e.RowGroup, "row group")
	require.Equal(t, tc.row, e.Row, "row")
	require.Equal(t, tc.ordinal, e.Ordinal, "ordinal")
	require.Equal(t, tc.column, e.Column, "column")
	require.Equal(t, tc.field, e.Field, "field")
	var ve *schema.ValueError
	if errors.As(err, &ve) {
		require.Equal(t, tc.field, ve.Column)
		require.True(t, strings.HasSuffix(err.Error(), ve.Error()))
	}
}
