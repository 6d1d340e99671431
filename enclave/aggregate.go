package enclave

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"strconv"

	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/schema"
)

// columns returns the output names.
func (e *exec) columns() []string {
	cols := make([]string, len(e.p.Outputs))
	for i, o := range e.p.Outputs {
		cols[i] = o.Name
	}
	return cols
}

// privacy returns the privacy parameters as applied, in package release's
// form.
func (e *exec) privacy() release.Privacy {
	p := release.Privacy{Epsilon: e.params.Epsilon, Delta: e.params.Delta, MinGroupSize: e.params.MinGroupSize, MaxGroupsPerUnit: e.l0, LInf: e.linf}
	if len(e.groups) == 0 {
		p.Delta = 0
	}
	return p
}

// valueFn reads an aggregate's argument in joined row k: its value in
// units of 10^-Scale, and false when it is NULL.
type valueFn func(k int) (int64, bool)

// condFn evaluates a CASE condition in joined row k.
type condFn func(k int) bool

// argument returns the reader of a's argument over the joined rows of b.
func (e *exec) argument(b *bounded, a *aggSpec) (valueFn, error) {
	if a.arg != nil {
		return e.compileExpr(b, a.arg)
	}
	if a.out.Column == nil {
		return func(int) (int64, bool) { return 1, true }, nil
	}
	if a.col.typ == schema.String {
		return func(int) (int64, bool) { return 1, true }, nil // only COUNTs read strings
	}
	return intReader(&e.tabs[a.col.t].Rows.Cols[a.col.c], b.rows[a.col.t]), nil
}

// intReader returns the reader of an int column's value in joined row k,
// rows being the joined rows of the column's table.
func intReader(v *schema.Vector, rows []int32) valueFn {
	if ints := v.Int32s; ints != nil {
		return func(k int) (int64, bool) { return int64(ints[rows[k]]), true }
	}
	ints := v.Ints
	return func(k int) (int64, bool) { return ints[rows[k]], true }
}

// locate returns the table and column index of a plan column.
func (e *exec) locate(c query.Column) (colRef, error) {
	for i, pt := range e.p.Tables {
		if pt.Name == c.Table {
			ci := e.tabs[i].Schema.Index(c.Name)
			if ci < 0 {
				break
			}
			return colRef{t: i, c: ci, typ: e.tabs[i].Schema.Columns[ci].Type}, nil
		}
	}
	return colRef{}, fmt.Errorf("enclave: no column %s in the plan's tables", c)
}

