package audit_test

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// script writes a ledger entry by entry as a node would: each entry is
// applied to a state before it is logged, and each query is decided by
// policy.Evaluate on the state as it stands.
type script struct {
	tb    testing.TB
	l     *ledger.Log
	st    *state.State
	last  *ledger.Pending
	keys  map[string]note.Signer
	vkeys map[string]string
	nonce int
}

func newScript(tb testing.TB, dir string, t0 time.Time) (*script, string) {
	s := &script{tb: tb, st: state.New(), keys: map[string]note.Signer{}, vkeys: map[string]string{}}
	nodeS, nodeV := s.key("node")
	l, err := ledger.Open(dir, nodeS, "usage-test")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	s.l = l
	_, authV := s.key("authority")
	s.add(&state.Entry{Kind: state.KindGenesis, Time: t0, Genesis: &state.Genesis{Origin: "usage-test", NodeKey: nodeV, AuthorityKey: authV}})
	return s, nodeV
}

func (s *script) key(name string) (note.Signer, string) {
	sk, vk, err := keys.New(name)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.keys[name], s.vkeys[name] = sk, vk
	return sk, vk
}

func (s *script) add(e *state.Entry) uint64 {
	s.tb.Helper()
	b, err := e.Encode()
	if err != nil {
		s.tb.Fatal(err)
	}
	p, err := s.l.Add(b)
	if err != nil {
		s.tb.Fatal(err)
	}
	if err := s.st.Apply(p.Index, e); err != nil {
		s.tb.Fatalf("entry %d: %v", p.Index, err)
	}
	s.last = p
	return p.Index
}

func (s *script) signers(names []string) []note.Signer {
	var out []note.Signer
	for _, n := range names {
		out = append(out, s.keys[n])
	}
	return out
}

func (s *script) stmt(at time.Time, kind statement.Kind, body any, signers ...string) *state.Entry {
	s.tb.Helper()
	msg, err := statement.NewAt(at, kind, body, s.signers(signers)...)
	if err != nil {
		s.tb.Fatal(err)
	}
	return &state.Entry{Kind: state.KindStatement, Time: at, Statement: string(msg)}
}

func (s *script) party(at time.Time, name string, kind policy.PartyKind) {
	s.tb.Helper()
	if _, ok := s.keys[name]; !ok {
		s.key(name)
	}
	signers := []string{"authority"}
	if name != "authority" {
		signers = append(signers, name)
	}
	s.add(s.stmt(at, statement.KindParty, policy.Party{Name: name, Kind: kind, Jurisdiction: "CN", Key: s.vkeys[name]}, signers...))
}

// letter submits and approves a letter signed by the given parties.
func (s *script) letter(at time.Time, l policy.Letter, signers ...string) {
	s.tb.Helper()
	le := s.stmt(at, statement.KindLetter, &l, signers...)
	s.add(le)
	s.add(s.stmt(at, statement.KindApproval, policy.Approval{Letter: l.ID, LetterSHA256: statement.Hash([]byte(le.Statement))}, "authority"))
}

// query decides and logs a query signed by who at time at, and checks the
// decision: "allow", or the sorted distinct reason codes joined by ",".
func (s *script) query(at time.Time, who string, req policy.Request, want string) (uint64, *policy.Decision) {
	s.tb.Helper()
	s.nonce++
	req.Nonce, req.Time = fmt.Sprintf("usage-nonce-%08d", s.nonce), at
	msg, err := statement.NewAt(at, statement.KindQuery, req, s.keys[who])
	if err != nil {
		s.tb.Fatal(err)
	}
	snap := s.st.Snapshot()
	var d *policy.Decision
	plan, err := query.Compile(req.SQL, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
		if ds, ok := snap.Dataset(name); ok {
			return &ds.Schema, true
		}
		return nil, false
	}))
	if err != nil {
		d = policy.Invalid(err)
	} else {
		d = policy.Evaluate(snap, policy.Input{Requester: who, Request: req, Plan: plan, Time: at})
	}
	got := "allow"
	if !d.Allow {
		var codes []string
		for _, r := range d.Reasons {
			if !slices.Contains(codes, r.Code) {
				codes = append(codes, r.Code)
			}
		}
		slices.Sort(codes)
		got = strings.Join(codes, ",")
	}
	if got != want {
		s.tb.Fatalf("query %q at %s: decision %s, the script expects %s (%v)", req.SQL, at, got, want, d)
	}
	i := s.add(&state.Entry{Kind: state.KindDecision, Time: at, Statement: string(msg), Decision: &state.Decided{Decision: *d}})
	return i, d
}

