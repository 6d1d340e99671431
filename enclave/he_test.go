package enclave

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/schema"
)

// --- generated data for the HE tests: three tables keyed by uscc.

var (
	heLoansSchema = &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String},
		{Name: "uscc", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(5000)},
		{Name: "rate", Type: schema.Int, Min: i64(-50), Max: i64(50)},
		{Name: "neg", Type: schema.Int, Min: i64(-1000), Max: i64(-10)},
		{Name: "green", Type: schema.Bool},
		{Name: "day", Type: schema.Date, Min: i64(day("2020-01-01")), Max: i64(day("2024-12-31"))},
		{Name: "region", Type: schema.String},
	}}
	heRegistrySchema = &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String},
		{Name: "industry", Type: schema.String},
		{Name: "capital", Type: schema.Int, Min: i64(0), Max: i64(100_000)},
		{Name: "founded", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
		{Name: "listed", Type: schema.Bool},
	}}
	heMeterSchema = &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String},
		{Name: "month", Type: schema.String},
		{Name: "kwh", Type: schema.Int, Min: i64(0), Max: i64(900)},
		{Name: "delta", Type: schema.Int, Min: i64(-200), Max: i64(200)},
		{Name: "peak", Type: schema.Bool},
	}}

	// Columns of the HE tests.
	hlUscc    = qc("loans", "uscc", schema.String)
	hlAmount  = qc("loans", "amount", schema.Int)
	hlRate    = qc("loans", "rate", schema.Int)
	hlNeg     = qc("loans", "neg", schema.Int)
	hlGreen   = qc("loans", "green", schema.Bool)
	hlDay     = qc("loans", "day", schema.Date)
	hlRegion  = qc("loans", "region", schema.String)
	hrUscc    = qc("registry", "uscc", schema.String)
	hrInd     = qc("registry", "industry", schema.String)
	hrCapital = qc("registry", "capital", schema.Int)
	hrFounded = qc("registry", "founded", schema.Date)
	hrListed  = qc("registry", "listed", schema.Bool)
	hmUscc    = qc("meter", "uscc", schema.String)
	hmMonth   = qc("meter", "month", schema.String)
	hmKwh     = qc("meter", "kwh", schema.Int)
	hmDelta   = qc("meter", "delta", schema.Int)
	hmPeak    = qc("meter", "peak", schema.Bool)

	// heEncrypted is the default set of encrypted columns.
	heEncrypted = map[string]map[string]bool{
		"loans":    {"amount": true, "rate": true},
		"registry": {"capital": true},
		"meter":    {"kwh": true},
	}
)

// heTables generates the three tables: loans (unit uscc, 0 to ~8 rows per
// unit, MaxRowsPerUnit 4, so bounding drops rows), registry (one row per
// unit, some units missing, some without loans) and meter (12 monthly rows
// per unit, some units missing), each in a shuffled order.
func heTables() map[string]*Table {
	rng := splitmix64(7)
	const units = 60
	regions := []string{"east", "north", "south", "west"}
	inds := []string{"A", "C", "F", "K", "M"}
	u := func(i int) string { return fmt.Sprintf("U%03d", i) }

	loans := schema.NewBatch(heLoansSchema, 0)
	for i := range 260 {
		unit := rng.intn(units + 4) // units 60..63 have no registry row
		loans.Cols[0].Strs = append(loans.Cols[0].Strs, fmt.Sprintf("L%04d", i))
		loans.Cols[1].Strs = append(loans.Cols[1].Strs, u(unit))
		loans.Cols[2].Ints = append(loans.Cols[2].Ints, int64(rng.intn(5001)))
		loans.Cols[3].Ints = append(loans.Cols[3].Ints, int64(rng.intn(101)-50))
		loans.Cols[4].Ints = append(loans.Cols[4].Ints, int64(-10-rng.intn(991)))
		loans.Cols[5].Ints = append(loans.Cols[5].Ints, int64(rng.intn(2)))
		loans.Cols[6].Ints = append(loans.Cols[6].Ints, day("2020-01-01")+int64(rng.intn(40))*45)
		loans.Cols[7].Strs = append(loans.Cols[7].Strs, regions[(unit+rng.intn(2))%len(regions)])
		loans.Len++
	}

	var order []int
	for i := range units + 5 {
		if i%11 != 5 { // units 5, 16, 27, … have no registry row
			order = append(order, i)
		}
	}
	shuffle(&rng, order)
	registry := schema.NewBatch(heRegistrySchema, len(order))
	for _, i := range order {
		unit := i
		if i >= units {
			unit = 100 + i // registered, no loans
		}
		registry.Cols[0].Strs = append(registry.Cols[0].Strs, u(unit))
		registry.Cols[1].Strs = append(registry.Cols[1].Strs, inds[rng.intn(len(inds))])
		registry.Cols[2].Ints = append(registry.Cols[2].Ints, int64(rng.intn(100_001)))
		registry.Cols[3].Ints = append(registry.Cols[3].Ints, day("2000-01-01")+int64(rng.intn(10000)))
		registry.Cols[4].Ints = append(registry.Cols[4].Ints, int64(rng.intn(2)))
		registry.Len++
	}

	order = order[:0]
	for i := range units {
		if i%7 != 3 {
			for m := range 12 {
				order = append(order, i*12+m)
			}
		}
	}
	shuffle(&rng, order)
	meter := schema.NewBatch(heMeterSchema, len(order))
	for _, x := range order {
		meter.Cols[0].Strs = append(meter.Cols[0].Strs, u(x/12))
		meter.Cols[1].Strs = append(meter.Cols[1].Strs, fmt.Sprintf("2025-%02d", x%12+1))
		meter.Cols[2].Ints = append(meter.Cols[2].Ints, int64(rng.intn(901)))
		meter.Cols[3].Ints = append(meter.Cols[3].Ints, int64(rng.intn(401)-200))
		meter.Cols[4].Ints = append(meter.Cols[4].Ints, int64(rng.intn(2)))
		meter.Len++
	}
	return map[string]*Table{
		"loans":    {Name: "loans", Schema: heLoansSchema, Rows: loans, Unit: 1, MaxRowsPerUnit: 4},
		"registry": {Name: "registry", Schema: heRegistrySchema, Rows: registry, Unit: 0, MaxRowsPerUnit: 1},
		"meter":    {Name: "meter", Schema: heMeterSchema, Rows: meter, Unit: 0, MaxRowsPerUnit: 12},
	}
}

