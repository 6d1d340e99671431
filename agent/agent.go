// Package agent is a provider's agent in the multiparty HE mode: a
// long-running process, one per provider, that holds the provider's share
// of the collective secret key and the providers' shared fingerprint key,
// takes part in generating the collective key, and answers the node's
// key-switch requests, but only after checking each one itself.
//
// # What an agent checks before it helps decrypt
//
// The agent follows the node's ledger: it keeps a verified copy of every
// entry (ledger.Follower: each new checkpoint must be signed by the node
// and consistent with the last one the agent saw, and the entries must
// lead to its root) and replays them with the node's own code
// (audit.Replayer: every statement's signatures are checked against the
// keys registered before it, and every query is decided again by the
// policy engine). A node whose log breaks a rule is refused for good.
// Before it produces a key-switch share for the heresult entry a request
// names, the agent checks that
//
//   - the entry is in the log it verified, and is an heresult for an
//     allowed HE-mode decision that its own replay reached as well (the
//     letter's signatures, approval, window, scenario, budget, columns);
//   - the letter is still approved, unrevoked and in its window now, and
//     its scenario still approved;
//   - the ciphertexts sent are exactly those the entry names, by SHA-256,
//     as many as the release's layout has for the decision's query and
//     its number of released groups;
//   - the target key is the operator's result key that the signed query
//     names;
//   - it never issued a share for this entry or for any of these
//     ciphertexts before. It records what it issues, durably, before it
//     answers, and refuses every later request for them, even the same
//     one: an honest node never needs a second share of a ciphertext.
//
// Every share carries a mask: uniform random values at every coefficient
// that is not a result, so that the other linear combinations of the data
// that a product of ciphertexts holds never reach the operator, and (when
// the letter says "noise: providers") the agent's own DP noise on every
// result.
//
// # Data directory
//
//	agent.json          the provider, the node's URL, pin and key
//	age.key             the agent's age identity (fingerprint key exchange), 0600
//	tls.crt, tls.key    its TLS certificate; the node pins it
//	ledger/             its verified copy of the node's ledger
//	setup/<id>.share    its secret-key share for a setup, 0600
//	setup/<id>.ckg      the key-generation share it issued for that setup
//	fingerprint.key     the providers' shared fingerprint key, 0600
//	collective.pk       the collective public key, once set up
//	issued/             a record of every key-switch share issued
package agent

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/fingerprint"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/state"
)

// Settings is what agent.json holds: who the agent serves and which node
// it follows.
type Settings struct {
	Party   string `json:"party"`
	NodeURL string `json:"node_url"`
	NodePin string `json:"node_pin"`
	// NodeKey is the node's note verifier key: the trust anchor of the
	// ledger the agent follows.
	NodeKey string `json:"node_key"`
}

// Config configures an agent.
type Config struct {
	// Dir is the data directory, holding agent.json (see Init). Required.
	Dir string
	// Signer is the provider's signing key: its name is the party's.
	// Required.
	Signer note.Signer
	// Logger defaults to a text logger on stderr.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Noise is the DP mechanism of the agent's noise. Nil means the DP
	// library's Laplace noise. Only tests set it (to
	// dptest.InsecureNoNoise); no flag or request can.
	Noise noise.Noise
}

// Agent is a running agent. Safe for concurrent use: requests are served
// one at a time.
type Agent struct {
	cfg      Config
	set      Settings
	log      *slog.Logger
	node     *client.Client
	params   bgv.Parameters
	identity *age.HybridIdentity
	tlsCert  tls.Certificate
	pin      string

	mu       sync.Mutex
	follower *ledger.Follower
	replayer *audit.Replayer
	copy     *ledgerCopy
	// broken is set when the node's log broke a rule: the agent then
	// refuses everything.
	broken  error
	journal *journal
}

