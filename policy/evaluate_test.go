package policy_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// fakeSnapshot is a policy.Snapshot held in maps.
type fakeSnapshot struct {
	parties  map[string]*policy.Party
	datasets map[string]*policy.Dataset
	letters  map[string]*policy.LetterState
	spent    map[string]dp.Epsilon
}

func (f *fakeSnapshot) Party(n string) (*policy.Party, bool) { p, ok := f.parties[n]; return p, ok }
func (f *fakeSnapshot) Dataset(n string) (*policy.Dataset, bool) {
	d, ok := f.datasets[n]
	return d, ok
}
func (f *fakeSnapshot) Letter(id string) (*policy.LetterState, bool) {
	l, ok := f.letters[id]
	return l, ok
}
func (f *fakeSnapshot) Spent(l, d string) dp.Epsilon { return f.spent[l+"/"+d] }

func i64(v int64) *int64 { return &v }

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func fixture() *fakeSnapshot {
	f := &fakeSnapshot{
		parties: map[string]*policy.Party{
			"bank":     {Name: "bank", Kind: policy.Enterprise, Jurisdiction: "CN"},
			"msb":      {Name: "msb", Kind: policy.PublicBody, Jurisdiction: "CN"},
			"grid":     {Name: "grid", Kind: policy.PublicService, Jurisdiction: "CN"},
			"overseas": {Name: "overseas", Kind: policy.Enterprise, Jurisdiction: "SG"},
		},
		datasets: map[string]*policy.Dataset{
			"registry": {Name: "registry", Holder: "msb", Level: policy.General, Sharing: policy.ShareConditional, Opening: policy.OpenConditional, Unit: "uscc",
				Schema: schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "industry", Type: schema.String}, {Name: "name", Type: schema.String}}}},
			"electricity": {Name: "electricity", Holder: "grid", Level: policy.Important, Sharing: policy.ShareConditional, Opening: policy.OpenConditional, Unit: "uscc",
				Schema: schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "kwh", Type: schema.Int, Min: i64(0), Max: i64(100)}}}},
			"secret": {Name: "secret", Holder: "msb", Level: policy.Core, Sharing: policy.ShareNone, Opening: policy.OpenNone, LegalBasis: "保密法",
				Schema: schema.Schema{Columns: []schema.Column{{Name: "x", Type: schema.Int, Min: i64(0), Max: i64(1)}}}},
		},
		letters: map[string]*policy.LetterState{},
		spent:   map[string]dp.Epsilon{},
	}
	l := policy.Letter{ID: "L-1", Applicant: "bank", Scenario: policy.Scenario{ID: "S", Text: "t"},
		NotBefore: t0.AddDate(0, 0, -1), NotAfter: t0.AddDate(0, 0, 30), Epsilon: "1", Delta: 1e-6, MinGroupSize: 5,
		Recipients: []string{"overseas"},
		Datasets: []policy.LetterDataset{
			{Name: "registry", Columns: map[string][]policy.Use{"uscc": {query.UseJoinKey}, "industry": {query.UseGroupBy}}},
			{Name: "electricity", Columns: map[string][]policy.Use{"uscc": {query.UseJoinKey}, "kwh": {query.UseAggregate}}},
			{Name: "secret", Columns: map[string][]policy.Use{"x": {query.UseAggregate}}},
		}}
	f.letters["L-1"] = &policy.LetterState{Letter: l, Signers: []string{"bank", "msb", "grid"}, Approved: true}
	return f
}

func compile(t *testing.T, f *fakeSnapshot, sql string) *query.Plan {
	t.Helper()
	p, err := query.Compile(sql, query.CatalogFunc(func(n string) (*schema.Schema, bool) {
		d, ok := f.datasets[n]
		if !ok {
			return nil, false
		}
		return &d.Schema, true
	}))
	require.NoError(t, err, sql)
	return p
}

const okSQL = "SELECT r.industry, SUM(e.kwh) FROM electricity e JOIN registry r ON e.uscc = r.uscc GROUP BY r.industry"

