package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/stretchr/testify/require"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"

	"github.com/xjdata/cleanroom/agent"
	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/protocols/fingerprint"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/state"
)

// heAgent is a provider's agent running in the test.
type heAgent struct {
	party string
	dir   string
	ag    *agent.Agent
	srv   *httptest.Server
}

// heRoom is a room in HE mode: three providers' agents, a collective key,
// and the three datasets uploaded in HE mode as well.
type heRoom struct {
	*room
	agents map[string]*heAgent
	sk     *mhe.ResultSecretKey
	pk     *mhe.PublicKey
	// requests and decrypts add up the time queryHE spends waiting for
	// the node's answer and decrypting it (benchmarks read them).
	requests, decrypts time.Duration
}

var providers = []string{"msb", "grid", "bank"}

// agentLog, when set, is the agents' logger (benchmarks read timings off it).
var agentLog *slog.Logger

func newHERoom(t testing.TB, n int, nz noise.Noise, opts ...func(*node.Config)) *heRoom {
	r := &heRoom{room: newRoom(t, n, append(opts, func(c *node.Config) { c.Noise = nz })...), agents: map[string]*heAgent{}}
	info, err := r.c.Info(context.Background())
	require.NoError(t, err)
	for _, p := range providers {
		r.agents[p] = r.startAgent(t, p, info.NodeKey, nz)
	}
	r.setupAndUpload(t, n)
	return r
}

// setupAndUpload has the agents generate the collective key, uploads the
// room's three datasets of n enterprises in HE mode as well, and makes the
// operator's result key.
func (r *heRoom) setupAndUpload(t testing.TB, n int) {
	setup, err := node.NewHESetup("S-1", providers)
	require.NoError(t, err)
	msg, err := statement.NewAt(r.now, statement.KindHESetup, setup, r.parties["bureau"].signer)
	require.NoError(t, err)
	res, err := r.c.HESetup(context.Background(), msg)
	require.NoError(t, err)
	require.Len(t, res.KeySHA256, 64)

	letter := r.defaultLetter("L-1")
	data := t.TempDir()
	for ds, holder := range map[string]string{"registry": "msb", "electricity": "grid", "loans": "bank"} {
		hk, err := client.LoadHEKeys(r.agents[holder].dir)
		require.NoError(t, err)
		d := r.dataset(ds)
		ld, _ := letter.Dataset(ds)
		_, err = r.c.UploadHE(context.Background(), r.parties[holder].signer, d, client.Treatments(d, ld.Columns), hk, csvFor(t, data, ds, n), nil)
		require.NoError(t, err, ds)
	}
	r.sk, r.pk, err = mhe.GenerateResultKey(mustParams(t))
	require.NoError(t, err)
}

func mustParams(t testing.TB) bgv.Parameters {
	p, err := mhe.NewParameters()
	require.NoError(t, err)
	return p
}

func (r *heRoom) startAgent(t testing.TB, party, nodeKey string, nz noise.Noise) *heAgent {
	dir := t.TempDir()
	require.NoError(t, agent.Init(dir, agent.Settings{Party: party, NodeURL: r.c.URL(), NodePin: r.node.Pin(), NodeKey: nodeKey}))
	log := agentLog
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ag, err := agent.Open(agent.Config{Dir: dir, Signer: r.parties[party].signer, Now: func() time.Time { return r.now }, Noise: nz, Logger: log})
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(ag.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ag.TLSCertificate()}, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); ag.Close() })
	r.submit(statement.KindAgent, policy.Agent{Party: party, URL: srv.URL, Pin: strings.TrimPrefix(ag.Pin(), "sha256:"), Recipient: ag.Recipient()}, r.parties[party].signer)
	return &heAgent{party: party, dir: dir, ag: ag, srv: srv}
}

func (r *room) dataset(name string) *policy.Dataset {
	cat, err := r.c.Catalog(context.Background())
	require.NoError(r.t, err)
	for _, d := range cat {
		if d.Name == name {
			return &d.Dataset
		}
	}
	r.t.Fatalf("no dataset %s", name)
	return nil
}

// queryHE signs and sends an HE-mode query and decrypts its result.
func (r *heRoom) queryHE(letter, eps, sql string) (*api.Result, *api.QueryResponse, error) {
	msg, err := statement.NewAt(r.now, statement.KindQuery, policy.Request{
		SQL: sql, Letter: letter, Epsilon: eps, Nonce: statement.NewNonce(), Time: r.now,
		Mode: policy.ModeHE, ResultKey: client.ResultKeyHash(r.pk),
	}, r.parties["bank"].signer)
	require.NoError(r.t, err)
	start := time.Now()
	resp, err := r.c.QueryHE(context.Background(), msg, r.pk)
	if err != nil {
		return nil, nil, err
	}
	answered := time.Now()
	res, err := client.DecryptHE(resp.HE, r.sk)
	r.requests += answered.Sub(start)
	r.decrypts += time.Since(answered)
	return res, resp, err
}

