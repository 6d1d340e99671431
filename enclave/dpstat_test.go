package enclave

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"

	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/schema"
)

// zFalseFailure is the two-sided normal quantile for a false-failure rate
// of 1e-5 per check: P(|Z| > 4.42) < 1e-5. The checks below compare
// sample statistics of at least 100,000 independent draws with their
// expected values; at that size the central limit theorem makes the
// normal approximation accurate well beyond this quantile's precision.
const zFalseFailure = 4.42

// TestNoiseMoments draws, through the engine's own finishing code (exact
// value, lattice rounding, the DP library's sample), 100,000 noisy values
// of each aggregate released from exact values, and checks that the
// noise has mean 0 and the variance of its mechanism: 2b² for Laplace
// with b = L0·L∞/ε, σ² for Gaussian. With the mean's standard error
// √(Var/N) and the sample variance's √((μ₄ − σ⁴)/N) (μ₄ = 24b⁴ for
// Laplace, 3σ⁴ for Gaussian), each check fails by chance with
// probability below 1e-5.
//
// The engine draws Laplace noise (the library's default; its aggregates
// spend no δ, which Gaussian noise needs). Under the race detector, or
// with -short, it takes 5,000 samples instead (the tolerances follow).
func TestNoiseMoments(t *testing.T) {
	n := 100_000
	if testing.Short() || raceEnabled {
		n = 5_000
	}
	tables := statTable()
	for _, tc := range []struct {
		sql   string
		mech  noise.Noise
		delta float64
	}{
		{"SELECT COUNT(*), SUM(w), COUNT(DISTINCT u), SUM(v * 3 / 2) FROM t", noise.Laplace(), 0},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.mech, tc.sql), func(t *testing.T) {
			p := sqlPlan(t, tc.sql, tables)
			e, err := resolve(p, tables, Params{Epsilon: 2, Delta: 1e-5, Noise: tc.mech}, nil)
			if err != nil {
				t.Fatal(err)
			}
			priv := e.privacy()
			for ai := range e.aggs {
				a := &e.aggs[ai]
				exact := acc{count: 1000, sum: 123456}
				want := float64(exact.count)
				if a.fn() == query.Sum {
					want = float64(exact.sum)
				}
				c, err := release.Calibrate(a.rel, release.Kinds(a.rel)[0], priv, len(e.aggs))
				if err != nil {
					t.Fatal(err)
				}
				var variance, mu4 float64
				switch tc.mech {
				case noise.Laplace():
					b := float64(c.L0) * c.LInf / c.Epsilon
					variance, mu4 = 2*b*b, 24*b*b*b*b
				default:
					s := noise.SigmaForGaussian(c.L0, c.LInf, c.Epsilon, tc.delta)
					variance, mu4 = s*s, 3*s*s*s*s
				}
				var sum, sum2 float64
				for range n {
					text, _, err := e.finish(a, &exact, priv)
					if err != nil {
						t.Fatal(err)
					}
					x, err := strconv.ParseFloat(text, 64)
					if err != nil {
						t.Fatal(err)
					}
					// The released value is clamped at 0 (counts, sums of
					// non-negative values); the exact values are far
					// enough from 0 that clamping never happens here.
					d := x*math.Pow(10, float64(a.rel.Scale)) - want
					sum += d
					sum2 += d * d
				}
				mean := sum / float64(n)
				v := sum2/float64(n) - mean*mean
				if se := math.Sqrt(variance / float64(n)); math.Abs(mean) > zFalseFailure*se {
					t.Errorf("%s: noise mean %.3f, want 0 ± %.3f", a.out.Name, mean, zFalseFailure*se)
				}
				if se := math.Sqrt((mu4 - variance*variance) / float64(n)); math.Abs(v-variance) > zFalseFailure*se {
					t.Errorf("%s: noise variance %.4g, want %.4g ± %.4g", a.out.Name, v, variance, zFalseFailure*se)
				}
			}
		})
	}
}

// hoeffding returns the one-sided Hoeffding margin for a proportion of n
// draws at failure probability beta: P(p̂ − p > m) ≤ beta.
func hoeffding(n int, beta float64) float64 { return math.Sqrt(math.Log(1/beta) / (2 * float64(n))) }

