package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/heplan"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/fingerprint"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/state"
)

// MaxRequestBytes bounds a request to the agent: a key-switch request of
// a few hundred result ciphertexts.
const MaxRequestBytes = 512 << 20

// CodeRefused is the api.Error code of a request the agent refuses after
// checking it; the message says why.
const CodeRefused = "agent-refused"

// refusal is an error the agent answers with 403 and CodeRefused.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// Handler returns the agent's HTTP API, for the node.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/agent/info", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		info := api.AgentInfo{Party: a.set.Party, Recipient: a.Recipient(), Pin: a.pin, Synced: a.follower.Size()}
		if pk, err := a.collectiveKey(); err == nil {
			h := pk.Hash()
			info.KeySHA256 = hex.EncodeToString(h[:])
		}
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("POST /v1/agent/keygen", serve(a, a.keygen))
	mux.HandleFunc("POST /v1/agent/finish", serve(a, a.finish))
	mux.HandleFunc("POST /v1/agent/keyswitch", func(w http.ResponseWriter, r *http.Request) {
		req, err := api.ReadKeySwitchRequest(io.LimitReader(r.Body, MaxRequestBytes))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Code: api.CodeMalformed, Message: "agent: malformed key-switch request: " + err.Error()})
			return
		}
		resp, err := locked(a, func() (*api.KeySwitchResponse, error) { return a.keySwitch(r.Context(), req) })
		if err != nil {
			a.answerError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", api.BinaryType)
		w.Header().Set("Content-Length", strconv.Itoa(api.SharesLen(resp.Shares)))
		api.WriteShares(w, resp.Shares)
	})
	return mux
}