// exactQueries are the query shapes HE mode supports, each allowed by the
// room's letter.
var exactQueries = []string{
	"SELECT COUNT(*) FROM loans l",
	"SELECT SUM(l.amount) FROM loans l",
	"SELECT AVG(l.amount) FROM loans l",
	"SELECT l.green, COUNT(*), SUM(l.amount) FROM loans l GROUP BY l.green",
	"SELECT l.green, AVG(l.amount) FROM loans l GROUP BY l.green",
	"SELECT r.industry, AVG(r.capital) FROM registry r GROUP BY r.industry",
	"SELECT r.industry, COUNT(r.name) FROM registry r GROUP BY r.industry",
	"SELECT AVG(r.capital) FROM registry r WHERE r.industry = 'A'",
	"SELECT COUNT(*) FROM registry r WHERE r.industry <> 'B'",
	"SELECT e.month, SUM(e.kwh) FROM electricity e GROUP BY e.month",
	"SELECT e.month, AVG(e.kwh) FROM electricity e GROUP BY e.month",
	"SELECT SUM(e.kwh) FROM electricity e WHERE e.month = '2025-02'",
	"SELECT SUM(e.kwh), COUNT(*) FROM electricity e WHERE e.month >= '2025-01'",
	"SELECT r.industry, AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry",
	"SELECT r.industry, l.green, SUM(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry, l.green",
	"SELECT r.industry, SUM(e.kwh) FROM electricity e JOIN registry r ON e.uscc = r.uscc GROUP BY r.industry",
	"SELECT l.green, SUM(e.kwh) FROM loans l JOIN registry r ON l.uscc = r.uscc JOIN electricity e ON e.uscc = r.uscc WHERE e.month = '2025-01' GROUP BY l.green",
	"SELECT r.industry, l.green, SUM(e.kwh), COUNT(*) FROM loans l JOIN registry r ON l.uscc = r.uscc JOIN electricity e ON e.uscc = r.uscc GROUP BY r.industry, l.green",
	"SELECT e.month, l.green, AVG(e.kwh), SUM(e.kwh) FROM electricity e JOIN loans l ON e.uscc = l.uscc GROUP BY e.month, l.green",
	"SELECT COUNT(*), SUM(l.amount), AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc WHERE r.industry = 'C'",
	"SELECT r.industry, AVG(r.capital), COUNT(*) FROM registry r JOIN loans l ON r.uscc = l.uscc GROUP BY r.industry",
	"SELECT e.month, SUM(e.kwh) FROM electricity e JOIN registry r ON e.uscc = r.uscc WHERE r.industry = 'A' GROUP BY e.month",
}

// TestHEModeIsExact runs every supported query shape in sealed mode and in
// HE mode, with the noise switched off (a test-only hook of node and
// agents), and compares the answers: identical.
func TestHEModeIsExact(t *testing.T) {
	r := newHERoom(t, 300, dptest.InsecureNoNoise{})
	for _, sql := range exactQueries {
		sealed, err := r.query("bank", "L-1", "0.01", "", sql)
		require.NoError(t, err, sql)
		he, resp, err := r.queryHE("L-1", "0.01", sql)
		require.NoError(t, err, sql)
		require.NotEmpty(t, he.Rows, sql)
		require.Equal(t, sealed.Result.Columns, he.Columns, sql)
		require.Equal(t, sealed.Result.Rows, he.Rows, sql)
		require.Equal(t, sealed.Result.Stats, he.Stats, sql)
		require.Equal(t, sealed.Result.Selection, he.Selection, sql)
		require.Equal(t, policy.ModeHE, resp.Decision.Params.Mode)
		require.NotNil(t, resp.ReleaseEntry, sql)
	}
}

