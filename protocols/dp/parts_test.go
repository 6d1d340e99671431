package dp_test

import (
	"errors"
	"math"
	"testing"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/xjdata/cleanroom/protocols/dp"
)

// offsetNoise adds fixed offsets: deterministic, but not zero, so that the
// arithmetic on noisy parts is exercised.
type offsetNoise struct {
	i int64
	f float64
}

func (o offsetNoise) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error) { return x + o.i, nil }
func (o offsetNoise) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) {
	return x + o.f, nil
}
func (offsetNoise) Threshold(int64, float64, float64, float64, float64) (float64, error) {
	return 0, nil
}
func (offsetNoise) ComputeConfidenceIntervalInt64(int64, int64, int64, float64, float64, float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}
func (offsetNoise) ComputeConfidenceIntervalFloat64(float64, int64, float64, float64, float64, float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}

// TestMeanFromParts checks that ResultParts and MeanFromParts give, bit
// for bit, what the library's BoundedMean.Result gives for the same values
// and noise, including a count below 1 and results clamped at either bound.
func TestMeanFromParts(t *testing.T) {
	for _, tc := range []struct {
		lower, upper float64
		values       []float64
		n            offsetNoise
	}{
		{-50, 150, []float64{1, 2, 3, 149, -50, 7}, offsetNoise{0, 0}},
		{-50, 150, []float64{1, 2, 3, 149, -50, 7}, offsetNoise{3, 12.75}},
		{-50, 150, []float64{1, 2, 3}, offsetNoise{-10, 5}}, // count below 1
		{0, 1, []float64{1, 1, 0}, offsetNoise{-1, 1000}},   // clamped to upper
		{-7, -3, []float64{-4, -5}, offsetNoise{2, -1000}},  // clamped to lower
		{0, 1_000_000_001, []float64{1, 999_999_999, 123_456_789}, offsetNoise{1, 0.1}},
	} {
		opt := func() *dp.BoundedMeanOptions {
			return &dp.BoundedMeanOptions{Epsilon: 1, MaxPartitionsContributed: 2, MaxContributionsPerPartition: 3, Lower: tc.lower, Upper: tc.upper, Noise: tc.n}
		}
		lib, err := dpagg.NewBoundedMean(&dpagg.BoundedMeanOptions{Epsilon: 1, MaxPartitionsContributed: 2, MaxContributionsPerPartition: 3, Lower: tc.lower, Upper: tc.upper, Noise: tc.n})
		if err != nil {
			t.Fatal(err)
		}
		m, err := dp.NewBoundedMean(opt())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range tc.values {
			if err := lib.Add(v); err != nil {
				t.Fatal(err)
			}
			if err := m.Add(v); err != nil {
				t.Fatal(err)
			}
		}
		want, err := lib.Result()
		if err != nil {
			t.Fatal(err)
		}
		c, s, err := m.ResultParts()
		if err != nil {
			t.Fatal(err)
		}
		if got := dp.MeanFromParts(c, s, tc.lower, tc.upper); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%+v: MeanFromParts = %v, the library's Result = %v", tc, got, want)
		}
		if wantC := int64(len(tc.values)) + tc.n.i; c != wantC {
			t.Errorf("%+v: count part %d, want %d", tc, c, wantC)
		}
		if _, _, err := m.ResultParts(); !errors.Is(err, dp.ErrSpent) {
			t.Errorf("second ResultParts: got %v, want ErrSpent", err)
		}
		if _, err := m.Result(); !errors.Is(err, dp.ErrSpent) {
			t.Errorf("Result after ResultParts: got %v, want ErrSpent", err)
		}
		// ResultParts after Result is refused too.
		m2, _ := dp.NewBoundedMean(opt())
		if _, err := m2.Result(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := m2.ResultParts(); !errors.Is(err, dp.ErrSpent) {
			t.Errorf("ResultParts after Result: got %v, want ErrSpent", err)
		}
	}
}

