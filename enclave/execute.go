package enclave

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/schema"
)

// Table is one dataset's rows in memory, with how its rows relate to
// privacy units. Build one by hand or get one from Store.Load (which also
// caches what Execute derives from the rows: dictionary codes and join
// indexes).
//
// Execute never modifies a Table: concurrent Executes may share one, as
// long as nobody modifies it (or its Rows) meanwhile.
type Table struct {
	// Name is the dataset name. Informational: Execute finds tables by the
	// key of the map it is given.
	Name string
	// Schema describes Rows. Required.
	Schema *schema.Schema
	// Rows holds the rows. Required; its vectors must match Schema. A
	// string column may be plain or dictionary-coded (schema.Vector);
	// Store.Load's are dictionary-coded.
	Rows *schema.Batch
	// Unit is the index in Schema of the privacy-unit column (for example
	// uscc: one enterprise), or -1 when each row is its own unit. Only the
	// first table of a plan contributes units (see the package doc).
	Unit int
	// MaxRowsPerUnit is the declared cap on the rows one unit has in this
	// table (a unit's rows, for the first table; the rows one row of the
	// tables before may join to, for the others). Required, >= 1.
	MaxRowsPerUnit int64

	// cache holds codes and indexes derived from Rows, shared by the
	// Tables that Store.Load returns for the same rows; nil otherwise.
	cache *tableCache
	// release ends the use of rows from Store.Load; nil otherwise.
	release func()
}

// Release tells the store that loaded t (and every copy of it) that the
// query is done with its rows, which may then be wiped and dropped when
// the cache's time or memory budget says so. Release of a table built by
// hand does nothing; a second call does nothing.
func (t *Table) Release() {
	if t.release != nil {
		t.release()
	}
}

// Params are the privacy parameters of one execution.
type Params struct {
	// Epsilon is the total ε this query spends. Required, > 0.
	Epsilon float64
	// Delta is the δ of group selection. Required, in (0, 1), when the plan
	// has GROUP BY; ignored otherwise.
	Delta float64
	// MinGroupSize suppresses groups whose noisy count of units is below
	// it. Defaults to 1.
	MinGroupSize int64
	// MaxGroupsPerUnit (L0) is how many groups one unit may contribute to;
	// its rows in further groups are dropped. Defaults to 1.
	MaxGroupsPerUnit int64
	// Noise is the DP mechanism. Defaults to the DP library's Laplace
	// noise; tests set a deterministic fake (dptest.InsecureNoNoise).
	Noise noise.Noise
	// Alpha sets the level 1 − Alpha of the confidence intervals released
	// with the values. Defaults to 0.05 (95%); must be in (0, 1).
	Alpha float64
	// PublicGroups, when set, are the public values of each GROUP BY
	// column, in GROUP BY order, as the letter lists them (policy's
	// GroupValues): every combination of them is released, in that order,
	// including those no row falls in; rows with other values are left
	// out; no group is chosen by a noisy count, and a group whose noisy
	// count of units is below MinGroupSize is released with its aggregates
	// withheld (empty).
	PublicGroups [][]string
}

// Result is a released aggregate: one row per released group, sorted by
// the group's values (in GROUP BY order; strings byte-wise, other types
// numerically) and then as the plan's HAVING, ORDER BY and LIMIT say,
// each value rendered as text.
type Result struct {
	// Columns are the output names, in select-list order.
	Columns []string
	// Rows are the released rows: grouping values as text (strings as they
	// are, others by schema.FormatValue), COUNT, COUNT(DISTINCT) and SUM
	// as integers (decimals for a SUM of an expression with digits after
	// the point), AVG, the quantiles, STDDEV and VARIANCE with two
	// decimals (or the argument's digits, if more).
	Rows [][]string
	// Stats describe how each output was released: nil for grouping
	// columns.
	Stats []*Stats
	// Intervals are, per row and output, the confidence interval at level
	// 1 − Params.Alpha of the value, rendered as the value: nil for
	// grouping values, and for the quantiles, STDDEV and VARIANCE, for
	// which the DP library computes none.
	Intervals [][]*Interval
	// Selection describes the noisy count of units that decided which
	// groups are released (and, without GROUP BY, whether the one row is).
	Selection *Stats
	// Suppressed is the number of groups present in the data but withheld
	// by group selection or MinGroupSize. It is NOT differentially private:
	// it is for the node's log, not for the querier.
	Suppressed int
}