// TestHEIntervals runs queries with real noise in both modes: an HE
// answer describes its values as a sealed one does (mechanism, ε, L0,
// L∞) and carries their 95% intervals, which hold the value and, for
// COUNT and SUM away from zero, are as wide as the sealed answer's (the
// same mechanism and calibration).
func TestHEIntervals(t *testing.T) {
	r := newHERoom(t, 400, nil)
	sql := "SELECT l.green, COUNT(*), SUM(l.amount), AVG(l.amount) FROM loans l GROUP BY l.green"
	sealed, err := r.query("bank", "L-1", "0.2", "", sql)
	require.NoError(t, err)
	he, _, err := r.queryHE("L-1", "0.2", sql)
	require.NoError(t, err)
	require.Equal(t, sealed.Result.Stats, he.Stats)
	require.Equal(t, sealed.Result.Selection, he.Selection)
	require.Equal(t, 0.95, he.Level)
	require.Equal(t, "Laplace Noise", he.Stats[1].Mechanism)
	require.Len(t, he.Intervals, len(he.Rows))
	width := func(ci *api.Interval) float64 {
		lo, err := strconv.ParseFloat(ci.Lo, 64)
		require.NoError(t, err)
		hi, err := strconv.ParseFloat(ci.Hi, 64)
		require.NoError(t, err)
		return hi - lo
	}
	for i, row := range he.Rows {
		require.Nil(t, he.Intervals[i][0], "a grouping value has no interval")
		for j := 1; j < len(row); j++ {
			ci := he.Intervals[i][j]
			require.NotNil(t, ci, "row %d column %s", i, he.Columns[j])
			v, err := strconv.ParseFloat(row[j], 64)
			require.NoError(t, err)
			lo, _ := strconv.ParseFloat(ci.Lo, 64)
			hi, _ := strconv.ParseFloat(ci.Hi, 64)
			require.True(t, lo <= v && v <= hi, "row %d %s: %v outside [%s, %s]", i, he.Columns[j], v, ci.Lo, ci.Hi)
			if j <= 2 && lo > 0 {
				sci := sealed.Result.Intervals[i][j]
				if sl, _ := strconv.ParseFloat(sci.Lo, 64); sl > 0 {
					require.InDelta(t, width(sci), width(ci), 2, "row %d %s: widths", i, he.Columns[j])
				}
			}
		}
	}
}

// TestHEReleaseIsProven checks that an HE-mode result carries the proofs
// of its decision and release, that the release names the ciphertexts
// delivered, and that a changed ciphertext no longer proves.
func TestHEReleaseIsProven(t *testing.T) {
	r := newHERoom(t, 60, dptest.InsecureNoNoise{})
	_, resp, err := r.queryHE("L-1", "0.01", "SELECT l.green, SUM(l.amount) FROM loans l GROUP BY l.green")
	require.NoError(t, err)
	info, err := r.c.Info(context.Background())
	require.NoError(t, err)
	p, err := audit.Prove(resp, info.NodeKey)
	require.NoError(t, err)
	require.Equal(t, "bank", p.Recipient)
	resp.HE.Ciphers[0][100] ^= 1
	_, err = audit.Prove(resp, info.NodeKey)
	require.ErrorContains(t, err, "the log released")
}

// TestHESeveralUploads runs HE queries over datasets uploaded in several
// parts, whose ciphertexts the node sums part by part.
func TestHESeveralUploads(t *testing.T) {
	r := newHERoom(t, 40, dptest.InsecureNoNoise{})
	// A second upload of loans, in both modes: 40 more rows.
	data := t.TempDir()
	path := csvFor(t, data, "loans", 40)
	s := schemas["loans"]
	_, err := r.c.UploadCSV(context.Background(), r.parties["bank"].signer, "loans", &s, path, client.UploadOptions{})
	require.NoError(t, err)
	hk, err := client.LoadHEKeys(r.agents["bank"].dir)
	require.NoError(t, err)
	d := r.dataset("loans")
	letter := r.defaultLetter("L-1")
	ld, _ := letter.Dataset("loans")
	_, err = r.c.UploadHE(context.Background(), r.parties["bank"].signer, d, client.Treatments(d, ld.Columns), hk, path, nil)
	require.NoError(t, err)
	for _, sql := range []string{
		"SELECT l.green, SUM(l.amount), AVG(l.amount) FROM loans l GROUP BY l.green",
		"SELECT r.industry, SUM(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry",
	} {
		sealed, err := r.query("bank", "L-1", "0.01", "", sql)
		require.NoError(t, err, sql)
		he, _, err := r.queryHE("L-1", "0.01", sql)
		require.NoError(t, err, sql)
		require.Equal(t, sealed.Result.Rows, he.Rows, sql)
	}
}

