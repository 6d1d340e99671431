package policy_test

import (
	"encoding/json"
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
	parties   map[string]*policy.Party
	datasets  map[string]*policy.Dataset
	letters   map[string]*policy.LetterState
	scenarios map[string]*policy.ScenarioState
	spent     map[string]dp.Epsilon
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
func (f *fakeSnapshot) Scenario(id string) (*policy.ScenarioState, bool) {
	s, ok := f.scenarios[id]
	return s, ok
}

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
				Unique: []string{"code"}, Personal: &policy.Personal{Columns: []string{"person"}, Scope: []string{"p"}, Basis: "consent"},
				Schema: schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "industry", Type: schema.String},
					{Name: "name", Type: schema.String}, {Name: "code", Type: schema.String}, {Name: "person", Type: schema.String},
					{Name: "capital", Type: schema.Int, Min: i64(0), Max: i64(100)}}}},
			"electricity": {Name: "electricity", Holder: "grid", Level: policy.Important, Sharing: policy.ShareConditional, Opening: policy.OpenConditional, Unit: "uscc",
				Schema: schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "kwh", Type: schema.Int, Min: i64(0), Max: i64(100)}}}},
			"other": {Name: "other", Holder: "msb", Level: policy.General, Sharing: policy.ShareConditional, Opening: policy.OpenConditional,
				Schema: schema.Schema{Columns: []schema.Column{{Name: "k", Type: schema.String}}}},
			"secret": {Name: "secret", Holder: "msb", Level: policy.Core, Sharing: policy.ShareNone, Opening: policy.OpenNone, LegalBasis: "保密法",
				Schema: schema.Schema{Columns: []schema.Column{{Name: "x", Type: schema.Int, Min: i64(0), Max: i64(1)}}}},
		},
		letters:   map[string]*policy.LetterState{},
		scenarios: map[string]*policy.ScenarioState{"S": {Scenario: policy.Scenario{ID: "S", Text: "t"}, Status: policy.ScenarioApproved}},
		spent:     map[string]dp.Epsilon{},
	}
	rule := func(col string, uses ...policy.Use) policy.ColumnRule {
		return policy.ColumnRule{Column: col, Uses: uses}
	}
	agg := func(col string, fs ...query.Func) policy.ColumnRule {
		return policy.ColumnRule{Column: col, Uses: []policy.Use{query.UseAggregate}, Funcs: fs}
	}
	l := policy.Letter{ID: "L-1", Applicant: "bank", Scenario: policy.Scenario{ID: "S", Text: "t"}, Purposes: []string{"p"},
		NotBefore: t0.AddDate(0, 0, -1), NotAfter: t0.AddDate(0, 0, 30), MinGroupSize: 5, MaxGroupsPerUnit: 1,
		Recipients: []string{"overseas"},
		Datasets: []policy.LetterDataset{
			{Name: "registry", Epsilon: 1_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{rule("uscc", query.UseJoinKey), rule("industry", query.UseGroupBy),
				rule("code", query.UseGroupBy), rule("person", policy.CountOnly), agg("capital", query.Avg)}},
			{Name: "electricity", Epsilon: 1_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{rule("uscc", query.UseJoinKey), agg("kwh", query.Sum)}},
			{Name: "secret", Epsilon: 1_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{agg("x", query.Sum)}},
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
		{name: "group by unit", sql: "SELECT r.uscc, COUNT(*) FROM registry r GROUP BY r.uscc", wantCodes: []string{policy.CodeUniqueGroup, policy.CodeColumnUse}},
		{name: "group by unique identifier", sql: "SELECT r.code, COUNT(*) FROM registry r GROUP BY r.code", wantCodes: []string{policy.CodeUniqueGroup}},
		{name: "count-only counted", sql: "SELECT r.industry, COUNT(r.person) FROM registry r GROUP BY r.industry"},
		{name: "count-only grouped", sql: "SELECT r.person, COUNT(*) FROM registry r GROUP BY r.person", wantCodes: []string{policy.CodeColumnUse}},
		{name: "function not in the rule", sql: "SELECT SUM(r.capital) FROM registry r", wantCodes: []string{policy.CodeColumnUse}},
		{name: "function in the rule", sql: "SELECT AVG(r.capital) FROM registry r"},
		{name: "count-only counted distinct", sql: "SELECT r.industry, COUNT(DISTINCT r.person) FROM registry r GROUP BY r.industry"},
		{name: "median not in the rule", sql: "SELECT MEDIAN(r.capital) FROM registry r", wantCodes: []string{policy.CodeColumnUse}},
		{name: "expression of allowed columns", sql: "SELECT AVG(LEAST(r.capital, 50) * 2) FROM registry r"},
		{name: "expression with a column not allowed for the aggregate", sql: "SELECT SUM(e.kwh * r.capital) FROM electricity e JOIN registry r ON e.uscc = r.uscc",
			wantCodes: []string{policy.CodeColumnUse}},
		{name: "CASE WHEN on a column not allowed as a filter", sql: "SELECT SUM(CASE WHEN e.kwh > 5 THEN e.kwh END) FROM electricity e",
			wantCodes: []string{policy.CodeColumnUse}},
		{name: "CASE WHEN on a filter column", sql: "SELECT r.industry, AVG(CASE WHEN r.industry = 'A' THEN r.capital ELSE 0 END) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) {
				f.letters["L-1"].Letter.Datasets[0].Columns[1].Uses = []policy.Use{query.UseGroupBy, query.UseFilter}
			}},
		{name: "public group values", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) {
				f.letters["L-1"].Letter.Datasets[0].Groups = []policy.GroupValues{{Column: "industry", Values: []string{"A", "B"}}}
			}},
		{name: "expression that could overflow", sql: "SELECT AVG(r.capital * 100000000000000000) FROM registry r", wantCodes: []string{policy.CodeShape}},
		{name: "personal data within scope", sql: "SELECT r.industry, COUNT(r.person) FROM registry r GROUP BY r.industry"},
		{name: "personal data beyond scope", sql: "SELECT r.industry, COUNT(r.person) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) { f.letters["L-1"].Letter.Purposes = []string{"p", "ads"} }, wantCodes: []string{policy.CodePersonal}},
		{name: "revoked", change: func(f *fakeSnapshot, in *policy.Input) { f.letters["L-1"].Revoked = "by grid: incident" }, wantCodes: []string{policy.CodeLetterRevoked}},
		{name: "scenario withdrawn", change: func(f *fakeSnapshot, in *policy.Input) { f.scenarios["S"].Status = policy.ScenarioWithdrawn }, wantCodes: []string{policy.CodeScenarioNotApprove}},
		{name: "scenario unknown", change: func(f *fakeSnapshot, in *policy.Input) { delete(f.scenarios, "S") }, wantCodes: []string{policy.CodeScenarioNotApprove}},
		{name: "scenario text differs", change: func(f *fakeSnapshot, in *policy.Input) { f.scenarios["S"].Scenario.Text = "other" }, wantCodes: []string{policy.CodeScenarioNotApprove}},
		{name: "sharing none and not open", sql: "SELECT SUM(s.x) FROM secret s", wantCodes: []string{policy.CodeDatasetClass, policy.CodeDatasetClass}},
		{name: "budget", change: func(f *fakeSnapshot, in *policy.Input) { f.spent["L-1/electricity"] = 200_001 }, wantCodes: []string{policy.CodeBudget}},
		{name: "budget exactly left", change: func(f *fakeSnapshot, in *policy.Input) { f.spent["L-1/electricity"] = 200_000 }},
		{name: "bad epsilon", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Epsilon = "1e-3" }, wantCodes: []string{policy.CodeEpsilon}},
		{name: "zero epsilon", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Epsilon = "0" }, wantCodes: []string{policy.CodeEpsilon}},
		{name: "dataset unknown", change: func(f *fakeSnapshot, in *policy.Input) { delete(f.datasets, "registry") }, wantCodes: []string{policy.CodeDatasetUnknown}},
		{name: "dataset out of scope", sql: "SELECT COUNT(*) FROM other o", wantCodes: []string{policy.CodeDatasetScope}},
		{name: "out of scope and row level", sql: "SELECT * FROM other", wantCodes: []string{policy.CodeDatasetScope, policy.CodeRowLevel}},
		{name: "not open to an enterprise", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) {
				f.datasets["registry"].Opening, f.datasets["registry"].LegalBasis = policy.OpenNone, "条例第35条"
			}, wantCodes: []string{policy.CodeDatasetClass}},
		{name: "not open, asked by a public body", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) {
				f.datasets["registry"].Opening, f.datasets["registry"].LegalBasis = policy.OpenNone, "条例第35条"
				f.letters["L-1"].Letter.Applicant, in.Requester = "msb", "msb"
				f.letters["L-1"].Signers = append(f.letters["L-1"].Signers, "msb")
			}},
		{name: "sharing none", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) {
				f.datasets["registry"].Sharing, f.datasets["registry"].LegalBasis = policy.ShareNone, "保密"
			}, wantCodes: []string{policy.CodeDatasetClass}},
		{name: "core data abroad", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) {
				f.datasets["registry"].Level, in.Request.Recipient = policy.Core, "overseas"
			}, wantCodes: []string{policy.CodeRecipientAbroad}},
		{name: "named recipient abroad asks itself", change: func(f *fakeSnapshot, in *policy.Input) { in.Requester = "overseas" },
			wantCodes: []string{policy.CodeRecipientAbroad}},
		{name: "named recipient asks for general data", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(f *fakeSnapshot, in *policy.Input) { in.Requester = "overseas" }},
		{name: "unapproved and expired", change: func(f *fakeSnapshot, in *policy.Input) {
			f.letters["L-1"].Approved = false
			in.Time = t0.AddDate(0, 2, 0)
		}, wantCodes: []string{policy.CodeLetterNotApproved, policy.CodeLetterNotInForce}},
		{name: "expired and revoked", change: func(f *fakeSnapshot, in *policy.Input) {
			f.letters["L-1"].Revoked = "by msb: done"
			in.Time = t0.AddDate(0, 2, 0)
		}, wantCodes: []string{policy.CodeLetterNotInForce, policy.CodeLetterRevoked}},
		{name: "withdrawn and revoked", change: func(f *fakeSnapshot, in *policy.Input) {
			f.letters["L-1"].Revoked = "by grid: incident"
			f.scenarios["S"].Status = policy.ScenarioWithdrawn
		}, wantCodes: []string{policy.CodeScenarioNotApprove, policy.CodeLetterRevoked}},
		{name: "signed by the applicant alone", change: func(f *fakeSnapshot, in *policy.Input) { f.letters["L-1"].Signers = []string{"bank"} },
			wantCodes: []string{policy.CodeLetterUnsigned, policy.CodeLetterUnsigned, policy.CodeLetterUnsigned}},
		{name: "signed by nobody needed", change: func(f *fakeSnapshot, in *policy.Input) { f.letters["L-1"].Signers = []string{"overseas"} },
			wantCodes: []string{policy.CodeLetterUnsigned, policy.CodeLetterUnsigned, policy.CodeLetterUnsigned, policy.CodeLetterUnsigned}},
		{name: "at the start of the window", change: func(f *fakeSnapshot, in *policy.Input) { in.Time = t0.AddDate(0, 0, -1) }},
		{name: "a second before the window", change: func(f *fakeSnapshot, in *policy.Input) { in.Time = t0.AddDate(0, 0, -1).Add(-time.Second) },
			wantCodes: []string{policy.CodeLetterNotInForce}},
		{name: "a second before the end", change: func(f *fakeSnapshot, in *policy.Input) { in.Time = t0.AddDate(0, 0, 30).Add(-time.Second) }},
		{name: "forbidden column in a filter", sql: "SELECT COUNT(*) FROM registry r WHERE r.name = 'x'", wantCodes: []string{policy.CodeColumnNotInLetter}},
		{name: "two forbidden columns", sql: "SELECT COUNT(*) FROM registry r WHERE r.name = 'x' AND r.uscc = 'y'",
			wantCodes: []string{policy.CodeColumnNotInLetter, policy.CodeColumnUse}},
		{name: "join on a group-by column", sql: "SELECT COUNT(*) FROM electricity e JOIN registry r ON e.uscc = r.code", wantCodes: []string{policy.CodeColumnUse}},
		{name: "aggregate of a join key", sql: "SELECT COUNT(e.uscc) FROM electricity e", wantCodes: []string{policy.CodeColumnUse}},
		{name: "COUNT where only AVG is allowed", sql: "SELECT COUNT(r.capital) FROM registry r", wantCodes: []string{policy.CodeColumnUse}},
		{name: "row level and forbidden group", sql: "SELECT r.name, r.industry FROM registry r GROUP BY r.industry",
			wantCodes: []string{policy.CodeRowLevel}},
		{name: "budget on two datasets", change: func(f *fakeSnapshot, in *policy.Input) {
			f.spent["L-1/electricity"], f.spent["L-1/registry"] = 1_000_000, 999_999
		}, wantCodes: []string{policy.CodeBudget, policy.CodeBudget}},
		{name: "budget and row level", sql: "SELECT r.industry FROM registry r", change: func(f *fakeSnapshot, in *policy.Input) {
			f.spent["L-1/registry"] = 1_000_000
		}, wantCodes: []string{policy.CodeRowLevel, policy.CodeBudget}},
		{name: "epsilon not a number", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Epsilon = "abc" }, wantCodes: []string{policy.CodeEpsilon}},
		{name: "epsilon negative", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Epsilon = "-0.1" }, wantCodes: []string{policy.CodeEpsilon}},
		{name: "epsilon with seven places", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Epsilon = "0.0000001" }, wantCodes: []string{policy.CodeEpsilon}},
		{name: "epsilon overflowing its shares", change: func(f *fakeSnapshot, in *policy.Input) { in.Request.Epsilon = "9223372036854" },
			wantCodes: []string{policy.CodeEpsilon}},
		{name: "denied reasons skip the budget of an unknown dataset", sql: "SELECT COUNT(*) FROM other o",
			change: func(f *fakeSnapshot, in *policy.Input) { f.spent["L-1/other"] = 5_000_000 }, wantCodes: []string{policy.CodeDatasetScope}},
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
				Request: policy.Request{Letter: "L-1", Epsilon: "0.4", SQL: sql}}
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
				require.Equal(t, 400_000*dp.Epsilon(policy.Shares(in.Plan)), d.Charges[0].Epsilon)
				require.NotNil(t, d.Params)
				if tc.name == "public group values" {
					require.Equal(t, [][]string{{"A", "B"}}, d.Params.PublicGroups)
				} else {
					require.Nil(t, d.Params.PublicGroups)
				}
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
	in := policy.Input{Requester: "bank", Plan: compile(t, f, okSQL), Time: t0, Request: policy.Request{Letter: "L-1", Epsilon: "0.1"}}
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
		Request: policy.Request{Letter: "L-1", Epsilon: "0.1"}}
	require.Equal(t, "denied: column registry.name is not in commitment letter L-1 (Art. 36)", policy.Evaluate(f, in).String())
}

func TestLetterJSONIsAnObject(t *testing.T) {
	l := fixture().letters["L-1"].Letter
	for _, v := range []any{l, &l, policy.LetterState{Letter: l}, &policy.LetterState{Letter: l}} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		require.NotContains(t, string(b), `"id: L-1`, "the text form must not leak into JSON")
		require.Contains(t, string(b), `"id":"L-1"`)
	}
	var back policy.Letter
	b, _ := json.Marshal(&l)
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, l.ID, back.ID)
}