func TestEvaluate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		change    func(f *fakeSnapshot, in *policy.Input)
		sql       string
		wantCodes []string // empty: allowed
	}{
		{name: "allowed", sql: okSQL},
		{name: "unknown letter", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Letter = "L-9" }, wantCodes: []string{policy.CodeUnknownLetter}},
		{name: "rejected letter", change: func(f *fakeSnapshot, in *policy.Input) { f.letters["L-1"].Rejected = "bad sig" }, wantCodes: []string{policy.CodeLetterRejected}},
		{name: "missing holder signature", change: func(f *fakeSnapshot, in *policy.Input) { f.letters["L-1"].Signers = []string{"bank", "msb"} }, wantCodes: []string{policy.CodeLetterUnsigned}},
		{name: "missing applicant signature", change: func(f *fakeSnapshot, in *policy.Input) { f.letters["L-1"].Signers = []string{"msb", "grid"} }, wantCodes: []string{policy.CodeLetterUnsigned}},
		{name: "not approved", change: func(f *fakeSnapshot, in *policy.Input) { f.letters["L-1"].Approved = false }, wantCodes: []string{policy.CodeLetterNotApproved}},
		{name: "before the window", change: func(f *fakeSnapshot, in *policy.Input) { in.Time = t0.AddDate(0, 0, -2) }, wantCodes: []string{policy.CodeLetterNotInForce}},
		{name: "at the end of the window", change: func(f *fakeSnapshot, in *policy.Input) { in.Time = t0.AddDate(0, 0, 30) }, wantCodes: []string{policy.CodeLetterNotInForce}},
		{name: "not the applicant", change: func(f *fakeSnapshot, in *policy.Input) { in.Requester = "msb" }, wantCodes: []string{policy.CodeNotApplicant, policy.CodeRecipient}},
		{name: "recipient abroad for important data", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Recipient = "overseas" }, wantCodes: []string{policy.CodeRecipientAbroad}},
		{name: "recipient abroad, general data only", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Recipient = "overseas" }},
		{name: "recipient not named", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Recipient = "grid" }, wantCodes: []string{policy.CodeRecipient}},
		{name: "unregistered recipient", change: func(f *fakeSnapshot, in *policy.Input) {
			in.Request.Recipient = "ghost"
			f.letters["L-1"].Letter.Recipients = []string{"ghost"}
		}, wantCodes: []string{policy.CodeRecipient}},
		{name: "row level star", sql: "SELECT * FROM registry", wantCodes: []string{policy.CodeRowLevel}},
		{name: "row level column", sql: "SELECT r.industry FROM registry r", wantCodes: []string{policy.CodeRowLevel}},
		{name: "column not in letter", sql: "SELECT r.name, COUNT(*) FROM registry r GROUP BY r.name", wantCodes: []string{policy.CodeColumnNotInLetter}},
		{name: "use not allowed", sql: "SELECT COUNT(*) FROM registry r WHERE r.industry = 'A'", wantCodes: []string{policy.CodeColumnUse}},
		{name: "group by unit", sql: "SELECT r.uscc, COUNT(*) FROM registry r GROUP BY r.uscc", wantCodes: []string{policy.CodeColumnUse, policy.CodeUniqueGroup}},
		{name: "sharing none and not open", sql: "SELECT SUM(s.x) FROM secret s", wantCodes: []string{policy.CodeDatasetClass, policy.CodeDatasetClass}},
		{name: "budget", change: func(f *fakeSnapshot, in *policy.Input) { f.spent["L-1/electricity"] = 600_000 }, wantCodes: []string{policy.CodeBudget}},
		{name: "budget exactly left", change: func(f *fakeSnapshot, in *policy.Input) { f.spent["L-1/electricity"] = 500_000 }},
		{name: "bad epsilon", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Epsilon = "1e-3" }, wantCodes: []string{policy.CodeEpsilon}},
		{name: "zero epsilon", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Epsilon = "0" }, wantCodes: []string{policy.CodeEpsilon}},
		{name: "every reason at once", sql: "SELECT * FROM registry", change: func(f *fakeSnapshot, in *policy.Input) {
			in.Requester = "grid"
			f.letters["L-1"].Approved = false
			in.Time = t0.AddDate(1, 0, 0)
		}, wantCodes: []string{policy.CodeNotApplicant, policy.CodeLetterNotApproved, policy.CodeLetterNotInForce, policy.CodeRecipient, policy.CodeRowLevel}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fixture()
			sql := tc.sql
			if sql == "" {
				sql = okSQL
			}
			in := policy.Input{Requester: "bank", Plan: compile(t, f, sql), Time: t0,
				Request: policy.Request{Letter: "L-1", Epsilon: "0.5", SQL: sql}}
			if tc.change != nil {
				tc.change(f, &in)
			}
			d := policy.Evaluate(f, in)
			var got []string
			for _, r := range d.Reasons {
				got = append(got, r.Code)
				require.Regexp(t, `^Art\. \d+`, r.Article)
				require.NotEmpty(t, r.Message)
			}
			require.Equal(t, tc.wantCodes, got, d.String())
			require.Equal(t, len(tc.wantCodes) == 0, d.Allow)
			if d.Allow {
				require.NotEmpty(t, d.Charges)
				require.Equal(t, dp.Epsilon(500_000), d.Charges[0].Epsilon)
				require.NotNil(t, d.Params)
			} else {
				require.Empty(t, d.Charges, "a denial charges nothing")
			}
			// Pure: the same input gives the same decision.
			require.Equal(t, d, policy.Evaluate(f, in))
		})
	}
}

