package release_test

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/schema"
)

func TestMain(m *testing.M) { dptest.Main(m) }

func i64(v int64) *int64 { return &v }

var (
	loans = &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1000)},
		{Name: "rate", Type: schema.Int, Min: i64(-80), Max: i64(30)},
		{Name: "green", Type: schema.Bool},
		{Name: "day", Type: schema.Date, Min: i64(100), Max: i64(200)},
		{Name: "flat", Type: schema.Int, Min: i64(7), Max: i64(7)},
	}}
	schemas = map[string]*schema.Schema{"loans": loans}

	cUscc   = query.Column{Table: "loans", Name: "uscc", Type: schema.String}
	cAmount = query.Column{Table: "loans", Name: "amount", Type: schema.Int}
	cRate   = query.Column{Table: "loans", Name: "rate", Type: schema.Int}
	cGreen  = query.Column{Table: "loans", Name: "green", Type: schema.Bool}
	cDay    = query.Column{Table: "loans", Name: "day", Type: schema.Date}
	cFlat   = query.Column{Table: "loans", Name: "flat", Type: schema.Int}
)

func ptr(c query.Column) *query.Column { return &c }

func plan(outs ...query.Output) *query.Plan {
	return &query.Plan{Tables: []query.Table{{Name: "loans"}}, Outputs: outs}
}

func TestNewAggs(t *testing.T) {
	p := plan(
		query.Output{Name: "g", Column: ptr(cGreen)},
		query.Output{Name: "n", Func: query.Count},
		query.Output{Name: "nu", Func: query.Count, Column: ptr(cUscc)},
		query.Output{Name: "s", Func: query.Sum, Column: ptr(cAmount)},
		query.Output{Name: "sg", Func: query.Sum, Column: ptr(cGreen)},
		query.Output{Name: "a", Func: query.Avg, Column: ptr(cDay)},
		query.Output{Name: "r", Func: query.Avg, Column: ptr(cRate)},
	)
	p.GroupBy = []query.Column{cGreen}
	enc := map[string]map[string]bool{"loans": {"amount": true, "green": true, "uscc": true}}
	got, err := release.NewAggs(p, schemas, enc)
	if err != nil {
		t.Fatal(err)
	}
	want := []release.Agg{
		{Func: query.Count},
		{Func: query.Count, Column: ptr(cUscc), Encrypted: true},
		{Func: query.Sum, Column: ptr(cAmount), Encrypted: true, Min: 0, Max: 1000},
		{Func: query.Sum, Column: ptr(cGreen), Encrypted: true, Min: 0, Max: 1},
		{Func: query.Avg, Column: ptr(cDay), Min: 100, Max: 200},
		{Func: query.Avg, Column: ptr(cRate), Min: -80, Max: 30},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("NewAggs:\n got %+v\nwant %+v", got, want)
	}
	for i, h := range []bool{false, false, true, true, false, false} {
		if got[i].Hidden() != h {
			t.Errorf("aggregate %d: Hidden = %v, want %v", i, !h, h)
		}
	}

	for name, tc := range map[string]struct {
		out    query.Output
		substr string
	}{
		"unknown function": {query.Output{Name: "x", Func: "MODE", Column: ptr(cAmount)}, "unknown aggregate"},
		"median of a flat": {query.Output{Name: "x", Func: query.Median, Column: ptr(cFlat)}, "MEDIAN needs Min < Max"},
		"distinct of *":    {query.Output{Name: "x", Func: query.CountDistinct}, "needs a column"},
		"sum of a string":  {query.Output{Name: "x", Func: query.Sum, Column: ptr(cUscc)}, "cannot be summed"},
		"sum of nothing":   {query.Output{Name: "x", Func: query.Sum}, "needs a column"},
		"avg of a flat":    {query.Output{Name: "x", Func: query.Avg, Column: ptr(cFlat)}, "AVG needs Min < Max"},
		"missing column":   {query.Output{Name: "x", Func: query.Sum, Column: &query.Column{Table: "loans", Name: "nope"}}, "no column nope"},
		"missing dataset":  {query.Output{Name: "x", Func: query.Sum, Column: &query.Column{Table: "other", Name: "v"}}, "no schema"},
		"wrong type":       {query.Output{Name: "x", Func: query.Sum, Column: &query.Column{Table: "loans", Name: "amount", Type: schema.Date}}, "plan says loans.amount is date"},
	} {
		if _, err := release.NewAggs(plan(tc.out), schemas, nil); err == nil || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.substr)
		}
	}
	if _, err := release.NewAggs(nil, schemas, nil); err == nil {
		t.Error("nil plan: no error")
	}
}

