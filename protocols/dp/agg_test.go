package dp_test

import (
	"errors"
	"math"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/protocols/dp/dptest"
)

var noNoise = dptest.InsecureNoNoise{}

func TestCountExact(t *testing.T) {
	for _, linf := range []int64{1, 4} {
		c, err := dp.NewCount(&dp.CountOptions{Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: linf, Noise: noNoise})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := c.Add(linf); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Add(linf + 1); err == nil {
			t.Errorf("Linf=%d: Add(%d) accepted a contribution above the bound", linf, linf+1)
		}
		if err := c.Add(-1); err == nil {
			t.Errorf("Linf=%d: Add(-1) accepted", linf)
		}
		got, err := c.Result()
		if err != nil || got != 3*linf {
			t.Errorf("Linf=%d: Result = %d, %v; want %d", linf, got, err, 3*linf)
		}
		if _, err := c.Result(); !errors.Is(err, dp.ErrSpent) {
			t.Errorf("Linf=%d: second Result: got %v, want ErrSpent", linf, err)
		}
		if err := c.Add(1); !errors.Is(err, dp.ErrSpent) {
			t.Errorf("Linf=%d: Add after Result: got %v, want ErrSpent", linf, err)
		}
	}
}

func TestBoundedSumExactAndClamped(t *testing.T) {
	s, err := dp.NewBoundedSumInt64(&dp.BoundedSumInt64Options{Epsilon: 1, MaxPartitionsContributed: 1, Lower: 0, Upper: 100, Noise: noNoise})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{10, 250, -5} { // 10 + 100 + 0
		if err := s.Add(v); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Result(); err != nil || got != 110 {
		t.Errorf("Result = %d, %v; want 110", got, err)
	}
	if _, err := s.Result(); !errors.Is(err, dp.ErrSpent) {
		t.Errorf("second Result: got %v, want ErrSpent", err)
	}
}

func TestBoundedMeanExact(t *testing.T) {
	m, err := dp.NewBoundedMean(&dp.BoundedMeanOptions{Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 3, Lower: 0, Upper: 10, Noise: noNoise})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{2, 4, 30} { // 30 clamps to 10
		if err := m.Add(v); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := m.Result(); err != nil || math.Abs(got-16.0/3) > 1e-9 {
		t.Errorf("Result = %v, %v; want %v", got, err, 16.0/3)
	}
	if _, err := m.Result(); !errors.Is(err, dp.ErrSpent) {
		t.Errorf("second Result: got %v, want ErrSpent", err)
	}
}

func TestSelectionExact(t *testing.T) {
	for _, tc := range []struct {
		units     int
		threshold float64
		keep      bool
		atOnce    bool // AddUnits rather than AddUnit per unit
	}{
		{units: 5, threshold: 5, keep: true},
		{units: 4, threshold: 4.5, keep: false},
		{units: 0, threshold: 0, keep: true},
		{units: 5, threshold: 5, keep: true, atOnce: true},
		{units: 4, threshold: 4.5, keep: false, atOnce: true},
		{units: 0, threshold: 0, keep: true, atOnce: true},
	} {
		s, err := dp.NewSelection(&dp.SelectionOptions{Epsilon: 1, Delta: 1e-5, MaxPartitionsContributed: 2, Noise: dptest.InsecureNoNoise{ThresholdValue: tc.threshold}})
		if err != nil {
			t.Fatal(err)
		}
		if tc.atOnce {
			if err := s.AddUnits(int64(tc.units)); err != nil {
				t.Fatal(err)
			}
		} else {
			for range tc.units {
				if err := s.AddUnit(); err != nil {
					t.Fatal(err)
				}
			}
		}
		n, keep, err := s.Result()
		if err != nil || keep != tc.keep || (keep && n != int64(tc.units)) {
			t.Errorf("%+v: Result = %d, %v, %v", tc, n, keep, err)
		}
		if _, _, err := s.Result(); !errors.Is(err, dp.ErrSpent) {
			t.Errorf("second Result: got %v, want ErrSpent", err)
		}
		if err := s.AddUnits(1); !errors.Is(err, dp.ErrSpent) {
			t.Errorf("AddUnits after Result: got %v, want ErrSpent", err)
		}
	}
	s, err := dp.NewSelection(&dp.SelectionOptions{Epsilon: 1, Delta: 1e-5, MaxPartitionsContributed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddUnits(-1); err == nil {
		t.Error("AddUnits(-1) succeeded")
	}
}

func TestOptionsValidation(t *testing.T) {
	nan := math.NaN()
	for name, err := range map[string]error{
		"count nil":            second(dp.NewCount(nil)),
		"count eps 0":          second(dp.NewCount(&dp.CountOptions{MaxPartitionsContributed: 1})),
		"count eps NaN":        second(dp.NewCount(&dp.CountOptions{Epsilon: nan, MaxPartitionsContributed: 1})),
		"count eps Inf":        second(dp.NewCount(&dp.CountOptions{Epsilon: math.Inf(1), MaxPartitionsContributed: 1})),
		"count eps negative":   second(dp.NewCount(&dp.CountOptions{Epsilon: -1, MaxPartitionsContributed: 1})),
		"count no L0":          second(dp.NewCount(&dp.CountOptions{Epsilon: 1})),
		"count Linf negative":  second(dp.NewCount(&dp.CountOptions{Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: -2})),
		"count delta laplace":  second(dp.NewCount(&dp.CountOptions{Epsilon: 1, Delta: 1e-5, MaxPartitionsContributed: 1})),
		"count delta 1":        second(dp.NewCount(&dp.CountOptions{Epsilon: 1, Delta: 1, MaxPartitionsContributed: 1})),
		"count gaussian no δ":  second(dp.NewCount(&dp.CountOptions{Epsilon: 1, MaxPartitionsContributed: 1, Noise: noise.Gaussian()})),
		"sum nil":              second(dp.NewBoundedSumInt64(nil)),
		"sum bounds reversed":  second(dp.NewBoundedSumInt64(&dp.BoundedSumInt64Options{Epsilon: 1, MaxPartitionsContributed: 1, Lower: 5, Upper: 1})),
		"sum bounds zero":      second(dp.NewBoundedSumInt64(&dp.BoundedSumInt64Options{Epsilon: 1, MaxPartitionsContributed: 1})),
		"sum MinInt64":         second(dp.NewBoundedSumInt64(&dp.BoundedSumInt64Options{Epsilon: 1, MaxPartitionsContributed: 1, Lower: math.MinInt64, Upper: 0})),
		"mean nil":             second(dp.NewBoundedMean(nil)),
		"mean no Linf":         second(dp.NewBoundedMean(&dp.BoundedMeanOptions{Epsilon: 1, MaxPartitionsContributed: 1, Lower: 0, Upper: 1})),
		"mean equal bounds":    second(dp.NewBoundedMean(&dp.BoundedMeanOptions{Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 1, Lower: 1, Upper: 1})),
		"mean infinite bound":  second(dp.NewBoundedMean(&dp.BoundedMeanOptions{Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 1, Lower: 0, Upper: math.Inf(1)})),
		"selection nil":        second(dp.NewSelection(nil)),
		"selection no delta":   second(dp.NewSelection(&dp.SelectionOptions{Epsilon: 1, MaxPartitionsContributed: 1})),
		"selection no L0":      second(dp.NewSelection(&dp.SelectionOptions{Epsilon: 1, Delta: 1e-5})),
		"selection delta NaN":  second(dp.NewSelection(&dp.SelectionOptions{Epsilon: 1, Delta: nan, MaxPartitionsContributed: 1})),
		"selection eps zero":   second(dp.NewSelection(&dp.SelectionOptions{Delta: 1e-5, MaxPartitionsContributed: 1})),
		"selection delta >= 1": second(dp.NewSelection(&dp.SelectionOptions{Epsilon: 1, Delta: 1, MaxPartitionsContributed: 1})),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Gaussian noise with a delta is fine.
	if _, err := dp.NewCount(&dp.CountOptions{Epsilon: 1, Delta: 1e-6, MaxPartitionsContributed: 1, Noise: noise.Gaussian()}); err != nil {
		t.Errorf("gaussian count: %v", err)
	}
	if _, err := dp.NewSelection(&dp.SelectionOptions{Epsilon: 1, Delta: 1e-6, MaxPartitionsContributed: 3, Noise: noise.Gaussian()}); err != nil {
		t.Errorf("gaussian selection: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func meanVariance(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}

// TestCountLaplaceStatistics checks the noise of a Count's result, as the
// library's go/noise/laplace_noise_test.go checks its Laplace samples.
//
// The noisy count is raw + L, where L is Laplace noise of scale
// b = L0·L∞/ε rounded to an integer: mean raw and variance 2b² (+ 1/12 for
// the rounding, which is within the tolerance anyway). Over n samples the
// sample mean is approximately Gaussian with standard deviation
// sqrt(var/n), and the sample variance approximately Gaussian around var
// with standard deviation sqrt(5)·var/sqrt(n) (the Laplace kurtosis is 6).
// Each tolerance is the 99.9995% quantile, so each of the four checks
// falsely fails with probability 10⁻⁵ and the test with at most 4·10⁻⁵.
func TestCountLaplaceStatistics(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 5_000
	}
	for _, tc := range []struct {
		eps       float64
		l0, linf  int64
		raw, adds int64 // adds units each adding raw/adds rows
	}{
		{eps: 0.1, l0: 1, linf: 1, raw: 5, adds: 5},
		{eps: 0.5, l0: 2, linf: 3, raw: 9, adds: 3},
	} {
		samples := make([]float64, n)
		for i := range samples {
			c, err := dp.NewCount(&dp.CountOptions{Epsilon: tc.eps, MaxPartitionsContributed: tc.l0, MaxContributionsPerPartition: tc.linf})
			if err != nil {
				t.Fatal(err)
			}
			for range tc.adds {
				if err := c.Add(tc.raw / tc.adds); err != nil {
					t.Fatal(err)
				}
			}
			r, err := c.Result()
			if err != nil {
				t.Fatal(err)
			}
			samples[i] = float64(r)
		}
		b := float64(tc.l0*tc.linf) / tc.eps
		wantVar := 2*b*b + 1.0/12
		mean, variance := meanVariance(samples)
		meanTol := 4.41717 * math.Sqrt(wantVar/float64(n))
		varTol := 4.41717 * math.Sqrt(5) * wantVar / math.Sqrt(float64(n))
		if math.Abs(mean-float64(tc.raw)) > meanTol {
			t.Errorf("%+v: mean %.3f, want %d ± %.3f", tc, mean, tc.raw, meanTol)
		}
		if math.Abs(variance-wantVar) > varTol {
			t.Errorf("%+v: variance %.3f, want %.3f ± %.3f", tc, variance, wantVar, varTol)
		}
	}
}

// TestSelectionLaplace checks the two ends of partition selection with the
// real Laplace noise (ε = 1, δ = 10⁻⁵, L0 = 1): the threshold is
// 1 + ln(1/(2δ)) ≈ 11.8, so
//   - a partition of 1 unit is kept with probability ½·e^{-11} ≈ 8.4·10⁻⁶:
//     with 100 trials the test falsely fails with probability < 10⁻³;
//   - a partition of 100 units is dropped only if the noise is below about
//     -88, with probability ½·e^{-88}: never in practice.
func TestSelectionLaplace(t *testing.T) {
	for _, tc := range []struct {
		units int
		keep  bool
	}{{1, false}, {100, true}} {
		for range 100 {
			s, err := dp.NewSelection(&dp.SelectionOptions{Epsilon: 1, Delta: 1e-5, MaxPartitionsContributed: 1})
			if err != nil {
				t.Fatal(err)
			}
			for range tc.units {
				if err := s.AddUnit(); err != nil {
					t.Fatal(err)
				}
			}
			_, keep, err := s.Result()
			if err != nil {
				t.Fatal(err)
			}
			if keep != tc.keep {
				t.Fatalf("%d units: keep = %v, want %v", tc.units, keep, tc.keep)
			}
		}
	}
}
