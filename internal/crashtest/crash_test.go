package crashtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xjdata/cleanroom/audit"
)

const (
	// defaultTrials is the number of trials of `make test`; `make
	// test-crash` sets CLEANROOM_CRASH_TRIALS=200.
	defaultTrials = 20
	// workers is the number of clients sending queries at once.
	workers = 4
	// rows is the number of enterprises in each uploaded dataset.
	rows = 300
	// minDelay and maxDelay bound when the node is killed, counted from
	// the moment it listens.
	minDelay, maxDelay = 5 * time.Millisecond, 300 * time.Millisecond
	// doubleCrashOneIn: one trial in this many kills the node a second
	// time while it starts up again.
	doubleCrashOneIn = 6
	// inProcessAudits is about how many times audit.Verify runs
	// in-process (under the race detector, slower than the binary), evenly
	// spread and always after the last trial; `cleanroom audit verify`
	// runs after every trial.
	inProcessAudits = 40
)

func envInt(t *testing.T, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: want an integer", name, s)
	}
	return v
}

// badLog matches node log lines that no crash excuses.
var badLog = regexp.MustCompile(`(?m)^(panic:|fatal error:|WARNING: DATA RACE)|level=ERROR`)

// TestCrash kills a node with SIGKILL at random moments during a stream of
// queries and checks, after each restart, that nothing acknowledged was
// lost: see the package doc.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and crashes a node many times")
	}
	trials := int(envInt(t, "CLEANROOM_CRASH_TRIALS", defaultTrials))
	seed := uint64(envInt(t, "CLEANROOM_CRASH_SEED", time.Now().UnixNano()))
	work := os.Getenv("CLEANROOM_CRASH_KEEP")
	if work == "" {
		work = t.TempDir()
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	} else if entries, _ := os.ReadDir(work); len(entries) > 0 {
		t.Fatalf("CLEANROOM_CRASH_KEEP=%s is not empty", work)
	}
	t.Logf("%d trials, seed %d (CLEANROOM_CRASH_SEED=%d reruns them), working in %s", trials, seed, seed, work)
	began := time.Now()

	bin := os.Getenv("CLEANROOM_CRASH_BIN")
	if bin == "" {
		bin = buildBinary(t, os.Getenv("CLEANROOM_CRASH_RACE") == "1")
	}
	h := newHarness(t, bin, work)
	rng := rand.New(rand.NewPCG(seed, 0x63726173687465))

	trial, logFrom := 0, int64(0)
	fatalf := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("trial %d of %d, seed %d (rerun with CLEANROOM_CRASH_SEED=%d CLEANROOM_CRASH_TRIALS=%d): %s\n"+
			"--- node log of this trial ---\n%s--- end of node log ---",
			trial, trials, seed, seed, trials, fmt.Sprintf(format, args...), h.logSince(logFrom, 256<<10))
	}

	// Setup, once: parties, scenario, datasets, uploads, an approved letter.
	c, ni, err := h.start("setup")
	if err != nil {
		fatalf("%v", err)
	}
	if err := h.setup(c, rows); err != nil {
		fatalf("setup: %v", err)
	}
	m, err := newLogModel(ni.NodeKey)
	if err != nil {
		fatalf("%v", err)
	}
	if err := m.sync(c); err != nil {
		fatalf("after setup: %v", err)
	}
	if err := h.stop(); err != nil {
		fatalf("%v", err)
	}
	t.Logf("setup: %s", m.summary())

	auditEvery := max(1, trials/inProcessAudits)
	var totalAcked, totalUnacked, totalRetried, doubles, dirty int
	for trial = 1; trial <= trials; trial++ {
		logFrom = h.logOffset()
		m.beginTrial()
		fmt.Fprintf(h.logf, "=== crashtest: trial %d ===\n", trial)

		// A stream of queries, and a kill at a random moment.
		c, _, err := h.start(fmt.Sprintf("trial %d", trial))
		if err != nil {
			fatalf("%v", err)
		}
		delay := minDelay + time.Duration(rng.Int64N(int64(maxDelay-minDelay)))
		rec := &recorder{}
		var wg sync.WaitGroup
		wg.Go(func() { observe(c, m, rec) })
		for range workers {
			wrng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
			wg.Go(func() { h.worker(c, wrng, rec) })
		}
		time.Sleep(delay)
		rec.killing.Store(true)
		killErr := h.kill()
		wg.Wait()
		if killErr != nil {
			fatalf("%v", killErr)
		}
		if len(rec.failures) > 0 {
			fatalf("%d wrong answers before the kill:\n  %s", len(rec.failures), strings.Join(rec.failures, "\n  "))
		}

		// Sometimes a second crash, while the node starts up again.
		if rng.IntN(doubleCrashOneIn) == 0 {
			doubles++
			if _, err := h.spawn(fmt.Sprintf("trial %d, to be killed while starting", trial)); err != nil {
				fatalf("%v", err)
			}
			// Anywhere in the start-up, as long as the last one took,
			// or a little after.
			time.Sleep(time.Duration(rng.Int64N(int64(h.startup*5/4) + 1)))
			if err := h.kill(); err != nil {
				fatalf("killing the node while it started: %v", err)
			}
		}

		// The restart: the node must come up, and the log must hold
		// everything acknowledged.
		c, _, err = h.start(fmt.Sprintf("trial %d, after the crash", trial))
		if err != nil {
			fatalf("after a SIGKILL %v into the stream (%d answers acknowledged, %d unanswered): %v", delay, len(rec.acks), len(rec.unacked), err)
		}
		m.pending = rec.acks
		if err := m.expectCheckpoints(rec.checkpoints); err != nil {
			fatalf("%v", err)
		}
		if err := m.sync(c); err != nil {
			fatalf("after a SIGKILL %v into the stream: %v", delay, err)
		}
		if err := m.checkShown(rec); err != nil {
			// Not a failure: the issue asks that nothing acknowledged be
			// lost, and nothing shown here was acknowledged or acted on.
			dirty++
			t.Logf("trial %d: %v", trial, err)
		}
		if err := m.checkBudget(c); err != nil {
			fatalf("after a SIGKILL %v into the stream: %v", delay, err)
		}
		if err := m.checkSealed(c, filepath.Join(h.dir, "sealed")); err != nil {
			fatalf("after a SIGKILL %v into the stream: %v", delay, err)
		}

		// Send again every query that got no answer, and a few that did:
		// a query whose decision is on record must be refused as a
		// replay, any other decided afresh.
		retry := slices.Clone(rec.unacked)
		for range min(3, len(rec.decided)) {
			retry = append(retry, rec.decided[rng.IntN(len(rec.decided))])
		}
		var retried []*ack
		for _, q := range retry {
			_, logged := m.decisionOf[q.hash]
			a, err := send(c, q, logged)
			if err != nil {
				fatalf("sending again after the restart (its decision is on record: %t): %v", logged, err)
			}
			retried = append(retried, a)
		}
		m.pending = retried
		if err := m.sync(c); err != nil {
			fatalf("after sending %d queries again: %v", len(retry), err)
		}
		if err := m.checkBudget(c); err != nil {
			fatalf("after sending %d queries again: %v", len(retry), err)
		}

		// A clean stop, and the auditor's verification.
		if err := h.stop(); err != nil {
			fatalf("%v", err)
		}
		if err := h.audit(m, trial == trials || trial%auditEvery == 0); err != nil {
			fatalf("%v", err)
		}
		if bad := badLog.FindString(h.logSince(logFrom, 1<<30)); bad != "" {
			fatalf("the node logged %q", bad)
		}
		totalAcked += len(rec.acks)
		totalUnacked += len(rec.unacked)
		totalRetried += len(retry)
		t.Logf("trial %d: killed after %v; %d acknowledged %v, %d unanswered, %d sent again; log: %s",
			trial, delay, len(rec.acks), rec.counts(), len(rec.unacked), len(retry), m.summary())
	}
	t.Logf("%d trials (%d with a second crash during start-up) in %v: %d answers acknowledged and found in the log, %d unanswered, %d sent again; %s",
		trials, doubles, time.Since(began).Round(time.Millisecond), totalAcked, totalUnacked, totalRetried, m.summary())
	if dirty > 0 {
		t.Logf("note: in %d of %d trials the node had shown clients (/v1/info, /v1/letters) entries or budget debits that were not yet durable, and the crash took them back; see the trials above", dirty, trials)
	}
}

// audit runs `cleanroom audit verify` on the stopped node's directory
// and, when inProcess, audit.Verify as well; both must pass and agree with
// the model.
func (h *harness) audit(m *logModel, inProcess bool) error {
	out, err := h.auditCLI()
	if err != nil {
		return err
	}
	var rep audit.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("cleanroom audit verify --json: %v\n%s", err, out)
	}
	if err := m.checkReport("cleanroom audit verify", &rep); err != nil {
		return err
	}
	if !inProcess {
		return nil
	}
	r, err := audit.Verify(filepath.Join(h.dir, "ledger"), m.nodeKey)
	if err != nil {
		return fmt.Errorf("audit.Verify: %w", err)
	}
	return m.checkReport("audit.Verify", r)
}
