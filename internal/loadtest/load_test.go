// Package loadtest drives a node on loopback with many concurrent
// operators (make load). Its test is skipped unless CLEANROOM_LOAD_SECONDS
// is set.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

const (
	allowedSQL = "SELECT industry, SUM(amount), COUNT(*) FROM loans GROUP BY industry"
	deniedSQL  = "SELECT uscc, amount FROM loans" // row-level: always denied
	epsilon    = "0.001"                          // three shares: 0.003 a query
)

func env(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// rss returns the process's resident memory in bytes (Linux).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestLoad starts a node on loopback (the default time grid and quotas),
// registers CLEANROOM_LOAD_OPERATORS operators (default 50), each with its
// own commitment letter over one dataset, and has them send a mix of
// allowed and denied queries for CLEANROOM_LOAD_SECONDS. It requires no
// error other than the expected denials, every budget exactly the sum of
// the allowed queries' costs, resident memory flat over the run, and a
// clean audit verify of the ledger afterwards; it reports p50 and p99
// latency.
func TestLoad(t *testing.T) {
	secs := env(t, "CLEANROOM_LOAD_SECONDS", 0)
	if os.Getenv("CLEANROOM_LOAD_SECONDS") == "" {
		t.Skip("set CLEANROOM_LOAD_SECONDS (make load)")
	}
	operators := env(t, "CLEANROOM_LOAD_OPERATORS", 50)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "node")

	names := []string{"bureau", "bank"}
	for i := range operators {
		names = append(names, fmt.Sprintf("op%02d", i))
	}
	signers := map[string]note.Signer{}
	vkeys := map[string]string{}
	for _, n := range names {
		s, v, err := keys.New(n)
		if err != nil {
			t.Fatal(err)
		}
		signers[n], vkeys[n] = s, v
	}
	n, err := node.Open(node.Config{Dir: dir, AuthorityKey: vkeys["bureau"], Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- n.Serve(sctx, ln) }()
	info := filepath.Join(dir, "node.json")
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(info); err == nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("the node did not start")
		}
	}
	c, err := client.FromInfoFile(info)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(kind statement.Kind, body any, who ...string) {
		t.Helper()
		var ss []note.Signer
		for _, w := range who {
			ss = append(ss, signers[w])
		}
		msg, err := statement.New(kind, body, ss...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Submit(ctx, msg); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	submit(statement.KindParty, policy.Party{Name: "bank", Kind: policy.Enterprise, Jurisdiction: "CN", Key: vkeys["bank"]}, "bureau", "bank")
	for _, op := range names[2:] {
		submit(statement.KindParty, policy.Party{Name: op, Kind: policy.Enterprise, Jurisdiction: "CN", Key: vkeys[op]}, "bureau", op)
	}
	submit(statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S-1", Text: "load"}, Status: policy.ScenarioApproved}, "bureau")
	lo, hi := int64(0), int64(1_000_000)
	sch := schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "industry", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: &lo, Max: &hi}}}
	submit(statement.KindDataset, policy.Dataset{Name: "loans", Holder: "bank", Source: "loan office", Schema: sch,
		Declaration: &policy.SourceDeclaration{Origin: "books", LegalBasis: "own data", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"},
		Sharing:     policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1}, "bank")
	var csvb strings.Builder
	csvb.WriteString("uscc,industry,amount\n")
	for i := range 2000 {
		fmt.Fprintf(&csvb, "U%05d,%c,%d\n", i, 'A'+i%4, 1000+i)
	}
	data := filepath.Join(t.TempDir(), "loans.csv")
	if err := os.WriteFile(data, []byte(csvb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadCSV(ctx, signers["bank"], "loans", &sch, data, client.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	budget := dp.Epsilon(1_000_000_000) // 1000: never exhausted in a run
	for _, op := range names[2:] {
		now := time.Now().UTC().Truncate(time.Second)
		l := policy.Letter{ID: "L-" + op, Applicant: op, Scenario: policy.Scenario{ID: "S-1", Text: "load"}, Purposes: []string{"load"},
			Safeguards: []string{"none"}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, 1), MinGroupSize: 10, MaxGroupsPerUnit: 1,
			Prohibitions: policy.Prohibitions, Datasets: []policy.LetterDataset{{Name: "loans", Epsilon: budget, Delta: 1e-6, Columns: []policy.ColumnRule{
				{Column: "industry", Uses: []policy.Use{query.UseGroupBy}},
				{Column: "amount", Uses: []policy.Use{query.UseAggregate}, Funcs: []query.Func{query.Sum}}}}}}
		msg, err := statement.New(statement.KindLetter, &l, signers[op], signers["bank"])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Submit(ctx, msg); err != nil {
			t.Fatal(err)
		}
		submit(statement.KindApproval, policy.Approval{Letter: l.ID, LetterSHA256: statement.Hash(msg)}, "bureau")
	}

	// The run.
	runtime.GC()
	type sample struct {
		at  time.Duration
		rss int64
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		allowed   = map[string]int{}
		denied    atomic.Int64
		errs      []string
		samples   []sample
	)
	began := time.Now()
	deadline := began.Add(time.Duration(secs) * time.Second)
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				mu.Lock()
				samples = append(samples, sample{time.Since(began), rss()})
				mu.Unlock()
			}
		}
	}()
	var wg sync.WaitGroup
	for i, op := range names[2:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				sql, allow := allowedSQL, true
				if (k+i)%3 == 2 {
					sql, allow = deniedSQL, false
				}
				req := policy.Request{SQL: sql, Letter: "L-" + op, Epsilon: epsilon, Nonce: statement.NewNonce(), Time: time.Now().UTC()}
				msg, err := statement.NewAt(req.Time, statement.KindQuery, req, signers[op])
				if err != nil {
					panic(err)
				}
				start := time.Now()
				_, err = c.Query(ctx, msg)
				took := time.Since(start)
				var ce *client.Error
				mu.Lock()
				latencies = append(latencies, took)
				switch {
				case allow && err == nil:
					allowed[op]++
				case !allow && errors.As(err, &ce) && ce.Status == http.StatusForbidden && ce.Code == api.CodeDenied:
					denied.Add(1)
				default:
					errs = append(errs, fmt.Sprintf("%s %q: %v", op, sql, err))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(done)
	elapsed := time.Since(began)

	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	total := 0
	for _, v := range allowed {
		total += v
	}
	t.Logf("%d operators, %v: %d queries (%d allowed, %d denied), %.0f/s; latency p50 %v, p99 %v, max %v",
		operators, elapsed.Round(time.Millisecond), len(latencies), total, denied.Load(), float64(len(latencies))/elapsed.Seconds(),
		pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond))
	if len(errs) > 0 {
		t.Errorf("%d errors other than the expected denials; the first: %s", len(errs), errs[0])
	}

	// Budgets: each letter's spent ε is exactly its allowed queries' cost.
	cost := dp.Epsilon(3 * 1000) // 0.001 for SUM, COUNT and the group count
	for _, op := range names[2:] {
		ls, err := c.Letter(ctx, "L-"+op)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ls.Spent("loans"), dp.Epsilon(allowed[op])*cost; got != want {
			t.Errorf("letter L-%s: spent %s, %d allowed queries cost %s", op, got, allowed[op], want)
		}
	}

	// Memory: flat from the first quarter of the run to its end.
	if len(samples) >= 4 {
		first := samples[len(samples)/4].rss
		var peak int64
		for _, s := range samples[len(samples)/4:] {
			peak = max(peak, s.rss)
		}
		last := samples[len(samples)-1].rss
		t.Logf("resident memory: %d MiB at %v, %d MiB at the end, peak %d MiB", first>>20, samples[len(samples)/4].at.Round(time.Second), last>>20, peak>>20)
		if grow := last - first; grow > 96<<20 {
			t.Errorf("resident memory grew by %d MiB over the run", grow>>20)
		}
	}

	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	ni, err := os.ReadFile(info)
	if err != nil {
		t.Fatal(err)
	}
	nodeKey := strings.Split(strings.Split(string(ni), `"node_key": "`)[1], `"`)[0]
	vstart := time.Now()
	rep, err := audit.Verify(filepath.Join(dir, "ledger"), nodeKey)
	if err != nil {
		t.Fatalf("audit verify: %v", err)
	}
	if rep.Allowed != total {
		t.Errorf("audit verify counts %d allowed decisions, the operators %d", rep.Allowed, total)
	}
	t.Logf("audit verify: clean, %d entries in %v", rep.Entries, time.Since(vstart).Round(time.Millisecond))
}
