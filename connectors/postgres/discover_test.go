package postgres_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/postgres"
	"github.com/xjdata/cleanroom/schema"
)

func TestDiscover(t *testing.T) {
	conn := connect(t)
	ctx := context.Background()
	longest := 0
	for _, s := range []string{"福建省绿色能源科技有限公司", "北京物流 🚚 有限公司", "", "Zoë \"quoted\", e\u0301 and a comma"} {
		longest = max(longest, len(s))
	}
	for _, tc := range []struct {
		desc string
		src  postgres.Source
		want []schema.Column
	}{
		{"loans", postgres.Source{Table: "loans"}, []schema.Column{
			{Name: "loan_id", Type: schema.String, MaxLen: 5},
			{Name: "uscc", Type: schema.String, MaxLen: 18}, // ABC and its 15 blanks
			{Name: "borrower", Type: schema.String, MaxLen: longest},
			{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
			{Name: "rate_bp", Type: schema.Int, Min: i64(0), Max: i64(2000)},
			{Name: "term", Type: schema.Int, Min: i64(1), Max: i64(360)},
			{Name: "green", Type: schema.Bool},
			{Name: "issued", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
		}},
		{"extremes", postgres.Source{Table: "public.extremes"}, []schema.Column{
			{Name: "id", Type: schema.Int, Min: i64(1), Max: i64(3)},
			{Name: "i2", Type: schema.Int, Min: i64(math.MinInt16), Max: i64(math.MaxInt16)},
			{Name: "i4", Type: schema.Int, Min: i64(math.MinInt32), Max: i64(math.MaxInt32)},
			{Name: "i8", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)},
			{Name: "b", Type: schema.Bool},
			{Name: "d", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
			{Name: "s", Type: schema.String, MaxLen: len("Ünïcödé 中文 🌱")},
		}},
		{"empty table: the types' ranges", postgres.Source{Table: "empty"}, []schema.Column{
			{Name: "n", Type: schema.Int, Min: i64(math.MinInt32), Max: i64(math.MaxInt32)},
			{Name: "s", Type: schema.String},
			{Name: "d", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
			{Name: "ok", Type: schema.Bool},
		}},
		{"query", postgres.Source{Query: "SELECT loan_id AS id, amount * 2 AS double_amount, 1::smallint AS one FROM loans WHERE green -- the green ones\n;\n"}, []schema.Column{
			{Name: "id", Type: schema.String, MaxLen: 5},
			{Name: "double_amount", Type: schema.Int, Min: i64(0), Max: i64(3000000)},
			{Name: "one", Type: schema.Int, Min: i64(1), Max: i64(1)},
		}},
		{"only bools", postgres.Source{Query: "SELECT true AS yes"}, []schema.Column{{Name: "yes", Type: schema.Bool}}},
		{"quoted name", postgres.Source{Table: "Loans 2025"}, []schema.Column{
			{Name: "loan_id", Type: schema.String, MaxLen: 2},
			{Name: "amount", Type: schema.Int, Min: i64(11), Max: i64(11)},
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := postgres.Discover(ctx, conn, tc.src)
			require.NoError(t, err)
			require.Equal(t, &schema.Schema{Columns: tc.want}, s)
			require.Equal(t, byte('I'), conn.PgConn().TxStatus(), "rolled back")
			// What Discover finds, the reader reads.
			_, _, err = read(t, conn, tc.src, s, postgres.Options{})
			require.NoError(t, err)
		})
	}

	for _, tc := range []struct {
		desc string
		src  postgres.Source
		err  string
	}{
		{"infinity", postgres.Source{Table: "dates"}, "postgres table dates: column d: holds -infinity, which no date column can (the reader refuses it)"},
		{"numeric", postgres.Source{Table: "wrong_types"}, "postgres table wrong_types: column amount: type numeric(12,0) is not read as any schema type (want smallint, integer, bigint, boolean, date, text, character varying or character)"},
		{"name not valid", postgres.Source{Query: `SELECT 1 AS "Amount"`}, `postgres query: result column "Amount" is not a valid schema column name (want a lower-case letter, then letters, digits or _; rename it with AS in a Query)`},
		{"name twice", postgres.Source{Query: "SELECT 1 AS a, 2 AS a"}, `postgres query: column "a" appears twice in the result`},
		{"no table", postgres.Source{Table: "nope"}, `postgres table nope: ERROR: relation "nope" does not exist (SQLSTATE 42P01)`},
		{"delete", postgres.Source{Query: "DELETE FROM victim"}, `postgres query: want a single SELECT, VALUES or TABLE statement: ERROR: syntax error at or near "DELETE" (SQLSTATE 42601)`},
		{"function that inserts", postgres.Source{Query: "SELECT write_victim() AS x"}, `postgres query: ERROR: cannot execute INSERT in a read-only transaction (SQLSTATE 25006)`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := postgres.Discover(ctx, conn, tc.src)
			require.EqualError(t, err, tc.err)
			require.Equal(t, byte('I'), conn.PgConn().TxStatus(), "rolled back")
		})
	}
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM victim").Scan(&n))
	require.Equal(t, 1, n, "victim untouched")
}
