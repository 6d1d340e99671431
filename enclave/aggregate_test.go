package enclave

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

var statSchema = &schema.Schema{Columns: []schema.Column{
	{Name: "u", Type: schema.String},
	{Name: "g", Type: schema.String},
	{Name: "v", Type: schema.Int, Min: i64(-50), Max: i64(300)},
	{Name: "w", Type: schema.Int, Min: i64(0), Max: i64(1000)},
	{Name: "ok", Type: schema.Bool},
}}

// statTable has 60 rows: units u0..u29 with two rows each, groups a and b.
func statTable() map[string]*Table {
	var rows []string
	for i := range 60 {
		g := "a"
		if i%3 == 0 {
			g = "b"
		}
		rows = append(rows, fmt.Sprintf("u%d,%s,%d,%d,%t", i/2, g, i*5-50+i%7, (i*37)%1000, i%2 == 0))
	}
	return map[string]*Table{"t": mkTable("t", statSchema, 0, 2, rows...)}
}

// sqlPlan compiles sql against the tables' schemas.
func sqlPlan(t *testing.T, sql string, tables map[string]*Table) *query.Plan {
	t.Helper()
	p, err := query.Compile(sql, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
		tab, ok := tables[name]
		if !ok {
			return nil, false
		}
		return tab.Schema, true
	}))
	require.NoError(t, err)
	return p
}

// exact computes per group what the aggregates should give without noise,
// from the table's rows (every row is kept: L0 = 2 groups, L∞ = 2 rows).
type exactGroup struct {
	n           int
	units       map[string]bool
	vals        []float64 // v
	sumW, nOK   int64
	sumCase     int64 // SUM(CASE WHEN ok THEN w * 2 ELSE -w END)
	avgCaseNum  int64 // AVG(CASE WHEN v > 0 THEN v END): sum and count
	avgCaseDen  int64
	countCaseOK int64 // COUNT(CASE WHEN ok AND v < 100 THEN 1 END)
}

func exactGroups(tab *Table) map[string]*exactGroup {
	out := map[string]*exactGroup{}
	b := tab.Rows
	for r := range b.Len {
		g := b.Cols[1].Strs[r]
		e := out[g]
		if e == nil {
			e = &exactGroup{units: map[string]bool{}}
			out[g] = e
		}
		v, w, ok := b.Cols[2].Ints[r], b.Cols[3].Ints[r], b.Cols[4].Ints[r] == 1
		e.n++
		e.units[b.Cols[0].Strs[r]] = true
		e.vals = append(e.vals, float64(v))
		e.sumW += w
		if ok {
			e.nOK++
			e.sumCase += 2 * w
			if v < 100 {
				e.countCaseOK++
			}
		} else {
			e.sumCase -= w
		}
		if v > 0 {
			e.avgCaseNum += v
			e.avgCaseDen++
		}
	}
	return out
}

func TestExecuteNewAggregatesExact(t *testing.T) {
	tables := statTable()
	want := exactGroups(tables["t"])
	params := noNoise
	params.MaxGroupsPerUnit = 2
	sql := "SELECT g, COUNT(DISTINCT u), COUNT(DISTINCT ok), SUM(CASE WHEN ok THEN w * 2 ELSE -w END), " +
		"AVG(CASE WHEN v > 0 THEN v END), COUNT(CASE WHEN ok AND v < 100 THEN 1 END), SUM(w / 8), " +
		"VARIANCE(v), STDDEV(v), SUM(ok), AVG(w * 0.5), SUM(LEAST(GREATEST(v, 0), 100)) FROM t GROUP BY g"
	res := run(t, sqlPlan(t, sql, tables), tables, params)
	require.Len(t, res.Rows, 2)
	for _, row := range res.Rows {
		e := want[row[0]]
		require.NotNil(t, e, row[0])
		require.Equal(t, strconv.Itoa(len(e.units)), row[1], "COUNT(DISTINCT u)")
		require.Equal(t, "2", row[2], "COUNT(DISTINCT ok)")
		require.Equal(t, strconv.FormatInt(e.sumCase, 10), row[3], "SUM(CASE)")
		require.Equal(t, strconv.FormatFloat(float64(e.avgCaseNum)/float64(e.avgCaseDen), 'f', 2, 64), row[4], "AVG(CASE) skips NULL")
		require.Equal(t, strconv.FormatInt(e.countCaseOK, 10), row[5], "COUNT(CASE) counts non-NULL")
		require.Equal(t, query.FormatUnits(sumDiv8(tables["t"], row[0]), 4), row[6], "SUM(w / 8)")
		variance := popVariance(e.vals)
		require.InDelta(t, variance, parse(t, row[7]), 0.006, "VARIANCE")
		require.InDelta(t, math.Sqrt(variance), parse(t, row[8]), 0.006, "STDDEV")
		require.Equal(t, strconv.FormatInt(e.nOK, 10), row[9], "SUM(bool)")
		require.Equal(t, strconv.FormatFloat(float64(e.sumW)/2/float64(e.n), 'f', 2, 64), row[10], "AVG(w * 0.5)")
		var clamped int64
		for _, v := range e.vals {
			clamped += int64(min(max(v, 0), 100))
		}
		require.Equal(t, strconv.FormatInt(clamped, 10), row[11], "SUM(LEAST(GREATEST(v, 0), 100))")
	}
	// Stats: every aggregate has ε/(k+1) of the query's ε.
	require.Nil(t, res.Stats[0])
	for _, s := range res.Stats[1:] {
		require.InDelta(t, params.Epsilon/12, s.Epsilon, 1e-12)
		require.Equal(t, int64(2), s.L0)
	}
	// The clamped sum's noise is calibrated to the clamp: L∞ · 100.
	require.Equal(t, 200.0, res.Stats[11].LInf)
	require.InDelta(t, params.Epsilon/12, res.Selection.Epsilon, 1e-12)
	require.Equal(t, params.Delta, res.Selection.Delta)
}

