package query

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/schema"
)

// The allowed queries of SCENARIO.md, exactly as written there.
const (
	scenarioQuery1 = "SELECT r.industry, AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry"
	scenarioQuery2 = "SELECT r.region, l.green, SUM(e.kwh) FROM loans l JOIN registry r ON l.uscc = r.uscc JOIN electricity e ON e.uscc = r.uscc WHERE e.month = '2025-06' GROUP BY r.region, l.green"
)

func col(table, name string, t schema.Type) Column { return Column{Table: table, Name: name, Type: t} }

func colp(table, name string, t schema.Type) *Column {
	c := col(table, name, t)
	return &c
}

var (
	loansUSCC     = col("loans", "uscc", schema.String)
	loansAmount   = col("loans", "amount", schema.Int)
	loansGreen    = col("loans", "green", schema.Bool)
	registryUSCC  = col("registry", "uscc", schema.String)
	registryInd   = col("registry", "industry", schema.String)
	registryReg   = col("registry", "region", schema.String)
	electricUSCC  = col("electricity", "uscc", schema.String)
	electricMonth = col("electricity", "month", schema.String)
)

func TestCompileScenario(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want *Plan
	}{{
		sql: scenarioQuery1,
		want: &Plan{
			Tables:  []Table{{Name: "loans", Alias: "l"}, {Name: "registry", Alias: "r"}},
			Joins:   []Join{{Left: loansUSCC, Right: registryUSCC}},
			GroupBy: []Column{registryInd},
			Outputs: []Output{
				{Name: "r.industry", Column: colp("registry", "industry", schema.String)},
				{Name: "AVG(l.amount)", Func: Avg, Column: colp("loans", "amount", schema.Int)},
			},
		},
	}, {
		sql: scenarioQuery2,
		want: &Plan{
			Tables: []Table{{Name: "loans", Alias: "l"}, {Name: "registry", Alias: "r"}, {Name: "electricity", Alias: "e"}},
			// The second ON is written e.uscc = r.uscc: Right is normalised
			// to the joined table's column.
			Joins: []Join{
				{Left: loansUSCC, Right: registryUSCC},
				{Left: registryUSCC, Right: electricUSCC},
			},
			Filters: []Filter{{Column: electricMonth, Op: OpEQ, Value: Value{Str: "2025-06"}}},
			GroupBy: []Column{registryReg, loansGreen},
			Outputs: []Output{
				{Name: "r.region", Column: colp("registry", "region", schema.String)},
				{Name: "l.green", Column: colp("loans", "green", schema.Bool)},
				{Name: "SUM(e.kwh)", Func: Sum, Column: colp("electricity", "kwh", schema.Int)},
			},
		},
	}} {
		t.Run(tc.sql, func(t *testing.T) {
			got, err := Compile(tc.sql, testCatalog)
			require.NoError(t, err)
			tc.want.SQL = tc.sql
			require.Equal(t, tc.want, got)
			_, rowLevel := got.RowLevel()
			require.False(t, rowLevel)
		})
	}
}

func date(s string) int64 {
	d, ok := schema.ParseDate(s)
	if !ok {
		panic(s)
	}
	return d
}

