package enclave

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"text/tabwriter"

	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// BenchmarkAccuracy prints, for COUNT, SUM, AVG and MEDIAN over 1,000,000
// rows (one row per privacy unit, values in [0, 100000], skewed), at ε =
// 0.1, 0.5 and 1 per aggregate (the CLI's --epsilon: the query spends as
// much again on the choice of groups), the median absolute error of the
// released value over repeated runs next to the theoretical median
// absolute error of the mechanism: b·ln 2 for Laplace noise of scale b
// (COUNT: b = L0·L∞/ε; SUM: b = max|hull|·L0/ε; AVG: the normalised sum's
// b over the count, its count's noise aside). The DP library gives no
// closed form for a quantile's error; its column shows the width of a
// leaf of the library's tree, (Max − Min)/16⁴, for scale (the library
// interpolates within a leaf).
// CLEANROOM_ACCURACY_RUNS sets the runs per cell (default 21).
func BenchmarkAccuracy(b *testing.B) {
	const n = 1_000_000
	runs := 21
	if r, err := strconv.Atoi(os.Getenv("CLEANROOM_ACCURACY_RUNS")); err == nil && r > 0 {
		runs = r
	}
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "u", Type: schema.Int, Min: i64(0), Max: i64(n)},
		{Name: "v", Type: schema.Int, Min: i64(0), Max: i64(100_000)},
	}}
	rows := schema.NewBatch(s, n)
	rng := splitmix64(9)
	var vals []float64
	for i := range n {
		// Skewed: most values small, a long tail up to the bound.
		x := math.Exp(rng.float()*7 + 2.5)
		v := int64(min(x, 100_000))
		rows.Cols[0].Ints = append(rows.Cols[0].Ints, int64(i))
		rows.Cols[1].Ints = append(rows.Cols[1].Ints, v)
		vals = append(vals, float64(v))
	}
	rows.Len = n
	tables := map[string]*Table{"t": Cached(Table{Name: "t", Schema: s, Rows: rows, Unit: 0, MaxRowsPerUnit: 1})}
	var sum float64
	for _, v := range vals {
		sum += v
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	truth := map[query.Func]float64{
		query.Count:  n,
		query.Sum:    sum,
		query.Avg:    sum / n,
		query.Median: sorted[n/2],
	}
	v := qc("t", "v", schema.Int)
	type cell struct{ got, theory float64 }
	results := map[query.Func]map[float64]cell{}
	epsilons := []float64{0.1, 0.5, 1}
	for b.Loop() {
		for _, fn := range []query.Func{query.Count, query.Sum, query.Avg, query.Median} {
			results[fn] = map[float64]cell{}
			out := query.Output{Name: string(fn), Func: fn, Column: ptr(v)}
			if fn == query.Count {
				out.Column = nil
			}
			p := &query.Plan{Tables: []query.Table{{Name: "t"}}, Outputs: []query.Output{out}}
			for _, eps := range epsilons {
				var errs []float64
				for range runs {
					res, err := Execute(context.Background(), p, tables, Params{Epsilon: 2 * eps, Delta: 1e-6})
					if err != nil {
						b.Fatal(err)
					}
					x, err := strconv.ParseFloat(res.Rows[0][0], 64)
					if err != nil {
						b.Fatal(err)
					}
					errs = append(errs, math.Abs(x-truth[fn]))
				}
				slices.Sort(errs)
				var theory float64
				switch fn {
				case query.Count:
					theory = math.Ln2 / eps
				case query.Sum:
					theory = 100_000 * math.Ln2 / eps
				case query.Avg:
					// Half the ε to the normalised sum, whose bound is
					// half the range.
					theory = 50_000 / (eps / 2) * math.Ln2 / n
				case query.Median:
					theory = 100_000 / math.Pow(16, 4)
				}
				results[fn][eps] = cell{errs[len(errs)/2], theory}
			}
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\naccuracy over %d rows, %d runs per cell: median |error| (theory)\t", n, runs)
	for _, eps := range epsilons {
		fmt.Fprintf(w, "ε=%g\t", eps)
	}
	fmt.Fprintln(w)
	for _, fn := range []query.Func{query.Count, query.Sum, query.Avg, query.Median} {
		fmt.Fprintf(w, "%s (true %s)\t", fn, strconv.FormatFloat(truth[fn], 'g', 8, 64))
		for _, eps := range epsilons {
			c := results[fn][eps]
			note := "theory"
			if fn == query.Median {
				note = "leaf"
			}
			fmt.Fprintf(w, "%.4g (%s %.4g)\t", c.got, note, c.theory)
		}
		fmt.Fprintln(w)
	}
	w.Flush()
}

// float returns a number in [0, 1).
func (s *splitmix64) float() float64 { return float64(s.next()>>11) / (1 << 53) }
