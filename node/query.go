package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xjdata/cleanroom/enclave"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/state"
)

func (n *Node) handleQuery(w http.ResponseWriter, r *http.Request) {
	raw, ok := readStatement(w, r)
	if !ok {
		return
	}
	n.serveQuery(w, r, raw, nil)
}

// handleHEQuery takes a query in HE mode with the operator's result key.
func (n *Node) handleHEQuery(w http.ResponseWriter, r *http.Request) {
	var q api.HEQuery
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 2*statement.MaxBytes+8<<20))
	if err := dec.Decode(&q); err != nil || q.Statement == "" || len(q.ResultKey) == 0 {
		writeErr(w, http.StatusBadRequest, api.CodeMalformed, "want a JSON body with the signed query statement and the result key", nil)
		return
	}
	n.serveQuery(w, r, []byte(q.Statement), q.ResultKey)
}

// serveQuery decides a signed query, logs the decision and, if allowed,
// runs it. target is the operator's result key of an HE-mode query.
func (n *Node) serveQuery(w http.ResponseWriter, r *http.Request, raw, target []byte) {
	// Every answer, a release or a denial, leaves on the time grid.
	w = &gridWriter{ResponseWriter: w, start: time.Now(), slot: n.cfg.Slot, sleep: time.Sleep}
	snap := n.snapshot()
	st, err := statement.Verify(raw, snap)
	if err == nil && st.Kind != statement.KindQuery {
		err = fmt.Errorf("%w: a %s statement is not a query", statement.ErrMalformed, st.Kind)
	}
	if err == nil && len(st.Signers) != 1 {
		err = fmt.Errorf("%w: a query has exactly one signer", statement.ErrMalformed)
	}
	var req policy.Request
	if err == nil {
		err = st.Decode(&req)
	}
	now := n.cfg.Now().UTC()
	if w := snap.Window(); err == nil && (req.Time.Before(now.Add(-w)) || req.Time.After(now.Add(w))) {
		err = &state.StaleError{What: "query", Signed: req.Time, At: now, Window: w}
	}
	if err == nil && req.ResultKey != "" && sha256Hex(target) != req.ResultKey {
		err = fmt.Errorf("%w: the query names result key %s, but %s", statement.ErrMalformed, req.ResultKey,
			map[bool]string{true: "no result key came with it (HE-mode queries go to /v1/he/queries)", false: "the key sent has another hash"}[target == nil])
	}
	if err != nil {
		status, code := statusOf(err)
		n.reject(w, status, code, raw, "", err)
		return
	}
	requester := st.Signers[0]
	if err := n.guard.request(requester); err != nil {
		n.refuseQuota(w, err.(*quotaError))
		return
	}
	release, qerr := n.guard.query(requester)
	if qerr != nil {
		n.refuseQuota(w, qerr.(*quotaError))
		return
	}
	defer release()

	// Compile, decide, log and debit as one step, on one snapshot: the
	// auditor's replay compiles and decides on the same state.
	n.mu.Lock()
	cur := n.snapshot()
	plan, cerr := query.Compile(req.SQL, catalog(cur))
	var planHash string
	if cerr == nil {
		pj, _ := json.Marshal(plan)
		planHash = sha256Hex(pj)
	}
	var d *policy.Decision
	if cerr != nil {
		d = policy.Invalid(cerr)
	} else {
		d = policy.Evaluate(cur, policy.Input{Requester: requester, Request: req, Plan: plan, Time: now})
	}
	entry := &state.Entry{Kind: state.KindDecision, Time: now, Statement: string(raw), Decision: &state.Decided{Decision: *d, PlanSHA256: planHash}}
	p, err := n.stageLocked(entry)
	n.mu.Unlock()
	if err == nil {
		// Durable before anything is computed, spent or released.
		err = n.wait(p)
	}
	if err != nil {
		status, code := statusOf(err)
		if errors.Is(err, errAudit) {
			writeErr(w, status, code, err.Error(), nil)
			return
		}
		n.reject(w, status, code, raw, "", err)
		return
	}
	idx := p.Index
	n.log.Info("query decided", "entry", idx, "requester", requester, "letter", req.Letter, "allow", d.Allow, "dry_run", req.DryRun)
	if !d.Allow {
		writeJSON(w, http.StatusForbidden, api.Error{Code: api.CodeDenied, Message: d.String(), Entry: &idx, Decision: d})
		return
	}
	resp := api.QueryResponse{Decision: *d, DecisionEntry: idx}
	if req.DryRun {
		writeJSON(w, http.StatusOK, resp)
		return
	}

	var rows int
	if d.Params.Mode == policy.ModeHE {
		he, err := n.executeHE(r.Context(), cur, idx, &req, d.Params, plan, target)
		if err != nil {
			// The budget stays spent, as below; nothing was released.
			n.log.Error("HE query failed", "entry", idx, "err", err)
			status := http.StatusInternalServerError
			var re *refusedError
			if errors.As(err, &re) {
				status = http.StatusForbidden
			}
			writeErr(w, status, api.CodeInternal, "the query was allowed but nothing was released: "+err.Error(), &idx)
			return
		}
		rb, _ := json.Marshal(he)
		resp.HE, resp.ResultSHA256, rows = he, sha256Hex(rb), len(he.Groups)
	} else {
		res, err := n.execute(r, plan, d.Params)
		if err != nil {
			// The budget stays spent: the decision is on record, and a failed
			// run may still have revealed something through its timing.
			n.log.Error("query execution failed", "entry", idx, "err", err)
			writeErr(w, http.StatusInternalServerError, api.CodeInternal, "the query was allowed but could not run: "+err.Error(), &idx)
			return
		}
		// How many groups were withheld is not released, nor logged: it
		// would reveal that small groups exist.
		out := apiResult(res)
		rb, _ := json.Marshal(out)
		resp.Result, resp.ResultSHA256, rows = out, sha256Hex(rb), len(out.Rows)
	}
	recipient := req.Recipient
	if recipient == "" {
		recipient = requester
	}
	rel, err := n.append(&state.Entry{Kind: state.KindRelease, Release: &state.Release{
		Decision: idx, Recipient: recipient, ResultSHA256: resp.ResultSHA256, Rows: rows,
	}})
	if err != nil {
		// Nothing leaves unless its release is on record.
		status, code := statusOf(err)
		writeErr(w, status, code, err.Error(), &idx)
		return
	}
	resp.ReleaseEntry = &rel
	var perr error
	if resp.DecisionLogged, resp.DecisionProof, perr = n.proof(idx); perr == nil {
		resp.ReleaseLogged, resp.ReleaseProof, perr = n.proof(rel)
	}
	if perr != nil {
		n.log.Error("proof of a release", "entry", rel, "err", perr)
		writeErr(w, http.StatusInternalServerError, api.CodeInternal, "the result is logged but its proof could not be built: "+perr.Error(), &rel)
		return
	}
	if resp.HE != nil && strings.Contains(r.Header.Get("Accept"), api.BinaryType) {
		// Megabytes of ciphertexts: as bytes, not base64 in JSON.
		w.Header().Set("Content-Type", api.BinaryType)
		w.WriteHeader(http.StatusOK)
		api.WriteHEAnswer(w, &resp)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// execute loads the plan's tables into the enclave and runs it.
func (n *Node) execute(r *http.Request, plan *query.Plan, p *policy.Params) (*enclave.Result, error) {
	snap := n.snapshot()
	tables := make(map[string]*enclave.Table, len(plan.Tables))
	// The tables load (decrypt) side by side: each is a stream of its own.
	runs := make([]*enclave.Table, len(plan.Tables))
	errs := make([]error, len(plan.Tables))
	dss := make([]*policy.Dataset, len(plan.Tables))
	for i, t := range plan.Tables {
		ds, ok := snap.Dataset(t.Name)
		if !ok {
			return nil, fmt.Errorf("dataset %s vanished", t.Name)
		}
		dss[i] = ds
	}
	var wg sync.WaitGroup
	for i, t := range plan.Tables {
		ds := dss[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			unit := -1
			if ds.Unit != "" {
				unit = ds.Schema.Index(ds.Unit)
			}
			// Only the columns the plan reads are decrypted and decoded.
			need := enclave.PlanColumns(plan, t.Name, &ds.Schema, unit)
			tab, err := n.store.LoadColumns(t.Name, &ds.Schema, snap.DatasetUploads(t.Name), snap.DatasetRows(t.Name), need)
			if err != nil {
				errs[i] = err
				return
			}
			// A copy keeps the rows' cache of codes and join indexes.
			run := *tab
			run.Unit, run.MaxRowsPerUnit = unit, ds.RowsPerUnit()
			runs[i] = &run
		}()
	}
	wg.Wait()
	defer func() {
		for _, t := range runs {
			if t != nil {
				t.Release()
			}
		}
	}()
	for i, t := range plan.Tables {
		if errs[i] != nil {
			return nil, errs[i]
		}
		tables[t.Name] = runs[i]
	}
	return enclave.Execute(r.Context(), plan, tables, enclave.Params{
		Epsilon:          p.Epsilon.Float64(),
		Delta:            p.Delta,
		MinGroupSize:     p.MinGroupSize,
		MaxGroupsPerUnit: p.MaxGroupsPerUnit,
		Noise:            n.cfg.Noise,
		PublicGroups:     p.PublicGroups,
	})
}

// apiResult is what a sealed-mode result releases: its rows, and how each
// value was noised with its confidence interval.
func apiResult(res *enclave.Result) *api.Result {
	out := &api.Result{Columns: res.Columns, Rows: res.Rows, Level: 1 - enclave.DefaultAlpha, Selection: apiStats(res.Selection)}
	for _, s := range res.Stats {
		out.Stats = append(out.Stats, apiStats(s))
	}
	for _, row := range res.Intervals {
		ir := make([]*api.Interval, len(row))
		for i, ci := range row {
			if ci != nil {
				ir[i] = &api.Interval{Lo: ci.Lo, Hi: ci.Hi}
			}
		}
		out.Intervals = append(out.Intervals, ir)
	}
	return out
}

func apiStats(s *enclave.Stats) *api.Stats {
	if s == nil {
		return nil
	}
	return &api.Stats{Mechanism: s.Mechanism, Epsilon: s.Epsilon, Delta: s.Delta, L0: s.L0, LInf: s.LInf}
}
