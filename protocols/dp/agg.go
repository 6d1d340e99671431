package dp

import (
	"errors"
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// ErrSpent is returned (wrapped, with the library's own message) when the
// result of an aggregation is asked for a second time. The budget has been
// spent: the caller must not retry with the same aggregation, and a new one
// spends new budget.
var ErrSpent = errors.New("result already produced, budget spent")

func checkCommon(what string, epsilon, delta float64, l0 int64) error {
	if math.IsNaN(epsilon) || math.IsInf(epsilon, 0) || epsilon <= 0 {
		return fmt.Errorf("dp: %s: Epsilon must be a finite number above 0, got %v", what, epsilon)
	}
	if math.IsNaN(delta) || delta < 0 || delta >= 1 {
		return fmt.Errorf("dp: %s: Delta must be in [0, 1), got %v", what, delta)
	}
	if l0 < 1 {
		return fmt.Errorf("dp: %s: MaxPartitionsContributed must be at least 1, got %d", what, l0)
	}
	return nil
}

func defaultNoise(n noise.Noise) noise.Noise {
	if n == nil {
		return noise.Laplace()
	}
	return n
}

func spentError(what string, spent bool, err error) error {
	if spent {
		return fmt.Errorf("dp: %s: %w (%v)", what, ErrSpent, err)
	}
	return fmt.Errorf("dp: %s: %w", what, err)
}

// CountOptions configures a [Count].
type CountOptions struct {
	// Epsilon is the privacy parameter ε spent by the result. Required, > 0.
	Epsilon float64
	// Delta is the privacy parameter δ of the noise. Defaults to 0; must be
	// 0 with Laplace noise and above 0 with Gaussian noise.
	Delta float64
	// MaxPartitionsContributed is how many partitions (Counts) one privacy
	// unit may contribute to. Required, >= 1.
	MaxPartitionsContributed int64
	// MaxContributionsPerPartition is how many rows one privacy unit may add
	// to this Count. Defaults to 1.
	MaxContributionsPerPartition int64
	// Noise is the mechanism. Defaults to the library's Laplace noise.
	Noise noise.Noise
}

// Count is a differentially private count of rows, where each privacy unit
// adds at most MaxContributionsPerPartition rows. Its result is an unbiased
// estimate of the raw count.
//
// With MaxContributionsPerPartition = 1 it is the library's dpagg.Count.
// The library does not expose a per-partition contribution bound for Count,
// so above 1 it is the library's dpagg.BoundedSumInt64 over [0,
// MaxContributionsPerPartition], each unit adding its row count once: the
// same sensitivities (L0 = MaxPartitionsContributed, L∞ =
// MaxContributionsPerPartition) and so the same noise as a Count with that
// bound.
//
// Not thread-safe.
type Count struct {
	count *dpagg.Count
	sum   *dpagg.BoundedSumInt64
	linf  int64
	spent bool
}

// NewCount returns a Count at 0, or an error naming the invalid option.
func NewCount(opt *CountOptions) (*Count, error) {
	if opt == nil {
		return nil, errors.New("dp: count: options are required")
	}
	if err := checkCommon("count", opt.Epsilon, opt.Delta, opt.MaxPartitionsContributed); err != nil {
		return nil, err
	}
	linf := opt.MaxContributionsPerPartition
	if linf == 0 {
		linf = 1
	}
	if linf < 0 {
		return nil, fmt.Errorf("dp: count: MaxContributionsPerPartition must be at least 1, got %d", linf)
	}
	n := defaultNoise(opt.Noise)
	c := &Count{linf: linf}
	var err error
	if linf == 1 {
		c.count, err = dpagg.NewCount(&dpagg.CountOptions{
			Epsilon:                  opt.Epsilon,
			Delta:                    opt.Delta,
			MaxPartitionsContributed: opt.MaxPartitionsContributed,
			Noise:                    n,
		})
	} else {
		c.sum, err = dpagg.NewBoundedSumInt64(&dpagg.BoundedSumInt64Options{
			Epsilon:                  opt.Epsilon,
			Delta:                    opt.Delta,
			MaxPartitionsContributed: opt.MaxPartitionsContributed,
			Lower:                    0,
			Upper:                    linf,
			Noise:                    n,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("dp: count: %w", err)
	}
	return c, nil
}

// Add adds one privacy unit's rows in this partition: n must be in [0,
// MaxContributionsPerPartition]; the caller bounds contributions, and a
// value outside is an error, not clamped.
func (c *Count) Add(n int64) error {
	if n < 0 || n > c.linf {
		return fmt.Errorf("dp: count: a unit adds %d rows, outside [0, %d] (MaxContributionsPerPartition)", n, c.linf)
	}
	var err error
	if c.count != nil {
		err = c.count.IncrementBy(n)
	} else {
		err = c.sum.Add(n)
	}
	if err != nil {
		return spentError("count", c.spent, err)
	}
	return nil
}

// Result returns the noisy count, once. It may be negative.
func (c *Count) Result() (int64, error) {
	var (
		r   int64
		err error
	)
	if c.count != nil {
		r, err = c.count.Result()
	} else {
		r, err = c.sum.Result()
	}
	if err != nil {
		return 0, spentError("count", c.spent, err)
	}
	c.spent = true
	return r, nil
}

// ThresholdedResult returns the noisy count, once, or nil when it is below
// the library's threshold for thresholdDelta: the smallest value that a
// partition absent from a neighbouring dataset reaches with probability at
// most thresholdDelta over all partitions one unit touches.
func (c *Count) ThresholdedResult(thresholdDelta float64) (*int64, error) {
	var (
		r   *int64
		err error
	)
	if c.count != nil {
		r, err = c.count.ThresholdedResult(thresholdDelta)
	} else {
		r, err = c.sum.ThresholdedResult(thresholdDelta)
	}
	if err != nil {
		return nil, spentError("count", c.spent, err)
	}
	c.spent = true
	return r, nil
}

// BoundedSumInt64Options configures a [BoundedSumInt64].
type BoundedSumInt64Options struct {
	// Epsilon is the privacy parameter ε spent by the result. Required, > 0.
	Epsilon float64
	// Delta is the privacy parameter δ of the noise. Defaults to 0; must be
	// 0 with Laplace noise and above 0 with Gaussian noise.
	Delta float64
	// MaxPartitionsContributed is how many partitions one privacy unit may
	// contribute to. Required, >= 1.
	MaxPartitionsContributed int64
	// Lower and Upper bound the one value each privacy unit adds; values
	// are clamped to them. Required: Lower <= Upper, not both 0, neither
	// math.MinInt64.
	Lower, Upper int64
	// Noise is the mechanism. Defaults to the library's Laplace noise.
	Noise noise.Noise
}

// BoundedSumInt64 is a differentially private sum in which each privacy unit
// adds one value, clamped to [Lower, Upper]. A unit with several rows in a
// partition must pre-aggregate them and add their total once (the library
// keeps the per-partition bound for sums internal): the bounds then bound a
// unit's total, not a row. Its result is an unbiased estimate of the sum of
// clamped values.
//
// Not thread-safe.
type BoundedSumInt64 struct {
	sum   *dpagg.BoundedSumInt64
	spent bool
}

// NewBoundedSumInt64 returns a BoundedSumInt64 at 0, or an error naming the
// invalid option.
func NewBoundedSumInt64(opt *BoundedSumInt64Options) (*BoundedSumInt64, error) {
	if opt == nil {
		return nil, errors.New("dp: bounded sum: options are required")
	}
	if err := checkCommon("bounded sum", opt.Epsilon, opt.Delta, opt.MaxPartitionsContributed); err != nil {
		return nil, err
	}
	if opt.Lower > opt.Upper {
		return nil, fmt.Errorf("dp: bounded sum: Lower %d is above Upper %d", opt.Lower, opt.Upper)
	}
	s, err := dpagg.NewBoundedSumInt64(&dpagg.BoundedSumInt64Options{
		Epsilon:                  opt.Epsilon,
		Delta:                    opt.Delta,
		MaxPartitionsContributed: opt.MaxPartitionsContributed,
		Lower:                    opt.Lower,
		Upper:                    opt.Upper,
		Noise:                    defaultNoise(opt.Noise),
	})
	if err != nil {
		return nil, fmt.Errorf("dp: bounded sum: %w", err)
	}
	return &BoundedSumInt64{sum: s}, nil
}

// Add adds one privacy unit's value, clamped to [Lower, Upper].
func (s *BoundedSumInt64) Add(v int64) error {
	if err := s.sum.Add(v); err != nil {
		return spentError("bounded sum", s.spent, err)
	}
	return nil
}

// Result returns the noisy sum, once.
func (s *BoundedSumInt64) Result() (int64, error) {
	r, err := s.sum.Result()
	if err != nil {
		return 0, spentError("bounded sum", s.spent, err)
	}
	s.spent = true
	return r, nil
}

// BoundedMeanOptions configures a [BoundedMean].
type BoundedMeanOptions struct {
	// Epsilon is the privacy parameter ε spent by the result (the library
	// gives half to a noisy count and half to a noisy sum). Required, > 0.
	Epsilon float64
	// Delta is the privacy parameter δ of the noise. Defaults to 0; must be
	// 0 with Laplace noise and above 0 with Gaussian noise.
	Delta float64
	// MaxPartitionsContributed is how many partitions one privacy unit may
	// contribute to. Required, >= 1.
	MaxPartitionsContributed int64
	// MaxContributionsPerPartition is how many values one privacy unit may
	// add to this mean. Required, >= 1.
	MaxContributionsPerPartition int64
	// Lower and Upper bound each value; values are clamped to them.
	// Required: finite, Lower < Upper.
	Lower, Upper float64
	// Noise is the mechanism. Defaults to the library's Laplace noise.
	Noise noise.Noise
}

// BoundedMean is a differentially private mean of values clamped to [Lower,
// Upper], the library's dpagg.BoundedMean. Its result is clamped to [Lower,
// Upper] and is not an unbiased estimate.
//
// Not thread-safe.
type BoundedMean struct {
	mean  *dpagg.BoundedMean
	spent bool
}

// NewBoundedMean returns an empty BoundedMean, or an error naming the
// invalid option.
func NewBoundedMean(opt *BoundedMeanOptions) (*BoundedMean, error) {
	if opt == nil {
		return nil, errors.New("dp: bounded mean: options are required")
	}
	if err := checkBounded("bounded mean", opt.Epsilon, opt.Delta, opt.MaxPartitionsContributed, opt.MaxContributionsPerPartition, opt.Lower, opt.Upper); err != nil {
		return nil, err
	}
	m, err := dpagg.NewBoundedMean(&dpagg.BoundedMeanOptions{
		Epsilon:                      opt.Epsilon,
		Delta:                        opt.Delta,
		MaxPartitionsContributed:     opt.MaxPartitionsContributed,
		MaxContributionsPerPartition: opt.MaxContributionsPerPartition,
		Lower:                        opt.Lower,
		Upper:                        opt.Upper,
		Noise:                        defaultNoise(opt.Noise),
	})
	if err != nil {
		return nil, fmt.Errorf("dp: bounded mean: %w", err)
	}
	return &BoundedMean{mean: m}, nil
}

// Add adds one value, clamped to [Lower, Upper]. NaN is skipped, as the
// library does. The caller bounds how many values a unit adds.
func (m *BoundedMean) Add(v float64) error {
	if err := m.mean.Add(v); err != nil {
		return spentError("bounded mean", m.spent, err)
	}
	return nil
}

// Result returns the noisy mean, once.
func (m *BoundedMean) Result() (float64, error) {
	r, err := m.mean.Result()
	if err != nil {
		return 0, spentError("bounded mean", m.spent, err)
	}
	m.spent = true
	return r, nil
}

// ResultParts returns, once and instead of Result, the two noisy parts the
// library computes the mean from: the noisy count of the values added and
// the noisy sum of their distances from the midpoint of [Lower, Upper]
// (the library's normalised sum, with bounds ±(Upper−Lower)/2 and the
// same L0 and L∞ as the mean). Each part spends half of Epsilon (and of
// Delta), exactly as Result does; [MeanFromParts] turns them into the
// value Result would have returned.
//
// On a mean with no values added the parts are pure noise, calibrated
// exactly as the noise of a mean with these options: that is how a value
// hidden from this process (an encrypted sum) gets the same noise.
func (m *BoundedMean) ResultParts() (count int64, normalizedSum float64, err error) {
	if m.spent {
		return 0, 0, fmt.Errorf("dp: bounded mean: %w", ErrSpent)
	}
	// The library's BoundedMean.Result draws exactly these two results.
	count, err = m.mean.Count.Result()
	if err != nil {
		return 0, 0, spentError("bounded mean", m.spent, err)
	}
	m.spent = true
	normalizedSum, err = m.mean.NormalizedSum.Result()
	if err != nil {
		return 0, 0, fmt.Errorf("dp: bounded mean: %w", err)
	}
	return count, normalizedSum, nil
}

// MeanFromParts returns the mean that the library's BoundedMean.Result
// computes from a noisy count and a noisy normalised sum (see
// [BoundedMean.ResultParts]) for bounds [lower, upper], with the same
// floating-point operations: the midpoint lower + (upper−lower)/2, the
// count floored at 1, and the result clamped to [lower, upper]. It is
// post-processing of the parts and costs no budget. lower < upper, both
// finite, as for [NewBoundedMean].
func MeanFromParts(count int64, normalizedSum, lower, upper float64) float64 {
	midPoint := lower + (upper-lower)/2.0
	noisedCountClamped := math.Max(1.0, float64(count))
	// dpagg.ClampFloat64 fails only when lower > upper.
	clamped, err := dpagg.ClampFloat64(normalizedSum/noisedCountClamped+midPoint, lower, upper)
	if err != nil {
		return math.NaN()
	}
	return clamped
}

// NoiseGranularity returns the granularity of the noise that mechanism n
// adds with the given sensitivities and privacy parameters: the library
// samples its noise as a multiple of a power of two g, and rounds the
// value it noises to a multiple of g first (secure noise generation).
// This mirrors the library's noise package (Laplace: g is the smallest
// power of two at least (L0·L∞/ε)/2⁴⁰; Gaussian: at least 2σ/2⁵⁷); it
// samples nothing.
//
// A caller that adds a noise sample drawn for x = 0 to a value it cannot
// see (an encrypted integer) gets a result on the lattice value + g·ℤ
// instead of g·ℤ: when g > 1 that reveals the value modulo g, so such a
// caller must refuse a g above its integer step. For integer noise
// (AddNoiseInt64) pass float64(L∞). It returns 0 for a mechanism the
// library does not know (such as a test fake), and for invalid
// parameters.
func NoiseGranularity(n noise.Noise, l0Sensitivity int64, lInfSensitivity, epsilon, delta float64) float64 {
	if l0Sensitivity <= 0 || !(lInfSensitivity > 0) || math.IsInf(lInfSensitivity, 0) || !(epsilon > 0) || math.IsInf(epsilon, 0) {
		return 0
	}
	var x float64
	switch defaultNoise(n) {
	case noise.Laplace():
		x = ((lInfSensitivity * float64(l0Sensitivity)) / epsilon) / math.Exp2(40)
	case noise.Gaussian():
		if !(delta > 0) || delta >= 1 {
			return 0
		}
		x = 2.0 * noise.SigmaForGaussian(l0Sensitivity, lInfSensitivity, epsilon, delta) / math.Exp2(57)
	default:
		return 0
	}
	if !(x > 0) || math.IsInf(x, 0) {
		return 0
	}
	// The smallest power of two >= x, exactly as the library's
	// ceilPowerOfTwo.
	frac, exp := math.Frexp(x) // x = frac·2^exp, frac in [0.5, 1)
	if frac == 0.5 {
		return x
	}
	return math.Ldexp(1, exp)
}

// SelectionOptions configures a [Selection].
type SelectionOptions struct {
	// Epsilon is the privacy parameter ε spent by the decision. Required, > 0.
	Epsilon float64
	// Delta is the probability, over all partitions one unit contributes
	// to, that a partition present only because of that unit is released.
	// Required, in (0, 1). With Gaussian noise half of it goes to the noise
	// and half to the threshold.
	Delta float64
	// MaxPartitionsContributed is how many partitions one privacy unit may
	// contribute to. Required, >= 1.
	MaxPartitionsContributed int64
	// Noise is the mechanism. Defaults to the library's Laplace noise.
	Noise noise.Noise
}

// Selection decides whether a partition (a group) may be released at all,
// from a noisy count of the distinct privacy units in it: a dpagg.Count in
// which each unit adds 1, thresholded with the library's ThresholdedResult.
// Partitions whose existence depends on private data must not be released
// without such a decision.
//
// Not thread-safe.
type Selection struct {
	count          *dpagg.Count
	thresholdDelta float64
	spent          bool
}

// NewSelection returns a Selection with no units, or an error naming the
// invalid option.
func NewSelection(opt *SelectionOptions) (*Selection, error) {
	if opt == nil {
		return nil, errors.New("dp: selection: options are required")
	}
	if err := checkCommon("selection", opt.Epsilon, opt.Delta, opt.MaxPartitionsContributed); err != nil {
		return nil, err
	}
	if opt.Delta <= 0 {
		return nil, fmt.Errorf("dp: selection: Delta must be above 0, got %v", opt.Delta)
	}
	n := defaultNoise(opt.Noise)
	noiseDelta, thresholdDelta := 0.0, opt.Delta
	if n == noise.Gaussian() {
		noiseDelta, thresholdDelta = opt.Delta/2, opt.Delta/2
	}
	c, err := dpagg.NewCount(&dpagg.CountOptions{
		Epsilon:                  opt.Epsilon,
		Delta:                    noiseDelta,
		MaxPartitionsContributed: opt.MaxPartitionsContributed,
		Noise:                    n,
	})
	if err != nil {
		return nil, fmt.Errorf("dp: selection: %w", err)
	}
	// Fail now, not at Result, if the threshold cannot be computed.
	if _, err := n.Threshold(opt.MaxPartitionsContributed, 1, opt.Epsilon, noiseDelta, thresholdDelta); err != nil {
		return nil, fmt.Errorf("dp: selection: %w", err)
	}
	return &Selection{count: c, thresholdDelta: thresholdDelta}, nil
}

// AddUnit counts one more distinct privacy unit in the partition. Each unit
// must be added at most once.
func (s *Selection) AddUnit() error {
	if err := s.count.Increment(); err != nil {
		return spentError("selection", s.spent, err)
	}
	return nil
}

// AddUnits counts k more distinct privacy units in the partition at once,
// as k calls of AddUnit do (k >= 0).
func (s *Selection) AddUnits(k int64) error {
	if k < 0 {
		return fmt.Errorf("dp: selection: %d units added", k)
	}
	if err := s.count.IncrementBy(k); err != nil {
		return spentError("selection", s.spent, err)
	}
	return nil
}

// Result decides, once, whether the partition may be released. When it
// may, count is the noisy number of units (at or above the threshold);
// otherwise count is 0 and keep false.
func (s *Selection) Result() (count int64, keep bool, err error) {
	r, err := s.count.ThresholdedResult(s.thresholdDelta)
	if err != nil {
		return 0, false, spentError("selection", s.spent, err)
	}
	s.spent = true
	if r == nil {
		return 0, false, nil
	}
	return *r, true, nil
}
