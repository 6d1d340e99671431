package dp

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// QuantilesOptions configures [Quantiles].
type QuantilesOptions struct {
	// Epsilon is the privacy parameter ε spent by the results. Required, > 0.
	Epsilon float64
	// Delta is the privacy parameter δ of the noise. Defaults to 0; must be
	// 0 with Laplace noise and above 0 with Gaussian noise.
	Delta float64
	// MaxPartitionsContributed is how many partitions one privacy unit may
	// contribute to. Required, >= 1.
	MaxPartitionsContributed int64
	// MaxContributionsPerPartition is how many values one privacy unit may
	// add to this partition. Required, >= 1.
	MaxContributionsPerPartition int64
	// Lower and Upper bound each value; values are clamped to them.
	// Required: finite, Lower < Upper.
	Lower, Upper float64
	// Noise is the mechanism. Defaults to the library's Laplace noise.
	Noise noise.Noise
}

// Quantiles are differentially private quantiles of values clamped to
// [Lower, Upper]: the library's dpagg.BoundedQuantiles (a noisy tree of
// counts, with its default tree height and branching). Results are
// approximate: their resolution is (Upper − Lower) over the tree's leaves,
// and the noise of the counts moves them further where the data is sparse.
//
// Not thread-safe.
type Quantiles struct {
	q     *dpagg.BoundedQuantiles
	spent bool
}

// NewQuantiles returns empty Quantiles, or an error naming the invalid
// option.
func NewQuantiles(opt *QuantilesOptions) (*Quantiles, error) {
	if opt == nil {
		return nil, errors.New("dp: quantiles: options are required")
	}
	if err := checkBounded("quantiles", opt.Epsilon, opt.Delta, opt.MaxPartitionsContributed, opt.MaxContributionsPerPartition, opt.Lower, opt.Upper); err != nil {
		return nil, err
	}
	q, err := dpagg.NewBoundedQuantiles(&dpagg.BoundedQuantilesOptions{
		Epsilon:                      opt.Epsilon,
		Delta:                        opt.Delta,
		MaxPartitionsContributed:     opt.MaxPartitionsContributed,
		MaxContributionsPerPartition: opt.MaxContributionsPerPartition,
		Lower:                        opt.Lower,
		Upper:                        opt.Upper,
		Noise:                        defaultNoise(opt.Noise),
	})
	if err != nil {
		return nil, fmt.Errorf("dp: quantiles: %w", err)
	}
	return &Quantiles{q: q}, nil
}

// Add adds one value, clamped to [Lower, Upper].
func (q *Quantiles) Add(v float64) error {
	if err := q.q.Add(v); err != nil {
		return spentError("quantiles", q.spent, err)
	}
	return nil
}

// Merge adds the values of o, which must have the same options, and
// consumes o.
func (q *Quantiles) Merge(o *Quantiles) error {
	if err := q.q.Merge(o.q); err != nil {
		return spentError("quantiles", q.spent, err)
	}
	return nil
}

// Result returns the noisy quantile of rank in [0, 1]. The noise is drawn
// once, at the first call: further ranks come from the same noisy tree
// and cost nothing more.
func (q *Quantiles) Result(rank float64) (float64, error) {
	if math.IsNaN(rank) || rank < 0 || rank > 1 {
		return 0, fmt.Errorf("dp: quantiles: rank must be in [0, 1], got %v", rank)
	}
	r, err := q.q.Result(rank)
	if err != nil {
		return 0, fmt.Errorf("dp: quantiles: %w", err)
	}
	q.spent = true
	return r, nil
}

// checkBounded is checkCommon for an aggregation of values clamped to
// [lower, upper], l∞ of them per unit and partition: at least one, and
// finite bounds with lower < upper.
func checkBounded(what string, epsilon, delta float64, l0, lInf int64, lower, upper float64) error {
	if err := checkCommon(what, epsilon, delta, l0); err != nil {
		return err
	}
	if lInf < 1 {
		return fmt.Errorf("dp: %s: MaxContributionsPerPartition must be at least 1, got %d", what, lInf)
	}
	if math.IsNaN(lower) || math.IsNaN(upper) || math.IsInf(lower, 0) || math.IsInf(upper, 0) || lower >= upper {
		return fmt.Errorf("dp: %s: want finite bounds with Lower < Upper, got [%v, %v]", what, lower, upper)
	}
	return nil
}