func TestNewPrivacy(t *testing.T) {
	p := plan(query.Output{Name: "n", Func: query.Count})
	p.Tables = append(p.Tables, query.Table{Name: "b"}, query.Table{Name: "c"})
	got, err := release.NewPrivacy(p, 1.5, 0.3, 0, 5, []int64{3, 1, 12})
	want := release.Privacy{Epsilon: 1.5, Delta: 0, MinGroupSize: 1, MaxGroupsPerUnit: 1, LInf: 36}
	if err != nil || got != want {
		t.Errorf("without GROUP BY: %+v, %v; want %+v", got, err, want)
	}
	p.GroupBy = []query.Column{cGreen}
	got, err = release.NewPrivacy(p, 1.5, 1e-6, 4, 5, []int64{3, 1, 12})
	want = release.Privacy{Epsilon: 1.5, Delta: 1e-6, MinGroupSize: 4, MaxGroupsPerUnit: 5, LInf: 36}
	if err != nil || got != want {
		t.Errorf("with GROUP BY: %+v, %v; want %+v", got, err, want)
	}
	got, err = release.NewPrivacy(p, 1, 1e-6, 0, 0, []int64{1, 1, 1})
	want = release.Privacy{Epsilon: 1, Delta: 1e-6, MinGroupSize: 1, MaxGroupsPerUnit: 1, LInf: 1}
	if err != nil || got != want {
		t.Errorf("defaults: %+v, %v; want %+v", got, err, want)
	}
	for name, err := range map[string]error{
		"no delta":         second(release.NewPrivacy(p, 1, 0, 0, 0, []int64{1, 1, 1})),
		"no epsilon":       second(release.NewPrivacy(p, 0, 1e-6, 0, 0, []int64{1, 1, 1})),
		"NaN epsilon":      second(release.NewPrivacy(p, math.NaN(), 1e-6, 0, 0, []int64{1, 1, 1})),
		"negative L0":      second(release.NewPrivacy(p, 1, 1e-6, 0, -1, []int64{1, 1, 1})),
		"zero rows":        second(release.NewPrivacy(p, 1, 1e-6, 0, 0, []int64{1, 0, 1})),
		"missing rows":     second(release.NewPrivacy(p, 1, 1e-6, 0, 0, []int64{1, 1})),
		"L∞ overflow":      second(release.NewPrivacy(p, 1, 1e-6, 0, 0, []int64{1 << 40, 1 << 30, 1})),
		"L0·L∞ overflow":   second(release.NewPrivacy(p, 1, 1e-6, 0, 1<<40, []int64{1 << 30, 1, 1})),
		"nil plan":         second(release.NewPrivacy(nil, 1, 1e-6, 0, 0, nil)),
		"Validate: no L∞":  release.Privacy{Epsilon: 1, MinGroupSize: 1, MaxGroupsPerUnit: 1}.Validate(),
		"Validate: δ >= 1": release.Privacy{Epsilon: 1, Delta: 1, MinGroupSize: 1, MaxGroupsPerUnit: 1, LInf: 1}.Validate(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestHull(t *testing.T) {
	for _, tc := range []struct{ min, max, linf, lo, hi int64 }{
		{0, 100, 3, 0, 300},
		{-80, 30, 3, -240, 90},
		{5, 10, 2, 5, 20},
		{-10, -5, 2, -20, -5},
		{0, 1, 48, 0, 48},
		{-7, 7, 1, -7, 7},
		{math.MinInt64 + 1, math.MaxInt64, 1, math.MinInt64 + 1, math.MaxInt64},
	} {
		lo, hi, err := release.Hull(tc.min, tc.max, tc.linf)
		if err != nil || lo != tc.lo || hi != tc.hi {
			t.Errorf("Hull(%d, %d, %d) = %d, %d, %v; want %d, %d", tc.min, tc.max, tc.linf, lo, hi, err, tc.lo, tc.hi)
		}
	}
	for _, tc := range []struct{ min, max, linf int64 }{
		{0, math.MaxInt64/2 + 1, 2},
		{math.MinInt64/2 - 1, 0, 2},
		{math.MinInt64 / 2, 0, 2}, // exactly MinInt64: refused by the library
		{math.MinInt64, 0, 1},
		{0, 1, 0},
		{2, 1, 1},
	} {
		if _, _, err := release.Hull(tc.min, tc.max, tc.linf); err == nil {
			t.Errorf("Hull(%d, %d, %d): no error", tc.min, tc.max, tc.linf)
		}
	}
}

// testAggs: COUNT(*), SUM encrypted, SUM clear, AVG encrypted, AVG clear.
var testAggs = []release.Agg{
	{Func: query.Count},
	{Func: query.Sum, Column: ptr(cAmount), Encrypted: true, Min: 0, Max: 1000},
	{Func: query.Sum, Column: ptr(cRate), Min: -80, Max: 30},
	{Func: query.Avg, Column: ptr(cRate), Encrypted: true, Min: -80, Max: 30},
	{Func: query.Avg, Column: ptr(cDay), Min: 100, Max: 200},
}

func TestLayout(t *testing.T) {
	l := release.NewLayout(testAggs, 2)
	V := func(g, a int, k release.Kind, c, pos int) release.Value {
		return release.Value{Group: g, Agg: a, Kind: k, Cipher: c, Pos: pos}
	}
	want := []release.Value{
		V(0, 0, release.Count, -1, 0),
		V(0, 1, release.Sum, 0, 0),
		V(0, 2, release.Sum, -1, 1),
		V(0, 3, release.AvgSum2, 1, 0),
		V(0, 3, release.AvgCount, -1, 2),
		V(0, 4, release.AvgSum2, -1, 3),
		V(0, 4, release.AvgCount, -1, 4),
		V(1, 0, release.Count, -1, 5),
		V(1, 1, release.Sum, 2, 0),
		V(1, 2, release.Sum, -1, 6),
		V(1, 3, release.AvgSum2, 3, 0),
		V(1, 3, release.AvgCount, -1, 7),
		V(1, 4, release.AvgSum2, -1, 8),
		V(1, 4, release.AvgCount, -1, 9),
	}
	if !reflect.DeepEqual(l.Values, want) {
		t.Errorf("Values:\n got %+v\nwant %+v", l.Values, want)
	}
	if l.Ciphers() != 4 || l.ClearLen() != 10 || l.PerGroup() != 7 || l.Groups != 2 {
		t.Errorf("Ciphers %d, ClearLen %d, PerGroup %d, Groups %d; want 4, 10, 7, 2", l.Ciphers(), l.ClearLen(), l.PerGroup(), l.Groups)
	}
	if e := release.NewLayout(testAggs, 0); len(e.Values) != 0 || e.Ciphers() != 0 || e.ClearLen() != 0 || e.PerGroup() != 7 {
		t.Errorf("no groups: %+v", e)
	}
	if got := fmt.Sprint(release.Count, release.Sum, release.AvgSum2, release.AvgCount, release.Kind(9)); got != "count sum avgsum2 avgcount kind(9)" {
		t.Errorf("kind names: %s", got)
	}
}

// recNoise adds no noise and records the calibration of every AddNoise
// call.
type recNoise struct{ calls map[string]bool }

func (r recNoise) AddNoiseInt64(x, l0, linf int64, eps, delta float64) (int64, error) {
	r.calls[fmt.Sprintf("int l0=%d linf=%d eps=%v", l0, linf, eps)] = true
	return x, nil
}

func (r recNoise) AddNoiseFloat64(x float64, l0 int64, linf, eps, delta float64) (float64, error) {
	r.calls[fmt.Sprintf("float l0=%d linf=%v eps=%v", l0, linf, eps)] = true
	return x, nil
}

func (recNoise) Threshold(int64, float64, float64, float64, float64) (float64, error) { return 0, nil }
func (recNoise) ComputeConfidenceIntervalInt64(int64, int64, int64, float64, float64, float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}
func (recNoise) ComputeConfidenceIntervalFloat64(float64, int64, float64, float64, float64, float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}

// TestNoiseCalibration checks the calibration of each kind: with 5
// aggregates and ε = 3, each gets 0.5; an AVG's parts 0.25 each.
func TestNoiseCalibration(t *testing.T) {
	l := release.NewLayout(testAggs, 1)
	p := release.Privacy{Epsilon: 3, MinGroupSize: 1, MaxGroupsPerUnit: 2, LInf: 4}
	want := []string{
		"int l0=2 linf=4 eps=0.5",      // COUNT: L∞
		"int l0=2 linf=4000 eps=0.5",   // SUM: H = [0, 4000]
		"int l0=2 linf=320 eps=0.5",    // SUM: H = [-320, 120]
		"float l0=2 linf=220 eps=0.25", // AVG sum part: (30 − (−25))·4
		"int l0=2 linf=4 eps=0.25",     // AVG count part
		"float l0=2 linf=200 eps=0.25", // (200 − 150)·4
		"int l0=2 linf=4 eps=0.25",
	}
	for i, v := range l.Values {
		rec := recNoise{map[string]bool{}}
		x, err := l.Noise(p, v, rec)
		if err != nil || x != 0 {
			t.Fatalf("Noise(%+v) = %d, %v", v, x, err)
		}
		if !rec.calls[want[i]] {
			t.Errorf("value %+v: calibrations %v, want %q among them", v, rec.calls, want[i])
		}
	}
	if err := release.Check(testAggs, p, nil); err != nil {
		t.Errorf("Check with Laplace: %v", err)
	}

	// With no noise every sample is 0.
	for _, v := range l.Values {
		if x, err := l.Noise(p, v, dptest.InsecureNoNoise{}); err != nil || x != 0 {
			t.Errorf("no noise: Noise(%+v) = %d, %v", v, x, err)
		}
	}
	// Values that do not fit the layout.
	for name, v := range map[string]release.Value{
		"kind of another aggregate": {Agg: 0, Kind: release.Sum},
		"AVG part of a SUM":         {Agg: 1, Kind: release.AvgSum2},
		"no such aggregate":         {Agg: 9, Kind: release.Count},
		"unknown kind":              {Agg: 0, Kind: 0},
	} {
		if _, err := l.Noise(p, v, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := l.Noise(release.Privacy{}, l.Values[0], nil); err == nil {
		t.Error("invalid Privacy: no error")
	}
}

// TestNoiseMatchesLibrary checks that the samples have the variance of
// the library's noise for each calibration (Laplace: 2b²), within 30% over
// 1500 draws: the sample variance has a relative standard deviation of
// sqrt(5/1500) ≈ 5.8%, so each check fails falsely with probability below
// 10⁻⁶. (TestNoiseCalibration checks the calibrations exactly.)
func TestNoiseMatchesLibrary(t *testing.T) {
	const n = 1500
	l := release.NewLayout(testAggs, 1)
	p := release.Privacy{Epsilon: 3, MinGroupSize: 1, MaxGroupsPerUnit: 2, LInf: 4}
	// b = L0·L∞/ε per value (AvgSum2 doubled).
	bs := []float64{2 * 4 / 0.5, 2 * 4000 / 0.5, 2 * 320 / 0.5, 2 * 2 * 220 / 0.25, 2 * 4 / 0.25, 2 * 2 * 200 / 0.25, 2 * 4 / 0.25}
	for i, v := range l.Values {
		var sum, sq float64
		for range n {
			x, err := l.Noise(p, v, nil)
			if err != nil {
				t.Fatal(err)
			}
			sum += float64(x)
			sq += float64(x) * float64(x)
		}
		mean := sum / n
		variance := (sq - n*mean*mean) / (n - 1)
		want := 2 * bs[i] * bs[i]
		if math.Abs(variance/want-1) > 0.3 || math.Abs(mean) > 6*math.Sqrt(want/n) {
			t.Errorf("value %+v: mean %.2f variance %.4g, want 0 and %.4g", v, mean, variance, want)
		}
	}
}

func TestNoiseGranularityRefused(t *testing.T) {
	// SUM: Laplace scale L0·max|H|/ε; 2⁴⁰ ≈ 1.0995e12.
	sum := []release.Agg{{Func: query.Sum, Column: ptr(cAmount), Encrypted: true, Min: 0, Max: 1_000_000_000}}
	ok := release.Privacy{Epsilon: 2 * 1e9 / 1e12, MinGroupSize: 1, MaxGroupsPerUnit: 1, LInf: 1} // scale 1e12
	bad := ok
	bad.Epsilon /= 2 // scale 2e12
	if err := release.Check(sum, ok, nil); err != nil {
		t.Errorf("scale 1e12: %v", err)
	}
	if err := release.Check(sum, bad, nil); err == nil || !strings.Contains(err.Error(), "modulo 2") {
		t.Errorf("scale 2e12: got %v, want a refusal", err)
	}
	l := release.NewLayout(sum, 1)
	if _, err := l.Noise(bad, l.Values[0], nil); err == nil {
		t.Error("Noise at scale 2e12: no error")
	}
	// A test fake has no lattice.
	if err := release.Check(sum, bad, dptest.InsecureNoNoise{}); err != nil {
		t.Errorf("fake noise: %v", err)
	}
	// AVG: the normalised sum's noise is doubled, so its granularity must
	// be at most ½: scale (Max−Min)/2·L∞/(ε/2) at most 2³⁹.
	avg := []release.Agg{{Func: query.Avg, Column: ptr(cAmount), Encrypted: true, Min: 0, Max: 1 << 20}}
	p := release.Privacy{Epsilon: 2 * float64(1<<19) / math.Exp2(39) * 2, MinGroupSize: 1, MaxGroupsPerUnit: 1, LInf: 1} // sum part: scale 2³⁹
	if err := release.Check(avg, p, nil); err != nil {
		t.Errorf("AVG at scale 2³⁹: %v", err)
	}
	p.Epsilon /= 1.5
	if err := release.Check(avg, p, nil); err == nil {
		t.Error("AVG above scale 2³⁹: no error")
	}
}

func TestFinish(t *testing.T) {
	g, r := cGreen, cRate
	p := plan(
		query.Output{Name: "s", Func: query.Sum, Column: ptr(cAmount)},
		query.Output{Name: "green", Column: &g},
		query.Output{Name: "n", Func: query.Count},
		query.Output{Name: "sr", Func: query.Sum, Column: &r},
		query.Output{Name: "ar", Func: query.Avg, Column: &r},
		query.Output{Name: "rate", Column: &r},
		query.Output{Name: "neg", Func: query.Sum, Column: ptr(cRate)},
	)
	p.GroupBy = []query.Column{r, g}
	aggs := []release.Agg{
		{Func: query.Sum, Column: ptr(cAmount), Encrypted: true, Min: 0, Max: 1000},
		{Func: query.Count},
		{Func: query.Sum, Column: &r, Min: -80, Max: 30},
		{Func: query.Avg, Column: &r, Encrypted: true, Min: -80, Max: 30},
		{Func: query.Sum, Column: &r, Min: -80, Max: -1}, // as if Max ≤ 0
	}
	l := release.NewLayout(aggs, 2)
	raw := []int64{
		-5, -3, -40, -1000, 7, 12, // group 0: SUM ≥ 0 → 0; COUNT → 0; mixed sign kept; AVG from parts; SUM ≤ 0 → 0
		1234, 9, 40, 2 * 6 * 9, 9, -3, // group 1: AVG with normalised sum 54 over 9: 6 + (−25) = −19
	}
	got, err := l.Finish(p, [][]string{{"-3", "true"}, {"17", "false"}}, raw)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"0", "true", "0", "-40", fmt.Sprintf("%.2f", dp.MeanFromParts(7, -500, -80, 30)), "-3", "0"},
		{"1234", "false", "9", "40", "-19.00", "17", "-3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Finish:\n got %v\nwant %v", got, want)
	}
	if want[0][4] != "-80.00" {
		t.Errorf("AVG clamped to Min: %s", want[0][4])
	}

	for name, err := range map[string]error{
		"raw length":    second(l.Finish(p, [][]string{{"a", "b"}, {"c", "d"}}, raw[:5])),
		"groups":        second(l.Finish(p, [][]string{{"a", "b"}}, raw)),
		"group values":  second(l.Finish(p, [][]string{{"a"}, {"c", "d"}}, raw)),
		"row-level":     second(l.Finish(plan(append(p.Outputs, query.Output{Name: "x", Column: ptr(cUscc)})...), [][]string{{}, {}}, raw)),
		"aggs mismatch": second(l.Finish(plan(p.Outputs[:3]...), [][]string{{}, {}}, raw)),
		"nil plan":      second(l.Finish(nil, nil, nil)),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestMaxAbs(t *testing.T) {
	// Brute force over every bag of at most rows values in [min, max].
	for _, b := range [][2]int64{{0, 3}, {-2, 3}, {-4, -1}, {0, 1}, {-3, 0}} {
		for rows := int64(0); rows <= 3; rows++ {
			var maxSum, maxAvg, maxCount int64
			var walk func(left, s, c int64)
			walk = func(left, s, c int64) {
				maxSum = max(maxSum, abs(s))
				v, err := release.AvgSum2Of(s, c, b[0], b[1])
				if err != nil {
					t.Fatal(err)
				}
				maxAvg = max(maxAvg, abs(v))
				maxCount = max(maxCount, c)
				if left == 0 {
					return
				}
				for x := b[0]; x <= b[1]; x++ {
					walk(left-1, s+x, c+1)
				}
			}
			walk(rows, 0, 0)
			for k, want := range map[release.Kind]int64{release.Sum: maxSum, release.AvgSum2: maxAvg, release.Count: maxCount, release.AvgCount: maxCount} {
				if got := release.MaxAbs(k, rows, b[0], b[1]); got.Cmp(big.NewInt(want)) != 0 {
					t.Errorf("MaxAbs(%s, %d, %d, %d) = %s, want %d", k, rows, b[0], b[1], got, want)
				}
			}
		}
	}
	// Beyond int64.
	got := release.MaxAbs(release.AvgSum2, math.MaxInt64, math.MinInt64, math.MaxInt64)
	want := new(big.Int).Mul(big.NewInt(math.MaxInt64), new(big.Int).Sub(big.NewInt(math.MaxInt64), big.NewInt(math.MinInt64)))
	if got.Cmp(want) != 0 {
		t.Errorf("huge AvgSum2: %s, want %s", got, want)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestCheckOverflow(t *testing.T) {
	l := release.NewLayout(testAggs, 2)
	// Largest values with 10 and 20 rows: SUM(amount) 20·1000, SUM(rate)
	// 20·80, AVG(rate) 20·110, AVG(day) 20·100.
	if err := l.CheckOverflow([]int64{10, 20}, 20_001); err != nil {
		t.Errorf("limit 20001: %v", err)
	}
	err := l.CheckOverflow([]int64{10, 20}, 20_000)
	if err == nil || !strings.Contains(err.Error(), "SUM(loans.amount) (sum) of group 1") {
		t.Errorf("limit 20000: got %v", err)
	}
	if err := l.CheckOverflow([]int64{10}, 1<<40); err == nil {
		t.Error("rows of 1 group for 2: no error")
	}
	if err := l.CheckOverflow([]int64{0, 0}, 0); err == nil {
		t.Error("limit 0: no error")
	}
}

func TestAffine(t *testing.T) {
	avg := release.Agg{Func: query.Avg, Column: ptr(cRate), Min: -80, Max: 30}
	for _, tc := range []struct{ s, c int64 }{{0, 0}, {-100, 3}, {55, 2}, {-80 * 7, 7}} {
		scale, offset, err := avg.Affine(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		v, err := release.AvgSum2Of(tc.s, tc.c, avg.Min, avg.Max)
		if err != nil || v != scale*tc.s+offset {
			t.Errorf("S=%d C=%d: AvgSum2Of %d, %v; Affine gives %d", tc.s, tc.c, v, err, scale*tc.s+offset)
		}
	}
	if s, o, err := (release.Agg{Func: query.Sum}).Affine(12); s != 1 || o != 0 || err != nil {
		t.Errorf("SUM: %d, %d, %v", s, o, err)
	}
	if _, _, err := (release.Agg{Func: query.Count}).Affine(12); err == nil {
		t.Error("COUNT: no error")
	}
	huge := release.Agg{Func: query.Avg, Column: ptr(cRate), Min: math.MaxInt64 - 1, Max: math.MaxInt64}
	if _, _, err := huge.Affine(2); err == nil {
		t.Error("overflowing offset: no error")
	}
	if _, err := release.AvgSum2Of(math.MaxInt64, 1, 0, 1); err == nil {
		t.Error("overflowing AvgSum2Of: no error")
	}
}

// TestLayoutOrder checks that cipher indices and clear positions increase
// along Values, as a reader walking the layout expects.
func TestLayoutOrder(t *testing.T) {
	l := release.NewLayout(testAggs, 5)
	var ciphers, clear []int
	for _, v := range l.Values {
		if v.Cipher >= 0 {
			ciphers = append(ciphers, v.Cipher)
		} else {
			clear = append(clear, v.Pos)
		}
	}
	if !slices.IsSorted(ciphers) || !slices.IsSorted(clear) || len(ciphers) != l.Ciphers() || len(clear) != l.ClearLen() {
		t.Errorf("ciphers %v, clear %v", ciphers, clear)
	}
}

// TestIntervalOfDraws checks the intervals of values that carry several
// noise samples (a letter's noise: providers): one draw is Interval; for
// three, the interval covers the exact SUM at least 95% of the time over
// 4,000 releases with three Laplace samples each (the union bound; 4
// standard deviations of slack), where the one-sample interval misses
// far more often (a control that shows the trial can fail); an AVG has
// none.
func TestIntervalOfDraws(t *testing.T) {
	sum := []release.Agg{testAggs[1]}
	l := release.NewLayout(sum, 1)
	p := release.Privacy{Epsilon: 3, MinGroupSize: 1, MaxGroupsPerUnit: 2, LInf: 4}
	const exact, trials, draws, alpha = 500_000, 4000, 3, 0.05
	one, err := release.Interval(sum[0], p, 1, nil, []int64{exact}, alpha)
	if err != nil {
		t.Fatal(err)
	}
	same, ok, err := release.IntervalOfDraws(sum[0], p, 1, nil, []int64{exact}, alpha, 1)
	if err != nil || !ok || same != one {
		t.Fatalf("one draw: %+v %v %v, want Interval's %+v", same, ok, err, one)
	}
	missed, missedOne := 0, 0
	for range trials {
		noisy := int64(exact)
		for range draws {
			x, err := l.Noise(p, l.Values[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			noisy += x
		}
		ci, ok, err := release.IntervalOfDraws(sum[0], p, 1, nil, []int64{noisy}, alpha, draws)
		if err != nil || !ok {
			t.Fatalf("three draws: %v %v", ok, err)
		}
		if exact < ci.Lo || exact > ci.Hi {
			missed++
		}
		ci1, _ := release.Interval(sum[0], p, 1, nil, []int64{noisy}, alpha)
		if exact < ci1.Lo || exact > ci1.Hi {
			missedOne++
		}
	}
	limit := alpha + 4*math.Sqrt(alpha*(1-alpha)/trials)
	if f := float64(missed) / trials; f > limit {
		t.Errorf("three-draw intervals missed the exact sum %.2f%% of the time, want at most %.2f%%", 100*f, 100*limit)
	}
	if f := float64(missedOne) / trials; f <= 0.1 {
		t.Errorf("control: one-draw intervals over three draws missed only %.2f%% of the time; the trial cannot tell", 100*f)
	}
	avg := testAggs[3]
	if _, ok, err := release.IntervalOfDraws(avg, p, 1, nil, []int64{1000, 10}, alpha, draws); ok || err != nil {
		t.Errorf("AVG over three draws: ok %v err %v, want none", ok, err)
	}
	if _, _, err := release.IntervalOfDraws(sum[0], p, 1, nil, []int64{exact}, alpha, 0); err == nil {
		t.Error("zero draws accepted")
	}
}

// TestIntervalOfDrawsRoundsOutward checks intervals of several draws
// around sums that float64 cannot hold exactly (2^57 + i, i < 64, where
// float64s are 32 apart): their bounds lie outside the exact integer
// bounds, never inside.
func TestIntervalOfDrawsRoundsOutward(t *testing.T) {
	sum := release.Agg{Func: query.Sum, Column: ptr(cAmount), Encrypted: true, Min: 0, Max: 1000}
	p := release.Privacy{Epsilon: 3, MinGroupSize: 1, MaxGroupsPerUnit: 2, LInf: 4}
	const draws = 3
	// The one-draw interval around 0, clamped at 0 for a SUM of
	// non-negative values: its upper bound is the half-width.
	one, err := release.Interval(sum, p, 1, nil, []int64{0}, 0.05/draws)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(64) {
		v := int64(1<<57) + i
		ci, ok, err := release.IntervalOfDraws(sum, p, 1, nil, []int64{v}, 0.05, draws)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		wantHi := big.NewInt(v + draws*int64(math.Ceil(one.Hi)))
		hi, _ := new(big.Float).SetFloat64(ci.Hi).Int(nil)
		if hi.Cmp(wantHi) < 0 {
			t.Errorf("value %d: upper bound %s below the exact %s", v, hi, wantHi)
		}
		wantLo := big.NewInt(v - draws*int64(math.Ceil(one.Hi)))
		lo, _ := new(big.Float).SetFloat64(ci.Lo).Int(nil)
		if lo.Cmp(wantLo) > 0 {
			t.Errorf("value %d: lower bound %s above the exact %s", v, lo, wantLo)
		}
	}
}