func shuffle(rng *splitmix64, xs []int) {
	for i := len(xs) - 1; i > 0; i-- {
		j := rng.intn(i + 1)
		xs[i], xs[j] = xs[j], xs[i]
	}
}

// nodeView returns what the node holds in HE mode: the encrypted columns
// zeroed, and uscc (join key and unit column) replaced by a keyed
// fingerprint.
func nodeView(tables map[string]*Table, enc map[string]map[string]bool) map[string]*Table {
	fp := func(s string) string {
		h := sha256.Sum256([]byte("fingerprint key|" + s))
		return hex.EncodeToString(h[:12])
	}
	out := make(map[string]*Table, len(tables))
	for name, t := range tables {
		c := *t
		b := &schema.Batch{Schema: t.Rows.Schema, Len: t.Rows.Len, Cols: make([]schema.Vector, len(t.Rows.Cols))}
		for i, col := range t.Schema.Columns {
			v := t.Rows.Cols[i]
			switch {
			case enc[name][col.Name]:
				v.Ints = make([]int64, len(v.Ints))
			case col.Name == "uscc":
				strs := make([]string, len(v.Strs))
				for r, s := range v.Strs {
					strs[r] = fp(s)
				}
				v.Strs = strs
			}
			b.Cols[i] = v
		}
		c.Rows = b
		c.cache = nil
		out[name] = &c
	}
	return out
}

// withCache returns copies of tables with a derivation cache, as
// Store.Load returns them.
func withCache(tables map[string]*Table) map[string]*Table {
	out := make(map[string]*Table, len(tables))
	for name, t := range tables {
		c := *t
		c.cache = newTableCache()
		out[name] = &c
	}
	return out
}

// releaseHE plays the whole HE release: the node's PrepareHE over the
// node's view, the crypto layer (Σ weight·value over the true values),
// noise from n through Layout.Noise, and the operator's Finish.
func releaseHE(t *testing.T, p *query.Plan, truth, node map[string]*Table, params Params, enc map[string]map[string]bool, n noise.Noise) (*HEPrep, [][]string) {
	t.Helper()
	prep, err := PrepareHE(context.Background(), p, node, params, enc)
	if err != nil {
		t.Fatalf("PrepareHE: %v", err)
	}
	l := prep.Layout
	if l.Groups != len(prep.Groups) {
		t.Fatalf("layout of %d groups for %d groups", l.Groups, len(prep.Groups))
	}
	raw := make([]int64, 0, len(l.Values))
	groupValues := make([][]string, len(prep.Groups))
	clearVec, ciphers := 0, 0
	for g, hg := range prep.Groups {
		groupValues[g] = hg.Values
		ci, ei := 0, 0
		for _, v := range l.Values[g*l.PerGroup() : (g+1)*l.PerGroup()] {
			var x int64
			if v.Cipher >= 0 {
				if v.Cipher != ciphers || v.Pos != 0 {
					t.Fatalf("value %+v: want cipher %d, coefficient 0", v, ciphers)
				}
				ciphers++
				hv := hg.Encrypted[ei]
				ei++
				if hv.Agg != v.Agg {
					t.Fatalf("encrypted value of aggregate %d at a layout value of %d", hv.Agg, v.Agg)
				}
				a := prep.Aggs[v.Agg]
				checkWeights(t, hv.Weights, hg.Rows, truth[a.Column.Table].Rows.Len)
				col := truth[a.Column.Table].Rows.Cols[truth[a.Column.Table].Schema.Index(a.Column.Name)].Ints
				var s int64
				for i, r := range hv.Weights.Rows {
					s += hv.Weights.W[i] * col[r]
				}
				x = hv.Scale*s + hv.Offset
			} else {
				if v.Pos != clearVec {
					t.Fatalf("value %+v: want clear position %d", v, clearVec)
				}
				clearVec++
				x = hg.Clear[ci]
				ci++
			}
			nz, err := l.Noise(prep.Privacy, v, n)
			if err != nil {
				t.Fatalf("Noise(%+v): %v", v, err)
			}
			raw = append(raw, x+nz)
		}
		if ci != len(hg.Clear) || ei != len(hg.Encrypted) {
			t.Fatalf("group %d: %d clear and %d encrypted values, the layout uses %d and %d", g, len(hg.Clear), len(hg.Encrypted), ci, ei)
		}
	}
	if clearVec != l.ClearLen() || ciphers != l.Ciphers() {
		t.Fatalf("layout: %d clear, %d ciphers; counted %d, %d", l.ClearLen(), l.Ciphers(), clearVec, ciphers)
	}
	rows, err := l.Finish(p, groupValues, raw)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return prep, rows
}