// serve decodes a JSON request, runs fn under the agent's lock, and
// answers with its result or its error.
func serve[Req, Resp any](a *Agent, fn func(context.Context, *Req) (*Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		dec := json.NewDecoder(io.LimitReader(r.Body, MaxRequestBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Code: api.CodeMalformed, Message: "agent: malformed request: " + err.Error()})
			return
		}
		resp, err := locked(a, func() (*Resp, error) { return fn(r.Context(), &req) })
		if err != nil {
			a.answerError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

// locked runs fn under the agent's lock.
func locked[T any](a *Agent, fn func() (T, error)) (T, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return fn()
}

// answerError answers a refusal with 403 and CodeRefused, any other
// failure with 503.
func (a *Agent) answerError(w http.ResponseWriter, r *http.Request, err error) {
	var rf *refusal
	if errors.As(err, &rf) {
		a.log.Warn("request refused", "path", r.URL.Path, "reason", rf.msg)
		writeJSON(w, http.StatusForbidden, api.Error{Code: CodeRefused, Message: a.set.Party + "'s agent refuses: " + rf.msg})
		return
	}
	a.log.Error("request failed", "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusServiceUnavailable, api.Error{Code: api.CodeUnavailable, Message: a.set.Party + "'s agent: " + err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// syncTo syncs the ledger copy to the node's latest checkpoint, so that
// the agent judges on everything logged so far (a revocation included),
// and checks that it holds entry i: a log that broke a rule or lacks the
// entry is a refusal.
func (a *Agent) syncTo(ctx context.Context, i uint64) error {
	if err := a.sync(ctx); err != nil {
		if a.broken != nil {
			return refuse("%v", err)
		}
		return err
	}
	if i >= a.follower.Size() {
		return refuse("entry %d is not in the node's ledger, which has %d entries", i, a.follower.Size())
	}
	return nil
}

// setupAt returns the mhe-setup statement logged at entry i.
func (a *Agent) setupAt(i uint64) (*policy.HESetup, error) {
	e, err := a.entry(i)
	if err != nil {
		return nil, err
	}
	st, err := statement.Parse([]byte(e.Statement))
	if e.Kind != state.KindStatement || err != nil || st.Kind != statement.KindHESetup {
		return nil, refuse("ledger entry %d is not an mhe setup", i)
	}
	var s policy.HESetup
	if err := st.Decode(&s); err != nil {
		return nil, refuse("ledger entry %d: %v", i, err)
	}
	return &s, nil
}

func (a *Agent) setupPath(id, ext string) string {
	return filepath.Join(a.cfg.Dir, "setup", id+ext)
}

// keygen produces the agent's share of the collective public key for the
// setup logged at req.Setup; the same share every time it is asked.
func (a *Agent) keygen(ctx context.Context, req *api.KeygenRequest) (*api.KeygenResponse, error) {
	if err := a.syncTo(ctx, req.Setup); err != nil {
		return nil, err
	}
	setup, err := a.setupAt(req.Setup)
	if err != nil {
		return nil, err
	}
	snap := a.replayer.State().Snapshot()
	if k, ok := snap.HEKey(); ok {
		return nil, refuse("HE mode is already set up (setup %s)", k.Setup)
	}
	if cur, ok := snap.HESetup(); !ok || cur.ID != setup.ID {
		return nil, refuse("mhe setup %s is not the pending setup", setup.ID)
	}
	if !slices.Contains(setup.Providers, a.set.Party) {
		return nil, refuse("mhe setup %s does not name %s", setup.ID, a.set.Party)
	}
	if setup.PlaintextModulus != mhe.PlaintextModulus {
		return nil, refuse("mhe setup %s asks for plaintext modulus %d; this agent's parameters use %d", setup.ID, setup.PlaintextModulus, uint64(mhe.PlaintextModulus))
	}
	seed, _ := hex.DecodeString(setup.Seed)

	if err := os.MkdirAll(filepath.Join(a.cfg.Dir, "setup"), 0o700); err != nil {
		return nil, err
	}
	sk, err := a.secretShare(setup.ID, true)
	if err != nil {
		return nil, err
	}
	// One key-generation share per setup, ever: a second one from the same
	// secret share and seed is what lattigo's security notes forbid.
	ckgPath := a.setupPath(setup.ID, ".ckg")
	share, err := os.ReadFile(ckgPath)
	if os.IsNotExist(err) {
		if share, err = sk.PublicKeyShare(a.params, seed); err != nil {
			return nil, err
		}
		if err := keys.WriteDurable(ckgPath, share, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	commit := policy.HEShare{Setup: setup.ID, Party: a.set.Party, ShareSHA256: sha256Hex(share)}
	resp := &api.KeygenResponse{Share: share}
	if setup.Providers[0] == a.set.Party {
		var keyText []byte
		if resp.Fingerprint, keyText, err = a.shareFingerprintKey(snap, setup); err != nil {
			return nil, err
		}
		commit.FingerprintSHA256 = sha256Hex(keyText)
	}
	msg, err := statement.New(statement.KindHEShare, commit, a.cfg.Signer)
	if err != nil {
		return nil, err
	}
	resp.Statement = string(msg)
	return resp, nil
}

// secretShare loads the agent's secret-key share for a setup, creating it
// when create is set.
func (a *Agent) secretShare(setup string, create bool) (*mhe.SecretShare, error) {
	p := a.setupPath(setup, ".share")
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) && create {
		sk, err := mhe.GenerateSecretShare(a.params)
		if err != nil {
			return nil, err
		}
		b, err := sk.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if err := keys.WriteDurable(p, b, 0o600); err != nil {
			return nil, err
		}
		return sk, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret share of setup %s: %w", setup, err)
	}
	if err := keys.CheckSecretMode(p); err != nil {
		return nil, err
	}
	var sk mhe.SecretShare
	if err := sk.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("secret share of setup %s does not parse", setup)
	}
	return &sk, nil
}

// shareFingerprintKey makes the fingerprint key (once) and encrypts it to
// every other provider's agent, to the age recipient the provider itself
// registered in the ledger. It also returns the key's text, which the
// agent commits to by hash in its signed share statement.
func (a *Agent) shareFingerprintKey(snap *state.Snapshot, setup *policy.HESetup) (map[string]string, []byte, error) {
	p := filepath.Join(a.cfg.Dir, "fingerprint.key")
	if _, err := os.Stat(p); os.IsNotExist(err) {
		k, err := fingerprint.Generate()
		if err != nil {
			return nil, nil, err
		}
		text, _ := k.MarshalText()
		if err := keys.WriteDurable(p, append(text, '\n'), 0o600); err != nil {
			return nil, nil, err
		}
	}
	k, err := a.fingerprintKey()
	if err != nil {
		return nil, nil, err
	}
	text, _ := k.MarshalText()
	out := map[string]string{}
	for _, party := range setup.Providers[1:] {
		ag, ok := snap.Agent(party)
		if !ok {
			return nil, nil, refuse("provider %s has no agent on record", party)
		}
		recips, err := age.ParseRecipients(strings.NewReader(ag.Recipient))
		if err != nil {
			return nil, nil, refuse("the age recipient %s registered for %s's agent does not parse", ag.Recipient, party)
		}
		var buf bytes.Buffer
		aw := armor.NewWriter(&buf)
		w, err := age.Encrypt(aw, recips...)
		if err != nil {
			return nil, nil, err
		}
		w.Write(text)
		if err := w.Close(); err != nil {
			return nil, nil, err
		}
		if err := aw.Close(); err != nil {
			return nil, nil, err
		}
		out[party] = buf.String()
	}
	return out, text, nil
}

// finish checks the collective key the node logged at req.Key against
// every provider's share, and keeps it with the fingerprint key.
func (a *Agent) finish(ctx context.Context, req *api.FinishRequest) (*api.FinishResponse, error) {
	if err := a.syncTo(ctx, req.Key); err != nil {
		return nil, err
	}
	e, err := a.entry(req.Key)
	if err != nil {
		return nil, err
	}
	if e.Kind != state.KindHEKey || e.HEKey == nil {
		return nil, refuse("ledger entry %d is not a collective key", req.Key)
	}
	k := e.HEKey
	snap := a.replayer.State().Snapshot()
	setup, ok := snap.HESetup()
	if !ok || setup.ID != k.Setup {
		return nil, refuse("the collective key of entry %d is for setup %s, not the one on record", req.Key, k.Setup)
	}
	if len(req.Shares) != len(k.Shares) {
		return nil, refuse("%d shares given, the collective key was made of %d", len(req.Shares), len(k.Shares))
	}
	mine, err := os.ReadFile(a.setupPath(setup.ID, ".ckg"))
	if err != nil {
		return nil, refuse("this agent issued no share for setup %s", setup.ID)
	}
	var fingerprintCommit string
	for i, raw := range k.Shares {
		st, err := statement.Parse([]byte(raw))
		if err != nil {
			return nil, err
		}
		var sh policy.HEShare
		if err := st.Decode(&sh); err != nil {
			return nil, err
		}
		if sha256Hex(req.Shares[i]) != sh.ShareSHA256 {
			return nil, refuse("share %d (%s) is not the one %s committed to", i, sh.Party, sh.Party)
		}
		if sh.Party == a.set.Party && !bytes.Equal(req.Shares[i], mine) {
			return nil, refuse("the share logged for %s is not the one this agent issued", a.set.Party)
		}
		if i == 0 {
			fingerprintCommit = sh.FingerprintSHA256
		}
	}
	seed, _ := hex.DecodeString(setup.Seed)
	pk, err := mhe.AggregatePublicKey(a.params, seed, req.Shares)
	if err != nil {
		return nil, refuse("the shares do not make a public key: %v", err)
	}
	h := pk.Hash()
	if got := hex.EncodeToString(h[:]); got != k.KeySHA256 {
		return nil, refuse("the shares make key %s, the ledger says %s", got, k.KeySHA256)
	}
	if setup.Providers[0] != a.set.Party {
		if req.Fingerprint == "" {
			return nil, refuse("no fingerprint key was relayed to this agent")
		}
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(req.Fingerprint)), a.identity)
		if err != nil {
			return nil, refuse("the fingerprint key relayed does not decrypt with this agent's identity")
		}
		text, err := io.ReadAll(io.LimitReader(r, 4096))
		if err != nil {
			return nil, refuse("the fingerprint key relayed does not decrypt with this agent's identity")
		}
		if _, err := fingerprint.ParseKey(text); err != nil {
			return nil, refuse("the fingerprint key relayed does not parse")
		}
		text = bytes.TrimSpace(text)
		if sha256Hex(text) != fingerprintCommit {
			return nil, refuse("the fingerprint key relayed is not the one %s's agent committed to in the ledger", setup.Providers[0])
		}
		p := filepath.Join(a.cfg.Dir, "fingerprint.key")
		if old, err := os.ReadFile(p); err == nil && !bytes.Equal(bytes.TrimSpace(old), bytes.TrimSpace(text)) {
			return nil, refuse("a different fingerprint key is already on file")
		}
		if err := keys.WriteDurable(p, append(bytes.TrimSpace(text), '\n'), 0o600); err != nil {
			return nil, err
		}
	}
	pb, err := pk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := keys.WriteDurable(filepath.Join(a.cfg.Dir, "collective.pk"), pb, 0o644); err != nil {
		return nil, err
	}
	a.log.Info("collective key verified", "setup", setup.ID, "key_sha256", k.KeySHA256)
	return &api.FinishResponse{KeySHA256: k.KeySHA256}, nil
}

// collectiveKey loads the collective public key, once set up.
func (a *Agent) collectiveKey() (*mhe.PublicKey, error) {
	b, err := os.ReadFile(filepath.Join(a.cfg.Dir, "collective.pk"))
	if err != nil {
		return nil, err
	}
	return mhe.ParsePublicKey(a.params, b)
}

// keySwitch checks a key-switch request against the ledger and, if every
// check passes, issues the agent's shares.
func (a *Agent) keySwitch(ctx context.Context, req *api.KeySwitchRequest) (*api.KeySwitchResponse, error) {
	start := time.Now()
	if done, err := a.journal.lookup(req.Result); err != nil {
		return nil, err
	} else if done != nil {
		return nil, refuse("replayed request: shares for result entry %d were already issued; an agent issues one set per result, ever", req.Result)
	}
	if err := a.syncTo(ctx, req.Result); err != nil {
		return nil, err
	}
	synced := time.Since(start)
	e, err := a.entry(req.Result)
	if err != nil {
		return nil, err
	}
	if e.Kind != state.KindHEResult || e.HEResult == nil {
		return nil, refuse("ledger entry %d is not an encrypted result", req.Result)
	}
	res := e.HEResult
	snap := a.replayer.State().Snapshot()
	qreq, _, ok := snap.HEDecision(res.Decision)
	if !ok {
		return nil, refuse("entry %d is not an allowed HE-mode decision", res.Decision)
	}
	de, err := a.entry(res.Decision)
	if err != nil {
		return nil, err
	}
	params := de.Decision.Params
	if err := a.letterInForce(snap, qreq); err != nil {
		return nil, err
	}

	// The operator's key, as the signed query names it.
	if sha256Hex(req.Target) != res.ResultKey || res.ResultKey != qreq.ResultKey {
		return nil, refuse("the target key is not the result key that the query of entry %d names", res.Decision)
	}
	target, err := mhe.ParsePublicKey(a.params, req.Target)
	if err != nil {
		return nil, refuse("the target key does not parse: %v", err)
	}

	// Exactly the ciphertexts the ledger names, as many as the release has.
	hp, err := heplan.Derive(snap, qreq, params)
	if err != nil {
		return nil, refuse("deriving the release of entry %d: %v", res.Decision, err)
	}
	if err := a.datasetsInForce(snap, hp); err != nil {
		return nil, err
	}
	// How many groups the node may claim: one without GROUP BY, and no
	// more than the first table's rows allow groups of the minimum size.
	maxGroups := 1
	if len(hp.Plan.GroupBy) > 0 {
		if d, ok := snap.HEData(hp.Plan.Tables[0].Name); ok {
			maxGroups = int(min(max(d.Rows/max(hp.Privacy.MinGroupSize, 1), 1), 1<<16))
		}
	}
	if res.Groups > maxGroups {
		return nil, refuse("the node claims %d released groups; this query can release at most %d", res.Groups, maxGroups)
	}
	layout := release.NewLayout(hp.Aggs, res.Groups)
	if want := heplan.Ciphers(layout); want != len(res.Ciphers) || want != len(req.Ciphers) {
		return nil, refuse("the release of %d groups has %d ciphertexts; the ledger names %d and the request holds %d", res.Groups, want, len(res.Ciphers), len(req.Ciphers))
	}
	if layout.ClearLen() > mhe.ChunkSize {
		return nil, refuse("the release has %d clear values, more than one ciphertext holds", layout.ClearLen())
	}
	// Hashes, parsing and key-switch IDs first, on all cores; then the
	// checks, in order.
	cts := make([]*mhe.Ciphertext, len(req.Ciphers))
	ids := make([]string, len(req.Ciphers))
	hashes := make([]string, len(req.Ciphers))
	parseErrs := make([]error, len(req.Ciphers))
	eachCipher(len(req.Ciphers), func(i int) {
		b := req.Ciphers[i]
		hashes[i] = sha256Hex(b)
		var id [32]byte
		cts[i], id, parseErrs[i] = mhe.ParseCiphertextID(a.params, b)
		ids[i] = hex.EncodeToString(id[:])
	})
	seen := map[string]int{}
	for i, h := range hashes {
		if h != res.Ciphers[i] {
			return nil, refuse("ciphertext %d has hash %s, the ledger names %s", i, h, res.Ciphers[i])
		}
		if err := parseErrs[i]; err != nil {
			return nil, refuse("ciphertext %d does not parse: %v", i, err)
		}
		// A share depends on a ciphertext through its c1 part only: two
		// ciphertexts that differ in c0 alone are the same to switch.
		if prev, ok := a.journal.switched(ids[i]); ok {
			return nil, refuse("ciphertext %d was already switched (its c1 part) for result entry %d", i, prev)
		}
		if j, dup := seen[ids[i]]; dup {
			return nil, refuse("ciphertexts %d and %d share their c1 part: one share each would be two of the same", j, i)
		}
		seen[ids[i]] = i
	}

	// Each ciphertext's results get the agent's noise (or none when the
	// node draws it); every other coefficient a uniform mask.
	results := make([]map[int]int64, len(cts))
	for i := range results {
		results[i] = map[int]int64{}
	}
	for _, v := range layout.Values {
		c, pos := v.Cipher, v.Pos
		if c < 0 {
			c = layout.Ciphers()
		}
		var x int64
		if hp.Noise == policy.NoiseProviders {
			if x, err = layout.Noise(hp.Privacy, v, a.cfg.Noise); err != nil {
				return nil, err
			}
		}
		results[c][pos] = x
	}
	sk, err := a.secretShare(mustSetup(snap), false)
	if err != nil {
		return nil, err
	}
	checked := time.Since(start)
	addends := make([][]uint64, len(cts))
	for i := range cts {
		if addends[i], err = mhe.MaskAddend(results[i]); err != nil {
			return nil, err
		}
	}
	shares, err := sk.KeySwitchShares(a.params, cts, target, addends, 0)
	if err != nil {
		return nil, err
	}
	// Durable before the answer: after a crash, the request is refused as
	// a replay rather than answered with fresh shares.
	if err := a.journal.record(&issued{Result: req.Result, RequestSHA256: requestHash(req, hashes), Ciphers: ids}); err != nil {
		return nil, err
	}
	a.log.Info("key-switch shares issued", "result", req.Result, "decision", res.Decision, "ciphertexts", len(shares),
		"sync_ms", ms(synced), "checks_ms", ms(checked-synced), "shares_ms", ms(time.Since(start)-checked))
	return &api.KeySwitchResponse{Shares: shares}, nil
}

// letterInForce checks the query's letter as it stands now: the decision
// was right when taken, but the agent helps decrypt only under a letter
// still approved, unrevoked and in its window, whose scenario is still
// approved.
func (a *Agent) letterInForce(snap *state.Snapshot, req *policy.Request) error {
	ls, ok := snap.Letter(req.Letter)
	if !ok {
		return refuse("commitment letter %s is not on record", req.Letter)
	}
	now := a.cfg.Now()
	switch {
	case ls.Rejected != "":
		return refuse("commitment letter %s was refused: %s", req.Letter, ls.Rejected)
	case ls.Revoked != "":
		return refuse("commitment letter %s was revoked: %s", req.Letter, ls.Revoked)
	case !ls.Approved:
		return refuse("commitment letter %s is not approved", req.Letter)
	case now.Before(ls.Letter.NotBefore) || !now.Before(ls.Letter.NotAfter):
		return refuse("commitment letter %s is not in force now", req.Letter)
	}
	if sc, ok := snap.Scenario(ls.Letter.Scenario.ID); !ok || sc.Status != policy.ScenarioApproved {
		return refuse("the scenario %s of commitment letter %s is no longer approved", ls.Letter.Scenario.ID, req.Letter)
	}
	return nil
}

// datasetsInForce checks, at the moment of the key switch, that no dataset
// the query reads was sealed or destroyed, is under an open incident, or
// is past the end of purpose of a letter naming it, since the decision.
func (a *Agent) datasetsInForce(snap *state.Snapshot, hp *heplan.Plan) error {
	now := a.cfg.Now()
	for name := range hp.Datasets {
		if why, sealed := snap.Sealed(name); sealed {
			return refuse("dataset %s was sealed since the decision: %s (Art. 31)", name, why)
		}
		if incs := snap.OpenIncidents(name); len(incs) > 0 {
			return refuse("dataset %s is under incident %s (Art. 57(6))", name, incs[0].ID)
		}
		if l, _, ended := snap.PurposeEnded(name, now); ended {
			return refuse("dataset %s is past the end of purpose of commitment letter %s (Art. 31)", name, l)
		}
	}
	return nil
}

// mustSetup returns the id of the completed setup (the caller checked
// that the decision is an HE one, which needs it).
func mustSetup(snap *state.Snapshot) string {
	if k, ok := snap.HEKey(); ok {
		return k.Setup
	}
	return ""
}

// requestHash identifies a key-switch request, given the SHA-256 of each
// of its ciphertexts (hex).
func requestHash(req *api.KeySwitchRequest, hashes []string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%s\n", req.Result, sha256Hex(req.Target))
	for _, h := range hashes {
		b.WriteString(h)
		b.WriteByte('\n')
	}
	return sha256Hex(b.Bytes())
}

// eachCipher runs f(0), ..., f(n-1) on GOMAXPROCS goroutines.
func eachCipher(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// ms renders a duration in milliseconds, for logs.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