// restartAgent stops a provider's agent and opens it again from its data
// directory, as after a crash: it must remember what it issued.
func (r *heRoom) restartAgent(t *testing.T, party string) {
	old := r.agents[party]
	old.srv.Close()
	require.NoError(t, old.ag.Close())
	ag, err := agent.Open(agent.Config{Dir: old.dir, Signer: r.parties[party].signer, Now: func() time.Time { return r.now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(ag.Handler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ag.TLSCertificate()}, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); ag.Close() })
	r.agents[party] = &heAgent{party: party, dir: old.dir, ag: ag, srv: srv}
}

// toggled serves h, or answers 503 while down is set, or announces a
// 512 MiB answer and sends a few bytes while huge is set.
type toggled struct {
	h          http.Handler
	down, huge atomic.Bool
}

func (t *toggled) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if t.down.Load() {
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
		return
	}
	if t.huge.Load() {
		w.Header().Set("Content-Length", strconv.Itoa(512<<20))
		w.Write([]byte("CRSHARES"))
		return
	}
	t.h.ServeHTTP(w, r)
}

// askAgent sends a key-switch request straight to an agent, as a
// misbehaving node would, and returns its error.
func askAgent(t *testing.T, a *heAgent, req api.KeySwitchRequest) error {
	hc, err := client.Pinned(a.ag.Pin())
	require.NoError(t, err)
	var body bytes.Buffer
	require.NoError(t, api.WriteKeySwitchRequest(&body, &req))
	res, err := hc.Post(a.srv.URL+"/v1/agent/keyswitch", "application/octet-stream", &body)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		return nil
	}
	var e api.Error
	require.NoError(t, json.Unmarshal(b, &e), string(b))
	require.Equal(t, agent.CodeRefused, e.Code, e.Message)
	return errors.New(e.Message)
}

// heResultOf returns the heresult entry that the ledger holds for a
// decision.
func (r *heRoom) heResultOf(decision uint64) (uint64, *state.HEResult) {
	cp, err := r.c.Checkpoint(context.Background())
	require.NoError(r.t, err)
	size, _ := strconv.ParseUint(strings.Split(string(cp), "\n")[1], 10, 64)
	entries, err := r.c.Entries(context.Background(), decision, size-decision)
	require.NoError(r.t, err)
	for k, b := range entries {
		e, err := state.DecodeEntry(b)
		require.NoError(r.t, err)
		if e.Kind == state.KindHEResult && e.HEResult.Decision == decision {
			return decision + uint64(k), e.HEResult
		}
	}
	r.t.Fatalf("no heresult for decision %d", decision)
	return 0, nil
}

// released reports whether the ledger holds a release of a decision.
func (r *room) released(decision uint64) bool {
	cp, err := r.c.Checkpoint(context.Background())
	require.NoError(r.t, err)
	size, _ := strconv.ParseUint(strings.Split(string(cp), "\n")[1], 10, 64)
	entries, err := r.c.Entries(context.Background(), decision, size-decision)
	require.NoError(r.t, err)
	for _, b := range entries {
		e, err := state.DecodeEntry(b)
		require.NoError(r.t, err)
		if e.Kind == state.KindRelease && e.Release.Decision == decision {
			return true
		}
	}
	return false
}

