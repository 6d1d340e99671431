package postgres_test

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/postgres"
	"github.com/xjdata/cleanroom/connectors/postgres/pgtest"
	"github.com/xjdata/cleanroom/schema"
)

// loansSchema declares the columns of the loans fixture, in another order.
func loansSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "issued", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "borrower", Type: schema.String, MaxLen: 100},
		{Name: "rate_bp", Type: schema.Int, Min: i64(0), Max: i64(2000)},
		{Name: "term", Type: schema.Int, Min: i64(1), Max: i64(360)},
		{Name: "green", Type: schema.Bool},
	}}
}

func TestTable(t *testing.T) {
	conn := connect(t)
	s := loansSchema()
	b, sizes, err := read(t, conn, postgres.Source{Table: "loans"}, s, postgres.Options{})
	require.NoError(t, err)
	require.Equal(t, []int{4}, sizes)
	want := &schema.Batch{Schema: s, Len: 4, Cols: []schema.Vector{
		{Type: schema.Date, Ints: []int64{day("2021-03-15"), day("2020-01-01"), day("2030-12-31"), day("2000-01-01")}},
		{Type: schema.String, Strs: []string{"L0001", "L0002", "L0003", "L0004"}},
		{Type: schema.Int, Ints: []int64{1500000, 250000, 0, 1e9}},
		// character(18) keeps its trailing blanks, as PostgreSQL sends it.
		{Type: schema.String, Strs: []string{"91350100M000100Y42", "91110000600037341L", "9144030071526726XG", "ABC               "}},
		{Type: schema.String, Strs: []string{"福建省绿色能源科技有限公司", "北京物流 🚚 有限公司", "", "Zoë \"quoted\", e\u0301 and a comma"}},
		{Type: schema.Int, Ints: []int64{350, 420, 0, 2000}},
		{Type: schema.Int, Ints: []int64{36, 12, 1, 360}},
		{Type: schema.Bool, Ints: []int64{1, 0, 1, 0}},
	}}
	require.Equal(t, want, b)

	// The connection is given back out of the transaction, and usable.
	require.Equal(t, byte('I'), conn.PgConn().TxStatus())
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM loans").Scan(&n))
	require.Equal(t, 4, n)
}

func TestExtremes(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "id", Type: schema.Int, Min: i64(1), Max: i64(3)},
		{Name: "i2", Type: schema.Int, Min: i64(math.MinInt16), Max: i64(math.MaxInt16)},
		{Name: "i4", Type: schema.Int, Min: i64(math.MinInt32), Max: i64(math.MaxInt32)},
		{Name: "i8", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)},
		{Name: "b", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
		{Name: "s", Type: schema.String},
	}}
	b, _, err := read(t, conn, postgres.Source{Query: "SELECT * FROM extremes ORDER BY id"}, s, postgres.Options{BatchSize: 2})
	require.NoError(t, err)
	require.Equal(t, []int64{math.MinInt16, math.MaxInt16, 0}, b.Cols[1].Ints)
	require.Equal(t, []int64{math.MinInt32, math.MaxInt32, 0}, b.Cols[2].Ints)
	require.Equal(t, []int64{math.MinInt64, math.MaxInt64, 0}, b.Cols[3].Ints)
	require.Equal(t, []int64{0, 1, 1}, b.Cols[4].Ints)
	// 1 BC is year 0: the first and last days a date column can hold.
	require.Equal(t, []int64{schema.MinDate, schema.MaxDate, 0}, b.Cols[5].Ints)
	require.Equal(t, []string{"", "ascii", "Ünïcödé 中文 🌱"}, b.Cols[6].Strs)

	// One less at either end is out of bounds.
	s.Columns[1].Min = i64(math.MinInt16 + 1)
	_, _, err = read(t, conn, postgres.Source{Query: "SELECT * FROM extremes ORDER BY id", Key: "id"}, s, postgres.Options{})
	require.EqualError(t, err, "postgres query: row 1 (id 1): column i2: -32768 is outside the declared bounds [-32767, 32767]")
	s.Columns[1].Min = i64(math.MinInt16)
	s.Columns[5].Max = i64(schema.MaxDate - 1)
	_, _, err = read(t, conn, postgres.Source{Query: "SELECT * FROM extremes ORDER BY id", Key: "s"}, s, postgres.Options{})
	require.EqualError(t, err, `postgres query: row 2 (s "ascii"): column d: 9999-12-31 is outside the declared bounds [0000-01-01, 9999-12-30]`)
	var ve *schema.ValueError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "d", ve.Column)
}

