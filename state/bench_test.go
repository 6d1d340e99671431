package state_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// bigState is a state with 1,000 datasets of 50 columns and 10,000
// approved letters, built through signed statements as the node builds it.
type bigState struct {
	st   *state.State
	plan *query.Plan
	req  policy.Request
}

var (
	bigOnce sync.Once
	big     *bigState
)

func buildBig(tb testing.TB) *bigState {
	bigOnce.Do(func() { big = newBig(tb) })
	return big
}

func newBig(tb testing.TB) *bigState {
	signer := func(name string) (note.Signer, string) {
		s, v, err := keys.New(name)
		if err != nil {
			tb.Fatal(err)
		}
		return s, v
	}
	auth, avkey := signer("authority")
	_, nvkey := signer("node")
	st := state.New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	i := uint64(0)
	apply := func(e *state.Entry) {
		if err := st.Apply(i, e); err != nil {
			tb.Fatalf("entry %d: %v", i, err)
		}
		i++
	}
	stmt := func(kind statement.Kind, body any, ss ...note.Signer) *state.Entry {
		msg, err := statement.NewAt(t0, kind, body, ss...)
		if err != nil {
			tb.Fatal(err)
		}
		return &state.Entry{Kind: state.KindStatement, Time: t0, Statement: string(msg)}
	}
	apply(&state.Entry{Kind: state.KindGenesis, Time: t0, Genesis: &state.Genesis{Origin: "bench", NodeKey: nvkey, AuthorityKey: avkey}})
	apply(stmt(statement.KindParty, policy.Party{Name: "authority", Kind: policy.PublicBody, Jurisdiction: "CN", Key: avkey}, auth))
	const providers = 10
	holders := make([]note.Signer, providers)
	for p := range providers {
		s, v := signer(fmt.Sprintf("provider-%d", p))
		holders[p] = s
		apply(stmt(statement.KindParty, policy.Party{Name: s.Name(), Kind: policy.PublicBody, Jurisdiction: "CN", Key: v}, auth, s))
	}
	bank, bv := signer("bank")
	apply(stmt(statement.KindParty, policy.Party{Name: "bank", Kind: policy.Enterprise, Jurisdiction: "CN", Key: bv}, auth, bank))
	apply(stmt(statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S", Text: "t"}, Status: policy.ScenarioApproved}, auth))

	one := func(v int64) *int64 { return &v }
	var sch schema.Schema
	sch.Columns = append(sch.Columns, schema.Column{Name: "uscc", Type: schema.String})
	for c := 1; c < 50; c++ {
		if c%2 == 0 {
			sch.Columns = append(sch.Columns, schema.Column{Name: fmt.Sprintf("c%02d", c), Type: schema.String})
		} else {
			sch.Columns = append(sch.Columns, schema.Column{Name: fmt.Sprintf("c%02d", c), Type: schema.Int, Min: one(0), Max: one(1000)})
		}
	}
	const datasets = 1000
	for d := range datasets {
		apply(stmt(statement.KindDataset, policy.Dataset{Name: fmt.Sprintf("d%04d", d), Holder: holders[d%providers].Name(), Source: "s", Declaration: &policy.SourceDeclaration{Origin: "o", LegalBasis: "b", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"},
			Schema: sch, Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1}, holders[d%providers]))
	}
	// The letters are valid from t0.
	const letters = 10_000
	for l := range letters {
		var lds []policy.LetterDataset
		signers := []note.Signer{bank}
		for k := range 3 {
			d := (l*7 + k*131) % datasets
			lds = append(lds, policy.LetterDataset{Name: fmt.Sprintf("d%04d", d), Epsilon: 10_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{
				{Column: "uscc", Uses: []policy.Use{query.UseJoinKey}},
				{Column: "c02", Uses: []policy.Use{query.UseGroupBy, query.UseFilter}},
				{Column: "c03", Uses: []policy.Use{query.UseAggregate}, Funcs: []query.Func{query.Sum, query.Avg}},
			}})
			if h := holders[d%providers]; !slices.Contains(signers, h) {
				signers = append(signers, h)
			}
		}
		letter := policy.Letter{ID: fmt.Sprintf("L-%05d", l), Applicant: "bank", Scenario: policy.Scenario{ID: "S", Text: "t"},
			Purposes: []string{"p"}, Safeguards: []string{"s"}, NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0),
			MinGroupSize: 10, MaxGroupsPerUnit: 1, Datasets: lds, Prohibitions: policy.Prohibitions}
		e := stmt(statement.KindLetter, &letter, signers...)
		apply(e)
		apply(stmt(statement.KindApproval, policy.Approval{Letter: letter.ID, LetterSHA256: statement.Hash([]byte(e.Statement))}, auth))
	}
	// The query: letter L-04242's first two datasets, joined.
	snap := st.Snapshot()
	ls, _ := snap.Letter("L-04242")
	a, b := ls.Letter.Datasets[0].Name, ls.Letter.Datasets[1].Name
	sql := fmt.Sprintf("SELECT x.c02, SUM(y.c03) FROM %s x JOIN %s y ON x.uscc = y.uscc WHERE x.c02 = 'a' GROUP BY x.c02", a, b)
	plan, err := query.Compile(sql, query.CatalogFunc(func(n string) (*schema.Schema, bool) {
		d, ok := snap.Dataset(n)
		if !ok {
			return nil, false
		}
		return &d.Schema, true
	}))
	if err != nil {
		tb.Fatal(err)
	}
	return &bigState{st: st, plan: plan, req: policy.Request{SQL: sql, Letter: "L-04242", Epsilon: "0.01"}}
}

// BenchmarkEvaluate decides one query against 10,000 letters and 1,000
// datasets of 50 columns, as the node does for every query: a snapshot,
// then Evaluate. The statement's own signature check happens once at the
// API, outside this figure. It reports the median and the 99th percentile.
func BenchmarkEvaluate(b *testing.B) {
	bs := buildBig(b)
	in := policy.Input{Requester: "bank", Request: bs.req, Plan: bs.plan, Time: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	if d := policy.Evaluate(bs.st.Snapshot(), in); !d.Allow {
		b.Fatalf("the benchmark query is denied: %s", d)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		policy.Evaluate(bs.st.Snapshot(), in)
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds())/1e3, "p99-µs")
}