func TestCompile(t *testing.T) {
	for _, tc := range []struct {
		desc string
		sql  string
		want Plan // SQL is filled in
	}{{
		desc: "star",
		sql:  "SELECT * FROM loans",
		want: Plan{Tables: []Table{{Name: "loans"}}, Star: true},
	}, {
		desc: "qualified star with an aggregate",
		sql:  "select l.*, count(*) from loans as l",
		want: Plan{Tables: []Table{{Name: "loans", Alias: "l"}}, Star: true,
			Outputs: []Output{{Name: "COUNT(*)", Func: Count}}},
	}, {
		desc: "row-level column",
		sql:  "SELECT borrower_name FROM loans",
		want: Plan{Tables: []Table{{Name: "loans"}},
			Outputs: []Output{{Name: "borrower_name", Column: colp("loans", "borrower_name", schema.String)}}},
	}, {
		desc: "aggregates, aliases, case and backquotes",
		sql:  "Select Count(*) AS n, COUNT(L.Loan_ID), sum( `l`.`amount` ) total, Avg(rate_bp) As Rate FROM `LOANS` L;",
		want: Plan{Tables: []Table{{Name: "loans", Alias: "l"}}, Outputs: []Output{
			{Name: "n", Func: Count},
			{Name: "COUNT(l.loan_id)", Func: Count, Column: colp("loans", "loan_id", schema.String)},
			{Name: "total", Func: Sum, Column: colp("loans", "amount", schema.Int)},
			{Name: "Rate", Func: Avg, Column: colp("loans", "rate_bp", schema.Int)},
		}},
	}, {
		desc: "COUNT of any type",
		sql:  "SELECT COUNT(green), COUNT(founded) FROM loans JOIN registry ON loans.uscc = registry.uscc",
		want: Plan{
			Tables: []Table{{Name: "loans"}, {Name: "registry"}},
			Joins:  []Join{{Left: loansUSCC, Right: registryUSCC}},
			Outputs: []Output{
				{Name: "COUNT(green)", Func: Count, Column: colp("loans", "green", schema.Bool)},
				{Name: "COUNT(founded)", Func: Count, Column: colp("registry", "founded", schema.Date)},
			}},
	}, {
		desc: "INNER JOIN, written the other way round, bare unique columns",
		sql:  "SELECT industry, SUM(amount) FROM registry r INNER JOIN loans l ON l.uscc = r.uscc GROUP BY industry",
		want: Plan{
			Tables:  []Table{{Name: "registry", Alias: "r"}, {Name: "loans", Alias: "l"}},
			Joins:   []Join{{Left: registryUSCC, Right: loansUSCC}},
			GroupBy: []Column{registryInd},
			Outputs: []Output{
				{Name: "industry", Column: colp("registry", "industry", schema.String)},
				{Name: "SUM(amount)", Func: Sum, Column: colp("loans", "amount", schema.Int)},
			}},
	}, {
		desc: "join on columns other than the key, parentheses",
		sql:  "SELECT COUNT(*) FROM (loans l JOIN registry r ON (r.uscc = l.uscc))",
		want: Plan{
			Tables:  []Table{{Name: "loans", Alias: "l"}, {Name: "registry", Alias: "r"}},
			Joins:   []Join{{Left: loansUSCC, Right: registryUSCC}},
			Outputs: []Output{{Name: "COUNT(*)", Func: Count}}},
	}, {
		desc: "every operator, flipped literals",
		sql:  "SELECT COUNT(*) FROM loans WHERE amount = 1 AND amount <> 2 AND amount != 3 AND amount < 4 AND amount <= 5 AND amount > 6 AND amount >= 7 AND 8 < amount AND 9 <= amount AND 10 > amount AND 11 >= amount AND 12 = amount AND 13 <> amount",
		want: Plan{Tables: []Table{{Name: "loans"}}, Outputs: []Output{{Name: "COUNT(*)", Func: Count}},
			Filters: []Filter{
				{Column: loansAmount, Op: OpEQ, Value: Value{Int: 1}},
				{Column: loansAmount, Op: OpNE, Value: Value{Int: 2}},
				{Column: loansAmount, Op: OpNE, Value: Value{Int: 3}},
				{Column: loansAmount, Op: OpLT, Value: Value{Int: 4}},
				{Column: loansAmount, Op: OpLE, Value: Value{Int: 5}},
				{Column: loansAmount, Op: OpGT, Value: Value{Int: 6}},
				{Column: loansAmount, Op: OpGE, Value: Value{Int: 7}},
				{Column: loansAmount, Op: OpGT, Value: Value{Int: 8}},
				{Column: loansAmount, Op: OpGE, Value: Value{Int: 9}},
				{Column: loansAmount, Op: OpLT, Value: Value{Int: 10}},
				{Column: loansAmount, Op: OpLE, Value: Value{Int: 11}},
				{Column: loansAmount, Op: OpEQ, Value: Value{Int: 12}},
				{Column: loansAmount, Op: OpNE, Value: Value{Int: 13}},
			}},
	}, {
		desc: "literals of every type, bounds not applied",
		sql: "SELECT COUNT(*) FROM loans l JOIN registry r ON l.uscc = r.uscc WHERE (l.amount > -5 AND l.rate_bp < 99999) " +
			"AND ((l.green = TRUE)) AND l.green <> false AND l.green = 1 AND l.green != 0 AND r.region = \"乌鲁木齐\" " +
			"AND r.name = 'O''Brien' AND r.founded >= '2020-01-01' AND r.founded < DATE '2021-01-01' " +
			"AND l.amount >= -9223372036854775808 AND l.amount <= 9223372036854775807 AND l.amount = +7",
		want: Plan{
			Tables:  []Table{{Name: "loans", Alias: "l"}, {Name: "registry", Alias: "r"}},
			Joins:   []Join{{Left: loansUSCC, Right: registryUSCC}},
			Outputs: []Output{{Name: "COUNT(*)", Func: Count}},
			Filters: []Filter{
				{Column: loansAmount, Op: OpGT, Value: Value{Int: -5}},
				{Column: col("loans", "rate_bp", schema.Int), Op: OpLT, Value: Value{Int: 99999}},
				{Column: loansGreen, Op: OpEQ, Value: Value{Int: 1}},
				{Column: loansGreen, Op: OpNE, Value: Value{Int: 0}},
				{Column: loansGreen, Op: OpEQ, Value: Value{Int: 1}},
				{Column: loansGreen, Op: OpNE, Value: Value{Int: 0}},
				{Column: registryReg, Op: OpEQ, Value: Value{Str: "乌鲁木齐"}},
				{Column: col("registry", "name", schema.String), Op: OpEQ, Value: Value{Str: "O'Brien"}},
				{Column: col("registry", "founded", schema.Date), Op: OpGE, Value: Value{Int: date("2020-01-01")}},
				{Column: col("registry", "founded", schema.Date), Op: OpLT, Value: Value{Int: date("2021-01-01")}},
				{Column: loansAmount, Op: OpGE, Value: Value{Int: -9223372036854775808}},
				{Column: loansAmount, Op: OpLE, Value: Value{Int: 9223372036854775807}},
				{Column: loansAmount, Op: OpEQ, Value: Value{Int: 7}},
			}},
	}, {
		desc: "group by select alias, repeated group, plain column outside the group",
		sql:  "SELECT l.green AS g, amount, COUNT(*) FROM loans l GROUP BY g, l.green, green",
		want: Plan{Tables: []Table{{Name: "loans", Alias: "l"}},
			GroupBy: []Column{loansGreen},
			Outputs: []Output{
				{Name: "g", Column: colp("loans", "green", schema.Bool)},
				{Name: "amount", Column: colp("loans", "amount", schema.Int)},
				{Name: "COUNT(*)", Func: Count},
			}},
	}, {
		desc: "group by column wins over an alias of the same name",
		sql:  "SELECT region AS industry, COUNT(*) FROM registry GROUP BY industry",
		want: Plan{Tables: []Table{{Name: "registry"}},
			GroupBy: []Column{registryInd},
			Outputs: []Output{
				{Name: "industry", Column: colp("registry", "region", schema.String)},
				{Name: "COUNT(*)", Func: Count},
			}},
	}, {
		desc: "MySQL forms: COUNT(ALL), N'', adjacent strings, executable comment",
		sql:  "SELECT COUNT(ALL amount) FROM loans WHERE borrower_name = N'x' AND loan_id = 'a' \"b\" /*! AND green = 1 */",
		want: Plan{Tables: []Table{{Name: "loans"}},
			Filters: []Filter{
				{Column: col("loans", "borrower_name", schema.String), Op: OpEQ, Value: Value{Str: "x"}},
				{Column: col("loans", "loan_id", schema.String), Op: OpEQ, Value: Value{Str: "ab"}},
				{Column: loansGreen, Op: OpEQ, Value: Value{Int: 1}},
			},
			Outputs: []Output{{Name: "COUNT(amount)", Func: Count, Column: colp("loans", "amount", schema.Int)}}},
	}, {
		desc: "parenthesised statement, comments, SELECT ALL",
		sql:  "(SELECT ALL /* c */ COUNT(*) -- count\n FROM loans # end\n)",
		want: Plan{Tables: []Table{{Name: "loans"}}, Outputs: []Output{{Name: "COUNT(*)", Func: Count}}},
	}} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := Compile(tc.sql, testCatalog)
			require.NoError(t, err)
			tc.want.SQL = tc.sql
			require.Equal(t, &tc.want, got)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want string // the whole Error()
	}{
		{"SELECT foo FROM loans", `query: line 1, column 8: unknown column loans.foo`},
		{"SELECT l.foo FROM loans l", `query: line 1, column 8: unknown column l.foo`},
		{"SELECT uscc FROM loans l JOIN registry r ON l.uscc = r.uscc", `query: line 1, column 8: ambiguous column "uscc" (in loans, registry)`},
		{"SELECT x FROM nope", `query: line 1, column 15: unknown dataset "nope"`},
		{"SELECT a FROM loans where", `query: line 1, column 26: syntax error at end of input`},
		{"SELECT a FROM loans where x = 'abc\n  def' and )", `query: line 2, column 12: syntax error near ")"`},
		{"SELECT a FROM loans; select 2", `query: line 1, column 22: 2 statements: want exactly one SELECT statement`},
		{"", `query: empty query: want one SELECT statement`},
		{"  ", `query: empty query: want one SELECT statement`},
		{"INSERT INTO loans VALUES (1)", `query: line 1, column 1: unsupported statement INSERT: only SELECT is supported`},
		{"SELECT amount FROM loans UNION SELECT kwh FROM electricity", `query: line 1, column 26: unsupported UNION: only a single SELECT is supported`},
		{"SELECT DISTINCT amount FROM loans", `query: line 1, column 8: unsupported DISTINCT`},
		{"SELECT amount FROM loans FOR UPDATE", `query: line 1, column 26: unsupported FOR UPDATE (row locking)`},
		{"SELECT amount FROM loans LOCK IN SHARE MODE", `query: line 1, column 26: unsupported LOCK IN SHARE MODE (row locking)`},
		{"SELECT amount INTO @x FROM loans", `query: line 1, column 20: syntax error near "@x FROM loans"`},
		{"WITH x AS (SELECT 1) SELECT amount FROM loans", `query: line 1, column 1: unsupported WITH (common table expressions)`},
		{"SELECT amount FROM loans l1, registry", `query: line 1, column 30: unsupported comma join (implicit cross join): write JOIN registry ON a.x = b.y`},
		{"SELECT amount FROM loans CROSS JOIN registry", `query: line 1, column 37: unsupported CROSS JOIN: write JOIN registry ON a.x = b.y`},
		{"SELECT amount FROM loans JOIN registry", `query: line 1, column 31: unsupported JOIN without ON: write JOIN registry ON a.x = b.y`},
		{"SELECT amount FROM loans LEFT JOIN registry ON loans.uscc = registry.uscc", `query: line 1, column 26: unsupported LEFT JOIN: only inner joins (JOIN ... ON) are supported`},
		{"SELECT amount FROM loans JOIN registry USING (uscc)", `query: line 1, column 40: unsupported JOIN ... USING: write JOIN ... ON a.x = b.y`},
		{"SELECT amount FROM loans NATURAL JOIN registry", `query: line 1, column 26: unsupported NATURAL JOIN: write JOIN ... ON a.x = b.y`},
		{"SELECT count(*) FROM loans WHERE amount > 'x'", `query: line 1, column 43: cannot compare loans.amount (int) with string 'x'`},
		{"SELECT count(*) FROM loans WHERE amount > 1.5", `query: line 1, column 43: cannot compare loans.amount (int) with decimal number 1.5`},
		{"SELECT count(*) FROM registry WHERE founded >= '2020-13-01'", `query: line 1, column 48: cannot compare registry.founded (date) with '2020-13-01': not a date (want 'YYYY-MM-DD')`},
		{"SELECT count(*) FROM loans WHERE amount = 99999999999999999999999", `query: line 1, column 43: integer 99999999999999999999999 compared with loans.amount is out of the int64 range`},
		{"SELECT count(*) FROM loans WHERE amount = x'61'", `query: line 1, column 43: cannot compare loans.amount (int) with hexadecimal or bit literal 0x61`},
		{"SELECT count(*) FROM loans WHERE green = 2", `query: line 1, column 42: cannot compare loans.green (bool) with integer 2 (want TRUE, FALSE, 1 or 0)`},
		{"SELECT count(*) FROM loans WHERE amount = TRUE", `query: line 1, column 43: cannot compare loans.amount (int) with boolean TRUE`},
		{"SELECT count(*) FROM loans WHERE amount = 1 OR amount = 2", `query: line 1, column 34: unsupported OR in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE amount IN (1,2)", `query: line 1, column 34: unsupported IN list in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE amount BETWEEN 1 AND 2", `query: line 1, column 34: unsupported BETWEEN in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE NOT amount = 1", `query: line 1, column 34: unsupported NOT in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE borrower_name LIKE 'a%'", `query: line 1, column 34: unsupported LIKE in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE borrower_name IS NULL", `query: line 1, column 34: unsupported IS NULL in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE amount = rate_bp", `query: line 1, column 34: unsupported comparison of two columns (amount = rate_bp) in WHERE: compare a column with a literal`},
		{"SELECT count(*) FROM loans WHERE green", `query: line 1, column 34: unsupported bare column green in WHERE: compare it, for example green = TRUE`},
		{"SELECT count(*) FROM loans l JOIN registry r ON l.uscc = r.name JOIN electricity e ON e.kwh = l.uscc", `query: line 1, column 87: join columns loans.uscc (string) and electricity.kwh (int) have different types`},
		{"SELECT count(*) FROM loans l JOIN loans m ON l.uscc = m.uscc", `query: line 1, column 35: dataset loans appears twice in FROM: a query may read a dataset only once`},
		{"SELECT count(*) FROM loans l JOIN registry l ON l.uscc = l.uscc", `query: line 1, column 35: duplicate table name or alias "l" in FROM`},
		{"SELECT loans.amount FROM loans l", `query: line 1, column 8: unknown table "loans" in loans.amount: loans is aliased as l`},
		{"SELECT COUNT(*) AS n FROM loans l GROUP BY n", `query: line 1, column 44: cannot GROUP BY n: it is the aggregate COUNT(*)`},
		{"SELECT COUNT(*) FROM loans l GROUP BY 1", `query: line 1, column 36: unsupported GROUP BY position 1: name the column`},
		{"SELECT amount FROM db.loans", `query: line 1, column 20: unsupported schema-qualified table db.loans: name the dataset alone`},
		{"SELECT amount + 1 FROM loans", `query: line 1, column 8: unsupported operator + in select list (want grouping columns and aggregates such as COUNT(*), SUM(col), AVG(col) or MEDIAN(col))`},
		{"SELECT upper(borrower_name) FROM loans", `query: line 1, column 8: unsupported function UPPER in select list (want grouping columns and aggregates such as COUNT(*), SUM(col), AVG(col) or MEDIAN(col))`},
		{"SELECT CASE WHEN green THEN 1 END FROM loans", `query: line 1, column 8: unsupported CASE expression in select list (want grouping columns and aggregates such as COUNT(*), SUM(col), AVG(col) or MEDIAN(col))`},
		{"SELECT (SELECT 1) FROM loans", `query: line 1, column 8: unsupported subquery in select list (want grouping columns and aggregates such as COUNT(*), SUM(col), AVG(col) or MEDIAN(col))`},
		{"SELECT amount FROM (SELECT amount FROM loans) x", `query: line 1, column 21: unsupported subquery in FROM`},
		{"SELECT sum(amount) over () FROM loans", `query: line 1, column 8: unsupported window function SUM(...) OVER in select list (want grouping columns and aggregates such as COUNT(*), SUM(col), AVG(col) or MEDIAN(col))`},
		{"SELECT 1", `query: missing FROM clause: a query reads at least one dataset`},
		{"SELECT a", `query: missing FROM clause: a query reads at least one dataset`},
		{"SELECT amount FROM loans WHERE amount = ?", `query: line 1, column 41: unsupported parameter marker ? in comparison with loans.amount: write the literal`},
		{"SELECT x.* FROM loans l", `query: line 1, column 8: unknown table "x" in x.*`},
		{"SELECT count(1) FROM loans", `query: line 1, column 14: unsupported literal argument of COUNT: aggregate a column or an expression of columns`},
		{"SELECT /*+ HASH_JOIN(l) */ count(*) FROM loans l", `query: line 1, column 8: unsupported optimizer hint /*+ ... */`},
		{"SELECT SQL_NO_CACHE count(*) FROM loans l", `query: line 1, column 8: unsupported SQL_NO_CACHE`},
		{"SELECT HIGH_PRIORITY count(*) FROM loans l", `query: line 1, column 8: unsupported HIGH_PRIORITY`},
		{"SELECT count(*) FROM loans l JOIN (registry r JOIN electricity e ON r.uscc = e.uscc) ON l.uscc = r.uscc", `query: line 1, column 35: unsupported nested join in parentheses: write a chain t1 JOIN t2 ON ... JOIN t3 ON ...`},
		{"SELECT count(*) FROM loans l JOIN registry r ON l.uscc = r.uscc AND l.uscc = r.uscc", `query: line 1, column 49: unsupported AND in join condition: join on a single equality a.x = b.y`},
		{"SELECT count(*) FROM loans l JOIN registry r ON l.uscc = e.uscc JOIN electricity e ON e.uscc = l.uscc", `query: line 1, column 58: unknown table "e" in e.uscc`},
		{"SELECT count(*) FROM loans l JOIN registry r ON l.uscc = 'x'", `query: line 1, column 58: unsupported literal 'x' in join condition: both sides must be columns`},
		{"SELECT count(*) FROM loans WHERE uscc = 'x' GROUP BY green DESC", `query: line 1, column 54: unsupported ASC or DESC in GROUP BY`},
		{"SELECT count(*) FROM loans GROUP BY green WITH ROLLUP", `query: line 1, column 48: unsupported WITH ROLLUP`},
		{"SELECT count(*) FROM loans WHERE amount = NULL", `query: line 1, column 43: unsupported comparison of loans.amount with NULL (never true)`},
		{"SELECT count(*) FROM loans WHERE amount <=> 1", `query: line 1, column 34: unsupported comparison <=> in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE borrower_name = '名' AND foo = 1", `query: line 1, column 58: unknown column loans.foo`},
		{"SELECT count(*) FROM loans WHERE borrower_name = '名' AND ) foo = 1", `query: line 1, column 58: syntax error near ") foo = 1"`},
		{"SELECT count(*) FROM loans WHERE -amount = 5", `query: line 1, column 34: unsupported unary minus in WHERE comparison: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE 1 = 5", `query: line 1, column 34: unsupported comparison of two literals in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE amount = amount + 1", `query: line 1, column 43: unsupported operator + in comparison with loans.amount: compare with a literal`},
		{"SELECT amount FROM loans INTO OUTFILE '/tmp/x'", `query: line 1, column 26: unsupported INTO`},
		{"SELECT count(*) FROM loans TABLESAMPLE REGIONS()", `query: line 1, column 22: unsupported TABLESAMPLE on loans`},
		{"SELECT count(*) FROM loans PARTITION (p0)", `query: line 1, column 22: unsupported PARTITION on loans`},
		{"SELECT count(*) FROM loans USE INDEX (i)", `query: line 1, column 22: unsupported index hint on loans`},
		{"SELECT count(*) FROM loans AS OF TIMESTAMP '2020-01-01'", `query: line 1, column 22: unsupported AS OF on loans`},
		{"TABLE loans", `query: line 1, column 1: unsupported TABLE statement: only SELECT is supported`},
		{"VALUES ROW(1)", `query: line 1, column 1: unsupported VALUES statement: only SELECT is supported`},
		{"SELECT count(*) FROM loans WHERE green = 'true'", `query: line 1, column 42: cannot compare loans.green (bool) with string 'true'`},
		{"SELECT count(*) FROM loans WHERE amount = '5'", `query: line 1, column 43: cannot compare loans.amount (int) with string '5'`},
		{"SELECT count(*) FROM loans WHERE amount = 1e3", `query: line 1, column 43: cannot compare loans.amount (int) with floating-point number 1000`},
		{"SELECT count(*) FROM loans WHERE green = -1", `query: line 1, column 42: cannot compare loans.green (bool) with integer -1 (want TRUE, FALSE, 1 or 0)`},
		{"SELECT count(*) FROM loans WHERE green = -TRUE", `query: line 1, column 42: cannot compare loans.green (bool) with -TRUE`},
		{"SELECT count(*) FROM loans WHERE amount = 9223372036854775808", `query: line 1, column 43: integer 9223372036854775808 compared with loans.amount is out of the int64 range`},
		{"select count(*) from loans where borrower_name = 'x' collate utf8mb4_bin", `query: line 1, column 50: unsupported COLLATE in comparison with loans.borrower_name: compare with a literal`},
		{"select count(*) from loans where borrower_name = @x", `query: line 1, column 50: unsupported variable @x in comparison with loans.borrower_name: compare with a literal`},
		{"explain select count(*) from loans", `query: line 1, column 1: unsupported statement EXPLAIN: only SELECT is supported`},
		{"select count(*) from loans l join registry r on l.uscc = r.uscc join electricity r2 on r2.uscc = uscc", `query: line 1, column 98: ambiguous column "uscc" (in loans, registry, electricity)`},
		{"SELECT DISTINCTROW amount FROM loans", `query: line 1, column 8: unsupported DISTINCT`},
		{"SELECT amount FROM loans WINDOW w AS ()", `query: line 1, column 26: unsupported WINDOW clause`},
		{"SELECT amount FROM dual", `query: missing FROM clause: a query reads at least one dataset`},
		{"SELECT count(*) FROM loans WHERE amount = 5 XOR amount = 6", `query: line 1, column 34: unsupported XOR in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE amount = (SELECT 1)", `query: line 1, column 43: unsupported subquery in comparison with loans.amount: compare with a literal`},
		{"SELECT count(*) FROM loans WHERE EXISTS (SELECT 1)", `query: line 1, column 34: unsupported EXISTS subquery in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans WHERE green IS TRUE", `query: line 1, column 34: unsupported IS TRUE in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT count(*) FROM loans JOIN registry ON uscc = registry.uscc", `query: line 1, column 45: ambiguous column "uscc" (in loans, registry)`},
		{"SELECT count(*) FROM loans l JOIN registry r ON l.uscc = l.uscc", `query: line 1, column 49: join condition loans.uscc = loans.uscc must compare a column of registry with a column of a table before it`},
		{"SELECT count(*) FROM loans l JOIN registry r ON r.uscc = r.uscc", `query: line 1, column 49: join condition registry.uscc = registry.uscc must compare a column of registry with a column of a table before it`},
		{"SELECT foo FROM loans l JOIN registry r ON l.uscc = r.uscc", `query: line 1, column 8: unknown column "foo" (in none of loans, registry)`},
		{"SELECT amount FROM loans l WHERE l.amount > 0 GROUP BY x", `query: line 1, column 56: unknown column loans.x`},
		{"SELECT amount FROM loans l WHERE r.amount > 0", `query: line 1, column 34: unknown table "r" in r.amount`},
		{"SELECT db.loans.amount FROM loans", `query: line 1, column 8: unsupported schema-qualified column db.loans.amount`},
		{"SELECT db.loans.* FROM loans", `query: line 1, column 8: unsupported schema-qualified db.loans.*`},
		{"SELECT loans.* FROM loans l", `query: line 1, column 8: unknown table "loans" in loans.*: loans is aliased as l`},
		{"SELECT SUM(founded) FROM registry", `query: line 1, column 12: SUM needs an int or bool column: registry.founded is date`},
		{"SELECT SUM(uscc) FROM electricity", `query: line 1, column 12: SUM needs an int or bool column: electricity.uscc is string`},
		{"SELECT group_concat(borrower_name) FROM loans", `query: line 1, column 8: unsupported aggregate GROUP_CONCAT (supported: COUNT, COUNT(DISTINCT), SUM, AVG, MIN, MAX, MEDIAN, PERCENTILE, APPROX_PERCENTILE, STDDEV, VARIANCE)`},
		{"SELECT sum(distinct amount) FROM loans", `query: line 1, column 8: unsupported SUM(DISTINCT ...): only COUNT takes DISTINCT`},
		{"SELECT count(distinct amount, rate_bp) FROM loans", `query: line 1, column 8: COUNT takes one argument, got 2`},
		{"SELECT COUNT(*) FROM registry WHERE founded = 20200101", `query: line 1, column 47: cannot compare registry.founded (date) with integer 20200101`},
		{"SELECT COUNT(*) FROM registry WHERE name = 5", `query: line 1, column 44: cannot compare registry.name (string) with integer 5`},
		{"SELECT COUNT(*) FROM registry WHERE name = DATE '2020-01-01'", `query: line 1, column 44: cannot compare registry.name (string) with DATE '2020-01-01'`},
		{"SELECT COUNT(*) FROM registry WHERE founded = '2020-1-1'", `query: line 1, column 47: cannot compare registry.founded (date) with '2020-1-1': not a date (want 'YYYY-MM-DD')`},
		{"SELECT COUNT(*) FROM registry WHERE founded = DATE '2020-02-30'", `query: line 1, column 47: cannot compare registry.founded (date) with '2020-02-30': not a date (want 'YYYY-MM-DD')`},
		{"SELECT COUNT(*) FROM registry WHERE founded > -'2020-01-01'", `query: line 1, column 47: cannot compare registry.founded (date) with -'2020-01-01'`},
		{"SELECT COUNT(*) FROM loans WHERE green = 1.0", `query: line 1, column 42: cannot compare loans.green (bool) with decimal number 1.0`},
		{"SELECT COUNT(*) FROM loans WHERE amount = -9223372036854775809", `query: line 1, column 43: integer -9223372036854775809 compared with loans.amount is out of the int64 range`},
		{"SELECT COUNT(*) FROM loans WHERE borrower_name = 123456789012345678901234567890", `query: line 1, column 50: cannot compare loans.borrower_name (string) with integer 123456789012345678901234567890`},
		{"SELECT COUNT(*) FROM loans WHERE amount = b'101'", `query: line 1, column 43: cannot compare loans.amount (int) with hexadecimal or bit literal 0x05`},
		{"SELECT COUNT(*) FROM loans WHERE amount > 1 AND (amount < 5 OR amount > 9)", `query: line 1, column 50: unsupported OR in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT COUNT(*) FROM loans WHERE amount NOT IN (1)", `query: line 1, column 34: unsupported NOT IN list in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT COUNT(*) FROM loans WHERE borrower_name REGEXP 'x'", `query: line 1, column 34: unsupported REGEXP in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT COUNT(*) FROM loans WHERE borrower_name IS NOT NULL", `query: line 1, column 34: unsupported IS NOT NULL in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT COUNT(*) FROM loans WHERE amount IN (SELECT 1)", `query: line 1, column 34: unsupported IN subquery in WHERE: only comparisons of a column with a literal, joined by AND`},
		{"SELECT COUNT(*) FROM loans WHERE upper(borrower_name) = 'X'", `query: line 1, column 34: unsupported function UPPER in WHERE comparison: only comparisons of a column with a literal, joined by AND`},
		{"SELECT COUNT(*) FROM loans WHERE COUNT(*) > 1", `query: line 1, column 34: unsupported aggregate COUNT in WHERE comparison: only comparisons of a column with a literal, joined by AND`},
		{"SELECT COUNT(*) FROM loans GROUP BY amount + 1", `query: line 1, column 37: unsupported operator + in GROUP BY: group by plain columns`},
		{"SELECT COUNT(*) FROM loans GROUP BY upper(borrower_name)", `query: line 1, column 37: unsupported function UPPER in GROUP BY: group by plain columns`},
		{"SELECT COUNT(*) FROM loans l JOIN registry r ON l.uscc = r.uscc OR l.uscc = r.name", `query: line 1, column 49: unsupported OR in join condition: join on a single equality a.x = b.y`},
		{"SELECT COUNT(*) FROM loans l JOIN registry r ON l.uscc < r.uscc", `query: line 1, column 49: unsupported comparison < in join condition: want a single equality a.x = b.y`},
		{"SELECT COUNT(*) FROM loans l JOIN registry r ON l.amount = r.registered_capital", ``},
		{"SELECT COUNT(*) FROM loans l JOIN registry r ON l.green = r.founded", `query: line 1, column 49: join columns loans.green (bool) and registry.founded (date) have different types`},
		{"SELECT COUNT(*) FROM loans l RIGHT JOIN registry r ON l.uscc = r.uscc", `query: line 1, column 30: unsupported RIGHT JOIN: only inner joins (JOIN ... ON) are supported`},
		{"SELECT COUNT(*) FROM loans l STRAIGHT_JOIN registry r ON l.uscc = r.uscc", `query: line 1, column 30: unsupported STRAIGHT_JOIN: write JOIN ... ON a.x = b.y`},
		{"SELECT STRAIGHT_JOIN COUNT(*) FROM loans", `query: line 1, column 8: unsupported STRAIGHT_JOIN`},
		{"SELECT SQL_CALC_FOUND_ROWS COUNT(*) FROM loans", `query: line 1, column 8: unsupported SQL_CALC_FOUND_ROWS`},
		{"SELECT SQL_SMALL_RESULT COUNT(*) FROM loans", `query: line 1, column 8: unsupported SQL_SMALL_RESULT`},
		{"SELECT SQL_BIG_RESULT COUNT(*) FROM loans", `query: line 1, column 8: unsupported SQL_BIG_RESULT`},
		{"SELECT SQL_BUFFER_RESULT COUNT(*) FROM loans", `query: line 1, column 8: unsupported SQL_BUFFER_RESULT`},
		{"SELECT COUNT(*) FROM loans a JOIN registry A ON a.uscc = A.uscc", `query: line 1, column 35: duplicate table name or alias "a" in FROM`},
		{"SELECT COUNT(*) FROM loans registry JOIN registry ON loans.uscc = registry.uscc", `query: line 1, column 42: duplicate table name or alias "registry" in FROM`},
		{"SELECT COUNT(*) FROM loans JOIN nope ON loans.uscc = nope.uscc", `query: line 1, column 33: unknown dataset "nope"`},
		{"SELECT COUNT(*) FROM `no/../pe`", `query: line 1, column 22: unknown dataset "no/../pe"`},
		{"SELECT amount FROM loans WHERE amount > 1 UNION ALL SELECT amount FROM loans", `query: line 1, column 43: unsupported UNION ALL: only a single SELECT is supported`},
		{"SELECT amount FROM loans EXCEPT SELECT amount FROM loans", `query: line 1, column 26: unsupported EXCEPT: only a single SELECT is supported`},
		{"SELECT amount FROM loans INTERSECT SELECT amount FROM loans", `query: line 1, column 26: unsupported INTERSECT: only a single SELECT is supported`},
		{"UPDATE loans SET amount = 1", `query: line 1, column 1: unsupported statement UPDATE: only SELECT is supported`},
		{"DELETE FROM loans", `query: line 1, column 1: unsupported statement DELETE: only SELECT is supported`},
		{"DROP TABLE loans", `query: line 1, column 1: unsupported statement DROP: only SELECT is supported`},
		{";", `query: empty query: want one SELECT statement`},
		{"SELEC amount FROM loans", `query: line 1, column 1: syntax error near "SELEC amount FROM loans"`},
		{"SELECT amount FROM loans WHERE amount = 'unterminated", `query: line 1, column 41: syntax error near "'unterminated"`},
		{"SELECT amount\nFROM loans\nWHERE amount >\n", `query: line 4, column 1: syntax error at end of input`},
		{"SELECT amount FROM loans WHERE amount = 18446744073709551616", `query: line 1, column 41: integer 18446744073709551616 compared with loans.amount is out of the int64 range`},
		{"SELECT count(*) FROM loans WHERE borrower_name = '\xff'", `query: line 1, column 51: query is not valid UTF-8`},
		{"SELECT COUNT(*) FROM loans WHERE amount = 1 /* unterminated", `query: line 1, column 45: syntax error near "/* unterminated": unterminated comment`},
		{"SELECT COUNT(*) FROM loans WHERE amount = 1" + strings.Repeat("0", 90), "query: line 1, column 43: syntax error near \"1000000000000000000000000000000000000000...\": decimal literal: too many digits"},
		{"SELECT COUNT(*) FROM loans WHERE amount = 1e999", `query: syntax error: Illegal double '1e999' value found during parsing`},
		{"SELECT COUNT(*) FROM loans WHERE borrower_name = _gbk'x'", `query: syntax error: Unsupported character introducer: 'gbk'`},
		{"SELECT 1; SELECT 1; SELECT 1", `query: line 1, column 11: 3 statements: want exactly one SELECT statement`},
		{"SELECT COUNT(*) FROM registry WHERE founded = TIME '10:00:00'", `query: line 1, column 47: unsupported TIME literal in comparison with registry.founded: compare with a literal`},
		{"SELECT COUNT(*) FROM registry WHERE founded = TIMESTAMP '2020-01-01 00:00:00'", `query: line 1, column 47: unsupported TIMESTAMP literal in comparison with registry.founded: compare with a literal`},
		{"SELECT COUNT(*) FROM loans WHERE amount = CAST(1 AS SIGNED)", `query: line 1, column 43: unsupported type conversion (CAST or CONVERT) in comparison with loans.amount: compare with a literal`},
		{"SELECT COUNT(*) FROM loans WHERE borrower_name = 'x' COLLATE utf8mb4_bin", `query: line 1, column 50: unsupported COLLATE in comparison with loans.borrower_name: compare with a literal`},
		{"SELECT COUNT(*) FROM loans WHERE borrower_name = _binary X'ff'", `query: line 1, column 50: cannot compare loans.borrower_name (string) with hexadecimal or bit literal 0xff`},
		{"SELECT MATCH (borrower_name) AGAINST ('x') FROM loans", `query: line 1, column 8: unsupported MATCH ... AGAINST in select list (want grouping columns and aggregates such as COUNT(*), SUM(col), AVG(col) or MEDIAN(col))`},
		{"SELECT AVG(*) FROM loans", `query: line 1, column 12: syntax error near "*) FROM loans"`},
		{"SELECT COUNT(*) FROM loans LEFT JOIN nope ON loans.uscc = nope.uscc", `query: line 1, column 28: unsupported LEFT JOIN: only inner joins (JOIN ... ON) are supported`},
		{"SELECT COUNT(*) FROM loans, loans", `query: line 1, column 29: unsupported comma join (implicit cross join): write JOIN loans ON a.x = b.y`},
		{"SELECT `a b`, COUNT(*) FROM loans", `query: line 1, column 8: unknown column loans."a b"`},
		{"SELECT COUNT(*) FROM loans WHERE `l\nx`.amount = 1", `query: line 1, column 34: unknown table "l\nx" in "l\nx".amount`},
		{"SELECT `up per`(amount) FROM loans", `query: line 1, column 8: unsupported function "UP PER" in select list (want grouping columns and aggregates such as COUNT(*), SUM(col), AVG(col) or MEDIAN(col))`},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			p, err := Compile(tc.sql, testCatalog)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Nil(t, p)
			require.Equal(t, tc.want, err.Error())
			var qe *Error
			require.True(t, errors.As(err, &qe))
		})
	}
}

func TestUsesAndRowLevel(t *testing.T) {
	for _, tc := range []struct {
		sql      string
		uses     []ColumnUse
		star     bool
		rowLevel string // "" when not row-level
	}{{
		sql:      "SELECT * FROM loans",
		star:     true,
		rowLevel: "SELECT *",
	}, {
		sql:      "SELECT borrower_name FROM loans",
		uses:     []ColumnUse{{Column: col("loans", "borrower_name", schema.String), Use: UseOutput}},
		rowLevel: "column loans.borrower_name outside GROUP BY",
	}, {
		sql: "SELECT r.uscc, COUNT(*) FROM registry r GROUP BY r.uscc",
		uses: []ColumnUse{
			{Column: registryUSCC, Use: UseGroupBy},
		},
	}, {
		sql: "SELECT l.green, l.amount, COUNT(*) FROM loans l WHERE l.amount > 0 GROUP BY l.green",
		uses: []ColumnUse{
			{Column: loansAmount, Use: UseFilter},
			{Column: loansGreen, Use: UseGroupBy},
			{Column: loansAmount, Use: UseOutput},
		},
		rowLevel: "column loans.amount outside GROUP BY",
	}, {
		sql: scenarioQuery1,
		uses: []ColumnUse{
			{Column: loansUSCC, Use: UseJoinKey},
			{Column: registryUSCC, Use: UseJoinKey},
			{Column: registryInd, Use: UseGroupBy},
			{Column: loansAmount, Use: UseAggregate, Func: Avg},
		},
	}, {
		sql: scenarioQuery2,
		uses: []ColumnUse{
			{Column: loansUSCC, Use: UseJoinKey},
			{Column: registryUSCC, Use: UseJoinKey},
			{Column: electricUSCC, Use: UseJoinKey},
			{Column: electricMonth, Use: UseFilter},
			{Column: registryReg, Use: UseGroupBy},
			{Column: loansGreen, Use: UseGroupBy},
			{Column: col("electricity", "kwh", schema.Int), Use: UseAggregate, Func: Sum},
		},
	}} {
		t.Run(tc.sql, func(t *testing.T) {
			p, err := Compile(tc.sql, testCatalog)
			require.NoError(t, err)
			require.Equal(t, tc.star, p.Star)
			require.Equal(t, tc.uses, p.Uses())
			why, rowLevel := p.RowLevel()
			require.Equal(t, tc.rowLevel != "", rowLevel)
			require.Equal(t, tc.rowLevel, why)
		})
	}
}

// TestPlanOwnsItsStrings checks that a plan does not share memory with
// the pooled parser, which the next Compile reuses.
func TestPlanOwnsItsStrings(t *testing.T) {
	p, err := Compile("SELECT COUNT(*) AS `n\\x` FROM loans WHERE borrower_name = 'a\\'b'", testCatalog)
	require.NoError(t, err)
	for range 10 {
		_, err := Compile("SELECT COUNT(*) AS `m\\y` FROM loans WHERE borrower_name = 'c\\'d'", testCatalog)
		require.NoError(t, err)
	}
	require.Equal(t, `n\x`, p.Outputs[0].Name)
	require.Equal(t, "a'b", p.Filters[0].Value.Str)
}

func TestErrorString(t *testing.T) {
	require.Equal(t, `query: unknown dataset "x"`, (&Error{Msg: `unknown dataset "x"`}).Error())
	require.Equal(t, "query: line 1, column 8: unknown column l.foo", (&Error{Line: 1, Column: 8, Msg: "unknown column l.foo"}).Error())
}

func TestMaxSQLBytes(t *testing.T) {
	pad := func(n int) string {
		q := "SELECT COUNT(*) FROM loans "
		return q + strings.Repeat(" ", n-len(q))
	}
	p, err := Compile(pad(MaxSQLBytes), testCatalog)
	require.NoError(t, err)
	require.Len(t, p.SQL, MaxSQLBytes)

	_, err = Compile(pad(MaxSQLBytes+1), testCatalog)
	require.EqualError(t, err, fmt.Sprintf("query: query of %d bytes is longer than the limit of %d bytes", MaxSQLBytes+1, MaxSQLBytes))
}

// TestSyntaxErrorLongTail checks the position when TiDB truncates the text
// it quotes (past 2048 bytes) and the quote's shortening.
func TestSyntaxErrorLongTail(t *testing.T) {
	sql := "SELECT COUNT(*) FROM loans WHERE amount = 1 AND AND amount = 2" + strings.Repeat(" AND amount = 3", 300)
	_, err := Compile(sql, testCatalog)
	require.EqualError(t, err, `query: line 1, column 49: syntax error near "AND amount = 2 AND amount = 3 AND amount..."`)
}

func TestCatalogs(t *testing.T) {
	_, err := Compile("SELECT COUNT(*) FROM loans", nil)
	require.EqualError(t, err, "query: no catalog to resolve datasets against")

	var asked []string
	cat := CatalogFunc(func(name string) (*schema.Schema, bool) {
		asked = append(asked, name)
		if name == "broken" {
			return nil, true // a nil schema is an unknown dataset
		}
		return testCatalog(name)
	})
	_, err = Compile("SELECT COUNT(*) FROM broken", cat)
	require.EqualError(t, err, `query: line 1, column 22: unknown dataset "broken"`)
	// Invalid names never reach the catalog.
	_, err = Compile("SELECT COUNT(*) FROM `../etc/passwd`", cat)
	require.EqualError(t, err, `query: line 1, column 22: unknown dataset "../etc/passwd"`)
	_, err = Compile("SELECT COUNT(*) FROM LOANS", cat)
	require.NoError(t, err)
	require.Equal(t, []string{"broken", "loans"}, asked)
}

func TestCompileConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				sql := scenarioQuery2
				if (i+j)%3 == 0 {
					sql = "SELECT a FROM loans WHERE" // a syntax error
				}
				p, err := Compile(sql, testCatalog)
				if sql == scenarioQuery2 {
					if err != nil || len(p.Joins) != 2 {
						t.Errorf("Compile(%q) = %v, %v", sql, p, err)
					}
				} else if err == nil {
					t.Errorf("Compile(%q) succeeded", sql)
				}
			}
		}()
	}
	wg.Wait()
}

func ExampleCompile() {
	plan, err := Compile("SELECT r.industry, AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry", testCatalog)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, u := range plan.Uses() {
		fmt.Println(u)
	}
	for _, o := range plan.Outputs {
		fmt.Println("output", o.Name)
	}

	_, err = Compile("SELECT GROUP_CONCAT(l.loan_id) FROM loans l", testCatalog)
	fmt.Println(err)
	// Output:
	// loans.uscc (join-key)
	// registry.uscc (join-key)
	// registry.industry (group-by)
	// loans.amount (AVG)
	// output r.industry
	// output AVG(l.amount)
	// query: line 1, column 8: unsupported aggregate GROUP_CONCAT (supported: COUNT, COUNT(DISTINCT), SUM, AVG, MIN, MAX, MEDIAN, PERCENTILE, APPROX_PERCENTILE, STDDEV, VARIANCE)
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(scenarioQuery2, testCatalog); err != nil {
			b.Fatal(err)
		}
	}
}