// TestBatches reads tables in batches that divide their rows and that do
// not, checking the FETCHes run.
func TestBatches(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "n", Type: schema.Int, Min: i64(1), Max: i64(10007)},
		{Name: "s", Type: schema.String, MaxLen: 6},
	}}
	for _, tc := range []struct {
		desc    string
		src     postgres.Source
		s       *schema.Schema
		size    int
		rows    int
		batches int
		fetches int
	}{
		{"10007 rows by 1000", postgres.Source{Table: "many"}, s, 1000, 10007, 11, 11},
		{"10007 rows by 1", postgres.Source{Query: "SELECT * FROM many WHERE n <= 3"}, s, 1, 3, 3, 4},
		{"10000 rows by 1000: one more FETCH finds the end", postgres.Source{Table: "round"}, &schema.Schema{Columns: s.Columns[:1]}, 1000, 10000, 10, 11},
		{"10007 rows by the default", postgres.Source{Table: "many"}, s, 0, 10007, 2, 2},
		{"no rows", postgres.Source{Query: "SELECT * FROM many WHERE false"}, s, 0, 0, 0, 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := postgres.NewReader(context.Background(), conn, tc.src, tc.s, postgres.Options{BatchSize: tc.size})
			require.NoError(t, err)
			defer r.Close()
			size := tc.size
			if size == 0 {
				size = postgres.DefaultBatchSize
			}
			b, sizes, err := readAll(t, r, tc.s, size)
			require.NoError(t, err)
			require.Equal(t, tc.rows, b.Len)
			require.Len(t, sizes, tc.batches)
			require.Equal(t, tc.fetches, postgres.Fetches(r))
			var sum int64
			for i, n := range b.Cols[0].Ints {
				sum += n
				if len(b.Cols) > 1 {
					require.Equal(t, "r"+strings.TrimSpace(schema.FormatValue(schema.Int, n)), b.Cols[1].Strs[i])
				}
			}
			require.Equal(t, int64(tc.rows)*int64(tc.rows+1)/2, sum)
		})
	}
}

// TestLarge reads 200,000 rows in batches: as many FETCHes as batches, none
// larger than the batch size.
func TestLarge(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{{Name: "n", Type: schema.Int, Min: i64(1), Max: i64(200000)}}}
	r, err := postgres.NewReader(context.Background(), conn, postgres.Source{Table: "big"}, s, postgres.Options{})
	require.NoError(t, err)
	defer r.Close()
	var batches, rows int
	var sum int64
	for {
		b, err := r.Next()
		if err != nil {
			require.Equal(t, io.EOF, err)
			break
		}
		batches++
		require.Equal(t, batches, postgres.Fetches(r), "one FETCH per batch")
		require.LessOrEqual(t, b.Len, postgres.DefaultBatchSize)
		rows += b.Len
		for _, n := range b.Cols[0].Ints {
			sum += n
		}
	}
	require.Equal(t, 200000, rows)
	require.Equal(t, 25, batches) // 24 of 8192, then 3392
	require.Equal(t, 25, postgres.Fetches(r))
	require.Equal(t, int64(200000)*200001/2, sum)
}