// checkWeights checks that w's rows are ascending, unique and within the
// table, and that the weights count the group's kept rows.
func checkWeights(t *testing.T, w release.Weights, keptRows int64, tableLen int) {
	t.Helper()
	if len(w.Rows) != len(w.W) {
		t.Fatalf("weights: %d rows, %d weights", len(w.Rows), len(w.W))
	}
	var total int64
	for i, r := range w.Rows {
		if r < 0 || int(r) >= tableLen || (i > 0 && r <= w.Rows[i-1]) || w.W[i] < 1 {
			t.Fatalf("weights: bad entry %d: row %d weight %d", i, r, w.W[i])
		}
		total += w.W[i]
	}
	if total != keptRows {
		t.Fatalf("weights add up to %d, the group keeps %d rows", total, keptRows)
	}
}

// recNoise adds no noise and records the calibration of every noise call.
type recNoise struct{ calls map[string]bool }

func (r recNoise) AddNoiseInt64(x, l0, linf int64, eps, delta float64) (int64, error) {
	r.calls[fmt.Sprintf("int l0=%d linf=%d eps=%v delta=%v", l0, linf, eps, delta)] = true
	return x, nil
}

func (r recNoise) AddNoiseFloat64(x float64, l0 int64, linf, eps, delta float64) (float64, error) {
	r.calls[fmt.Sprintf("float l0=%d linf=%v eps=%v delta=%v", l0, linf, eps, delta)] = true
	return x, nil
}

func (r recNoise) Threshold(l0 int64, linf, eps, noiseDelta, thresholdDelta float64) (float64, error) {
	r.calls[fmt.Sprintf("threshold l0=%d linf=%v eps=%v", l0, linf, eps)] = true
	return 0, nil
}

func (recNoise) ComputeConfidenceIntervalInt64(x, _, _ int64, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: float64(x), UpperBound: float64(x)}, nil
}

func (recNoise) ComputeConfidenceIntervalFloat64(x float64, _ int64, _, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: x, UpperBound: x}, nil
}

