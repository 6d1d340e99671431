package state

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/hashicorp/go-memdb"

	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
)

// The entry kinds of the multiparty HE mode.
const (
	// KindHEKey records the collective public key of HE mode: its hash,
	// the plaintext modulus, and every provider's signed key-generation
	// share commitment (mhe-share statements).
	KindHEKey EntryKind = "hekey"
	// KindHEResult records, before any agent is asked for a key-switch
	// share, the encrypted result of an allowed HE-mode decision: the
	// hashes of its ciphertexts, the number of released groups and the
	// operator's result key. Each decision has at most one.
	KindHEResult EntryKind = "heresult"
)

// Limits of one HE release: how many groups, and how many ciphertexts
// (each about 240 KiB), so that the agents' key-switch round fits their
// request limit.
const (
	MaxHEGroups  = 1 << 16
	MaxHECiphers = 1024
)

// HEKeyEntry is the body of a hekey entry.
type HEKeyEntry struct {
	Setup            string `json:"setup"`
	KeySHA256        string `json:"key_sha256"`
	PlaintextModulus uint64 `json:"plaintext_modulus"`
	// Shares are the providers' mhe-share statements, verbatim, in the
	// order of the setup's providers.
	Shares []string `json:"shares"`
}

// HEResult is the body of a heresult entry.
type HEResult struct {
	// Decision is the ledger index of the allowed decision.
	Decision uint64 `json:"decision"`
	// Groups is how many groups the node released.
	Groups int `json:"groups"`
	// Ciphers are the hex SHA-256 of the result ciphertexts, in layout
	// order.
	Ciphers []string `json:"ciphers"`
	// ResultKey is the hex SHA-256 of the operator's result key; it must
	// be the one the query statement names.
	ResultKey string `json:"result_key"`
}

// heRec is one record of the HE table: an agent ("agent/<party>"), the
// pending setup ("setup"), the collective key ("key"), a dataset's HE data
// ("data/<dataset>") or an allowed HE decision ("decision/<index>").
type heRec struct {
	ID       string
	Agent    *policy.Agent
	Setup    *policy.HESetup
	Key      *policy.HEKey
	Data     *policy.HEData
	Decision *heDecision
}

type heDecision struct {
	Request policy.Request
	Result  bool // a heresult was logged
}

const tHE = "he"

func heGet(txn *memdb.Txn, id string) *heRec {
	raw, _ := txn.First(tHE, "id", id)
	if raw == nil {
		return nil
	}
	return raw.(*heRec)
}

func decisionID(index uint64) string { return "decision/" + strconv.FormatUint(index, 10) }

func applyAgent(txn *memdb.Txn, st *statement.Statement) error {
	var a policy.Agent
	if err := st.Decode(&a); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if raw, _ := txn.First(tParties, "id", a.Party); raw == nil {
		return fmt.Errorf("agent: %s is not a registered party", a.Party)
	}
	if !st.SignedBy(a.Party) {
		return fmt.Errorf("the agent of %s must be registered by %s itself", a.Party, a.Party)
	}
	must(txn.Insert(tHE, &heRec{ID: "agent/" + a.Party, Agent: &a}))
	return nil
}

func applyHESetup(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	if m.authority == nil || !st.SignedBy(m.authority.Name()) {
		return errors.New("an mhe setup must be signed by the authority")
	}
	var h policy.HESetup
	if err := st.Decode(&h); err != nil {
		return err
	}
	if err := h.Validate(); err != nil {
		return err
	}
	if k := heGet(txn, "key"); k != nil {
		return conflictf("HE mode is already set up (setup %s)", k.Key.Setup)
	}
	if s := heGet(txn, "setup"); s != nil && s.Setup.ID == h.ID {
		return conflictf("mhe setup %s was already started", h.ID)
	}
	for _, p := range h.Providers {
		if heGet(txn, "agent/"+p) == nil {
			return fmt.Errorf("mhe setup %s: provider %s has not registered an agent", h.ID, p)
		}
	}
	must(txn.Insert(tHE, &heRec{ID: "setup", Setup: &h}))
	return nil
}