func TestQuery(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "id", Type: schema.String, MaxLen: 5},
		{Name: "double_amount", Type: schema.Int, Min: i64(0), Max: i64(2e9)},
		{Name: "year", Type: schema.Int, Min: i64(2000), Max: i64(2030)},
	}}
	src := postgres.Source{Query: `SELECT loan_id AS id, amount * 2 AS double_amount, extract(year FROM issued)::int AS year
		FROM loans WHERE green AND amount > 0 ORDER BY loan_id;`}
	b, _, err := read(t, conn, src, s, postgres.Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"L0001"}, b.Cols[0].Strs)
	require.Equal(t, []int64{3000000}, b.Cols[1].Ints)
	require.Equal(t, []int64{2021}, b.Cols[2].Ints)
}

func TestTableNames(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(10)},
	}}
	b, _, err := read(t, conn, postgres.Source{Table: "bank.loans"}, s, postgres.Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"B1", "B2"}, b.Cols[0].Strs)

	_, _, err = read(t, conn, postgres.Source{Table: "Loans 2025"}, s, postgres.Options{})
	require.EqualError(t, err, "postgres table Loans 2025: row 1: column amount: 11 is outside the declared bounds [0, 10]")
	s.Columns[1].Max = i64(11)
	b, _, err = read(t, conn, postgres.Source{Table: "public.Loans 2025"}, s, postgres.Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"Q1"}, b.Cols[0].Strs)

	for _, tc := range []struct{ table, err string }{
		{"loans 2025", `postgres table loans 2025: ERROR: relation "loans 2025" does not exist (SQLSTATE 42P01)`},
		{"nope", `postgres table nope: ERROR: relation "nope" does not exist (SQLSTATE 42P01)`},
		{"bank.nope", `postgres table bank.nope: ERROR: relation "bank.nope" does not exist (SQLSTATE 42P01)`},
		{"nobank.loans", `postgres table nobank.loans: ERROR: relation "nobank.loans" does not exist (SQLSTATE 42P01)`},
		{"bank.loans.x", `postgres table bank.loans.x: ERROR: relation "bank.loans.x" does not exist (SQLSTATE 42P01)`},
		{".loans", `postgres: table name ".loans" has an empty part (want NAME or SCHEMA.NAME)`},
		{"bank.", `postgres: table name "bank." has an empty part (want NAME or SCHEMA.NAME)`},
		{strings.Repeat("x", 64), `postgres: table name "` + strings.Repeat("x", 64) + `": "` + strings.Repeat("x", 64) + `" is longer than 63 bytes, PostgreSQL's limit`},
		{"lo\x00ans", `postgres: table name "lo\x00ans" holds a NUL byte`},
		// Injection attempts are names, quoted: nothing runs.
		{"loans; DROP TABLE victim; --", `postgres table loans; DROP TABLE victim; --: ERROR: relation "loans; DROP TABLE victim; --" does not exist (SQLSTATE 42P01)`},
		{`loans"; DROP TABLE victim; --`, `postgres table loans"; DROP TABLE victim; --: ERROR: relation "loans"; DROP TABLE victim; --" does not exist (SQLSTATE 42P01)`},
		{`victim" WHERE false; DROP TABLE victim; SELECT "`, `postgres table victim" WHERE false; DROP TABLE victim; SELECT ": ERROR: relation "victim" WHERE false; DROP TABLE victim; SELECT "" does not exist (SQLSTATE 42P01)`},
		{`public.victim"; DROP TABLE victim; --`, `postgres table public.victim"; DROP TABLE victim; --: ERROR: relation "public.victim"; DROP TABLE victim; --" does not exist (SQLSTATE 42P01)`},
	} {
		_, _, err := read(t, conn, postgres.Source{Table: tc.table}, s, postgres.Options{})
		require.EqualError(t, err, tc.err, "table %q", tc.table)
		require.Equal(t, byte('I'), conn.PgConn().TxStatus(), "rolled back after %q", tc.table)
	}
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM victim").Scan(&n))
	require.Equal(t, 1, n, "victim untouched")
}

