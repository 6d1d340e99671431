package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

func runReport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newReport()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

// writeUsageCopy writes what 'audit fetch' would: DIR/ledger with a
// genesis, two parties, a dataset, an approved letter, one allowed query
// and its release, and DIR/node.json with the node's key.
func writeUsageCopy(t *testing.T) (string, string) {
	mk := func(name string) (note.Signer, string) {
		s, v, err := keys.New(name)
		require.NoError(t, err)
		return s, v
	}
	nodeS, nodeV := mk("node")
	auth, authV := mk("authority")
	bank, bankV := mk("bank")
	dir := t.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "ledger"), nodeS, "report-test")
	require.NoError(t, err)
	st := state.New()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var last *ledger.Pending
	add := func(e *state.Entry) uint64 {
		b, err := e.Encode()
		require.NoError(t, err)
		last, err = l.Add(b)
		require.NoError(t, err)
		require.NoError(t, st.Apply(last.Index, e))
		return last.Index
	}
	stmt := func(kind statement.Kind, body any, ss ...note.Signer) *state.Entry {
		msg, err := statement.NewAt(t0, kind, body, ss...)
		require.NoError(t, err)
		return &state.Entry{Kind: state.KindStatement, Time: t0, Statement: string(msg)}
	}
	add(&state.Entry{Kind: state.KindGenesis, Time: t0, Genesis: &state.Genesis{Origin: "report-test", NodeKey: nodeV, AuthorityKey: authV}})
	add(stmt(statement.KindParty, policy.Party{Name: "authority", Kind: policy.PublicBody, Jurisdiction: "CN", Key: authV}, auth))
	add(stmt(statement.KindParty, policy.Party{Name: "bank", Kind: policy.Enterprise, Jurisdiction: "CN", Key: bankV}, auth, bank))
	add(stmt(statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S", Text: "t"}, Status: policy.ScenarioApproved}, auth))
	lo, hi := int64(0), int64(1000)
	sch := schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "industry", Type: schema.String}, {Name: "amount", Type: schema.Int, Min: &lo, Max: &hi}}}
	add(stmt(statement.KindDataset, policy.Dataset{Name: "loans", Holder: "bank", Source: "loan office, head quarters", Schema: sch,
		Declaration: &policy.SourceDeclaration{Origin: "books", LegalBasis: "own data", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"},
		Sharing:     policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1}, bank))
	letter := policy.Letter{ID: "L-1", Applicant: "bank", Scenario: policy.Scenario{ID: "S", Text: "t"}, Purposes: []string{"p"}, Safeguards: []string{"s"},
		NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0), MinGroupSize: 10, MaxGroupsPerUnit: 1, Prohibitions: policy.Prohibitions,
		Datasets: []policy.LetterDataset{{Name: "loans", Epsilon: 3_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{
			{Column: "industry", Uses: []policy.Use{query.UseGroupBy}},
			{Column: "amount", Uses: []policy.Use{query.UseAggregate}, Funcs: []query.Func{query.Sum}}}}}}
	le := stmt(statement.KindLetter, &letter, bank)
	add(le)
	add(stmt(statement.KindApproval, policy.Approval{Letter: "L-1", LetterSHA256: statement.Hash([]byte(le.Statement))}, auth))

	req := policy.Request{SQL: "SELECT industry, SUM(amount) FROM loans GROUP BY industry", Letter: "L-1", Epsilon: "0.5", Nonce: "report-test-nonce-1", Time: t0.Add(time.Hour)}
	msg, err := statement.NewAt(req.Time, statement.KindQuery, req, bank)
	require.NoError(t, err)
	plan, err := query.Compile(req.SQL, query.CatalogFunc(func(string) (*schema.Schema, bool) { return &sch, true }))
	require.NoError(t, err)
	d := policy.Evaluate(st.Snapshot(), policy.Input{Requester: "bank", Request: req, Plan: plan, Time: req.Time})
	require.True(t, d.Allow, d.String())
	i := add(&state.Entry{Kind: state.KindDecision, Time: req.Time, Statement: string(msg), Decision: &state.Decided{Decision: *d}})
	add(&state.Entry{Kind: state.KindRelease, Time: req.Time, Release: &state.Release{Decision: i, Recipient: "bank", ResultSHA256: strings.Repeat("ab", 32), Rows: 3}})
	require.NoError(t, last.Wait())
	require.NoError(t, l.Close())

	b, err := json.Marshal(node.NodeInfo{NodeKey: nodeV})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "node.json"), b, 0o644))
	return dir, nodeV
}

