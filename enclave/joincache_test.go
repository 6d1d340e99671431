package enclave

import (
	"context"
	"reflect"
	"testing"

	"github.com/xjdata/cleanroom/query"
)

// TestJoinCache checks that the joined rows of an unfiltered join are
// kept on the first table's cache and reused, that a filtered query or
// another table's rows never take a stale entry, that the cache keeps
// at most maxCachedJoins joins, and that wiping clears them.
func TestJoinCache(t *testing.T) {
	tables := testTables()
	cached := map[string]*Table{}
	for name, tab := range tables {
		cached[name] = Cached(*tab)
	}
	byIndustry := &query.Plan{
		Tables:  []query.Table{{Name: "loans"}, {Name: "registry"}},
		Joins:   []query.Join{{Left: lUscc, Right: rUscc}},
		GroupBy: []query.Column{rIndustry},
		Outputs: append([]query.Output{{Name: "industry", Column: ptr(rIndustry)}}, aggOutputs()...),
	}
	filtered := *byIndustry
	filtered.Filters = []query.Filter{{Column: lAmount, Op: query.OpLT, Value: query.Value{Int: 300}}}
	kwh := qc("electricity", "kwh", "int")
	threeWay := &query.Plan{
		Tables: []query.Table{{Name: "loans"}, {Name: "registry"}, {Name: "electricity"}},
		Joins: []query.Join{
			{Left: lUscc, Right: rUscc},
			{Left: rUscc, Right: qc("electricity", "uscc", "string")},
		},
		Outputs: []query.Output{{Name: "n", Func: query.Count}, {Name: "kwh", Func: query.Sum, Column: ptr(kwh)}},
	}
	same := func(p *query.Plan, tabs map[string]*Table) {
		t.Helper()
		want, err := Execute(context.Background(), p, tables, noNoise)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Execute(context.Background(), p, tabs, noNoise)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Rows, want.Rows) {
			t.Fatalf("with the join cache: %v, want %v", got.Rows, want.Rows)
		}
	}
	joins := func() []*joinEntry {
		tc := cached["loans"].cache
		tc.mu.Lock()
		defer tc.mu.Unlock()
		return append([]*joinEntry(nil), tc.joins...)
	}

	same(byIndustry, cached)
	first := joins()
	if len(first) != 1 {
		t.Fatalf("%d cached joins after one query, want 1", len(first))
	}
	same(byIndustry, cached)
	same(&filtered, cached)
	if j := joins(); len(j) != 1 || j[0] != first[0] {
		t.Fatalf("the same join again, then a filtered one: %d entries (first reused: %v), want the first alone", len(j), len(j) > 0 && j[0] == first[0])
	}
	same(threeWay, cached)
	if j := joins(); len(j) != 2 {
		t.Fatalf("%d cached joins after a second join, want 2", len(j))
	}

	// Other rows for registry, in another order: the entry for the old
	// registry must not serve them.
	moved := mkTable("registry", registrySchema, 0, 1,
		"D,F,2001-01-01,100",
		"C,F,2020-12-31,2000",
		"B,C,2015-06-30,500",
		"A,C,2010-01-01,1000",
	)
	tables["registry"] = moved
	cached["registry"] = Cached(*moved)
	same(byIndustry, cached)
	if j := joins(); len(j) != 3 {
		t.Fatalf("%d cached joins after new registry rows, want 3", len(j))
	}

	// At most maxCachedJoins, the most recently used last.
	for range maxCachedJoins {
		cached["registry"] = Cached(*moved)
		same(byIndustry, cached)
	}
	j := joins()
	if len(j) != maxCachedJoins {
		t.Fatalf("%d cached joins, want at most %d", len(j), maxCachedJoins)
	}
	if j[len(j)-1].steps[0].right != cached["registry"].cache {
		t.Fatal("the most recent join is not the last entry")
	}

	rows := j[0].rows
	cached["loans"].cache.wipe()
	if len(joins()) != 0 {
		t.Fatal("wipe left cached joins")
	}
	for _, r := range rows {
		for _, v := range r {
			if v != 0 {
				t.Fatal("wipe left joined rows")
			}
		}
	}
}

// TestJoinRows checks the joined rows of a join where every row so far
// matches one row (kept as they are, shared) and of joins where some
// match none or several (written out).
func TestJoinRows(t *testing.T) {
	tables := testTables()
	plan := func(filters ...query.Filter) *exec {
		p := &query.Plan{
			Tables:  []query.Table{{Name: "loans"}, {Name: "registry"}, {Name: "electricity"}},
			Joins:   []query.Join{{Left: lUscc, Right: rUscc}, {Left: rUscc, Right: qc("electricity", "uscc", "string")}},
			Filters: filters,
			Outputs: []query.Output{{Name: "n", Func: query.Count}},
		}
		e, err := resolve(p, tables, noNoise, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		name     string
		e        *exec
		sels     [][]int32
		registry []int32 // after the first join
		rows     [][]int32
	}{{
		// L1, L2, L3 (A), L7 (B): one registry row each.
		name:     "every loan matches once",
		e:        plan(),
		sels:     [][]int32{{0, 1, 2, 6}, nil, nil},
		registry: []int32{0, 0, 0, 1},
		rows:     [][]int32{{0, 0, 1, 1, 2, 2, 6, 6}, {0, 0, 0, 0, 0, 0, 1, 1}, {0, 1, 0, 1, 0, 1, 2, 5}},
	}, {
		name:     "L6 matches no registry row",
		e:        plan(),
		sels:     [][]int32{nil, nil, nil},
		registry: []int32{0, 0, 0, 1, 2, 1},
		rows: [][]int32{
			{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 6, 6},
			{0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 1, 1},
			{0, 1, 0, 1, 0, 1, 2, 5, 3, 4, 2, 5},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			rows := make([][]int32, 3)
			rows[0] = tc.sels[0]
			if rows[0] == nil {
				rows[0] = allRows(tables["loans"].Rows.Len)
			}
			first, err := tc.e.join(context.Background(), rows, tc.sels, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(first[1], tc.registry) {
				t.Errorf("registry rows %v, want %v", first[1], tc.registry)
			}
			if shared := &first[0][0] == &rows[0][0]; shared != (len(first[1]) == len(rows[0])) {
				t.Errorf("loan rows shared: %v, for %d joined rows of %d", shared, len(first[1]), len(rows[0]))
			}
			got, err := tc.e.joinAll(context.Background(), tc.sels)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.rows) {
				t.Errorf("joined rows %v, want %v", got, tc.rows)
			}
		})
	}
}