// Init writes a new agent's data directory: agent.json, an age identity
// and a TLS certificate. It refuses a directory that already has an
// agent.json.
func Init(dir string, s Settings) error {
	if s.Party == "" || s.NodeURL == "" || s.NodePin == "" || s.NodeKey == "" {
		return errors.New("agent: init needs the party, the node's URL, pin and key")
	}
	if _, err := note.NewVerifier(s.NodeKey); err != nil {
		return fmt.Errorf("agent: node key: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	p := filepath.Join(dir, "agent.json")
	if _, err := os.Stat(p); err == nil {
		return fmt.Errorf("agent: %s already exists", p)
	}
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := keys.WriteSecret(filepath.Join(dir, "age.key"), []byte(id.String()+"\n")); err != nil {
		return fmt.Errorf("agent: age identity: %w", err)
	}
	if _, _, err := keys.LoadOrCreateTLS(dir, "cleanroom agent "+s.Party); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return keys.WriteDurable(p, append(b, '\n'), 0o644)
}

// Open opens the agent in cfg.Dir: it loads its keys, verifies its copy
// of the ledger and replays it.
func Open(cfg Config) (*Agent, error) {
	if cfg.Dir == "" || cfg.Signer == nil {
		return nil, errors.New("agent: the data directory and the provider's key are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Agent{cfg: cfg, log: cfg.Logger}
	b, err := os.ReadFile(filepath.Join(cfg.Dir, "agent.json"))
	if err != nil {
		return nil, fmt.Errorf("agent: %w (run 'cleanroom agent init' first)", err)
	}
	if err := json.Unmarshal(b, &a.set); err != nil {
		return nil, fmt.Errorf("agent: agent.json: %w", err)
	}
	if a.set.Party != cfg.Signer.Name() {
		return nil, fmt.Errorf("agent: agent.json is for %s, the key is %s's", a.set.Party, cfg.Signer.Name())
	}
	v, err := note.NewVerifier(a.set.NodeKey)
	if err != nil {
		return nil, fmt.Errorf("agent: node key: %v", err)
	}
	if a.node, err = client.New(a.set.NodeURL, a.set.NodePin); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if a.params, err = mhe.NewParameters(); err != nil {
		return nil, err
	}
	idPath := filepath.Join(cfg.Dir, "age.key")
	if err := keys.CheckSecretMode(idPath); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	idText, err := os.ReadFile(idPath)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if a.identity, err = age.ParseHybridIdentity(strings.TrimSpace(string(idText))); err != nil {
		return nil, fmt.Errorf("agent: age identity in %s does not parse", idPath)
	}
	if a.tlsCert, a.pin, err = keys.LoadOrCreateTLS(cfg.Dir, "cleanroom agent "+a.set.Party); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if a.journal, err = openJournal(filepath.Join(cfg.Dir, "issued")); err != nil {
		return nil, err
	}
	a.follower = ledger.NewFollower(v)
	a.replayer = audit.NewReplayer(a.set.NodeKey)
	if a.copy, err = openCopy(filepath.Join(cfg.Dir, "ledger")); err != nil {
		return nil, err
	}
	signed, entries, err := a.copy.load()
	if err != nil {
		return nil, err
	}
	if signed != nil {
		if _, err := a.follower.Extend(signed, nil, entries); err != nil {
			return nil, fmt.Errorf("agent: its copy of the ledger does not verify: %w", err)
		}
		a.replay(0, entries)
	}
	return a, nil
}

// Party returns the provider the agent serves.
func (a *Agent) Party() string { return a.set.Party }

// Pin returns the pin of the agent's TLS certificate.
func (a *Agent) Pin() string { return a.pin }

// TLSCertificate returns the agent's TLS certificate.
func (a *Agent) TLSCertificate() tls.Certificate { return a.tlsCert }

// Recipient returns the agent's age recipient.
func (a *Agent) Recipient() string { return a.identity.Recipient().String() }

// Node returns the client of the node the agent follows.
func (a *Agent) Node() *client.Client { return a.node }

// Registered syncs with the node's ledger and returns the agent statement
// on record for the agent's provider, or nil.
func (a *Agent) Registered(ctx context.Context) (*policy.Agent, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.sync(ctx); err != nil {
		return nil, err
	}
	ag, ok := a.replayer.State().Snapshot().Agent(a.set.Party)
	if !ok {
		return nil, nil
	}
	return ag, nil
}

// Close releases the agent's files.
func (a *Agent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.copy.close()
}

// replay applies entries from index first to the agent's state; a rule
// broken marks the node's log as broken.
func (a *Agent) replay(first uint64, entries [][]byte) {
	for k, e := range entries {
		if a.broken != nil {
			return
		}
		if err := a.replayer.Apply(first+uint64(k), e); err != nil {
			a.broken = err
			a.log.Error("the node's ledger breaks a rule: refusing all requests", "err", err)
		}
	}
}

// sync brings the agent's verified copy of the ledger up to the node's
// latest checkpoint.
func (a *Agent) sync(ctx context.Context) error {
	if a.broken != nil {
		return fmt.Errorf("the node's ledger broke a rule, so this agent no longer trusts it: %v", a.broken)
	}
	from := a.follower.Size()
	c, err := a.node.Consistency(ctx, from)
	if err != nil {
		return fmt.Errorf("fetching the node's checkpoint: %w", err)
	}
	size, err := checkpointSize([]byte(c.Checkpoint))
	if err != nil {
		return err
	}
	var entries [][]byte
	for uint64(len(entries)) < size-min(size, from) {
		at := from + uint64(len(entries))
		page, err := a.node.Entries(ctx, at, min(1000, size-at))
		if err != nil {
			return fmt.Errorf("fetching ledger entries from %d: %w", at, err)
		}
		if len(page) == 0 {
			return fmt.Errorf("the node returned no entries from %d", at)
		}
		entries = append(entries, page...)
	}
	// The follower moves on only once the copy holds the entries: a failed
	// write leaves both where they were.
	before := *a.follower
	if _, err := a.follower.Extend([]byte(c.Checkpoint), c.Hashes, entries); err != nil {
		if errors.Is(err, ledger.ErrSecurity) {
			a.broken = err
		}
		return fmt.Errorf("the node's ledger does not verify: %w", err)
	}
	if err := a.copy.append(entries, []byte(c.Checkpoint)); err != nil {
		*a.follower = before
		return fmt.Errorf("storing the ledger copy: %w", err)
	}
	a.replay(from, entries)
	if a.broken != nil {
		return fmt.Errorf("the node's ledger broke a rule, so this agent no longer trusts it: %v", a.broken)
	}
	return nil
}

// checkpointSize reads the size line of a checkpoint already verified or
// about to be.
func checkpointSize(signed []byte) (uint64, error) {
	lines := strings.SplitN(string(signed), "\n", 3)
	if len(lines) < 3 {
		return 0, errors.New("the node's checkpoint is malformed")
	}
	var n uint64
	if _, err := fmt.Sscan(lines[1], &n); err != nil {
		return 0, errors.New("the node's checkpoint is malformed")
	}
	return n, nil
}

// entry returns the agent's verified copy of ledger entry i, decoded.
func (a *Agent) entry(i uint64) (*state.Entry, error) {
	b, err := a.copy.entry(i)
	if err != nil {
		return nil, err
	}
	return state.DecodeEntry(b)
}

// fingerprintKey loads the shared fingerprint key, if the agent has it.
func (a *Agent) fingerprintKey() (*fingerprint.Key, error) {
	p := filepath.Join(a.cfg.Dir, "fingerprint.key")
	if err := keys.CheckSecretMode(p); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return fingerprint.ParseKey(b)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
