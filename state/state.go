// Package state holds the clean room's state: parties, datasets, commitment
// letters, budgets and used nonces, in hashicorp/go-memdb, and the ledger
// entry format that changes it.
//
// The state is never stored on its own: the ledger is the database. The node
// rebuilds the state at start-up by applying every ledger entry in order with
// Apply, and an auditor's replay applies the same entries through the same
// code. Apply verifies every statement's signatures against the keys
// registered by the entries before it, so a replay checks signatures too.
//
// State has one writer at a time (the node serialises appends); readers take
// a Snapshot, a consistent read-only view that never blocks the writer.
//
// # Ledger entries, version 1
//
// Each ledger entry is one JSON object (Entry) with "v": 1, a "kind", and
// the node's "time". The kinds:
//
//	genesis    the deployment's origin, the node's checkpoint key, the
//	           authority's key, the node's age recipient and the time
//	           windows of signed statements; entry 0 only
//	statement  an accepted signed statement, verbatim with its signatures:
//	           party (registration), dataset, upload (with the node's
//	           receipt: ciphertext hash and sizes), letter, approval,
//	           scenario (approval or withdrawal), revocation
//	decision   a signed query statement and the policy decision on it:
//	           allow, or deny with every reason (code, sentence, article),
//	           the budget it debits per dataset, and the hash of the
//	           compiled plan; durable before anything runs
//	release    a result delivered: its decision's index, its recipient, its
//	           SHA-256 and its row count (Art. 42(4))
//	rejection  a statement refused before it could act (malformed,
//	           unsigned, a bad signature, a conflict): the hash of what was
//	           received, the kind and signers it claimed, and the reason
//	hekey      the collective public key of HE mode: its hash, the
//	           plaintext modulus and every provider's signed share
//	           commitment (mhe-share statements)
//	heresult   the encrypted result of an allowed HE-mode decision, logged
//	           before any agent is asked to help decrypt it: the hashes of
//	           its ciphertexts, the number of released groups and the
//	           operator's result key; one per decision
//
// Statements of the regulation's workflows stand in statement entries too:
// incident (Art. 57(6): the authority or the holders open or close one;
// queries reading its datasets are denied while it is open), seal (Art. 31:
// the holder or the authority; no more queries or uploads) and
// export-assessment (Art. 59: the authority lets a letter's results of
// important or core data go to one recipient abroad) and destroy (Art. 31,
// 57(4): the holder or the authority; the entry carries the node's
// evidence, the hashes of the files it deleted and of the key it erased;
// it seals the dataset).
//
// Statements of HE mode: agent (a provider registers its agent's address,
// certificate pin and age recipient) and mhe-setup (the authority starts
// the key generation) stand in statement entries; an upload statement
// with an "he" part records an HE-mode upload.
//
// # Replay
//
// Every signed statement carries its time and a nonce (package
// statement). An entry takes a statement only if the statement's time is
// within the genesis's window of the entry's time (a letter: not older
// than the letter window; an upload: judged at the receipt's Received
// time) and no statement on record has its nonce; a query's own signed
// time is held to the same window. The nonces on record are rebuilt from
// the ledger like everything else, so a replay decides as the node did
// (ErrReplay, ErrStale).
//
// Entries hold statements, decisions and hashes: never a row value, a key
// or a result. The only free text in them is what parties signed
// (purposes, reasons, SQL), which an auditor must read to replay the
// decisions, and the node's rejection reasons. A change to this format is
// a new version; DecodeEntry refuses versions it does not know.
package state

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-memdb"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
)

const (
	tParties  = "parties"
	tDatasets = "datasets"
	tLetters  = "letters"
	tBudgets  = "budgets"
	tNonces   = "nonces"
	tScenario = "scenarios"
	tMeta     = "meta"
	tItems    = "items"
)

// itemRec records the legal source of a data item (Art. 23): the first
// dataset registered with it.
type itemRec struct {
	Item    string
	Source  string
	Dataset string
	Holder  string
}

type partyRec struct {
	Name     string
	Party    policy.Party
	verifier note.Verifier
}

type datasetRec struct {
	Name    string
	Dataset policy.Dataset
	// Uploads lists the sealed-mode upload IDs in ledger order, and Rows
	// counts their rows.
	Uploads []string
	Rows    int64
	// HEUploads lists the HE-mode upload IDs in ledger order.
	HEUploads []string
	// Pending holds the landed parts of incomplete multipart uploads, and
	// Complete the sets of those completed (their parts are in Uploads,
	// in part order).
	Pending  []api.PendingPart
	Complete []string
	// Abandoned lists the multipart uploads abandoned by the holder.
	Abandoned []string
	// Queries counts decisions that read the dataset (Art. 26(4)).
	Queries int64
}

type letterRec struct {
	ID    string
	State policy.LetterState
}

type scenarioRec struct {
	ID    string
	State policy.ScenarioState
}

type budgetRec struct {
	ID    string // letter + "\x00" + dataset
	Spent dp.Epsilon
}

type nonceRec struct{ ID string }

type metaRec struct {
	ID        string
	Genesis   Genesis
	authority note.Verifier
	// Entries is how many entries have been applied.
	Entries uint64
	// LastTime is the time of the last entry applied: entry times never go
	// back, so that a node cannot backdate an entry to before an effect
	// that depends on time (an end of purpose, a deadline).
	LastTime time.Time
	// window and letterWindow are the genesis's freshness windows.
	window, letterWindow time.Duration
}