// compileExpr turns an expression into a reader of the joined rows.
// Intermediate values cannot overflow: release.NewAggs checked the
// expression's bounds, and every value is within its column's declared
// bounds.
func (e *exec) compileExpr(b *bounded, x *query.Expr) (valueFn, error) {
	scale := x.Scale()
	switch x.Kind {
	case query.ExprColumn:
		c, err := e.locate(*x.Column)
		if err != nil {
			return nil, err
		}
		return intReader(&e.tabs[c.t].Rows.Cols[c.c], b.rows[c.t]), nil
	case query.ExprLiteral:
		v := x.Value.Units
		return func(int) (int64, bool) { return v, true }, nil
	case query.ExprNeg:
		in, err := e.compileExpr(b, x.Args[0])
		if err != nil {
			return nil, err
		}
		return func(k int) (int64, bool) { v, ok := in(k); return -v, ok }, nil
	case query.ExprAdd, query.ExprSub, query.ExprMul:
		l, err := e.compileExpr(b, x.Args[0])
		if err != nil {
			return nil, err
		}
		r, err := e.compileExpr(b, x.Args[1])
		if err != nil {
			return nil, err
		}
		if x.Kind == query.ExprMul {
			return func(k int) (int64, bool) {
				a, ok1 := l(k)
				c, ok2 := r(k)
				return a * c, ok1 && ok2
			}, nil
		}
		fl, fr := query.Pow10(scale-x.Args[0].Scale()), query.Pow10(scale-x.Args[1].Scale())
		sign := int64(1)
		if x.Kind == query.ExprSub {
			sign = -1
		}
		return func(k int) (int64, bool) {
			a, ok1 := l(k)
			c, ok2 := r(k)
			return a*fl + sign*c*fr, ok1 && ok2
		}, nil
	case query.ExprLeast, query.ExprGreat:
		fs := make([]valueFn, len(x.Args))
		ms := make([]int64, len(x.Args))
		for i, a := range x.Args {
			f, err := e.compileExpr(b, a)
			if err != nil {
				return nil, err
			}
			fs[i], ms[i] = f, query.Pow10(scale-a.Scale())
		}
		least := x.Kind == query.ExprLeast
		return func(k int) (int64, bool) {
			var out int64
			for i, f := range fs {
				v, ok := f(k)
				if !ok {
					return 0, false
				}
				v *= ms[i]
				if i == 0 || least && v < out || !least && v > out {
					out = v
				}
			}
			return out, true
		}, nil
	case query.ExprDiv:
		in, err := e.compileExpr(b, x.Args[0])
		if err != nil {
			return nil, err
		}
		// value·10^(s + ds − xs) / D, rounded half away from zero.
		exp := scale + x.Value.Scale - x.Args[0].Scale()
		if exp > 18 {
			return nil, fmt.Errorf("enclave: division needs 10^%d", exp)
		}
		mul, d := uint64(query.Pow10(exp)), x.Value.Units
		return func(k int) (int64, bool) {
			v, ok := in(k)
			return divRound(v, mul, d), ok
		}, nil
	case query.ExprCase:
		type branch struct {
			cond condFn
			then valueFn
			f    int64
		}
		var bs []branch
		for _, w := range x.When {
			c, err := e.compileCond(b, w.If)
			if err != nil {
				return nil, err
			}
			t, err := e.compileExpr(b, w.Then)
			if err != nil {
				return nil, err
			}
			bs = append(bs, branch{c, t, query.Pow10(scale - w.Then.Scale())})
		}
		var els valueFn
		var fe int64
		if x.Else != nil {
			var err error
			if els, err = e.compileExpr(b, x.Else); err != nil {
				return nil, err
			}
			fe = query.Pow10(scale - x.Else.Scale())
		}
		return func(k int) (int64, bool) {
			for _, br := range bs {
				if br.cond(k) {
					v, ok := br.then(k)
					return v * br.f, ok
				}
			}
			if els == nil {
				return 0, false
			}
			v, ok := els(k)
			return v * fe, ok
		}, nil
	}
	return nil, fmt.Errorf("enclave: unknown expression kind %q", x.Kind)
}