// TestAgentsRefuse checks that each agent refuses, with a clear reason,
// whatever a misbehaving node could ask of it, and that a refusal
// releases nothing.
func TestAgentsRefuse(t *testing.T) {
	r := newHERoom(t, 60, dptest.InsecureNoNoise{})
	sql := "SELECT l.green, SUM(l.amount) FROM loans l GROUP BY l.green"
	target, err := r.pk.MarshalBinary()
	require.NoError(t, err)

	// One agent is down: the release fails with its reason, and nothing
	// is released; the other two have issued their shares.
	gridSrv := r.agents["grid"]
	tg := &toggled{h: gridSrv.ag.Handler()}
	gridSrv.srv.Config.Handler = tg
	tg.down.Store(true)
	_, _, err = r.queryHE("L-1", "0.01", sql)
	require.ErrorContains(t, err, "grid's agent")
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	decision := *ce.Entry
	require.False(t, r.released(decision))
	resultEntry, res := r.heResultOf(decision)
	tg.down.Store(false)

	// An agent announcing an answer larger than the shares of its request
	// can be: refused before the node makes room for it.
	tg.huge.Store(true)
	_, _, err = r.queryHE("L-1", "0.01", sql)
	require.ErrorContains(t, err, "more than the")
	require.ErrorContains(t, err, "its request allows")
	tg.huge.Store(false)

	t.Run("decision missing from the ledger", func(t *testing.T) {
		err := askAgent(t, r.agents["msb"], api.KeySwitchRequest{Result: 1 << 40, Ciphers: [][]byte{{1}}, Target: target})
		require.ErrorContains(t, err, "is not in the node's ledger")
	})
	t.Run("an entry that is not an encrypted result", func(t *testing.T) {
		err := askAgent(t, r.agents["grid"], api.KeySwitchRequest{Result: decision, Ciphers: [][]byte{{1}}, Target: target})
		require.ErrorContains(t, err, "is not an encrypted result")
	})
	t.Run("replayed share request", func(t *testing.T) {
		err := askAgent(t, r.agents["msb"], api.KeySwitchRequest{Result: resultEntry, Ciphers: make([][]byte, len(res.Ciphers)), Target: target})
		require.ErrorContains(t, err, "replayed request")
	})
	t.Run("wrong ciphertext hash", func(t *testing.T) {
		params := mustParams(t)
		enc, err := mhe.NewEncryptor(params, r.pk)
		require.NoError(t, err)
		cts := make([][]byte, len(res.Ciphers))
		for i := range cts {
			ct, err := enc.EncryptChunk([]int64{int64(i)})
			require.NoError(t, err)
			cts[i], _ = ct.MarshalBinary()
		}
		err = askAgent(t, r.agents["grid"], api.KeySwitchRequest{Result: resultEntry, Ciphers: cts, Target: target})
		require.ErrorContains(t, err, "ciphertext 0 has hash")
	})
	t.Run("another target key", func(t *testing.T) {
		_, other, err := mhe.GenerateResultKey(mustParams(t))
		require.NoError(t, err)
		ob, _ := other.MarshalBinary()
		err = askAgent(t, r.agents["grid"], api.KeySwitchRequest{Result: resultEntry, Ciphers: make([][]byte, len(res.Ciphers)), Target: ob})
		require.ErrorContains(t, err, "not the result key that the query")
	})
	t.Run("replayed after the agent restarts", func(t *testing.T) {
		r.restartAgent(t, "msb")
		err := askAgent(t, r.agents["msb"], api.KeySwitchRequest{Result: resultEntry, Ciphers: make([][]byte, len(res.Ciphers)), Target: target})
		require.ErrorContains(t, err, "replayed request")
	})
	t.Run("revoked letter", func(t *testing.T) {
		r.submit(statement.KindRevocation, policy.Revocation{Letter: "L-1", Reason: "security incident"}, r.parties["grid"].signer)
		err := askAgent(t, r.agents["grid"], api.KeySwitchRequest{Result: resultEntry, Ciphers: make([][]byte, len(res.Ciphers)), Target: target})
		require.ErrorContains(t, err, "commitment letter L-1 was revoked: ")
	})
	t.Run("tampered decision", func(t *testing.T) {
		// The node is replaced by one whose log records a decision the
		// rules do not give: a row-level query allowed.
		r.stop()
		signer, _, err := keys.LoadSigner(filepath.Join(r.dir, "node.key"))
		require.NoError(t, err)
		origin, err := os.ReadFile(filepath.Join(r.dir, "origin"))
		require.NoError(t, err)
		l, err := ledger.Open(filepath.Join(r.dir, "ledger"), signer, string(origin))
		require.NoError(t, err)
		defer l.Close()
		q := policy.Request{SQL: "SELECT * FROM loans", Letter: "L-1", Epsilon: "0.01", Nonce: statement.NewNonce(), Time: r.now,
			Mode: policy.ModeHE, ResultKey: client.ResultKeyHash(r.pk)}
		msg, err := statement.NewAt(r.now, statement.KindQuery, q, r.parties["bank"].signer)
		require.NoError(t, err)
		forged := &state.Entry{Kind: state.KindDecision, Time: r.now, Statement: string(msg), Decision: &state.Decided{Decision: policy.Decision{
			Allow: true, Charges: []policy.Charge{{Dataset: "loans", Epsilon: 20_000}},
			Params: &policy.Params{Epsilon: 20_000, Delta: 1e-6, MinGroupSize: 1, MaxGroupsPerUnit: 1, Mode: policy.ModeHE, Noise: policy.NoiseNode}}}}
		fb, err := forged.Encode()
		require.NoError(t, err)
		at, err := l.Append(fb)
		require.NoError(t, err)
		hr := &state.Entry{Kind: state.KindHEResult, Time: r.now, HEResult: &state.HEResult{Decision: at, Groups: 0, Ciphers: []string{strings.Repeat("0", 64)}, ResultKey: q.ResultKey}}
		hb, _ := hr.Encode()
		hat, err := l.Append(hb)
		require.NoError(t, err)
		stop := serveLedger(t, r, l)
		defer stop()
		err = askAgent(t, r.agents["bank"], api.KeySwitchRequest{Result: hat, Ciphers: [][]byte{{1}}, Target: target})
		require.ErrorContains(t, err, "broke a rule")
		require.ErrorContains(t, err, fmt.Sprintf("entry %d", at))
		// The agent stays refusing: it no longer trusts this node.
		err = askAgent(t, r.agents["bank"], api.KeySwitchRequest{Result: 1, Ciphers: [][]byte{{1}}, Target: target})
		require.ErrorContains(t, err, "no longer trusts")
	})
}