func (r recNoise) list() []string {
	var out []string
	for c := range r.calls {
		// The library probes every mean with AddNoiseFloat64(0, 1, 1, …)
		// when it is built: not a calibration.
		if !strings.HasPrefix(c, "float l0=1 linf=1 ") {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

type heCase struct {
	name   string
	plan   *query.Plan
	l0     int64
	minGrp int64
	thresh float64
	enc    map[string]map[string]bool // nil: heEncrypted
	edit   func(tables map[string]*Table)
}

func out(name string, c query.Column) query.Output { return query.Output{Name: name, Column: ptr(c)} }

func agg(f query.Func, c query.Column) query.Output {
	return query.Output{Name: fmt.Sprintf("%s(%s)", f, c), Func: f, Column: ptr(c)}
}

var countStar = query.Output{Name: "COUNT(*)", Func: query.Count}

func onLoans(outs ...query.Output) *query.Plan {
	return &query.Plan{Tables: []query.Table{{Name: "loans"}}, Outputs: outs}
}

func loansRegistry() *query.Plan {
	return &query.Plan{
		Tables: []query.Table{{Name: "loans"}, {Name: "registry"}},
		Joins:  []query.Join{{Left: hlUscc, Right: hrUscc}},
	}
}

func loansRegistryMeter() *query.Plan {
	return &query.Plan{
		Tables: []query.Table{{Name: "loans"}, {Name: "registry"}, {Name: "meter"}},
		Joins:  []query.Join{{Left: hlUscc, Right: hrUscc}, {Left: hrUscc, Right: hmUscc}},
	}
}

func heCases() []heCase {
	with := func(p *query.Plan, f func(p *query.Plan)) *query.Plan { f(p); return p }
	cases := []heCase{
		{name: "count star", plan: onLoans(countStar)},
		{name: "count encrypted column", plan: onLoans(agg(query.Count, hlAmount))},
		{name: "sum encrypted", plan: onLoans(agg(query.Sum, hlAmount))},
		{name: "avg encrypted", plan: onLoans(agg(query.Avg, hlAmount))},
		{name: "clear negative bounds", plan: onLoans(agg(query.Sum, hlNeg), agg(query.Avg, hlNeg), countStar)},
		{name: "group by region, several aggregates", plan: with(onLoans(out("region", hlRegion), countStar, agg(query.Sum, hlAmount), agg(query.Avg, hlAmount), agg(query.Sum, hlRate), agg(query.Avg, hlRate)), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlRegion}
		})},
		{name: "group by region, L0 = 2", l0: 2, plan: with(onLoans(out("region", hlRegion), agg(query.Sum, hlAmount), agg(query.Avg, hlNeg), countStar), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlRegion}
		})},
		{name: "group by bool, clear date and bool", plan: with(onLoans(out("green", hlGreen), agg(query.Sum, hlNeg), agg(query.Avg, hlDay), agg(query.Sum, hlGreen), countStar), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlGreen}
		})},
		{name: "group by two keys of one table, outputs interleaved", l0: 3, plan: with(onLoans(agg(query.Sum, hlAmount), out("green", hlGreen), countStar, out("region", hlRegion), agg(query.Avg, hlRate)), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlRegion, hlGreen}
		})},
		{name: "group by date, L0 = 2 drops groups", l0: 2, plan: with(onLoans(out("day", hlDay), agg(query.Sum, hlAmount), agg(query.Avg, hlAmount)), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlDay}
		})},
		{name: "join 2, group by joined table", plan: with(loansRegistry(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hrInd}
			p.Outputs = []query.Output{out("industry", hrInd), countStar, agg(query.Sum, hlAmount), agg(query.Avg, hrCapital), agg(query.Avg, hrFounded), agg(query.Sum, hrCapital)}
		})},
		{name: "join 2, group by keys from both tables", l0: 3, plan: with(loansRegistry(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlRegion, hrInd}
			p.Outputs = []query.Output{out("industry", hrInd), out("region", hlRegion), agg(query.Sum, hlAmount), agg(query.Count, hrCapital), agg(query.Avg, hlRate)}
		})},
		{name: "join 3, group by industry", plan: with(loansRegistryMeter(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hrInd}
			p.Outputs = []query.Output{out("industry", hrInd), agg(query.Sum, hmKwh), agg(query.Avg, hmDelta), agg(query.Count, hmKwh), agg(query.Sum, hlAmount), agg(query.Avg, hrCapital)}
		})},
		{name: "join 3, group by month and green, L0 = 12", l0: 12, plan: with(loansRegistryMeter(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hmMonth, hlGreen}
			p.Outputs = []query.Output{out("month", hmMonth), out("green", hlGreen), agg(query.Sum, hmKwh), agg(query.Avg, hlRate), agg(query.Sum, hmPeak)}
		})},
		{name: "join 3, no group by", plan: with(loansRegistryMeter(), func(p *query.Plan) {
			p.Outputs = []query.Output{agg(query.Sum, hrCapital), agg(query.Avg, hmKwh), countStar, agg(query.Sum, hmDelta)}
		})},
		{name: "join 3, filters on every table", l0: 2, plan: with(loansRegistryMeter(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hrListed}
			p.Filters = []query.Filter{
				{Column: hlNeg, Op: query.OpLT, Value: query.Value{Int: -200}},
				{Column: hrFounded, Op: query.OpGE, Value: query.Value{Int: day("2005-01-01")}},
				{Column: hmMonth, Op: query.OpGT, Value: query.Value{Str: "2025-06"}},
				{Column: hmPeak, Op: query.OpEQ, Value: query.Value{Int: 1}},
			}
			p.Outputs = []query.Output{out("listed", hrListed), agg(query.Sum, hmKwh), agg(query.Avg, hlAmount), countStar}
		})},
		{name: "registry first, join meter, group by month", l0: 12, plan: &query.Plan{
			Tables:  []query.Table{{Name: "registry"}, {Name: "meter"}},
			Joins:   []query.Join{{Left: hrUscc, Right: hmUscc}},
			GroupBy: []query.Column{hmMonth},
			Outputs: []query.Output{out("month", hmMonth), agg(query.Sum, hmKwh), agg(query.Avg, hmKwh), agg(query.Avg, hrCapital)},
		}},
		{name: "meter first (12 rows per unit), group by peak", plan: &query.Plan{
			Tables:  []query.Table{{Name: "meter"}},
			GroupBy: []query.Column{hmPeak},
			Outputs: []query.Output{out("peak", hmPeak), agg(query.Sum, hmKwh), agg(query.Avg, hmDelta), agg(query.Avg, hmKwh)},
		}},
		{name: "meter first, each row its own unit", edit: func(tabs map[string]*Table) { tabs["meter"].Unit = -1; tabs["meter"].MaxRowsPerUnit = 1 }, plan: &query.Plan{
			Tables:  []query.Table{{Name: "meter"}},
			GroupBy: []query.Column{hmMonth},
			Outputs: []query.Output{out("month", hmMonth), agg(query.Sum, hmKwh), countStar},
		}},
		{name: "MinGroupSize suppresses groups", minGrp: 6, plan: with(loansRegistry(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hrInd, hlGreen}
			p.Outputs = []query.Output{out("industry", hrInd), out("green", hlGreen), agg(query.Sum, hlAmount), countStar}
		})},
		{name: "selection threshold suppresses groups", thresh: 5, l0: 2, plan: with(loansRegistry(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlRegion, hrInd}
			p.Outputs = []query.Output{out("region", hlRegion), out("industry", hrInd), agg(query.Avg, hlAmount)}
		})},
		{name: "nothing matches", plan: with(onLoans(agg(query.Sum, hlAmount), agg(query.Avg, hlAmount)), func(p *query.Plan) {
			p.Filters = []query.Filter{{Column: hlRegion, Op: query.OpEQ, Value: query.Value{Str: "nowhere"}}}
		})},
		{name: "encrypted bool", enc: map[string]map[string]bool{"loans": {"green": true, "amount": true}}, plan: with(onLoans(out("region", hlRegion), agg(query.Sum, hlGreen), agg(query.Avg, hlGreen), agg(query.Count, hlGreen)), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlRegion}
		})},
		{name: "all clear", enc: map[string]map[string]bool{}, plan: with(loansRegistryMeter(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hrInd}
			p.Outputs = []query.Output{out("industry", hrInd), agg(query.Sum, hmKwh), agg(query.Avg, hlAmount), countStar}
		})},
		{name: "all encrypted, repeated aggregates share weights", enc: map[string]map[string]bool{"loans": {"amount": true, "rate": true, "neg": true}, "registry": {"capital": true, "founded": true}}, l0: 2, plan: with(loansRegistry(), func(p *query.Plan) {
			p.GroupBy = []query.Column{hlRegion}
			p.Outputs = []query.Output{agg(query.Sum, hlAmount), agg(query.Sum, hlAmount), agg(query.Avg, hlAmount), agg(query.Sum, hlNeg), agg(query.Avg, hlNeg), agg(query.Avg, hrFounded), agg(query.Sum, hrCapital), out("region", hlRegion)}
		})},
	}
	// WHERE on each type and operator.
	for _, f := range []struct {
		col query.Column
		val query.Value
	}{
		{hlRegion, query.Value{Str: "north"}},
		{hlNeg, query.Value{Int: -500}},
		{hlGreen, query.Value{Int: 1}},
		{hlDay, query.Value{Int: day("2022-03-01")}},
	} {
		for _, op := range []query.Op{query.OpEQ, query.OpNE, query.OpLT, query.OpLE, query.OpGT, query.OpGE} {
			p := onLoans(out("region", hlRegion), agg(query.Sum, hlAmount), agg(query.Avg, hlRate), countStar)
			p.GroupBy = []query.Column{hlRegion}
			p.Filters = []query.Filter{{Column: f.col, Op: op, Value: f.val}}
			cases = append(cases, heCase{name: fmt.Sprintf("where %s %s", f.col, op), l0: 2, plan: p})
		}
	}
	return cases
}

