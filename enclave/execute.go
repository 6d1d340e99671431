package enclave

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/xjdata/cleanroom/protocols/dp"
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
	// Rows holds the rows. Required; its vectors must match Schema.
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
}

// Result is a released aggregate: one row per released group, sorted by
// the group's values (in GROUP BY order; strings byte-wise, other types
// numerically), each value rendered as text.
type Result struct {
	// Columns are the output names, in select-list order.
	Columns []string
	// Rows are the released rows: grouping values as text (strings as they
	// are, others by schema.FormatValue), COUNT and SUM as integers, AVG
	// with two decimals.
	Rows [][]string
	// Suppressed is the number of groups present in the data but withheld
	// by group selection or MinGroupSize. It is NOT differentially private:
	// it is for the node's log, not for the querier.
	Suppressed int
}

// maxRows is the largest table Execute accepts; row indices are int32.
const maxRows = math.MaxInt32

// ctxEvery is how many rows a loop handles between checks of ctx.
const ctxEvery = 1 << 16

// colRef is a resolved column: plan table index and schema column index.
type colRef struct {
	t, c int
	typ  schema.Type
}

type aggSpec struct {
	fn     query.Func
	column *query.Column // nil for COUNT(*)
	col    colRef        // for SUM and AVG
	min    int64         // declared row bounds, for SUM and AVG
	max    int64
	lo, hi int64 // SUM: the hull of a unit's total in one group
}

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
	nSum    int
	nAvg    int
	linf    int64
	l0      int64
	params  Params
	// encrypted (dataset → column → encrypted) is set for PrepareHE, nil
	// for Execute.
	encrypted map[string]map[string]bool
}

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
		if err := checkTable(pt.Name, t); err != nil {
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
		a := aggSpec{fn: o.Func, column: o.Column}
		switch o.Func {
		case query.Count:
			if o.Column != nil {
				if _, err := ref("COUNT of", *o.Column); err != nil {
					return nil, err
				}
			}
		case query.Sum, query.Avg:
			if o.Column == nil {
				return nil, fmt.Errorf("enclave: %s needs a column", o.Func)
			}
			c, err := ref(string(o.Func)+" of", *o.Column)
			if err != nil {
				return nil, err
			}
			col := e.tabs[c.t].Schema.Columns[c.c]
			switch c.typ {
			case schema.Int, schema.Date:
				a.min, a.max = *col.Min, *col.Max
			case schema.Bool:
				a.min, a.max = 0, 1
			default:
				return nil, fmt.Errorf("enclave: %s of %s: a %s column cannot be summed or averaged", o.Func, *o.Column, c.typ)
			}
			a.col = c
			if o.Func == query.Sum {
				e.nSum++
				// Declared bounds bound a row; a unit's total of at most
				// L∞ kept rows in one group lies in the hull.
				if a.lo, a.hi, err = release.Hull(a.min, a.max, e.linf); err != nil {
					return nil, fmt.Errorf("enclave: SUM of %s: %w", *o.Column, err)
				}
				if m := max(a.hi, -a.lo); m > math.MaxInt64/e.l0 {
					return nil, fmt.Errorf("enclave: SUM of %s: the sensitivity L0·%d overflows int64 (L0 = %d)", *o.Column, m, e.l0)
				}
			} else {
				e.nAvg++
				if a.min == a.max {
					return nil, fmt.Errorf("enclave: AVG of %s: the declared bounds [%d, %d] are equal; AVG needs min < max", *o.Column, a.min, a.max)
				}
			}
		default:
			return nil, fmt.Errorf("enclave: unknown aggregate %q in output %s", o.Func, o.Name)
		}
		e.aggs = append(e.aggs, a)
		e.outputs = append(e.outputs, -(len(e.aggs)))
	}
	return e, nil
}

