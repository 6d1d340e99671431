// Package node is the compute node: it composes the ledger, the state, the
// policy engine and the enclave behind an HTTPS JSON API.
//
// # Order of effects
//
// Every write follows the same order: verify the signed statement against
// the registered keys, check the entry it makes against the state with the
// same code that replay uses (state.Check), append it to the ledger (durable
// before the call returns), then apply it to the in-memory state, and only
// then act. A query's decision and the budget it spends are therefore on
// disk before anything is computed; if the ledger cannot be written the node
// does nothing and answers 503 audit-unavailable.
//
// # Data directory
//
//	node.key       the node's note signer key (checkpoints), 0600
//	node.age       the node's age identity (sealed uploads), 0600
//	tls.crt        self-signed certificate; clients pin its SHA-256
//	tls.key        its private key, 0600
//	ledger/        the transparency log (see package ledger)
//	sealed/        uploads, each under its dataset's key, one folder per dataset
//	datakeys/      one age identity per dataset (0600): erased to shred it
//	he/uploads/    age ciphertexts of HE-mode upload containers
//	he/collective.pk  the collective public key of HE mode, once set up
//	node.json      what clients need: URL, pin, keys (written at start)
package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/differential-privacy/go/v3/noise"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/enclave"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/state"
)

// Config configures a node.
type Config struct {
	// Dir is the data directory. Required.
	Dir string
	// AuthorityKey is the authority's verifier key. Required at first
	// start; afterwards it must be empty or equal the recorded one.
	AuthorityKey string
	// Origin names the deployment in checkpoints. Defaults to
	// "cleanroom.local/" and the data directory's base name at first start.
	Origin string
	// Identity is the path of the node's age identity. Defaults to
	// Dir/node.age, created at first start.
	Identity string
	// Logger defaults to a text logger on stderr.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// LedgerFS is the file system under the ledger. Defaults to the
	// operating system's; tests inject faults through it.
	LedgerFS ledger.FS
	// Window is how far a signed statement's time may be from the node's
	// clock when it arrives, and LetterWindow how old a commitment letter
	// may be (it gathers several signatures). Both are recorded in the
	// genesis at first start and fixed then: afterwards each must be zero
	// or equal the recorded one. Default to state.DefaultWindow and
	// state.DefaultLetterWindow.
	Window, LetterWindow time.Duration
	// MaxUploadBytes bounds one upload's ciphertext (one part of a
	// multipart upload): a larger one is refused with 413 and nothing of
	// it is kept. Defaults to (and is at most) MaxUploadBytes.
	MaxUploadBytes int64
	// Quotas bound what each party may ask (429 with Retry-After).
	Quotas Quotas
	// Slot is the time grid on which query answers (releases and
	// denials alike) leave the node, counted from each request's
	// arrival. Defaults to DefaultSlot; a negative value turns the grid
	// off (tests that measure something else).
	Slot time.Duration
	// Noise is the DP mechanism of every release. Nil means the DP
	// library's Laplace noise. Only tests set it (to
	// dptest.InsecureNoNoise); no flag or request can.
	Noise noise.Noise
	// CacheTTL is how long a dataset's decrypted rows stay in memory with
	// no query using them, and CacheBytes how many bytes of decrypted rows
	// the node keeps; past either they are wiped. Default to
	// enclave.DefaultCacheTTL and enclave.DefaultCacheBytes.
	CacheTTL   time.Duration
	CacheBytes int64
}

// The defaults of Config.CacheTTL and Config.CacheBytes.
const (
	DefaultCacheTTL   = enclave.DefaultCacheTTL
	DefaultCacheBytes = enclave.DefaultCacheBytes
)

// Node is a running compute node. Safe for concurrent use.
type Node struct {
	cfg      Config
	log      *slog.Logger
	root     *os.Root // cfg.Dir
	signer   note.Signer
	verifier note.Verifier
	nodeKey  string
	custody  *enclave.Custody
	keys     *enclave.DataKeys
	store    *enclave.Store
	heStore  *heStore
	ledger   *ledger.Log
	// st is the state, rebuilt from the ledger at start and after a failed
	// append; readers take st.Load().Snapshot().
	st atomic.Pointer[state.State]
	// last is the last entry staged: a reader that waits for it after
	// taking a snapshot sees only durable entries (stageLocked stores it
	// before applying).
	last    atomic.Pointer[ledger.Pending]
	tlsCert tls.Certificate
	pin     string

	// mu serialises check, append and apply, so that the state always
	// reflects exactly the ledger.
	mu sync.Mutex

	// agentClients are the pinned HTTP clients of providers' agents, by pin.
	agentMu      sync.Mutex
	agentClients map[string]*http.Client

	// guard enforces the quotas.
	guard *guard

	// reads holds the nonces of recent signed reads.
	reads readNonces

	// dsLocks serialise uploads and destruction per dataset.
	dsMu    sync.Mutex
	dsLocks map[string]*sync.RWMutex
}

