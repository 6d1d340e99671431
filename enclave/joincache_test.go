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
