package node_test

import (
	"context"
	"fmt"
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

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/ledger/ledgertest"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// party is a test party with its key.
type party struct {
	name   string
	kind   policy.PartyKind
	juris  string
	signer note.Signer
	vkey   string
}

// room is a running node with registered parties, for tests.
type room struct {
	t       testing.TB
	dir     string
	node    *node.Node
	c       *client.Client
	stop    func()
	parties map[string]*party
	now     time.Time
	// fsys is the ledger's file system: flip its switches to make the
	// ledger's writes fail.
	fsys *ledgertest.FaultFS
	// opts change the node's configuration at every start.
	opts []func(*node.Config)
}

func newParty(t testing.TB, name string, kind policy.PartyKind, juris string) *party {
	s, vkey, err := keys.New(name)
	require.NoError(t, err)
	return &party{name: name, kind: kind, juris: juris, signer: s, vkey: vkey}
}

// startNode opens the node in dir and serves it on a free loopback port.
func startNode(t testing.TB, dir, authorityKey string, now func() time.Time, fsys ledger.FS, opts ...func(*node.Config)) (*node.Node, *client.Client, func()) {
	t.Helper()
	// Tests that measure something else turn the time grid and the
	// quotas off; those of timing and quotas set them.
	cfg := node.Config{Dir: dir, AuthorityKey: authorityKey, Now: now, LedgerFS: fsys,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Slot:   -1, Quotas: node.Quotas{Rate: -1, UploadBytes: -1, Queries: -1}}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := node.Open(cfg)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	os.Remove(filepath.Join(dir, "node.json"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "node.json"))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	c, err := client.FromInfoFile(filepath.Join(dir, "node.json"))
	require.NoError(t, err)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, n.Close())
	}
	t.Cleanup(stop)
	return n, c, stop
}

func i64(v int64) *int64 { return &v }

// testDeclaration is the data-source statement of the tests' datasets.
var testDeclaration = &policy.SourceDeclaration{Origin: "collected by the holder in its registers", LegalBasis: "the holder's statutory duties",
	CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"}

var schemas = map[string]schema.Schema{
	"registry": {Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "name", Type: schema.String},
		{Name: "industry", Type: schema.String},
		{Name: "capital", Type: schema.Int, Min: i64(0), Max: i64(1e10)},
		{Name: "address", Type: schema.String},
	}},
	"electricity": {Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "month", Type: schema.String},
		{Name: "kwh", Type: schema.Int, Min: i64(0), Max: i64(1e8)},
	}},
	"loans": {Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "green", Type: schema.Bool},
	}},
	"permits": {Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "kind", Type: schema.String},
	}},
}

// The shape of csvFor's data: how many industries the registry has and
// how many months of electricity each enterprise has. Benchmarks change
// them.
var (
	csvIndustries = 3
	csvMonths     = 2
)