func (s *script) release(at time.Time, decision uint64, recipient string, rows int) {
	s.tb.Helper()
	s.add(&state.Entry{Kind: state.KindRelease, Time: at, Release: &state.Release{Decision: decision, Recipient: recipient,
		ResultSHA256: strings.Repeat("ab", 32), Rows: rows}})
}

func (s *script) wait() {
	if err := s.last.Wait(); err != nil {
		s.tb.Fatal(err)
	}
}

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return day0.AddDate(0, 0, n) }

func eps(s string) dp.Epsilon {
	e, err := dp.ParseEpsilon(s)
	if err != nil {
		panic(err)
	}
	return e
}

// buildUsageLog writes a ledger with two datasets, three letters of two
// applicants under two scenarios, HE mode on one dataset, and a known
// sequence of queries and releases (the comments give each one's
// outcome). It returns the ledger's directory and the node's key.
func buildUsageLog(tb testing.TB) (string, string) {
	dir := filepath.Join(tb.TempDir(), "ledger")
	s, nodeV := newScript(tb, dir, day0)
	s.party(day0, "authority", policy.PublicBody)
	s.party(day0, "bank", policy.Enterprise)
	s.party(day0, "tax", policy.PublicBody)
	s.party(day0, "insurer", policy.Enterprise)
	s.add(s.stmt(day0, statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S1", Text: "credit scoring"}, Status: policy.ScenarioApproved}, "authority"))
	s.add(s.stmt(day0, statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S2", Text: "risk pricing"}, Status: policy.ScenarioApproved}, "authority"))

	decl := &policy.SourceDeclaration{Origin: "books", LegalBasis: "own data", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"}
	lo, hi, hiPaid := int64(0), int64(1_000_000), int64(100)
	s.add(s.stmt(day0, statement.KindDataset, policy.Dataset{Name: "loans", Holder: "bank", Source: "loan office", Declaration: decl,
		Schema: schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "industry", Type: schema.String},
			{Name: "amount", Type: schema.Int, Min: &lo, Max: &hi}}},
		Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1}, "bank"))
	s.add(s.stmt(day0, statement.KindDataset, policy.Dataset{Name: "taxes", Holder: "tax", Source: "tax bureau", Declaration: decl,
		Schema: schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "region", Type: schema.String},
			{Name: "paid", Type: schema.Int, Min: &lo, Max: &hiPaid}}},
		Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1}, "tax"))

	// HE mode, with the tax bureau as the only provider, and an HE upload
	// of taxes.
	hash := strings.Repeat("ab", 32)
	s.add(s.stmt(day0, statement.KindAgent, policy.Agent{Party: "tax", URL: "https://127.0.0.1:7001", Pin: hash, Recipient: "age1xyz"}, "tax"))
	s.add(s.stmt(day0, statement.KindHESetup, policy.HESetup{ID: "H1", Providers: []string{"tax"}, Seed: strings.Repeat("01", 32), PlaintextModulus: 65537}, "authority"))
	share := s.stmt(day0, statement.KindHEShare, policy.HEShare{Setup: "H1", Party: "tax", ShareSHA256: hash, FingerprintSHA256: hash}, "tax").Statement
	s.add(&state.Entry{Kind: state.KindHEKey, Time: day0, HEKey: &state.HEKeyEntry{Setup: "H1", KeySHA256: hash, PlaintextModulus: 65537, Shares: []string{share}}})
	up := s.stmt(day0, statement.KindUpload, policy.Upload{Dataset: "taxes", UploadID: strings.Repeat("0", 32), File: "t.csv", Rows: 10, PlaintextSHA256: hash,
		HE: &policy.HEUpload{KeySHA256: hash, Columns: map[string]policy.Treatment{"uscc": policy.Fingerprint, "region": policy.Clear, "paid": policy.Encrypted}}}, "tax")
	up.Upload = &state.Receipt{CiphertextSHA256: hash, CiphertextBytes: 1, PlaintextBytes: 1}
	s.add(up)

	loansRules := []policy.ColumnRule{
		{Column: "industry", Uses: []policy.Use{query.UseGroupBy}},
		{Column: "amount", Uses: []policy.Use{query.UseAggregate}, Funcs: []query.Func{query.Sum, query.Avg}}}
	base := policy.Letter{Purposes: []string{"p"}, Safeguards: []string{"s"}, NotBefore: day0, NotAfter: day(365),
		MinGroupSize: 10, MaxGroupsPerUnit: 1, Prohibitions: policy.Prohibitions}
	l1 := base
	l1.ID, l1.Applicant, l1.Scenario, l1.Recipients = "L-1", "insurer", policy.Scenario{ID: "S1", Text: "credit scoring"}, []string{"bank"}
	l1.Datasets = []policy.LetterDataset{{Name: "loans", Epsilon: eps("3"), Delta: 1e-6, Columns: loansRules}}
	s.letter(day0, l1, "insurer", "bank")
	l2 := base
	l2.ID, l2.Applicant, l2.Scenario = "L-2", "insurer", policy.Scenario{ID: "S2", Text: "risk pricing"}
	l2.Datasets = []policy.LetterDataset{{Name: "loans", Epsilon: eps("2"), Delta: 1e-6, Columns: loansRules},
		{Name: "taxes", Epsilon: eps("10"), Delta: 1e-6, Columns: []policy.ColumnRule{
			{Column: "region", Uses: []policy.Use{query.UseGroupBy}},
			{Column: "paid", Uses: []policy.Use{query.UseAggregate}, Funcs: []query.Func{query.Sum}}}}}
	s.letter(day0, l2, "insurer", "bank", "tax")
	l3 := base
	l3.ID, l3.Applicant, l3.Scenario, l3.NotAfter = "L-3", "bank", policy.Scenario{ID: "S1", Text: "credit scoring"}, day(8)
	l3.Datasets = []policy.LetterDataset{{Name: "loans", Epsilon: eps("1"), Delta: 1e-6, Columns: loansRules[:1]}}
	s.letter(day0, l3, "bank")

	avg := "SELECT industry, AVG(amount) FROM loans GROUP BY industry" // 2 shares
	q := func(letter, sql, e string) policy.Request {
		return policy.Request{SQL: sql, Letter: letter, Epsilon: e}
	}

	// #1 day 1: allowed, 1.0 on loans, released to insurer.
	i, _ := s.query(day(1), "insurer", q("L-1", avg, "0.5"), "allow")
	s.release(day(1), i, "insurer", 4)
	// #2 day 2: allowed, 0.5 on loans, released to bank.
	r := q("L-1", avg, "0.25")
	r.Recipient = "bank"
	i, _ = s.query(day(2), "insurer", r, "allow")
	s.release(day(2), i, "bank", 3)
	// #3 day 3: an allowed dry run: nothing spent.
	r = q("L-1", avg, "0.5")
	r.DryRun = true
	s.query(day(3), "insurer", r, "allow")
	// #4 day 4: row-level output.
	s.query(day(4), "insurer", q("L-1", "SELECT * FROM loans", "0.1"), policy.CodeRowLevel)
	// #5 day 5: taxes is not in L-1.
	s.query(day(5), "insurer", q("L-1", "SELECT region, SUM(paid) FROM taxes GROUP BY region", "0.1"),
		policy.CodeDatasetScope)
	// #6 day 10: costs 2, 1.5 left.
	s.query(day(10), "insurer", q("L-1", avg, "1"), policy.CodeBudget)
	// #7 day 11: does not compile: no dataset.
	s.query(day(11), "insurer", q("L-1", "SELEC nonsense", "0.1"), policy.CodeInvalidQuery)
	// #8 day 12: L-2, allowed, 1.0 on loans, released to insurer.
	i, _ = s.query(day(12), "insurer", q("L-2", "SELECT industry, SUM(amount) FROM loans GROUP BY industry", "0.5"), "allow")
	s.release(day(12), i, "insurer", 5)
	// #9 day 13: L-2, HE mode on taxes, 1.0, its encrypted result, then
	// its release to insurer.
	r = q("L-2", "SELECT region, SUM(paid) FROM taxes GROUP BY region", "0.5")
	r.Mode, r.ResultKey = policy.ModeHE, hash
	i, d := s.query(day(13), "insurer", r, "allow")
	if d.Params.Mode != policy.ModeHE {
		tb.Fatalf("decision %d is not of HE mode: %+v", i, d.Params)
	}
	s.add(&state.Entry{Kind: state.KindHEResult, Time: day(13), HEResult: &state.HEResult{Decision: i, Groups: 2, Ciphers: []string{hash}, ResultKey: hash}})
	s.release(day(13), i, "insurer", 2)
	// #10 day 14: L-3 has expired, and SUM(amount) is two column-use
	// denials of one code (counted once).
	s.query(day(14), "bank", q("L-3", "SELECT industry, SUM(amount), AVG(amount) FROM loans GROUP BY industry", "0.1"),
		policy.CodeColumnNotInLetter+","+policy.CodeLetterNotInForce)
	// #11 day 15: no such letter: counted under the signer.
	s.query(day(15), "insurer", q("L-9", avg, "0.1"), policy.CodeUnknownLetter)
	// #12 day 16: a denied dry run.
	r = q("L-1", "SELECT * FROM loans", "0.1")
	r.DryRun = true
	s.query(day(16), "insurer", r, policy.CodeRowLevel)
	// #13 day 20: allowed, 0.5 on loans, released to insurer.
	i, _ = s.query(day(20), "insurer", q("L-1", avg, "0.25"), "allow")
	s.release(day(20), i, "insurer", 4)
	s.wait()
	return dir, nodeV
}