// TestHEMatchesSealed runs each query sealed (Execute) and in HE mode
// (PrepareHE over the node's view, simulated encrypted sums over the true
// values, zero noise, Finish) and checks that the rows are identical, and
// that both modes noise with the same calibrations.
func TestHEMatchesSealed(t *testing.T) {
	cases := heCases()
	if len(cases) < 24 {
		t.Fatalf("%d cases", len(cases))
	}
	released := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			truth := heTables()
			if tc.edit != nil {
				tc.edit(truth)
			}
			enc := tc.enc
			if enc == nil {
				enc = heEncrypted
			}
			params := Params{Epsilon: 1.5, Delta: 1e-5, MinGroupSize: tc.minGrp, MaxGroupsPerUnit: tc.l0, Noise: dptest.InsecureNoNoise{ThresholdValue: tc.thresh}}
			want, err := Execute(context.Background(), tc.plan, truth, params)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			node := nodeView(truth, enc)
			prep, got := releaseHE(t, tc.plan, truth, node, params, enc, params.Noise)
			if !reflect.DeepEqual(prep.Columns, want.Columns) {
				t.Errorf("columns %v, want %v", prep.Columns, want.Columns)
			}
			if !reflect.DeepEqual(got, want.Rows) && !(len(got) == 0 && len(want.Rows) == 0) {
				t.Errorf("HE rows:\n%v\nsealed rows:\n%v", got, want.Rows)
			}
			if prep.Suppressed != want.Suppressed {
				t.Errorf("Suppressed %d, sealed %d", prep.Suppressed, want.Suppressed)
			}
			released += len(got)

			// The contract's own derivation agrees with the node's.
			schemas := map[string]*schema.Schema{}
			for name, tab := range truth {
				schemas[name] = tab.Schema
			}
			aggs, err := release.NewAggs(tc.plan, schemas, enc)
			if err != nil || !reflect.DeepEqual(aggs, prep.Aggs) {
				t.Errorf("release.NewAggs = %+v, %v; PrepareHE has %+v", aggs, err, prep.Aggs)
			}
			rows := make([]int64, len(prep.Groups))
			for i, g := range prep.Groups {
				rows[i] = g.Rows
			}
			if err := prep.Layout.CheckOverflow(rows, 288_230_376_151_711_744); err != nil {
				t.Error(err)
			}

			// The same with derivation caches, cold then warm.
			cached := withCache(node)
			for range 2 {
				prep2, got2 := releaseHE(t, tc.plan, truth, cached, params, enc, params.Noise)
				if !reflect.DeepEqual(got2, got) || !reflect.DeepEqual(prep2, prep) {
					t.Errorf("with cache: rows %v, want %v", got2, got)
				}
			}

			// A deterministic noise that is not zero (+3 on integers, +½ on
			// the normalised sums, so that the doubled AVG noise stays an
			// integer): the noise lands on the right values, and groups
			// without units (an empty global group) get released.
			params.Noise = offsetNoise{}
			want, err = Execute(context.Background(), tc.plan, truth, params)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			_, got = releaseHE(t, tc.plan, truth, node, params, enc, params.Noise)
			if !reflect.DeepEqual(got, want.Rows) && !(len(got) == 0 && len(want.Rows) == 0) {
				t.Errorf("offset noise: HE rows:\n%v\nsealed rows:\n%v", got, want.Rows)
			}

			// Same calibrations: every noise call of the sealed run has its
			// twin in the HE run and vice versa.
			sealed, he := recNoise{map[string]bool{}}, recNoise{map[string]bool{}}
			params.Noise = sealed
			if _, err := Execute(context.Background(), tc.plan, truth, params); err != nil {
				t.Fatal(err)
			}
			params.Noise = he
			releaseHE(t, tc.plan, truth, node, params, enc, he)
			if s, h := sealed.list(), he.list(); !reflect.DeepEqual(s, h) {
				t.Errorf("noise calibrations differ:\nsealed %q\nHE     %q", s, h)
			}
		})
	}
	if released < 100 {
		t.Errorf("only %d rows released over all cases: the data is too thin", released)
	}
}