func TestReportUsageFlags(t *testing.T) {
	t.Setenv("CLEANROOM_NODE", "")
	t.Setenv("CLEANROOM_PIN", "")
	t.Setenv("CLEANROOM_NODE_INFO", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "2026-13-01"}, `--since "2026-13-01": want a date YYYY-MM-DD (UTC)`},
		{[]string{"--until", "01/02/2026"}, `--until "01/02/2026": want a date YYYY-MM-DD (UTC)`},
		{[]string{"--since", "2026-02-01", "--until", "2026-01-01"}, "--until 2026-01-01 is not after --since 2026-02-01"},
		{[]string{"--format", "xml"}, `--format "xml": want table, csv or json`},
		{[]string{"--ledger", "/nonexistent/copy"}, "--ledger /nonexistent/copy: no ledger there"},
		{[]string{"--ledger", "x", "--node", "https://127.0.0.1:1"}, "--ledger x reads a local copy, --node a live node"},
		{nil, "no node given"},
	} {
		_, err := runReport(t, append([]string{"usage"}, tc.args...)...)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
}

func TestReportUsageOfACopy(t *testing.T) {
	t.Setenv("CLEANROOM_NODE_INFO", "")
	dir, key := writeUsageCopy(t)

	out, err := runReport(t, "usage", "--ledger", dir, "--format", "csv")
	require.NoError(t, err)
	require.Equal(t, strings.Join(usageCSVHeader, ",")+"\n"+
		`loans,bank,"loan office, head quarters",bank,S,L-1,1,0,0,0,,1,2,1,0,3,bank=1`+"\n", out)

	out, err = runReport(t, "usage", "--ledger", dir, "--node-key", key, "--dataset", "loans", "--since", "2026-03-02")
	require.NoError(t, err)
	require.Contains(t, out, "window: from 2026-03-02 (UTC)")
	require.Contains(t, out, "no queries and no releases in the window")

	out, err = runReport(t, "usage", "--ledger", filepath.Join(dir, "ledger"), "--node-info", filepath.Join(dir, "node.json"), "--until", "2026-03-02")
	require.NoError(t, err)
	require.Contains(t, out, "dataset loans: holder bank, source loan office, head quarters")
	require.Regexp(t, `bank +S +L-1 +1 +0 +0 +1 +2 +1 +0 +bank=1 +-`, out)

	out, err = runReport(t, "usage", "--ledger", dir, "--format", "json")
	require.NoError(t, err)
	var rep audit.UsageReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, "report-test", rep.Origin)
	require.Len(t, rep.Datasets, 1)
	require.Equal(t, 1, rep.Datasets[0].Total.Allowed)

	_, err = runReport(t, "usage", "--ledger", dir, "--dataset", "nope")
	require.ErrorContains(t, err, `dataset "nope" is not in the ledger's catalogue`)
	_, err = runReport(t, "usage", "--ledger", filepath.Join(dir, "ledger"))
	require.ErrorContains(t, err, "no node key")
}

// TestReportUsageOfALiveNode fetches a running node's ledger: a dataset
// on record, nobody used it.
func TestReportUsageOfALiveNode(t *testing.T) {
	auth, authV, err := keys.New("authority")
	require.NoError(t, err)
	bank, bankV, err := keys.New("bank")
	require.NoError(t, err)
	dir := t.TempDir()
	n, err := node.Open(node.Config{Dir: dir, AuthorityKey: authV, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, n.Close())
	})
	info := filepath.Join(dir, "node.json")
	require.Eventually(t, func() bool { _, err := os.Stat(info); return err == nil }, 10*time.Second, 10*time.Millisecond)
	c, err := client.FromInfoFile(info)
	require.NoError(t, err)
	submit := func(kind statement.Kind, body any, ss ...note.Signer) {
		msg, err := statement.New(kind, body, ss...)
		require.NoError(t, err)
		_, err = c.Submit(context.Background(), msg)
		require.NoError(t, err)
	}
	submit(statement.KindParty, policy.Party{Name: "authority", Kind: policy.PublicBody, Jurisdiction: "CN", Key: authV}, auth)
	submit(statement.KindParty, policy.Party{Name: "bank", Kind: policy.Enterprise, Jurisdiction: "CN", Key: bankV}, auth, bank)
	lo, hi := int64(0), int64(1000)
	submit(statement.KindDataset, policy.Dataset{Name: "loans", Holder: "bank", Source: "loan office",
		Schema:      schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "amount", Type: schema.Int, Min: &lo, Max: &hi}}},
		Declaration: &policy.SourceDeclaration{Origin: "books", LegalBasis: "own data", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"},
		Sharing:     policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General, Unit: "uscc"}, bank)

	out, err := runReport(t, "usage", "--node-info", info, "--format", "json")
	require.NoError(t, err)
	var rep audit.UsageReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, uint64(4), rep.Entries)
	require.Len(t, rep.RootHash, 32)
	require.Len(t, rep.Datasets, 1)
	require.Equal(t, "loan office", rep.Datasets[0].Source)
	require.Empty(t, rep.Datasets[0].Applicants)
}