func checkTable(name string, t *Table) error {
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

// --- filters

// selectRows returns the indices of t's rows that pass all filters.
func selectRows(ctx context.Context, t *Table, filters []query.Filter, cols []colRef) ([]int32, error) {
	n := t.Rows.Len
	if len(filters) == 0 {
		sel := make([]int32, n)
		for i := range sel {
			sel[i] = int32(i)
		}
		return sel, nil
	}
	var sel []int32
	for fi, f := range filters {
		v := &t.Rows.Cols[cols[fi].c]
		var err error
		if cols[fi].typ == schema.String {
			sel, err = filterStr(ctx, v.Strs, f.Op, f.Value.Str, sel, fi == 0, n)
		} else {
			sel, err = filterInt(ctx, v.Ints, f.Op, f.Value.Int, sel, fi == 0, n)
		}
		if err != nil {
			return nil, err
		}
	}
	return sel, nil
}

func cmpOK(op query.Op, c int) bool {
	switch op {
	case query.OpEQ:
		return c == 0
	case query.OpNE:
		return c != 0
	case query.OpLT:
		return c < 0
	case query.OpLE:
		return c <= 0
	case query.OpGT:
		return c > 0
	case query.OpGE:
		return c >= 0
	}
	return false
}

// filterInt keeps the rows (all n when first, else those in sel) whose value
// compares with x as op says. It reuses sel's storage.
func filterInt(ctx context.Context, vals []int64, op query.Op, x int64, sel []int32, first bool, n int) ([]int32, error) {
	var keep func(v int64) bool
	switch op {
	case query.OpEQ:
		keep = func(v int64) bool { return v == x }
	case query.OpNE:
		keep = func(v int64) bool { return v != x }
	case query.OpLT:
		keep = func(v int64) bool { return v < x }
	case query.OpLE:
		keep = func(v int64) bool { return v <= x }
	case query.OpGT:
		keep = func(v int64) bool { return v > x }
	case query.OpGE:
		keep = func(v int64) bool { return v >= x }
	}
	return keepRows(ctx, vals, keep, sel, first, n)
}

// keepRows keeps the rows whose value passes keep: all n rows when
// first, else the rows of sel (reusing its storage).
func keepRows[T int64 | string](ctx context.Context, vals []T, keep func(T) bool, sel []int32, first bool, n int) ([]int32, error) {
	if first {
		out := make([]int32, 0, n/2+1)
		for i := 0; i < n; i++ {
			if i%ctxEvery == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if keep(vals[i]) {
				out = append(out, int32(i))
			}
		}
		return out, nil
	}
	out := sel[:0]
	for k, r := range sel {
		if k%ctxEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if keep(vals[r]) {
			out = append(out, r)
		}
	}
	return out, nil
}

func filterStr(ctx context.Context, vals []string, op query.Op, x string, sel []int32, first bool, n int) ([]int32, error) {
	keep := func(v string) bool { return cmpOK(op, strings.Compare(v, x)) }
	switch op {
	case query.OpEQ:
		keep = func(v string) bool { return v == x }
	case query.OpNE:
		keep = func(v string) bool { return v != x }
	}
	return keepRows(ctx, vals, keep, sel, first, n)
}

// --- joins

// joinIndex maps each key of one column to the first row that holds it;
// next chains the other rows of the same key, in ascending row order.
type joinIndex struct {
	strs map[string]int32
	ints map[int64]int32
	next []int32 // per table row: the next row of the same key, or -1
}

// buildIndex indexes the given rows of v (all rows when rows is nil).
func buildIndex(ctx context.Context, v *schema.Vector, n int, rows []int32) (*joinIndex, error) {
	size := n
	if rows != nil {
		size = len(rows)
	}
	ix := &joinIndex{next: make([]int32, n)}
	if v.Type == schema.String {
		ix.strs = make(map[string]int32, size)
	} else {
		ix.ints = make(map[int64]int32, size)
	}
	// Walk backwards so that each chain lists rows in ascending order.
	for k := size - 1; k >= 0; k-- {
		if k%ctxEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r := int32(k)
		if rows != nil {
			r = rows[k]
		}
		var head int32
		var ok bool
		if ix.strs != nil {
			key := v.Strs[r]
			head, ok = ix.strs[key]
			ix.strs[key] = r
		} else {
			key := v.Ints[r]
			head, ok = ix.ints[key]
			ix.ints[key] = r
		}
		if ok {
			ix.next[r] = head
		} else {
			ix.next[r] = -1
		}
	}
	return ix, nil
}

// lookup returns the first row of key v[r], or -1.
func (ix *joinIndex) lookup(v *schema.Vector, r int32) int32 {
	var pos int32
	var ok bool
	if ix.strs != nil {
		pos, ok = ix.strs[v.Strs[r]]
	} else {
		pos, ok = ix.ints[v.Ints[r]]
	}
	if !ok {
		return -1
	}
	return pos
}

// --- dictionary codes

// directLimit is the widest declared range of an int or date column whose
// values are coded through an array rather than a map.
const directLimit = 1 << 16

// directRange reports whether column c is coded directly from its value,
// and the smallest value and the number of values if so.
func directRange(col schema.Column) (min int64, n int, ok bool) {
	switch col.Type {
	case schema.Bool:
		return 0, 2, true
	case schema.Int, schema.Date:
		if d := *col.Max - *col.Min; d >= 0 && d < directLimit {
			return *col.Min, int(d) + 1, true
		}
	}
	return 0, 0, false
}

// dictionary gives dense codes to the values of a string or wide int
// column, in order of first appearance.
type dictionary struct {
	v    *schema.Vector
	strs map[string]int32
	ints map[int64]int32
	n    int32
}

func newDictionary(v *schema.Vector) *dictionary {
	d := &dictionary{v: v}
	if v.Type == schema.String {
		d.strs = make(map[string]int32)
	} else {
		d.ints = make(map[int64]int32)
	}
	return d
}

func (d *dictionary) code(r int32) int32 {
	var c int32
	var ok bool
	if d.strs != nil {
		s := d.v.Strs[r]
		if c, ok = d.strs[s]; !ok {
			c = d.n
			d.n++
			d.strs[s] = c
		}
	} else {
		x := d.v.Ints[r]
		if c, ok = d.ints[x]; !ok {
			c = d.n
			d.n++
			d.ints[x] = c
		}
	}
	return c
}

// allCodes codes every row of v.
func allCodes(ctx context.Context, v *schema.Vector, n int) ([]int32, int32, error) {
	d := newDictionary(v)
	codes := make([]int32, n)
	for r := range codes {
		if r%ctxEvery == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		codes[r] = d.code(int32(r))
	}
	return codes, d.n, nil
}

// codes sets out[k] to the code of column c of table ti in row rows[k],
// and returns the number of codes (an upper bound of the distinct values).
func (e *exec) codes(ctx context.Context, ti, c int, rows []int32, out []int32) (int32, error) {
	t := e.tabs[ti]
	v := &t.Rows.Cols[c]
	if lo, width, ok := directRange(t.Schema.Columns[c]); ok {
		// Values are within the declared bounds (the schema's contract,
		// checked at upload); clamp defensively.
		remap := make([]int32, width)
		for i := range remap {
			remap[i] = -1
		}
		var n int32
		for k, r := range rows {
			if k%ctxEvery == 0 && ctx.Err() != nil {
				return 0, ctx.Err()
			}
			d := min(max(v.Ints[r]-lo, 0), int64(width-1))
			code := remap[d]
			if code < 0 {
				code = n
				n++
				remap[d] = code
			}
			out[k] = code
		}
		return n, nil
	}
	if t.cache != nil {
		cc := t.cache.col(c)
		// Derived once for all rows, to the end even if ctx is done, so
		// that a cancelled query does not leave a broken cache behind.
		cc.codesOnce.Do(func() { cc.codes, cc.n, _ = allCodes(context.Background(), v, t.Rows.Len) })
		full := cc.codes
		for k, r := range rows {
			out[k] = full[r]
		}
		return cc.n, nil
	}
	// No cache: code the rows used, each distinct row once.
	d := newDictionary(v)
	rowCode := make([]int32, t.Rows.Len)
	for i := range rowCode {
		rowCode[i] = -1
	}
	for k, r := range rows {
		if k%ctxEvery == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		code := rowCode[r]
		if code < 0 {
			code = d.code(r)
			rowCode[r] = code
		}
		out[k] = code
	}
	return d.n, nil
}

// combine merges two code columns into dense codes of their pairs, in
// order of first appearance. It reuses a's storage.
func combine(a []int32, na int32, b []int32, nb int32) ([]int32, int32) {
	out := a
	var n int32
	if int64(na)*int64(nb) <= 1<<20 {
		table := make([]int32, int(na)*int(nb))
		for i := range table {
			table[i] = -1
		}
		for k := range a {
			key := int(a[k])*int(nb) + int(b[k])
			c := table[key]
			if c < 0 {
				c = n
				n++
				table[key] = c
			}
			out[k] = c
		}
		return out, n
	}
	m := make(map[uint64]int32)
	for k := range a {
		key := uint64(a[k])<<32 | uint64(b[k])
		c, ok := m[key]
		if !ok {
			c = n
			n++
			m[key] = c
		}
		out[k] = c
	}
	return out, n
}

// join joins the rows so far (rows[0..t-1]) with table t on e.joins[t-1].
func (e *exec) join(ctx context.Context, rows [][]int32, sels [][]int32, t int) ([][]int32, error) {
	j := e.joins[t-1]
	rt, lt := e.tabs[t], e.tabs[j.left.t]
	rv, lv := &rt.Rows.Cols[j.right.c], &lt.Rows.Cols[j.left.c]
	var (
		ix    *joinIndex
		pass  []bool  // rows of table t that passed its filters; nil: all
		first []int32 // per row of the left table: first matching row
		err   error
	)
	if rt.cache != nil {
		// The index covers all rows of t, once; filters are checked when
		// probing.
		rc := rt.cache.col(j.right.c)
		rc.indexOnce.Do(func() { rc.index, _ = buildIndex(context.Background(), rv, rt.Rows.Len, nil) })
		ix = rc.index
		if len(e.filters[t]) > 0 {
			pass = make([]bool, rt.Rows.Len)
			for _, r := range sels[t] {
				pass[r] = true
			}
		}
		if lt.cache != nil {
			pc := lt.cache.col(j.left.c).probe(ix)
			pc.once.Do(func() {
				pc.first = make([]int32, lt.Rows.Len)
				for r := range pc.first {
					pc.first[r] = ix.lookup(lv, int32(r))
				}
			})
			first = pc.first
		}
	} else if ix, err = buildIndex(ctx, rv, rt.Rows.Len, sels[t]); err != nil {
		return nil, err
	}

	lrows := rows[j.left.t]
	n := len(rows[0])
	out := make([][]int32, t+1)
	for tt := range out {
		out[tt] = make([]int32, 0, n)
	}
	for k := 0; k < n; k++ {
		if k%ctxEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var pos int32
		if first != nil {
			pos = first[lrows[k]]
		} else {
			pos = ix.lookup(lv, lrows[k])
		}
		for ; pos >= 0; pos = ix.next[pos] {
			if pass != nil && !pass[pos] {
				continue
			}
			for tt := 0; tt < t; tt++ {
				out[tt] = append(out[tt], rows[tt][k])
			}
			out[t] = append(out[t], pos)
		}
	}
	return out, nil
}

// --- execution

// pairState is one unit's kept rows in one group: the group, the unit's
// next pair (a chain from its head), and how many rows it keeps there.
type pairState struct {
	group, next int32
	rows        int64
}

// bounded is what scanning, joining, grouping and contribution bounding
// make of the tables; Execute and PrepareHE share it.
type bounded struct {
	rows     [][]int32 // rows[t][k]: the row of table t in joined row k
	n        int       // joined rows
	gids     []int32   // per joined row: its group
	ngroups  int32
	groupRep []int32 // per group: its first joined row, or -1
	// pairOf is, per joined row, the index in pairs of its (unit, group)
	// pair, or -1 when contribution bounding dropped the row.
	pairOf []int32
	pairs  []pairState
}

// eps is the ε of each aggregate and of the group selection.
func (e *exec) eps() float64 { return e.params.Epsilon / float64(len(e.aggs)+1) }

// bound scans, filters and joins the tables, codes groups and units, and
// bounds contributions (steps 1 to 3 of the package doc).
func (e *exec) bound(ctx context.Context) (*bounded, error) {
	// Scan and filter each table.
	sels := make([][]int32, len(e.tabs))
	for i, t := range e.tabs {
		s, err := selectRows(ctx, t, e.filters[i], e.fcols[i])
		if err != nil {
			return nil, err
		}
		sels[i] = s
	}

	// Joined rows: rows[t][k] is the row of table t in joined row k.
	rows := make([][]int32, len(e.tabs))
	rows[0] = sels[0]
	for t := 1; t < len(e.tabs); t++ {
		out, err := e.join(ctx, rows, sels, t)
		if err != nil {
			return nil, err
		}
		copy(rows, out)
	}
	n := len(rows[0])

	// Group codes per joined row.
	gids := make([]int32, n)
	var ngroups int32 = 1
	if len(e.groups) > 0 {
		var codes []int32
		for gi, g := range e.groups {
			dst := gids
			if gi > 0 {
				if codes == nil {
					codes = make([]int32, n)
				}
				dst = codes
			}
			nc, err := e.codes(ctx, g.t, g.c, rows[g.t], dst)
			if err != nil {
				return nil, err
			}
			if gi == 0 {
				ngroups = nc
			} else {
				gids, ngroups = combine(gids, ngroups, codes, nc)
			}
		}
	}
	groupRep := make([]int32, ngroups) // the first joined row of each group
	for i := range groupRep {
		groupRep[i] = -1
	}
	for k := 0; k < n; k++ {
		g := gids[k]
		if groupRep[g] < 0 {
			groupRep[g] = int32(k)
		}
	}

	// Unit codes per joined row.
	t0 := e.tabs[0]
	var units, pairOf []int32
	var nunits int
	if t0.Unit < 0 {
		units, nunits = rows[0], t0.Rows.Len
		pairOf = make([]int32, n)
	} else {
		units = make([]int32, n)
		nu, err := e.codes(ctx, 0, t0.Unit, rows[0], units)
		if err != nil {
			return nil, err
		}
		nunits = int(nu)
		pairOf = units // pairOf[k] is written after units[k] is read
	}

	// Contribution bounding, in scan order.
	type unitState struct{ head, groups int32 }
	ustate := make([]unitState, nunits)
	for i := range ustate {
		ustate[i].head = -1
	}
	pairs := make([]pairState, 0, min(n, nunits*int(min(e.l0, 4)))+1)
	l0, linf := e.l0, e.linf
	for k := 0; k < n; k++ {
		if k%ctxEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		u, g := units[k], gids[k]
		us := &ustate[u]
		p := us.head
		for p >= 0 && pairs[p].group != g {
			p = pairs[p].next
		}
		if p < 0 {
			if int64(us.groups) >= l0 {
				pairOf[k] = -1 // the unit is in L0 groups already
				continue
			}
			us.groups++
			p = int32(len(pairs))
			pairs = append(pairs, pairState{group: g, next: us.head})
			us.head = p
		}
		ps := &pairs[p]
		if ps.rows >= linf {
			pairOf[k] = -1 // the unit has L∞ rows in this group already
			continue
		}
		ps.rows++
		pairOf[k] = p
	}
	return &bounded{rows: rows, n: n, gids: gids, ngroups: ngroups, groupRep: groupRep, pairOf: pairOf, pairs: pairs}, nil
}

// selectGroups runs group selection (step 5 of the package doc): it
// returns the released groups in output order, and how many groups were
// withheld.
func (e *exec) selectGroups(b *bounded) ([]int32, int, error) {
	eps := e.eps()
	grouped := len(e.groups) > 0
	units := make([]int64, b.ngroups) // distinct units per group: one pair each
	for _, p := range b.pairs {
		units[p.group]++
	}
	var rel []int32
	suppressed := 0
	for g := range b.ngroups {
		if grouped && units[g] == 0 {
			if b.groupRep[g] >= 0 {
				suppressed++ // every row of the group was dropped by bounding
			}
			continue
		}
		var (
			count int64
			keep  = true
		)
		if grouped {
			sel, err := dp.NewSelection(&dp.SelectionOptions{Epsilon: eps, Delta: e.params.Delta, MaxPartitionsContributed: e.l0, Noise: e.params.Noise})
			if err != nil {
				return nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
			for range units[g] {
				if err := sel.AddUnit(); err != nil {
					return nil, 0, fmt.Errorf("enclave: group selection: %w", err)
				}
			}
			if count, keep, err = sel.Result(); err != nil {
				return nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
		} else {
			c, err := dp.NewCount(&dp.CountOptions{Epsilon: eps, MaxPartitionsContributed: 1, Noise: e.params.Noise})
			if err != nil {
				return nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
			for range units[g] {
				if err := c.Add(1); err != nil {
					return nil, 0, fmt.Errorf("enclave: group selection: %w", err)
				}
			}
			if count, err = c.Result(); err != nil {
				return nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
		}
		if !keep || count < e.params.MinGroupSize {
			suppressed++
			continue
		}
		rel = append(rel, g)
	}
	if grouped {
		slices.SortFunc(rel, func(x, y int32) int { return e.compareGroups(b.rows, b.groupRep[x], b.groupRep[y]) })
	}
	return rel, suppressed, nil
}

// relIndex returns, per group, its index in rel, or -1.
func relIndex(ngroups int32, rel []int32) []int32 {
	idx := make([]int32, ngroups)
	for i := range idx {
		idx[i] = -1
	}
	for i, g := range rel {
		idx[g] = int32(i)
	}
	return idx
}

// columns returns the output names.
func (e *exec) columns() []string {
	cols := make([]string, len(e.p.Outputs))
	for i, o := range e.p.Outputs {
		cols[i] = o.Name
	}
	return cols
}

// valSrc reads an aggregate's column per joined row: ints[rows[k]].
type valSrc struct {
	ints []int64
	rows []int32
}

func (e *exec) src(b *bounded, a aggSpec) valSrc {
	return valSrc{ints: e.tabs[a.col.t].Rows.Cols[a.col.c].Ints, rows: b.rows[a.col.t]}
}

// run is Execute's: bounding and selection, then the DP aggregations of
// the released groups (step 4 of the package doc) and the result rows.
func (e *exec) run(ctx context.Context) (*Result, error) {
	b, err := e.bound(ctx)
	if err != nil {
		return nil, err
	}
	rel, suppressed, err := e.selectGroups(b)
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: e.columns(), Suppressed: suppressed}
	relIdx := relIndex(b.ngroups, rel)
	eps := e.eps()
	l0, linf := e.l0, e.linf

	// The aggregations of each released group.
	type groupAgg struct {
		counts []*dp.Count
		sums   []*dp.BoundedSumInt64
		totals []int64 // per SUM: the exact sum, to detect an overflow
		means  []*dp.BoundedMean
	}
	var sumAggs, avgAggs []aggSpec
	var sumSrc, avgSrc []valSrc
	for _, a := range e.aggs {
		switch a.fn {
		case query.Sum:
			sumAggs = append(sumAggs, a)
			sumSrc = append(sumSrc, e.src(b, a))
		case query.Avg:
			avgAggs = append(avgAggs, a)
			avgSrc = append(avgSrc, e.src(b, a))
		}
	}
	gaggs := make([]groupAgg, len(rel))
	for ri := range gaggs {
		ga := &gaggs[ri]
		ga.totals = make([]int64, len(sumAggs))
		for _, a := range e.aggs {
			switch a.fn {
			case query.Count:
				c, err := dp.NewCount(&dp.CountOptions{Epsilon: eps, MaxPartitionsContributed: l0, MaxContributionsPerPartition: linf, Noise: e.params.Noise})
				if err != nil {
					return nil, fmt.Errorf("enclave: COUNT: %w", err)
				}
				ga.counts = append(ga.counts, c)
			case query.Sum:
				s, err := dp.NewBoundedSumInt64(&dp.BoundedSumInt64Options{Epsilon: eps, MaxPartitionsContributed: l0, Lower: a.lo, Upper: a.hi, Noise: e.params.Noise})
				if err != nil {
					return nil, fmt.Errorf("enclave: SUM: %w", err)
				}
				ga.sums = append(ga.sums, s)
			case query.Avg:
				m, err := dp.NewBoundedMean(&dp.BoundedMeanOptions{
					Epsilon:                      eps,
					MaxPartitionsContributed:     l0,
					MaxContributionsPerPartition: linf,
					Lower:                        float64(a.min),
					Upper:                        float64(a.max),
					Noise:                        e.params.Noise,
				})
				if err != nil {
					return nil, fmt.Errorf("enclave: AVG: %w", err)
				}
				ga.means = append(ga.means, m)
			}
		}
	}

	// Kept rows, in scan order: unit totals for SUM, values for AVG.
	nSum := len(sumAggs)
	var pairSums []int64 // nSum per pair
	if nSum > 0 {
		pairSums = make([]int64, len(b.pairs)*nSum)
	}
	if len(rel) > 0 && (nSum > 0 || len(avgAggs) > 0) {
		for k := 0; k < b.n; k++ {
			if k%ctxEvery == 0 && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			p := b.pairOf[k]
			if p < 0 {
				continue
			}
			ri := relIdx[b.gids[k]]
			if ri < 0 {
				continue
			}
			for s := range sumSrc {
				v := sumSrc[s].ints[sumSrc[s].rows[k]]
				pairSums[int(p)*nSum+s] = satAdd(pairSums[int(p)*nSum+s], v)
			}
			for a, m := range gaggs[ri].means {
				if err := m.Add(float64(avgSrc[a].ints[avgSrc[a].rows[k]])); err != nil {
					return nil, fmt.Errorf("enclave: AVG: %w", err)
				}
			}
		}
	}

	// One contribution per (unit, group) pair to COUNT and SUM.
	for p := range b.pairs {
		ri := relIdx[b.pairs[p].group]
		if ri < 0 {
			continue
		}
		ga := &gaggs[ri]
		var err error
		for _, c := range ga.counts {
			err = errors.Join(err, c.Add(b.pairs[p].rows))
		}
		for s, sum := range ga.sums {
			v := pairSums[p*nSum+s] // within the hull: never clamped
			t, ok := addOK(ga.totals[s], v)
			if !ok {
				return nil, fmt.Errorf("enclave: SUM of %s: a group's total overflows int64", sumAggs[s].column)
			}
			ga.totals[s] = t
			err = errors.Join(err, sum.Add(v))
		}
		if err != nil {
			return nil, fmt.Errorf("enclave: aggregating: %w", err)
		}
	}

	// Results of the released groups.
	res.Rows = make([][]string, len(rel))
	aggVals := make([]string, len(e.aggs))
	for ri, g := range rel {
		ga := &gaggs[ri]
		ci, si, ai := 0, 0, 0
		for i, a := range e.aggs {
			switch a.fn {
			case query.Count:
				r, err := ga.counts[ci].Result()
				if err != nil {
					return nil, fmt.Errorf("enclave: COUNT: %w", err)
				}
				ci++
				aggVals[i] = release.FormatCount(r)
			case query.Sum:
				r, err := ga.sums[si].Result()
				if err != nil {
					return nil, fmt.Errorf("enclave: SUM: %w", err)
				}
				si++
				aggVals[i] = release.FormatSum(r, a.lo, a.hi)
			case query.Avg:
				r, err := ga.means[ai].Result()
				if err != nil {
					return nil, fmt.Errorf("enclave: AVG: %w", err)
				}
				ai++
				aggVals[i] = release.FormatAvg(r)
			}
		}
		vals := make([]string, len(e.outputs))
		for i, oi := range e.outputs {
			if oi >= 0 {
				vals[i] = e.groupValue(b.rows, b.groupRep[g], oi)
			} else {
				vals[i] = aggVals[-oi-1]
			}
		}
		res.Rows[ri] = vals
	}
	return res, nil
}

// groupValue renders the value of grouping column gi in joined row k.
func (e *exec) groupValue(rows [][]int32, k int32, gi int) string {
	g := e.groups[gi]
	v := &e.tabs[g.t].Rows.Cols[g.c]
	r := rows[g.t][k]
	if g.typ == schema.String {
		return v.Strs[r]
	}
	return schema.FormatValue(g.typ, v.Ints[r])
}

// compareGroups orders joined rows a and b by their grouping values.
func (e *exec) compareGroups(rows [][]int32, a, b int32) int {
	for _, g := range e.groups {
		v := &e.tabs[g.t].Rows.Cols[g.c]
		ra, rb := rows[g.t][a], rows[g.t][b]
		var c int
		if g.typ == schema.String {
			c = strings.Compare(v.Strs[ra], v.Strs[rb])
		} else {
			c = cmpInt(v.Ints[ra], v.Ints[rb])
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addOK returns a+b and whether it did not overflow.
func addOK(a, b int64) (int64, bool) {
	s := a + b
	return s, (s > a) == (b > 0)
}

// satAdd returns a+b, saturated at the int64 limits.
func satAdd(a, b int64) int64 {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		if a > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}