// TestSumHull checks the sealed SUM semantics: a unit's total is never
// clamped, and the noise follows L0·max|H| with H = [min(Min, L∞·Min),
// max(Max, L∞·Max)].
func TestSumHull(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "u", Type: schema.String},
		{Name: "g", Type: schema.String},
		{Name: "v", Type: schema.Int, Min: i64(-80), Max: i64(30)},
	}}
	tab := mkTable("t", s, 0, 3,
		"u1,a,-80", "u1,a,-70", "u1,a,-60", // total -210: below Min, within H = [-240, 90]
		"u1,a,-50",           // u1's fourth row: over L∞ = 3
		"u2,a,30", "u2,a,30", // 60 > Max
		"u3,b,-5",
	)
	v := qc("t", "v", schema.Int)
	g := qc("t", "g", schema.String)
	p := &query.Plan{Tables: []query.Table{{Name: "t"}}, GroupBy: []query.Column{g}, Outputs: []query.Output{out("g", g), agg(query.Sum, v)}}
	for _, l0 := range []int64{1, 2} {
		rec := recNoise{map[string]bool{}}
		params := Params{Epsilon: 1, Delta: 1e-5, MaxGroupsPerUnit: l0, Noise: rec}
		res := run(t, p, map[string]*Table{"t": tab}, params)
		checkRows(t, res, [][]string{{"a", "-150"}, {"b", "-5"}})
		want := fmt.Sprintf("int l0=%d linf=240 eps=0.5 delta=0", l0) // max(|-240|, |90|)
		if !rec.calls[want] {
			t.Errorf("L0=%d: no sum noise calibrated %q among %q", l0, want, rec.list())
		}
	}

	// Post-processing keeps a SUM on the side of zero H allows.
	for _, tc := range []struct {
		min, max int64
		shift    int64
		want     string
	}{
		{0, 100, -1_000_000, "0"},
		{-100, 0, 1_000_000, "0"},
		{-100, 100, -1_000_000, "-999850"},
	} {
		s := &schema.Schema{Columns: []schema.Column{{Name: "u", Type: schema.String}, {Name: "v", Type: schema.Int, Min: &tc.min, Max: &tc.max}}}
		val := max(tc.min, min(tc.max, 50))
		tab := mkTable("t", s, 0, 1, "u1,"+fmt.Sprint(val), "u2,"+fmt.Sprint(val), "u3,"+fmt.Sprint(val))
		p := onTable("t", agg(query.Sum, qc("t", "v", schema.Int)))
		res, err := Execute(context.Background(), p, map[string]*Table{"t": tab}, Params{Epsilon: 1, Noise: shiftNoise{tc.shift}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 1 || res.Rows[0][0] != tc.want {
			t.Errorf("bounds [%d, %d], noise %+d: rows %v, want %s", tc.min, tc.max, tc.shift, res.Rows, tc.want)
		}
	}

	// L∞·Max overflowing int64 is refused, in both modes.
	big := &schema.Schema{Columns: []schema.Column{{Name: "u", Type: schema.String}, {Name: "v", Type: schema.Int, Min: i64(0), Max: i64(math.MaxInt64 / 2)}}}
	tab = mkTable("t", big, 0, 3, "u1,1")
	p = onTable("t", agg(query.Sum, qc("t", "v", schema.Int)))
	if _, err := Execute(context.Background(), p, map[string]*Table{"t": tab}, noNoise); err == nil || !strings.Contains(err.Error(), "overflows int64") {
		t.Errorf("Execute: got %v, want an overflow error", err)
	}
	if _, err := PrepareHE(context.Background(), p, map[string]*Table{"t": tab}, noNoise, nil); err == nil || !strings.Contains(err.Error(), "overflows int64") {
		t.Errorf("PrepareHE: got %v, want an overflow error", err)
	}
}

func onTable(name string, outs ...query.Output) *query.Plan {
	return &query.Plan{Tables: []query.Table{{Name: name}}, Outputs: outs}
}

// offsetNoise adds 3 to integers and ½ to floats; its threshold is 0.
type offsetNoise struct{}

func (offsetNoise) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error) { return x + 3, nil }

