package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// startTimeout bounds a node's start-up, replay of the whole ledger
// included.
const startTimeout = 60 * time.Second

// party is a test party with its signing key.
type party struct {
	name   string
	kind   policy.PartyKind
	signer note.Signer
	vkey   string
}

func newParty(t *testing.T, name string, kind policy.PartyKind) *party {
	s, vkey, err := keys.New(name)
	if err != nil {
		t.Fatal(err)
	}
	return &party{name: name, kind: kind, signer: s, vkey: vkey}
}

// buildBinary builds cmd/cleanroom fresh into a temporary directory.
func buildBinary(t *testing.T, race bool) string {
	bin := filepath.Join(t.TempDir(), "cleanroom")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/xjdata/cleanroom/cmd/cleanroom")
	build := exec.Command("go", args...)
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		t.Fatalf("building cleanroom: %v\n%s", err, out.String())
	}
	return bin
}

// child is one run of `cleanroom node`.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for
	err  error         // from Wait, valid once done is closed
}

// exitedByItself reports whether the process ended on its own rather than
// by a signal, and how. Call it only once done is closed.
func (ch *child) exitedByItself() (bool, string) {
	ps := ch.cmd.ProcessState
	if ps == nil {
		return true, fmt.Sprintf("no process state (%v)", ch.err)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return false, "killed by " + ws.Signal().String()
	}
	return true, ps.String()
}

// nodeInfo is what the tests read of node.json.
type nodeInfo struct {
	URL     string `json:"url"`
	Pin     string `json:"pin"`
	NodeKey string `json:"node_key"`
}

// harness runs the node as a child process on one data directory.
type harness struct {
	bin     string
	dir     string // the node's data directory
	authPub string // the authority's .pub file
	logPath string
	logf    *os.File
	starts  int
	cur     *child // the running child, if any
	parties map[string]*party

	uploadDir string        // CSV files of the uploads during trials
	uploads   atomic.Uint64 // uploads made during trials
	// startup is how long the last start took until the node listened.
	startup time.Duration
}