func applyHEKey(txn *memdb.Txn, m *metaRec, e *Entry) error {
	k := e.HEKey
	if k == nil {
		return errors.New("hekey entry without its key")
	}
	s := heGet(txn, "setup")
	if s == nil || s.Setup.ID != k.Setup {
		return fmt.Errorf("hekey entry for setup %s, which is not the pending setup", k.Setup)
	}
	if heGet(txn, "key") != nil {
		return conflictf("HE mode is already set up")
	}
	setup := s.Setup
	if k.PlaintextModulus != setup.PlaintextModulus {
		return fmt.Errorf("hekey entry: plaintext modulus %d, the setup says %d", k.PlaintextModulus, setup.PlaintextModulus)
	}
	if !validHex64(k.KeySHA256) {
		return errors.New("hekey entry: the key hash must be 64 lower-case hex digits")
	}
	if len(k.Shares) != len(setup.Providers) {
		return fmt.Errorf("hekey entry: %d shares for %d providers", len(k.Shares), len(setup.Providers))
	}
	for i, raw := range k.Shares {
		st, err := resolve(txn, m, raw, nil)
		if err != nil {
			return fmt.Errorf("hekey entry: share %d: %w", i, err)
		}
		if st.Kind != statement.KindHEShare {
			return fmt.Errorf("hekey entry: share %d is a %s statement", i, st.Kind)
		}
		var sh policy.HEShare
		if err := st.Decode(&sh); err != nil {
			return fmt.Errorf("hekey entry: share %d: %w", i, err)
		}
		want := setup.Providers[i]
		if sh.Setup != setup.ID || sh.Party != want || !st.SignedBy(want) || !validHex64(sh.ShareSHA256) {
			return fmt.Errorf("hekey entry: share %d is not %s's signed share for setup %s", i, want, setup.ID)
		}
		if (i == 0) != validHex64(sh.FingerprintSHA256) {
			return fmt.Errorf("hekey entry: the first provider, and only it, commits to the fingerprint key it made (share %d)", i)
		}
	}
	must(txn.Insert(tHE, &heRec{ID: "key", Key: &policy.HEKey{
		Setup: setup.ID, Providers: slices.Clone(setup.Providers), PlaintextModulus: k.PlaintextModulus, KeySHA256: k.KeySHA256}}))
	return nil
}

// checkHEUpload checks the HE part of an upload to dataset d, signed by
// its holder.
func checkHEUpload(txn *memdb.Txn, d *policy.Dataset, u *policy.Upload) error {
	if err := u.HE.Validate(d); err != nil {
		return err
	}
	k := heGet(txn, "key")
	if k == nil {
		return errors.New("HE upload before HE mode is set up")
	}
	if u.HE.KeySHA256 != k.Key.KeySHA256 {
		return fmt.Errorf("HE upload to %s is encrypted under key %s, not the collective key %s", d.Name, u.HE.KeySHA256, k.Key.KeySHA256)
	}
	if !slices.Contains(k.Key.Providers, d.Holder) {
		return fmt.Errorf("HE upload to %s: its holder %s has no agent in the collective key, so it could not re-check decryptions", d.Name, d.Holder)
	}
	if prev := heGet(txn, "data/"+d.Name); prev != nil && !maps.Equal(prev.Data.Columns, u.HE.Columns) {
		return fmt.Errorf("HE upload to %s carries its columns otherwise than the uploads before it", d.Name)
	}
	return nil
}

func applyHEUpload(txn *memdb.Txn, d *policy.Dataset, u *policy.Upload) {
	data := policy.HEData{Columns: maps.Clone(u.HE.Columns)}
	if prev := heGet(txn, "data/"+d.Name); prev != nil {
		data.Rows = prev.Data.Rows
	}
	data.Rows += u.Rows
	must(txn.Insert(tHE, &heRec{ID: "data/" + d.Name, Data: &data}))
}