func (offsetNoise) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) {
	return x + 0.5, nil
}

func (offsetNoise) Threshold(int64, float64, float64, float64, float64) (float64, error) {
	return 0, nil
}

func (offsetNoise) ComputeConfidenceIntervalInt64(x, _, _ int64, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}

func (offsetNoise) ComputeConfidenceIntervalFloat64(x float64, _ int64, _, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}

// shiftNoise adds a fixed amount to every int64 (none to floats) and has
// threshold 0.
type shiftNoise struct{ shift int64 }

func (s shiftNoise) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error) {
	if x >= 1 && x <= 3 { // a unit count: leave it, so the group is released
		return x, nil
	}
	return x + s.shift, nil
}

func (shiftNoise) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) {
	return x, nil
}

func (shiftNoise) Threshold(int64, float64, float64, float64, float64) (float64, error) {
	return 0, nil
}

func (shiftNoise) ComputeConfidenceIntervalInt64(x, _, _ int64, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}

func (shiftNoise) ComputeConfidenceIntervalFloat64(x float64, _ int64, _, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}

// TestPrepareHERefuses checks that PrepareHE refuses plans that need an
// encrypted column in the clear, and accepts COUNT of one.
func TestPrepareHERefuses(t *testing.T) {
	base := func() *query.Plan {
		p := loansRegistry()
		p.Outputs = []query.Output{agg(query.Sum, hlAmount)}
		return p
	}
	for name, tc := range map[string]struct {
		edit   func(p *query.Plan, enc map[string]map[string]bool, params *Params)
		substr string
	}{
		"filter": {func(p *query.Plan, _ map[string]map[string]bool, _ *Params) {
			p.Filters = []query.Filter{{Column: hlAmount, Op: query.OpGT, Value: query.Value{Int: 10}}}
		}, "filter on loans.amount: the column is encrypted in HE mode"},
		"filter on the joined table": {func(p *query.Plan, _ map[string]map[string]bool, _ *Params) {
			p.Filters = []query.Filter{{Column: hrCapital, Op: query.OpEQ, Value: query.Value{Int: 10}}}
		}, "filter on registry.capital: the column is encrypted in HE mode"},
		"group by": {func(p *query.Plan, _ map[string]map[string]bool, _ *Params) {
			p.GroupBy = []query.Column{hrCapital}
			p.Outputs = append(p.Outputs, out("capital", hrCapital))
		}, "group by registry.capital: the column is encrypted in HE mode"},
		"join key": {func(p *query.Plan, enc map[string]map[string]bool, _ *Params) {
			enc["registry"] = map[string]bool{"uscc": true}
		}, "join on registry.uscc: the column is encrypted in HE mode"},
		"unit column": {func(_ *query.Plan, enc map[string]map[string]bool, _ *Params) {
			enc["loans"] = map[string]bool{"uscc": true}
		}, "unit column loans.uscc: the column is encrypted in HE mode"},
		"unknown encrypted column": {func(_ *query.Plan, enc map[string]map[string]bool, _ *Params) {
			enc["loans"] = map[string]bool{"nope": true}
		}, "encrypted column loans.nope: no such column"},
		"noise too coarse for an encrypted sum": {func(_ *query.Plan, _ map[string]map[string]bool, params *Params) {
			params.Noise = nil // Laplace, scale L0·max|H|/(ε/2) = 20000·2/1e-8 > 2⁴⁰
			params.Epsilon = 1e-8
		}, "which would reveal the encrypted value"},
		"sealed refusals apply": {func(p *query.Plan, _ map[string]map[string]bool, _ *Params) { p.Star = true }, "row-level"},
	} {
		enc := map[string]map[string]bool{"loans": {"amount": true}, "registry": {"capital": true}}
		p, params := base(), noNoise
		tc.edit(p, enc, &params)
		tabs := heTables()
		_, err := PrepareHE(context.Background(), p, nodeView(tabs, enc), params, enc)
		if err == nil || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.substr)
		}
	}

	// COUNT(col) of an encrypted column needs no values.
	p := loansRegistry()
	p.Outputs = []query.Output{agg(query.Count, hrCapital), agg(query.Count, hlAmount)}
	p.GroupBy = []query.Column{hrInd}
	if _, err := PrepareHE(context.Background(), p, heTables(), noNoise, heEncrypted); err != nil {
		t.Errorf("COUNT of encrypted columns: %v", err)
	}
	// A nil map: nothing is encrypted.
	if _, err := PrepareHE(context.Background(), p, heTables(), noNoise, nil); err != nil {
		t.Errorf("nil encrypted: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := PrepareHE(ctx, p, heTables(), noNoise, heEncrypted); err == nil {
		t.Error("cancelled: no error")
	}
}

