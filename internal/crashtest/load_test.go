package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
)

// queryEpsilon is what every query asks per share.
const queryEpsilon = "0.001"

const (
	joinSQL  = "SELECT r.industry, SUM(l.amount), COUNT(*) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry"
	countSQL = "SELECT COUNT(*) FROM electricity e"
	rowSQL   = "SELECT * FROM loans"
)

// kind is the kind of a query the test sends, and so what it expects.
type kind int

const (
	kindJoin     kind = iota // allowed: three shares on loans and registry
	kindCount                // allowed: two shares on electricity
	kindDryRun               // allowed, a dry run: spends nothing
	kindDenied               // row-level SELECT: denied, and logged
	kindStranger             // signed by an unregistered key: 401, logged as a rejection
	kindReplay               // an acknowledged query sent again: 409, logged as a rejection
	kindUpload               // not a query: a small sealed upload to loans
	numKinds
)

var kindNames = [numKinds]string{"join", "count", "dry-run", "denied", "stranger", "replay", "upload"}

func (k kind) String() string { return kindNames[k] }

// wantCharges is what each allowed kind spends.
var wantCharges = map[kind][]policy.Charge{
	kindJoin:   {{Dataset: "loans", Epsilon: mustEps("0.003")}, {Dataset: "registry", Epsilon: mustEps("0.003")}},
	kindCount:  {{Dataset: "electricity", Epsilon: mustEps("0.002")}},
	kindDryRun: {{Dataset: "loans", Epsilon: mustEps("0.003")}, {Dataset: "registry", Epsilon: mustEps("0.003")}},
}

func mustEps(s string) dp.Epsilon {
	e, err := dp.ParseEpsilon(s)
	if err != nil {
		panic(err)
	}
	return e
}

// sent is a signed query statement the test sent.
type sent struct {
	kind kind
	msg  []byte
	req  policy.Request
	hash string // statement.Hash(msg)
}

// ack is an answer the node gave: a logged decision (200 or 403), with its
// release for an allowed query that ran, or a logged rejection (401, 409),
// or an accepted upload.
type ack struct {
	q         *sent // nil for an upload
	upload    *api.Uploaded
	replay    bool    // the node answered that q was replayed
	decision  *uint64 // ledger index of the decision
	dec       *policy.Decision
	release   *uint64 // ledger index of the release
	resultSHA string
	rejection *uint64 // ledger index of the rejection
}

func (a *ack) String() string {
	switch {
	case a.upload != nil:
		return fmt.Sprintf("upload %s accepted at entry %d", a.upload.UploadID, a.upload.Entry)
	case a.rejection != nil:
		return fmt.Sprintf("%s query %.12s… rejected at entry %d", a.q.kind, a.q.hash, *a.rejection)
	case a.release != nil:
		return fmt.Sprintf("%s query %.12s… decided at entry %d, released at %d", a.q.kind, a.q.hash, *a.decision, *a.release)
	default:
		return fmt.Sprintf("%s query %.12s… decided at entry %d", a.q.kind, a.q.hash, *a.decision)
	}
}

// newQuery signs a fresh query of kind k (not kindReplay).
func (h *harness) newQuery(k kind) (*sent, error) {
	req := policy.Request{SQL: joinSQL, Letter: letterID, Epsilon: queryEpsilon, Nonce: statement.NewNonce(), Time: time.Now().UTC()}
	signer := h.parties["bank"].signer
	switch k {
	case kindCount:
		req.SQL = countSQL
	case kindDryRun:
		req.DryRun = true
	case kindDenied:
		req.SQL = rowSQL
	case kindStranger:
		signer = h.parties["stranger"].signer
	}
	msg, err := statement.New(statement.KindQuery, req, signer)
	if err != nil {
		return nil, err
	}
	return &sent{kind: k, msg: msg, req: req, hash: statement.Hash(msg)}, nil
}

// errUnanswered wraps a failure to get any answer from the node: the
// query's fate is unknown.
var errUnanswered = errors.New("no answer")