// Open opens (or creates) the node in cfg.Dir and rebuilds its state by
// replaying the ledger. It refuses to start on a damaged ledger.
func Open(cfg Config) (*Node, error) {
	if cfg.Dir == "" {
		return nil, errors.New("node: data directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Slot == 0 {
		cfg.Slot = DefaultSlot
	}
	if cfg.MaxUploadBytes <= 0 || cfg.MaxUploadBytes > MaxUploadBytes {
		cfg.MaxUploadBytes = MaxUploadBytes
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, guard: newGuard(cfg.Quotas)}
	var err error
	// The data directory's own files are reached through an os.Root, and
	// so are those of its folders (by the store, the data keys and the
	// ledger, each through a root of its own).
	if n.root, err = os.OpenRoot(cfg.Dir); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	opened := false
	defer func() {
		if !opened {
			n.closeFiles()
		}
	}()
	if n.signer, n.nodeKey, err = keys.LoadOrCreateSignerIn(n.root, "node.key", "node"); err != nil {
		return nil, fmt.Errorf("node: signing key: %w", err)
	}
	if n.verifier, err = note.NewVerifier(n.nodeKey); err != nil {
		return nil, fmt.Errorf("node: signing key: %w", err)
	}
	if cfg.Identity == "" {
		if _, err := n.root.Stat("node.age"); errors.Is(err, os.ErrNotExist) {
			if err := enclave.GenerateIdentityIn(n.root, "node.age"); err != nil {
				return nil, fmt.Errorf("node: age identity: %w", err)
			}
		}
		n.custody, err = enclave.LoadCustodyIn(n.root, "node.age")
	} else {
		// An identity kept outside the data directory, where its owner
		// put it.
		n.custody, err = enclave.LoadCustody(cfg.Identity)
	}
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.keys, err = enclave.OpenDataKeys(filepath.Join(cfg.Dir, "datakeys")); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.store, err = enclave.OpenStore(filepath.Join(cfg.Dir, "sealed"), n.custody, n.keys); err == nil {
		n.store.SetCache(cfg.CacheTTL, cfg.CacheBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.heStore, err = newHEStore(filepath.Join(cfg.Dir, "he", "uploads"), n.custody, n.keys); err != nil {
		return nil, err
	}
	if n.tlsCert, n.pin, err = keys.LoadOrCreateTLSIn(n.root, "cleanroom node"); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	origin := cfg.Origin
	if origin == "" {
		origin = "cleanroom.local/" + filepath.Base(filepath.Clean(cfg.Dir))
	}
	if origin, err = originOf(n.root, origin); err != nil {
		return nil, err
	}
	if n.ledger, err = ledger.OpenWithOptions(filepath.Join(cfg.Dir, "ledger"), n.signer, origin, ledger.Options{FS: cfg.LedgerFS}); err != nil {
		return nil, fmt.Errorf("node: ledger: %w", err)
	}
	if err := n.replay(); err != nil {
		n.ledger.Close()
		return nil, err
	}
	if err := n.genesis(origin); err != nil {
		n.ledger.Close()
		return nil, err
	}
	if err := n.removeOrphans(); err != nil {
		n.ledger.Close()
		return nil, err
	}
	if err := n.finishDestructions(); err != nil {
		n.ledger.Close()
		return nil, err
	}
	opened = true
	return n, nil
}

// closeFiles releases the roots of the data directory and its folders.
func (n *Node) closeFiles() {
	if n.heStore != nil {
		n.heStore.root.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.keys != nil {
		n.keys.Close()
	}
	n.root.Close()
}

// originOf returns the origin recorded in dir, or records origin there.
// The origin is fixed at first start: checkpoints of one log keep it.
func originOf(root *os.Root, origin string) (string, error) {
	if b, err := root.ReadFile("origin"); err == nil && len(b) > 0 {
		return string(b), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node: %w", err)
	}
	if err := root.WriteFile("origin", []byte(origin), 0o644); err != nil {
		return "", fmt.Errorf("node: recording the origin: %w", err)
	}
	return origin, nil
}

// replay rebuilds the state from the ledger's committed entries.
func (n *Node) replay() error {
	start := time.Now()
	st := state.New()
	err := n.ledger.Scan(0, func(i uint64, b []byte) error {
		e, err := state.DecodeEntry(b)
		if err != nil {
			return &state.ApplyError{Index: i, Err: err}
		}
		return st.Apply(i, e)
	})
	if err != nil {
		return fmt.Errorf("node: the ledger does not replay, refusing to start: %w", err)
	}
	n.st.Store(st)
	n.log.Info("state rebuilt from ledger", "entries", st.Snapshot().Entries(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// snapshot returns a consistent view of the current state.
func (n *Node) snapshot() *state.Snapshot { return n.st.Load().Snapshot() }

func (n *Node) genesis(origin string) error {
	snap := n.snapshot()
	if g := snap.Genesis(); g != nil {
		if n.cfg.AuthorityKey != "" && n.cfg.AuthorityKey != g.AuthorityKey {
			return fmt.Errorf("node: --authority differs from the authority recorded in the ledger (%s)", g.AuthorityKey)
		}
		w, lw, err := g.Windows()
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		if n.cfg.Window != 0 && n.cfg.Window != w || n.cfg.LetterWindow != 0 && n.cfg.LetterWindow != lw {
			return fmt.Errorf("node: the time windows are fixed at first start: this ledger records --window %v and --letter-window %v", w, lw)
		}
		if g.NodeKey != n.nodeKey {
			return errors.New("node: node.key is not the key recorded in the ledger's genesis")
		}
		return nil
	}
	if n.cfg.AuthorityKey == "" {
		return errors.New("node: a new node needs the authority's verifier key (--authority FILE.pub)")
	}
	if _, err := note.NewVerifier(n.cfg.AuthorityKey); err != nil {
		return fmt.Errorf("node: authority key: %v", err)
	}
	if err := keys.CheckVerifierKey(n.cfg.AuthorityKey); err != nil {
		return fmt.Errorf("node: authority key: %w", err)
	}
	g := &state.Genesis{Origin: origin, NodeKey: n.nodeKey, AuthorityKey: n.cfg.AuthorityKey, Recipient: n.custody.Recipient()}
	if n.cfg.Window != 0 {
		g.Window = n.cfg.Window.String()
	}
	if n.cfg.LetterWindow != 0 {
		g.LetterWindow = n.cfg.LetterWindow.String()
	}
	if _, _, err := g.Windows(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	_, err := n.append(&state.Entry{Kind: state.KindGenesis, Genesis: g})
	return err
}

// removeOrphans deletes sealed uploads that no ledger entry accepted (left
// by a crash between storing and logging).
func (n *Node) removeOrphans() error {
	snap := n.snapshot()
	for _, d := range snap.Datasets() {
		ids, err := n.store.List(d.Name)
		if err != nil {
			return fmt.Errorf("node: sealed store: %w", err)
		}
		known := map[string]bool{}
		for _, id := range d.Uploads {
			known[id] = true
		}
		for _, p := range d.Pending {
			known[p.UploadID] = true
		}
		for _, id := range ids {
			if !known[id] {
				n.log.Warn("removing an upload the ledger never accepted", "dataset", d.Name, "upload", id)
				if err := n.store.Remove(d.Name, id); err != nil {
					return err
				}
			}
		}
		heIDs, err := n.heStore.list(d.Name)
		if err != nil {
			return fmt.Errorf("node: HE store: %w", err)
		}
		heKnown := map[string]bool{}
		for _, id := range snap.HEUploads(d.Name) {
			heKnown[id] = true
		}
		for _, id := range heIDs {
			if !heKnown[id] {
				n.log.Warn("removing an HE upload the ledger never accepted", "dataset", d.Name, "upload", id)
				if err := n.heStore.remove(d.Name, id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// append checks e against the state, logs it and applies it, and returns
// once it is durable. The caller must not hold n.mu.
func (n *Node) append(e *state.Entry) (uint64, error) {
	n.mu.Lock()
	p, err := n.stageLocked(e)
	n.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return p.Index, n.wait(p)
}

// errAudit wraps ledger failures: the node must refuse to act.
// The entry is not in the log, or (when the disk took the entry but not
// the checkpoint over it) it is but was not acted on.
var errAudit = errors.New("audit-unavailable: the ledger cannot be written; nothing was computed or released")

// stageLocked checks e against the state, queues it in the ledger at the
// index the state expects, and applies it to the state. The entry is not
// durable until wait(p) returns nil: the caller acts on it only then.
// Entries are applied before they are durable so that the next decision
// sees them (a budget debit, say); the ledger commits them in the same
// order, in batches. The caller holds n.mu.
func (n *Node) stageLocked(e *state.Entry) (*ledger.Pending, error) {
	st := n.st.Load()
	if e.Time.IsZero() {
		e.Time = n.cfg.Now().UTC()
	}
	// Entry times never go back, even if the clock does.
	if last := st.Snapshot().LastTime(); e.Time.Before(last) {
		e.Time = last
	}
	if err := st.Check(e); err != nil {
		return nil, err
	}
	b, err := e.Encode()
	if err != nil {
		return nil, err
	}
	p, err := n.ledger.AddAt(st.Snapshot().Entries(), b)
	var ie *ledger.IndexError
	if errors.As(err, &ie) {
		// A failed batch dropped entries this state holds: rebuild it
		// from the log, and have the caller try again later.
		n.rebuildLocked()
	}
	if err != nil {
		n.log.Error("ledger append refused", "err", err)
		return nil, fmt.Errorf("%w: %v", errAudit, err)
	}
	n.last.Store(p)
	if err := st.Apply(p.Index, e); err != nil {
		// Check passed under the same lock, so this cannot happen; if it
		// does, the state no longer matches the ledger: stop serving.
		panic(fmt.Sprintf("node: entry %d checked but not applied: %v", p.Index, err))
	}
	return p, nil
}

// entryTime returns the time the next entry would have: the clock, or the
// last entry's time if the clock went back. For dry runs of Check.
func (n *Node) entryTime() time.Time {
	t := n.cfg.Now().UTC()
	if last := n.snapshot().LastTime(); t.Before(last) {
		return last
	}
	return t
}

// wait returns when p is durable, or fails with errAudit; then the state
// may hold entries the ledger dropped, and is rebuilt from the ledger.
func (n *Node) wait(p *ledger.Pending) error {
	if err := p.Wait(); err != nil {
		n.log.Error("ledger append failed", "entry", p.Index, "err", err)
		n.mu.Lock()
		n.rebuildLocked()
		n.mu.Unlock()
		return fmt.Errorf("%w: %v", errAudit, err)
	}
	return nil
}

// rebuildLocked replays the ledger into a fresh state when the state holds
// entries the ledger dropped (a failed batch drops itself and everything
// queued after it, so nothing is in flight then). After a failed
// checkpoint store the entries stay in the log, the ledger's next index
// still matches the state, and nothing is rebuilt. The caller holds n.mu.
func (n *Node) rebuildLocked() {
	if n.st.Load().Snapshot().Entries() <= n.ledger.Next() {
		return
	}
	if err := n.replay(); err != nil {
		panic(fmt.Sprintf("node: the ledger does not replay after a failed append: %v", err))
	}
	n.last.Store(nil)
}

// durableSnapshot returns a snapshot holding only durable entries: what
// the node shows (budgets, counts, the catalogue) is never taken back by a
// crash. It waits for the entries in flight when it is called.
func (n *Node) durableSnapshot() *state.Snapshot {
	for {
		snap := n.snapshot()
		// Everything snap holds was staged no later than the entry n.last
		// holds now; batches commit in order, so waiting for it is enough.
		p := n.last.Load()
		if p == nil || p.Wait() == nil {
			return snap
		}
		// A batch failed, and the state was (or is being) rebuilt from
		// the ledger: forget the failed entry and look again.
		n.last.CompareAndSwap(p, nil)
	}
}

// Pin returns the TLS certificate pin clients must use.
func (n *Node) Pin() string { return n.pin }

// Close closes the ledger.
func (n *Node) Close() error {
	err := n.ledger.Close()
	n.closeFiles()
	return err
}

// Serve serves the API over TLS on ln until ctx is done, then shuts down
// gracefully.
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{n.tlsCert}, MinVersion: tls.VersionTLS13},
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	tl := tls.NewListener(ln, srv.TLSConfig)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tl) }()
	url := "https://" + ln.Addr().String()
	if err := n.writeInfo(url); err != nil {
		return err
	}
	n.log.Info("node listening", "url", url, "pin", n.pin)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	n.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// NodeInfo is node.json: what a client needs to reach the node.
type NodeInfo struct {
	URL       string `json:"url"`
	Pin       string `json:"pin"`
	NodeKey   string `json:"node_key"`
	Recipient string `json:"recipient"`
}

func (n *Node) writeInfo(url string) error {
	b, _ := json.MarshalIndent(NodeInfo{URL: url, Pin: n.pin, NodeKey: n.nodeKey, Recipient: n.custody.Recipient()}, "", "  ")
	if err := n.root.WriteFile("node.json.tmp", append(b, '\n'), 0o644); err != nil {
		return err
	}
	return n.root.Rename("node.json.tmp", "node.json")
}
