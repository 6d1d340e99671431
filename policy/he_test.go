package policy_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
)

// heSnapshot is fakeSnapshot with HE mode set up.
type heSnapshot struct {
	*fakeSnapshot
	key  *policy.HEKey
	data map[string]*policy.HEData
}

func (h *heSnapshot) HEKey() (*policy.HEKey, bool) { return h.key, h.key != nil }
func (h *heSnapshot) HEData(d string) (*policy.HEData, bool) {
	x, ok := h.data[d]
	return x, ok
}

const resultKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func heFixture() *heSnapshot {
	return &heSnapshot{
		fakeSnapshot: fixture(),
		key:          &policy.HEKey{Setup: "s1", Providers: []string{"msb", "grid", "bank"}, PlaintextModulus: 576460752303210497, KeySHA256: strings.Repeat("a", 64)},
		data: map[string]*policy.HEData{
			"registry": {Rows: 1000, Columns: map[string]policy.Treatment{
				"uscc": policy.Fingerprint, "industry": policy.Clear, "code": policy.Clear, "person": policy.Clear, "capital": policy.Encrypted}},
			"electricity": {Rows: 12000, Columns: map[string]policy.Treatment{"uscc": policy.Fingerprint, "kwh": policy.Encrypted}},
		},
	}
}