// sumDiv8 is Σ round(w·10⁴/8) over group g: w / 8 at scale 4.
func sumDiv8(tab *Table, g string) int64 {
	var s int64
	for r := range tab.Rows.Len {
		if tab.Rows.Cols[1].Strs[r] == g {
			s += (tab.Rows.Cols[3].Ints[r]*10000 + 4) / 8
		}
	}
	return s
}

func popVariance(xs []float64) float64 {
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	m := s / float64(len(xs))
	return s2/float64(len(xs)) - m*m
}

func parse(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err, s)
	return f
}

// TestCountDistinctUnit: COUNT(DISTINCT unit) is calibrated to one value
// per unit and group, other columns to L∞.
func TestCountDistinctUnit(t *testing.T) {
	tables := statTable()
	p := sqlPlan(t, "SELECT COUNT(DISTINCT u), COUNT(DISTINCT v) FROM t", tables)
	res := run(t, p, tables, noNoise)
	require.Equal(t, [][]string{{"30", "60"}}, res.Rows)
	require.Equal(t, 1.0, res.Stats[0].LInf)
	require.Equal(t, 2.0, res.Stats[1].LInf)
}

// TestQuantilesNoNoise: without noise the DP library's quantile tree
// finds each quantile within its resolution: (Max − Min) / 16⁴ per leaf.
func TestQuantilesNoNoise(t *testing.T) {
	tables := statTable()
	p := sqlPlan(t, "SELECT MIN(v), MAX(v), MEDIAN(v), PERCENTILE(v, 0.25), APPROX_PERCENTILE(w, 90) FROM t", tables)
	res := run(t, p, tables, noNoise)
	var vs, ws []float64
	b := tables["t"].Rows
	for r := range b.Len {
		vs = append(vs, float64(b.Cols[2].Ints[r]))
		ws = append(ws, float64(b.Cols[3].Ints[r]))
	}
	slices.Sort(vs)
	slices.Sort(ws)
	row := res.Rows[0]
	// The tree interpolates within a leaf; allow a leaf or two and the
	// rank's rounding between neighbouring values.
	require.InDelta(t, vs[0], parse(t, row[0]), 1)
	require.InDelta(t, vs[len(vs)-1], parse(t, row[1]), 1)
	near := func(xs []float64, rank float64, got string) {
		i := rank * float64(len(xs)-1)
		lo, hi := xs[int(math.Floor(i))], xs[int(math.Ceil(i))]
		g := parse(t, got)
		require.True(t, g >= lo-1 && g <= hi+1, "rank %v: %v not within [%v, %v]", rank, g, lo, hi)
	}
	near(vs, 0.5, row[2])
	near(vs, 0.25, row[3])
	near(ws, 0.9, row[4])
	for i := range row {
		require.Nil(t, res.Intervals[0][i], "quantiles have no interval")
	}
}

func TestPostProcessing(t *testing.T) {
	tables := statTable()
	params := noNoise
	params.MaxGroupsPerUnit = 2
	res := run(t, sqlPlan(t, "SELECT g, COUNT(*) AS n FROM t GROUP BY g ORDER BY n DESC", tables), tables, params)
	require.Equal(t, [][]string{{"a", "40"}, {"b", "20"}}, res.Rows)
	res = run(t, sqlPlan(t, "SELECT g, COUNT(*) AS n FROM t GROUP BY g HAVING n < 30", tables), tables, params)
	require.Equal(t, [][]string{{"b", "20"}}, res.Rows)
	require.Len(t, res.Intervals, 1)
	res = run(t, sqlPlan(t, "SELECT COUNT(*) FROM t GROUP BY g ORDER BY g DESC LIMIT 1", tables), tables, params)
	require.Equal(t, [][]string{{"20"}}, res.Rows)
	res = run(t, sqlPlan(t, "SELECT g, COUNT(*) FROM t GROUP BY g LIMIT 5 OFFSET 1", tables), tables, params)
	require.Equal(t, [][]string{{"b", "20"}}, res.Rows)
}