// DefaultWindow is how far a signed statement's time may be from the time
// of the entry that logs it, unless the genesis says otherwise; the node's
// clock and the signer's must agree that well. A query's signed time
// (policy.Request.Time) must be as close to its decision's.
const DefaultWindow = 10 * time.Minute

// DefaultLetterWindow is how long a commitment letter may take from its
// time (when it was drafted) to its entry, unless the genesis says
// otherwise: long enough for the applicant and every provider to sign.
const DefaultLetterWindow = 30 * 24 * time.Hour

// MaxWindow bounds both windows.
const MaxWindow = 366 * 24 * time.Hour

func idIndex(field string) *memdb.IndexSchema {
	return &memdb.IndexSchema{Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: field}}
}

var dbSchema = &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
	tParties:  {Name: tParties, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("Name")}},
	tDatasets: {Name: tDatasets, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("Name")}},
	tLetters:  {Name: tLetters, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}},
	tBudgets:  {Name: tBudgets, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}},
	tNonces:   {Name: tNonces, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}},
	tScenario: {Name: tScenario, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}},
	tMeta:     {Name: tMeta, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}},
	tHE:       {Name: tHE, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}},
	tItems:    {Name: tItems, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("Item")}},
	tReg:      {Name: tReg, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}},
}}

// ErrConflict is matched (errors.Is) by errors about something that
// already exists: a party, dataset, letter, upload or approval on record, or
// a query nonce already used. Sending the same statement again cannot
// succeed.
var ErrConflict = errors.New("conflict")

type conflictError struct{ msg string }

func (e *conflictError) Error() string        { return e.msg }
func (e *conflictError) Is(target error) bool { return target == ErrConflict }

func conflictf(format string, args ...any) error {
	return &conflictError{fmt.Sprintf(format, args...)}
}

// State is the clean room's state. Apply is not safe for concurrent use
// with itself; Snapshot is safe at any time.
type State struct {
	db *memdb.MemDB

	mu     sync.Mutex
	primed map[uint64]*statement.Checked
}

// New returns an empty state.
func New() *State {
	db, err := memdb.NewMemDB(dbSchema)
	if err != nil {
		panic(err) // the schema is a constant
	}
	return &State{db: db, primed: map[uint64]*statement.Checked{}}
}

// Prime hands Apply the statement of entry index already checked, for
// example in parallel ahead of a replay against every key the ledger
// registers (statement.Check): Apply then resolves it against the keys
// registered at that point instead of checking signatures again. The
// outcome is the same either way. Safe for concurrent use with Apply.
func (s *State) Prime(index uint64, c *statement.Checked) {
	s.mu.Lock()
	s.primed[index] = c
	s.mu.Unlock()
}

func (s *State) takePrimed(index uint64) *statement.Checked {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.primed[index]
	delete(s.primed, index)
	return c
}

// ApplyError says why an entry cannot be applied: the ledger holds an entry
// that the rules do not allow, which means it was damaged or forged.
type ApplyError struct {
	Index uint64
	Err   error
}

func (e *ApplyError) Error() string { return fmt.Sprintf("entry %d: %v", e.Index, e.Err) }
func (e *ApplyError) Unwrap() error { return e.Err }

// Apply applies the entry at index. Entries must be applied in ledger
// order, from 0. On error the state is unchanged.
func (s *State) Apply(index uint64, e *Entry) error {
	txn := s.db.Txn(true)
	defer txn.Abort()
	m := meta(txn)
	if index != m.Entries {
		return &ApplyError{index, fmt.Errorf("out of order: %d entries applied", m.Entries)}
	}
	if e.Time.Before(m.LastTime) {
		return &ApplyError{index, fmt.Errorf("entry time %s is before the previous entry's %s", e.Time.UTC().Format(time.RFC3339Nano), m.LastTime.UTC().Format(time.RFC3339Nano))}
	}
	if err := apply(txn, m, e, s.takePrimed(index)); err != nil {
		return &ApplyError{index, err}
	}
	m2 := *m
	m2.Entries++
	m2.LastTime = e.Time
	if m2.Genesis.Origin == "" && e.Genesis != nil {
		m2.Genesis = *e.Genesis
		v, _ := note.NewVerifier(e.Genesis.AuthorityKey)
		m2.authority = v
		m2.window, m2.letterWindow, _ = e.Genesis.Windows()
	}
	must(txn.Insert(tMeta, &m2))
	txn.Commit()
	return nil
}

func must(err error) {
	if err != nil {
		panic(err) // memdb fails only on schema errors
	}
}

func meta(txn *memdb.Txn) *metaRec {
	raw, _ := txn.First(tMeta, "id", "meta")
	if raw == nil {
		return &metaRec{ID: "meta"}
	}
	return raw.(*metaRec)
}

