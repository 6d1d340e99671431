package query

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xjdata/cleanroom/schema"
)

// FuzzCompile checks that Compile never panics (it would recover, so a
// recovered panic is reported as a failure too) and that every plan it
// returns is consistent with the catalog.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		scenarioQuery1,
		scenarioQuery2,
		"SELECT * FROM loans",
		"SELECT borrower_name FROM loans",
		"SELECT r.uscc, COUNT(*) FROM registry r GROUP BY r.uscc",
		"SELECT COUNT(*), SUM(amount) AS s, AVG(l.rate_bp) FROM loans l WHERE l.green = TRUE AND 5 <= amount AND rate_bp <> -3",
		"SELECT COUNT(*) FROM registry WHERE founded >= '2020-01-01' AND founded < DATE '2021-01-01' AND region = '乌鲁木齐'",
		"SELECT l.green AS g, COUNT(*) FROM loans l GROUP BY g",
		"SELECT COUNT(*) FROM loans l JOIN registry r ON r.uscc = l.uscc JOIN electricity e ON e.uscc = l.uscc WHERE e.month = \"2025-06\"",
		"SELECT amount FROM loans l1, registry",
		"SELECT amount FROM loans LEFT JOIN registry ON loans.uscc = registry.uscc",
		"SELECT MIN(amount) FROM loans ORDER BY 1 LIMIT 2",
		"SELECT COUNT(*) FROM loans WHERE amount IN (1, 2) OR NOT green",
		"WITH x AS (SELECT 1) SELECT amount FROM loans UNION SELECT kwh FROM electricity",
		"SELECT a FROM loans where x = 'abc\n  def' and )",
		"(SELECT ALL /* c */ COUNT(*) -- c\n FROM loans # c\n);",
		"SELECT r.industry, COUNT(DISTINCT l.uscc) AS n, MEDIAN(l.amount), PERCENTILE(l.rate_bp, 0.9), STDDEV(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry HAVING n > 10 ORDER BY n DESC LIMIT 3",
		"SELECT SUM(CASE WHEN green AND rate_bp >= 5 OR NOT green THEN amount * rate_bp / 10000 ELSE -0.5 END), AVG(CASE green WHEN TRUE THEN amount END) FROM loans",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		p, err := Compile(sql, testCatalog)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is a %T, not an *Error", err, err)
			}
			if strings.Contains(qe.Msg, "internal error") {
				t.Fatalf("recovered panic: %v", err)
			}
			if qe.Line < 0 || qe.Column < 0 || (qe.Line > 0) != (qe.Column > 0) || qe.Line > strings.Count(sql, "\n")+1 {
				t.Fatalf("bad position in %v", err)
			}
			return
		}
		checkPlan(t, sql, p)
		// Same input, same plan.
		p2, err := Compile(sql, testCatalog)
		if err != nil || !planEqual(p, p2) {
			t.Fatalf("second Compile differs: %v", err)
		}
	})
}