// TestIntervals: with the real noise each COUNT, SUM and AVG carries a
// 95% interval around its value; without noise the interval is the value.
func TestIntervals(t *testing.T) {
	tables := statTable()
	p := sqlPlan(t, "SELECT g, COUNT(*), SUM(w), AVG(v) FROM t GROUP BY g", tables)
	res := run(t, p, tables, Params{Epsilon: 100, Delta: 1e-5, MaxGroupsPerUnit: 2, Noise: dptest.InsecureNoNoise{}})
	for _, row := range res.Intervals {
		require.Nil(t, row[0])
		for i := 1; i < 4; i++ {
			require.Equal(t, res.Rows[0][i] != "", row[i] != nil)
		}
	}
	for ri, row := range res.Rows {
		require.Equal(t, &Interval{Lo: row[1], Hi: row[1]}, res.Intervals[ri][1])
		require.Equal(t, &Interval{Lo: row[2], Hi: row[2]}, res.Intervals[ri][2])
	}

	res, err := Execute(t.Context(), p, tables, Params{Epsilon: 40, Delta: 1e-5, MaxGroupsPerUnit: 2})
	require.NoError(t, err)
	require.Len(t, res.Rows, 2, "ε large enough that both groups are released")
	require.Equal(t, "Laplace Noise", res.Stats[1].Mechanism)
	for ri, row := range res.Rows {
		for i := 1; i < 4; i++ {
			ci := res.Intervals[ri][i]
			require.NotNil(t, ci)
			v, lo, hi := parse(t, row[i]), parse(t, ci.Lo), parse(t, ci.Hi)
			require.LessOrEqual(t, lo, hi)
			require.Less(t, lo, hi, "the noise gives the interval a width")
			if i < 3 {
				require.True(t, lo <= v && v <= hi, "%s not within [%s, %s]", row[i], ci.Lo, ci.Hi)
			}
		}
	}
}

// TestPublicGroups: with public group values every combination is
// released in their order, also those no row falls in; rows with other
// values are left out; a group below the minimum size keeps its row with
// its aggregates withheld.
func TestPublicGroups(t *testing.T) {
	tables := statTable()
	p := sqlPlan(t, "SELECT g, COUNT(*), SUM(w) FROM t GROUP BY g", tables)
	params := noNoise
	params.MaxGroupsPerUnit = 2
	params.PublicGroups = [][]string{{"z", "b", "x"}}
	res := run(t, p, tables, params)
	want := exactGroups(tables["t"])["b"]
	// z and x have no unit, below the minimum group size (1): their rows
	// are released with their aggregates withheld.
	require.Equal(t, [][]string{{"z", "", ""}, {"b", "20", strconv.FormatInt(want.sumW, 10)}, {"x", "", ""}}, res.Rows)
	require.Equal(t, 0.0, res.Selection.Delta)
	require.Equal(t, 2, res.Suppressed)

	params.MinGroupSize = 25
	params.PublicGroups = [][]string{{"a", "b"}}
	res = run(t, p, tables, params)
	require.Equal(t, "40", res.Rows[0][1], "a has 30 units")
	require.Equal(t, []string{"b", "", ""}, res.Rows[1], "b has 20 units, fewer than 25: its aggregates are withheld")
	require.Nil(t, res.Intervals[1][1])
	require.NotNil(t, res.Intervals[0][1])

	// Two columns: the combinations, the first column varying slowest.
	p = sqlPlan(t, "SELECT g, ok, COUNT(*) FROM t GROUP BY g, ok", tables)
	params.MinGroupSize = 1
	params.PublicGroups = [][]string{{"a", "b"}, {"true", "false"}}
	res = run(t, p, tables, params)
	var keys []string
	for _, r := range res.Rows {
		keys = append(keys, r[0]+"/"+r[1])
	}
	require.Equal(t, []string{"a/true", "a/false", "b/true", "b/false"}, keys)

	// A value the column cannot hold is released, with nothing in it.
	p = sqlPlan(t, "SELECT v, COUNT(*) FROM t GROUP BY v", tables)
	params.PublicGroups = [][]string{{"-50", "9999", "seven"}}
	res = run(t, p, tables, params)
	require.Equal(t, [][]string{{"-50", "1"}, {"9999", ""}, {"seven", ""}}, res.Rows)
}