// TestErrors checks the message of every kind of bad input.
func TestErrors(t *testing.T) {
	conn := connect(t)
	loans := loansSchema()
	without := func(name string) *schema.Schema {
		out := &schema.Schema{}
		for _, c := range loans.Columns {
			if c.Name != name {
				out.Columns = append(out.Columns, c)
			}
		}
		return out
	}
	with := func(cols ...schema.Column) *schema.Schema {
		return &schema.Schema{Columns: append(append([]schema.Column{}, loans.Columns...), cols...)}
	}
	shortUSCC := loansSchema()
	shortUSCC.Columns[3].MaxLen = 10
	amount := &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
	}}
	nulls := &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "issued", Type: schema.Date, Min: i64(0), Max: i64(day("2030-12-31"))},
	}}
	dates := &schema.Schema{Columns: []schema.Column{
		{Name: "id", Type: schema.Int, Min: i64(0), Max: i64(10)},
		{Name: "d", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
	}}
	one := func(name string, typ schema.Type) *schema.Schema {
		c := schema.Column{Name: name, Type: typ}
		if typ == schema.Int || typ == schema.Date {
			c.Min, c.Max = i64(0), i64(100)
		}
		return &schema.Schema{Columns: []schema.Column{c}}
	}
	q := func(sql string) postgres.Source { return postgres.Source{Query: sql} }
	for _, tc := range []struct {
		desc string
		src  postgres.Source
		s    *schema.Schema
		err  string
		// at is the *Error's Row and Column; row -1 when the error is not
		// an *Error.
		row    int64
		column string
	}{
		// Columns.
		{"missing column", postgres.Source{Table: "loans"}, with(schema.Column{Name: "region", Type: schema.String}),
			`postgres table loans: missing column "region" in the result`, 0, ""},
		{"missing columns", q("SELECT loan_id FROM loans"), loans,
			`postgres query: missing columns "issued", "amount", "uscc", "borrower", "rate_bp", "term", "green" in the result`, 0, ""},
		{"extra column", postgres.Source{Table: "loans"}, without("term"),
			`postgres table loans: result column "term" is not in the schema`, 0, ""},
		{"extra columns", q(`SELECT *, 1 AS "Term", 2 AS x FROM loans`), loans,
			`postgres query: result columns "Term", "x" are not in the schema`, 0, ""},
		{"column twice", q("SELECT *, 1 AS term FROM loans"), loans,
			`postgres query: column "term" appears twice in the result`, 0, ""},
		{"numeric for int", postgres.Source{Table: "wrong_types"}, &schema.Schema{Columns: append(amount.Columns[:2:2], one("issued", schema.Date).Columns...)},
			`postgres table wrong_types: column amount: type numeric(12,0) cannot be read as int (want smallint, integer or bigint; numeric is refused even with scale 0: cast it in a Query if its values are whole, e.g. amount::bigint, which rounds)`, 0, "amount"},
		{"timestamptz for date", q("SELECT issued FROM wrong_types"), one("issued", schema.Date),
			`postgres query: column issued: type timestamp with time zone cannot be read as date (want date; cast it in a Query, e.g. issued::date)`, 0, "issued"},
		{"text for int", q("SELECT loan_id AS n FROM loans"), one("n", schema.Int),
			`postgres query: column n: type text cannot be read as int (want smallint, integer or bigint)`, 0, "n"},
		{"int for string", q("SELECT amount AS s FROM loans"), one("s", schema.String),
			`postgres query: column s: type bigint cannot be read as string (want text, character varying or character; cast it in a Query, e.g. s::text)`, 0, "s"},
		{"name for string", q("SELECT 'x'::name AS s"), one("s", schema.String),
			`postgres query: column s: type name cannot be read as string (want text, character varying or character; cast it in a Query, e.g. s::text)`, 0, "s"},
		{"int for bool", q("SELECT 1 AS ok"), one("ok", schema.Bool),
			`postgres query: column ok: type integer cannot be read as bool (want boolean)`, 0, "ok"},
		{"float for int", q("SELECT 1.0::float8 AS n"), one("n", schema.Int),
			`postgres query: column n: type double precision cannot be read as int (want smallint, integer or bigint)`, 0, "n"},
		{"varchar(n) type named", q("SELECT 'x'::varchar(5) AS d"), one("d", schema.Date),
			`postgres query: column d: type character varying(5) cannot be read as date (want date)`, 0, "d"},

		// Values.
		{"null with key", postgres.Source{Table: "nulls"}, nulls,
			`postgres table nulls: row 2 (loan_id "N2"): column amount: null value; the schema has no nulls`, 2, "amount"},
		{"null date with key", q("SELECT issued, amount, loan_id FROM nulls WHERE loan_id = 'N3'") /* Key below */, nulls,
			`postgres query: row 1: column issued: null value; the schema has no nulls`, 1, "issued"},
		{"null key", postgres.Source{Query: "SELECT NULL::text AS loan_id, NULL::bigint AS amount, NULL::date AS issued", Key: "loan_id"}, nulls,
			`postgres query: row 1: column loan_id: null value; the schema has no nulls`, 1, "loan_id"},
		{"null key, later column", postgres.Source{Query: "SELECT NULL::bigint AS amount, NULL::text AS loan_id, NULL::date AS issued", Key: "loan_id"}, nulls,
			`postgres query: row 1: column amount: null value; the schema has no nulls`, 1, "amount"},
		{"out of bounds with key", postgres.Source{Table: "public.overdrawn"}, amount,
			`postgres table public.overdrawn: row 8209 (loan_id "L08208"): column amount: 12000000000 is outside the declared bounds [0, 1000000000]`, 8209, "amount"},
		{"out of bounds, ordinal only", q("SELECT amount, loan_id FROM overdrawn ORDER BY loan_id"), amount,
			`postgres query: row 8209: column amount: 12000000000 is outside the declared bounds [0, 1000000000]`, 8209, "amount"},
		{"out of bounds, int key", postgres.Source{Query: "SELECT 7::smallint AS id, -1 AS n", Key: "id"},
			&schema.Schema{Columns: []schema.Column{{Name: "id", Type: schema.Int, Min: i64(0), Max: i64(9)}, {Name: "n", Type: schema.Int, Min: i64(0), Max: i64(9)}}},
			`postgres query: row 1 (id 7): column n: -1 is outside the declared bounds [0, 9]`, 1, "n"},
		{"out of bounds, date key", postgres.Source{Query: "SELECT '2020-02-29'::date AS d, 10 AS n", Key: "d"},
			&schema.Schema{Columns: []schema.Column{{Name: "d", Type: schema.Date, Min: i64(0), Max: i64(day("2030-01-01"))}, {Name: "n", Type: schema.Int, Min: i64(0), Max: i64(9)}}},
			`postgres query: row 1 (d 2020-02-29): column n: 10 is outside the declared bounds [0, 9]`, 1, "n"},
		{"date out of bounds", q("SELECT loan_id, issued FROM loans ORDER BY issued DESC"), &schema.Schema{Columns: []schema.Column{
			{Name: "loan_id", Type: schema.String}, {Name: "issued", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-30"))}}},
			`postgres query: row 1: column issued: 2030-12-31 is outside the declared bounds [2000-01-01, 2030-12-30]`, 1, "issued"},
		{"string too long", postgres.Source{Table: "loans"}, shortUSCC,
			`postgres table loans: row 1 (loan_id "L0001"): column uscc: string of 18 bytes is longer than max_len 10`, 1, "uscc"},
		{"long key quoted short", postgres.Source{Query: "SELECT repeat('键', 30) AS k, 1000 AS n", Key: "k"},
			&schema.Schema{Columns: []schema.Column{{Name: "k", Type: schema.String, MaxLen: 1000}, {Name: "n", Type: schema.Int, Min: i64(0), Max: i64(9)}}},
			`postgres query: row 1 (k "` + strings.Repeat("键", 21) + `"…): column n: 1000 is outside the declared bounds [0, 9]`, 1, "n"},
		{"char(n) blanks count", q("SELECT 'ab'::char(5) AS s"), &schema.Schema{Columns: []schema.Column{{Name: "s", Type: schema.String, MaxLen: 4}}},
			`postgres query: row 1: column s: string of 5 bytes is longer than max_len 4`, 1, "s"},
		{"infinity", postgres.Source{Table: "dates"}, dates,
			`postgres table dates: row 2 (id 2): column d: infinity is not a date (want a finite one)`, 2, "d"},
		{"-infinity", q("SELECT d, id FROM dates WHERE id = 3"), dates,
			`postgres query: row 1: column d: -infinity is not a date (want a finite one)`, 1, "d"},
		{"composite primary key is no key", postgres.Source{Table: "pair"}, &schema.Schema{Columns: []schema.Column{
			{Name: "a", Type: schema.String}, {Name: "b", Type: schema.Int, Min: i64(0), Max: i64(9)}, {Name: "n", Type: schema.Int, Min: i64(0), Max: i64(9)}}},
			`postgres table pair: row 2: column n: -5 is outside the declared bounds [0, 9]`, 2, "n"},

		// Sources.
		{"no source", postgres.Source{}, loans, "postgres: no Table or Query given (set one)", -1, ""},
		{"two sources", postgres.Source{Table: "loans", Query: "SELECT 1"}, loans, "postgres: both Table and Query given (set one)", -1, ""},
		{"blank query", q(" \n"), loans, "postgres: Query is blank", -1, ""},
		{"key not in the result", postgres.Source{Table: "loans", Key: "id"}, loans, `postgres table loans: key column "id" is not a column of the result`, -1, ""},
		{"delete", q("DELETE FROM victim"), loans,
			`postgres query: want a single SELECT, VALUES or TABLE statement: ERROR: syntax error at or near "DELETE" (SQLSTATE 42601)`, -1, ""},
		{"insert", q("INSERT INTO victim VALUES (3) RETURNING x"), one("x", schema.Int),
			`postgres query: want a single SELECT, VALUES or TABLE statement: ERROR: syntax error at or near "INSERT" (SQLSTATE 42601)`, -1, ""},
		{"two statements", q("SELECT 1 AS x; DELETE FROM victim"), one("x", schema.Int),
			`postgres query: want a single SELECT, VALUES or TABLE statement: ERROR: cannot insert multiple commands into a prepared statement (SQLSTATE 42601)`, -1, ""},
		{"delete in WITH", q("WITH d AS (DELETE FROM victim RETURNING x) SELECT x FROM d"), one("x", schema.Int),
			`postgres query: ERROR: DECLARE CURSOR must not contain data-modifying statements in WITH (SQLSTATE 0A000)`, -1, ""},
		{"function that inserts", q("SELECT write_victim() AS x"), one("x", schema.Int),
			`postgres query: reading from row 1: ERROR: cannot execute INSERT in a read-only transaction (SQLSTATE 25006)`, -1, ""},
		{"nextval", q("SELECT nextval('victim_seq')::int AS x"), one("x", schema.Int),
			`postgres query: reading from row 1: ERROR: cannot execute nextval() in a read-only transaction (SQLSTATE 25006)`, -1, ""},
		{"bad SQL", q("SELECT nope FROM loans"), one("nope", schema.Int),
			`postgres query: ERROR: column "nope" does not exist (SQLSTATE 42703)`, -1, ""},
		{"parameter", q("SELECT $1::int AS x"), one("x", schema.Int),
			"postgres query: takes parameters ($1), which a Source cannot give", -1, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			src := tc.src
			if tc.desc == "null date with key" {
				src.Key = "loan_id" // its value comes after the bad one: still shown
				tc.err = `postgres query: row 1 (loan_id "N3"): column issued: null value; the schema has no nulls`
			}
			_, _, err := read(t, conn, src, tc.s, postgres.Options{})
			require.EqualError(t, err, tc.err)
			var e *postgres.Error
			if tc.row < 0 {
				require.False(t, errors.As(err, &e), "not an *Error")
			} else {
				require.ErrorAs(t, err, &e)
				require.Equal(t, tc.row, e.Row)
				require.Equal(t, tc.column, e.Column)
			}
			require.Equal(t, byte('I'), conn.PgConn().TxStatus(), "rolled back")
		})
	}
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM victim").Scan(&n))
	require.Equal(t, 1, n, "victim untouched")
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_sequences WHERE sequencename = 'victim_seq' AND last_value IS NULL").Scan(&n))
	require.Equal(t, 1, n, "victim_seq untouched")
}

// TestPartialBatch checks that an error in the second batch comes after
// the first, and that Rows counts the good rows before the bad one.
func TestPartialBatch(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
	}}
	r, err := postgres.NewReader(context.Background(), conn, postgres.Source{Table: "public.overdrawn"}, s, postgres.Options{})
	require.NoError(t, err)
	b, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, 8192, b.Len)
	_, err = r.Next()
	var e *postgres.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, &postgres.Error{Source: "table public.overdrawn", Row: 8209, KeyColumn: "loan_id", Key: `"L08208"`, Column: "amount",
		Err: &schema.ValueError{Column: "amount", Reason: "12000000000 is outside the declared bounds [0, 1000000000]"},
		Msg: "12000000000 is outside the declared bounds [0, 1000000000]"}, e)
	require.Equal(t, int64(8208), r.Rows())
	require.Equal(t, byte('T'), conn.PgConn().TxStatus(), "in the transaction until Close")
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "Close twice")
	require.Equal(t, byte('I'), conn.PgConn().TxStatus())
	_, again := r.Next()
	require.Equal(t, err, again, "Next after an error and Close")
}

