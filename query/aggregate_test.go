package query

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/schema"
)

var (
	loansRate   = col("loans", "rate_bp", schema.Int)
	loansGreenC = col("loans", "green", schema.Bool)
)

func lit(units int64, scale int) *Expr {
	return &Expr{Kind: ExprLiteral, Value: &Decimal{Units: units, Scale: scale}}
}

func colExpr(c Column) *Expr { return &Expr{Kind: ExprColumn, Column: &c} }

func TestCompileAggregates(t *testing.T) {
	amount := colp("loans", "amount", schema.Int)
	for _, tc := range []struct {
		sql  string
		want []Output
	}{
		{"SELECT COUNT(DISTINCT l.uscc), MIN(amount), MAX(amount), MEDIAN(amount) FROM loans l", []Output{
			{Name: "COUNT(DISTINCT l.uscc)", Func: CountDistinct, Column: colp("loans", "uscc", schema.String)},
			{Name: "MIN(amount)", Func: Min, Column: amount},
			{Name: "MAX(amount)", Func: Max, Column: amount},
			{Name: "MEDIAN(amount)", Func: Median, Column: amount},
		}},
		{"SELECT PERCENTILE(amount, 0.9), APPROX_PERCENTILE(amount, 25), STDDEV(amount), STD(amount), VARIANCE(amount), VAR_POP(amount) FROM loans", []Output{
			{Name: "PERCENTILE(amount, 0.9)", Func: Percentile, Column: amount, Rank: 0.9},
			{Name: "APPROX_PERCENTILE(amount, 25)", Func: Percentile, Column: amount, Rank: 0.25},
			{Name: "STDDEV(amount)", Func: Stddev, Column: amount},
			{Name: "STD(amount)", Func: Stddev, Column: amount},
			{Name: "VARIANCE(amount)", Func: Variance, Column: amount},
			{Name: "VAR_POP(amount)", Func: Variance, Column: amount},
		}},
		{"SELECT SUM(green), AVG(l.green) FROM loans l", []Output{
			{Name: "SUM(green)", Func: Sum, Column: colp("loans", "green", schema.Bool)},
			{Name: "AVG(l.green)", Func: Avg, Column: colp("loans", "green", schema.Bool)},
		}},
		{"SELECT SUM(amount * rate_bp / 10000) AS interest FROM loans", []Output{
			{Name: "interest", Func: Sum, Arg: &Expr{Kind: ExprDiv, Value: &Decimal{Units: 10000},
				Args: []*Expr{{Kind: ExprMul, Args: []*Expr{colExpr(loansAmount), colExpr(loansRate)}}}}},
		}},
		{"SELECT AVG(CASE WHEN green THEN amount END), SUM(CASE WHEN rate_bp >= 500 AND NOT green THEN 1 ELSE 0 END) FROM loans", []Output{
			{Name: "AVG(CASE WHEN green THEN amount END)", Func: Avg, Arg: &Expr{Kind: ExprCase, When: []When{{
				If:   &Cond{Kind: CondCompare, Filter: &Filter{Column: loansGreenC, Op: OpEQ, Value: Value{Int: 1}}},
				Then: colExpr(loansAmount)}}}},
			{Name: "SUM(CASE WHEN rate_bp >= 500 AND NOT green THEN 1 ELSE 0 END)", Func: Sum, Arg: &Expr{Kind: ExprCase, When: []When{{
				If: &Cond{Kind: CondAnd, Args: []*Cond{
					{Kind: CondCompare, Filter: &Filter{Column: loansRate, Op: OpGE, Value: Value{Int: 500}}},
					{Kind: CondNot, Args: []*Cond{{Kind: CondCompare, Filter: &Filter{Column: loansGreenC, Op: OpEQ, Value: Value{Int: 1}}}}},
				}},
				Then: lit(1, 0)}}, Else: lit(0, 0)}},
		}},
		{"SELECT SUM(CASE green WHEN TRUE THEN -amount ELSE amount * 0.5 END) FROM loans", []Output{
			{Name: "SUM(CASE green WHEN TRUE THEN -amount ELSE amount * 0.5 END)", Func: Sum, Arg: &Expr{Kind: ExprCase, When: []When{{
				If:   &Cond{Kind: CondCompare, Filter: &Filter{Column: loansGreenC, Op: OpEQ, Value: Value{Int: 1}}},
				Then: &Expr{Kind: ExprNeg, Args: []*Expr{colExpr(loansAmount)}}}},
				Else: &Expr{Kind: ExprMul, Args: []*Expr{colExpr(loansAmount), lit(5, 1)}}}},
		}},
		{"SELECT COUNT(CASE WHEN amount > 10 OR rate_bp < 5 THEN 1 END) FROM loans", []Output{
			{Name: "COUNT(CASE WHEN amount > 10 OR rate_bp < 5 THEN 1 END)", Func: Count, Arg: &Expr{Kind: ExprCase, When: []When{{
				If: &Cond{Kind: CondOr, Args: []*Cond{
					{Kind: CondCompare, Filter: &Filter{Column: loansAmount, Op: OpGT, Value: Value{Int: 10}}},
					{Kind: CondCompare, Filter: &Filter{Column: loansRate, Op: OpLT, Value: Value{Int: 5}}},
				}},
				Then: lit(1, 0)}}}},
		}},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			p, err := Compile(tc.sql, testCatalog)
			require.NoError(t, err)
			require.Equal(t, tc.want, p.Outputs)
			p2, err := Compile(tc.sql, testCatalog)
			require.NoError(t, err)
			require.True(t, planEqual(p, p2))
		})
	}
}

