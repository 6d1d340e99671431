package state

import (
	"errors"
	"fmt"
	"slices"

	"github.com/hashicorp/go-memdb"

	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
)

const tReg = "regulation"

// regRec is one record of the regulation's workflows: an incident
// ("incident/<id>"), a seal ("seal/<dataset>", also made by a
// destruction), a destruction ("destroyed/<dataset>") or an export
// assessment ("export/<letter>/<recipient>").
type regRec struct {
	ID        string
	Incident  *policy.Incident
	Seal      *policy.Seal
	SealedBy  string
	Destroyed *Destroyed
	Export    *policy.ExportAssessment
}

// Destroyed is the node's evidence of a destruction, in the entry that
// records the destroy statement: what it deleted, by hash.
type Destroyed struct {
	// Files are the stored files deleted, each with the SHA-256 of its
	// bytes.
	Files []FileHash `json:"files"`
	// KeySHA256 is the SHA-256 of the public recipient of the dataset key
	// erased, or empty if it had none.
	KeySHA256 string `json:"key_sha256,omitempty"`
}

// FileHash names a file and the SHA-256 of its bytes.
type FileHash struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

func applyDestroy(txn *memdb.Txn, m *metaRec, st *statement.Statement, ev *Destroyed) error {
	var d policy.Destruction
	if err := st.Decode(&d); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return err
	}
	ok, err := byAuthorityOrHolders(txn, m, st, []string{d.Dataset})
	if err != nil {
		return fmt.Errorf("destruction: %w (Art. 31)", err)
	}
	if !ok {
		return fmt.Errorf("dataset %s may be destroyed only by its holder or the authority (Art. 31)", d.Dataset)
	}
	if regGet(txn, "destroyed/"+d.Dataset) != nil {
		return conflictf("dataset %s was already destroyed", d.Dataset)
	}
	if ev == nil {
		return fmt.Errorf("destruction of %s without the node's evidence of what it deleted (Art. 57(4))", d.Dataset)
	}
	for _, f := range ev.Files {
		if f.Name == "" || !validHex64(f.SHA256) {
			return fmt.Errorf("destruction of %s: malformed evidence", d.Dataset)
		}
	}
	must(txn.Insert(tReg, &regRec{ID: "destroyed/" + d.Dataset, Destroyed: ev, SealedBy: st.Signers[0]}))
	if regGet(txn, "seal/"+d.Dataset) == nil {
		must(txn.Insert(tReg, &regRec{ID: "seal/" + d.Dataset, Seal: &policy.Seal{Dataset: d.Dataset, Reason: "destroyed: " + d.Reason}, SealedBy: st.Signers[0]}))
	}
	return nil
}

// Destroyed reports whether a dataset was destroyed.
func (v *Snapshot) Destroyed(dataset string) bool {
	return regGet(v.txn, "destroyed/"+dataset) != nil
}

func regGet(txn *memdb.Txn, id string) *regRec {
	raw, _ := txn.First(tReg, "id", id)
	if raw == nil {
		return nil
	}
	return raw.(*regRec)
}

// byAuthorityOrHolders reports whether st is signed by the authority, or
// by the holder of every one of the datasets.
func byAuthorityOrHolders(txn *memdb.Txn, m *metaRec, st *statement.Statement, datasets []string) (bool, error) {
	if m.authority != nil && st.SignedBy(m.authority.Name()) {
		return true, nil
	}
	for _, name := range datasets {
		raw, _ := txn.First(tDatasets, "id", name)
		if raw == nil {
			return false, fmt.Errorf("unknown dataset %q", name)
		}
		if !st.SignedBy(raw.(*datasetRec).Dataset.Holder) {
			return false, nil
		}
	}
	return true, nil
}