// entriesOf reads a ledger directory's verified entries.
func entriesOf(tb testing.TB, dir, nodeKey string) [][]byte {
	var out [][]byte
	if _, err := ledger.Verify(dir, mustVerifier(tb, nodeKey), func(_ uint64, e []byte) error {
		out = append(out, bytes.Clone(e))
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

func seqOf(entries [][]byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// counts builds the expected counts; maps are never nil in a report.
func counts(c audit.UsageCounts) audit.UsageCounts {
	if c.DeniedBy == nil {
		c.DeniedBy = map[string]int{}
	}
	if c.Recipients == nil {
		c.Recipients = map[string]int{}
	}
	return c
}

func checkDataset(t *testing.T, rep *audit.UsageReport, name, holder, source string, total audit.UsageCounts, want ...audit.ApplicantUsage) {
	t.Helper()
	du, ok := rep.Dataset(name)
	if !ok {
		t.Fatalf("no dataset %s in the report", name)
	}
	if du.Holder != holder || du.Source != source {
		t.Errorf("%s: holder %q source %q, want %q %q", name, du.Holder, du.Source, holder, source)
	}
	if !reflect.DeepEqual(du.Total, counts(total)) {
		t.Errorf("%s: total\n got %+v\nwant %+v", name, du.Total, counts(total))
	}
	for i := range want {
		want[i].UsageCounts = counts(want[i].UsageCounts)
	}
	if !reflect.DeepEqual(du.Applicants, want) {
		t.Errorf("%s: applicants\n got %+v\nwant %+v", name, du.Applicants, want)
	}
}

func TestUsageWholeLedger(t *testing.T) {
	dir, key := buildUsageLog(t)
	rep, err := audit.UsageFromDir(dir, key, audit.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Origin != "usage-test" || len(rep.RootHash) != 32 || rep.Unattributed != 1 {
		t.Errorf("origin %q, root %x, unattributed %d", rep.Origin, rep.RootHash, rep.Unattributed)
	}
	if len(rep.Datasets) != 2 || rep.Datasets[0].Dataset != "loans" || rep.Datasets[1].Dataset != "taxes" {
		t.Fatalf("datasets %+v", rep.Datasets)
	}
	checkDataset(t, rep, "loans", "bank", "loan office",
		audit.UsageCounts{Allowed: 4, DryRuns: 1, Denied: 5, DeniedDryRuns: 1,
			DeniedBy: map[string]int{policy.CodeRowLevel: 2, policy.CodeBudget: 1, policy.CodeLetterNotInForce: 1, policy.CodeColumnNotInLetter: 1, policy.CodeUnknownLetter: 1},
			Spent:    eps("3"), Releases: 4, ResultRows: 16, Recipients: map[string]int{"insurer": 3, "bank": 1}},
		audit.ApplicantUsage{Applicant: "bank", Scenario: "S1",
			Letters:     []audit.LetterUsage{{Letter: "L-3", Covers: true, Budget: eps("1"), Left: eps("1")}},
			UsageCounts: audit.UsageCounts{Denied: 1, DeniedBy: map[string]int{policy.CodeLetterNotInForce: 1, policy.CodeColumnNotInLetter: 1}}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "",
			Letters:     []audit.LetterUsage{{Letter: "L-9"}},
			UsageCounts: audit.UsageCounts{Denied: 1, DeniedBy: map[string]int{policy.CodeUnknownLetter: 1}}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "S1",
			Letters: []audit.LetterUsage{{Letter: "L-1", Covers: true, Budget: eps("3"), Spent: eps("2"), Left: eps("1")}},
			UsageCounts: audit.UsageCounts{Allowed: 3, DryRuns: 1, Denied: 3, DeniedDryRuns: 1,
				DeniedBy: map[string]int{policy.CodeRowLevel: 2, policy.CodeBudget: 1},
				Spent:    eps("2"), Releases: 3, ResultRows: 11, Recipients: map[string]int{"insurer": 2, "bank": 1}}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "S2",
			Letters:     []audit.LetterUsage{{Letter: "L-2", Covers: true, Budget: eps("2"), Spent: eps("1"), Left: eps("1")}},
			UsageCounts: audit.UsageCounts{Allowed: 1, Spent: eps("1"), Releases: 1, ResultRows: 5, Recipients: map[string]int{"insurer": 1}}},
	)
	checkDataset(t, rep, "taxes", "tax", "tax bureau",
		audit.UsageCounts{Allowed: 1, Denied: 1, DeniedBy: map[string]int{policy.CodeDatasetScope: 1},
			Spent: eps("1"), Releases: 1, HEReleases: 1, ResultRows: 2, Recipients: map[string]int{"insurer": 1}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "S1",
			Letters:     []audit.LetterUsage{{Letter: "L-1"}},
			UsageCounts: audit.UsageCounts{Denied: 1, DeniedBy: map[string]int{policy.CodeDatasetScope: 1}}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "S2",
			Letters: []audit.LetterUsage{{Letter: "L-2", Covers: true, Budget: eps("10"), Spent: eps("1"), Left: eps("9")}},
			UsageCounts: audit.UsageCounts{Allowed: 1, Spent: eps("1"), Releases: 1, HEReleases: 1, ResultRows: 2,
				Recipients: map[string]int{"insurer": 1}}},
	)

	// The budget left agrees with the state's, and with Verify's report.
	vrep, err := audit.Verify(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"L-1/loans": "2", "L-2/loans": "1", "L-2/taxes": "1"} {
		if vrep.Spent[k] != want {
			t.Errorf("Verify: spent %s = %q, want %s", k, vrep.Spent[k], want)
		}
	}
}

func TestUsageWindow(t *testing.T) {
	dir, key := buildUsageLog(t)
	rep, err := audit.UsageFromDir(dir, key, audit.UsageFilter{Since: day(10), Until: day(20)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Since.Equal(day(10)) || !rep.Until.Equal(day(20)) || rep.Unattributed != 1 {
		t.Errorf("window %s to %s, unattributed %d", rep.Since, rep.Until, rep.Unattributed)
	}
	checkDataset(t, rep, "loans", "bank", "loan office",
		audit.UsageCounts{Allowed: 1, Denied: 4, DeniedDryRuns: 1,
			DeniedBy: map[string]int{policy.CodeRowLevel: 1, policy.CodeBudget: 1, policy.CodeLetterNotInForce: 1, policy.CodeColumnNotInLetter: 1, policy.CodeUnknownLetter: 1},
			Spent:    eps("1"), Releases: 1, ResultRows: 5, Recipients: map[string]int{"insurer": 1}},
		audit.ApplicantUsage{Applicant: "bank", Scenario: "S1",
			Letters:     []audit.LetterUsage{{Letter: "L-3", Covers: true, Budget: eps("1"), Left: eps("1")}},
			UsageCounts: audit.UsageCounts{Denied: 1, DeniedBy: map[string]int{policy.CodeLetterNotInForce: 1, policy.CodeColumnNotInLetter: 1}}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "",
			Letters:     []audit.LetterUsage{{Letter: "L-9"}},
			UsageCounts: audit.UsageCounts{Denied: 1, DeniedBy: map[string]int{policy.CodeUnknownLetter: 1}}},
		// Nothing spent in the window; 1.5 of 3 left at its end (the 0.5 of
		// day 20 is after it).
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "S1",
			Letters: []audit.LetterUsage{{Letter: "L-1", Covers: true, Budget: eps("3"), Left: eps("1.5")}},
			UsageCounts: audit.UsageCounts{Denied: 2, DeniedDryRuns: 1,
				DeniedBy: map[string]int{policy.CodeRowLevel: 1, policy.CodeBudget: 1}}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "S2",
			Letters:     []audit.LetterUsage{{Letter: "L-2", Covers: true, Budget: eps("2"), Spent: eps("1"), Left: eps("1")}},
			UsageCounts: audit.UsageCounts{Allowed: 1, Spent: eps("1"), Releases: 1, ResultRows: 5, Recipients: map[string]int{"insurer": 1}}},
	)
	// The denial of day 5 is before the window.
	checkDataset(t, rep, "taxes", "tax", "tax bureau",
		audit.UsageCounts{Allowed: 1, Spent: eps("1"), Releases: 1, HEReleases: 1, ResultRows: 2, Recipients: map[string]int{"insurer": 1}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "S2",
			Letters: []audit.LetterUsage{{Letter: "L-2", Covers: true, Budget: eps("10"), Spent: eps("1"), Left: eps("9")}},
			UsageCounts: audit.UsageCounts{Allowed: 1, Spent: eps("1"), Releases: 1, HEReleases: 1, ResultRows: 2,
				Recipients: map[string]int{"insurer": 1}}},
	)

	// Since only: the allowance and release of day 20 are in.
	rep, err = audit.UsageFromDir(dir, key, audit.UsageFilter{Dataset: "loans", Since: day(20)})
	if err != nil {
		t.Fatal(err)
	}
	checkDataset(t, rep, "loans", "bank", "loan office",
		audit.UsageCounts{Allowed: 1, Spent: eps("0.5"), Releases: 1, ResultRows: 4, Recipients: map[string]int{"insurer": 1}},
		audit.ApplicantUsage{Applicant: "insurer", Scenario: "S1",
			Letters:     []audit.LetterUsage{{Letter: "L-1", Covers: true, Budget: eps("3"), Spent: eps("0.5"), Left: eps("1")}},
			UsageCounts: audit.UsageCounts{Allowed: 1, Spent: eps("0.5"), Releases: 1, ResultRows: 4, Recipients: map[string]int{"insurer": 1}}},
	)
	// A window nobody used still lists the dataset.
	rep, err = audit.UsageFromDir(dir, key, audit.UsageFilter{Dataset: "taxes", Until: day(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Datasets) != 1 || len(rep.Datasets[0].Applicants) != 0 || rep.Datasets[0].Total.Denied != 0 {
		t.Fatalf("an empty window: %+v", rep.Datasets)
	}
}

func TestUsageFromEntriesMatchesDir(t *testing.T) {
	dir, key := buildUsageLog(t)
	entries := entriesOf(t, dir, key)
	for _, f := range []audit.UsageFilter{{}, {Dataset: "loans"}, {Dataset: "taxes", Since: day(4), Until: day(14)}} {
		fromDir, err := audit.UsageFromDir(dir, key, f)
		if err != nil {
			t.Fatal(err)
		}
		fromEntries, err := audit.Usage(seqOf(entries), key, f)
		if err != nil {
			t.Fatal(err)
		}
		if fromEntries.RootHash != nil {
			t.Errorf("a report from bare entries claims a root")
		}
		fromEntries.RootHash = fromDir.RootHash
		if !reflect.DeepEqual(fromDir, fromEntries) {
			t.Errorf("filter %+v: from the directory\n%+v\nfrom the entries\n%+v", f, fromDir, fromEntries)
		}
		if f.Dataset != "" && (len(fromDir.Datasets) != 1 || fromDir.Datasets[0].Dataset != f.Dataset) {
			t.Errorf("filter %+v: datasets %+v", f, fromDir.Datasets)
		}
	}
}

func TestUsageRefusals(t *testing.T) {
	dir, key := buildUsageLog(t)
	entries := entriesOf(t, dir, key)
	if _, err := audit.UsageFromDir(dir, key, audit.UsageFilter{Dataset: "nope"}); err == nil || !strings.Contains(err.Error(), `dataset "nope" is not in the ledger's catalogue`) {
		t.Errorf("an unknown dataset: %v", err)
	}
	if _, err := audit.Usage(seqOf(entries), key, audit.UsageFilter{Since: day(5), Until: day(5)}); err == nil || !strings.Contains(err.Error(), "is not after") {
		t.Errorf("an empty window: %v", err)
	}
	_, otherKey, _ := keys.New("node")
	if _, err := audit.UsageFromDir(dir, otherKey, audit.UsageFilter{}); err == nil {
		t.Error("a ledger verified against another node's key")
	}
	if _, err := audit.Usage(seqOf(nil), key, audit.UsageFilter{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("no entries: %v", err)
	}
	fetchErr := errors.New("connection reset")
	broken := func(yield func([]byte, error) bool) {
		if yield(entries[0], nil) {
			yield(nil, fetchErr)
		}
	}
	if _, err := audit.Usage(broken, key, audit.UsageFilter{}); !errors.Is(err, fetchErr) {
		t.Errorf("a failed fetch: %v", err)
	}
	// A forged decision: the replay refuses it, naming the entry.
	bad := slices.Clone(entries)
	for i, b := range bad {
		e, err := state.DecodeEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == state.KindDecision && !e.Decision.Allow {
			e.Decision.Allow, e.Decision.Reasons = true, nil
			if bad[i], err = e.Encode(); err != nil {
				t.Fatal(err)
			}
			_, err = audit.Usage(seqOf(bad), key, audit.UsageFilter{})
			var ee *audit.EntryError
			if !errors.As(err, &ee) || ee.Index != uint64(i) {
				t.Errorf("a forged decision at %d: %v", i, err)
			}
			break
		}
	}
}

// TestUsageOfAGeneratedLog checks the report against Verify's on the
// benchmark's log: the same allowed, denied and spent totals.
func TestUsageOfAGeneratedLog(t *testing.T) {
	dir, key := buildLog(t, 500)
	vrep, err := audit.Verify(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.UsageFromDir(dir, key, audit.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	du, ok := rep.Dataset("loans")
	if !ok || len(du.Applicants) != 1 {
		t.Fatalf("report %+v", rep)
	}
	a := du.Applicants[0]
	if a.Applicant != "bank" || a.Scenario != "S" || a.Allowed+a.DryRuns != vrep.Allowed || a.Spent.String() != vrep.Spent["L-1/loans"] {
		t.Errorf("usage %+v, Verify %+v", a, vrep)
	}
	denied := 0
	for _, n := range vrep.Denied {
		denied += n
	}
	if a.Denied != denied || !reflect.DeepEqual(a.DeniedBy, vrep.Denied) {
		t.Errorf("denied %d %v, Verify %d %v", a.Denied, a.DeniedBy, denied, vrep.Denied)
	}
}