// Stats describe how a released value was noised.
type Stats struct {
	// Mechanism is the DP library's noise, such as "Laplace Noise".
	Mechanism string
	// Epsilon and Delta are what the value spends.
	Epsilon, Delta float64
	// L0 and LInf are the sensitivities it is calibrated to: the groups
	// one unit contributes to, and its largest effect on one group's value.
	L0   int64
	LInf float64
}

// Interval is a released value's confidence interval.
type Interval struct {
	Lo, Hi string
}

// DefaultAlpha is Params.Alpha's default: 95% confidence intervals.
const DefaultAlpha = 0.05

// maxRows is the largest table Execute accepts; row indices are int32.
const maxRows = math.MaxInt32

// ctxEvery is how many rows a loop handles between checks of ctx.
const ctxEvery = 1 << 16

// colRef is a resolved column: plan table index and schema column index.
type colRef struct {
	t, c int
	typ  schema.Type
}

// aggSpec is one aggregate of the select list, resolved.
type aggSpec struct {
	out query.Output
	// rel is the aggregate as package release describes it: its row
	// bounds and scale, from the columns' declared bounds.
	rel release.Agg
	// col is the argument when it is a plain column.
	col colRef
	// arg is the argument when it is an expression.
	arg *query.Expr
}

// fn returns the aggregate function.
func (a *aggSpec) fn() query.Func { return a.out.Func }

// exec is a Plan resolved against the tables.
type exec struct {
	p       *query.Plan
	tabs    []*Table
	filters [][]query.Filter // per table
	fcols   [][]colRef
	joins   []struct{ left, right colRef }
	groups  []colRef
	aggs    []aggSpec
	outputs []int // per output: >= 0 index in groups, or -(1+i) for aggs[i]
	linf    int64
	l0      int64
	params  Params
	// encrypted (dataset → column → encrypted) is set for PrepareHE, nil
	// for Execute.
	encrypted map[string]map[string]bool
	// public are Params.PublicGroups as values of their columns; nil
	// without public groups.
	public [][]publicValue
}

// publicValue is one public group value: its value in the column's Vector
// form, unless the column cannot hold it (no row has it then), and how it
// is released.
type publicValue struct {
	val  query.Value
	ok   bool
	text string
}

// resolvePublic converts Params.PublicGroups into values of the GROUP BY
// columns' types.
func (e *exec) resolvePublic() error {
	pg := e.params.PublicGroups
	if len(pg) != len(e.groups) {
		return fmt.Errorf("enclave: %d lists of public group values for %d GROUP BY columns", len(pg), len(e.groups))
	}
	if e.encrypted != nil {
		return errors.New("enclave: public group values are not applied in HE mode")
	}
	combos := 1
	for gi, vs := range pg {
		if len(vs) == 0 {
			return fmt.Errorf("enclave: no public values of %s", e.p.GroupBy[gi])
		}
		if combos *= len(vs); combos > maxPublicCombinations {
			return fmt.Errorf("enclave: the public group values make more than %d groups", maxPublicCombinations)
		}
		g := e.groups[gi]
		col := e.tabs[g.t].Schema.Columns[g.c]
		list := make([]publicValue, len(vs))
		for i, text := range vs {
			v, s, err := col.ParseValue(text)
			if err != nil {
				// A value the column cannot hold: no row has it, but its
				// group is released all the same.
				list[i] = publicValue{text: text}
				continue
			}
			list[i] = publicValue{val: query.Value{Int: v, Str: s}, ok: true, text: s}
			if col.Type != schema.String {
				list[i].text = schema.FormatValue(col.Type, v)
			}
		}
		e.public = append(e.public, list)
	}
	return nil
}

// maxPublicCombinations bounds the groups public values make (as the
// policy engine does).
const maxPublicCombinations = 1 << 16

// Execute runs p over tables (keyed by dataset name) and returns the
// differentially private result. See the package doc for the semantics.
// It refuses row-level plans and plans that do not fit the tables. It
// stops with ctx's error when ctx is done. It spends Params.Epsilon (and
// Delta) each time it returns a result: the caller accounts for it before
// calling. Execute is safe for concurrent use.
func Execute(ctx context.Context, p *query.Plan, tables map[string]*Table, params Params) (*Result, error) {
	e, err := resolve(p, tables, params, nil)
	if err != nil {
		return nil, err
	}
	return e.run(ctx)
}