// apply changes the state as e says. pre, if not nil, is e's statement
// already checked.
func apply(txn *memdb.Txn, m *metaRec, e *Entry, pre *statement.Checked) error {
	if e.Kind != KindGenesis && m.Entries == 0 {
		return errors.New("the first entry must be the genesis")
	}
	switch e.Kind {
	case KindGenesis:
		if m.Entries != 0 || e.Genesis == nil {
			return errors.New("genesis entry out of place")
		}
		if _, err := note.NewVerifier(e.Genesis.AuthorityKey); err != nil {
			return fmt.Errorf("genesis: authority key: %v", err)
		}
		if err := keys.CheckVerifierKey(e.Genesis.AuthorityKey); err != nil {
			return fmt.Errorf("genesis: authority key: %w", err)
		}
		if _, err := note.NewVerifier(e.Genesis.NodeKey); err != nil {
			return fmt.Errorf("genesis: node key: %v", err)
		}
		_, _, err := e.Genesis.Windows()
		return err
	case KindStatement:
		return applyStatement(txn, m, e, pre)
	case KindDecision:
		return applyDecision(txn, m, e, pre)
	case KindRelease:
		if e.Release == nil {
			return errors.New("release entry without release")
		}
		return nil
	case KindRejection:
		return applyRejection(txn, e)
	case KindHEKey:
		return applyHEKey(txn, m, e)
	case KindHEResult:
		return applyHEResult(txn, e)
	}
	return fmt.Errorf("unknown entry kind %q", e.Kind)
}

// verifiers returns the registered parties' keys plus the authority's.
func verifiers(txn *memdb.Txn, m *metaRec) note.Verifiers {
	return verifierSet{txn: txn, authority: m.authority}
}

type verifierSet struct {
	txn       *memdb.Txn
	authority note.Verifier
}

func (v verifierSet) Verifier(name string, hash uint32) (note.Verifier, error) {
	if v.authority != nil && name == v.authority.Name() && hash == v.authority.KeyHash() {
		return v.authority, nil
	}
	if raw, _ := v.txn.First(tParties, "id", name); raw != nil {
		if p := raw.(*partyRec); p.verifier.KeyHash() == hash {
			return p.verifier, nil
		}
	}
	return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
}

// resolve checks a statement's signatures against the keys registered now,
// using pre when the statement was checked ahead.
func resolve(txn *memdb.Txn, m *metaRec, raw string, pre *statement.Checked) (*statement.Statement, error) {
	if pre == nil {
		var err error
		if pre, err = statement.Check([]byte(raw), verifiers(txn, m)); err != nil {
			return nil, err
		}
	}
	return pre.Resolve(verifiers(txn, m))
}

func applyStatement(txn *memdb.Txn, m *metaRec, e *Entry, pre *statement.Checked) error {
	st, err := statement.Parse([]byte(e.Statement))
	if err != nil {
		return err
	}
	switch st.Kind {
	case statement.KindParty:
		if err := applyParty(txn, m, st); err != nil {
			return err
		}
		return fresh(txn, m, st, e.Time)
	case statement.KindDataset, statement.KindUpload, statement.KindLetter, statement.KindApproval,
		statement.KindScenario, statement.KindRevocation, statement.KindAgent, statement.KindHESetup,
		statement.KindIncident, statement.KindSeal, statement.KindExport, statement.KindDestroy,
		statement.KindCalendar, statement.KindApply, statement.KindAnswer,
		statement.KindCorrection, statement.KindCorrected, statement.KindAct, statement.KindAbandon:
	default:
		return fmt.Errorf("a %s statement cannot stand in a statement entry", st.Kind)
	}
	st, err = resolve(txn, m, e.Statement, pre)
	if err != nil {
		return err
	}
	at := e.Time
	if st.Kind == statement.KindUpload && e.Upload != nil && !e.Upload.Received.IsZero() {
		// A large upload takes a while: its statement is judged by when
		// it arrived.
		if r := e.Upload.Received; r.After(e.Time) || e.Time.Sub(r) > m.letterWindow {
			return fmt.Errorf("upload receipt: received at %s, logged at %s", r.UTC().Format(time.RFC3339Nano), e.Time.UTC().Format(time.RFC3339Nano))
		}
		at = e.Upload.Received
	}
	if err := fresh(txn, m, st, at); err != nil {
		return err
	}
	switch st.Kind {
	case statement.KindDataset:
		return applyDataset(txn, st)
	case statement.KindUpload:
		return applyUpload(txn, st, e.Upload, m.Entries)
	case statement.KindAbandon:
		return applyAbandon(txn, st)
	case statement.KindLetter:
		return applyLetter(txn, st)
	case statement.KindScenario:
		return applyScenario(txn, m, st)
	case statement.KindRevocation:
		return applyRevocation(txn, m, st)
	case statement.KindAgent:
		return applyAgent(txn, st)
	case statement.KindHESetup:
		return applyHESetup(txn, m, st)
	case statement.KindIncident:
		return applyIncident(txn, m, st)
	case statement.KindSeal:
		return applySeal(txn, m, st)
	case statement.KindExport:
		return applyExport(txn, m, st)
	case statement.KindDestroy:
		return applyDestroy(txn, m, st, e.Destroyed)
	case statement.KindCalendar:
		return applyCalendar(txn, m, st)
	case statement.KindApply:
		return applyApplication(txn, st, e.Time)
	case statement.KindAnswer:
		return applyAnswer(txn, st, e.Time)
	case statement.KindCorrection:
		return applyCorrection(txn, st, e.Time)
	case statement.KindCorrected:
		return applyCorrected(txn, st, e.Time)
	case statement.KindAct:
		return applyAct(txn, m, st, e.Time)
	default:
		return applyApproval(txn, m, st)
	}
}

