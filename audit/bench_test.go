package audit_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// buildLog writes a ledger of about n entries as a node would: a genesis,
// parties, a scenario, a dataset, an approved letter, then n signed
// queries, each decided by policy.Evaluate on the state as it stands and
// logged with its decision (a mix of allowed queries, dry runs and
// denials). It returns the directory and the node's key.
func buildLog(tb testing.TB, n int) (string, string) {
	signer := func(name string) (note.Signer, string) {
		s, v, err := keys.New(name)
		if err != nil {
			tb.Fatal(err)
		}
		return s, v
	}
	nodeS, nodeV := signer("node")
	auth, authV := signer("authority")
	bank, bankV := signer("bank")
	dir := filepath.Join(tb.TempDir(), "ledger")
	l, err := ledger.Open(dir, nodeS, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	st := state.New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var last *ledger.Pending
	add := func(e *state.Entry, c *statement.Checked) {
		b, err := e.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		p, err := l.Add(b)
		if err != nil {
			tb.Fatal(err)
		}
		if c != nil {
			st.Prime(p.Index, c)
		}
		if err := st.Apply(p.Index, e); err != nil {
			tb.Fatalf("entry %d: %v", p.Index, err)
		}
		last = p
	}
	stmt := func(kind statement.Kind, body any, ss ...note.Signer) *state.Entry {
		msg, err := statement.NewAt(t0, kind, body, ss...)
		if err != nil {
			tb.Fatal(err)
		}
		return &state.Entry{Kind: state.KindStatement, Time: t0, Statement: string(msg)}
	}
	add(&state.Entry{Kind: state.KindGenesis, Time: t0, Genesis: &state.Genesis{Origin: "bench", NodeKey: nodeV, AuthorityKey: authV}}, nil)
	add(stmt(statement.KindParty, policy.Party{Name: "authority", Kind: policy.PublicBody, Jurisdiction: "CN", Key: authV}, auth), nil)
	add(stmt(statement.KindParty, policy.Party{Name: "bank", Kind: policy.Enterprise, Jurisdiction: "CN", Key: bankV}, auth, bank), nil)
	add(stmt(statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S", Text: "t"}, Status: policy.ScenarioApproved}, auth), nil)
	lo, hi := int64(0), int64(1_000_000)
	sch := schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "industry", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: &lo, Max: &hi}}}
	add(stmt(statement.KindDataset, policy.Dataset{Name: "loans", Holder: "bank", Source: "s", Declaration: &policy.SourceDeclaration{Origin: "the loan book", LegalBasis: "own data", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"}, Schema: sch, Sharing: policy.ShareUnconditional,
		Opening: policy.OpenUnconditional, Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1}, bank), nil)
	letter := policy.Letter{ID: "L-1", Applicant: "bank", Scenario: policy.Scenario{ID: "S", Text: "t"}, Purposes: []string{"p"}, Safeguards: []string{"s"},
		NotBefore: t0, NotAfter: t0.AddDate(10, 0, 0), MinGroupSize: 10, MaxGroupsPerUnit: 1, Prohibitions: policy.Prohibitions,
		Datasets: []policy.LetterDataset{{Name: "loans", Epsilon: 1_000_000_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{
			{Column: "industry", Uses: []policy.Use{query.UseGroupBy}},
			{Column: "amount", Uses: []policy.Use{query.UseAggregate}, Funcs: []query.Func{query.Sum, query.Avg}}}}}}
	le := stmt(statement.KindLetter, &letter, bank)
	add(le, nil)
	add(stmt(statement.KindApproval, policy.Approval{Letter: "L-1", LetterSHA256: statement.Hash([]byte(le.Statement))}, auth), nil)

	sqls := []string{
		"SELECT industry, AVG(amount) FROM loans GROUP BY industry",
		"SELECT industry, SUM(amount), COUNT(*) FROM loans GROUP BY industry",
		"SELECT * FROM loans",
		"SELECT amount FROM loans",
	}
	cat := query.CatalogFunc(func(name string) (*schema.Schema, bool) {
		if name == "loans" {
			return &sch, true
		}
		return nil, false
	})
	plans := make([]*query.Plan, len(sqls))
	for i, q := range sqls {
		if plans[i], err = query.Compile(q, cat); err != nil {
			tb.Fatal(err)
		}
	}
	// Sign and check the queries in parallel; decide and log them in order.
	type signed struct {
		req policy.Request
		raw string
		c   *statement.Checked
	}
	keysKnown := note.VerifierList(mustVerifier(tb, authV), mustVerifier(tb, bankV))
	out := make([]signed, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				req := policy.Request{SQL: sqls[i%len(sqls)], Letter: "L-1", Epsilon: "0.000001", Nonce: fmt.Sprintf("nonce-%016d", i),
					Time: t0.Add(time.Duration(i) * time.Millisecond), DryRun: i%5 == 0}
				msg, err := statement.NewAt(req.Time, statement.KindQuery, req, bank)
				if err != nil {
					panic(err)
				}
				c, err := statement.Check(msg, keysKnown)
				if err != nil {
					panic(err)
				}
				out[i] = signed{req, string(msg), c}
			}
		}()
	}
	wg.Wait()
	for i, s := range out {
		d := policy.Evaluate(st.Snapshot(), policy.Input{Requester: "bank", Request: s.req, Plan: plans[i%len(sqls)], Time: s.req.Time})
		add(&state.Entry{Kind: state.KindDecision, Time: s.req.Time, Statement: s.raw, Decision: &state.Decided{Decision: *d}}, s.c)
	}
	if err := last.Wait(); err != nil {
		tb.Fatal(err)
	}
	return dir, nodeV
}

func mustVerifier(tb testing.TB, vkey string) note.Verifier {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// BenchmarkVerifyReplay verifies and replays a ledger of
// CLEANROOM_AUDIT_ENTRIES query decisions (default 100,000; the issue's
// figure is for 1,000,000): tree and checkpoint, every signature, every
// decision decided again, every budget debit.
func BenchmarkVerifyReplay(b *testing.B) {
	n := 100_000
	if s := os.Getenv("CLEANROOM_AUDIT_ENTRIES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	dir, key := buildLog(b, n)
	b.ResetTimer()
	for b.Loop() {
		rep, err := audit.Verify(dir, key)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Allowed == 0 || len(rep.Denied) == 0 {
			b.Fatalf("the log holds %d allowed and %v denied decisions", rep.Allowed, rep.Denied)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// TestReplayOfAGeneratedLog is the benchmark's log at a small size, so
// that the generator is checked by make test.
func TestReplayOfAGeneratedLog(t *testing.T) {
	dir, key := buildLog(t, 2000)
	rep, err := audit.Verify(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Allowed == 0 || rep.Denied[policy.CodeRowLevel] == 0 {
		t.Fatalf("report %+v", rep)
	}
}
