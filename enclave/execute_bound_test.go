package enclave

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

var boundSchema = &schema.Schema{Columns: []schema.Column{
	{Name: "u", Type: schema.String},
	{Name: "g", Type: schema.String},
	{Name: "v", Type: schema.Int, Min: i64(0), Max: i64(100)},
}}

func boundTables() map[string]*Table {
	return map[string]*Table{"t": mkTable("t", boundSchema, 0, 2,
		"u1,a,10",
		"u1,b,20",
		"u1,a,30",
		"u1,a,40", // u1's third row in a: over L∞ = 2
		"u1,c,50", // u1's third group
		"u2,a,60",
		"u2,b,70",
		"u3,d,80",
		"u3,d,90", // u3's total in d is 170: within the hull [0, 2·100], not clamped
	)}
}

func boundPlan() *query.Plan {
	g := qc("t", "g", schema.String)
	v := qc("t", "v", schema.Int)
	return &query.Plan{
		Tables:  []query.Table{{Name: "t"}},
		GroupBy: []query.Column{g},
		Outputs: []query.Output{
			{Name: "g", Column: ptr(g)},
			{Name: "n", Func: query.Count},
			{Name: "s", Func: query.Sum, Column: ptr(v)},
			{Name: "a", Func: query.Avg, Column: ptr(v)},
		},
	}
}

func TestExecuteContributionBounding(t *testing.T) {
	for _, tc := range []struct {
		l0         int64
		want       [][]string
		suppressed int
	}{
		{
			l0: 1,
			// u1 keeps a (10, 30); u2 keeps a (60); u3 keeps d.
			// b and c lose all their rows: withheld.
			want: [][]string{
				{"a", "3", "100", "33.33"},
				{"d", "2", "170", "85.00"},
			},
			suppressed: 2,
		},
		{
			l0: 2,
			// u1 keeps a (10, 30) and b (20), not c; u2 keeps a and b.
			want: [][]string{
				{"a", "3", "100", "33.33"},
				{"b", "2", "90", "45.00"},
				{"d", "2", "170", "85.00"},
			},
			suppressed: 1,
		},
		{
			l0: 3,
			want: [][]string{
				{"a", "3", "100", "33.33"},
				{"b", "2", "90", "45.00"},
				{"c", "1", "50", "50.00"},
				{"d", "2", "170", "85.00"},
			},
		},
	} {
		params := noNoise
		params.MaxGroupsPerUnit = tc.l0
		res := run(t, boundPlan(), boundTables(), params)
		checkRows(t, res, tc.want)
		if res.Suppressed != tc.suppressed {
			t.Errorf("L0=%d: Suppressed = %d, want %d", tc.l0, res.Suppressed, tc.suppressed)
		}
	}

	// L∞ is the product over the plan's tables: with MaxRowsPerUnit 3 the
	// 40 of u1 is kept.
	tables := boundTables()
	tables["t"].MaxRowsPerUnit = 3
	res := run(t, boundPlan(), tables, noNoise)
	checkRows(t, res, [][]string{
		{"a", "4", "140", "35.00"}, // unit totals u1 10+30+40 = 80, u2 60
		{"d", "2", "170", "85.00"},
	})
}

func TestExecuteMinGroupSize(t *testing.T) {
	p := boundPlan()
	params := noNoise
	params.MaxGroupsPerUnit = 3
	params.MinGroupSize = 2 // a has 2 units, b 2, c 1, d 1
	res := run(t, p, boundTables(), params)
	checkRows(t, res, [][]string{
		{"a", "3", "100", "33.33"},
		{"b", "2", "90", "45.00"},
	})
	if res.Suppressed != 2 {
		t.Errorf("Suppressed = %d, want 2", res.Suppressed)
	}

	// The DP threshold applies as well: with a threshold of 2 units, c and
	// d go even with MinGroupSize 1.
	params.MinGroupSize = 0
	params.Noise = dptest.InsecureNoNoise{ThresholdValue: 2}
	res = run(t, p, boundTables(), params)
	if len(res.Rows) != 2 || res.Suppressed != 2 {
		t.Errorf("threshold 2: rows %v, suppressed %d", res.Rows, res.Suppressed)
	}

	// Without GROUP BY: the one group is released if it has enough units.
	p = &query.Plan{Tables: []query.Table{{Name: "t"}}, Outputs: []query.Output{{Name: "n", Func: query.Count}}}
	params = noNoise
	params.MinGroupSize = 3
	res = run(t, p, boundTables(), params)
	checkRows(t, res, [][]string{{"6"}}) // 3 units, each with L∞ = 2 rows kept
}