// empiricalEpsilon runs sql over two neighbouring tables many times and
// returns a lower bound on ε that holds with probability 1 − 2β: for an
// event S (the released value above a threshold), ln((p̂' − m)/(p̂ + m)),
// where p̂ and p̂' are the frequencies of S over the two tables and m the
// Hoeffding margin. A mechanism that is ε-DP has P'(S) ≤ e^ε·P(S), so a
// correct engine gives a bound no larger than ε, except with
// probability 2β.
func empiricalEpsilon(t *testing.T, sql string, d, d2 map[string]*Table, params Params, threshold float64, runs int, beta float64) float64 {
	t.Helper()
	p := sqlPlan(t, sql, d)
	freq := func(tables map[string]*Table) float64 {
		hits := 0
		for range runs {
			res, err := Execute(context.Background(), p, tables, params)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rows) == 0 {
				continue
			}
			x, err := strconv.ParseFloat(res.Rows[0][0], 64)
			if err != nil {
				t.Fatal(err)
			}
			if x > threshold {
				hits++
			}
		}
		return float64(hits) / float64(runs)
	}
	p1, p2 := freq(d), freq(d2)
	m := hoeffding(runs, beta)
	lo, hi := p2-m, p1+m
	t.Logf("P(S) = %.4f on D, %.4f on D' (margin %.4f)", p1, p2, m)
	if lo <= 0 {
		return 0
	}
	return math.Log(lo / math.Min(hi, 1))
}

// neighbours returns a table of 200 units and the same table with one
// more unit that has many rows at the largest value: the worst case for
// a sum, which contribution bounding must cut to L∞ rows.
func neighbours() (map[string]*Table, map[string]*Table) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "u", Type: schema.String},
		{Name: "v", Type: schema.Int, Min: i64(0), Max: i64(100)},
	}}
	var rows []string
	for i := range 200 {
		rows = append(rows, fmt.Sprintf("u%d,%d", i, i%50))
	}
	d := map[string]*Table{"t": mkTable("t", s, 0, 2, rows...)}
	for range 40 {
		rows = append(rows, "extreme,100")
	}
	return d, map[string]*Table{"t": mkTable("t", s, 0, 2, rows...)}
}

// TestEmpiricalEpsilon runs a SUM over neighbouring datasets (one unit
// added, with many rows at the declared maximum) and checks that the
// empirical lower bound on ε is no larger than the ε the SUM spends; then
// plants two bugs (no noise; no contribution bounding) and checks that
// the same test catches each. β = 1e-6 per frequency, so a correct
// engine fails with probability below 2e-6 and each control run is
// caught but for the same.
func TestEmpiricalEpsilon(t *testing.T) {
	runs := 20_000
	if testing.Short() || raceEnabled {
		runs = 4_000
	}
	const beta = 1e-6
	d, d2 := neighbours()
	// ε = 2 over one aggregate and the group selection: the SUM spends 1.
	// Its sensitivity is L∞·Max = 200, b = 200; the exact sum over D is
	// Σ (i mod 50) = 4900, over D' 5100. The event is "above 5300", one
	// scale beyond D''s sum, where the Laplace tails are in ratio e^ε.
	params := Params{Epsilon: 2, Delta: 1e-5}
	const sql, claimed, threshold = "SELECT SUM(v) FROM t", 1.0, 5300
	if got := empiricalEpsilon(t, sql, d, d2, params, threshold, runs, beta); got > claimed {
		t.Errorf("empirical ε ≥ %.3f, above the claimed %.3f", got, claimed)
	} else {
		t.Logf("empirical ε ≥ %.3f, claimed %.3f", got, claimed)
	}

	t.Run("control: noise removed", func(t *testing.T) {
		noNoise := params
		noNoise.Noise = dptest.InsecureNoNoise{}
		if got := empiricalEpsilon(t, sql, d, d2, noNoise, 5000, runs/4, beta); got <= claimed {
			t.Errorf("a release without noise went unnoticed: empirical ε ≥ %.3f", got)
		}
	})
	t.Run("control: bounding skipped", func(t *testing.T) {
		plantedNoBounding = true
		defer func() { plantedNoBounding = false }()
		if got := empiricalEpsilon(t, sql, d, d2, params, threshold, runs, beta); got <= claimed {
			t.Errorf("a release without contribution bounding went unnoticed: empirical ε ≥ %.3f", got)
		}
	})
}