// TestUsesOfExpressions: a derived value needs every column it is computed
// from to allow the aggregate, and the columns its conditions compare to
// allow filtering.
func TestUsesOfExpressions(t *testing.T) {
	p, err := Compile("SELECT SUM(CASE WHEN l.green THEN l.amount * l.rate_bp END), COUNT(DISTINCT l.uscc) FROM loans l", testCatalog)
	require.NoError(t, err)
	require.Equal(t, []ColumnUse{
		{Column: loansGreenC, Use: UseFilter},
		{Column: loansAmount, Use: UseAggregate, Func: Sum},
		{Column: loansRate, Use: UseAggregate, Func: Sum},
		{Column: col("loans", "uscc", schema.String), Use: UseAggregate, Func: CountDistinct},
	}, p.Uses())
	require.Equal(t, 2, p.Aggregates())
}

func TestCompilePostProcessing(t *testing.T) {
	limit := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		sql    string
		having []Cmp
		order  []Order
		limit  *int64
		offset int64
	}{
		{sql: "SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) FROM registry r GROUP BY r.industry HAVING n >= 100 AND AVG(r.registered_capital) < 2.5 AND r.industry <> 'T' ORDER BY n DESC, 1 LIMIT 5",
			having: []Cmp{{Output: 1, Op: OpGE, Num: Decimal{Units: 100}}, {Output: 2, Op: OpLT, Num: Decimal{Units: 25, Scale: 1}}, {Output: 0, Op: OpNE, Value: Value{Str: "T"}}},
			order:  []Order{{Output: 1, Desc: true}, {Output: 0}}, limit: limit(5)},
		{sql: "SELECT COUNT(*) FROM registry GROUP BY region, industry HAVING 10 < COUNT(*) ORDER BY industry DESC, region LIMIT 2, 3",
			having: []Cmp{{Output: 0, Op: OpGT, Num: Decimal{Units: 10}}},
			order:  []Order{{Output: -1, Group: 1, Desc: true}, {Output: -1, Group: 0}}, limit: limit(3), offset: 2},
		{sql: "SELECT MEDIAN(kwh) AS m FROM electricity GROUP BY month ORDER BY MEDIAN(kwh) LIMIT 10 OFFSET 1",
			order: []Order{{Output: 0}}, limit: limit(10), offset: 1},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			p, err := Compile(tc.sql, testCatalog)
			require.NoError(t, err)
			require.Equal(t, tc.having, p.Having)
			require.Equal(t, tc.order, p.OrderBy)
			require.Equal(t, tc.limit, p.Limit)
			require.Equal(t, tc.offset, p.Offset)
		})
	}
}