func TestEvaluateHE(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sql       string
		change    func(h *heSnapshot, in *policy.Input)
		wantCodes []string
		wantMode  policy.Mode
	}{
		{name: "allowed", sql: okSQL, wantMode: policy.ModeHE},
		{name: "the letter requires HE mode", sql: okSQL, wantMode: policy.ModeHE, change: func(h *heSnapshot, in *policy.Input) {
			in.Request.Mode = ""
			h.letters["L-1"].Letter.Datasets[1].Mode = policy.ModeHE
		}},
		{name: "sealed asked, HE required", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) {
			in.Request.Mode, in.Request.ResultKey = policy.ModeSealed, ""
			h.letters["L-1"].Letter.Datasets[1].Mode = policy.ModeHE
		}, wantCodes: []string{policy.CodeModeRequired}},
		{name: "sealed by default", sql: okSQL, wantMode: "", change: func(h *heSnapshot, in *policy.Input) { in.Request.Mode, in.Request.ResultKey = "", "" }},
		{name: "unknown mode", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) { in.Request.Mode = "tee" }, wantCodes: []string{policy.CodeMode}},
		{name: "no result key", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) { in.Request.ResultKey = "" }, wantCodes: []string{policy.CodeHEResultKey}},
		{name: "result key in sealed mode", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) { in.Request.Mode = policy.ModeSealed }, wantCodes: []string{policy.CodeHEResultKey}},
		{name: "not set up", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) { h.key = nil }, wantCodes: []string{policy.CodeHENotReady}},
		{name: "no HE upload", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) { delete(h.data, "electricity") }, wantCodes: []string{policy.CodeHENoData}},
		{name: "group by an encrypted column", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(h *heSnapshot, in *policy.Input) { h.data["registry"].Columns["industry"] = policy.Encrypted }, wantCodes: []string{policy.CodeHEColumn}},
		{name: "group by a fingerprint", sql: "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
			change: func(h *heSnapshot, in *policy.Input) { h.data["registry"].Columns["industry"] = policy.Fingerprint }, wantCodes: []string{policy.CodeHEColumn}},
		{name: "a column not uploaded", sql: "SELECT r.industry, COUNT(r.person) FROM registry r GROUP BY r.industry",
			change: func(h *heSnapshot, in *policy.Input) { delete(h.data["registry"].Columns, "person") }, wantCodes: []string{policy.CodeHEColumn}},
		{name: "sum of a fingerprint", sql: okSQL,
			change: func(h *heSnapshot, in *policy.Input) { h.data["electricity"].Columns["kwh"] = policy.Fingerprint }, wantCodes: []string{policy.CodeHEColumn}},
		{name: "join of a fingerprint with a clear column", sql: okSQL,
			change: func(h *heSnapshot, in *policy.Input) { h.data["electricity"].Columns["uscc"] = policy.Clear }, wantCodes: []string{policy.CodeHEColumn}},
		{name: "unit not uploaded", sql: okSQL,
			change: func(h *heSnapshot, in *policy.Input) { delete(h.data["electricity"].Columns, "uscc") }, wantCodes: []string{policy.CodeHEColumn, policy.CodeHEColumn}},
		{name: "a quantile in HE mode", sql: "SELECT r.industry, SUM(e.kwh), MEDIAN(e.kwh) FROM electricity e JOIN registry r ON e.uscc = r.uscc GROUP BY r.industry",
			change: func(h *heSnapshot, in *policy.Input) {
				h.letters["L-1"].Letter.Datasets[1].Columns[1].Funcs = []query.Func{query.Sum, query.Median}
			}, wantCodes: []string{policy.CodeShape}},
		{name: "public group values in HE mode", sql: okSQL,
			change: func(h *heSnapshot, in *policy.Input) {
				h.letters["L-1"].Letter.Datasets[0].Groups = []policy.GroupValues{{Column: "industry", Values: []string{"A"}}}
			}, wantCodes: []string{policy.CodeShape}},
		{name: "an expression in HE mode", sql: "SELECT r.industry, SUM(e.kwh * 2) FROM electricity e JOIN registry r ON e.uscc = r.uscc GROUP BY r.industry",
			wantCodes: []string{policy.CodeShape}},
		{name: "sum of a clear column", sql: okSQL,
			change: func(h *heSnapshot, in *policy.Input) { h.data["electricity"].Columns["kwh"] = policy.Clear }, wantMode: policy.ModeHE},
		{name: "overflow", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) {
			h.datasets["electricity"].Schema.Columns[1].Max = i64(1e15)
			h.data["electricity"].Rows = 1e6
		}, wantCodes: []string{policy.CodeHEOverflow}},
		{name: "noise of a tiny epsilon overflows", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) {
			h.datasets["electricity"].Schema.Columns[1].Max = i64(1e10)
			in.Request.Epsilon = "0.000001"
		}, wantCodes: []string{policy.CodeHEOverflow}},
		{name: "fits with the node's noise, not with the providers'", sql: okSQL, change: func(h *heSnapshot, in *policy.Input) {
			h.datasets["electricity"].Schema.Columns[1].Max = i64(3e9)
			in.Request.Epsilon = "0.000001"
			h.letters["L-1"].Letter.Noise = policy.NoiseProviders
		}, wantCodes: []string{policy.CodeHEOverflow}},
		{name: "fits with the node's noise", sql: okSQL, wantMode: policy.ModeHE, change: func(h *heSnapshot, in *policy.Input) {
			h.datasets["electricity"].Schema.Columns[1].Max = i64(3e9)
			in.Request.Epsilon = "0.000001"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := heFixture()
			in := policy.Input{Requester: "bank", Time: t0, Plan: compile(t, h.fakeSnapshot, tc.sql),
				Request: policy.Request{SQL: tc.sql, Letter: "L-1", Epsilon: "0.1", Mode: policy.ModeHE, ResultKey: resultKey}}
			if tc.change != nil {
				tc.change(h, &in)
			}
			d := policy.Evaluate(h, in)
			var codes []string
			for _, r := range d.Reasons {
				codes = append(codes, r.Code)
				require.Equal(t, "Art. 19", r.Article, r.Message)
			}
			require.Equal(t, tc.wantCodes, codes, d.String())
			if len(tc.wantCodes) == 0 {
				require.True(t, d.Allow)
				require.Equal(t, tc.wantMode, d.Params.Mode)
				if tc.wantMode == policy.ModeHE {
					require.Equal(t, h.letters["L-1"].Letter.NoiseFrom(), d.Params.Noise)
				}
			}
		})
	}
}

func TestEvaluateHEWithoutHESnapshot(t *testing.T) {
	f := fixture()
	in := policy.Input{Requester: "bank", Time: t0, Plan: compile(t, f, okSQL),
		Request: policy.Request{SQL: okSQL, Letter: "L-1", Epsilon: "0.1", Mode: policy.ModeHE, ResultKey: resultKey}}
	d := policy.Evaluate(f, in)
	require.True(t, d.Has(policy.CodeHENotReady), d.String())
}