// csvFor writes n enterprises' rows for a dataset and returns the path.
func csvFor(t testing.TB, dir, dataset string, n int) string {
	var b strings.Builder
	switch dataset {
	case "registry":
		b.WriteString("uscc,name,industry,capital,address\n")
		for i := range n {
			fmt.Fprintf(&b, "E%05d,公司%d,%c,%d,乌鲁木齐路%d号\n", i, i, 'A'+rune(i%csvIndustries), 1000*(i+1), i)
		}
	case "electricity":
		b.WriteString("uscc,month,kwh\n")
		for i := range n {
			for m := 1; m <= csvMonths; m++ {
				fmt.Fprintf(&b, "E%05d,2025-%02d,%d\n", i, m, 100*(i%7)+m)
			}
		}
	case "loans":
		b.WriteString("loan_id,uscc,amount,green\n")
		for i := range n {
			fmt.Fprintf(&b, "L%05d,E%05d,%d,%t\n", i, i, 10000+i, i%2 == 0)
		}
	}
	p := filepath.Join(dir, dataset+".csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

// newRoom starts a node with the scenario's parties, datasets (with n
// enterprises each) and an approved letter L-1 over registry, electricity
// and loans.
func newRoom(t testing.TB, n int, opts ...func(*node.Config)) *room {
	t.Helper()
	r := &room{t: t, dir: t.TempDir(), parties: map[string]*party{}, now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC), fsys: &ledgertest.FaultFS{}, opts: opts}
	for _, p := range []*party{
		newParty(t, "bureau", policy.PublicBody, "CN"),
		newParty(t, "msb", policy.PublicBody, "CN"),
		newParty(t, "grid", policy.PublicService, "CN"),
		newParty(t, "bank", policy.Enterprise, "CN"),
		newParty(t, "overseas", policy.Enterprise, "SG"),
		newParty(t, "stranger", policy.Enterprise, "CN"), // never registered
	} {
		r.parties[p.name] = p
	}
	r.start()
	for _, name := range []string{"bureau", "msb", "grid", "bank", "overseas"} {
		p := r.parties[name]
		r.submit(statement.KindParty, policy.Party{Name: p.name, Kind: p.kind, Jurisdiction: p.juris, Key: p.vkey}, r.parties["bureau"].signer, p.signer)
	}
	r.submit(statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S-1", Text: "绿色信贷风险评估"}, Status: policy.ScenarioApproved}, r.parties["bureau"].signer)
	r.registerDataset("registry", "msb", policy.General, 1)
	r.registerDataset("electricity", "grid", policy.Important, 2)
	r.registerDataset("loans", "bank", policy.General, 1)
	r.registerDataset("permits", "msb", policy.General, 1)
	data := t.TempDir()
	for ds, holder := range map[string]string{"registry": "msb", "electricity": "grid", "loans": "bank"} {
		s := schemas[ds]
		_, err := r.c.UploadCSV(context.Background(), r.parties[holder].signer, ds, &s, csvFor(t, data, ds, n), client.UploadOptions{})
		require.NoError(t, err)
	}
	r.apply("A-registry", "registry", "msb")
	r.apply("A-electricity", "electricity", "grid")
	r.letter(r.defaultLetter("L-1"), true, "bank", "msb", "grid")
	return r
}

// apply has the bank apply for a conditionally shared dataset and its
// holder approve (Art. 34): what lets the holder countersign the bank's
// letters.
func (r *room) apply(id, dataset, holder string) {
	r.t.Helper()
	r.submit(statement.KindApply, policy.Application{ID: id, Applicant: "bank", Dataset: dataset, Purpose: "pricing green credit"}, r.parties["bank"].signer)
	r.submit(statement.KindAnswer, policy.Answer{Application: id, Approve: true, Conditions: "aggregates only, in the clean room"}, r.parties[holder].signer)
}

func (r *room) start() {
	r.node, r.c, r.stop = startNode(r.t, r.dir, r.parties["bureau"].vkey, func() time.Time { return r.now }, r.fsys, r.opts...)
	r.c.SetClock(func() time.Time { return r.now })
}

func (r *room) submit(kind statement.Kind, body any, signers ...note.Signer) uint64 {
	r.t.Helper()
	msg, err := statement.NewAt(r.now, kind, body, signers...)
	require.NoError(r.t, err)
	res, err := r.c.Submit(context.Background(), msg)
	require.NoError(r.t, err)
	return res.Entry
}

func (r *room) registerDataset(name, holder string, level policy.Level, rowsPerUnit int64) {
	d := policy.Dataset{
		Name: name, Holder: holder, Source: holder + " registry office", Schema: schemas[name], Declaration: testDeclaration,
		Sharing: policy.ShareConditional, Conditions: "approved scenarios only", Opening: policy.OpenConditional,
		Level: level, Unit: "uscc", MaxRowsPerUnit: rowsPerUnit,
	}
	if name == "loans" {
		d.Unique = []string{"loan_id"}
	}
	if name == "registry" {
		d.Personal = &policy.Personal{Columns: []string{"name"}, Scope: []string{"pricing green credit"}, Basis: "registration notice"}
	}
	r.submit(statement.KindDataset, d, r.parties[holder].signer)
}

func (r *room) defaultLetter(id string) policy.Letter {
	rule := func(col string, uses ...policy.Use) policy.ColumnRule {
		return policy.ColumnRule{Column: col, Uses: uses}
	}
	agg := func(col string, fs ...query.Func) policy.ColumnRule {
		return policy.ColumnRule{Column: col, Uses: []policy.Use{query.UseAggregate}, Funcs: fs}
	}
	return policy.Letter{
		ID: id, Applicant: "bank", Scenario: policy.Scenario{ID: "S-1", Text: "绿色信贷风险评估"},
		Purposes: []string{"pricing green credit"}, Safeguards: []string{"risk department only"},
		NotBefore: r.now.AddDate(0, 0, -1), NotAfter: r.now.AddDate(0, 0, 90),
		MinGroupSize: 1, MaxGroupsPerUnit: 1, Recipients: []string{"bank", "overseas"},
		Prohibitions: policy.Prohibitions,
		Datasets: []policy.LetterDataset{
			{Name: "registry", Epsilon: 3_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{
				rule("uscc", query.UseJoinKey), rule("industry", query.UseGroupBy, query.UseFilter), agg("capital", query.Avg), rule("name", policy.CountOnly)}},
			{Name: "electricity", Epsilon: 3_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{
				rule("uscc", query.UseJoinKey), rule("month", query.UseFilter, query.UseGroupBy), agg("kwh", query.Sum, query.Avg)}},
			{Name: "loans", Epsilon: 3_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{
				rule("uscc", query.UseJoinKey), agg("amount", query.Sum, query.Avg, query.Count), rule("green", query.UseGroupBy), rule("loan_id", query.UseGroupBy)}},
		},
	}
}

// letter submits a letter signed by signers and, if approve, approves it.
func (r *room) letter(l policy.Letter, approve bool, signers ...string) []byte {
	r.t.Helper()
	var ss []note.Signer
	for _, s := range signers {
		ss = append(ss, r.parties[s].signer)
	}
	msg, err := statement.NewAt(r.now, statement.KindLetter, &l, ss...)
	require.NoError(r.t, err)
	_, err = r.c.Submit(context.Background(), msg)
	require.NoError(r.t, err)
	if approve {
		r.submit(statement.KindApproval, policy.Approval{Letter: l.ID, LetterSHA256: statement.Hash(msg)}, r.parties["bureau"].signer)
	}
	return msg
}

// query signs and sends a query as the named party.
func (r *room) query(as, letter, eps, recipient, sql string) (*api.QueryResponse, error) {
	msg, err := statement.NewAt(r.now, statement.KindQuery, policy.Request{
		SQL: sql, Letter: letter, Epsilon: eps, Recipient: recipient,
		Nonce: statement.NewNonce(), Time: r.now,
	}, r.parties[as].signer)
	require.NoError(r.t, err)
	return r.c.Query(context.Background(), msg)
}