// TestHENoiseScale draws the real Laplace noise many times through both
// modes and checks that the noise of COUNT, SUM and AVG (and of the AVG's
// two parts) has the same variance, within 20%. With n = 4000 draws the
// ratio of two sample variances of Laplace noise has a standard deviation
// of about sqrt(2·5/n) = 5%: each check fails falsely with probability
// below 10⁻⁵.
func TestHENoiseScale(t *testing.T) {
	n := 4000
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "u", Type: schema.String},
		{Name: "v", Type: schema.Int, Min: i64(-50), Max: i64(150)},
	}}
	var rows []string
	var sum, cnt int64
	for i := range 40 {
		for j := range 2 {
			v := int64((i*37+j*11)%201 - 50)
			rows = append(rows, fmt.Sprintf("u%d,%d", i, v))
			sum += v
			cnt++
		}
	}
	truth := map[string]*Table{"t": mkTable("t", s, 0, 2, rows...)}
	v := qc("t", "v", schema.Int)
	p := onTable("t", countStar, agg(query.Sum, v), agg(query.Avg, v))
	params := Params{Epsilon: 4} // 1 per aggregate and for selection; Laplace
	enc := map[string]map[string]bool{"t": {"v": true}}
	node := nodeView(truth, enc)

	parse := func(r []string) [3]float64 {
		var x [3]float64
		for i := range x {
			f, err := strconv.ParseFloat(r[i], 64)
			if err != nil {
				t.Fatal(err)
			}
			x[i] = f
		}
		return x
	}
	var sealed, he [3][]float64
	for range n {
		res, err := Execute(context.Background(), p, truth, params)
		if err != nil {
			t.Fatal(err)
		}
		_, got := releaseHE(t, p, truth, node, params, enc, nil)
		if len(res.Rows) != 1 || len(got) != 1 {
			t.Fatalf("rows %v and %v", res.Rows, got)
		}
		a, b := parse(res.Rows[0]), parse(got[0])
		for i := range 3 {
			sealed[i] = append(sealed[i], a[i])
			he[i] = append(he[i], b[i])
		}
	}
	check := func(what string, x, y []float64, want float64) {
		t.Helper()
		vx, vy := variance(x), variance(y)
		if math.Abs(vx/vy-1) > 0.2 {
			t.Errorf("%s: noise variance %.4g sealed, %.4g HE: more than 20%% apart", what, vx, vy)
		}
		if want > 0 && math.Abs(vx/want-1) > 0.2 {
			t.Errorf("%s: noise variance %.4g sealed, want about %.4g", what, vx, want)
		}
	}
	// COUNT: b = L0·L∞/ε = 2; SUM: H = [-100, 300], b = 300.
	check("COUNT", sealed[0], he[0], 2*2*2)
	check("SUM", sealed[1], he[1], 2*300*300)
	check("AVG", sealed[2], he[2], 0)

	// The AVG's parts: the sealed mean's (the library's BoundedMean with
	// Execute's options, fed the rows) against Layout.Noise's.
	aggs := []release.Agg{{Func: query.Count}, {Func: query.Sum, Column: &v, Encrypted: true, Min: -50, Max: 150}, {Func: query.Avg, Column: &v, Encrypted: true, Min: -50, Max: 150}}
	l := release.NewLayout(aggs, 1)
	pr := release.Privacy{Epsilon: 4, MinGroupSize: 1, MaxGroupsPerUnit: 1, LInf: 2}
	var sc, ss, hc, hs []float64
	norm := float64(sum) - 50*float64(cnt) // the exact normalised sum: midpoint 50
	for range n {
		m, err := dp.NewBoundedMean(&dp.BoundedMeanOptions{Epsilon: 1, MaxPartitionsContributed: 1, MaxContributionsPerPartition: 2, Lower: -50, Upper: 150})
		if err != nil {
			t.Fatal(err)
		}
		col := truth["t"].Rows.Cols[1].Ints
		for _, x := range col {
			if err := m.Add(float64(x)); err != nil {
				t.Fatal(err)
			}
		}
		c, ns, err := m.ResultParts()
		if err != nil {
			t.Fatal(err)
		}
		sc, ss = append(sc, float64(c-cnt)), append(ss, ns-norm)
		s2, err := l.Noise(pr, l.Values[2], nil)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := l.Noise(pr, l.Values[3], nil)
		if err != nil {
			t.Fatal(err)
		}
		hs, hc = append(hs, float64(s2)/2), append(hc, float64(c2))
	}
	// Each part gets ε/2 = 0.5: b = 2/0.5 = 4 for the count, 100·2/0.5 =
	// 400 for the normalised sum.
	check("AVG count part", sc, hc, 2*4*4)
	check("AVG normalised sum part", ss, hs, 2*400*400)
}

func variance(xs []float64) float64 {
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return v / float64(len(xs)-1)
}