// resolve checks p against the tables and params. With encrypted non-nil
// (HE mode) it refuses plans that need an encrypted column in the clear.
func resolve(p *query.Plan, tables map[string]*Table, params Params, encrypted map[string]map[string]bool) (*exec, error) {
	if p == nil {
		return nil, errors.New("enclave: no plan")
	}
	if what, ok := p.RowLevel(); ok {
		return nil, fmt.Errorf("enclave: refusing a row-level plan (%s): only aggregates are released", what)
	}
	if len(p.Tables) == 0 {
		return nil, errors.New("enclave: plan reads no table")
	}
	if len(p.Joins) != len(p.Tables)-1 {
		return nil, fmt.Errorf("enclave: plan has %d tables and %d joins, want one join per table after the first", len(p.Tables), len(p.Joins))
	}
	if len(p.Outputs) == 0 {
		return nil, errors.New("enclave: plan outputs nothing")
	}
	if math.IsNaN(params.Epsilon) || math.IsInf(params.Epsilon, 0) || params.Epsilon <= 0 {
		return nil, fmt.Errorf("enclave: Epsilon must be a finite number above 0, got %v", params.Epsilon)
	}
	if len(p.GroupBy) > 0 && (math.IsNaN(params.Delta) || params.Delta <= 0 || params.Delta >= 1) {
		return nil, fmt.Errorf("enclave: Delta must be in (0, 1) for a plan with GROUP BY, got %v", params.Delta)
	}
	if params.MinGroupSize < 0 || params.MaxGroupsPerUnit < 0 {
		return nil, fmt.Errorf("enclave: MinGroupSize (%d) and MaxGroupsPerUnit (%d) must not be negative", params.MinGroupSize, params.MaxGroupsPerUnit)
	}
	if params.MinGroupSize == 0 {
		params.MinGroupSize = 1
	}
	if params.MaxGroupsPerUnit == 0 {
		params.MaxGroupsPerUnit = 1
	}

	e := &exec{p: p, params: params, linf: 1, l0: params.MaxGroupsPerUnit, encrypted: encrypted}
	if len(p.GroupBy) == 0 {
		e.l0 = 1 // a single group: a unit contributes to at most one
	}
	index := make(map[string]int, len(p.Tables))
	for i, pt := range p.Tables {
		if _, dup := index[pt.Name]; dup {
			return nil, fmt.Errorf("enclave: plan reads table %s twice; self-joins are not supported", pt.Name)
		}
		index[pt.Name] = i
		t := tables[pt.Name]
		if t == nil {
			return nil, fmt.Errorf("enclave: table %s is not loaded", pt.Name)
		}
		if err := checkTable(pt.Name, t, PlanColumns(p, pt.Name, t.Schema, t.Unit)); err != nil {
			return nil, err
		}
		if e.linf > math.MaxInt64/t.MaxRowsPerUnit {
			return nil, fmt.Errorf("enclave: the product of MaxRowsPerUnit over the plan's tables overflows")
		}
		e.linf *= t.MaxRowsPerUnit
		e.tabs = append(e.tabs, t)
	}
	if e.linf > math.MaxInt64/e.l0 {
		return nil, fmt.Errorf("enclave: the sensitivity L0·L∞ = %d·%d overflows int64", e.l0, e.linf)
	}
	ref := func(what string, c query.Column) (colRef, error) {
		ti, ok := index[c.Table]
		if !ok {
			return colRef{}, fmt.Errorf("enclave: %s %s: the plan does not read table %s", what, c, c.Table)
		}
		s := e.tabs[ti].Schema
		ci := s.Index(c.Name)
		if ci < 0 {
			return colRef{}, fmt.Errorf("enclave: %s %s: no such column in table %s", what, c, c.Table)
		}
		typ := s.Columns[ci].Type
		if c.Type != "" && c.Type != typ {
			return colRef{}, fmt.Errorf("enclave: %s %s: plan says type %s, table has %s", what, c, c.Type, typ)
		}
		return colRef{t: ti, c: ci, typ: typ}, nil
	}
	// clearOnly refuses, in HE mode, a use of c that needs its values.
	clearOnly := func(what string, c query.Column) error {
		if e.encrypted[c.Table][c.Name] {
			return fmt.Errorf("enclave: %s %s: the column is encrypted in HE mode, and its values are not available to %s", what, c, what)
		}
		return nil
	}
	if encrypted != nil {
		for i, pt := range p.Tables {
			s := e.tabs[i].Schema
			for name, enc := range encrypted[pt.Name] {
				if enc && s.Index(name) < 0 {
					return nil, fmt.Errorf("enclave: encrypted column %s.%s: no such column in table %s", pt.Name, name, pt.Name)
				}
			}
		}
		if u := e.tabs[0].Unit; u >= 0 {
			name := e.tabs[0].Schema.Columns[u].Name
			if encrypted[p.Tables[0].Name][name] {
				return nil, fmt.Errorf("enclave: unit column %s.%s: the column is encrypted in HE mode; privacy units need its (fingerprinted) values", p.Tables[0].Name, name)
			}
		}
	}

	for i, j := range p.Joins {
		l, err := ref("join key", j.Left)
		if err != nil {
			return nil, err
		}
		r, err := ref("join key", j.Right)
		if err != nil {
			return nil, err
		}
		if err := errors.Join(clearOnly("join on", j.Left), clearOnly("join on", j.Right)); err != nil {
			return nil, err
		}
		if r.t != i+1 || l.t > i {
			return nil, fmt.Errorf("enclave: join %d (%s = %s) must join table %s to a table before it", i+1, j.Left, j.Right, p.Tables[i+1].Name)
		}
		if l.typ != r.typ {
			return nil, fmt.Errorf("enclave: join %d: %s is %s but %s is %s", i+1, j.Left, l.typ, j.Right, r.typ)
		}
		e.joins = append(e.joins, struct{ left, right colRef }{l, r})
	}

	e.filters = make([][]query.Filter, len(p.Tables))
	e.fcols = make([][]colRef, len(p.Tables))
	for _, f := range p.Filters {
		c, err := ref("filter on", f.Column)
		if err != nil {
			return nil, err
		}
		if err := clearOnly("filter on", f.Column); err != nil {
			return nil, err
		}
		switch f.Op {
		case query.OpEQ, query.OpNE, query.OpLT, query.OpLE, query.OpGT, query.OpGE:
		default:
			return nil, fmt.Errorf("enclave: filter on %s: unknown operator %q", f.Column, f.Op)
		}
		e.filters[c.t] = append(e.filters[c.t], f)
		e.fcols[c.t] = append(e.fcols[c.t], c)
	}

	for _, g := range p.GroupBy {
		c, err := ref("group by", g)
		if err != nil {
			return nil, err
		}
		if err := clearOnly("group by", g); err != nil {
			return nil, err
		}
		e.groups = append(e.groups, c)
	}

	schemas := make(map[string]*schema.Schema, len(e.tabs))
	for i, pt := range p.Tables {
		schemas[pt.Name] = e.tabs[i].Schema
	}
	rels, err := release.NewAggs(p, schemas, encrypted)
	if err != nil {
		return nil, fmt.Errorf("enclave: %w", err)
	}
	if u := e.tabs[0].Unit; u >= 0 {
		release.SetUnit(rels, query.Column{Table: p.Tables[0].Name, Name: e.tabs[0].Schema.Columns[u].Name})
	}
	for _, o := range p.Outputs {
		if o.Func == "" {
			gi := -1
			for i, g := range p.GroupBy {
				if o.Column != nil && g.Table == o.Column.Table && g.Name == o.Column.Name {
					gi = i
				}
			}
			if gi < 0 {
				return nil, fmt.Errorf("enclave: refusing output %s: not a grouping column", o.Name)
			}
			e.outputs = append(e.outputs, gi)
			continue
		}
		a := aggSpec{out: o, rel: rels[len(e.aggs)], arg: o.Arg}
		if o.Column != nil {
			c, err := ref(string(o.Func)+" of", *o.Column)
			if err != nil {
				return nil, err
			}
			a.col = c
		}
		if o.Arg != nil {
			var err error
			o.Arg.Walk(func(c query.Column) {
				if _, rerr := ref(string(o.Func)+" of", c); rerr != nil && err == nil {
					err = rerr
				}
				if cerr := clearOnly(string(o.Func)+" of", c); cerr != nil && err == nil {
					err = cerr
				}
			}, func(c query.Column) {
				if _, rerr := ref("CASE WHEN on", c); rerr != nil && err == nil {
					err = rerr
				}
				if cerr := clearOnly("CASE WHEN on", c); cerr != nil && err == nil {
					err = cerr
				}
			})
			if err != nil {
				return nil, err
			}
		}
		if encrypted != nil && !heComputable(a) {
			return nil, fmt.Errorf("enclave: %s is not computed in multiparty HE mode", o.Name)
		}
		if o.Func == query.Sum {
			// Declared bounds bound a row; a unit's total of at most L∞
			// kept rows in one group lies in the hull.
			lo, hi, err := release.Hull(a.rel.Min, a.rel.Max, e.linf)
			if err != nil {
				return nil, fmt.Errorf("enclave: %s: %w", o.Name, err)
			}
			if m := max(hi, -lo); m > math.MaxInt64/e.l0 {
				return nil, fmt.Errorf("enclave: %s: the sensitivity L0·%d overflows int64 (L0 = %d)", o.Name, m, e.l0)
			}
		}
		if o.Func == query.Variance || o.Func == query.Stddev {
			if d := new(big.Int).Sub(big.NewInt(a.rel.Max), big.NewInt(a.rel.Min)); d.BitLen() > 62 {
				return nil, fmt.Errorf("enclave: %s: the bounds [%d, %d] are too far apart", o.Name, a.rel.Min, a.rel.Max)
			}
		}
		e.aggs = append(e.aggs, a)
		e.outputs = append(e.outputs, -(len(e.aggs)))
	}
	if params.PublicGroups != nil {
		if err := e.resolvePublic(); err != nil {
			return nil, err
		}
	}
	if params.Alpha == 0 {
		e.params.Alpha = DefaultAlpha
	}
	if a := e.params.Alpha; !(a > 0 && a < 1) {
		return nil, fmt.Errorf("enclave: Alpha must be in (0, 1), got %v", a)
	}
	return e, nil
}