// checkParty verifies a party statement against the authority's key: it
// must be signed by the authority and by the key it registers.
func checkParty(txn *memdb.Txn, authority note.Verifier, msg []byte) (*policy.Party, note.Verifier, error) {
	st, err := statement.Parse(msg)
	if err != nil {
		return nil, nil, err
	}
	var p policy.Party
	if err := st.Decode(&p); err != nil {
		return nil, nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	pv, err := note.NewVerifier(p.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("party %s: key: %v", p.Name, err)
	}
	if err := keys.CheckVerifierKey(p.Key); err != nil {
		return nil, nil, fmt.Errorf("party %s: key refused: %w", p.Name, err)
	}
	if pv.Name() != p.Name {
		return nil, nil, fmt.Errorf("party %s: key is named %s", p.Name, pv.Name())
	}
	if authority == nil {
		return nil, nil, errors.New("no authority key: the ledger has no genesis")
	}
	list := []note.Verifier{authority}
	if pv.Name() != authority.Name() {
		list = append(list, pv)
	} else if pv.KeyHash() != authority.KeyHash() {
		return nil, nil, fmt.Errorf("party %s: name taken by the authority's key", p.Name)
	}
	st, err = statement.Verify(msg, note.VerifierList(list...))
	if err != nil {
		return nil, nil, err
	}
	if !st.SignedBy(authority.Name()) {
		return nil, nil, fmt.Errorf("party %s: registration is not signed by the authority %s", p.Name, authority.Name())
	}
	if !st.SignedBy(p.Name) {
		return nil, nil, fmt.Errorf("party %s: registration is not signed by the registered key itself", p.Name)
	}
	if raw, _ := txn.First(tParties, "id", p.Name); raw != nil {
		return nil, nil, conflictf("party %s is already registered", p.Name)
	}
	return &p, pv, nil
}

func applyParty(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	p, pv, err := checkParty(txn, m.authority, st.Raw)
	if err != nil {
		return err
	}
	must(txn.Insert(tParties, &partyRec{Name: p.Name, Party: *p, verifier: pv}))
	return nil
}

// checkDataset checks a verified dataset statement against the state.
func checkDataset(txn *memdb.Txn, st *statement.Statement) (*policy.Dataset, error) {
	var d policy.Dataset
	if err := st.Decode(&d); err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if !st.SignedBy(d.Holder) {
		return nil, fmt.Errorf("dataset %s: registration must be signed by its holder %s (Art. 12)", d.Name, d.Holder)
	}
	if raw, _ := txn.First(tParties, "id", d.Holder); raw == nil {
		return nil, fmt.Errorf("dataset %s: holder %s is not registered", d.Name, d.Holder)
	}
	if raw, _ := txn.First(tDatasets, "id", d.Name); raw != nil {
		prev := raw.(*datasetRec).Dataset
		return nil, conflictf("dataset %s is already registered by %s from source %q; each data item has one source (Art. 23)", d.Name, prev.Holder, prev.Source)
	}
	for _, it := range d.Items {
		if raw, _ := txn.First(tItems, "id", it.Item); raw != nil {
			if prev := raw.(*itemRec); prev.Source != d.Source {
				return nil, conflictf("data item %s already has its source: %s (dataset %s of %s); it cannot be registered from %s too (Art. 23)",
					it.Item, prev.Source, prev.Dataset, prev.Holder, d.Source)
			}
		}
	}
	return &d, nil
}

func applyDataset(txn *memdb.Txn, st *statement.Statement) error {
	d, err := checkDataset(txn, st)
	if err != nil {
		return err
	}
	must(txn.Insert(tDatasets, &datasetRec{Name: d.Name, Dataset: *d}))
	for _, it := range d.Items {
		if raw, _ := txn.First(tItems, "id", it.Item); raw == nil {
			must(txn.Insert(tItems, &itemRec{Item: it.Item, Source: d.Source, Dataset: d.Name, Holder: d.Holder}))
		}
	}
	return nil
}

// checkUpload checks a verified upload statement against the state.
func checkUpload(txn *memdb.Txn, st *statement.Statement) (*policy.Upload, error) {
	var u policy.Upload
	if err := st.Decode(&u); err != nil {
		return nil, err
	}
	raw, _ := txn.First(tDatasets, "id", u.Dataset)
	if raw == nil {
		return nil, fmt.Errorf("upload: unknown dataset %q", u.Dataset)
	}
	d := raw.(*datasetRec)
	if regGet(txn, "seal/"+u.Dataset) != nil {
		return nil, fmt.Errorf("dataset %s is sealed: it takes no more uploads (Art. 31)", u.Dataset)
	}
	if !st.SignedBy(d.Dataset.Holder) {
		return nil, fmt.Errorf("upload to %s must be signed by its holder %s (Art. 12)", u.Dataset, d.Dataset.Holder)
	}
	if !validUploadID(u.UploadID) {
		return nil, fmt.Errorf("upload: invalid upload id %q (want 32 lower-case hex digits)", u.UploadID)
	}
	if slices.Contains(d.Uploads, u.UploadID) || slices.Contains(d.HEUploads, u.UploadID) ||
		slices.ContainsFunc(d.Pending, func(p api.PendingPart) bool { return p.UploadID == u.UploadID }) {
		return nil, conflictf("upload %s to %s was already received", u.UploadID, u.Dataset)
	}
	if u.Rows < 0 || len(u.PlaintextSHA256) != 64 {
		return nil, fmt.Errorf("upload %s: bad row count or plaintext hash", u.UploadID)
	}
	switch {
	case u.Format != "" && u.Format != policy.UploadColumnar:
		return nil, fmt.Errorf("upload %s: unknown format %q (want none, for a CSV, or %q)", u.UploadID, u.Format, policy.UploadColumnar)
	case u.Format != "" && u.HE != nil:
		return nil, fmt.Errorf("upload %s: an HE upload is a CSV, not %q", u.UploadID, u.Format)
	}
	if u.Part != nil {
		if err := checkPart(d, &u); err != nil {
			return nil, err
		}
	}
	if u.HE != nil {
		if err := checkHEUpload(txn, &d.Dataset, &u); err != nil {
			return nil, err
		}
	}
	return &u, nil
}

// checkPart checks a part of a multipart upload against the parts of its
// set that have landed.
func checkPart(d *datasetRec, u *policy.Upload) error {
	p := u.Part
	if u.HE != nil {
		return fmt.Errorf("upload %s: an HE-mode upload cannot be part of a multipart upload", u.UploadID)
	}
	if !validUploadID(p.Set) {
		return fmt.Errorf("upload %s: invalid multipart upload id %q (want 32 lower-case hex digits)", u.UploadID, p.Set)
	}
	if p.Index < 0 || p.Index >= policy.MaxUploadParts {
		return fmt.Errorf("upload %s: part index %d is outside [0, %d)", u.UploadID, p.Index, policy.MaxUploadParts)
	}
	if slices.Contains(d.Complete, p.Set) {
		return conflictf("multipart upload %s to %s is complete: it takes no more parts", p.Set, d.Name)
	}
	if slices.Contains(d.Abandoned, p.Set) {
		return conflictf("multipart upload %s to %s was abandoned: it takes no more parts", p.Set, d.Name)
	}
	for _, q := range d.Pending {
		if q.Set != p.Set {
			continue
		}
		switch {
		case q.Index == p.Index:
			return conflictf("part %d of multipart upload %s to %s was already received (upload %s)", p.Index, p.Set, d.Name, q.UploadID)
		case q.Last && p.Index > q.Index:
			return fmt.Errorf("part %d of multipart upload %s comes after its last part, %d", p.Index, p.Set, q.Index)
		case p.Last && q.Index > p.Index:
			return fmt.Errorf("part %d of multipart upload %s cannot be its last: part %d has landed", p.Index, p.Set, q.Index)
		case q.Last && p.Last:
			return fmt.Errorf("multipart upload %s has a last part already, %d", p.Set, q.Index)
		}
	}
	return nil
}

// landPart adds a part to d's pending parts and, if its set is then
// complete, moves the set's parts to d's uploads in part order.
func landPart(d *datasetRec, u *policy.Upload, index uint64) {
	p := u.Part
	d.Pending = append(slices.Clip(d.Pending), api.PendingPart{Set: p.Set, Index: p.Index, Last: p.Last,
		UploadID: u.UploadID, Rows: u.Rows, PlaintextSHA256: u.PlaintextSHA256, Entry: index})
	last, n := -1, 0
	for _, q := range d.Pending {
		if q.Set == p.Set {
			n++
			if q.Last {
				last = q.Index
			}
		}
	}
	if last < 0 || n != last+1 {
		return
	}
	var set, rest []api.PendingPart
	for _, q := range d.Pending {
		if q.Set == p.Set {
			set = append(set, q)
		} else {
			rest = append(rest, q)
		}
	}
	slices.SortFunc(set, func(a, b api.PendingPart) int { return a.Index - b.Index })
	d.Uploads = slices.Clip(d.Uploads)
	for _, q := range set {
		d.Uploads = append(d.Uploads, q.UploadID)
		d.Rows += q.Rows
	}
	d.Pending = rest
	d.Complete = append(slices.Clip(d.Complete), p.Set)
}

// checkAbandon checks a verified upload-abandon statement against the
// state, and returns it with the dataset's record.
func checkAbandon(txn *memdb.Txn, st *statement.Statement) (*policy.Abandon, *datasetRec, error) {
	var a policy.Abandon
	if err := st.Decode(&a); err != nil {
		return nil, nil, err
	}
	raw, _ := txn.First(tDatasets, "id", a.Dataset)
	if raw == nil {
		return nil, nil, fmt.Errorf("upload-abandon: unknown dataset %q", a.Dataset)
	}
	d := raw.(*datasetRec)
	if !st.SignedBy(d.Dataset.Holder) {
		return nil, nil, fmt.Errorf("an upload to %s can be abandoned only by its holder %s", a.Dataset, d.Dataset.Holder)
	}
	if strings.TrimSpace(a.Reason) == "" {
		return nil, nil, errors.New("upload-abandon: a reason is required")
	}
	if !slices.ContainsFunc(d.Pending, func(p api.PendingPart) bool { return p.Set == a.Set }) {
		return nil, nil, fmt.Errorf("dataset %s has no pending parts of a multipart upload %q", a.Dataset, a.Set)
	}
	return &a, d, nil
}

func applyAbandon(txn *memdb.Txn, st *statement.Statement) error {
	a, rec, err := checkAbandon(txn, st)
	if err != nil {
		return err
	}
	d := *rec
	d.Pending = slices.DeleteFunc(slices.Clone(d.Pending), func(p api.PendingPart) bool { return p.Set == a.Set })
	d.Abandoned = append(slices.Clip(d.Abandoned), a.Set)
	must(txn.Insert(tDatasets, &d))
	return nil
}

func validUploadID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func applyUpload(txn *memdb.Txn, st *statement.Statement, r *Receipt, index uint64) error {
	u, err := checkUpload(txn, st)
	if err != nil {
		return err
	}
	if r == nil {
		return errors.New("upload entry without the node's receipt")
	}
	raw, _ := txn.First(tDatasets, "id", u.Dataset)
	d := *raw.(*datasetRec)
	if u.HE != nil {
		d.HEUploads = append(slices.Clip(d.HEUploads), u.UploadID)
		applyHEUpload(txn, &d.Dataset, u)
	} else if u.Part != nil {
		landPart(&d, u, index)
	} else {
		d.Uploads = append(slices.Clip(d.Uploads), u.UploadID)
		d.Rows += u.Rows
	}
	must(txn.Insert(tDatasets, &d))
	return nil
}

// checkLetter checks a verified letter statement against the state.
func checkLetter(txn *memdb.Txn, st *statement.Statement) (*policy.Letter, error) {
	l, err := policy.ParseLetter(st.Body)
	if err != nil {
		return nil, err
	}
	if raw, _ := txn.First(tLetters, "id", l.ID); raw != nil && raw.(*letterRec).State.Rejected == "" {
		return nil, conflictf("letter %s already exists", l.ID)
	}
	if raw, _ := txn.First(tParties, "id", l.Applicant); raw == nil {
		return nil, fmt.Errorf("letter %s: applicant %s is not registered", l.ID, l.Applicant)
	}
	for _, ld := range l.Datasets {
		raw, _ := txn.First(tDatasets, "id", ld.Name)
		if raw == nil {
			return nil, fmt.Errorf("letter %s: dataset %s is not in the catalogue", l.ID, ld.Name)
		}
		d := raw.(*datasetRec).Dataset
		if d.Sharing == policy.ShareConditional && d.Holder != l.Applicant && st.SignedBy(d.Holder) && !approvedApplication(txn, l.Applicant, d.Name) {
			return nil, fmt.Errorf("letter %s: %s countersigned it for dataset %s, which %s has no approved application for (Art. 34)", l.ID, d.Holder, d.Name, l.Applicant)
		}
	}
	for _, r := range l.Recipients {
		if raw, _ := txn.First(tParties, "id", r); raw == nil {
			return nil, fmt.Errorf("letter %s: recipient %s is not registered", l.ID, r)
		}
	}
	return l, nil
}

func applyLetter(txn *memdb.Txn, st *statement.Statement) error {
	l, err := checkLetter(txn, st)
	if err != nil {
		return err
	}
	must(txn.Insert(tLetters, &letterRec{ID: l.ID, State: policy.LetterState{
		Letter: *l, SHA256: st.Hash(), Signers: st.Signers,
	}}))
	return nil
}

// checkApproval checks a verified approval statement against the state.
func checkApproval(txn *memdb.Txn, authority note.Verifier, st *statement.Statement) (*policy.Approval, error) {
	var a policy.Approval
	if err := st.Decode(&a); err != nil {
		return nil, err
	}
	if authority == nil || !st.SignedBy(authority.Name()) {
		return nil, errors.New("approvals must be signed by the authority")
	}
	raw, _ := txn.First(tLetters, "id", a.Letter)
	if raw == nil || raw.(*letterRec).State.Rejected != "" {
		return nil, fmt.Errorf("approval: no letter %q to approve", a.Letter)
	}
	ls := raw.(*letterRec).State
	if ls.SHA256 != a.LetterSHA256 {
		return nil, fmt.Errorf("approval of %s names a different letter (hash %s, the letter on record is %s)", a.Letter, a.LetterSHA256, ls.SHA256)
	}
	if ls.Approved {
		return nil, conflictf("letter %s is already approved", a.Letter)
	}
	return &a, nil
}

func applyApproval(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	a, err := checkApproval(txn, m.authority, st)
	if err != nil {
		return err
	}
	raw, _ := txn.First(tLetters, "id", a.Letter)
	l := *raw.(*letterRec)
	l.State.Approved = true
	must(txn.Insert(tLetters, &l))
	return nil
}

// checkQuery verifies a query statement: signed by a registered party, with
// a nonce never used before by that party.
func checkQuery(txn *memdb.Txn, m *metaRec, msg string, pre *statement.Checked) (*statement.Statement, *policy.Request, error) {
	st, err := resolve(txn, m, msg, pre)
	if err != nil {
		return nil, nil, err
	}
	if st.Kind != statement.KindQuery {
		return nil, nil, fmt.Errorf("%w: a %s statement is not a query", statement.ErrMalformed, st.Kind)
	}
	if len(st.Signers) != 1 {
		return nil, nil, fmt.Errorf("%w: a query has exactly one signer", statement.ErrMalformed)
	}
	var r policy.Request
	if err := st.Decode(&r); err != nil {
		return nil, nil, err
	}
	if len(r.Nonce) < 16 || len(r.Nonce) > 64 {
		return nil, nil, fmt.Errorf("%w: query nonce must be 16 to 64 characters", statement.ErrMalformed)
	}
	if raw, _ := txn.First(tNonces, "id", st.Signers[0]+"\x00"+r.Nonce); raw != nil {
		return nil, nil, conflictf("replayed query: nonce %s was already used by %s", r.Nonce, st.Signers[0])
	}
	return st, &r, nil
}

func applyDecision(txn *memdb.Txn, m *metaRec, e *Entry, pre *statement.Checked) error {
	if e.Decision == nil {
		return errors.New("decision entry without decision")
	}
	st, r, err := checkQuery(txn, m, e.Statement, pre)
	if err != nil {
		return err
	}
	if d := e.Time.Sub(r.Time); d > m.window || d < -m.window {
		return &StaleError{What: "query", Signed: r.Time, At: e.Time, Window: m.window}
	}
	if err := fresh(txn, m, st, e.Time); err != nil {
		return err
	}
	must(txn.Insert(tNonces, &nonceRec{ID: st.Signers[0] + "\x00" + r.Nonce}))
	d := e.Decision
	if !d.Allow || r.DryRun {
		return nil
	}
	if d.Params != nil && d.Params.Mode == policy.ModeHE {
		noteHEDecision(txn, m.Entries, r)
	}
	raw, _ := txn.First(tLetters, "id", r.Letter)
	if raw == nil {
		return fmt.Errorf("an allowed decision names letter %s, which is not on record", r.Letter)
	}
	letter := raw.(*letterRec).State.Letter
	for _, c := range d.Charges {
		ld, ok := letter.Dataset(c.Dataset)
		if !ok {
			return fmt.Errorf("decision charges dataset %s, which letter %s does not cover", c.Dataset, r.Letter)
		}
		budget := ld.Epsilon
		id := r.Letter + "\x00" + c.Dataset
		var spent dp.Epsilon
		if raw, _ := txn.First(tBudgets, "id", id); raw != nil {
			spent = raw.(*budgetRec).Spent
		}
		next := spent + c.Epsilon
		if c.Epsilon <= 0 || next > budget {
			return fmt.Errorf("decision overspends letter %s on %s: %s spent + %s > %s", r.Letter, c.Dataset, spent, c.Epsilon, budget)
		}
		must(txn.Insert(tBudgets, &budgetRec{ID: id, Spent: next}))
		if raw, _ := txn.First(tDatasets, "id", c.Dataset); raw != nil {
			ds := *raw.(*datasetRec)
			ds.Queries++
			must(txn.Insert(tDatasets, &ds))
		}
	}
	return nil
}

func applyRejection(txn *memdb.Txn, e *Entry) error {
	r := e.Rejection
	if r == nil || r.Reason == "" {
		return errors.New("rejection entry without a reason")
	}
	if r.Letter == "" {
		return nil
	}
	if raw, _ := txn.First(tLetters, "id", r.Letter); raw != nil {
		return nil // a letter with this id is on record; the refused copy changes nothing
	}
	must(txn.Insert(tLetters, &letterRec{ID: r.Letter, State: policy.LetterState{
		Letter: policy.Letter{ID: r.Letter}, Rejected: r.Reason,
	}}))
	return nil
}

// checkScenario checks a verified scenario statement against the state.
func checkScenario(txn *memdb.Txn, m *metaRec, st *statement.Statement) (*policy.ScenarioDecision, error) {
	var sd policy.ScenarioDecision
	if err := st.Decode(&sd); err != nil {
		return nil, err
	}
	if m.authority == nil || !st.SignedBy(m.authority.Name()) {
		return nil, errors.New("scenarios are approved and withdrawn by the authority alone (Art. 36)")
	}
	sc := sd.Scenario
	if sc.ID == "" {
		return nil, errors.New("a scenario needs an id")
	}
	raw, _ := txn.First(tScenario, "id", sc.ID)
	switch sd.Status {
	case policy.ScenarioApproved:
		if sc.Text == "" {
			return nil, fmt.Errorf("scenario %s needs its text", sc.ID)
		}
		if raw != nil {
			prev := raw.(*scenarioRec).State
			if prev.Scenario.Text != sc.Text {
				return nil, fmt.Errorf("scenario %s is on record with another text; a changed scenario needs a new id", sc.ID)
			}
			if prev.Status == policy.ScenarioApproved {
				return nil, conflictf("scenario %s is already approved", sc.ID)
			}
		}
	case policy.ScenarioWithdrawn:
		if raw == nil || raw.(*scenarioRec).State.Status != policy.ScenarioApproved {
			return nil, fmt.Errorf("scenario %s is not approved, so it cannot be withdrawn", sc.ID)
		}
		if sd.Reason == "" {
			return nil, fmt.Errorf("withdrawing scenario %s needs a reason", sc.ID)
		}
		if sc.Text == "" {
			sd.Scenario.Text = raw.(*scenarioRec).State.Scenario.Text
		} else if sc.Text != raw.(*scenarioRec).State.Scenario.Text {
			return nil, fmt.Errorf("scenario %s is on record with another text", sc.ID)
		}
	default:
		return nil, fmt.Errorf("scenario status %q: want approved or withdrawn", sd.Status)
	}
	return &sd, nil
}

func applyScenario(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	sd, err := checkScenario(txn, m, st)
	if err != nil {
		return err
	}
	must(txn.Insert(tScenario, &scenarioRec{ID: sd.Scenario.ID, State: policy.ScenarioState{
		Scenario: sd.Scenario, Status: sd.Status, Reason: sd.Reason,
	}}))
	return nil
}

// checkRevocation checks a verified revocation against the state: the
// authority, or the holder of a dataset the letter names, may revoke it.
func checkRevocation(txn *memdb.Txn, m *metaRec, st *statement.Statement) (*policy.Revocation, string, error) {
	var rv policy.Revocation
	if err := st.Decode(&rv); err != nil {
		return nil, "", err
	}
	if rv.Reason == "" {
		return nil, "", fmt.Errorf("revoking letter %s needs a reason", rv.Letter)
	}
	raw, _ := txn.First(tLetters, "id", rv.Letter)
	if raw == nil || raw.(*letterRec).State.Rejected != "" {
		return nil, "", fmt.Errorf("no letter %q to revoke", rv.Letter)
	}
	ls := raw.(*letterRec).State
	if ls.Revoked != "" {
		return nil, "", conflictf("letter %s is already revoked", rv.Letter)
	}
	allowed := []string{}
	if m.authority != nil {
		allowed = append(allowed, m.authority.Name())
	}
	for _, ld := range ls.Letter.Datasets {
		if raw, _ := txn.First(tDatasets, "id", ld.Name); raw != nil {
			allowed = append(allowed, raw.(*datasetRec).Dataset.Holder)
		}
	}
	for _, s := range st.Signers {
		if slices.Contains(allowed, s) {
			return &rv, s, nil
		}
	}
	return nil, "", fmt.Errorf("letter %s may be revoked only by the authority or a holder of its datasets (%s)", rv.Letter, strings.Join(allowed, ", "))
}

func applyRevocation(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	rv, by, err := checkRevocation(txn, m, st)
	if err != nil {
		return err
	}
	raw, _ := txn.First(tLetters, "id", rv.Letter)
	l := *raw.(*letterRec)
	l.State.Revoked = fmt.Sprintf("by %s: %s", by, rv.Reason)
	must(txn.Insert(tLetters, &l))
	return nil
}

// ErrReplay is matched (errors.Is) by the error about a statement whose
// nonce a statement on record used already: it was captured and sent
// again, or its author reused a nonce. It matches ErrConflict too. Sign a
// new statement.
var ErrReplay = errors.New("replayed statement")

// ErrStale is matched (errors.Is) by a *StaleError: a statement whose
// signed time is outside the window around its entry's time. Check the
// signer's clock, and sign it again.
var ErrStale = errors.New("statement outside the time window")

// StaleError reports a signed time too far from the entry's time.
type StaleError struct {
	// What names the time: a statement's header time, or a query's time.
	What   string
	Signed time.Time
	At     time.Time
	Window time.Duration
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s signed at %s, received at %s: outside the window of %v", e.What,
		e.Signed.UTC().Format(time.RFC3339Nano), e.At.UTC().Format(time.RFC3339Nano), e.Window)
}

