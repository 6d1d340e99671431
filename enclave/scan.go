package enclave

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// --- filters

// rowPred is one filter, vectorised: it reports whether row r passes.
type rowPred func(r int32) bool

// predicate returns the filter f on column col of table t as a row
// predicate: strings compare through their codes, other types directly.
func predicate(ctx context.Context, t *Table, col colRef, f query.Filter) (rowPred, error) {
	v := &t.Rows.Cols[col.c]
	if col.typ != schema.String {
		var p rowPred
		if v.Int32s != nil {
			p = intPredicate(v.Int32s, f.Op, f.Value.Int)
		} else {
			p = intPredicate(v.Ints, f.Op, f.Value.Int)
		}
		if p == nil {
			return nil, fmt.Errorf("enclave: filter on %s: unknown operator %q", f.Column, f.Op)
		}
		return p, nil
	}
	cc, err := codesOf(ctx, t, col.c)
	if err != nil {
		return nil, err
	}
	keys := cc.rows
	if cc.keys == nil {
		switch f.Op {
		case query.OpEQ, query.OpNE:
			want, eq := cc.codeOf(f.Value, true), f.Op == query.OpEQ
			return func(r int32) bool { return (keys[r] == want) == eq }, nil
		}
	}
	pass := perKey(cc, cc.passCodes(f.Op, f.Value, true))
	return func(r int32) bool { return pass[keys[r]] }, nil
}

// intPredicate returns the comparison op with x of an int column's values
// ints as a row predicate, or nil for an unknown op.
func intPredicate[T int32 | int64](ints []T, op query.Op, x int64) rowPred {
	switch op {
	case query.OpEQ:
		return func(r int32) bool { return int64(ints[r]) == x }
	case query.OpNE:
		return func(r int32) bool { return int64(ints[r]) != x }
	case query.OpLT:
		return func(r int32) bool { return int64(ints[r]) < x }
	case query.OpLE:
		return func(r int32) bool { return int64(ints[r]) <= x }
	case query.OpGT:
		return func(r int32) bool { return int64(ints[r]) > x }
	case query.OpGE:
		return func(r int32) bool { return int64(ints[r]) >= x }
	}
	return nil
}