// VarianceOptions configures [VarianceNoise].
type VarianceOptions struct {
	// Epsilon is the ε of the whole variance (the library gives a third to
	// each of its count, normalised sum and normalised sum of squares).
	// Required, > 0.
	Epsilon float64
	// Delta is the privacy parameter δ of the noise. Defaults to 0.
	Delta float64
	// MaxPartitionsContributed is L0. Required, >= 1.
	MaxPartitionsContributed int64
	// MaxContributionsPerPartition is L∞: values one unit adds. Required,
	// >= 1.
	MaxContributionsPerPartition int64
	// Lower and Upper bound each value. Required: finite, Lower < Upper.
	Lower, Upper float64
	// Noise is the mechanism. Defaults to the library's Laplace noise.
	Noise noise.Noise
}

// VarianceParts are the three noisy parts the library computes a
// variance from: a count, the sum of the values' distances from the
// midpoint of [Lower, Upper] (normalised sum), and the sum of their
// squares.
type VarianceParts struct {
	Count           int64
	NormalizedSum   float64
	NormalizedSumSq float64
}

// VarianceNoise returns the noise the library's dpagg.BoundedVariance
// adds to each of its parts, drawn from an empty BoundedVariance of these
// options (each part the result of a library aggregation to which nothing
// was added), with the granularity of each float part (the library rounds
// a value to a multiple of it before adding noise, see [AddNoiseTo]).
// Exact parts computed elsewhere (as exact integers, with no
// floating-point accumulation) plus this noise give what the library's
// aggregation of the same values would give; [VarianceFromParts] finishes
// as the library does.
func VarianceNoise(opt *VarianceOptions) (noisy VarianceParts, sumGranularity, sumSqGranularity float64, err error) {
	if opt == nil {
		return VarianceParts{}, 0, 0, errors.New("dp: variance: options are required")
	}
	if err := checkBounded("variance", opt.Epsilon, opt.Delta, opt.MaxPartitionsContributed, opt.MaxContributionsPerPartition, opt.Lower, opt.Upper); err != nil {
		return VarianceParts{}, 0, 0, err
	}
	n := defaultNoise(opt.Noise)
	v, err := dpagg.NewBoundedVariance(&dpagg.BoundedVarianceOptions{
		Epsilon:                      opt.Epsilon,
		Delta:                        opt.Delta,
		MaxPartitionsContributed:     opt.MaxPartitionsContributed,
		MaxContributionsPerPartition: opt.MaxContributionsPerPartition,
		Lower:                        opt.Lower,
		Upper:                        opt.Upper,
		Noise:                        n,
	})
	if err != nil {
		return VarianceParts{}, 0, 0, fmt.Errorf("dp: variance: %w", err)
	}
	// The library's BoundedVariance.Result draws exactly these three.
	var p VarianceParts
	if p.Count, err = v.Count.Result(); err != nil {
		return VarianceParts{}, 0, 0, fmt.Errorf("dp: variance: %w", err)
	}
	if p.NormalizedSum, err = v.NormalizedSum.Result(); err != nil {
		return VarianceParts{}, 0, 0, fmt.Errorf("dp: variance: %w", err)
	}
	if p.NormalizedSumSq, err = v.NormalizedSumOfSquares.Result(); err != nil {
		return VarianceParts{}, 0, 0, fmt.Errorf("dp: variance: %w", err)
	}
	// The parts' ε and sensitivities, as NewBoundedVariance sets them.
	eps3 := opt.Epsilon / 3
	del3 := opt.Delta / 3
	half := (opt.Upper - opt.Lower) / 2
	linf := float64(opt.MaxContributionsPerPartition)
	sumG := NoiseGranularity(n, opt.MaxPartitionsContributed, half*linf, eps3, del3)
	sqG := NoiseGranularity(n, opt.MaxPartitionsContributed, half*half*linf, opt.Epsilon-2*eps3, opt.Delta-2*del3)
	return p, sumG, sqG, nil
}