// send sends q and checks the answer against what a query of its kind
// must get; replay says the node must refuse it as replayed. It returns
// the acknowledgement, or an error wrapping errUnanswered when the node
// gave no answer, or another error when the answer is wrong.
func send(c *client.Client, q *sent, replay bool) (*ack, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Query(ctx, q.msg)
	var ce *client.Error
	if err != nil && !errors.As(err, &ce) {
		return nil, fmt.Errorf("%w: %v", errUnanswered, err)
	}
	a := &ack{q: q}
	switch {
	case replay:
		if ce == nil || ce.Status != http.StatusConflict || ce.Code != api.CodeConflict || ce.Entry == nil {
			return nil, fmt.Errorf("%s query %.12s… sent again must be refused as a replay (409 with a logged rejection), got %s", q.kind, q.hash, describe(res, err))
		}
		a.replay, a.rejection = true, ce.Entry
	case q.kind == kindStranger:
		if ce == nil || ce.Status != http.StatusUnauthorized || ce.Entry == nil {
			return nil, fmt.Errorf("a query by an unregistered key must be refused (401 with a logged rejection), got %s", describe(res, err))
		}
		a.rejection = ce.Entry
	case q.kind == kindDenied:
		if ce == nil || ce.Status != http.StatusForbidden || ce.Entry == nil || ce.Decision == nil || ce.Decision.Allow || !ce.Decision.Has(policy.CodeRowLevel) {
			return nil, fmt.Errorf("a row-level query must be denied (403 %s with its logged decision), got %s", policy.CodeRowLevel, describe(res, err))
		}
		a.decision, a.dec = ce.Entry, ce.Decision
	default:
		if err != nil {
			return nil, fmt.Errorf("%s query %.12s… must be allowed, got %s", q.kind, q.hash, describe(res, err))
		}
		d := res.Decision
		if !d.Allow || fmt.Sprint(d.Charges) != fmt.Sprint(wantCharges[q.kind]) {
			return nil, fmt.Errorf("%s query %.12s… allowed=%t with charges %v, want allowed with %v", q.kind, q.hash, d.Allow, d.Charges, wantCharges[q.kind])
		}
		idx := res.DecisionEntry
		a.decision, a.dec = &idx, &d
		if q.kind == kindDryRun {
			if res.Result != nil || res.ReleaseEntry != nil {
				return nil, fmt.Errorf("dry run %.12s… ran: result %v, release entry %v", q.hash, res.Result, res.ReleaseEntry)
			}
		} else {
			if res.Result == nil || res.ReleaseEntry == nil || res.ResultSHA256 == "" {
				return nil, fmt.Errorf("%s query %.12s… allowed at entry %d without a released result (result %v, release entry %v)", q.kind, q.hash, idx, res.Result, res.ReleaseEntry)
			}
			a.release, a.resultSHA = res.ReleaseEntry, res.ResultSHA256
		}
	}
	return a, nil
}

func describe(res *api.QueryResponse, err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		entry := "no entry"
		if ce.Entry != nil {
			entry = fmt.Sprintf("entry %d", *ce.Entry)
		}
		return fmt.Sprintf("%d %s (%s): %s", ce.Status, ce.Code, entry, ce.Message)
	}
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("200, allowed=%t at entry %d", res.Decision.Allow, res.DecisionEntry)
}

// recorder collects what the clients of one trial saw.
type recorder struct {
	mu       sync.Mutex
	acks     []*ack
	unacked  []*sent       // sent, no answer: fate unknown
	failures []string      // wrong answers
	byKind   [numKinds]int // acknowledged, by kind
	decided  []*sent       // acknowledged decisions, candidates for replays
	killing  atomic.Bool
	// uploading is set once a worker has begun this trial's upload.
	uploading atomic.Bool

	// What the observer read while the node ran (guarded by mu): the
	// signed checkpoints it was served, the most entries /v1/info
	// reported, and the most budget the letter showed spent.
	checkpoints []*ledger.Checkpoint
	infoEntries uint64
	shownSpent  map[string]dp.Epsilon
}

func (r *recorder) failf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// record files the outcome of one send.
func (r *recorder) record(q *sent, a *ack, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.acks = append(r.acks, a)
		switch {
		case a.upload != nil:
			r.byKind[kindUpload]++
		case a.replay:
			r.byKind[kindReplay]++
		default:
			r.byKind[q.kind]++
		}
		if a.decision != nil {
			r.decided = append(r.decided, q)
		}
	case errors.Is(err, errUnanswered):
		if q != nil {
			r.unacked = append(r.unacked, q)
		}
	default:
		r.failures = append(r.failures, err.Error())
	}
}

// counts describes byKind.
func (r *recorder) counts() string {
	var parts []string
	for k, n := range r.byKind {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", kind(k), n))
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// pickDecided returns an acknowledged decision's query, or nil.
func (r *recorder) pickDecided(rng *rand.Rand) *sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.decided) == 0 {
		return nil
	}
	return r.decided[rng.IntN(len(r.decided))]
}

