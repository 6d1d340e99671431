package state

import (
	"sort"
	"time"

	"github.com/hashicorp/go-memdb"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
)

// Check reports whether Apply would accept e as the next entry, without
// changing the state. The node checks an entry before it appends it to the
// ledger, so that the ledger never holds an entry that replay refuses.
func (s *State) Check(e *Entry) error {
	txn := s.db.Txn(true)
	defer txn.Abort()
	m := meta(txn)
	if err := apply(txn, m, e, nil); err != nil {
		return err
	}
	return nil
}

// Snapshot is a consistent read-only view of the state. It implements
// policy.Snapshot and note.Verifiers. Safe for concurrent use.
type Snapshot struct {
	txn *memdb.Txn
	m   *metaRec
}

// Snapshot returns a view of the state as it is now.
func (s *State) Snapshot() *Snapshot {
	txn := s.db.Txn(false)
	return &Snapshot{txn: txn, m: meta(txn)}
}

// LastTime returns the time of the last entry applied.
func (v *Snapshot) LastTime() time.Time { return v.m.LastTime }

// Entries returns how many ledger entries the state reflects.
func (v *Snapshot) Entries() uint64 { return v.m.Entries }

// Genesis returns the deployment's genesis, or nil before it.
func (v *Snapshot) Genesis() *Genesis {
	if v.m.Entries == 0 {
		return nil
	}
	g := v.m.Genesis
	return &g
}

// Window returns how far a signed statement's time may be from its entry's
// time (the genesis's window; DefaultWindow before the genesis).
func (v *Snapshot) Window() time.Duration {
	if v.m.window == 0 {
		return DefaultWindow
	}
	return v.m.window
}

// Authority returns the authority's verifier, or nil before the genesis.
func (v *Snapshot) Authority() note.Verifier { return v.m.authority }

// Verifier implements note.Verifiers over the registered parties' keys and
// the authority's key.
func (v *Snapshot) Verifier(name string, hash uint32) (note.Verifier, error) {
	return verifiers(v.txn, v.m).Verifier(name, hash)
}

// Party implements policy.Snapshot.
func (v *Snapshot) Party(name string) (*policy.Party, bool) {
	raw, _ := v.txn.First(tParties, "id", name)
	if raw == nil {
		return nil, false
	}
	p := raw.(*partyRec).Party
	return &p, true
}

// Dataset implements policy.Snapshot.
func (v *Snapshot) Dataset(name string) (*policy.Dataset, bool) {
	raw, _ := v.txn.First(tDatasets, "id", name)
	if raw == nil {
		return nil, false
	}
	d := raw.(*datasetRec).Dataset
	return &d, true
}

// Letter implements policy.Snapshot.
func (v *Snapshot) Letter(id string) (*policy.LetterState, bool) {
	raw, _ := v.txn.First(tLetters, "id", id)
	if raw == nil {
		return nil, false
	}
	l := raw.(*letterRec).State
	return &l, true
}

// Scenario implements policy.Snapshot.
func (v *Snapshot) Scenario(id string) (*policy.ScenarioState, bool) {
	raw, _ := v.txn.First(tScenario, "id", id)
	if raw == nil {
		return nil, false
	}
	sc := raw.(*scenarioRec).State
	return &sc, true
}

// Spent implements policy.Snapshot.
func (v *Snapshot) Spent(letter, dataset string) dp.Epsilon {
	raw, _ := v.txn.First(tBudgets, "id", letter+"\x00"+dataset)
	if raw == nil {
		return 0
	}
	return raw.(*budgetRec).Spent
}

// Datasets lists the catalogue, by name.
func (v *Snapshot) Datasets() []api.DatasetInfo {
	it, _ := v.txn.Get(tDatasets, "id")
	var out []api.DatasetInfo
	for raw := it.Next(); raw != nil; raw = it.Next() {
		d := raw.(*datasetRec)
		out = append(out, api.DatasetInfo{Dataset: d.Dataset, Uploads: d.Uploads, Rows: d.Rows, Queries: d.Queries, Pending: d.Pending})
	}
	return out
}

// PendingUploads returns the IDs of a dataset's landed parts of incomplete
// multipart uploads.
func (v *Snapshot) PendingUploads(name string) []string {
	raw, _ := v.txn.First(tDatasets, "id", name)
	if raw == nil {
		return nil
	}
	var ids []string
	for _, p := range raw.(*datasetRec).Pending {
		ids = append(ids, p.UploadID)
	}
	return ids
}

// DatasetUploads returns the IDs of a dataset's uploads that queries read:
// single uploads in ledger order, and each complete multipart upload's
// parts in part order where its last part landed.
func (v *Snapshot) DatasetUploads(name string) []string {
	raw, _ := v.txn.First(tDatasets, "id", name)
	if raw == nil {
		return nil
	}
	return raw.(*datasetRec).Uploads
}

// DatasetRows returns how many rows the uploads of DatasetUploads hold.
func (v *Snapshot) DatasetRows(name string) int64 {
	raw, _ := v.txn.First(tDatasets, "id", name)
	if raw == nil {
		return 0
	}
	return raw.(*datasetRec).Rows
}

// Parties lists the registered parties, by name.
func (v *Snapshot) Parties() []policy.Party {
	it, _ := v.txn.Get(tParties, "id")
	var out []policy.Party
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*partyRec).Party)
	}
	return out
}

// LetterIDs lists the letters on record, by id.
func (v *Snapshot) LetterIDs() []string {
	it, _ := v.txn.Get(tLetters, "id")
	var out []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*letterRec).ID)
	}
	sort.Strings(out)
	return out
}