// noteHEDecision records an allowed HE-mode decision at index.
func noteHEDecision(txn *memdb.Txn, index uint64, r *policy.Request) {
	must(txn.Insert(tHE, &heRec{ID: decisionID(index), Decision: &heDecision{Request: *r}}))
}

func applyHEResult(txn *memdb.Txn, e *Entry) error {
	r := e.HEResult
	if r == nil {
		return errors.New("heresult entry without its result")
	}
	rec := heGet(txn, decisionID(r.Decision))
	if rec == nil {
		return fmt.Errorf("heresult for entry %d, which is not an allowed HE-mode decision", r.Decision)
	}
	if rec.Decision.Result {
		return conflictf("decision %d already has its encrypted result", r.Decision)
	}
	if r.ResultKey != rec.Decision.Request.ResultKey {
		return fmt.Errorf("heresult for decision %d names result key %s, the query asked for %s", r.Decision, r.ResultKey, rec.Decision.Request.ResultKey)
	}
	if r.Groups < 0 || r.Groups > MaxHEGroups || len(r.Ciphers) == 0 || len(r.Ciphers) > MaxHECiphers {
		return fmt.Errorf("heresult for decision %d: %d groups and %d ciphertexts, at most %d and %d", r.Decision, r.Groups, len(r.Ciphers), MaxHEGroups, MaxHECiphers)
	}
	seen := make(map[string]bool, len(r.Ciphers))
	for _, c := range r.Ciphers {
		if !validHex64(c) {
			return fmt.Errorf("heresult for decision %d: a ciphertext hash is not 64 lower-case hex digits", r.Decision)
		}
		if seen[c] {
			return fmt.Errorf("heresult for decision %d: ciphertext %s is named twice", r.Decision, c)
		}
		seen[c] = true
	}
	d := *rec.Decision
	d.Result = true
	must(txn.Insert(tHE, &heRec{ID: rec.ID, Decision: &d}))
	return nil
}

func validHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// HEKey implements policy.HESnapshot.
func (v *Snapshot) HEKey() (*policy.HEKey, bool) {
	r := heGet(v.txn, "key")
	if r == nil {
		return nil, false
	}
	k := *r.Key
	return &k, true
}

// HEData implements policy.HESnapshot.
func (v *Snapshot) HEData(dataset string) (*policy.HEData, bool) {
	r := heGet(v.txn, "data/"+dataset)
	if r == nil {
		return nil, false
	}
	d := *r.Data
	return &d, true
}

// HESetup returns the latest mhe setup statement's body, if any.
func (v *Snapshot) HESetup() (*policy.HESetup, bool) {
	r := heGet(v.txn, "setup")
	if r == nil {
		return nil, false
	}
	s := *r.Setup
	return &s, true
}

// Agent returns a provider's registered agent.
func (v *Snapshot) Agent(party string) (*policy.Agent, bool) {
	r := heGet(v.txn, "agent/"+party)
	if r == nil {
		return nil, false
	}
	a := *r.Agent
	return &a, true
}

// HEDecision returns the query of the allowed HE-mode decision at index,
// and whether its encrypted result was logged.
func (v *Snapshot) HEDecision(index uint64) (req *policy.Request, resulted bool, ok bool) {
	r := heGet(v.txn, decisionID(index))
	if r == nil {
		return nil, false, false
	}
	q := r.Decision.Request
	return &q, r.Decision.Result, true
}

// HEUploads returns a dataset's HE-mode upload IDs in ledger order.
func (v *Snapshot) HEUploads(name string) []string {
	raw, _ := v.txn.First(tDatasets, "id", name)
	if raw == nil {
		return nil
	}
	return raw.(*datasetRec).HEUploads
}