func TestMinGroupSizeFloorForImportantData(t *testing.T) {
	f := fixture()
	in := policy.Input{Requester: "bank", Plan: compile(t, f, okSQL), Time: t0, Request: policy.Request{Letter: "L-1", Epsilon: "0.5"}}
	d := policy.Evaluate(f, in)
	require.True(t, d.Allow)
	require.Equal(t, int64(20), d.Params.MinGroupSize, "electricity is important data: at least 20 (Art. 56)")

	gen := "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry"
	in.Plan = compile(t, f, gen)
	d = policy.Evaluate(f, in)
	require.True(t, d.Allow)
	require.Equal(t, int64(5), d.Params.MinGroupSize, "general data: the letter's own minimum")
}

func TestDenialMessage(t *testing.T) {
	f := fixture()
	in := policy.Input{Requester: "bank", Plan: compile(t, f, "SELECT r.name, COUNT(*) FROM registry r GROUP BY r.name"), Time: t0,
		Request: policy.Request{Letter: "L-1", Epsilon: "0.5"}}
	require.Equal(t, "denied: column registry.name is not in commitment letter L-1 (Art. 36)", policy.Evaluate(f, in).String())
}

func TestLetterValidate(t *testing.T) {
	l := fixture().letters["L-1"].Letter
	l.Purposes, l.Safeguards, l.Prohibitions = []string{"p"}, []string{"s"}, policy.Prohibitions
	require.NoError(t, l.Validate())
	for name, change := range map[string]func(*policy.Letter){
		"bad id":           func(l *policy.Letter) { l.ID = "../x" },
		"no purposes":      func(l *policy.Letter) { l.Purposes = nil },
		"no safeguards":    func(l *policy.Letter) { l.Safeguards = nil },
		"window reversed":  func(l *policy.Letter) { l.NotAfter = l.NotBefore },
		"bad budget":       func(l *policy.Letter) { l.Epsilon = "lots" },
		"delta too big":    func(l *policy.Letter) { l.Delta = 0.1 },
		"prohibitions":     func(l *policy.Letter) { l.Prohibitions = "none" },
		"unknown use":      func(l *policy.Letter) { l.Datasets[0].Columns["industry"] = []policy.Use{"export"} },
		"duplicate ds":     func(l *policy.Letter) { l.Datasets = append(l.Datasets, l.Datasets[0]) },
		"min group size 0": func(l *policy.Letter) { l.MinGroupSize = 0 },
	} {
		c := l
		c.Datasets = append([]policy.LetterDataset(nil), l.Datasets...)
		c.Datasets[0].Columns = map[string][]policy.Use{"industry": {query.UseGroupBy}}
		change(&c)
		require.Error(t, c.Validate(), name)
	}
}
