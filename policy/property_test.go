package policy_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// checkAllowed re-derives, from the plan's own fields and the letter, the
// safety properties an allowed decision must have. It does not use
// Plan.Uses or RowLevel, so that a bug there cannot hide here.
func checkAllowed(t *testing.T, s *fakeSnapshot, letter string, p *query.Plan, d *policy.Decision) {
	t.Helper()
	if !d.Allow {
		return
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("allowed %q, but "+format, append([]any{p.SQL}, args...)...)
	}
	l := &s.letters[letter].Letter
	rule := func(c query.Column) *policy.ColumnRule {
		ld, ok := l.Dataset(c.Table)
		if !ok {
			fail("dataset %s is outside the letter", c.Table)
		}
		r, ok := ld.Rule(c.Name)
		if !ok {
			fail("column %s is forbidden by the letter", c)
		}
		return r
	}
	has := func(r *policy.ColumnRule, u policy.Use) bool { return slices.Contains(r.Uses, u) }
	if p.Star {
		fail("it selects *")
	}
	for _, g := range p.GroupBy {
		if !has(rule(g), query.UseGroupBy) {
			fail("it groups by %s, which the letter does not allow", g)
		}
		ds := s.datasets[g.Table]
		if ds.Unit == g.Name || slices.Contains(ds.Unique, g.Name) {
			fail("it groups by %s, one group per row or unit", g)
		}
	}
	for _, o := range p.Outputs {
		switch {
		case o.Func == "":
			grouped := slices.ContainsFunc(p.GroupBy, func(g query.Column) bool { return g == *o.Column })
			if !grouped {
				fail("it outputs %s row by row", o.Column)
			}
		case o.Column != nil:
			r := rule(*o.Column)
			okAgg := has(r, query.UseAggregate) && slices.Contains(r.Funcs, o.Func)
			okCount := o.Func == query.Count && has(r, policy.CountOnly)
			if !okAgg && !okCount {
				fail("it computes %s(%s), which the letter does not allow", o.Func, o.Column)
			}
		}
	}
	for _, f := range p.Filters {
		if !has(rule(f.Column), query.UseFilter) {
			fail("it filters on %s", f.Column)
		}
	}
	for _, j := range p.Joins {
		if !has(rule(j.Left), query.UseJoinKey) || !has(rule(j.Right), query.UseJoinKey) {
			fail("it joins on %s = %s", j.Left, j.Right)
		}
	}
	shares := dp.Epsilon(policy.Shares(p))
	for _, c := range d.Charges {
		if c.Epsilon%shares != 0 || c.Epsilon <= 0 {
			fail("it charges %s on %s, not a whole number of shares", c.Epsilon, c.Dataset)
		}
	}
}

// randomRoom makes a snapshot with three datasets of random columns and a
// letter with random rules over them.
func randomRoom(r *rand.Rand) *fakeSnapshot {
	f := fixture()
	f.datasets = map[string]*policy.Dataset{}
	l := &f.letters["L-1"].Letter
	l.Datasets = nil
	l.Recipients = nil
	lo, hi := int64(0), int64(100)
	for ti := range 3 {
		name := fmt.Sprintf("t%d", ti)
		sch := schema.Schema{Columns: []schema.Column{{Name: "id", Type: schema.String}}}
		for ci := range 2 + r.IntN(6) {
			col := schema.Column{Name: fmt.Sprintf("c%d", ci)}
			switch r.IntN(3) {
			case 0:
				col.Type, col.Min, col.Max = schema.Int, &lo, &hi
			case 1:
				col.Type = schema.String
			default:
				col.Type = schema.Bool
			}
			sch.Columns = append(sch.Columns, col)
		}
		ds := &policy.Dataset{Name: name, Holder: "msb", Level: policy.General, Sharing: policy.ShareConditional, Opening: policy.OpenConditional,
			Unit: "id", Schema: sch}
		if len(sch.Columns) > 2 && r.IntN(2) == 0 {
			ds.Unique = []string{sch.Columns[1].Name}
		}
		f.datasets[name] = ds
		if r.IntN(5) == 0 {
			continue // outside the letter
		}
		ld := policy.LetterDataset{Name: name, Epsilon: 1_000_000, Delta: 1e-6}
		for _, c := range sch.Columns {
			var uses []policy.Use
			for _, u := range []policy.Use{query.UseJoinKey, query.UseGroupBy, query.UseFilter, query.UseAggregate, policy.CountOnly} {
				if r.IntN(3) == 0 {
					uses = append(uses, u)
				}
			}
			if len(uses) == 0 {
				continue // forbidden
			}
			rule := policy.ColumnRule{Column: c.Name, Uses: uses}
			if slices.Contains(uses, query.UseAggregate) {
				for _, fn := range []query.Func{query.Count, query.Sum, query.Avg} {
					if r.IntN(2) == 0 {
						rule.Funcs = append(rule.Funcs, fn)
					}
				}
				if len(rule.Funcs) == 0 {
					rule.Funcs = []query.Func{query.Count}
				}
			}
			ld.Columns = append(ld.Columns, rule)
		}
		l.Datasets = append(l.Datasets, ld)
	}
	return f
}