// pickKind draws the kind of the next query.
func pickKind(rng *rand.Rand) kind {
	switch p := rng.IntN(100); {
	case p < 40:
		return kindJoin
	case p < 55:
		return kindCount
	case p < 70:
		return kindDryRun
	case p < 85:
		return kindDenied
	case p < 91:
		return kindStranger
	case p < 97:
		return kindReplay
	default:
		return kindUpload
	}
}

// worker sends queries until the node is being killed. An answer that
// fails to come while the node is up is a failure: only the kill may
// cut a query short.
func (h *harness) worker(c *client.Client, rng *rand.Rand, r *recorder) {
	for !r.killing.Load() {
		k := pickKind(rng)
		if k == kindUpload && !r.uploading.CompareAndSwap(false, true) {
			k = kindJoin // one upload per trial: each makes the next query decrypt every upload again
		}
		if k == kindUpload {
			a, err := h.upload(c)
			if errors.Is(err, errUnanswered) && !r.killing.Load() {
				r.failf("an upload got no answer while the node was up: %v", err)
				return
			}
			r.record(nil, a, err)
			continue
		}
		var q *sent
		replay := false
		if k == kindReplay {
			if q = r.pickDecided(rng); q != nil {
				replay = true
			} else {
				k = kindJoin
			}
		}
		if q == nil {
			var err error
			if q, err = h.newQuery(k); err != nil {
				r.failf("signing a query: %v", err)
				return
			}
		}
		a, err := send(c, q, replay)
		if errors.Is(err, errUnanswered) && !r.killing.Load() {
			r.failf("%s query %.12s… got no answer while the node was up: %v", q.kind, q.hash, err)
			return
		}
		if replay && errors.Is(err, errUnanswered) {
			continue // a replay's statement is already on record
		}
		r.record(q, a, err)
	}
}

// uploadRows is the number of rows of each upload during the trials.
const uploadRows = 3

// upload uploads a few fresh rows to loans, sealed, as the bank.
func (h *harness) upload(c *client.Client) (*ack, error) {
	n := h.uploads.Add(1)
	var b strings.Builder
	b.WriteString("loan_id,uscc,amount,green\n")
	for i := range uploadRows {
		fmt.Fprintf(&b, "U%06d-%d,F%06d%d,%d,%t\n", n, i, n, i, 5000+i, i%2 == 0)
	}
	path := filepath.Join(h.uploadDir, fmt.Sprintf("loans-%06d.csv", n))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := schemas["loans"]
	up, err := c.UploadCSV(ctx, h.parties["bank"].signer, "loans", &s, path, client.UploadOptions{})
	var ce *client.Error
	switch {
	case errors.As(err, &ce):
		return nil, fmt.Errorf("an upload of %d good rows must be accepted, got %d %s: %s", uploadRows, ce.Status, ce.Code, ce.Message)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", errUnanswered, err)
	case len(up.Parts) != 1 || up.Rows != uploadRows || up.Parts[0].Dataset != "loans":
		return nil, fmt.Errorf("upload %s accepted as %d rows of %s in %d parts", up.Set, up.Rows, up.Dataset, len(up.Parts))
	}
	return &ack{upload: &up.Parts[0]}, nil
}

// observe reads what any client may read while queries run, until the
// node is being killed: the signed checkpoint, /v1/info and the letter's
// budget. What it was shown must survive the crash.
func observe(c *client.Client, m *logModel, r *recorder) {
	r.mu.Lock()
	r.shownSpent = map[string]dp.Epsilon{}
	r.mu.Unlock()
	for !r.killing.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		raw, err := c.Checkpoint(ctx)
		if err == nil {
			cp, perr := ledger.ParseCheckpoint(raw, m.verifier)
			if perr != nil {
				r.failf("the node served a checkpoint that does not verify: %v\n%s", perr, raw)
			} else {
				r.mu.Lock()
				r.checkpoints = append(r.checkpoints, cp)
				r.mu.Unlock()
			}
		}
		if info, err := c.Info(ctx); err == nil {
			r.mu.Lock()
			r.infoEntries = max(r.infoEntries, info.Entries)
			r.mu.Unlock()
		}
		if ls, err := c.Letter(ctx, letterID); err == nil {
			r.mu.Lock()
			for _, b := range ls.Budgets {
				r.shownSpent[b.Dataset] = max(r.shownSpent[b.Dataset], b.Spent)
			}
			r.mu.Unlock()
		}
		cancel()
		time.Sleep(2 * time.Millisecond)
	}
}