func applyIncident(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	var inc policy.Incident
	if err := st.Decode(&inc); err != nil {
		return err
	}
	if err := inc.Validate(); err != nil {
		return err
	}
	id := "incident/" + inc.ID
	prev := regGet(txn, id)
	datasets := inc.Datasets
	if prev != nil {
		datasets = prev.Incident.Datasets
	}
	ok, err := byAuthorityOrHolders(txn, m, st, datasets)
	if err != nil {
		return fmt.Errorf("incident %s: %w (Art. 57(6))", inc.ID, err)
	}
	if !ok {
		return fmt.Errorf("incident %s must be signed by the authority or by the holder of every dataset it names (Art. 57(6))", inc.ID)
	}
	switch {
	case inc.Status == policy.IncidentOpen && prev != nil:
		return conflictf("incident %s was already declared", inc.ID)
	case inc.Status == policy.IncidentClosed && prev == nil:
		return fmt.Errorf("incident %s is not on record, so it cannot be closed (Art. 57(6))", inc.ID)
	case inc.Status == policy.IncidentClosed && prev.Incident.Status == policy.IncidentClosed:
		return conflictf("incident %s is already closed", inc.ID)
	case inc.Status == policy.IncidentClosed && !slices.Equal(inc.Datasets, prev.Incident.Datasets):
		return fmt.Errorf("incident %s concerns %v; closing it must name the same datasets (Art. 57(6))", inc.ID, prev.Incident.Datasets)
	}
	must(txn.Insert(tReg, &regRec{ID: id, Incident: &inc}))
	return nil
}

func applySeal(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	var s policy.Seal
	if err := st.Decode(&s); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	ok, err := byAuthorityOrHolders(txn, m, st, []string{s.Dataset})
	if err != nil {
		return fmt.Errorf("seal: %w (Art. 31)", err)
	}
	if !ok {
		return fmt.Errorf("dataset %s may be sealed only by its holder or the authority (Art. 31)", s.Dataset)
	}
	if regGet(txn, "seal/"+s.Dataset) != nil {
		return conflictf("dataset %s is already sealed", s.Dataset)
	}
	must(txn.Insert(tReg, &regRec{ID: "seal/" + s.Dataset, Seal: &s, SealedBy: st.Signers[0]}))
	return nil
}

func applyExport(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	if m.authority == nil || !st.SignedBy(m.authority.Name()) {
		return errors.New("an export security assessment is recorded by the authority only (Art. 59)")
	}
	var e policy.ExportAssessment
	if err := st.Decode(&e); err != nil {
		return err
	}
	if err := e.Validate(); err != nil {
		return err
	}
	if raw, _ := txn.First(tLetters, "id", e.Letter); raw == nil {
		return fmt.Errorf("export assessment: commitment letter %s is not on record (Art. 59)", e.Letter)
	}
	raw, _ := txn.First(tParties, "id", e.Recipient)
	if raw == nil {
		return fmt.Errorf("export assessment: recipient %s is not a registered party (Art. 59)", e.Recipient)
	}
	if p := raw.(*partyRec).Party; p.Domestic() {
		return fmt.Errorf("export assessment: recipient %s is in %s; only a recipient abroad needs one (Art. 59)", e.Recipient, p.Jurisdiction)
	}
	id := "export/" + e.Letter + "/" + e.Recipient
	if regGet(txn, id) != nil {
		return conflictf("an export assessment for letter %s and %s is already on record", e.Letter, e.Recipient)
	}
	must(txn.Insert(tReg, &regRec{ID: id, Export: &e}))
	return nil
}

// OpenIncidents implements policy.RegulationSnapshot.
func (v *Snapshot) OpenIncidents(dataset string) []policy.Incident {
	it, _ := v.txn.Get(tReg, "id_prefix", "incident/")
	var out []policy.Incident
	for raw := it.Next(); raw != nil; raw = it.Next() {
		inc := raw.(*regRec).Incident
		if inc.Status == policy.IncidentOpen && slices.Contains(inc.Datasets, dataset) {
			out = append(out, *inc)
		}
	}
	return out
}

// Sealed implements policy.RegulationSnapshot.
func (v *Snapshot) Sealed(dataset string) (string, bool) {
	r := regGet(v.txn, "seal/"+dataset)
	if r == nil {
		return "", false
	}
	return fmt.Sprintf("by %s: %s", r.SealedBy, r.Seal.Reason), true
}

// ExportAssessed implements policy.RegulationSnapshot.
func (v *Snapshot) ExportAssessed(letter, recipient string) bool {
	return regGet(v.txn, "export/"+letter+"/"+recipient) != nil
}

// Incidents lists every incident on record, open or closed, by id.
func (v *Snapshot) Incidents() []policy.Incident {
	it, _ := v.txn.Get(tReg, "id_prefix", "incident/")
	var out []policy.Incident
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*regRec).Incident)
	}
	return out
}