func TestClose(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{{Name: "n", Type: schema.Int, Min: i64(1), Max: i64(10007)}, {Name: "s", Type: schema.String}}}
	r, err := postgres.NewReader(context.Background(), conn, postgres.Source{Table: "many"}, s, postgres.Options{BatchSize: 10})
	require.NoError(t, err)
	_, err = r.Next()
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	_, err = r.Next()
	require.EqualError(t, err, "postgres: Next after Close")
	require.Equal(t, byte('I'), conn.PgConn().TxStatus())

	// A reader needs a transaction of its own.
	ctx := context.Background()
	_, err = conn.Exec(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = postgres.NewReader(ctx, conn, postgres.Source{Table: "many"}, s, postgres.Options{})
	require.EqualError(t, err, "postgres table many: the connection is in a transaction (status 'T'); the reader needs one of its own")
	_, err = conn.Exec(ctx, "ROLLBACK")
	require.NoError(t, err)

	// Options and schema are checked first.
	_, err = postgres.NewReader(ctx, conn, postgres.Source{Table: "many"}, s, postgres.Options{BatchSize: -1})
	require.EqualError(t, err, "postgres: BatchSize is -1, want 0 (the default) to 2147483647")
	_, err = postgres.NewReader(ctx, conn, postgres.Source{Table: "many"}, s, postgres.Options{BatchSize: math.MaxInt32 + 1})
	require.EqualError(t, err, "postgres: BatchSize is 2147483648, want 0 (the default) to 2147483647")
	_, err = postgres.NewReader(ctx, conn, postgres.Source{Table: "many"}, &schema.Schema{}, postgres.Options{})
	require.EqualError(t, err, "postgres: schema: no columns")
}

