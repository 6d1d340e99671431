package release

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"

	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// Kind says what one value of a release is.
type Kind uint8

// The kinds of values.
const (
	// Count is COUNT(*) or COUNT(col): the group's kept rows.
	Count Kind = iota + 1
	// Sum is SUM(col): the column's sum over the group's kept rows.
	Sum
	// AvgSum2 is, for AVG(col), 2·S − (Min+Max)·C, where S is the column's
	// sum and C the number of the group's kept rows: twice the DP
	// library's normalised sum, an integer.
	AvgSum2
	// AvgCount is, for AVG(col), C: the group's kept rows.
	AvgCount
	// Distinct is COUNT(DISTINCT col): the number of distinct values of
	// the column among the group's kept rows. Sealed mode only.
	Distinct
)

// String returns the kind's name, for example "avgsum2".
func (k Kind) String() string {
	switch k {
	case Count:
		return "count"
	case Sum:
		return "sum"
	case AvgSum2:
		return "avgsum2"
	case AvgCount:
		return "avgcount"
	case Distinct:
		return "distinct"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Agg is one aggregate of a plan's select list.
type Agg struct {
	// Func is the aggregate function.
	Func query.Func
	// Column is the column read when it is a plain column; nil for
	// COUNT(*) and when Arg is set.
	Column *query.Column
	// Arg is the argument when it is an expression (sealed mode only).
	Arg *query.Expr `json:",omitempty"`
	// Encrypted says the column is encrypted: its values are hidden from
	// the node. It matters for SUM and AVG only (see [Agg.Hidden]).
	Encrypted bool
	// Min and Max are the bounds of one row's value, in units of 10^-Scale:
	// a column's declared bounds (0 and 1 for a bool column) or an
	// expression's (query.Expr.Bounds), widened to take in 0 for a SUM
	// of an expression that can be NULL (a unit whose rows are all NULL
	// contributes 0). 0 for COUNT.
	Min, Max int64
	// Scale is the number of digits after the point of the values: 0 for
	// a column, the expression's scale for Arg.
	Scale int `json:",omitempty"`
	// Nullable says the argument can be NULL on some rows, which the
	// aggregate skips (COUNT counts only the others, AVG averages them).
	Nullable bool `json:",omitempty"`
	// Rank is a quantile's rank (query.Output.RankOf).
	Rank float64 `json:",omitempty"`
	// Unit says, for COUNT(DISTINCT col), that col is the privacy unit of
	// the plan's first table: a unit adds one value to a group, not L∞.
	Unit bool `json:",omitempty"`
}

// Hidden reports whether the aggregate's sum is computed under
// encryption: a SUM or AVG over an encrypted column.
func (a Agg) Hidden() bool {
	return a.Encrypted && (a.Func == query.Sum || a.Func == query.Avg)
}

// name renders the aggregate for messages, for example "SUM(loans.amount)".
func (a Agg) name() string {
	switch {
	case a.Arg != nil:
		return string(a.Func) + "(expression)"
	case a.Column == nil:
		return string(a.Func) + "(*)"
	}
	return string(a.Func) + "(" + a.Column.String() + ")"
}

// Valued reports whether the aggregate reads values (not only rows):
// every aggregate but COUNT and COUNT(DISTINCT).
func (a Agg) Valued() bool { return a.Func != query.Count && a.Func != query.CountDistinct }

// NewAggs returns the aggregates of p's select list, in output order,
// with row bounds from schemas (keyed by dataset name) and Encrypted from
// encrypted (dataset → column → encrypted; nil means nothing is). It
// refuses an aggregate it cannot compute: an unknown function, a valued
// aggregate without a column or of a string column, AVG, a quantile or a
// variance with Min = Max, a column missing from its schema or of
// another type than the plan says, and an expression that could overflow.
// It does not know the privacy unit: see SetUnit.
func NewAggs(p *query.Plan, schemas map[string]*schema.Schema, encrypted map[string]map[string]bool) ([]Agg, error) {
	if p == nil {
		return nil, errors.New("release: no plan")
	}
	lookup := func(c query.Column) (schema.Column, error) {
		s := schemas[c.Table]
		if s == nil {
			return schema.Column{}, fmt.Errorf("no schema for dataset %s", c.Table)
		}
		col, ok := s.Column(c.Name)
		if !ok {
			return schema.Column{}, fmt.Errorf("dataset %s has no column %s", c.Table, c.Name)
		}
		if c.Type != "" && c.Type != col.Type {
			return schema.Column{}, fmt.Errorf("plan says %s is %s, schema has %s", c, c.Type, col.Type)
		}
		return col, nil
	}
	var aggs []Agg
	for _, o := range p.Outputs {
		if o.Func == "" {
			continue
		}
		a := Agg{Func: o.Func, Rank: o.RankOf()}
		if !slices.Contains(query.Funcs, o.Func) {
			return nil, fmt.Errorf("release: unknown aggregate %q in output %s", o.Func, o.Name)
		}
		switch {
		case o.Column != nil:
			c := *o.Column
			a.Column = &c
			col, err := lookup(c)
			if err != nil {
				return nil, fmt.Errorf("release: %s: %w", a.name(), err)
			}
			a.Encrypted = encrypted[c.Table][c.Name]
			if a.Valued() {
				switch col.Type {
				case schema.Int, schema.Date:
					if col.Min == nil || col.Max == nil {
						return nil, fmt.Errorf("release: %s: the column declares no bounds", a.name())
					}
					a.Min, a.Max = *col.Min, *col.Max
				case schema.Bool:
					a.Min, a.Max = 0, 1
				default:
					return nil, fmt.Errorf("release: %s: a %s column cannot be summed or averaged", a.name(), col.Type)
				}
			}
		case o.Arg != nil:
			if o.Func == query.CountDistinct {
				return nil, fmt.Errorf("release: %s of an expression", o.Func)
			}
			a.Arg = o.Arg
			var ferr error
			lo, hi, err := o.Arg.Bounds(func(c query.Column) (int64, int64, bool) {
				col, err := lookup(c)
				if err != nil {
					ferr = err
					return 0, 0, false
				}
				switch col.Type {
				case schema.Bool:
					return 0, 1, true
				case schema.Int:
					if col.Min != nil && col.Max != nil {
						return *col.Min, *col.Max, true
					}
				}
				return 0, 0, false
			})
			if ferr != nil {
				err = ferr
			}
			if err != nil {
				return nil, fmt.Errorf("release: %s: %w", o.Name, err)
			}
			a.Min, a.Max, a.Scale, a.Nullable = lo, hi, o.Arg.Scale(), o.Arg.Nullable()
			if a.Func == query.Sum && a.Nullable {
				a.Min, a.Max = min(a.Min, 0), max(a.Max, 0)
			}
		}
		if err := a.check(); err != nil {
			return nil, err
		}
		aggs = append(aggs, a)
	}
	return aggs, nil
}

// SetUnit marks COUNT(DISTINCT unit) aggregates, where unit is the
// privacy-unit column of the plan's first table: each unit adds at most
// one distinct value to a group.
func SetUnit(aggs []Agg, unit query.Column) {
	for i := range aggs {
		if aggs[i].Func == query.CountDistinct && aggs[i].Column != nil && aggs[i].Column.Table == unit.Table && aggs[i].Column.Name == unit.Name {
			aggs[i].Unit = true
		}
	}
}

// check checks the aggregate's own fields.
func (a Agg) check() error {
	switch a.Func {
	case query.Count:
		return nil
	case query.CountDistinct:
		if a.Column == nil {
			return fmt.Errorf("release: %s needs a column", a.Func)
		}
		return nil
	}
	if !slices.Contains(query.Funcs, a.Func) {
		return fmt.Errorf("release: unknown aggregate %q", a.Func)
	}
	if a.Column == nil && a.Arg == nil {
		return fmt.Errorf("release: %s needs a column", a.Func)
	}
	if a.Min > a.Max {
		return fmt.Errorf("release: %s: Min %d is above Max %d", a.name(), a.Min, a.Max)
	}
	if a.Func != query.Sum && a.Min == a.Max {
		return fmt.Errorf("release: %s: the bounds [%d, %d] are equal; %s needs Min < Max", a.name(), a.Min, a.Max, a.Func)
	}
	return nil
}

// Privacy are the privacy parameters of one release, as applied.
type Privacy struct {
	// Epsilon is the query's total ε: each of the k aggregates and the
	// group selection get Epsilon/(k+1).
	Epsilon float64
	// Delta is the δ of group selection (aggregates use none).
	Delta float64
	// MinGroupSize is the smallest noisy unit count of a released group.
	MinGroupSize int64
	// MaxGroupsPerUnit is L0 as applied: 1 for a plan without GROUP BY.
	MaxGroupsPerUnit int64
	// LInf is L∞: the product of MaxRowsPerUnit over the plan's tables.
	LInf int64
}

// NewPrivacy returns the Privacy that execution applies to plan p:
// minGroupSize and maxGroupsPerUnit default to 1 (0 means the default),
// L0 is 1 without GROUP BY, and L∞ is the product of maxRowsPerUnit, one
// per plan table. Delta must be in (0, 1) when p has GROUP BY, and is
// ignored (0) without.
func NewPrivacy(p *query.Plan, epsilon, delta float64, minGroupSize, maxGroupsPerUnit int64, maxRowsPerUnit []int64) (Privacy, error) {
	if p == nil {
		return Privacy{}, errors.New("release: no plan")
	}
	if len(maxRowsPerUnit) != len(p.Tables) {
		return Privacy{}, fmt.Errorf("release: %d MaxRowsPerUnit for %d tables", len(maxRowsPerUnit), len(p.Tables))
	}
	if minGroupSize < 0 || maxGroupsPerUnit < 0 {
		return Privacy{}, fmt.Errorf("release: MinGroupSize (%d) and MaxGroupsPerUnit (%d) must not be negative", minGroupSize, maxGroupsPerUnit)
	}
	pr := Privacy{Epsilon: epsilon, Delta: delta, MinGroupSize: max(minGroupSize, 1), MaxGroupsPerUnit: max(maxGroupsPerUnit, 1), LInf: 1}
	if len(p.GroupBy) == 0 {
		pr.MaxGroupsPerUnit, pr.Delta = 1, 0 // one group; no selection δ
	} else if math.IsNaN(delta) || delta <= 0 || delta >= 1 {
		return Privacy{}, fmt.Errorf("release: Delta must be in (0, 1) for a plan with GROUP BY, got %v", delta)
	}
	for i, m := range maxRowsPerUnit {
		if m < 1 {
			return Privacy{}, fmt.Errorf("release: MaxRowsPerUnit of %s must be at least 1, got %d", p.Tables[i].Name, m)
		}
		if pr.LInf > math.MaxInt64/m {
			return Privacy{}, errors.New("release: the product of MaxRowsPerUnit over the plan's tables overflows")
		}
		pr.LInf *= m
	}
	return pr, pr.Validate()
}

// Validate checks the parameters: Epsilon finite and above 0, Delta in
// [0, 1), MinGroupSize, MaxGroupsPerUnit and LInf at least 1, and
// L0·L∞ (a count's sensitivity) within int64.
func (p Privacy) Validate() error {
	if math.IsNaN(p.Epsilon) || math.IsInf(p.Epsilon, 0) || p.Epsilon <= 0 {
		return fmt.Errorf("release: Epsilon must be a finite number above 0, got %v", p.Epsilon)
	}
	if math.IsNaN(p.Delta) || p.Delta < 0 || p.Delta >= 1 {
		return fmt.Errorf("release: Delta must be in [0, 1), got %v", p.Delta)
	}
	if p.MinGroupSize < 1 || p.MaxGroupsPerUnit < 1 || p.LInf < 1 {
		return fmt.Errorf("release: MinGroupSize (%d), MaxGroupsPerUnit (%d) and LInf (%d) must be at least 1", p.MinGroupSize, p.MaxGroupsPerUnit, p.LInf)
	}
	if _, ok := mul(p.LInf, p.MaxGroupsPerUnit); !ok {
		return fmt.Errorf("release: L0·L∞ = %d·%d overflows int64", p.MaxGroupsPerUnit, p.LInf)
	}
	return nil
}

// Hull returns the bounds [lo, hi] of one unit's total in one group, of
// at most linf rows each in [min, max]: lo = min(min, linf·min), hi =
// max(max, linf·max). It is the bounds of a SUM's dp.BoundedSumInt64, so
// that the library never clamps a total. It fails when linf < 1, min >
// max, or linf·min or linf·max does not fit in int64 (math.MinInt64
// included, which the DP library refuses as a bound).
func Hull(min, max, linf int64) (lo, hi int64, err error) {
	if linf < 1 {
		return 0, 0, fmt.Errorf("release: L∞ must be at least 1, got %d", linf)
	}
	if min > max {
		return 0, 0, fmt.Errorf("release: Min %d is above Max %d", min, max)
	}
	lmin, ok1 := mul(linf, min)
	lmax, ok2 := mul(linf, max)
	if !ok1 || !ok2 || lmin == math.MinInt64 || lmax == math.MinInt64 {
		return 0, 0, fmt.Errorf("release: L∞·[Min, Max] = %d·[%d, %d] overflows int64", linf, min, max)
	}
	return minInt(min, lmin), maxInt(max, lmax), nil
}

// Value is one integer value of a release.
type Value struct {
	// Group is the released group (0-based, in release order).
	Group int
	// Agg is the aggregate's index in the Layout's Aggs.
	Agg int
	// Kind says what the value is.
	Kind Kind
	// Cipher is the index of the value's own ciphertext, or -1 when the
	// value is in the clear vector.
	Cipher int
	// Pos is the value's coefficient in its ciphertext: 0 in its own, its
	// position in the clear vector otherwise.
	Pos int
}

// Layout places the values of a release of Groups groups. Values lists
// every value in (group, aggregate, part) order, an AVG having two parts
// (AvgSum2, AvgCount); group g's values are
// Values[g·PerGroup():(g+1)·PerGroup()]. The i-th noisy value given to
// Finish is Values[i]'s.
type Layout struct {
	// Aggs are the aggregates, in output order.
	Aggs []Agg
	// Groups is the number of released groups.
	Groups int
	// Values are the release's values (see the type's doc).
	Values []Value

	ciphers, clearLen, perGroup int
}

// NewLayout lays out the values of aggs over groups released groups: each
// SUM and each AVG's AvgSum2 over an encrypted column ([Agg.Hidden]) gets
// its own ciphertext (coefficient 0), numbered in (group, aggregate)
// order; every other value goes into the clear vector, at positions 0, 1,
// 2, … in (group, aggregate, part) order. It keeps a copy of aggs.
func NewLayout(aggs []Agg, groups int) Layout {
	l := Layout{Aggs: append([]Agg(nil), aggs...), Groups: max(groups, 0)}
	add := func(g, ai int, k Kind, own bool) {
		v := Value{Group: g, Agg: ai, Kind: k, Cipher: -1}
		if own {
			v.Cipher = l.ciphers
			l.ciphers++
		} else {
			v.Pos = l.clearLen
			l.clearLen++
		}
		l.Values = append(l.Values, v)
	}
	for g := range l.Groups {
		for ai, a := range aggs {
			for i, k := range Kinds(a) {
				add(g, ai, k, i == 0 && a.Hidden())
			}
		}
	}
	for _, a := range aggs {
		l.perGroup += len(Kinds(a))
	}
	return l
}

// Ciphers returns the number of values that have their own ciphertext
// (indices 0 to Ciphers()-1). The clear vector, when ClearLen() > 0, is
// one more ciphertext.
func (l Layout) Ciphers() int { return l.ciphers }

// ClearLen returns the length of the clear vector.
func (l Layout) ClearLen() int { return l.clearLen }

// PerGroup returns the number of values of one group.
func (l Layout) PerGroup() int { return l.perGroup }

// Calibration is the noise of one kind of value of one aggregate: that of
// the sealed aggregation the value stands for (see the package doc).
type Calibration struct {
	// AggEpsilon is the aggregate's share of the query's ε.
	AggEpsilon float64
	// Epsilon is the ε of this value's noise (half of AggEpsilon for an
	// AVG's parts).
	Epsilon float64
	// L0 is the number of groups one unit contributes to.
	L0 int64
	// LInf is the noise's L∞ sensitivity: one unit's largest effect on the
	// value in one group.
	LInf float64
	// Rows is the most rows (or distinct values) one unit adds to a group.
	Rows int64
	// Step is the value's integer step in the noise's units: a noise
	// lattice coarser than it would reveal a hidden value.
	Step float64
	// Lo and Hi are a SUM's hull.
	Lo, Hi int64
}

// Calibrate returns the calibration of the value of kind k of aggregate a
// under p, in a query of naggs aggregates (each aggregate and the group
// selection get an equal share of p.Epsilon).
func Calibrate(a Agg, k Kind, p Privacy, naggs int) (Calibration, error) {
	if err := a.check(); err != nil {
		return Calibration{}, err
	}
	want := query.Count
	switch k {
	case Sum:
		want = query.Sum
	case AvgSum2, AvgCount:
		want = query.Avg
	case Distinct:
		want = query.CountDistinct
	case Count:
	default:
		return Calibration{}, fmt.Errorf("release: unknown value kind %d", k)
	}
	if a.Func != want {
		return Calibration{}, fmt.Errorf("release: a %s value of %s", k, a.name())
	}
	eps := p.Epsilon / float64(naggs+1)
	c := Calibration{AggEpsilon: eps, Epsilon: eps, L0: p.MaxGroupsPerUnit, Rows: p.LInf, Step: 1}
	switch k {
	case Count:
		c.LInf = float64(p.LInf)
	case Distinct:
		if a.Unit {
			c.Rows = 1
		}
		c.LInf = float64(c.Rows)
	case Sum:
		lo, hi, err := Hull(a.Min, a.Max, p.LInf)
		if err != nil {
			return Calibration{}, fmt.Errorf("release: %s: %w", a.name(), err)
		}
		m := maxInt(absInt(lo), absInt(hi)) // neither is MinInt64
		if _, ok := mul(m, p.MaxGroupsPerUnit); !ok {
			return Calibration{}, fmt.Errorf("release: %s: the sensitivity L0·max|H| = %d·%d overflows int64", a.name(), p.MaxGroupsPerUnit, m)
		}
		c.Lo, c.Hi, c.LInf = lo, hi, float64(m)
	case AvgSum2, AvgCount:
		// dpagg.BoundedMean: half the ε to each part; the normalised sum
		// has bounds ±(upper − midpoint) and L∞ = LInf.
		c.Epsilon = eps / 2
		c.LInf = float64(p.LInf)
		if k == AvgSum2 {
			lower, upper := float64(a.Min), float64(a.Max)
			mid := lower + (upper-lower)/2.0
			c.LInf = (upper - mid) * float64(p.LInf)
			c.Step = 0.5 // the noise is doubled
		}
	}
	return c, nil
}

// Granularity returns the lattice the DP library draws this noise on
// with mechanism n (see dp.NoiseGranularity).
func (c Calibration) Granularity(n noise.Noise) float64 {
	return dp.NoiseGranularity(n, c.L0, c.LInf, c.Epsilon, 0)
}

// checkNoise refuses a calibration whose noise lattice is coarser than the
// value's integer step (see the package doc).
func (c Calibration) checkNoise(a Agg, k Kind, n noise.Noise) error {
	if g := c.Granularity(n); g > c.Step {
		return fmt.Errorf("release: %s (%s): the DP library draws this noise on multiples of %g, which would reveal the encrypted value modulo %g; lower the bounds or L∞, or raise ε", a.name(), k, g, g/c.Step)
	}
	return nil
}

// Check reports whether aggs can be released under p with noise n: p is
// valid, each aggregate is well formed, no hull or sensitivity overflows
// int64, and each value's noise lattice is fine for adding to a hidden
// integer (see the package doc). Layout.Noise makes the same checks for
// the value it draws; Check lets a caller refuse before any work.
func Check(aggs []Agg, p Privacy, n noise.Noise) error {
	if err := p.Validate(); err != nil {
		return err
	}
	for _, a := range aggs {
		for _, k := range Kinds(a) {
			c, err := Calibrate(a, k, p, len(aggs))
			if err != nil {
				return err
			}
			if err := c.checkNoise(a, k, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// Kinds returns the kinds of values of an aggregate, in layout order:
// COUNT and COUNT(DISTINCT) one, SUM one, AVG two (AvgSum2, AvgCount);
// none for the quantiles and the variance, which are not computed from
// exact values plus noise (the DP library aggregates them row by row).
func Kinds(a Agg) []Kind {
	switch a.Func {
	case query.Count:
		return []Kind{Count}
	case query.CountDistinct:
		return []Kind{Distinct}
	case query.Sum:
		return []Kind{Sum}
	case query.Avg:
		return []Kind{AvgSum2, AvgCount}
	}
	return nil
}

// Noise draws one noise sample for value v under p with mechanism n (nil:
// the library's Laplace), through protocols/dp and so through the DP
// library, calibrated as the sealed aggregation v stands for (see the
// package doc): the result of an aggregation with nothing added. Adding
// it to v's exact value gives v's noisy value. Each call draws afresh and
// spends, for v, the ε share of v's aggregate: call it once per value.
// It refuses a calibration whose noise lattice would reveal a hidden
// value (see Check).
func (l Layout) Noise(p Privacy, v Value, n noise.Noise) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	if v.Agg < 0 || v.Agg >= len(l.Aggs) {
		return 0, fmt.Errorf("release: value of aggregate %d, the layout has %d", v.Agg, len(l.Aggs))
	}
	a := l.Aggs[v.Agg]
	c, err := Calibrate(a, v.Kind, p, len(l.Aggs))
	if err != nil {
		return 0, err
	}
	if err := c.checkNoise(a, v.Kind, n); err != nil {
		return 0, err
	}
	return c.Draw(a, v.Kind, p, n)
}

// Draw draws one noise sample for a value of kind k of a, calibrated as c
// (from Calibrate with the same a, k and p). A caller that can see the
// value rounds it to the noise's lattice first (dp.RoundInt with
// c.Granularity), as the library does; one that cannot must refuse a
// coarse lattice (Layout.Noise does).
func (c Calibration) Draw(a Agg, k Kind, p Privacy, n noise.Noise) (int64, error) {
	switch k {
	case Count, Distinct:
		cnt, err := dp.NewCount(&dp.CountOptions{Epsilon: c.Epsilon, MaxPartitionsContributed: c.L0, MaxContributionsPerPartition: c.Rows, Noise: n})
		if err != nil {
			return 0, fmt.Errorf("release: %s: %w", a.name(), err)
		}
		return cnt.Result()
	case Sum:
		s, err := dp.NewBoundedSumInt64(&dp.BoundedSumInt64Options{Epsilon: c.Epsilon, MaxPartitionsContributed: c.L0, Lower: c.Lo, Upper: c.Hi, Noise: n})
		if err != nil {
			return 0, fmt.Errorf("release: %s: %w", a.name(), err)
		}
		return s.Result()
	}
	sum2, count, err := c.drawMean(a, p, n)
	if k == AvgCount {
		return count, err
	}
	return sum2, err
}

// DrawMean draws the noise of both parts of an AVG at once, from one
// empty mean (AvgSum2's noise, then AvgCount's): the same distribution as
// two Draws, each of which draws both and keeps one.
func (c Calibration) DrawMean(a Agg, p Privacy, n noise.Noise) (sum2, count int64, err error) {
	return c.drawMean(a, p, n)
}

func (c Calibration) drawMean(a Agg, p Privacy, n noise.Noise) (sum2, count int64, err error) {
	// AVG: the parts of an empty mean of the sealed mean's options (its
	// full ε share; it gives each part half).
	m, err := dp.NewBoundedMean(&dp.BoundedMeanOptions{
		Epsilon:                      c.AggEpsilon,
		MaxPartitionsContributed:     c.L0,
		MaxContributionsPerPartition: p.LInf,
		Lower:                        float64(a.Min),
		Upper:                        float64(a.Max),
		Noise:                        n,
	})
	if err != nil {
		return 0, 0, fmt.Errorf("release: %s: %w", a.name(), err)
	}
	count, sum, err := m.ResultParts()
	if err != nil {
		return 0, 0, fmt.Errorf("release: %s: %w", a.name(), err)
	}
	// Rounding the doubled noise to an integer is post-processing of the
	// noisy value, since the hidden value it is added to is an integer.
	x := math.Round(2 * sum)
	if math.IsNaN(x) || x < math.MinInt64 || x >= math.MaxInt64 {
		return 0, 0, fmt.Errorf("release: %s: noise %v out of range", a.name(), sum)
	}
	return int64(x), count, nil
}

// Interval returns the confidence interval, at level 1 − alpha, of the
// exact value behind an aggregate's noisy values vals (its Kinds, in
// order), in the aggregate's units (10^-Scale), as the DP library computes
// it for the sealed aggregation the values stand for: a COUNT's is never
// negative, a SUM's keeps the side of zero its hull allows, an AVG's is
// derived from its parts' and clamped to [Min, Max]. naggs and p are as
// for Calibrate. It costs no budget.
func Interval(a Agg, p Privacy, naggs int, n noise.Noise, vals []int64, alpha float64) (dp.Interval, error) {
	ci, _, err := IntervalOfDraws(a, p, naggs, n, vals, alpha, 1)
	return ci, err
}

// IntervalOfDraws is Interval for values that each carry the sum of draws
// independent noise samples of the calibrated scale, as under a letter's
// noise: providers (one sample per provider's agent). For one draw it is
// Interval. For more, a COUNT's or SUM's interval is the union bound:
// each sample lies within its own interval at level 1 − alpha/draws, so
// their sum lies within draws times it with probability at least
// 1 − alpha; ok is false for an AVG, whose interval the DP library
// derives only for one sample per part.
func IntervalOfDraws(a Agg, p Privacy, naggs int, n noise.Noise, vals []int64, alpha float64, draws int) (ci dp.Interval, ok bool, err error) {
	kinds := Kinds(a)
	if len(kinds) == 0 || len(vals) != len(kinds) {
		return dp.Interval{}, false, fmt.Errorf("release: %s: %d values for an interval, want %d", a.name(), len(vals), len(kinds))
	}
	if draws < 1 {
		return dp.Interval{}, false, fmt.Errorf("release: %s: %d noise draws", a.name(), draws)
	}
	c, err := Calibrate(a, kinds[0], p, naggs)
	if err != nil {
		return dp.Interval{}, false, err
	}
	if kinds[0] == AvgSum2 {
		if draws > 1 {
			return dp.Interval{}, false, nil
		}
		ci, err := dp.MeanInterval(n, vals[1], float64(vals[0])/2, c.L0, p.LInf, float64(a.Min), float64(a.Max), c.AggEpsilon, 0, alpha)
		return ci, err == nil, err
	}
	lInf := int64(c.LInf)
	if kinds[0] == Count || kinds[0] == Distinct {
		lInf = c.Rows
	}
	if draws == 1 {
		ci, err = dp.IntervalInt64(n, vals[0], c.L0, lInf, c.Epsilon, 0, alpha)
	} else {
		// One sample's interval around 0, widened draws times around
		// the value.
		ci, err = dp.IntervalInt64(n, 0, c.L0, lInf, c.Epsilon, 0, alpha/float64(draws))
		ci = dp.Interval{Lo: widen(vals[0], draws, ci.Lo, -1), Hi: widen(vals[0], draws, ci.Hi, +1)}
	}
	if err != nil {
		return dp.Interval{}, false, err
	}
	switch {
	case kinds[0] != Sum:
		ci.Lo, ci.Hi = math.Max(ci.Lo, 0), math.Max(ci.Hi, 0)
	case c.Lo >= 0:
		ci.Lo, ci.Hi = math.Max(ci.Lo, 0), math.Max(ci.Hi, 0)
	case c.Hi <= 0:
		ci.Lo, ci.Hi = math.Min(ci.Lo, 0), math.Min(ci.Hi, 0)
	}
	return ci, true, nil
}

// Intervals returns, per group and per aggregate (in l.Aggs order), the
// confidence interval at level 1 − alpha of the exact value behind the
// noisy values raw (in Values order, as Finish takes them), each of which
// carries draws samples of noise n (see IntervalOfDraws): nil where there
// is none.
func (l Layout) Intervals(p Privacy, n noise.Noise, draws int, raw []int64, alpha float64) ([][]*dp.Interval, error) {
	if len(raw) != len(l.Values) {
		return nil, fmt.Errorf("release: %d values for a layout of %d", len(raw), len(l.Values))
	}
	out := make([][]*dp.Interval, l.Groups)
	for g := range out {
		vals := raw[g*l.perGroup : (g+1)*l.perGroup]
		out[g] = make([]*dp.Interval, len(l.Aggs))
		i := 0
		for ai, a := range l.Aggs {
			k := len(Kinds(a))
			ci, ok, err := IntervalOfDraws(a, p, len(l.Aggs), n, vals[i:i+k], alpha, draws)
			if err != nil {
				return nil, err
			}
			if ok {
				out[g][ai] = &ci
			}
			i += k
		}
	}
	return out, nil
}

// FormatInterval renders a confidence interval of aggregate a (in units
// of 10^-Scale) as a's value is rendered: COUNTs and SUMs as whole units,
// rounded outward; AVG with its decimals.
func FormatInterval(a Agg, ci dp.Interval) (lo, hi string) {
	if a.Func == query.Avg {
		return FormatMean(ci.Lo, a.Scale), FormatMean(ci.Hi, a.Scale)
	}
	l, h := clampInt(math.Floor(ci.Lo)), clampInt(math.Ceil(ci.Hi))
	if a.Func == query.Sum {
		return query.FormatUnits(l, a.Scale), query.FormatUnits(h, a.Scale)
	}
	return strconv.FormatInt(l, 10), strconv.FormatInt(h, 10)
}

// clampInt converts x to an int64, saturating; NaN is 0.
func clampInt(x float64) int64 {
	switch {
	case math.IsNaN(x):
		return 0
	case x >= math.MaxInt64:
		return math.MaxInt64
	case x <= math.MinInt64:
		return math.MinInt64
	}
	return int64(x)
}

// widen returns v + k·off rounded outward (dir < 0 down, > 0 up): in
// integers, since a sum near 2^58 is not exact in a float64, and then to
// the nearest float64 on the outer side. Far beyond any exact sum it
// falls back to floating point.
func widen(v int64, k int, off float64, dir int) float64 {
	if dir < 0 {
		off = math.Floor(off)
	} else {
		off = math.Ceil(off)
	}
	const far = 1 << 61
	if math.IsNaN(off) || math.Abs(off)*float64(k) > far || v > far || v < -far {
		return float64(v) + float64(k)*off
	}
	x := v + int64(k)*int64(off)
	f := float64(x)
	switch {
	case dir < 0 && int64(f) > x:
		f = math.Nextafter(f, math.Inf(-1))
	case dir > 0 && int64(f) < x:
		f = math.Nextafter(f, math.Inf(1))
	}
	return f
}

// Sensitivity is what the noise of an aggregate's values is calibrated
// to: its share of ε, the groups one privacy unit may contribute to (L0),
// and a unit's largest effect on one group's value (L∞; for an AVG, on
// its sum part).
type Sensitivity struct {
	Epsilon float64
	L0      int64
	LInf    float64
}

// SensitivityOf returns aggregate a's Sensitivity under p in a query of
// naggs aggregates.
func SensitivityOf(a Agg, p Privacy, naggs int) Sensitivity {
	s := Sensitivity{Epsilon: p.Epsilon / float64(naggs+1), L0: p.MaxGroupsPerUnit, LInf: float64(p.LInf)}
	if ks := Kinds(a); len(ks) > 0 {
		if c, err := Calibrate(a, ks[0], p, naggs); err == nil {
			s.LInf = c.LInf
		}
	}
	return s
}

// NoiseNamed returns the DP library's mechanism that Mechanism names
// name, among those whose values carry no δ of their own and so whose
// intervals Interval computes (Laplace), and false for any other name.
func NoiseNamed(name string) (noise.Noise, bool) {
	if n := noise.Laplace(); Mechanism(n) == name {
		return n, true
	}
	return nil, false
}

// Mechanism names the noise mechanism n (nil: the library's Laplace), for
// a result's description.
func Mechanism(n noise.Noise) string {
	if n == nil {
		n = noise.Laplace()
	}
	if s, ok := n.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", n)
}

// Finish returns the result rows of a release of plan p: one row per
// group, its values in p's output order, grouping values taken from
// groupValues[g] (rendered, in p.GroupBy order) and aggregates computed
// from raw, the noisy values in Values order. It formats exactly as
// enclave.Execute: COUNT as max(r, 0); SUM kept on the side of zero its
// hull allows (≥ 0 when Min ≥ 0, ≤ 0 when Max ≤ 0); AVG as the DP
// library's BoundedMean computes its result from a noisy count (AvgCount)
// and normalised sum (AvgSum2/2) (dp.MeanFromParts), clamped to [Min,
// Max], with two decimals. Post-processing: it costs no budget.
func (l Layout) Finish(p *query.Plan, groupValues [][]string, raw []int64) ([][]string, error) {
	if p == nil {
		return nil, errors.New("release: no plan")
	}
	if len(raw) != len(l.Values) {
		return nil, fmt.Errorf("release: %d values for a layout of %d", len(raw), len(l.Values))
	}
	if len(groupValues) != l.Groups {
		return nil, fmt.Errorf("release: grouping values for %d groups, the layout has %d", len(groupValues), l.Groups)
	}
	// Per output: >= 0 index in p.GroupBy, or -(1+i) for aggregate i.
	outs := make([]int, len(p.Outputs))
	ai := 0
	for i, o := range p.Outputs {
		if o.Func != "" {
			if ai >= len(l.Aggs) || l.Aggs[ai].Func != o.Func {
				return nil, fmt.Errorf("release: output %s does not match the layout's aggregates", o.Name)
			}
			ai++
			outs[i] = -ai
			continue
		}
		gi := -1
		for j, g := range p.GroupBy {
			if o.Column != nil && g.Table == o.Column.Table && g.Name == o.Column.Name {
				gi = j
			}
		}
		if gi < 0 {
			return nil, fmt.Errorf("release: refusing output %s: not a grouping column", o.Name)
		}
		outs[i] = gi
	}
	if ai != len(l.Aggs) {
		return nil, fmt.Errorf("release: the plan has %d aggregates, the layout %d", ai, len(l.Aggs))
	}
	rows := make([][]string, l.Groups)
	aggVals := make([]string, len(l.Aggs))
	for g := range rows {
		if len(groupValues[g]) != len(p.GroupBy) {
			return nil, fmt.Errorf("release: group %d has %d grouping values, want %d", g, len(groupValues[g]), len(p.GroupBy))
		}
		vals := raw[g*l.perGroup : (g+1)*l.perGroup]
		i := 0
		for ai, a := range l.Aggs {
			n := len(Kinds(a))
			aggVals[ai] = Format(a, vals[i:i+n])
			i += n
		}
		row := make([]string, len(outs))
		for j, oi := range outs {
			if oi >= 0 {
				row[j] = groupValues[g][oi]
			} else {
				row[j] = aggVals[-oi-1]
			}
		}
		rows[g] = row
	}
	return rows, nil
}

// Weights are the rows of one table that make up one encrypted value of
// one group, with their multiplicities: the crypto layer computes
// Σ W[i]·x[Rows[i]] over the encrypted column x. Rows are ascending and
// unique; W[i] ≥ 1 is how many kept joined rows of the group use row
// Rows[i]. (protocols/mhe has an identical struct.)
type Weights struct {
	Rows []int32
	W    []int64
}

// Affine returns how the encrypted value of aggregate a (a SUM, or an
// AVG's AvgSum2) in a group of c kept rows derives from the weighted sum
// S = Σ W·x of its column: value = scale·S + offset. SUM: 1, 0. AVG: 2,
// −(Min+Max)·c. It fails for another aggregate or when offset overflows
// int64.
func (a Agg) Affine(c int64) (scale, offset int64, err error) {
	switch a.Func {
	case query.Sum:
		return 1, 0, nil
	case query.Avg:
		o := new(big.Int).Add(big.NewInt(a.Min), big.NewInt(a.Max))
		o.Mul(o, big.NewInt(c))
		o.Neg(o)
		if !o.IsInt64() {
			return 0, 0, fmt.Errorf("release: %s: (Min+Max)·%d overflows int64", a.name(), c)
		}
		return 2, o.Int64(), nil
	}
	return 0, 0, fmt.Errorf("release: %s has no encrypted sum", a.name())
}

// AvgSum2Of returns 2·sum − (min+max)·count, the AvgSum2 value of an AVG
// whose group has count kept rows summing to sum, or an error if it
// overflows int64.
func AvgSum2Of(sum, count, min, max int64) (int64, error) {
	v := new(big.Int).Add(big.NewInt(min), big.NewInt(max))
	v.Mul(v, big.NewInt(count))
	v.Sub(new(big.Int).Lsh(big.NewInt(sum), 1), v)
	if !v.IsInt64() {
		return 0, fmt.Errorf("release: AVG: 2·%d − (%d+%d)·%d overflows int64", sum, min, max, count)
	}
	return v.Int64(), nil
}

// MaxAbs returns the largest absolute value that a value of kind k takes
// in a group of at most rows kept rows of a column whose rows lie in [min,
// max]: rows for Count and AvgCount, rows·max(|min|, |max|) for Sum,
// rows·(max−min) for AvgSum2 (each row adds 2x − min − max, within
// ±(max−min)). It is exact (arbitrary precision). The noise comes on top.
func MaxAbs(k Kind, rows, min, max int64) *big.Int {
	r := big.NewInt(maxInt(rows, 0))
	switch k {
	case Sum:
		m := new(big.Int).Abs(big.NewInt(min))
		if x := new(big.Int).Abs(big.NewInt(max)); x.Cmp(m) > 0 {
			m = x
		}
		return r.Mul(r, m)
	case AvgSum2:
		d := new(big.Int).Sub(big.NewInt(max), big.NewInt(min))
		return r.Mul(r, d.Abs(d))
	}
	return r
}

// CheckOverflow reports an error, naming the value, when some value of
// the release could reach limit in absolute value, given rows[g], the kept
// rows (or a bound on them) of each group: every value is encrypted, the
// clear vector included. Leave room for the noise in limit.
func (l Layout) CheckOverflow(rows []int64, limit int64) error {
	if len(rows) != l.Groups {
		return fmt.Errorf("release: kept rows of %d groups, the layout has %d", len(rows), l.Groups)
	}
	lim := big.NewInt(limit)
	for _, v := range l.Values {
		a := l.Aggs[v.Agg]
		if m := MaxAbs(v.Kind, rows[v.Group], a.Min, a.Max); m.CmpAbs(lim) >= 0 || limit <= 0 {
			return fmt.Errorf("release: %s (%s) of group %d may reach %s with %d kept rows, not below the limit %d", a.name(), v.Kind, v.Group, m, rows[v.Group], limit)
		}
	}
	return nil
}

// mul returns a·b and whether it fits in int64.
func mul(a, b int64) (int64, bool) {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	if !p.IsInt64() {
		return 0, false
	}
	return p.Int64(), true
}

func minInt(a, b int64) int64 { return min(a, b) }
func maxInt(a, b int64) int64 { return max(a, b) }

func absInt(a int64) int64 {
	if a < 0 {
		return -a
	}
	return a
}

// Format renders an aggregate's noisy values (its Kinds, in order) as
// released: COUNT and COUNT(DISTINCT) by FormatCount, SUM by FormatSum
// and an AVG from its parts as the DP library's BoundedMean computes it
// (dp.MeanFromParts), both in the aggregate's Scale. Post-processing: it
// costs no budget.
func Format(a Agg, vals []int64) string {
	switch a.Func {
	case query.Sum:
		return FormatDecimal(FormatSum(vals[0], a.Min, a.Max), a.Scale)
	case query.Avg:
		return FormatMean(Mean(a, vals[0], vals[1]), a.Scale)
	}
	return FormatCount(vals[0])
}

// Mean returns an AVG's released mean, in units, from its noisy parts
// AvgSum2 and AvgCount.
func Mean(a Agg, sum2, count int64) float64 {
	return dp.MeanFromParts(count, float64(sum2)/2, float64(a.Min), float64(a.Max))
}

// FormatDecimal renders an integer text of units of 10^-scale as a
// decimal ("1234", 2 → "12.34").
func FormatDecimal(units string, scale int) string {
	if scale == 0 {
		return units
	}
	u, err := strconv.ParseInt(units, 10, 64)
	if err != nil {
		return units
	}
	return query.FormatUnits(u, scale)
}

// FormatMean renders a mean, or another real statistic, in units of
// 10^-scale: divided by 10^scale, with max(2, scale) decimals.
func FormatMean(m float64, scale int) string {
	return strconv.FormatFloat(m/float64(query.Pow10(scale)), 'f', max(2, scale), 64)
}

// FormatCount renders a noisy COUNT as released: never below zero.
func FormatCount(r int64) string { return strconv.FormatInt(max(r, 0), 10) }

// FormatSum renders a noisy SUM of values within [min, max] as released:
// kept on the side of zero the bounds allow (the hull of a unit's total
// has the same signs as the bounds).
func FormatSum(r, min, max int64) string {
	if min >= 0 {
		r = maxInt(r, 0)
	}
	if max <= 0 {
		r = minInt(r, 0)
	}
	return strconv.FormatInt(r, 10)
}

// FormatAvg renders an AVG as released, with two decimals.
func FormatAvg(m float64) string { return strconv.FormatFloat(m, 'f', 2, 64) }