func TestCompileAggregateErrors(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"SELECT STDDEV_SAMP(amount) FROM loans", "query: line 1, column 8: unsupported aggregate STDDEV_SAMP: the sample statistics are not supported; use STDDEV (population)"},
		{"SELECT VAR_SAMP(amount) FROM loans", "query: line 1, column 8: unsupported aggregate VAR_SAMP: the sample statistics are not supported; use VARIANCE (population)"},
		{"SELECT PERCENTILE(amount, 1.5) FROM loans", "query: line 1, column 27: the second argument of PERCENTILE must be a rank in [0, 1], such as 0.9, got 1.5"},
		{"SELECT PERCENTILE(amount, rate_bp) FROM loans", "query: line 1, column 27: the second argument of PERCENTILE must be a rank in [0, 1], such as 0.9"},
		{"SELECT APPROX_PERCENTILE(amount, 101) FROM loans", "query: line 1, column 34: the second argument of APPROX_PERCENTILE must be a percentage in [0, 100], such as 90, got 101"},
		{"SELECT MEDIAN(amount, 2) FROM loans", "query: line 1, column 8: MEDIAN takes one argument, got 2"},
		{"SELECT MEDIAN(borrower_name) FROM loans", "query: line 1, column 15: MEDIAN needs an int or bool column: loans.borrower_name is string"},
		{"SELECT COUNT(DISTINCT amount + 1) FROM loans", "query: line 1, column 23: unsupported operator + in COUNT(DISTINCT ...): count the distinct values of a plain column"},
		{"SELECT SUM(amount / rate_bp) FROM loans", "query: line 1, column 21: unsupported division by column rate_bp: divide by a number"},
		{"SELECT SUM(amount / 0) FROM loans", "query: line 1, column 21: division by zero"},
		{"SELECT SUM(amount % 7) FROM loans", "query: line 1, column 12: unsupported operator % in an aggregate's argument (want columns, numbers, + - * /, LEAST, GREATEST and CASE WHEN)"},
		{"SELECT SUM(borrower_name + 1) FROM loans", "query: line 1, column 12: cannot compute with loans.borrower_name: it is string (only int and bool columns take part in arithmetic)"},
		{"SELECT SUM(amount * 0.00001 * 0.00001) FROM loans", "query: line 1, column 12: product with 10 digits after the point: at most 9 are supported"},
		{"SELECT SUM(LEAST(amount)) FROM loans", "query: line 1, column 12: LEAST takes two or more arguments, got 1"},
		{"SELECT SUM(3) FROM loans", "query: line 1, column 12: unsupported literal argument of SUM: aggregate a column or an expression of columns"},
		{"SELECT SUM(CASE WHEN amount THEN 1 END) FROM loans", "query: line 1, column 22: cannot use loans.amount (int) as a condition: compare it with a literal"},
		{"SELECT SUM(CASE WHEN amount > rate_bp THEN 1 END) FROM loans", "query: line 1, column 22: unsupported comparison of two columns (amount > rate_bp) in CASE WHEN: compare a column with a literal"},
		{"SELECT SUM(CASE WHEN green THEN 'x' END) FROM loans", "query: line 1, column 33: unsupported literal 'x' in an aggregate's argument (want columns, numbers, + - * /, LEAST, GREATEST and CASE WHEN)"},
		{"SELECT SUM(CASE WHEN green THEN NULL ELSE 1 END) FROM loans", "query: line 1, column 33: unsupported NULL in an expression: leave out the ELSE of a CASE to have no value"},
		{"SELECT COUNT(*) FROM loans GROUP BY green HAVING SUM(amount) > 3", "query: line 1, column 50: HAVING uses SUM(amount), which is not in the select list: add it there (each aggregate costs privacy budget)"},
		{"SELECT COUNT(*) FROM loans GROUP BY green HAVING green = TRUE", "query: line 1, column 50: HAVING on a grouping column that is not in the select list: filter it with WHERE"},
		{"SELECT COUNT(*) AS n FROM loans HAVING n > 'x'", "query: line 1, column 44: cannot compare n with literal 'x': want a number"},
		{"SELECT COUNT(*) FROM loans HAVING COUNT(*) > 1 OR COUNT(*) < 0", "query: line 1, column 35: unsupported OR in HAVING: compare a value of the select list with a literal, joined by AND"},
		{"SELECT COUNT(*) FROM loans ORDER BY 2", "query: line 1, column 28: ORDER BY position 2: the select list has 1 items"},
		{"SELECT COUNT(*) FROM loans GROUP BY green ORDER BY amount", "query: line 1, column 52: ORDER BY uses loans.amount, which is neither grouped nor in the select list"},
		{"SELECT COUNT(*) FROM loans ORDER BY AVG(amount)", "query: line 1, column 37: ORDER BY uses AVG(amount), which is not in the select list: add it there (each aggregate costs privacy budget)"},
		{"SELECT COUNT(*) FROM loans LIMIT 99999999999999", "query: line 1, column 28: LIMIT 99999999999999 is too large"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			_, err := Compile(tc.sql, testCatalog)
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Decimal
		text string
	}{
		{"12", Decimal{12, 0}, "12"},
		{"-0.05", Decimal{-5, 2}, "-0.05"},
		{"3.250", Decimal{3250, 3}, "3.250"},
		{".5", Decimal{5, 1}, "0.5"},
		{"+7.", Decimal{7, 0}, "7"},
		{"9223372036854775807", Decimal{math.MaxInt64, 0}, "9223372036854775807"},
	} {
		d, err := ParseDecimal(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, d, tc.in)
		require.Equal(t, tc.text, d.String())
	}
	for _, bad := range []string{"", ".", "-", "1e5", "1.2.3", "0.0000000001", "9223372036854775808", "x"} {
		_, err := ParseDecimal(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "-0.000000005", FormatUnits(-5, 9))
	require.Equal(t, "-9223372036854775.808", FormatUnits(math.MinInt64, 3))
	require.Equal(t, 1, Decimal{15, 1}.Cmp(Decimal{149, 2}))
	require.Equal(t, 0, Decimal{15, 1}.Cmp(Decimal{150, 2}))
	require.Equal(t, -1, Decimal{-2, 0}.Cmp(Decimal{-15, 1}))

	// Division rounds half away from zero.
	for _, tc := range []struct {
		x    int64
		xs   int
		d    Decimal
		s    int
		want int64
	}{
		{10, 0, Decimal{3, 0}, 4, 33333},
		{20, 0, Decimal{3, 0}, 4, 66667},
		{-20, 0, Decimal{3, 0}, 4, -66667},
		{5, 0, Decimal{-2, 0}, 0, -3},
		{1, 0, Decimal{25, 1}, 1, 4}, // 1 / 2.5 = 0.4
		{15, 1, Decimal{2, 0}, 5, 75000},
	} {
		got, ok := Divide(tc.x, tc.xs, tc.d, tc.s)
		require.True(t, ok)
		require.Equal(t, tc.want, got, "%+v", tc)
	}
	_, ok := Divide(math.MaxInt64, 0, Decimal{1, 3}, 4)
	require.False(t, ok)
}