// TestCancel checks that a canceled context stops the read, and that Close
// still ends the transaction when the connection survives.
func TestCancel(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{{Name: "n", Type: schema.Int, Min: i64(1), Max: i64(10007)}, {Name: "s", Type: schema.String}}}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := postgres.NewReader(ctx, conn, postgres.Source{Table: "many"}, s, postgres.Options{BatchSize: 10})
	require.NoError(t, err)
	_, err = r.Next()
	require.NoError(t, err)
	cancel()
	_, err = r.Next()
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, r.Close())
	require.Equal(t, byte('I'), conn.PgConn().TxStatus())
	_, err = conn.Exec(context.Background(), "SELECT 1")
	require.NoError(t, err)
}

// TestEncoding checks that values come in UTF-8 whatever the connection's
// client_encoding, which Close gives back, and that a database that does
// not check its text (SQL_ASCII) cannot pass bytes that are not UTF-8.
func TestEncoding(t *testing.T) {
	conn := connect(t)
	ctx := context.Background()
	for _, sql := range []string{
		"DROP DATABASE IF EXISTS latin1", // from a run before, with -count
		"DROP DATABASE IF EXISTS sqlascii",
		"CREATE DATABASE latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
		"CREATE DATABASE sqlascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
	} {
		_, err := conn.Exec(ctx, sql)
		require.NoError(t, err)
	}
	url := pgtest.Shared(t)
	open := func(db, params string) *pgx.Conn {
		cfg, err := pgx.ParseConfig(strings.Replace(url, "/postgres?", "/"+db+"?", 1) + params)
		require.NoError(t, err)
		c, err := pgx.ConnectConfig(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	s := &schema.Schema{Columns: []schema.Column{{Name: "s", Type: schema.String, MaxLen: 20}}}

	// A client_encoding of LATIN1 cannot carry 中文; the reader's can.
	latin := open("postgres", "&client_encoding=LATIN1")
	require.Equal(t, "LATIN1", latin.PgConn().ParameterStatus("client_encoding"))
	b, _, err := read(t, latin, postgres.Source{Query: "SELECT '中文 é' AS s"}, s, postgres.Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"中文 é"}, b.Cols[0].Strs)
	require.Equal(t, "LATIN1", latin.PgConn().ParameterStatus("client_encoding"), "given back")

	// A LATIN1 database's text comes in UTF-8: é is 2 bytes.
	l1 := open("latin1", "")
	_, err = l1.Exec(ctx, "CREATE TABLE t (s text); INSERT INTO t VALUES (chr(233))")
	require.NoError(t, err)
	b, _, err = read(t, l1, postgres.Source{Table: "t"}, s, postgres.Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"é"}, b.Cols[0].Strs)

	// SQL_ASCII stores any byte, but the server checks text it converts
	// to UTF-8 (decode_test.go checks the reader's own check).
	ascii := open("sqlascii", "")
	_, err = ascii.Exec(ctx, `CREATE TABLE t (s text); INSERT INTO t VALUES ('ok'), (E'bad\xff')`)
	require.NoError(t, err)
	_, _, err = read(t, ascii, postgres.Source{Table: "t"}, s, postgres.Options{})
	require.EqualError(t, err, `postgres table t: reading from row 2: ERROR: invalid byte sequence for encoding "UTF8": 0xff (SQLSTATE 22021)`)
}

// TestRowLimit checks that a row larger than the schema allows is refused
// before it is buffered whole.
func TestRowLimit(t *testing.T) {
	conn := connect(t)
	s := &schema.Schema{Columns: []schema.Column{{Name: "s", Type: schema.String, MaxLen: 10}}}
	r, err := postgres.NewReader(context.Background(), conn, postgres.Source{Query: "SELECT 'x' AS s UNION ALL SELECT repeat('x', 2000000)"}, s, postgres.Options{})
	require.NoError(t, err)
	_, err = r.Next()
	require.EqualError(t, err, "postgres query: row 2: row of 2000006 bytes is larger than the schema allows (1048576): a string is longer than its max_len (pgx closed the connection)")
	require.NoError(t, r.Close())
	require.True(t, conn.IsClosed())

	// Within the limit, the string is refused for its length.
	conn = connect(t)
	_, _, err = read(t, conn, postgres.Source{Query: "SELECT repeat('x', 1000000) AS s"}, s, postgres.Options{})
	require.EqualError(t, err, "postgres query: row 1: column s: string of 1000000 bytes is longer than max_len 10")
}