func TestExecuteGlobalEmpty(t *testing.T) {
	v := qc("t", "v", schema.Int)
	p := &query.Plan{
		Tables:  []query.Table{{Name: "t"}},
		Filters: []query.Filter{{Column: v, Op: query.OpGT, Value: query.Value{Int: 1000}}},
		Outputs: []query.Output{{Name: "n", Func: query.Count}, {Name: "a", Func: query.Avg, Column: ptr(v)}},
	}
	params := noNoise
	params.Noise = dptest.InsecureNoNoise{}
	res := run(t, p, boundTables(), params)
	if len(res.Rows) != 0 || res.Suppressed != 1 {
		t.Errorf("rows %v, suppressed %d; want none, 1", res.Rows, res.Suppressed)
	}
}

func TestExecuteSortsGroups(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "k", Type: schema.Int, Min: i64(-100), Max: i64(1 << 40)}, // wide: map codes
		{Name: "d", Type: schema.Date, Min: i64(0), Max: i64(30000)},     // narrow: direct codes
		{Name: "s", Type: schema.String},
	}}
	tab := mkTable("t", s, -1, 1,
		"10,2020-01-02,b",
		"9,2020-01-02,a",
		"-5,2020-01-01,b",
		"10,2020-01-01,a",
		"9,2020-01-02,b",
		"1099511627776,1970-01-01,",
	)
	k, d, str := qc("t", "k", schema.Int), qc("t", "d", schema.Date), qc("t", "s", schema.String)
	p := &query.Plan{
		Tables:  []query.Table{{Name: "t"}},
		GroupBy: []query.Column{k, d, str},
		Outputs: []query.Output{{Name: "s", Column: ptr(str)}, {Name: "n", Func: query.Count}, {Name: "d", Column: ptr(d)}, {Name: "k", Column: ptr(k)}},
	}
	res := run(t, p, map[string]*Table{"t": tab}, noNoise)
	var got []string
	for _, r := range res.Rows {
		got = append(got, strings.Join(r, "|"))
	}
	want := []string{
		"b|1|2020-01-01|-5",
		"a|1|2020-01-02|9",
		"b|1|2020-01-02|9",
		"a|1|2020-01-01|10",
		"b|1|2020-01-02|10",
		"|1|1970-01-01|1099511627776",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestExecuteRefuses(t *testing.T) {
	tables := testTables()
	count := []query.Output{{Name: "n", Func: query.Count}}
	base := func() *query.Plan {
		return &query.Plan{Tables: []query.Table{{Name: "loans"}}, Outputs: count}
	}
	for name, tc := range map[string]struct {
		edit   func(p *query.Plan, params *Params, tables map[string]*Table)
		substr string
	}{
		"star": {func(p *query.Plan, _ *Params, _ map[string]*Table) { p.Star = true }, "row-level"},
		"row-level column": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Outputs = append(p.Outputs, query.Output{Name: "uscc", Column: ptr(lUscc)})
		}, "row-level"},
		"missing table": {func(_ *query.Plan, _ *Params, tables map[string]*Table) { delete(tables, "loans") }, "not loaded"},
		"filter on a table not read": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Filters = []query.Filter{{Column: rIndustry, Op: query.OpEQ, Value: query.Value{Str: "C"}}}
		}, "does not read table registry"},
		"join to a table not read": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Tables = append(p.Tables, query.Table{Name: "registry"})
			p.Joins = []query.Join{{Left: qc("electricity", "uscc", schema.String), Right: rUscc}}
		}, "does not read table electricity"},
		"join count": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Tables = append(p.Tables, query.Table{Name: "registry"})
		}, "one join per table"},
		"join type mismatch": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Tables = append(p.Tables, query.Table{Name: "registry"})
			p.Joins = []query.Join{{Left: lAmount, Right: rUscc}}
		}, "join 1"},
		"self join": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Tables = append(p.Tables, query.Table{Name: "loans", Alias: "l2"})
			p.Joins = []query.Join{{Left: lUscc, Right: lUscc}}
		}, "twice"},
		"unknown column": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Filters = []query.Filter{{Column: qc("loans", "nope", schema.Int), Op: query.OpEQ}}
		}, "no such column"},
		"wrong type": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Filters = []query.Filter{{Column: qc("loans", "amount", schema.String), Op: query.OpEQ}}
		}, "type"},
		"bad op": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Filters = []query.Filter{{Column: lAmount, Op: "LIKE"}}
		}, "operator"},
		"sum of string": {func(p *query.Plan, _ *Params, _ map[string]*Table) {
			p.Outputs = []query.Output{{Name: "s", Func: query.Sum, Column: ptr(lUscc)}}
		}, "cannot be summed"},
		"no outputs": {func(p *query.Plan, _ *Params, _ map[string]*Table) { p.Outputs = nil }, "outputs nothing"},
		"no epsilon": {func(_ *query.Plan, params *Params, _ map[string]*Table) { params.Epsilon = 0 }, "Epsilon"},
		"no delta with GROUP BY": {func(p *query.Plan, params *Params, _ map[string]*Table) {
			p.GroupBy = []query.Column{lGreen}
			params.Delta = 0
		}, "Delta"},
		"bad unit":     {func(_ *query.Plan, _ *Params, tables map[string]*Table) { tables["loans"].Unit = 9 }, "unit column"},
		"bad max rows": {func(_ *query.Plan, _ *Params, tables map[string]*Table) { tables["loans"].MaxRowsPerUnit = 0 }, "MaxRowsPerUnit"},
	} {
		p, params, tabs := base(), noNoise, testTables()
		tc.edit(p, &params, tabs)
		_, err := Execute(context.Background(), p, tabs, params)
		if err == nil || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.substr)
		}
	}
	if _, err := Execute(context.Background(), nil, tables, noNoise); err == nil {
		t.Error("nil plan: no error")
	}
}

func TestExecuteCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Execute(ctx, boundPlan(), boundTables(), noNoise)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// TestExecuteLaplace runs with the library's real Laplace noise. One group
// of 10,000 units, each with one row of value 50 in [0, 100]; ε = 3 split
// four ways (selection, COUNT, SUM, AVG), so each noise has scale
// b = L0·L∞/(ε/4) = 4/3 for the counts and 400/3 for the sum. The checks
// allow 40b: each fails falsely with probability e^-40 < 10⁻¹⁷.
func TestExecuteLaplace(t *testing.T) {
	n := 10_000
	rows := make([]string, n)
	for i := range rows {
		rows[i] = "u" + strconv.Itoa(i) + ",a,50"
	}
	tables := map[string]*Table{"t": mkTable("t", boundSchema, 0, 1, rows...)}
	res, err := Execute(context.Background(), boundPlan(), tables, Params{Epsilon: 3, Delta: 1e-6, MinGroupSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 {
		t.Fatalf("rows = %v", res.Rows)
	}
	r := res.Rows[0]
	cnt, _ := strconv.ParseInt(r[1], 10, 64)
	sum, _ := strconv.ParseInt(r[2], 10, 64)
	avg, _ := strconv.ParseFloat(r[3], 64)
	if r[0] != "a" || cnt < int64(n)-54 || cnt > int64(n)+54 || sum < 50*int64(n)-5334 || sum > 50*int64(n)+5334 || avg < 49 || avg > 51 {
		t.Errorf("noisy row %v too far from [a %d %d 50.00]", r, n, 50*n)
	}
}

// TestBoundManyChunks checks contribution bounding over more joined rows
// than one chunk of looked-up units and groups holds (boundChunk), against
// the rule written plainly: a unit keeps its rows in its first L0 groups,
// at most L∞ in each, in scan order.
func TestBoundManyChunks(t *testing.T) {
	defer func(c int) { boundChunk = c }(boundChunk)
	boundChunk = 1 << 12
	n := 3*boundChunk + 5
	rows := make([]string, n)
	for r := range rows {
		// Units and groups cycle at different periods, so that a unit
		// meets new groups late, across chunk ends.
		rows[r] = "u" + strconv.Itoa(r%97) + ",g" + strconv.Itoa(r*r%13) + ",1"
	}
	const l0, linf = 3, 40
	tables := map[string]*Table{"t": mkTable("t", boundSchema, 0, linf, rows...)}
	params := noNoise
	params.MaxGroupsPerUnit = l0
	e, err := resolve(boundPlan(), tables, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.bound(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ u, g string }
	groupsOf := map[string][]string{}
	kept := map[pair]int{}
	first := map[string]int{}
	units, groups := map[string]map[string]bool{}, map[string]int64{}
	for r, row := range rows {
		f := strings.Split(row, ",")
		u, g := f[0], f[1]
		if _, ok := first[g]; !ok {
			first[g] = r
		}
		p := pair{u, g}
		if _, in := kept[p]; !in {
			if len(groupsOf[u]) == l0 {
				if got := b.keptGroup(r); got >= 0 {
					t.Fatalf("row %d (%s in %s) kept past the unit's L0 groups", r, u, g)
				}
				continue
			}
			groupsOf[u] = append(groupsOf[u], g)
			kept[p] = 0
		}
		if kept[p] == linf {
			if got := b.keptGroup(r); got >= 0 {
				t.Fatalf("row %d (%s in %s) kept past L∞", r, u, g)
			}
			continue
		}
		kept[p]++
		groups[g]++
		if units[g] == nil {
			units[g] = map[string]bool{}
		}
		units[g][u] = true
		got := b.keptGroup(r)
		if got < 0 {
			t.Fatalf("row %d (%s in %s) dropped", r, u, g)
		}
		if rep := b.groupRep[got]; int(rep) != first[g] {
			t.Fatalf("group %s: first joined row %d, want %d", g, rep, first[g])
		}
		if int64(len(units[g])) > b.groupUnits[got] || groups[g] > b.groupRows[got] {
			t.Fatalf("group %s: %d units and %d rows so far, bounding counted %d and %d", g, len(units[g]), groups[g], b.groupUnits[got], b.groupRows[got])
		}
	}
	for g, us := range units {
		code := b.keptGroup(first[g])
		if code < 0 {
			// The group's first row may have been dropped; find a kept one.
			for r := range rows {
				if strings.Split(rows[r], ",")[1] == g && b.keptGroup(r) >= 0 {
					code = b.keptGroup(r)
					break
				}
			}
		}
		if b.groupUnits[code] != int64(len(us)) || b.groupRows[code] != groups[g] {
			t.Errorf("group %s: %d units and %d rows, want %d and %d", g, b.groupUnits[code], b.groupRows[code], len(us), groups[g])
		}
	}

	// Cancelled while bounding: the error, and the look-ups have stopped
	// when it returns (the caller may then wipe what they read).
	before := runtime.NumGoroutine()
	ctx := &cancelAfter{Context: context.Background()}
	ctx.left.Store(1) // cancelled after the first chunk
	if err := e.boundUnits(ctx, nil, n, rowGroups{}, &bounded{rows: b.rows, n: n, ngroups: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines once a cancelled bounding returned, %d before", g, before)
	}
}

// cancelAfter is a context that reports itself cancelled once Err has been
// asked left times.
type cancelAfter struct {
	context.Context
	left atomic.Int32
}

func (c *cancelAfter) Err() error {
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// TestGroupsOfFilteredTable: groups are numbered among the joined rows,
// not among all rows of a grouping table that a filter leaves mostly
// out (the per-group arrays are sized by the groups).
func TestGroupsOfFilteredTable(t *testing.T) {
	n := 40_000
	rows := make([]string, n)
	for r := range rows {
		rows[r] = "u" + strconv.Itoa(r) + ",g" + strconv.Itoa(r%50) + "," + strconv.Itoa(r%101)
	}
	tables := map[string]*Table{"t": mkTable("t", boundSchema, 0, 1, rows...)}
	u, v := qc("t", "u", schema.String), qc("t", "v", schema.Int)
	p := &query.Plan{
		Tables: []query.Table{{Name: "t"}},
		// 40,000 × 101 combinations: past combineDirect, numbered as
		// they come.
		GroupBy: []query.Column{u, v},
		Filters: []query.Filter{{Column: qc("t", "g", schema.String), Op: query.OpEQ, Value: query.Value{Str: "g3"}}},
		Outputs: []query.Output{{Name: "u", Column: ptr(u)}, {Name: "v", Column: ptr(v)}, {Name: "n", Func: query.Count}},
	}
	e, err := resolve(p, tables, noNoise, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.bound(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b.n != n/50 || b.ngroups != int32(b.n) {
		t.Errorf("%d joined rows in %d groups, want %d in as many", b.n, b.ngroups, n/50)
	}
}