// VarianceFromParts returns the variance the library's
// BoundedVariance.Result computes from noisy parts for bounds [lower,
// upper]: the count floored at 1, mean of squares minus squared mean,
// clamped to [0, (upper − lower)²/4]. Post-processing: it costs no budget.
func VarianceFromParts(p VarianceParts, lower, upper float64) float64 {
	c := math.Max(1, float64(p.Count))
	mean := p.NormalizedSum / c
	v := p.NormalizedSumSq/c - mean*mean
	maxVar := (upper - lower) * (upper - lower) / 4
	return math.Min(math.Max(v, 0), maxVar)
}

// AddNoiseTo returns x plus a noise sample drawn on multiples of the
// granularity g, as the library adds it: x rounded to a multiple of g
// first (so that the result reveals nothing of x below g), then the
// sample. g = 0 adds the sample as is.
func AddNoiseTo(x, sample, g float64) float64 {
	if g > 0 {
		x = math.Round(x/g) * g
	}
	return x + sample
}

// RoundInt rounds an integer to a multiple of the granularity g, as the
// library does before adding integer noise; g ≤ 1 leaves it as it is.
func RoundInt(x int64, g float64) int64 {
	if g <= 1 {
		return x
	}
	r := math.Round(float64(x)/g) * g
	switch {
	case r >= math.MaxInt64:
		return math.MaxInt64
	case r <= math.MinInt64:
		return math.MinInt64
	}
	return int64(r)
}

// Interval is a confidence interval.
type Interval struct {
	Lo, Hi float64
}

// IntervalInt64 returns the library's confidence interval, at level
// 1 − alpha, of the true value behind a noisy integer released with
// mechanism n and these sensitivities and parameters. It costs no
// budget.
func IntervalInt64(n noise.Noise, noisy, l0, lInf int64, epsilon, delta, alpha float64) (Interval, error) {
	ci, err := defaultNoise(n).ComputeConfidenceIntervalInt64(noisy, l0, lInf, epsilon, delta, alpha)
	if err != nil {
		return Interval{}, fmt.Errorf("dp: confidence interval: %w", err)
	}
	return Interval{ci.LowerBound, ci.UpperBound}, nil
}

// IntervalFloat64 is IntervalInt64 for a noisy float.
func IntervalFloat64(n noise.Noise, noisy float64, l0 int64, lInf, epsilon, delta, alpha float64) (Interval, error) {
	ci, err := defaultNoise(n).ComputeConfidenceIntervalFloat64(noisy, l0, lInf, epsilon, delta, alpha)
	if err != nil {
		return Interval{}, fmt.Errorf("dp: confidence interval: %w", err)
	}
	return Interval{ci.LowerBound, ci.UpperBound}, nil
}

// MeanInterval returns the confidence interval, at level 1 − alpha, of a
// mean released from a noisy count and normalised sum as
// [MeanFromParts] computes it, exactly as the library's
// BoundedMean.ComputeConfidenceInterval derives it from the intervals of
// its two parts: the narrowest over the splits of alpha between them
// (alphaNum = i/1000·alpha, i = 1…999), the count's interval floored at
// 1, the result moved to the midpoint and clamped to [lower, upper].
// meanEpsilon is the mean's whole ε (each part has half); l0 and lInf are
// the mean's.
//
// The parts' intervals do not depend on the noisy values but through a
// shift (x + z for a float, the library's integer rounding for a count),
// so the library is asked for them once per set of parameters, and each
// mean's search is arithmetic.
func MeanInterval(n noise.Noise, count int64, normalizedSum float64, l0, lInf int64, lower, upper, meanEpsilon, delta, alpha float64) (Interval, error) {
	mi, err := meanIntervalsFor(defaultNoise(n), l0, lInf, lower, upper, meanEpsilon, delta, alpha)
	if err != nil {
		return Interval{}, err
	}
	return mi.of(count, normalizedSum), nil
}