// randomSQL writes a random query over the room's datasets, often one the
// letter refuses.
func randomSQL(r *rand.Rand, f *fakeSnapshot) string {
	n := 1 + r.IntN(3)
	tables := []string{"t0", "t1", "t2"}[:n]
	var cols []string
	var ints []string
	for _, tb := range tables {
		for _, c := range f.datasets[tb].Schema.Columns {
			cols = append(cols, tb+"."+c.Name)
			if c.Type == schema.Int {
				ints = append(ints, tb+"."+c.Name)
			}
		}
	}
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	var sel, group []string
	for range r.IntN(3) {
		g := pick(cols)
		group = append(group, g)
		if r.IntN(4) != 0 {
			sel = append(sel, g)
		}
	}
	if r.IntN(8) == 0 {
		sel = append(sel, pick(cols)) // perhaps row-level
	}
	for range 1 + r.IntN(3) {
		switch r.IntN(4) {
		case 0:
			sel = append(sel, "COUNT(*)")
		case 1:
			sel = append(sel, "COUNT("+pick(cols)+")")
		default:
			if len(ints) > 0 {
				sel = append(sel, []string{"SUM", "AVG"}[r.IntN(2)]+"("+pick(ints)+")")
			}
		}
	}
	if r.IntN(20) == 0 {
		sel = []string{"*"}
	}
	if len(sel) == 0 {
		sel = []string{"COUNT(*)"}
	}
	from := "t0"
	for i := 1; i < n; i++ {
		from += fmt.Sprintf(" JOIN t%d ON t%d.id = t%d.id", i, r.IntN(i), i)
	}
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM " + from
	if len(ints) > 0 && r.IntN(2) == 0 {
		sql += " WHERE " + pick(ints) + " > 5"
	}
	if len(group) > 0 {
		sql += " GROUP BY " + strings.Join(group, ", ")
	}
	return sql
}

// TestNoAllowedPlanLeaksRows: for random plans over random schemas and
// letters, no allowed plan outputs a forbidden or join-key column, a
// row-level value, or uses a column beyond its rule.
func TestNoAllowedPlanLeaksRows(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	r := rand.New(rand.NewPCG(1, 2))
	allowed, denied := 0, 0
	for range n {
		f := randomRoom(r)
		sql := randomSQL(r, f)
		p, err := query.Compile(sql, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
			d, ok := f.datasets[name]
			if !ok {
				return nil, false
			}
			return &d.Schema, true
		}))
		if err != nil {
			continue
		}
		d := policy.Evaluate(f, policy.Input{Requester: "bank", Plan: p, Time: t0, Request: policy.Request{Letter: "L-1", Epsilon: "0.001"}})
		checkAllowed(t, f, "L-1", p, d)
		if d.Allow {
			allowed++
		} else {
			denied++
		}
	}
	t.Logf("%d allowed, %d denied", allowed, denied)
	if allowed < n/50 || denied < n/50 {
		t.Fatalf("the generator is lopsided: %d allowed, %d denied", allowed, denied)
	}
}

// FuzzEvaluate compiles any SQL against the fixture's catalogue and checks
// that Evaluate never panics, is deterministic, and never allows a plan
// that breaks the letter.
func FuzzEvaluate(f *testing.F) {
	f.Add(okSQL, "0.1", "bank", "")
	f.Add("SELECT * FROM registry", "0.1", "bank", "")
	f.Add("SELECT r.code, COUNT(*) FROM registry r GROUP BY r.code", "0.5", "bank", "overseas")
	f.Add("SELECT AVG(r.capital) FROM registry r WHERE r.industry = 'A'", "1", "msb", "")
	f.Fuzz(func(t *testing.T, sql, eps, requester, recipient string) {
		s := fixture()
		p, err := query.Compile(sql, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
			d, ok := s.datasets[name]
			if !ok {
				return nil, false
			}
			return &d.Schema, true
		}))
		if err != nil {
			return
		}
		in := policy.Input{Requester: requester, Plan: p, Time: t0, Request: policy.Request{Letter: "L-1", Epsilon: eps, Recipient: recipient}}
		d := policy.Evaluate(s, in)
		if again := policy.Evaluate(s, in); again.String() != d.String() || again.Allow != d.Allow {
			t.Fatalf("not deterministic: %s / %s", d, again)
		}
		if d.Allow != (len(d.Reasons) == 0) {
			t.Fatalf("allow=%v with %d reasons", d.Allow, len(d.Reasons))
		}
		checkAllowed(t, s, "L-1", p, d)
	})
}
