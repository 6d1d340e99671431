package dp

import (
	"math"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
)

// meanIntervalBrute is the library's search in full: every i in 1…999.
func meanIntervalBrute(n noise.Noise, count int64, normalizedSum float64, l0, lInf int64, lower, upper, meanEpsilon, alpha float64) Interval {
	eps := meanEpsilon / 2
	half := upper - (lower + (upper-lower)/2)
	mid := lower + (upper-lower)/2
	best, size := Interval{}, math.Inf(1)
	for i := 1; i < 1000; i++ {
		alphaNum := float64(i) / 1000 * alpha
		alphaDen := (alpha - alphaNum) / (1 - alphaNum)
		num, _ := IntervalFloat64(n, normalizedSum, l0, half*float64(lInf), eps, 0, alphaNum)
		den, _ := IntervalInt64(n, count, l0, lInf, eps, 0, alphaDen)
		den.Lo, den.Hi = math.Max(math.Max(den.Lo, 0), 1), math.Max(math.Max(den.Hi, 0), 1)
		var lo, hi float64
		if num.Lo >= 0 {
			lo = num.Lo / den.Hi
		} else {
			lo = num.Lo / den.Lo
		}
		if num.Hi >= 0 {
			hi = num.Hi / den.Lo
		} else {
			hi = num.Hi / den.Hi
		}
		lo, hi = clampFloat(lo+mid, lower, upper), clampFloat(hi+mid, lower, upper)
		if hi-lo < size {
			size, best = hi-lo, Interval{lo, hi}
		}
	}
	return best
}

// TestMeanIntervalSearch: MeanInterval, from its parts' intervals asked
// once and shifted, gives exactly the library's search, which asks for
// both intervals at every split of alpha, on counts from tiny to large
// and sums of either sign.
func TestMeanIntervalSearch(t *testing.T) {
	for _, count := range []int64{-3, 0, 1, 7, 150, 40_000, 3_000_000} {
		for _, frac := range []float64{-0.9, -0.2, 0, 0.3, 0.99} {
			for _, eps := range []float64{0.05, 0.5, 3} {
				lower, upper := -20.0, 1000.0
				sum := frac * float64(max(count, 1)) * (upper - lower) / 2
				got, err := MeanInterval(noise.Laplace(), count, sum, 2, 3, lower, upper, eps, 0, 0.05)
				if err != nil {
					t.Fatal(err)
				}
				want := meanIntervalBrute(noise.Laplace(), count, sum, 2, 3, lower, upper, eps, 0.05)
				if got != want {
					t.Errorf("count %d, sum %v, ε %v: [%v, %v], the library's search gives [%v, %v]", count, sum, eps, got.Lo, got.Hi, want.Lo, want.Hi)
				}
			}
		}
	}
}