func TestExprBounds(t *testing.T) {
	bounds := func(c Column) (int64, int64, bool) {
		switch c.Name {
		case "amount":
			return 0, 1_000_000_000, true
		case "rate_bp":
			return -100, 2000, true
		case "green":
			return 0, 1, true
		}
		return 0, 0, false
	}
	for _, tc := range []struct {
		sql    string
		lo, hi int64
		scale  int
		err    string
	}{
		{sql: "SUM(amount * rate_bp / 10000)", lo: -10_000_000_0000, hi: 200_000_000_0000, scale: 4},
		{sql: "SUM(amount - rate_bp)", lo: -2000, hi: 1_000_000_100},
		{sql: "SUM(-rate_bp * 1.5)", lo: -3000_0, hi: 150_0, scale: 1},
		{sql: "SUM(CASE WHEN green THEN amount ELSE rate_bp * 0.25 END)", lo: -25_00, hi: 1_000_000_000_00, scale: 2},
		{sql: "SUM(LEAST(amount, 20000000))", lo: 0, hi: 20_000_000},
		{sql: "SUM(GREATEST(LEAST(rate_bp, 500), 0.5))", lo: 5, hi: 5000, scale: 1},
		{sql: "SUM(amount * amount * amount)", err: "it could overflow 64-bit integers with the columns' declared bounds"},
	} {
		p, err := Compile("SELECT "+tc.sql+" FROM loans", testCatalog)
		require.NoError(t, err, tc.sql)
		x := p.Outputs[0].Arg
		lo, hi, err := x.Bounds(bounds)
		if tc.err != "" {
			require.EqualError(t, err, tc.err, tc.sql)
			continue
		}
		require.NoError(t, err, tc.sql)
		require.Equal(t, [3]int64{tc.lo, tc.hi, int64(tc.scale)}, [3]int64{lo, hi, int64(x.Scale())}, tc.sql)
	}
}