// serveLedger serves l's read endpoints at the stopped node's address,
// with its certificate, as a rogue node would.
func serveLedger(t *testing.T, r *heRoom, l *ledger.Log) func() {
	cert, err := tls.LoadX509KeyPair(filepath.Join(r.dir, "tls.crt"), filepath.Join(r.dir, "tls.key"))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ledger/consistency", func(w http.ResponseWriter, req *http.Request) {
		from, _ := strconv.ParseUint(req.URL.Query().Get("from"), 10, 64)
		hashes, err := l.ConsistencyProof(from, l.Size())
		require.NoError(t, err)
		json.NewEncoder(w).Encode(api.Consistency{From: from, Checkpoint: string(l.Checkpoint()), Hashes: hashes})
	})
	mux.HandleFunc("GET /v1/ledger/entries", func(w http.ResponseWriter, req *http.Request) {
		from, _ := strconv.ParseUint(req.URL.Query().Get("from"), 10, 64)
		count, _ := strconv.ParseUint(req.URL.Query().Get("count"), 10, 64)
		var out api.Entries
		out.From = from
		for i := from; i < min(from+count, l.Size()); i++ {
			e, err := l.Entry(i)
			require.NoError(t, err)
			out.Entries = append(out.Entries, e)
		}
		json.NewEncoder(w).Encode(out)
	})
	addr := strings.TrimPrefix(r.c.URL(), "https://")
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(ln, "", "")
	return func() { srv.Close() }
}

// plusNoise adds a fixed amount to every integer sample (none to floats),
// so that a test can see where each party's noise lands.
type plusNoise struct{ add int64 }

func (p plusNoise) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error) { return x + p.add, nil }
func (plusNoise) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) {
	return x, nil
}
func (plusNoise) Threshold(int64, float64, float64, float64, float64) (float64, error) { return 0, nil }
func (plusNoise) ComputeConfidenceIntervalInt64(int64, int64, int64, float64, float64, float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}
func (plusNoise) ComputeConfidenceIntervalFloat64(float64, int64, float64, float64, float64, float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{}, nil
}

// TestHEProvidersNoise runs queries under a letter whose noise the
// providers' agents draw: the node adds none (its noise is off through the
// test hook) and each of the three agents adds its own, 7 on every value
// here, inside its key-switch share. So every released COUNT and SUM is
// the sealed answer plus 21: each agent's noise lands on each value once.
func TestHEProvidersNoise(t *testing.T) {
	r := &heRoom{room: newRoom(t, 60, func(c *node.Config) { c.Noise = dptest.InsecureNoNoise{} }), agents: map[string]*heAgent{}}
	info, err := r.c.Info(context.Background())
	require.NoError(t, err)
	for _, p := range providers {
		r.agents[p] = r.startAgent(t, p, info.NodeKey, plusNoise{add: 7})
	}
	r.setupAndUpload(t, 60)
	l := r.defaultLetter("L-2")
	l.Noise = policy.NoiseProviders
	r.letter(l, true, "bank", "msb", "grid")
	for _, sql := range []string{
		"SELECT l.green, COUNT(*), SUM(l.amount) FROM loans l GROUP BY l.green",
		"SELECT r.industry, SUM(e.kwh) FROM electricity e JOIN registry r ON e.uscc = r.uscc GROUP BY r.industry",
		"SELECT COUNT(*) FROM registry r",
	} {
		sealed, err := r.query("bank", "L-2", "0.01", "", sql)
		require.NoError(t, err, sql)
		he, resp, err := r.queryHE("L-2", "0.01", sql)
		require.NoError(t, err, sql)
		require.Equal(t, policy.NoiseProviders, resp.Decision.Params.Noise)
		require.Equal(t, 3, resp.HE.Draws)
		require.Contains(t, he.Stats[len(he.Stats)-1].Mechanism, "one sample from each of 3 providers")
		require.Equal(t, len(sealed.Result.Rows), len(he.Rows), sql)
		groups := len(resp.HE.Plan.GroupBy)
		for i, row := range sealed.Result.Rows {
			require.Equal(t, row[:groups], he.Rows[i][:groups], sql)
			for j := groups; j < len(row); j++ {
				want, _ := strconv.ParseInt(row[j], 10, 64)
				require.Equal(t, strconv.FormatInt(want+21, 10), he.Rows[i][j], "%s: row %d column %d", sql, i, j)
			}
		}
	}
}

