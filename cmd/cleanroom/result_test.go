package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/policy"
)

func sampleAnswer() *api.QueryResponse {
	rel := uint64(9)
	return &api.QueryResponse{
		Decision:      policy.Decision{Allow: true, Charges: []policy.Charge{{Dataset: "loans", Epsilon: 300000}}},
		DecisionEntry: 8,
		ReleaseEntry:  &rel,
		ResultSHA256:  "ab",
		Result: &api.Result{
			Columns: []string{"industry", "COUNT(*)", "MEDIAN(amount)"},
			Rows:    [][]string{{"A", "120", "5000.00"}, {"B, Inc", "98", "4100.50"}},
			Intervals: [][]*api.Interval{
				{nil, {Lo: "110", Hi: "130"}, nil},
				{nil, {Lo: "88", Hi: "108"}, nil},
			},
			Level: 0.95,
			Stats: []*api.Stats{nil,
				{Mechanism: "Laplace Noise", Epsilon: 0.1, L0: 1, LInf: 2},
				{Mechanism: "Laplace Noise", Epsilon: 0.1, L0: 1, LInf: 2}},
			Selection: &api.Stats{Mechanism: "Laplace Noise", Epsilon: 0.1, Delta: 1e-6},
		},
	}
}

func TestPrintResultTable(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, printResult(&b, sampleAnswer(), false, formatTable))
	out := b.String()
	require.Contains(t, out, "allowed (decision at ledger entry 8; spent loans ε=0.3)")
	require.Contains(t, out, "95% CI")
	require.Contains(t, out, "[110, 130]")
	require.Contains(t, out, "COUNT(*): Laplace Noise, ε=0.1, δ=0, sensitivity L0=1, L∞=2\n")
	require.Contains(t, out, "MEDIAN(amount): Laplace Noise, ε=0.1, δ=0, sensitivity L0=1, L∞=2; no confidence interval (the DP library computes none for it)")
	require.Contains(t, out, "groups released by a noisy count of units: Laplace Noise, ε=0.1, δ=1e-06")
	require.Contains(t, out, "released at ledger entry 9, result sha256 ab")
	require.Equal(t, 1, strings.Count(out, "95% CI"), "only the column that has intervals gets one")
}

func TestPrintResultCSV(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, printResult(&b, sampleAnswer(), false, formatCSV))
	require.Equal(t, "industry,COUNT(*),COUNT(*) ci_lo,COUNT(*) ci_hi,MEDIAN(amount)\n"+
		"A,120,110,130,5000.00\n"+
		"\"B, Inc\",98,88,108,4100.50\n", b.String())
}

func TestPrintResultJSON(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, printResult(&b, sampleAnswer(), false, formatJSON))
	require.Contains(t, b.String(), `"intervals": [`)
	require.Contains(t, b.String(), `"mechanism": "Laplace Noise"`)
}