// selectRows returns the rows of table ti that pass all its filters, in
// ascending order, or nil when it has no filter (every row passes).
func (e *exec) selectRows(ctx context.Context, ti int) ([]int32, error) {
	t := e.tabs[ti]
	if len(e.filters[ti]) == 0 {
		return nil, nil
	}
	preds := make([]rowPred, len(e.filters[ti]))
	for i, f := range e.filters[ti] {
		p, err := predicate(ctx, t, e.fcols[ti][i], f)
		if err != nil {
			return nil, err
		}
		preds[i] = p
	}
	n := t.Rows.Len
	parts := make([][]int32, workersFor(n))
	err := parallel(ctx, n, func(w, lo, hi int) error {
		out := make([]int32, 0, (hi-lo)/4+1)
		for r := lo; r < hi; r++ {
			if (r-lo)%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			ok := true
			for _, p := range preds {
				if !p(int32(r)) {
					ok = false
					break
				}
			}
			if ok {
				out = append(out, int32(r))
			}
		}
		parts[w] = out
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := slices.Concat(parts...)
	if out == nil {
		out = []int32{} // nothing passes, which is not nil (every row)
	}
	return out, nil
}

// allRows returns 0, 1, …, n-1.
func allRows(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}

// --- joins

// join joins the rows so far (rows[0..t-1]) with table t on e.joins[t-1]:
// each joined row is repeated once per matching row of t, in t's row
// order, and dropped without one. It probes t's index with the left
// column's codes translated into t's, in two passes (count, then fill) so
// that the output is allocated once, split over the cores. When every
// joined row so far matches exactly one row of t (a fact table joined to
// a dimension), the rows so far are kept as they are, shared: only t's
// rows are new.
func (e *exec) join(ctx context.Context, rows [][]int32, sels [][]int32, t int) ([][]int32, error) {
	j := e.joins[t-1]
	rt, lt := e.tabs[t], e.tabs[j.left.t]
	rc, err := codesOf(ctx, rt, j.right.c)
	if err != nil {
		return nil, err
	}
	lc, err := codesOf(ctx, lt, j.left.c)
	if err != nil {
		return nil, err
	}
	ix := indexOf(rt, j.right.c, rc)
	first := probesOf(lt, j.left.c, lc, rc, ix, j.left.typ == schema.String)
	var pass []bool // rows of t that passed its filters; nil: all
	if sels[t] != nil {
		pass = make([]bool, rt.Rows.Len)
		for _, r := range sels[t] {
			pass[r] = true
		}
	}
	lrows, lkeys, next := rows[j.left.t], lc.rows, ix.next
	n := len(rows[0])
	workers := workersFor(n)
	counts, ones := make([]int, workers), make([]int, workers)
	err = parallel(ctx, n, func(w, lo, hi int) error {
		m, one := 0, 0
		for k := lo; k < hi; k++ {
			if (k-lo)%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			mk := 0
			for r := first[lkeys[lrows[k]]]; r >= 0; r = next[r] {
				if pass == nil || pass[r] {
					mk++
				}
			}
			m += mk
			if mk == 1 {
				one++
			}
		}
		counts[w], ones[w] = m, one
		return nil
	})
	if err != nil {
		return nil, err
	}
	total, single, offs := 0, 0, make([]int, workers)
	for w, m := range counts {
		offs[w] = total
		total += m
		single += ones[w]
	}
	if total > maxRows {
		return nil, fmt.Errorf("enclave: the join of %s has more than %d rows", e.p.Tables[t].Name, maxRows)
	}
	shared := single == n // each joined row so far stays, once
	out := make([][]int32, t+1)
	for tt := range out {
		if shared && tt < t {
			out[tt] = rows[tt]
		} else {
			out[tt] = make([]int32, total)
		}
	}
	err = parallel(ctx, n, func(w, lo, hi int) error {
		i := offs[w]
		for k := lo; k < hi; k++ {
			if (k-lo)%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			for r := first[lkeys[lrows[k]]]; r >= 0; r = next[r] {
				if pass != nil && !pass[r] {
					continue
				}
				for tt := 0; tt < t && !shared; tt++ {
					out[tt][i] = rows[tt][k]
				}
				out[t][i] = r
				i++
			}
		}
		return nil
	})
	return out, err
}

// --- grouping and bounding

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
	ngroups  int32
	groupRep []int32 // per group: its first joined row, or -1
	// kept is, per joined row, its group, or -1 when contribution
	// bounding dropped the row: read in row order by aggregation.
	kept []int32
	// groupUnits and groupRows are, per group, its distinct units and its
	// kept joined rows.
	groupUnits, groupRows []int64
}

// keptGroup returns the group of joined row k, or -1 when contribution
// bounding dropped it.
func (b *bounded) keptGroup(k int) int32 { return b.kept[k] }

// rowGroups gives each joined row its group without a group per joined
// row when every grouping column is of one table: row k's group is then
// codes[rows[k]], codes being per row of that table and rows its joined
// rows. Otherwise (rows nil) it is codes[k]; without GROUP BY (codes nil)
// it is 0.
type rowGroups struct {
	codes, rows []int32
}

// groupTable returns the table every grouping column is of, or -1 when
// they are of several (or there are none).
func (e *exec) groupTable() int {
	t := -1
	for i, g := range e.groups {
		if i > 0 && g.t != t {
			return -1
		}
		t = g.t
	}
	return t
}

// rowGroups returns each joined row's group (see rowGroups) and the
// number of groups.
func (e *exec) rowGroups(ctx context.Context, rows [][]int32, n int) (rowGroups, int32, error) {
	if len(e.groups) == 0 {
		return rowGroups{}, 1, nil
	}
	if t := e.groupTable(); t >= 0 && e.tabs[t].Rows.Len <= n {
		// Code the rows of the one table (each table's own rows: no
		// row lists), which joined rows then look up: no more rows, and
		// so no more groups, than the joined rows have. A table larger
		// than the join (filtered, or a large dimension) is not coded
		// whole.
		codes, ngroups, err := e.groupCodes(ctx, make([][]int32, len(e.tabs)), e.tabs[t].Rows.Len)
		return rowGroups{codes: codes, rows: rows[t]}, ngroups, err
	}
	codes, ngroups, err := e.groupCodes(ctx, rows, n)
	return rowGroups{codes: codes}, ngroups, err
}

// eps is the ε of each aggregate and of the group selection.
func (e *exec) eps() float64 { return e.params.Epsilon / float64(len(e.aggs)+1) }

// groupCodes returns the group of each of n rows, and the number of
// groups: the codes of the grouping columns, combined. Row k is of table
// t's row rows[t][k], or its row k when rows[t] is nil. The result is
// read-only: it may be a column's codes.
func (e *exec) groupCodes(ctx context.Context, rows [][]int32, n int) ([]int32, int32, error) {
	if e.public != nil {
		return e.publicCodes(ctx, rows, make([]int32, n))
	}
	var ngroups int32
	var gids, tmp []int32
	for gi, g := range e.groups {
		cc, err := codesOf(ctx, e.tabs[g.t], g.c)
		if err != nil {
			return nil, 0, err
		}
		src := rows[g.t]
		if src == nil && len(e.groups) == 1 && cc.keys == nil {
			return cc.rows, cc.n, nil
		}
		if gids == nil {
			gids = make([]int32, n)
		}
		dst := gids
		if gi > 0 {
			if tmp == nil {
				tmp = make([]int32, n)
			}
			dst = tmp
		}
		if err := parallel(ctx, n, func(_, lo, hi int) error {
			for k := lo; k < hi; k++ {
				r := int32(k)
				if src != nil {
					r = src[k]
				}
				dst[k] = cc.code(r)
			}
			return nil
		}); err != nil {
			return nil, 0, err
		}
		if gi == 0 {
			ngroups = cc.n
			continue
		}
		if gids, ngroups, err = combine(ctx, gids, ngroups, tmp, cc.n); err != nil {
			return nil, 0, err
		}
	}
	return gids, ngroups, nil
}

// publicCodes numbers each joined row's group among the combinations of
// the public group values (mixed radix, in their order), or -1 when a
// value of the row is not public.
func (e *exec) publicCodes(ctx context.Context, rows [][]int32, gids []int32) ([]int32, int32, error) {
	ngroups := int32(1)
	for gi, g := range e.groups {
		cc, err := codesOf(ctx, e.tabs[g.t], g.c)
		if err != nil {
			return nil, 0, err
		}
		index := make([]int32, cc.n) // per code: its index among the public values
		for i := range index {
			index[i] = -1
		}
		for i, pv := range e.public[gi] {
			if !pv.ok {
				continue
			}
			if code := cc.codeOf(pv.val, g.typ == schema.String); code >= 0 {
				index[code] = int32(i)
			}
		}
		radix := int32(len(e.public[gi]))
		src := rows[g.t]
		first := gi == 0
		if err := parallel(ctx, len(gids), func(_, lo, hi int) error {
			for k := lo; k < hi; k++ {
				r := int32(k)
				if src != nil {
					r = src[k]
				}
				i := index[cc.code(r)]
				switch {
				case i < 0 || !first && gids[k] < 0:
					gids[k] = -1
				case first:
					gids[k] = i
				default:
					gids[k] = gids[k]*radix + i
				}
			}
			return nil
		}); err != nil {
			return nil, 0, err
		}
		ngroups *= radix
	}
	return gids, ngroups, nil
}

// combineDirect is the most groups that combine numbers as a product of
// codes; past it, pairs of codes are renumbered densely.
const combineDirect = 1 << 20

// combine merges two code columns into codes of their pairs, reusing a's
// storage.
func combine(ctx context.Context, a []int32, na int32, b []int32, nb int32) ([]int32, int32, error) {
	if int64(na)*int64(nb) <= combineDirect {
		err := parallel(ctx, len(a), func(_, lo, hi int) error {
			for k := lo; k < hi; k++ {
				a[k] = a[k]*nb + b[k]
			}
			return nil
		})
		return a, na * nb, err
	}
	m := make(map[uint64]int32)
	var n int32
	for k := range a {
		if k%ctxEvery == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		key := uint64(a[k])<<32 | uint64(b[k])
		c, ok := m[key]
		if !ok {
			c = n
			n++
			m[key] = c
		}
		a[k] = c
	}
	return a, n, nil
}

// bound scans, filters and joins the tables, codes groups and units, and
// bounds contributions (steps 1 to 3 of the package doc).
func (e *exec) bound(ctx context.Context) (*bounded, error) {
	sels := make([][]int32, len(e.tabs))
	for i := range e.tabs {
		s, err := e.selectRows(ctx, i)
		if err != nil {
			return nil, err
		}
		sels[i] = s
	}
	rows, err := e.joinedRows(ctx, sels)
	if err != nil {
		return nil, err
	}
	n := len(rows[0])

	groups, ngroups, err := e.rowGroups(ctx, rows, n)
	if err != nil {
		return nil, err
	}

	// The unit of joined row k is the code of its row of the first table
	// in the unit column, or that row when the table has no unit column.
	t0 := e.tabs[0]
	var units *colCodes
	nunits := t0.Rows.Len
	if t0.Unit >= 0 {
		if units, err = codesOf(ctx, t0, t0.Unit); err != nil {
			return nil, err
		}
		nunits = int(units.n)
	}
	b := &bounded{rows: rows, n: n, ngroups: ngroups}
	if err := e.boundUnits(ctx, units, nunits, groups, b); err != nil {
		return nil, err
	}
	return b, nil
}

// plantedNoBounding skips contribution bounding while the noise stays
// calibrated to L0 and L∞: a bug planted by the DP tests' control runs,
// which must catch it. Only this package's tests set it.
var plantedNoBounding bool

// boundChunk is how many joined rows' units and groups boundUnits looks
// up at a time (8 bytes a row). Tests lower it.
var boundChunk = 1 << 20

// lookupUnits sets units[i] and gids[i] to the unit and the group of
// joined row lo+i, split over the cores. A row's unit is the code in
// ucodes of its row of the first table (rows0), or that row when ucodes
// is nil.
func lookupUnits(ctx context.Context, lo int, units, gids []int32, rows0 []int32, ucodes *colCodes, groups rowGroups) error {
	// Each a tight loop of independent loads, which the processor
	// overlaps: the look-ups are mostly cache misses.
	return parallel(ctx, len(units), func(_, a, b int) error {
		switch src := rows0[lo+a : lo+b]; {
		case ucodes == nil:
			copy(units[a:b], src)
		case ucodes.keys == nil:
			for i, r := range src {
				units[a+i] = ucodes.rows[r]
			}
		default:
			for i, r := range src {
				units[a+i] = ucodes.keys[ucodes.rows[r]]
			}
		}
		switch {
		case groups.rows != nil:
			for i, r := range groups.rows[lo+a : lo+b] {
				gids[a+i] = groups.codes[r]
			}
		case groups.codes != nil:
			copy(gids[a:b], groups.codes[lo+a:lo+b])
		default:
			clear(gids[a:b])
		}
		return nil
	})
}

// boundUnits bounds contributions in scan order: a unit keeps rows in its
// first L0 groups, and at most L∞ rows in each. It is one sequential pass,
// bound by memory latency (a unit's state is read at random): split by
// unit among the cores, the workers compete for the same cache lines and
// memory bandwidth, and it measured slower; looking up the rows' units
// and groups on the other core meanwhile measured slower too, when units
// come in random order (the look-ups evict the units' state from the
// shared cache). The look-ups run on every core a chunk at a time,
// between the chunks' bounding (lookupUnits). It sets b's groupRep,
// kept, groupUnits and groupRows from the joined rows' units
// (the codes units of their rows of the first table, or those rows when
// units is nil) and groups.
func (e *exec) boundUnits(ctx context.Context, units *colCodes, nunits int, groups rowGroups, b *bounded) error {
	n := b.n
	// The first chunk is looked up before the units' state is made, so
	// that the state is in this core's cache when bounding starts.
	size := min(n, boundChunk)
	cunits, cgids := make([]int32, size), make([]int32, size)
	if err := lookupUnits(ctx, 0, cunits, cgids, b.rows[0], units, groups); err != nil {
		return err
	}
	groupRep := make([]int32, b.ngroups) // the first joined row of each group
	for i := range groupRep {
		groupRep[i] = -1
	}
	groupUnits, groupRows := make([]int64, b.ngroups), make([]int64, b.ngroups)
	// Per unit: its first pair (its head) and how many groups it is in.
	type unitState struct{ head, groups int32 }
	ustate := make([]unitState, nunits)
	for i := range ustate {
		ustate[i].head = -1
	}
	kept := make([]int32, n)
	pairs := make([]pairState, 0, min(n, nunits*int(min(e.l0, 4)))+1)
	l0, linf := e.l0, e.linf
	if plantedNoBounding {
		l0, linf = math.MaxInt64, math.MaxInt64
	}
	for lo := 0; lo < n; lo += boundChunk {
		hi := min(lo+boundChunk, n)
		cu, cg := cunits[:hi-lo], cgids[:hi-lo]
		if lo > 0 {
			if err := lookupUnits(ctx, lo, cu, cg, b.rows[0], units, groups); err != nil {
				return err
			}
		}
		for i, u := range cu {
			k := lo + i
			g := cg[i]
			if g < 0 {
				kept[k] = -1 // a value that is not public: in no group
				continue
			}
			if groupRep[g] < 0 {
				groupRep[g] = int32(k)
			}
			us := &ustate[u]
			p := us.head
			for p >= 0 && pairs[p].group != g {
				p = pairs[p].next
			}
			if p < 0 {
				if int64(us.groups) >= l0 {
					kept[k] = -1 // the unit is in L0 groups already
					continue
				}
				us.groups++
				groupUnits[g]++
				p = int32(len(pairs))
				pairs = append(pairs, pairState{group: g, next: us.head})
				us.head = p
			}
			ps := &pairs[p]
			if ps.rows >= linf {
				kept[k] = -1 // the unit has L∞ rows in this group already
				continue
			}
			ps.rows++
			groupRows[g]++
			kept[k] = g
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.groupRep, b.kept, b.groupUnits, b.groupRows = groupRep, kept, groupUnits, groupRows
	return nil
}

// selectGroups runs group selection (step 5 of the package doc): it
// returns the released groups in output order, and how many groups were
// withheld.
func (e *exec) selectGroups(b *bounded) ([]int32, []bool, int, error) {
	eps := e.eps()
	grouped := len(e.groups) > 0
	units := b.groupUnits
	if e.public != nil {
		// Every combination is released, in order; the noisy count of
		// units only withholds the aggregates of a small group.
		rel, withheld := make([]int32, b.ngroups), make([]bool, b.ngroups)
		suppressed := 0
		for g := range b.ngroups {
			c, err := dp.NewCount(&dp.CountOptions{Epsilon: eps, MaxPartitionsContributed: e.l0, Noise: e.params.Noise})
			if err != nil {
				return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
			for range units[g] {
				if err := c.Add(1); err != nil {
					return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
				}
			}
			count, err := c.Result()
			if err != nil {
				return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
			rel[g] = g
			if count < e.params.MinGroupSize {
				withheld[g] = true
				suppressed++
			}
		}
		return rel, withheld, suppressed, nil
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
				return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
			if err := sel.AddUnits(units[g]); err != nil {
				return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
			if count, keep, err = sel.Result(); err != nil {
				return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
		} else {
			c, err := dp.NewCount(&dp.CountOptions{Epsilon: eps, MaxPartitionsContributed: 1, Noise: e.params.Noise})
			if err != nil {
				return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
			}
			for range units[g] {
				if err := c.Add(1); err != nil {
					return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
				}
			}
			if count, err = c.Result(); err != nil {
				return nil, nil, 0, fmt.Errorf("enclave: group selection: %w", err)
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
	return rel, nil, suppressed, nil
}

// groupValues renders the grouping values of group g: from the public
// values, or from its first joined row.
func (e *exec) groupValues(b *bounded, g int32) []string {
	out := make([]string, len(e.groups))
	if e.public != nil {
		for gi := len(e.groups) - 1; gi >= 0; gi-- {
			radix := int32(len(e.public[gi]))
			out[gi] = e.public[gi][g%radix].text
			g /= radix
		}
		return out
	}
	for gi := range e.groups {
		out[gi] = e.groupValue(b.rows, b.groupRep[g], gi)
	}
	return out
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

// groupValue renders the value of grouping column gi in joined row k. A
// string is copied out of the rows: a dictionary's entries share its
// bytes, which are wiped once the rows are released, and a result
// outlives its rows.
func (e *exec) groupValue(rows [][]int32, k int32, gi int) string {
	g := e.groups[gi]
	v := &e.tabs[g.t].Rows.Cols[g.c]
	r := rows[g.t][k]
	if g.typ == schema.String {
		return strings.Clone(v.Str(int(r)))
	}
	return schema.FormatValue(g.typ, v.Int(int(r)))
}

// compareGroups orders joined rows a and b by their grouping values.
func (e *exec) compareGroups(rows [][]int32, a, b int32) int {
	for _, g := range e.groups {
		v := &e.tabs[g.t].Rows.Cols[g.c]
		ra, rb := rows[g.t][a], rows[g.t][b]
		var c int
		if g.typ == schema.String {
			c = strings.Compare(v.Str(int(ra)), v.Str(int(rb)))
		} else {
			c = cmpInt(v.Int(int(ra)), v.Int(int(rb)))
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

// addOK returns a+b and whether it did not overflow.
func addOK(a, b int64) (int64, bool) {
	s := a + b
	return s, (s > a) == (b > 0)
}