// TestAgentsRefuseRogueResults has a rogue node (the node's key and
// address, its own log) ask for shares of results the decision does not
// allow: the same c1 twice, more groups than the query can release, and a
// dataset sealed after the decision.
func TestAgentsRefuseRogueResults(t *testing.T) {
	r := newHERoom(t, 60, dptest.InsecureNoNoise{})
	target, err := r.pk.MarshalBinary()
	require.NoError(t, err)
	// Allowed decisions whose execution fails (the files hidden), so that
	// no heresult is logged for them.
	up := filepath.Join(r.dir, "he", "uploads", "loans")
	require.NoError(t, os.Rename(up, up+".x"))
	decide := func(sql string) uint64 {
		_, _, err := r.queryHE("L-1", "0.01", sql)
		var ce *client.Error
		require.ErrorAs(t, err, &ce)
		return *ce.Entry
	}
	sumAvg := decide("SELECT SUM(l.amount), AVG(l.amount) FROM loans l") // 3 ciphertexts: two sums and the clear vector
	sum := decide("SELECT SUM(l.amount) FROM loans l")                   // 1 group at most
	sealed := decide("SELECT SUM(l.amount) FROM loans l")
	require.NoError(t, os.Rename(up+".x", up))

	params := mustParams(t)
	hk, err := client.LoadHEKeys(r.agents["bank"].dir)
	require.NoError(t, err)
	enc, err := mhe.NewEncryptor(params, hk.Collective)
	require.NoError(t, err)
	fresh := func() *mhe.Ciphertext {
		ct, err := enc.EncryptChunk([]int64{42})
		require.NoError(t, err)
		return ct
	}
	raw := func(cts ...*mhe.Ciphertext) ([][]byte, []string) {
		var bs [][]byte
		var hs []string
		for _, ct := range cts {
			b, _ := ct.MarshalBinary()
			h := sha256.Sum256(b)
			bs, hs = append(bs, b), append(hs, hex.EncodeToString(h[:]))
		}
		return bs, hs
	}
	a := fresh()
	twin := a.Clone()
	require.NoError(t, mhe.AddConstant(params, twin, 0, 1)) // another c0, the same c1

	r.stop()
	signer, _, err := keys.LoadSigner(filepath.Join(r.dir, "node.key"))
	require.NoError(t, err)
	origin, err := os.ReadFile(filepath.Join(r.dir, "origin"))
	require.NoError(t, err)
	l, err := ledger.Open(filepath.Join(r.dir, "ledger"), signer, string(origin))
	require.NoError(t, err)
	defer l.Close()
	key := client.ResultKeyHash(r.pk)
	appendEntry := func(e *state.Entry) uint64 {
		e.Time = r.now
		b, err := e.Encode()
		require.NoError(t, err)
		i, err := l.Append(b)
		require.NoError(t, err)
		return i
	}
	ask := func(entry uint64, cts [][]byte) error {
		stop := serveLedger(t, r, l)
		defer stop()
		return askAgent(t, r.agents["bank"], api.KeySwitchRequest{Result: entry, Ciphers: cts, Target: target})
	}

	bs, hs := raw(a, twin, fresh())
	i := appendEntry(&state.Entry{Kind: state.KindHEResult, HEResult: &state.HEResult{Decision: sumAvg, Groups: 1, Ciphers: hs, ResultKey: key}})
	require.ErrorContains(t, ask(i, bs), "share their c1 part")

	bs, hs = raw(fresh(), fresh(), fresh())
	i = appendEntry(&state.Entry{Kind: state.KindHEResult, HEResult: &state.HEResult{Decision: sum, Groups: 3, Ciphers: hs, ResultKey: key}})
	require.ErrorContains(t, ask(i, bs), "claims 3 released groups; this query can release at most 1")

	msg, err := statement.NewAt(r.now, statement.KindSeal, policy.Seal{Dataset: "loans", Reason: "end of purpose"}, r.parties["bank"].signer)
	require.NoError(t, err)
	appendEntry(&state.Entry{Kind: state.KindStatement, Statement: string(msg)})
	bs, hs = raw(fresh())
	i = appendEntry(&state.Entry{Kind: state.KindHEResult, HEResult: &state.HEResult{Decision: sealed, Groups: 1, Ciphers: hs, ResultKey: key}})
	require.ErrorContains(t, ask(i, bs), "dataset loans was sealed since the decision")
}