func newHarness(t *testing.T, bin, work string) *harness {
	h := &harness{bin: bin, dir: filepath.Join(work, "node"), authPub: filepath.Join(work, "bureau.pub"),
		logPath: filepath.Join(work, "node.log"), parties: map[string]*party{}, uploadDir: filepath.Join(work, "uploads")}
	if err := os.MkdirAll(h.uploadDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*party{
		newParty(t, "bureau", policy.PublicBody),
		newParty(t, "msb", policy.PublicBody),
		newParty(t, "grid", policy.PublicService),
		newParty(t, "bank", policy.Enterprise),
		newParty(t, "stranger", policy.Enterprise), // never registered
	} {
		h.parties[p.name] = p
	}
	if err := os.WriteFile(h.authPub, []byte(h.parties["bureau"].vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if h.logf, err = os.OpenFile(h.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h.cur != nil {
			h.cur.cmd.Process.Kill()
			<-h.cur.done
		}
		h.logf.Close()
	})
	return h
}

// logOffset returns the current size of the node log.
func (h *harness) logOffset() int64 {
	fi, err := h.logf.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns the node log from offset off, at most the last max
// bytes of it.
func (h *harness) logSince(off int64, max int) string {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read the node log: %v)", err)
	}
	if off > int64(len(b)) {
		off = 0
	}
	b = b[off:]
	if len(b) > max {
		cut := len(b) - max
		if i := bytes.IndexByte(b[cut:], '\n'); i >= 0 {
			cut += i + 1
		}
		return fmt.Sprintf("(%d earlier bytes left out; the whole log is %s)\n%s", cut, h.logPath, b[cut:])
	}
	return string(b)
}

// spawn starts `cleanroom node` without waiting for it to listen.
func (h *harness) spawn(why string) (*child, error) {
	if h.cur != nil {
		return nil, errors.New("a node is already running")
	}
	if err := os.Remove(filepath.Join(h.dir, "node.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	h.starts++
	fmt.Fprintf(h.logf, "=== crashtest: start %d (%s) at %s ===\n", h.starts, why, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(h.bin, "node", "--data", h.dir, "--listen", "127.0.0.1:0", "--authority", h.authPub)
	cmd.Stdout, cmd.Stderr = h.logf, h.logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		ch.err = cmd.Wait()
		close(ch.done)
	}()
	h.cur = ch
	return ch, nil
}

// start starts the node and waits until it listens. A node that refuses
// to start, or does not listen within startTimeout, is an error.
func (h *harness) start(why string) (*client.Client, *nodeInfo, error) {
	ch, err := h.spawn(why)
	if err != nil {
		return nil, nil, err
	}
	infoPath := filepath.Join(h.dir, "node.json")
	began := time.Now()
	deadline := began.Add(startTimeout)
	for {
		if _, err := os.Stat(infoPath); err == nil {
			h.startup = time.Since(began)
			break
		}
		select {
		case <-ch.done:
			h.cur = nil
			_, how := ch.exitedByItself()
			return nil, nil, fmt.Errorf("the node refused to start: %s", how)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			h.kill()
			return nil, nil, fmt.Errorf("the node did not listen within %v", startTimeout)
		}
	}
	b, err := os.ReadFile(infoPath)
	if err != nil {
		return nil, nil, err
	}
	var ni nodeInfo
	if err := json.Unmarshal(b, &ni); err != nil {
		return nil, nil, fmt.Errorf("node.json: %w", err)
	}
	c, err := client.New(ni.URL, ni.Pin)
	if err != nil {
		return nil, nil, err
	}
	return c, &ni, nil
}

// kill kills the running node with SIGKILL and waits for it. It reports
// an error if the node had already ended by itself.
func (h *harness) kill() error {
	ch := h.cur
	if ch == nil {
		return errors.New("no node to kill")
	}
	h.cur = nil
	select {
	case <-ch.done:
		_, how := ch.exitedByItself()
		return fmt.Errorf("the node had ended by itself before it was killed: %s", how)
	default:
	}
	ch.cmd.Process.Signal(syscall.SIGKILL)
	<-ch.done
	fmt.Fprintf(h.logf, "=== crashtest: SIGKILL at %s ===\n", time.Now().Format(time.RFC3339Nano))
	if byItself, how := ch.exitedByItself(); byItself {
		return fmt.Errorf("the node ended by itself just before it was killed: %s", how)
	}
	return nil
}

// stop stops the node with SIGTERM: it must exit 0 within 30 seconds.
func (h *harness) stop() error {
	ch := h.cur
	if ch == nil {
		return errors.New("no node to stop")
	}
	h.cur = nil
	ch.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ch.done:
	case <-time.After(30 * time.Second):
		ch.cmd.Process.Kill()
		<-ch.done
		return errors.New("the node did not stop within 30s of SIGTERM")
	}
	fmt.Fprintf(h.logf, "=== crashtest: stopped (%v) ===\n", ch.cmd.ProcessState)
	if ch.err != nil {
		return fmt.Errorf("the node did not stop cleanly on SIGTERM: %v", ch.err)
	}
	return nil
}

// auditCLI runs `cleanroom audit verify --json` on the data directory.
func (h *harness) auditCLI() ([]byte, error) {
	cmd := exec.Command(h.bin, "audit", "verify", "--data", h.dir, "--json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("cleanroom audit verify: %v\n%s%s", err, out.String(), errb.String())
	}
	return out.Bytes(), nil
}

// submit signs and submits a statement.
func submit(c *client.Client, kind statement.Kind, body any, signers ...note.Signer) ([]byte, error) {
	msg, err := statement.New(kind, body, signers...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Submit(ctx, msg); err != nil {
		return nil, fmt.Errorf("submitting a %s statement: %w", kind, err)
	}
	return msg, nil
}

func i64(v int64) *int64 { return &v }

var schemas = map[string]schema.Schema{
	"registry": {Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "name", Type: schema.String},
		{Name: "industry", Type: schema.String},
		{Name: "capital", Type: schema.Int, Min: i64(0), Max: i64(1e10)},
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
}

// holders says who holds each dataset.
var holders = map[string]string{"registry": "msb", "electricity": "grid", "loans": "bank"}

// csvFor writes n enterprises' rows of a dataset and returns the path.
func csvFor(dir, dataset string, n int) (string, error) {
	var b strings.Builder
	switch dataset {
	case "registry":
		b.WriteString("uscc,name,industry,capital\n")
		for i := range n {
			fmt.Fprintf(&b, "E%05d,公司%d,%c,%d\n", i, i, 'A'+rune(i%3), 1000*(i+1))
		}
	case "electricity":
		b.WriteString("uscc,month,kwh\n")
		for i := range n {
			for m := 1; m <= 2; m++ {
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
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}

// letterID is the one letter every query of the test runs under.
const letterID = "L-1"

// letterBudget is the budget of the letter on each dataset: far more than
// every trial's queries spend, so that no query is ever denied for budget.
const letterBudget = 1000 // ε

// setup registers the parties, a scenario, the datasets with n rows each
// and an approved letter, on a freshly started node.
func (h *harness) setup(c *client.Client, n int) error {
	ctx := context.Background()
	bureau := h.parties["bureau"]
	for _, name := range []string{"bureau", "msb", "grid", "bank"} {
		p := h.parties[name]
		if _, err := submit(c, statement.KindParty, policy.Party{Name: p.name, Kind: p.kind, Jurisdiction: "CN", Key: p.vkey}, bureau.signer, p.signer); err != nil {
			return err
		}
	}
	scenario := policy.Scenario{ID: "S-1", Text: "绿色信贷风险评估"}
	if _, err := submit(c, statement.KindScenario, policy.ScenarioDecision{Scenario: scenario, Status: policy.ScenarioApproved}, bureau.signer); err != nil {
		return err
	}
	data := filepath.Join(filepath.Dir(h.dir), "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"registry", "electricity", "loans"} {
		d := policy.Dataset{Name: name, Holder: holders[name], Source: holders[name] + " registry office", Schema: schemas[name],
			Declaration: &policy.SourceDeclaration{Origin: "registers", LegalBasis: "law", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"},
			Sharing:     policy.ShareConditional, Conditions: "approved scenarios only", Opening: policy.OpenConditional,
			Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1}
		switch name {
		case "electricity":
			d.Level, d.MaxRowsPerUnit = policy.Important, 2
		case "loans":
			d.Unique = []string{"loan_id"}
		}
		if _, err := submit(c, statement.KindDataset, d, h.parties[holders[name]].signer); err != nil {
			return err
		}
		path, err := csvFor(data, name, n)
		if err != nil {
			return err
		}
		s := schemas[name]
		if _, err := c.UploadCSV(ctx, h.parties[holders[name]].signer, name, &s, path, client.UploadOptions{}); err != nil {
			return fmt.Errorf("uploading %s: %w", name, err)
		}
	}
	rule := func(col string, uses ...policy.Use) policy.ColumnRule {
		return policy.ColumnRule{Column: col, Uses: uses}
	}
	agg := func(col string, fs ...query.Func) policy.ColumnRule {
		return policy.ColumnRule{Column: col, Uses: []policy.Use{query.UseAggregate}, Funcs: fs}
	}
	now := time.Now().UTC().Truncate(time.Second)
	eps := letterBudget * dp.EpsilonUnit
	l := policy.Letter{
		ID: letterID, Applicant: "bank", Scenario: scenario,
		Purposes: []string{"pricing green credit"}, Safeguards: []string{"risk department only"},
		NotBefore: now.AddDate(0, 0, -1), NotAfter: now.AddDate(0, 0, 90),
		MinGroupSize: 1, MaxGroupsPerUnit: 1, Recipients: []string{"bank"},
		Prohibitions: policy.Prohibitions,
		Datasets: []policy.LetterDataset{
			{Name: "registry", Epsilon: eps, Delta: 1e-6, Columns: []policy.ColumnRule{
				rule("uscc", query.UseJoinKey), rule("industry", query.UseGroupBy, query.UseFilter)}},
			{Name: "electricity", Epsilon: eps, Delta: 1e-6, Columns: []policy.ColumnRule{
				rule("uscc", query.UseJoinKey), rule("month", query.UseFilter, query.UseGroupBy), agg("kwh", query.Sum, query.Avg)}},
			{Name: "loans", Epsilon: eps, Delta: 1e-6, Columns: []policy.ColumnRule{
				rule("uscc", query.UseJoinKey), agg("amount", query.Sum, query.Avg, query.Count), rule("green", query.UseGroupBy)}},
		},
	}
	// The bank's applications for the conditionally shared datasets,
	// approved by their holders (Art. 34), let the holders countersign.
	for _, a := range []struct{ id, dataset, holder string }{{"A-1", "registry", "msb"}, {"A-2", "electricity", "grid"}} {
		app, err := statement.New(statement.KindApply, policy.Application{ID: a.id, Applicant: "bank", Dataset: a.dataset, Purpose: "pricing green credit"}, h.parties["bank"].signer)
		if err != nil {
			return err
		}
		ans, err := statement.New(statement.KindAnswer, policy.Answer{Application: a.id, Approve: true, Conditions: "aggregates only"}, h.parties[a.holder].signer)
		if err != nil {
			return err
		}
		for _, m := range [][]byte{app, ans} {
			if _, err := c.Submit(ctx, m); err != nil {
				return fmt.Errorf("applying for %s: %w", a.dataset, err)
			}
		}
	}
	msg, err := statement.New(statement.KindLetter, &l, h.parties["bank"].signer, h.parties["msb"].signer, h.parties["grid"].signer)
	if err != nil {
		return err
	}
	if _, err := c.Submit(ctx, msg); err != nil {
		return fmt.Errorf("submitting the letter: %w", err)
	}
	_, err = submit(c, statement.KindApproval, policy.Approval{Letter: letterID, LetterSHA256: statement.Hash(msg)}, bureau.signer)
	return err
}