// divRound returns v·mul/d rounded half away from zero, for d ≠ 0 and a
// result that fits int64 (the expression's bounds say it does).
func divRound(v int64, mul uint64, d int64) int64 {
	neg := (v < 0) != (d < 0)
	av, ad := uint64(v), uint64(d)
	if v < 0 {
		av = -av
	}
	if d < 0 {
		ad = -ad
	}
	hi, lo := bits.Mul64(av, mul)
	q, r := bits.Div64(hi, lo, ad)
	if r >= ad-r { // 2r ≥ d, without overflow
		q++
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

// compileCond turns a CASE condition into a reader of the joined rows.
func (e *exec) compileCond(b *bounded, c *query.Cond) (condFn, error) {
	switch c.Kind {
	case query.CondCompare:
		col, err := e.locate(c.Filter.Column)
		if err != nil {
			return nil, err
		}
		pred, err := predicate(context.Background(), e.tabs[col.t], col, *c.Filter)
		if err != nil {
			return nil, err
		}
		rows := b.rows[col.t]
		return func(k int) bool { return pred(rows[k]) }, nil
	case query.CondNot:
		in, err := e.compileCond(b, c.Args[0])
		if err != nil {
			return nil, err
		}
		return func(k int) bool { return !in(k) }, nil
	case query.CondAnd, query.CondOr:
		l, err := e.compileCond(b, c.Args[0])
		if err != nil {
			return nil, err
		}
		r, err := e.compileCond(b, c.Args[1])
		if err != nil {
			return nil, err
		}
		if c.Kind == query.CondAnd {
			return func(k int) bool { return l(k) && r(k) }, nil
		}
		return func(k int) bool { return l(k) || r(k) }, nil
	}
	return nil, fmt.Errorf("enclave: unknown condition kind %q", c.Kind)
}

// acc is the exact state of one aggregate in one released group.
type acc struct {
	count int64 // rows with a value (all kept rows for COUNT(*))
	sum   int64 // SUM and AVG: Σ value; VARIANCE: Σ d, d = 2·value − (Min+Max)
	sq    [3]uint64
	q     *dp.Quantiles
}

// addSq adds d² to a 192-bit sum.
func (a *acc) addSq(d int64) {
	u := uint64(d)
	if d < 0 {
		u = -u
	}
	hi, lo := bits.Mul64(u, u)
	var c uint64
	a.sq[0], c = bits.Add64(a.sq[0], lo, 0)
	a.sq[1], c = bits.Add64(a.sq[1], hi, c)
	a.sq[2] += c
}

// merge adds o into a.
func (a *acc) merge(o *acc) (ok bool, err error) {
	a.count += o.count
	if a.sum, ok = addOK(a.sum, o.sum); !ok {
		return false, nil
	}
	var c uint64
	a.sq[0], c = bits.Add64(a.sq[0], o.sq[0], 0)
	a.sq[1], c = bits.Add64(a.sq[1], o.sq[1], c)
	a.sq[2] += o.sq[2] + c
	if o.q != nil {
		if a.q == nil {
			a.q = o.q
		} else if err := a.q.Merge(o.q); err != nil {
			return true, err
		}
	}
	return true, nil
}

// sqFloat returns the 192-bit sum as the nearest float64.
func (a *acc) sqFloat() float64 {
	x := new(big.Int).SetUint64(a.sq[2])
	x.Lsh(x, 64).Or(x, new(big.Int).SetUint64(a.sq[1]))
	x.Lsh(x, 64).Or(x, new(big.Int).SetUint64(a.sq[0]))
	f, _ := new(big.Float).SetInt(x).Float64()
	return f
}

// accumulate computes the exact state of every aggregate in every
// released group over the kept joined rows, split over the cores (each
// worker over a range of joined rows, merged in order).
func (e *exec) accumulate(ctx context.Context, b *bounded, relIdx []int32, nrel int) ([]acc, error) {
	na := len(e.aggs)
	args := make([]valueFn, na)
	for i := range e.aggs {
		f, err := e.argument(b, &e.aggs[i])
		if err != nil {
			return nil, err
		}
		args[i] = f
	}
	priv := e.privacy()
	eps := e.eps()
	workers := workersFor(b.n)
	parts := make([][]acc, workers)
	var overflow error
	err := parallel(ctx, b.n, func(w, lo, hi int) error {
		accs := make([]acc, nrel*na)
		for ai := range e.aggs {
			if !e.aggs[ai].fn().Quantile() {
				continue
			}
			a := e.aggs[ai].rel
			for ri := range nrel {
				q, err := dp.NewQuantiles(&dp.QuantilesOptions{
					Epsilon: eps, MaxPartitionsContributed: priv.MaxGroupsPerUnit, MaxContributionsPerPartition: priv.LInf,
					Lower: float64(a.Min), Upper: float64(a.Max), Noise: e.params.Noise,
				})
				if err != nil {
					return fmt.Errorf("enclave: %s: %w", e.aggs[ai].out.Name, err)
				}
				accs[ri*na+ai].q = q
			}
		}
		for k := lo; k < hi; k++ {
			if (k-lo)%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			g := b.keptGroup(k)
			if g < 0 {
				continue
			}
			ri := relIdx[g]
			if ri < 0 {
				continue
			}
			row := accs[int(ri)*na : int(ri)*na+na]
			for ai := range row {
				v, ok := args[ai](k)
				if !ok {
					continue
				}
				s := &row[ai]
				s.count++
				switch e.aggs[ai].fn() {
				case query.Sum, query.Avg:
					var fits bool
					if s.sum, fits = addOK(s.sum, v); !fits {
						return fmt.Errorf("enclave: %s: a group's sum overflows int64", e.aggs[ai].out.Name)
					}
				case query.Variance, query.Stddev:
					a := e.aggs[ai].rel
					d := 2*v - a.Min - a.Max // |d| ≤ Max − Min < 2^62
					s.sum += d
					s.addSq(d)
				case query.Min, query.Max, query.Median, query.Percentile:
					if err := s.q.Add(float64(v)); err != nil {
						return fmt.Errorf("enclave: %s: %w", e.aggs[ai].out.Name, err)
					}
				}
			}
		}
		parts[w] = accs
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := parts[0]
	for _, p := range parts[1:] {
		for i := range p {
			ok, err := out[i].merge(&p[i])
			if err != nil {
				return nil, fmt.Errorf("enclave: %s: %w", e.aggs[i%na].out.Name, err)
			}
			if !ok && overflow == nil {
				overflow = fmt.Errorf("enclave: %s: a group's sum overflows int64", e.aggs[i%na].out.Name)
			}
		}
	}
	if overflow != nil {
		return nil, overflow
	}
	if err := e.distinct(ctx, b, relIdx, nrel, out); err != nil {
		return nil, err
	}
	return out, nil
}

// distinct counts, for each COUNT(DISTINCT col), the distinct values of
// col among each released group's kept rows, into its acc's count.
func (e *exec) distinct(ctx context.Context, b *bounded, relIdx []int32, nrel int, accs []acc) error {
	na := len(e.aggs)
	for ai := range e.aggs {
		a := &e.aggs[ai]
		if a.fn() != query.CountDistinct {
			continue
		}
		cc, err := codesOf(ctx, e.tabs[a.col.t], a.col.c)
		if err != nil {
			return err
		}
		rows := b.rows[a.col.t]
		seen := make(map[uint64]struct{})
		for ri := range nrel {
			accs[ri*na+ai].count = 0
		}
		for k := 0; k < b.n; k++ {
			if k%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			g := b.keptGroup(k)
			if g < 0 {
				continue
			}
			ri := relIdx[g]
			if ri < 0 {
				continue
			}
			key := uint64(ri)<<32 | uint64(uint32(cc.code(rows[k])))
			if _, ok := seen[key]; !ok {
				seen[key] = struct{}{}
				accs[int(ri)*na+ai].count++
			}
		}
	}
	return nil
}

// run is Execute's: bounding and selection, the exact aggregates of the
// released groups, their noise and confidence intervals, and the result
// rows after HAVING, ORDER BY and LIMIT.
func (e *exec) run(ctx context.Context) (*Result, error) {
	b, err := e.bound(ctx)
	if err != nil {
		return nil, err
	}
	rel, withheld, suppressed, err := e.selectGroups(b)
	if err != nil {
		return nil, err
	}
	relIdx := relIndex(b.ngroups, rel)
	accs, err := e.accumulate(ctx, b, relIdx, len(rel))
	if err != nil {
		return nil, err
	}
	priv := e.privacy()
	res := &Result{Columns: e.columns(), Suppressed: suppressed, Stats: make([]*Stats, len(e.outputs))}
	mech := release.Mechanism(e.params.Noise)
	res.Selection = &Stats{Mechanism: mech, Epsilon: e.eps(), Delta: priv.Delta, L0: priv.MaxGroupsPerUnit, LInf: 1}
	if e.public != nil {
		res.Selection.Delta = 0 // no partition selection: a plain noisy count
	}
	for i, oi := range e.outputs {
		if oi < 0 {
			res.Stats[i] = e.stats(&e.aggs[-oi-1], mech)
		}
	}
	na := len(e.aggs)
	rows := make([][]string, len(rel))
	ints := make([][]*Interval, len(rel))
	groupVals := make([][]string, len(rel))
	vals := make([]string, na)
	cis := make([]*Interval, na)
	for ri, g := range rel {
		for ai := range e.aggs {
			if withheld != nil && withheld[ri] {
				vals[ai], cis[ai] = "", nil // below the minimum group size
				continue
			}
			v, ci, err := e.finish(&e.aggs[ai], &accs[ri*na+ai], priv)
			if err != nil {
				return nil, err
			}
			vals[ai], cis[ai] = v, ci
		}
		gv := e.groupValues(b, g)
		row := make([]string, len(e.outputs))
		rowCI := make([]*Interval, len(e.outputs))
		for i, oi := range e.outputs {
			if oi >= 0 {
				row[i] = gv[oi]
			} else {
				row[i], rowCI[i] = vals[-oi-1], cis[-oi-1]
			}
		}
		rows[ri], ints[ri], groupVals[ri] = row, rowCI, gv
	}
	keep, err := e.p.Select(rows, groupVals)
	if err != nil {
		return nil, fmt.Errorf("enclave: %w", err)
	}
	res.Rows, res.Intervals = make([][]string, len(keep)), make([][]*Interval, len(keep))
	for i, k := range keep {
		res.Rows[i], res.Intervals[i] = rows[k], ints[k]
	}
	return res, nil
}

// stats describe how aggregate a is released.
func (e *exec) stats(a *aggSpec, mech string) *Stats {
	s := release.SensitivityOf(a.rel, e.privacy(), len(e.aggs))
	return &Stats{Mechanism: mech, Epsilon: s.Epsilon, L0: s.L0, LInf: s.LInf}
}

// finish noises one aggregate of one group and renders it, with its
// confidence interval where the DP library gives one.
func (e *exec) finish(a *aggSpec, s *acc, priv release.Privacy) (string, *Interval, error) {
	n := e.params.Noise
	naggs := len(e.aggs)
	switch fn := a.fn(); fn {
	case query.Count, query.CountDistinct, query.Sum, query.Avg:
		var exact []int64
		switch fn {
		case query.Sum:
			exact = []int64{s.sum}
		case query.Avg:
			s2, err := release.AvgSum2Of(s.sum, s.count, a.rel.Min, a.rel.Max)
			if err != nil {
				return "", nil, fmt.Errorf("enclave: %s: %w", a.out.Name, err)
			}
			exact = []int64{s2, s.count}
		default:
			exact = []int64{s.count}
		}
		noisy := make([]int64, len(exact))
		var meanNoise [2]int64 // an AVG's parts, drawn together
		for i, k := range release.Kinds(a.rel) {
			c, err := release.Calibrate(a.rel, k, priv, naggs)
			if err != nil {
				return "", nil, fmt.Errorf("enclave: %s: %w", a.out.Name, err)
			}
			var x int64
			switch k {
			case release.AvgSum2:
				meanNoise[0], meanNoise[1], err = c.DrawMean(a.rel, priv, n)
				x = meanNoise[0]
			case release.AvgCount:
				x = meanNoise[1]
			default:
				x, err = c.Draw(a.rel, k, priv, n)
			}
			if err != nil {
				return "", nil, fmt.Errorf("enclave: %s: %w", a.out.Name, err)
			}
			// As the library does: the value rounded to the noise's
			// lattice (twice it for the doubled normalised sum), then
			// the noise.
			g := c.Granularity(n)
			if k == release.AvgSum2 {
				g *= 2
			}
			y, ok := addOK(dp.RoundInt(exact[i], g), x)
			if !ok {
				return "", nil, fmt.Errorf("enclave: %s: the noisy value overflows int64", a.out.Name)
			}
			noisy[i] = y
		}
		text := release.Format(a.rel, noisy)
		ci, err := release.Interval(a.rel, priv, naggs, n, noisy, e.params.Alpha)
		if err != nil {
			return "", nil, fmt.Errorf("enclave: %s: %w", a.out.Name, err)
		}
		return text, renderInterval(a.rel, ci), nil
	case query.Min, query.Max, query.Median, query.Percentile:
		r, err := s.q.Result(a.rel.Rank)
		if err != nil {
			return "", nil, fmt.Errorf("enclave: %s: %w", a.out.Name, err)
		}
		return release.FormatMean(r, a.rel.Scale), nil, nil
	case query.Variance, query.Stddev:
		nz, sumG, sqG, err := dp.VarianceNoise(&dp.VarianceOptions{
			Epsilon: e.eps(), MaxPartitionsContributed: priv.MaxGroupsPerUnit, MaxContributionsPerPartition: priv.LInf,
			Lower: float64(a.rel.Min), Upper: float64(a.rel.Max), Noise: n,
		})
		if err != nil {
			return "", nil, fmt.Errorf("enclave: %s: %w", a.out.Name, err)
		}
		parts := dp.VarianceParts{
			Count:           s.count + nz.Count,
			NormalizedSum:   dp.AddNoiseTo(float64(s.sum)/2, nz.NormalizedSum, sumG),
			NormalizedSumSq: dp.AddNoiseTo(s.sqFloat()/4, nz.NormalizedSumSq, sqG),
		}
		v := dp.VarianceFromParts(parts, float64(a.rel.Min), float64(a.rel.Max))
		unit := math.Pow(10, float64(a.rel.Scale))
		if fn == query.Stddev {
			return strconv.FormatFloat(math.Sqrt(v)/unit, 'f', max(2, a.rel.Scale), 64), nil, nil
		}
		return strconv.FormatFloat(v/(unit*unit), 'f', max(2, 2*a.rel.Scale), 64), nil, nil
	}
	return "", nil, errors.New("enclave: unknown aggregate " + string(a.fn()))
}

// renderInterval renders a confidence interval as its value is
// rendered (release.FormatInterval).
func renderInterval(a release.Agg, ci dp.Interval) *Interval {
	lo, hi := release.FormatInterval(a, ci)
	return &Interval{Lo: lo, Hi: hi}
}