// TestAgentRefusesAForeignFingerprintKey has the node relay a fingerprint
// key of its own to an agent: the agent refuses it, for the first
// provider's agent committed to its key by hash in the ledger.
func TestAgentRefusesAForeignFingerprintKey(t *testing.T) {
	r := newHERoom(t, 10, dptest.InsecureNoNoise{})
	cp, err := r.c.Checkpoint(context.Background())
	require.NoError(t, err)
	size, _ := strconv.ParseUint(strings.Split(string(cp), "\n")[1], 10, 64)
	entries, err := r.c.Entries(context.Background(), 0, size)
	require.NoError(t, err)
	keyEntry := uint64(0)
	for i, b := range entries {
		if e, err := state.DecodeEntry(b); err == nil && e.Kind == state.KindHEKey {
			keyEntry = uint64(i)
		}
	}
	require.NotZero(t, keyEntry)
	var shares [][]byte
	for _, p := range providers {
		b, err := os.ReadFile(filepath.Join(r.agents[p].dir, "setup", "S-1.ckg"))
		require.NoError(t, err)
		shares = append(shares, b)
	}
	forged, err := fingerprint.Generate()
	require.NoError(t, err)
	text, _ := forged.MarshalText()
	recips, err := age.ParseRecipients(strings.NewReader(r.agents["grid"].ag.Recipient()))
	require.NoError(t, err)
	var blob bytes.Buffer
	aw := armor.NewWriter(&blob)
	w, err := age.Encrypt(aw, recips...)
	require.NoError(t, err)
	w.Write(text)
	require.NoError(t, w.Close())
	require.NoError(t, aw.Close())

	hc, err := client.Pinned(r.agents["grid"].ag.Pin())
	require.NoError(t, err)
	body, _ := json.Marshal(api.FinishRequest{Key: keyEntry, Shares: shares, Fingerprint: blob.String()})
	res, err := hc.Post(r.agents["grid"].srv.URL+"/v1/agent/finish", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	var e api.Error
	require.NoError(t, json.NewDecoder(res.Body).Decode(&e))
	require.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Contains(t, e.Message, "is not the one msb's agent committed to in the ledger")
	// The key the agent keeps is still the real one.
	hk, err := client.LoadHEKeys(r.agents["grid"].dir)
	require.NoError(t, err)
	real, _ := hk.Fingerprint.MarshalText()
	require.NotEqual(t, text, real)
}

// TestHESetupFinishesLater has an agent miss the finishing round of the
// setup: the key is logged, the node says so, and 'mhe finish' completes
// it once the agent is back.
func TestHESetupFinishesLater(t *testing.T) {
	r := &heRoom{room: newRoom(t, 10), agents: map[string]*heAgent{}}
	info, err := r.c.Info(context.Background())
	require.NoError(t, err)
	for _, p := range providers {
		r.agents[p] = r.startAgent(t, p, info.NodeKey, nil)
	}
	var finishDown atomic.Bool
	finishDown.Store(true)
	grid := r.agents["grid"]
	h := grid.ag.Handler()
	grid.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if finishDown.Load() && req.URL.Path == "/v1/agent/finish" {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, req)
	})
	setup, err := node.NewHESetup("S-1", providers)
	require.NoError(t, err)
	msg, err := statement.NewAt(r.now, statement.KindHESetup, setup, r.parties["bureau"].signer)
	require.NoError(t, err)
	_, err = r.c.HESetup(context.Background(), msg)
	require.ErrorContains(t, err, "is logged")
	require.ErrorContains(t, err, "mhe finish")
	_, err = client.LoadHEKeys(grid.dir)
	require.Error(t, err, "grid's agent missed the finishing round")

	finishDown.Store(false)
	res, err := r.c.HEFinish(context.Background())
	require.NoError(t, err)
	require.Len(t, res.KeySHA256, 64)
	hk, err := client.LoadHEKeys(grid.dir)
	require.NoError(t, err)
	require.Equal(t, res.KeySHA256, client.ResultKeyHash(hk.Collective))
}
