package node_test

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xjdata/cleanroom/node"
)

// heTimings records the node's "HE release" log lines.
type heTimings struct {
	mu          sync.Mutex
	node, agent []float64
	// per agent request: ledger sync, checks, shares
	sync, checks, shares []float64
	// per release: the node's clear part, its encrypted sums, all its
	// computation before the agents
	prepare, sums, compute []float64
}

func (h *heTimings) Enabled(context.Context, slog.Level) bool { return true }
func (h *heTimings) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *heTimings) WithGroup(string) slog.Handler            { return h }
func (h *heTimings) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "HE release" && r.Message != "key-switch shares issued" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "prepare_ms":
			h.prepare = append(h.prepare, a.Value.Float64())
		case "sums_ms":
			h.sums = append(h.sums, a.Value.Float64())
		case "compute_ms":
			h.compute = append(h.compute, a.Value.Float64())
		case "sync_ms":
			h.sync = append(h.sync, a.Value.Float64())
		case "checks_ms":
			h.checks = append(h.checks, a.Value.Float64())
		case "shares_ms":
			h.shares = append(h.shares, a.Value.Float64())
		case "node_ms":
			h.node = append(h.node, a.Value.Float64())
		case "agents_ms":
			h.agent = append(h.agent, a.Value.Float64())
		}
		return true
	})
	return nil
}

// cpuTime returns the CPU time (user and system) the process has used so
// far: node, agents and client all run in the benchmark's process, so its
// growth over a query is the query's total CPU cost, a figure that other
// load on the machine disturbs far less than wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeAllocs writes the allocation profile so far to path.
func writeAllocs(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC() // the profile is as of the last collection
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(max(len(xs), 1))
}

// BenchmarkHEQuery is the figure: SUM of an encrypted column
// GROUP BY a clear column with 10 groups, over an inner join on
// fingerprints of three datasets of CLEANROOM_BENCH_ROWS rows each
// (default 1,000,000) from three providers, with real noise. "he" is end
// to end as the operator sees it: the decision, the node's encrypted
// computation, the three agents' checks and key-switch shares over
// loopback, and the operator's decryption; node-ms is the node's own time
// (without the agents'), agents-ms the agents' round. "sealed" is the same
// query in sealed mode. cpu-ms is the CPU time of the whole process per
// query (node, agents and client together). CLEANROOM_HE_CPUPROFILE names
// a file for a CPU profile of the HE queries alone, CLEANROOM_HE_MEMPROFILE
// a prefix for allocation profiles before and after them.
func BenchmarkHEQuery(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("CLEANROOM_BENCH_ROWS"); s != "" {
		rows, _ = strconv.Atoi(s)
	}
	csvIndustries, csvMonths = 10, 1
	defer func() { csvIndustries, csvMonths = 3, 2 }()
	timings := &heTimings{}
	agentLog = slog.New(timings)
	defer func() { agentLog = nil }()
	start := time.Now()
	r := newHERoom(b, rows, nil, func(c *node.Config) { c.Logger = slog.New(timings) })
	b.Logf("set up %d rows per dataset, sealed and HE, in %s", rows, time.Since(start).Round(time.Second))
	sql := "SELECT r.industry, SUM(e.kwh) FROM loans l JOIN registry r ON l.uscc = r.uscc JOIN electricity e ON e.uscc = r.uscc GROUP BY r.industry"

	var sealed, he time.Duration
	// One query of each mode first: the first one over new rows builds
	// their dictionary codes and join indexes.
	if _, err := r.query("bank", "L-1", "0.01", "", sql); err != nil {
		b.Fatal(err)
	}
	if _, _, err := r.queryHE("L-1", "0.01", sql); err != nil {
		b.Fatal(err)
	}
	b.Run("sealed", func(b *testing.B) {
		for b.Loop() {
			res, err := r.query("bank", "L-1", "0.01", "", sql)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Result.Rows) != 10 {
				b.Fatalf("%d groups", len(res.Result.Rows))
			}
		}
		sealed = b.Elapsed() / time.Duration(b.N)
	})
	b.Run("he", func(b *testing.B) {
		*timings = heTimings{}
		if p := os.Getenv("CLEANROOM_HE_CPUPROFILE"); p != "" {
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
		// The allocations of the HE queries alone: go tool pprof -base
		// $CLEANROOM_HE_MEMPROFILE.before $CLEANROOM_HE_MEMPROFILE.after
		if p := os.Getenv("CLEANROOM_HE_MEMPROFILE"); p != "" {
			writeAllocs(b, p+".before")
			defer writeAllocs(b, p+".after")
		}
		cpu := cpuTime(b)
		r.requests, r.decrypts = 0, 0
		for b.Loop() {
			res, _, err := r.queryHE("L-1", "0.01", sql)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Rows) != 10 {
				b.Fatalf("%d groups", len(res.Rows))
			}
		}
		he = b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64((cpuTime(b)-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		b.ReportMetric(mean(timings.node), "node-ms/op")
		b.ReportMetric(mean(timings.agent), "agents-ms/op")
		perOp := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
		b.Logf("operator: request %.1f ms (of which neither node nor agents %.1f ms), decryption %.1f ms",
			perOp(r.requests), perOp(r.requests)-mean(timings.node)-mean(timings.agent), perOp(r.decrypts))
		b.Logf("node: clear part %.1f ms, encrypted sums %.1f ms, all before the agents %.1f ms; per agent: sync %.1f ms, checks %.1f ms, shares %.1f ms",
			mean(timings.prepare), mean(timings.sums), mean(timings.compute), mean(timings.sync), mean(timings.checks), mean(timings.shares))
	})
	if sealed > 0 {
		b.Logf("HE end to end %s, sealed %s: ratio %.1f", he.Round(time.Millisecond), sealed.Round(time.Millisecond), float64(he)/float64(sealed))
	}
}