// Is makes a StaleError match ErrStale.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

type replayError struct {
	nonce, kind string
	entry       uint64
}

func (e *replayError) Error() string {
	return fmt.Sprintf("replayed statement: a %s statement with nonce %s is on record already (entry %d)", e.kind, e.nonce, e.entry)
}

func (e *replayError) Is(target error) bool { return target == ErrReplay || target == ErrConflict }

// stmtNonceRec records the nonce of a statement on record. Its ID starts
// with a NUL byte, which no query nonce key (party name, NUL, nonce) does.
type stmtNonceRec struct {
	ID    string
	Entry uint64
}

// fresh checks a verified statement's header against the entry that logs
// it at time at: its time within the window (for a letter, not older than
// the letter window), and its nonce never used by a statement on record;
// then records the nonce. Everything it reads is in the ledger, so a
// replay decides as the node did.
func fresh(txn *memdb.Txn, m *metaRec, st *statement.Statement, at time.Time) error {
	past := m.window
	if st.Kind == statement.KindLetter {
		past = m.letterWindow
	}
	if d := at.Sub(st.Time); d > past || d < -m.window {
		w := m.window
		if d > 0 {
			w = past
		}
		return &StaleError{What: string(st.Kind) + " statement", Signed: st.Time, At: at, Window: w}
	}
	id := "\x00" + st.Nonce
	if raw, _ := txn.First(tNonces, "id", id); raw != nil {
		return &replayError{nonce: st.Nonce, kind: string(st.Kind), entry: raw.(*stmtNonceRec).Entry}
	}
	must(txn.Insert(tNonces, &stmtNonceRec{ID: id, Entry: m.Entries}))
	return nil
}