// meanIntervals holds, for each split i of alpha, the offsets of the
// normalised sum's interval and of the count's (around 0).
type meanIntervals struct {
	lower, upper float64
	numLo, numHi []float64
	denLo, denHi []int64
}

type meanKey struct {
	n                                       noise.Noise
	l0, lInf                                int64
	lower, upper, meanEpsilon, delta, alpha float64
}

var meanCache struct {
	sync.Mutex
	m map[meanKey]*meanIntervals
}

func meanIntervalsFor(n noise.Noise, l0, lInf int64, lower, upper, meanEpsilon, delta, alpha float64) (*meanIntervals, error) {
	// Only the library's own mechanisms are kept: another (a test's
	// fake) may not even be comparable.
	cacheable := n == noise.Laplace() || n == noise.Gaussian()
	key := meanKey{l0: l0, lInf: lInf, lower: lower, upper: upper, meanEpsilon: meanEpsilon, delta: delta, alpha: alpha}
	if cacheable {
		key.n = n
		meanCache.Lock()
		mi := meanCache.m[key]
		meanCache.Unlock()
		if mi != nil {
			return mi, nil
		}
	}
	eps, del := meanEpsilon/2, delta/2
	half := upper - (lower + (upper-lower)/2)
	mi := &meanIntervals{lower: lower, upper: upper}
	for i := 1; i < 1000; i++ {
		alphaNum := float64(i) / 1000 * alpha
		alphaDen := (alpha - alphaNum) / (1 - alphaNum)
		num, err := IntervalFloat64(n, 0, l0, half*float64(lInf), eps, del, alphaNum)
		if err != nil {
			return nil, err
		}
		den, err := IntervalInt64(n, 0, l0, lInf, eps, del, alphaDen)
		if err != nil {
			return nil, err
		}
		mi.numLo, mi.numHi = append(mi.numLo, num.Lo), append(mi.numHi, num.Hi)
		mi.denLo, mi.denHi = append(mi.denLo, int64(math.Ceil(den.Lo))), append(mi.denHi, int64(math.Floor(den.Hi)))
	}
	if cacheable {
		meanCache.Lock()
		if meanCache.m == nil || len(meanCache.m) >= 256 {
			meanCache.m = map[meanKey]*meanIntervals{}
		}
		meanCache.m[key] = mi
		meanCache.Unlock()
	}
	return mi, nil
}

// of is MeanInterval's search for one mean.
func (mi *meanIntervals) of(count int64, normalizedSum float64) Interval {
	mid := mi.lower + (mi.upper-mi.lower)/2
	best, size := Interval{mi.lower, mi.upper}, math.Inf(1)
	for i := range mi.numLo {
		numLo, numHi := normalizedSum+mi.numLo[i], normalizedSum+mi.numHi[i]
		// As the library's Int64 interval: the offsets added to the
		// count, the bounds the float64 at or beyond them; then as its
		// Count interval, never negative; and as the mean's Result, at
		// least 1.
		denLo := math.Max(math.Max(floatAtOrBelow(count+mi.denLo[i]), 0), 1)
		denHi := math.Max(math.Max(floatAtOrAbove(count+mi.denHi[i]), 0), 1)
		var lo, hi float64
		if numLo >= 0 {
			lo = numLo / denHi
		} else {
			lo = numLo / denLo
		}
		if numHi >= 0 {
			hi = numHi / denLo
		} else {
			hi = numHi / denHi
		}
		lo, hi = clampFloat(lo+mid, mi.lower, mi.upper), clampFloat(hi+mid, mi.lower, mi.upper)
		if hi-lo < size {
			size, best = hi-lo, Interval{lo, hi}
		}
	}
	return best
}

// floatAtOrBelow and floatAtOrAbove return the float64 nearest to n on
// that side, as the library's interval of an integer does.
func floatAtOrBelow(n int64) float64 {
	f := float64(n)
	if int64(f) > n {
		return math.Nextafter(f, math.Inf(-1))
	}
	return f
}

func floatAtOrAbove(n int64) float64 {
	f := float64(n)
	if int64(f) < n {
		return math.Nextafter(f, math.Inf(1))
	}
	return f
}

func clampFloat(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }
