package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/enclave"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/heplan"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/state"
)

// agentTimeout bounds one call to a provider's agent.
const agentTimeout = 2 * time.Minute

// callAgent posts req to a provider's agent and decodes its answer into
// resp. An agent's refusal comes back as an *AgentError. A key-switch
// request (encoded once for every agent: a keySwitchBody) and its shares
// travel in their binary form.
func (n *Node) callAgent(ctx context.Context, snap *state.Snapshot, party, path string, req, resp any) error {
	ag, ok := snap.Agent(party)
	if !ok {
		return fmt.Errorf("provider %s has no agent on record", party)
	}
	hc, err := n.agentClient(ag.Pin)
	if err != nil {
		return err
	}
	var body io.Reader
	ctype := "application/json"
	// The most an answer may hold: shares are as large as the
	// ciphertexts the request carries, so a key-switch answer is bounded
	// by its request.
	limit := int64(maxAgentAnswer)
	if ks, ok := req.(keySwitchBody); ok {
		body, ctype = bytes.NewReader(ks), api.BinaryType
		limit = int64(len(ks)) + 1<<16
	} else {
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(req); err != nil {
			return err
		}
		body = &b
	}
	ctx, cancel := context.WithTimeout(ctx, agentTimeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, ag.URL+path, body)
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", ctype)
	res, err := hc.Do(hr)
	if err != nil {
		return &AgentError{Party: party, Msg: "unreachable: " + err.Error()}
	}
	defer res.Body.Close()
	if res.ContentLength > limit {
		return &AgentError{Party: party, Msg: fmt.Sprintf("an answer of %d bytes, more than the %d its request allows", res.ContentLength, limit)}
	}
	var buf bytes.Buffer
	if res.ContentLength > 0 {
		buf.Grow(int(res.ContentLength))
	}
	read, err := buf.ReadFrom(io.LimitReader(res.Body, limit+1))
	b := buf.Bytes()
	if err != nil {
		return &AgentError{Party: party, Msg: "reading its answer: " + err.Error()}
	}
	if read > limit {
		return &AgentError{Party: party, Msg: fmt.Sprintf("an answer of more than the %d bytes its request allows", limit)}
	}
	if res.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = "answered " + res.Status
		}
		return &AgentError{Party: party, Code: e.Code, Msg: e.Message}
	}
	if ks, ok := resp.(*api.KeySwitchResponse); ok {
		ks.Shares, err = api.ReadShares(bytes.NewReader(b))
	} else {
		err = json.Unmarshal(b, resp)
	}
	if err != nil {
		return &AgentError{Party: party, Msg: "malformed answer: " + err.Error()}
	}
	return nil
}

// maxAgentAnswer bounds an agent's answer to anything but a key switch
// (setup shares and the like).
const maxAgentAnswer = 64 << 20

// keySwitchBody is a key-switch request in its binary form.
type keySwitchBody []byte

// agentClient returns a pinned HTTP client for an agent, kept so that its
// connections are reused from one release to the next.
func (n *Node) agentClient(pin string) (*http.Client, error) {
	n.agentMu.Lock()
	defer n.agentMu.Unlock()
	if hc, ok := n.agentClients[pin]; ok {
		return hc, nil
	}
	hc, err := client.Pinned("sha256:" + pin)
	if err != nil {
		return nil, err
	}
	if n.agentClients == nil {
		n.agentClients = map[string]*http.Client{}
	}
	n.agentClients[pin] = hc
	return hc, nil
}

// AgentError is a provider's agent refusing or failing a request.
type AgentError struct {
	Party string
	Code  string
	Msg   string
}

func (e *AgentError) Error() string {
	if e.Code != "" {
		return e.Msg
	}
	return e.Party + "'s agent: " + e.Msg
}

// collectivePath is where the node keeps the collective public key.
func (n *Node) collectivePath() string { return filepath.Join(n.cfg.Dir, "he", "collective.pk") }

// collectiveKey returns the collective public key once set up, checked
// against want, the SHA-256 (hex) the ledger names for it; the last one
// read is kept.
func (n *Node) collectiveKey(want string) (*mhe.PublicKey, error) {
	c := &n.heStore.key
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pk != nil && c.hash == want {
		return c.pk, nil
	}
	b, err := os.ReadFile(n.collectivePath())
	if err != nil {
		return nil, errors.New("HE mode is not set up on this node")
	}
	pk, err := mhe.ParsePublicKey(n.heStore.params, b)
	if err != nil {
		return nil, fmt.Errorf("the stored collective key: %w", err)
	}
	if h := pk.Hash(); hex.EncodeToString(h[:]) != want {
		return nil, fmt.Errorf("the stored collective key is not the one the ledger names (%s)", want)
	}
	c.hash, c.pk = want, pk
	return pk, nil
}

// keyCache keeps the collective key last read, by its hash.
type keyCache struct {
	mu   sync.Mutex
	hash string
	pk   *mhe.PublicKey
}

func (n *Node) handleHEKey(w http.ResponseWriter, r *http.Request) {
	b, err := os.ReadFile(n.collectivePath())
	if err != nil {
		writeErr(w, http.StatusNotFound, api.CodeNotFound, "HE mode is not set up", nil)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

// handleHESetup logs an mhe-setup statement and runs the key generation:
// each named provider's agent gives its share (and the first one the
// fingerprint key, encrypted to the others); the node aggregates the
// collective public key, logs it with every provider's signed share, and
// hands each agent the shares to check the key against, with its copy of
// the fingerprint key. The node never holds a secret-key share.
func (n *Node) handleHESetup(w http.ResponseWriter, r *http.Request) {
	raw, ok := readStatement(w, r)
	if !ok {
		return
	}
	st, err := statement.Parse(raw)
	if err == nil && st.Kind != statement.KindHESetup {
		err = fmt.Errorf("%w: a %s statement is not an mhe setup", statement.ErrMalformed, st.Kind)
	}
	var setup policy.HESetup
	if err == nil {
		err = st.Decode(&setup)
	}
	if err != nil {
		status, code := statusOf(err)
		n.reject(w, status, code, raw, "", err)
		return
	}
	setupEntry, err := n.append(&state.Entry{Kind: state.KindStatement, Statement: string(raw)})
	if err != nil {
		status, code := statusOf(err)
		if errors.Is(err, errAudit) {
			writeErr(w, status, code, err.Error(), nil)
			return
		}
		n.reject(w, status, code, raw, "", err)
		return
	}
	res, err := n.runSetup(r.Context(), setupEntry, &setup)
	if err != nil && res != nil {
		n.log.Error("mhe setup: an agent did not finish", "setup", setup.ID, "err", err)
		writeErr(w, http.StatusBadGateway, api.CodeInternal, fmt.Sprintf("the collective key of setup %s is logged (entry %d), but not every agent has checked and kept it: %v; run 'cleanroom mhe finish' once it is reachable", setup.ID, res.KeyEntry, err), &res.KeyEntry)
		return
	}
	if err != nil {
		n.log.Error("mhe setup failed", "setup", setup.ID, "err", err)
		status := http.StatusBadGateway
		if errors.Is(err, errAudit) {
			status = http.StatusServiceUnavailable
		}
		writeErr(w, status, api.CodeInternal, fmt.Sprintf("mhe setup %s failed (a new setup, with a new id and seed, may be started): %v", setup.ID, err), &setupEntry)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (n *Node) runSetup(ctx context.Context, setupEntry uint64, setup *policy.HESetup) (*api.HESetupResult, error) {
	snap := n.snapshot()
	params := n.heStore.params
	seed, err := hex.DecodeString(setup.Seed)
	if err != nil {
		return nil, err
	}
	shares := make([][]byte, len(setup.Providers))
	stmts := make([]string, len(setup.Providers))
	var blobs map[string]string
	for i, p := range setup.Providers {
		var kr api.KeygenResponse
		if err := n.callAgent(ctx, snap, p, "/v1/agent/keygen", api.KeygenRequest{Setup: setupEntry}, &kr); err != nil {
			return nil, err
		}
		if err := mhe.ValidatePublicKeyShare(params, kr.Share); err != nil {
			return nil, fmt.Errorf("%s's agent sent a malformed share: %v", p, err)
		}
		shares[i], stmts[i] = kr.Share, kr.Statement
		if i == 0 {
			blobs = kr.Fingerprint
		}
	}
	pk, err := mhe.AggregatePublicKey(params, seed, shares)
	if err != nil {
		return nil, err
	}
	h := pk.Hash()
	keyHash := hex.EncodeToString(h[:])
	pb, err := pk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	// What the agents need to finish is kept before the key is logged, so
	// that a setup whose finishing round failed can be finished later.
	fin := setupFinish{Shares: shares, Fingerprint: blobs}
	fb, _ := json.Marshal(fin)
	if err := os.MkdirAll(filepath.Dir(n.collectivePath()), 0o700); err != nil {
		return nil, err
	}
	if err := keys.WriteDurable(filepath.Join(filepath.Dir(n.collectivePath()), "finish.json"), fb, 0o600); err != nil {
		return nil, err
	}
	keyEntry, err := n.append(&state.Entry{Kind: state.KindHEKey, HEKey: &state.HEKeyEntry{
		Setup: setup.ID, KeySHA256: keyHash, PlaintextModulus: setup.PlaintextModulus, Shares: stmts}})
	if err != nil {
		return nil, err
	}
	if err := keys.WriteDurable(n.collectivePath(), pb, 0o644); err != nil {
		return nil, err
	}
	res := &api.HESetupResult{SetupEntry: setupEntry, KeyEntry: keyEntry, KeySHA256: keyHash, Providers: setup.Providers}
	return res, n.finishSetup(ctx, keyEntry, setup.Providers, keyHash, &fin)
}

// setupFinish is what the agents need to finish a setup: every provider's
// share, and the fingerprint key encrypted to each (by party).
type setupFinish struct {
	Shares      [][]byte          `json:"shares"`
	Fingerprint map[string]string `json:"fingerprint"`
}

// finishSetup has every agent check the collective key logged at
// keyEntry and keep it with its fingerprint key. Agents finish
// idempotently, so it may run again.
func (n *Node) finishSetup(ctx context.Context, keyEntry uint64, providers []string, keyHash string, fin *setupFinish) error {
	snap := n.snapshot()
	for _, p := range providers {
		var fr api.FinishResponse
		if err := n.callAgent(ctx, snap, p, "/v1/agent/finish", api.FinishRequest{Key: keyEntry, Shares: fin.Shares, Fingerprint: fin.Fingerprint[p]}, &fr); err != nil {
			return err
		}
		if fr.KeySHA256 != keyHash {
			return fmt.Errorf("%s's agent verified key %s, not %s", p, fr.KeySHA256, keyHash)
		}
	}
	n.log.Info("HE mode set up", "providers", providers, "key_sha256", keyHash, "entry", keyEntry)
	return nil
}

// handleHEFinish runs the finishing round of the setup on record again,
// for agents that missed it (unreachable when the key was logged).
func (n *Node) handleHEFinish(w http.ResponseWriter, r *http.Request) {
	snap := n.durableSnapshot()
	key, ok := snap.HEKey()
	if !ok {
		writeErr(w, http.StatusNotFound, api.CodeNotFound, "HE mode is not set up: run mhe setup", nil)
		return
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(n.collectivePath()), "finish.json"))
	var fin setupFinish
	if err == nil {
		err = json.Unmarshal(b, &fin)
	}
	if err != nil {
		writeErr(w, http.StatusInternalServerError, api.CodeInternal, "the node's record of the setup's shares is missing: "+err.Error(), nil)
		return
	}
	keyEntry, err := n.keyEntry(snap)
	if err == nil {
		err = n.finishSetup(r.Context(), keyEntry, key.Providers, key.KeySHA256, &fin)
	}
	if err != nil {
		writeErr(w, http.StatusBadGateway, api.CodeInternal, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, api.HESetupResult{KeyEntry: keyEntry, KeySHA256: key.KeySHA256, Providers: key.Providers})
}

// keyEntry finds the ledger index of the hekey entry.
func (n *Node) keyEntry(snap *state.Snapshot) (uint64, error) {
	var found uint64
	var ok bool
	err := n.ledger.Scan(0, func(i uint64, b []byte) error {
		if i >= snap.Entries() {
			return nil
		}
		if e, err := state.DecodeEntry(b); err == nil && e.Kind == state.KindHEKey {
			found, ok = i, true
		}
		return nil
	})
	if err == nil && !ok {
		err = errors.New("no hekey entry in the ledger")
	}
	return found, err
}

// NewHESetup returns an mhe-setup document for providers with a fresh
// random seed and the parameters of protocols/mhe.
func NewHESetup(id string, providers []string) (*policy.HESetup, error) {
	seed := make([]byte, mhe.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	s := &policy.HESetup{ID: id, Providers: providers, Seed: hex.EncodeToString(seed), PlaintextModulus: mhe.PlaintextModulus}
	return s, s.Validate()
}

// heTables loads the plan's tables in their HE-mode form, with the plan's
// fingerprint columns typed as the strings they hold.
func (n *Node) heTables(snap *state.Snapshot, plan *query.Plan) (map[string]*enclave.Table, map[string]*heTable, *query.Plan, error) {
	tables := map[string]*enclave.Table{}
	hts := map[string]*heTable{}
	fp := map[string]bool{}
	for _, t := range plan.Tables {
		ds, ok := snap.Dataset(t.Name)
		if !ok {
			return nil, nil, nil, fmt.Errorf("dataset %s vanished", t.Name)
		}
		data, ok := snap.HEData(t.Name)
		if !ok {
			return nil, nil, nil, fmt.Errorf("dataset %s has no HE-mode upload", t.Name)
		}
		sc := heSchema(&ds.Schema, data)
		ht, err := n.heStore.load(t.Name, sc, snap.HEUploads(t.Name))
		if err != nil {
			return nil, nil, nil, err
		}
		for c, tr := range data.Columns {
			if tr == policy.Fingerprint {
				fp[t.Name+"."+c] = true
			}
		}
		unit := -1
		if ds.Unit != "" {
			unit = sc.Index(ds.Unit)
		}
		hts[t.Name] = ht
		run := *ht.table
		run.Unit, run.MaxRowsPerUnit = unit, ds.RowsPerUnit()
		tables[t.Name] = &run
	}
	// The plan as run: fingerprint columns hold tokens, strings.
	b, _ := json.Marshal(plan)
	var run query.Plan
	json.Unmarshal(b, &run)
	retype := func(c *query.Column) {
		if fp[c.String()] {
			c.Type = "string"
		}
	}
	for i := range run.Joins {
		retype(&run.Joins[i].Left)
		retype(&run.Joins[i].Right)
	}
	for i := range run.Outputs {
		if run.Outputs[i].Column != nil {
			retype(run.Outputs[i].Column)
		}
	}
	return tables, hts, &run, nil
}

// executeHE runs an allowed HE-mode decision: the clear part in the
// enclave, the encrypted sums over the providers' ciphertexts, the noise
// (the node's, unless the providers draw it), the heresult entry, then
// the agents' key-switch shares. It returns the result under the
// operator's key.
func (n *Node) executeHE(ctx context.Context, snap *state.Snapshot, decision uint64, req *policy.Request, params *policy.Params, plan *query.Plan, target []byte) (*api.HEResult, error) {
	start := time.Now()
	key, ok := snap.HEKey()
	if !ok {
		return nil, errors.New("HE mode is not set up")
	}
	hp, err := heplan.Derive(snap, req, params)
	if err != nil {
		return nil, err
	}
	tables, hts, run, err := n.heTables(snap, plan)
	if err != nil {
		return nil, err
	}
	pk, err := n.collectiveKey(key.KeySHA256)
	if err != nil {
		return nil, err
	}
	mp := n.heStore.params
	// Encryptions of zero for the re-randomisation are made while the
	// clear part runs if the pool lacks any (it is refilled while the
	// agents work), and stop with it.
	stopZeros := make(chan struct{})
	go n.heStore.zeros.fill(mp, key.KeySHA256, pk, stopZeros)
	prep, err := enclave.PrepareHE(ctx, run, tables, enclave.Params{
		Epsilon: params.Epsilon.Float64(), Delta: params.Delta, MinGroupSize: params.MinGroupSize,
		MaxGroupsPerUnit: params.MaxGroupsPerUnit, Noise: n.cfg.Noise,
	}, hp.Encrypted)
	close(stopZeros)
	if err != nil {
		return nil, err
	}
	prepared := time.Since(start)
	layout := prep.Layout
	if layout.ClearLen() > mhe.ChunkSize {
		return nil, fmt.Errorf("the release has %d clear values, more than one ciphertext holds (%d): group less finely", layout.ClearLen(), mhe.ChunkSize)
	}
	if c := heplan.Ciphers(layout); c > state.MaxHECiphers || len(prep.Groups) > state.MaxHEGroups {
		return nil, fmt.Errorf("the release has %d groups in %d ciphertexts, more than one release may have (%d): group less finely", len(prep.Groups), c, state.MaxHECiphers)
	}
	// Defence in depth: the decision bounded the sums from the row counts
	// it saw; check them against the rows actually kept.
	kept := make([]int64, len(prep.Groups))
	for i, g := range prep.Groups {
		kept[i] = g.Rows
	}
	if err := layout.CheckOverflow(kept, int64(key.MaxExact())); err != nil {
		return nil, err
	}
	nodeNoise := params.Noise != policy.NoiseProviders
	noiseOf := func(v release.Value) (int64, error) {
		if !nodeNoise {
			return 0, nil
		}
		return layout.Noise(prep.Privacy, v, n.cfg.Noise)
	}

	// Encrypted sums, one ciphertext per hidden value, in layout order;
	// each column's sums over all groups in one parallel pass.
	var hvs []enclave.HEValue
	for _, g := range prep.Groups {
		hvs = append(hvs, g.Encrypted...)
	}
	sums, err := n.weightedSums(ctx, prep.Aggs, hts, hvs)
	if err != nil {
		return nil, err
	}
	summed := time.Since(start)
	// Each value is made unique by a fresh encryption of zero: the same
	// sum asked twice must not be the same ciphertext, which agents would
	// (rightly) refuse to switch again. The clear vector is one more fresh
	// zero plus its values.
	nZeros := len(hvs)
	if layout.ClearLen() > 0 {
		nZeros++
	}
	zeros, err := n.heStore.zeros.take(ctx, mp, key.KeySHA256, pk, nZeros)
	if err != nil {
		return nil, err
	}
	cts := make([]*mhe.Ciphertext, len(hvs), nZeros)
	for i, hv := range hvs {
		ct := sums[i]
		if hv.Scale != 1 {
			err = mhe.MulScalar(mp, ct, hv.Scale)
		}
		if err == nil && hv.Offset != 0 {
			err = mhe.AddConstant(mp, ct, 0, hv.Offset)
		}
		if err == nil {
			err = mhe.Add(mp, ct, zeros[i])
		}
		if err != nil {
			return nil, err
		}
		cts[i] = ct
	}
	var clear []int64
	for _, g := range prep.Groups {
		clear = append(clear, g.Clear...)
	}
	for _, v := range layout.Values {
		x, err := noiseOf(v)
		if err != nil {
			return nil, err
		}
		if v.Cipher >= 0 {
			if err := mhe.AddConstant(mp, cts[v.Cipher], 0, x); err != nil {
				return nil, err
			}
		} else {
			clear[v.Pos] += x
		}
	}
	if layout.ClearLen() > 0 {
		ct := zeros[len(hvs)]
		if err := mhe.AddVector(mp, ct, clear); err != nil {
			return nil, err
		}
		cts = append(cts, ct)
	}
	if len(cts) != heplan.Ciphers(layout) {
		return nil, fmt.Errorf("internal: %d ciphertexts for a layout of %d", len(cts), heplan.Ciphers(layout))
	}

	// Logged before any agent is asked: each agent checks this entry.
	raw := make([][]byte, len(cts))
	hashes := make([]string, len(cts))
	if err := parallel(ctx, len(cts), func(i int) error {
		var err error
		raw[i], err = cts[i].MarshalBinary()
		hashes[i] = sha256Hex(raw[i])
		return err
	}); err != nil {
		return nil, err
	}
	computed := time.Since(start)
	resEntry, err := n.append(&state.Entry{Kind: state.KindHEResult, HEResult: &state.HEResult{
		Decision: decision, Groups: len(prep.Groups), Ciphers: hashes, ResultKey: req.ResultKey}})
	if err != nil {
		return nil, err
	}

	// Every provider's agent, in parallel; any refusal stops the release.
	// Meanwhile the node, idle, makes the encryptions of zero that the
	// next release will take, so that its clear part has both cores.
	asked := time.Now()
	refilled := make(chan struct{})
	go n.heStore.zeros.fill(mp, key.KeySHA256, pk, refilled)
	var body bytes.Buffer
	body.Grow(64 + len(target) + len(raw)*(mhe.CiphertextSize+8))
	if err := api.WriteKeySwitchRequest(&body, &api.KeySwitchRequest{Result: resEntry, Ciphers: raw, Target: target}); err != nil {
		return nil, err
	}
	shares := make([][][]byte, len(key.Providers))
	errs := make([]error, len(key.Providers))
	var wg sync.WaitGroup
	for i, p := range key.Providers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ks api.KeySwitchResponse
			errs[i] = n.callAgent(ctx, n.snapshot(), p, "/v1/agent/keyswitch", keySwitchBody(body.Bytes()), &ks)
			if errs[i] == nil && len(ks.Shares) != len(raw) {
				errs[i] = &AgentError{Party: p, Msg: fmt.Sprintf("%d shares for %d ciphertexts", len(ks.Shares), len(raw))}
			}
			shares[i] = ks.Shares
		}()
	}
	wg.Wait()
	close(refilled)
	if err := errors.Join(errs...); err != nil {
		return nil, &refusedError{err}
	}
	switched := time.Since(asked)
	out := &api.HEResult{ResultEntry: resEntry, Plan: plan, Aggs: prep.Aggs, Ciphers: make([][]byte, len(cts)),
		Privacy: prep.Privacy, Mechanism: release.Mechanism(n.cfg.Noise), Draws: 1}
	if !nodeNoise {
		// The agents draw with the library's default mechanism.
		out.Mechanism, out.Draws = release.Mechanism(nil), len(key.Providers)
	}
	for _, g := range prep.Groups {
		out.Groups = append(out.Groups, g.Values)
	}
	if err := parallel(ctx, len(cts), func(i int) error {
		per := make([][]byte, len(shares))
		for k := range shares {
			per[k] = shares[k][i]
		}
		sw, err := mhe.CombineKeySwitch(mp, cts[i], per)
		if err == nil {
			out.Ciphers[i], err = sw.MarshalBinary()
		}
		return err
	}); err != nil {
		return nil, err
	}
	n.log.Info("HE release", "decision", decision, "groups", len(prep.Groups), "ciphertexts", len(cts),
		"prepare_ms", ms(prepared), "sums_ms", ms(summed-prepared), "compute_ms", ms(computed),
		"agents_ms", ms(switched), "node_ms", ms(time.Since(start)-switched))
	return out, nil
}

// refusedError is an HE release that an agent refused: nothing left.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return "the release was refused: " + e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// weightedSums computes each hidden value's Σ W·x over its encrypted
// column: the values over one column go through mhe.WeightedSums
// together, upload by upload, with the upload's column total, and each
// value's parts are added.
func (n *Node) weightedSums(ctx context.Context, aggs []release.Agg, hts map[string]*heTable, hvs []enclave.HEValue) ([]*mhe.Ciphertext, error) {
	mp := n.heStore.params
	out := make([]*mhe.Ciphertext, len(hvs))
	byColumn := map[query.Column][]int{}
	var order []query.Column
	for i, hv := range hvs {
		c := *aggs[hv.Agg].Column
		c.Type = ""
		if _, ok := byColumn[c]; !ok {
			order = append(order, c)
		}
		byColumn[c] = append(byColumn[c], i)
	}
	for _, col := range order {
		idx := byColumn[col]
		ht := hts[col.Table]
		next := make([]int, len(idx)) // per value: its next weight
		for _, seg := range ht.segments {
			parts := make([]mhe.Weights, len(idx))
			end := int32(seg.first + seg.rows)
			for j, i := range idx {
				w := hvs[i].Weights
				lo := next[j]
				hi := lo + sort.Search(len(w.Rows)-lo, func(k int) bool { return w.Rows[lo+k] >= end })
				next[j] = hi
				if seg.first == 0 {
					parts[j] = mhe.Weights{Rows: w.Rows[lo:hi], W: w.W[lo:hi]}
					continue
				}
				parts[j] = mhe.Weights{Rows: make([]int32, hi-lo), W: w.W[lo:hi]}
				for k, r := range w.Rows[lo:hi] {
					parts[j].Rows[k] = r - int32(seg.first)
				}
			}
			chunks := seg.chunks[col.Name]
			total, err := seg.totals.get(ctx, mp, col.Name, chunks, seg.rows)
			if err != nil {
				return nil, err
			}
			got, err := mhe.WeightedSumsWithTotal(ctx, mp, chunks, total, parts, runtime.GOMAXPROCS(0))
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				if out[i] == nil {
					out[i] = got[j]
				} else if err := mhe.Add(mp, out[i], got[j]); err != nil {
					return nil, err
				}
			}
		}
	}
	for i := range out {
		if out[i] == nil {
			return nil, fmt.Errorf("column of value %d has no ciphertexts", i)
		}
	}
	return out, nil
}

// columnTotals are an upload's mhe.ColumnTotal by column, each made the
// first time a release sums the column: it costs one product per chunk,
// and saves that much on every release whose groups take every row once
// (see mhe.WeightedSumsWithTotal). Safe for concurrent use.
type columnTotals struct {
	mu     sync.Mutex
	totals map[string]*mhe.ColumnTotal
}

// get returns the total of column name, whose chunks hold rows values.
func (t *columnTotals) get(ctx context.Context, params bgv.Parameters, name string, chunks []*mhe.Ciphertext, rows int) (*mhe.ColumnTotal, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.totals[name]; ok {
		return c, nil
	}
	c, err := mhe.NewColumnTotal(ctx, params, chunks, rows, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	if t.totals == nil {
		t.totals = map[string]*mhe.ColumnTotal{}
	}
	t.totals[name] = c
	return c, nil
}

// zeroPoolSize is how many encryptions of zero a zeroPool keeps ready:
// 64 ciphertexts, 16 MB.
const zeroPoolSize = 64

// zeroPool keeps fresh encryptions of zero under the collective key for
// the re-randomisation of results and the clear vector: they are made
// while a release waits for the agents' shares (the node is idle then),
// or while a clear part runs when the pool lacks any, and each is taken
// once. Safe for concurrent use.
type zeroPool struct {
	mu      sync.Mutex
	key     string // the collective key's hash the zeros are under
	zeros   []*mhe.Ciphertext
	filling bool
}

// fill makes encryptions of zero under pk (whose hash is key) until the
// pool holds zeroPoolSize or stop is closed. One fill runs at a time:
// another returns at once.
func (p *zeroPool) fill(params bgv.Parameters, key string, pk *mhe.PublicKey, stop <-chan struct{}) {
	p.mu.Lock()
	if p.filling {
		p.mu.Unlock()
		return
	}
	p.filling = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.filling = false
		p.mu.Unlock()
	}()
	enc, err := mhe.NewEncryptor(params, pk)
	if err != nil {
		return
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		p.mu.Lock()
		full := p.key == key && len(p.zeros) >= zeroPoolSize
		p.mu.Unlock()
		if full {
			return
		}
		z, err := enc.EncryptZero()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.key != key {
			p.key, p.zeros = key, nil
		}
		p.zeros = append(p.zeros, z)
		p.mu.Unlock()
	}
}

// take returns n fresh encryptions of zero under pk (whose hash is key):
// those the pool holds, and the rest made on all cores.
func (p *zeroPool) take(ctx context.Context, params bgv.Parameters, key string, pk *mhe.PublicKey, n int) ([]*mhe.Ciphertext, error) {
	out := make([]*mhe.Ciphertext, n)
	p.mu.Lock()
	have := 0
	if p.key == key {
		have = min(n, len(p.zeros))
		copy(out, p.zeros[len(p.zeros)-have:])
		clear(p.zeros[len(p.zeros)-have:])
		p.zeros = p.zeros[:len(p.zeros)-have]
	}
	p.mu.Unlock()
	encs := make(chan *mhe.Encryptor, runtime.GOMAXPROCS(0))
	err := parallel(ctx, n-have, func(i int) error {
		var enc *mhe.Encryptor
		select {
		case enc = <-encs:
		default:
			var err error
			if enc, err = mhe.NewEncryptor(params, pk); err != nil {
				return err
			}
		}
		defer func() { encs <- enc }()
		var err error
		out[have+i], err = enc.EncryptZero()
		return err
	})
	return out, err
}

// parallel runs f(0), ..., f(n-1) on GOMAXPROCS goroutines and returns
// their errors joined; it stops starting new calls once one fails or ctx
// is done.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	workers := min(n, runtime.GOMAXPROCS(0))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if errs[w] = ctx.Err(); errs[w] == nil {
					errs[w] = f(i)
				}
				if errs[w] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ms renders a duration in milliseconds, for logs.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