// heComputable reports whether HE mode computes a: COUNT, SUM or AVG of
// a plain column, or COUNT(*).
func heComputable(a aggSpec) bool {
	switch a.fn() {
	case query.Count, query.Sum, query.Avg:
		return a.arg == nil
	}
	return false
}

// PlanColumns returns, by index in s, the columns of table (a dataset
// name) that p reads, with unit, the table's privacy unit column (-1 for
// none): what Store.LoadColumns needs to load for p.
func PlanColumns(p *query.Plan, table string, s *schema.Schema, unit int) []bool {
	need := make([]bool, len(s.Columns))
	if unit >= 0 && unit < len(need) {
		need[unit] = true
	}
	for _, u := range p.Uses() {
		if i := s.Index(u.Column.Name); u.Column.Table == table && i >= 0 {
			need[i] = true
		}
	}
	return need
}

// checkTable checks that t's rows fit its schema, every column need says
// with all of its values; the others may be left out (empty), as
// Store.LoadColumns leaves them.
func checkTable(name string, t *Table, need []bool) error {
	if t.Schema == nil || t.Rows == nil {
		return fmt.Errorf("enclave: table %s has no schema or no rows", name)
	}
	b := t.Rows
	if len(b.Cols) != len(t.Schema.Columns) {
		return fmt.Errorf("enclave: table %s: %d vectors for %d columns", name, len(b.Cols), len(t.Schema.Columns))
	}
	if b.Len < 0 || b.Len > maxRows {
		return fmt.Errorf("enclave: table %s: %d rows, at most %d supported", name, b.Len, maxRows)
	}
	for i, c := range t.Schema.Columns {
		v := &b.Cols[i]
		if !need[i] && v.Len() == 0 && v.Type == c.Type {
			continue // left out
		}
		if (c.Type == schema.String) != (v.Type == schema.String) || v.Len() != b.Len {
			return fmt.Errorf("enclave: table %s: column %s does not match its schema (%d values of type %s, want %d of %s)", name, c.Name, v.Len(), v.Type, b.Len, c.Type)
		}
	}
	if t.Unit < -1 || t.Unit >= len(t.Schema.Columns) {
		return fmt.Errorf("enclave: table %s: unit column index %d out of range", name, t.Unit)
	}
	if t.MaxRowsPerUnit < 1 {
		return fmt.Errorf("enclave: table %s: MaxRowsPerUnit must be at least 1, got %d", name, t.MaxRowsPerUnit)
	}
	return nil
}