func checkPlan(t *testing.T, sql string, p *Plan) {
	t.Helper()
	if p.SQL != sql {
		t.Fatalf("plan SQL %q, want %q", p.SQL, sql)
	}
	if len(p.Tables) == 0 {
		t.Fatal("no tables")
	}
	if len(p.Joins) != len(p.Tables)-1 {
		t.Fatalf("%d joins for %d tables", len(p.Joins), len(p.Tables))
	}
	if len(p.Outputs) == 0 && !p.Star {
		t.Fatal("no outputs and no star")
	}
	names := p.TableNames()
	for i, n := range names {
		if _, ok := scenario[n]; !ok {
			t.Fatalf("table %q not in the catalog", n)
		}
		if slices.Index(names, n) != i {
			t.Fatalf("table %q read twice", n)
		}
	}
	check := func(c Column, within []string) {
		t.Helper()
		if !slices.Contains(within, c.Table) {
			t.Fatalf("column %s: table not among %v", c, within)
		}
		sc, ok := scenario[c.Table].Column(c.Name)
		if !ok || sc.Type != c.Type {
			t.Fatalf("column %s (%s) does not match the catalog", c, c.Type)
		}
	}
	for i, j := range p.Joins {
		check(j.Left, names[:i+1])
		check(j.Right, names[i+1:i+2])
		if j.Left.Type != j.Right.Type {
			t.Fatalf("join %d: types differ", i)
		}
	}
	for _, f := range p.Filters {
		check(f.Column, names)
		if _, ok := flip[f.Op]; !ok {
			t.Fatalf("filter op %q", f.Op)
		}
		switch f.Column.Type {
		case schema.String:
			if f.Value.Int != 0 || !utf8.ValidString(f.Value.Str) {
				t.Fatalf("string filter with %+v", f.Value)
			}
		case schema.Bool:
			if f.Value.Str != "" || (f.Value.Int != 0 && f.Value.Int != 1) {
				t.Fatalf("bool filter with %+v", f.Value)
			}
		default:
			if f.Value.Str != "" {
				t.Fatalf("%s filter with Str %q", f.Column.Type, f.Value.Str)
			}
		}
	}
	for _, g := range p.GroupBy {
		check(g, names)
	}
	for _, o := range p.Outputs {
		if o.Name == "" {
			t.Fatal("output without a name")
		}
		switch o.Func {
		case "":
			if o.Column == nil {
				t.Fatal("plain output without a column")
			}
		case Count, CountDistinct:
			if o.Arg != nil && o.Func == CountDistinct {
				t.Fatal("COUNT(DISTINCT) of an expression")
			}
		case Sum, Avg, Min, Max, Median, Percentile, Stddev, Variance:
			if (o.Column == nil) == (o.Arg == nil) {
				t.Fatalf("%s needs a column or an expression, not both", o.Func)
			}
			if o.Column != nil && o.Column.Type != schema.Int && o.Column.Type != schema.Bool {
				t.Fatalf("%s of a %s column", o.Func, o.Column.Type)
			}
		default:
			t.Fatalf("unknown func %q", o.Func)
		}
		if o.Rank < 0 || o.Rank > 1 || o.Rank != 0 && o.Func != Percentile {
			t.Fatalf("rank %v of %s", o.Rank, o.Func)
		}
		if o.Column != nil {
			check(*o.Column, names)
		}
		if o.Arg != nil {
			if o.Arg.Scale() > MaxScale {
				t.Fatalf("scale %d", o.Arg.Scale())
			}
			o.Arg.Walk(func(c Column) { check(c, names) }, func(c Column) { check(c, names) })
			// Bounds never panic, overflow or not.
			_, _, _ = o.Arg.Bounds(func(c Column) (int64, int64, bool) { return math.MinInt64 / 3, math.MaxInt64 / 3, true })
		}
	}
	for _, h := range p.Having {
		if h.Output < 0 || h.Output >= len(p.Outputs) {
			t.Fatalf("HAVING on output %d", h.Output)
		}
	}
	for _, o := range p.OrderBy {
		if o.Output >= len(p.Outputs) || o.Output < -1 || o.Output == -1 && (o.Group < 0 || o.Group >= len(p.GroupBy)) {
			t.Fatalf("ORDER BY %+v", o)
		}
	}
	if p.Limit != nil && *p.Limit < 0 || p.Offset < 0 {
		t.Fatal("negative LIMIT or OFFSET")
	}
	_ = p.Uses()
	_, _ = p.RowLevel()
}

func planEqual(a, b *Plan) bool {
	if a.SQL != b.SQL || a.Star != b.Star || !slices.Equal(a.Tables, b.Tables) || !slices.Equal(a.Joins, b.Joins) ||
		!slices.Equal(a.Filters, b.Filters) || !slices.Equal(a.GroupBy, b.GroupBy) || len(a.Outputs) != len(b.Outputs) {
		return false
	}
	for i := range a.Outputs {
		x, y := a.Outputs[i], b.Outputs[i]
		if x.Name != y.Name || !x.Same(y) {
			return false
		}
	}
	return slices.Equal(a.Having, b.Having) && slices.Equal(a.OrderBy, b.OrderBy) && a.Offset == b.Offset &&
		(a.Limit == nil) == (b.Limit == nil) && (a.Limit == nil || *a.Limit == *b.Limit)
}