// TestEmptyMeanPartsAreNoise checks that the parts of a mean with no
// values are pure noise with the mean's calibration: variance 2b² with
// b = L0·L∞/(ε/2) for the count and L0·L∞·(Upper−Lower)/2/(ε/2) for the
// normalised sum (Laplace), within 15% over 5,000 draws (the sample
// variance has a relative standard deviation of sqrt(5/5000) ≈ 3.2%).
func TestEmptyMeanPartsAreNoise(t *testing.T) {
	const n = 5000
	var cs, ss []float64
	for range n {
		m, err := dp.NewBoundedMean(&dp.BoundedMeanOptions{Epsilon: 2, MaxPartitionsContributed: 2, MaxContributionsPerPartition: 3, Lower: -10, Upper: 30})
		if err != nil {
			t.Fatal(err)
		}
		c, s, err := m.ResultParts()
		if err != nil {
			t.Fatal(err)
		}
		cs, ss = append(cs, float64(c)), append(ss, s)
	}
	for _, tc := range []struct {
		what    string
		samples []float64
		b       float64
	}{
		{"count", cs, 2 * 3 / 1.0},
		{"normalised sum", ss, 2 * 3 * 20 / 1.0},
	} {
		mean, v := meanVariance(tc.samples)
		want := 2 * tc.b * tc.b
		if math.Abs(v/want-1) > 0.15 || math.Abs(mean) > 6*math.Sqrt(want/n) {
			t.Errorf("%s: mean %.3f variance %.1f, want 0 and %.1f", tc.what, mean, v, want)
		}
	}
}

// TestNoiseGranularity checks the granularity against the library's own
// noise: Laplace samples (for x = 0) are multiples of g, and not all of
// 2g; an integer x is first rounded to a multiple of g when g > 1.
func TestNoiseGranularity(t *testing.T) {
	lap := noise.Laplace()
	for _, tc := range []struct {
		l0   int64
		linf float64
		eps  float64
		want float64
	}{
		{1, 1, 1, math.Exp2(-40)},
		{1, 1 << 20, 1, math.Exp2(-20)},
		{2, 3, 0.5, math.Exp2(-36)},         // (6/0.5)/2⁴⁰ = 12·2⁻⁴⁰ → 16·2⁻⁴⁰
		{1, math.Exp2(40), 1, 1},            // exactly 2⁴⁰: g = 1
		{1, math.Exp2(40) + 4096, 1, 2},     // just above: g = 2
		{4, math.Exp2(40), 0.25, 16},        // 2⁴⁴/2⁴⁰
		{1, 3 * math.Exp2(41), 1, 8},        // 6 → 8
		{3, 1_000_000_000 * 48, 1.0 / 6, 1}, // 8.64e11/2⁴⁰ ≈ 0.79 → 1
	} {
		g := dp.NoiseGranularity(lap, tc.l0, tc.linf, tc.eps, 0)
		if g != tc.want {
			t.Errorf("%+v: granularity %g, want %g", tc, g, tc.want)
			continue
		}
		odd := false
		for range 200 {
			x, err := lap.AddNoiseFloat64(0, tc.l0, tc.linf, tc.eps, 0)
			if err != nil {
				t.Fatal(err)
			}
			q := x / g
			if q != math.Trunc(q) {
				t.Fatalf("%+v: sample %v is not a multiple of %g", tc, x, g)
			}
			if math.Mod(q, 2) != 0 {
				odd = true
			}
		}
		if !odd {
			t.Errorf("%+v: 200 samples, all multiples of 2·%g: the granularity is coarser", tc, g)
		}
		if g >= 2 && tc.linf == math.Trunc(tc.linf) {
			// Integer noise: x = 1 is rounded to a multiple of g.
			y, err := lap.AddNoiseInt64(1, tc.l0, int64(tc.linf), tc.eps, 0)
			if err != nil {
				t.Fatal(err)
			}
			if y%int64(g) != 0 {
				t.Errorf("%+v: AddNoiseInt64(1) = %d, not a multiple of %g", tc, y, g)
			}
		}
	}
	gauss := dp.NoiseGranularity(noise.Gaussian(), 1, 1, 1, 1e-5)
	if sigma := noise.SigmaForGaussian(1, 1, 1, 1e-5); gauss <= 0 || gauss < 2*sigma/math.Exp2(57) || gauss >= 4*sigma/math.Exp2(57) {
		t.Errorf("Gaussian granularity %g for σ = %g", gauss, sigma)
	}
	for name, g := range map[string]float64{
		"fake noise":         dp.NoiseGranularity(offsetNoise{}, 1, 1, 1, 0),
		"no L0":              dp.NoiseGranularity(lap, 0, 1, 1, 0),
		"no L∞":              dp.NoiseGranularity(lap, 1, 0, 1, 0),
		"no ε":               dp.NoiseGranularity(lap, 1, 1, 0, 0),
		"Gaussian without δ": dp.NoiseGranularity(noise.Gaussian(), 1, 1, 1, 0),
	} {
		if g != 0 {
			t.Errorf("%s: granularity %g, want 0", name, g)
		}
	}
	if g := dp.NoiseGranularity(nil, 1, 1, 1, 0); g != math.Exp2(-40) {
		t.Errorf("nil noise (Laplace): granularity %g", g)
	}
}
