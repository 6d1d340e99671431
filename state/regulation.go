package state

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-memdb"

	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
)

const tReg = "regulation"

// regRec is one record of the regulation's workflows: the calendar of
// working days ("calendar"), an application for conditional sharing
// ("application/<id>"), an incident ("incident/<id>"), a seal ("seal/<dataset>", also made by a
// destruction), a destruction ("destroyed/<dataset>") or an export
// assessment ("export/<letter>/<recipient>").
type regRec struct {
	ID          string
	DeclaredBy  string // of an incident
	Correction  *policy.CorrectionState
	Act         *ActRecord
	Calendar    *policy.Calendar
	Application *policy.ApplicationState
	Incident    *policy.Incident
	Seal        *policy.Seal
	SealedBy    string
	Destroyed   *Destroyed
	Export      *policy.ExportAssessment
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

// authorityName returns the authority's key name, or "" before genesis.
func authorityName(m *metaRec) string {
	if m.authority == nil {
		return ""
	}
	return m.authority.Name()
}

// byAuthorityOrHolders reports whether st is signed by the authority, or
// by the holder of every one of the datasets.
func byAuthorityOrHolders(txn *memdb.Txn, m *metaRec, st *statement.Statement, datasets []string) (bool, error) {
	holders := true
	for _, name := range datasets {
		raw, _ := txn.First(tDatasets, "id", name)
		if raw == nil {
			return false, fmt.Errorf("unknown dataset %q", name)
		}
		holders = holders && st.SignedBy(raw.(*datasetRec).Dataset.Holder)
	}
	return holders || m.authority != nil && st.SignedBy(m.authority.Name()), nil
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
		// What the authority declared, only the authority lifts.
		if prev.DeclaredBy == authorityName(m) && !st.SignedBy(authorityName(m)) {
			return fmt.Errorf("incident %s was declared by the authority, which alone may close it (Art. 57(6))", inc.ID)
		}
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
	by := st.Signers[0]
	if prev != nil {
		by = prev.DeclaredBy
	} else if st.SignedBy(authorityName(m)) {
		by = authorityName(m)
	}
	must(txn.Insert(tReg, &regRec{ID: id, Incident: &inc, DeclaredBy: by}))
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

// calendarOf returns the calendar in force (weekends only before the
// authority loads one).
func calendarOf(txn *memdb.Txn) *policy.Calendar {
	if r := regGet(txn, "calendar"); r != nil {
		return r.Calendar
	}
	return &policy.Calendar{}
}

func applyCalendar(txn *memdb.Txn, m *metaRec, st *statement.Statement) error {
	if m.authority == nil || !st.SignedBy(m.authority.Name()) {
		return errors.New("the calendar of working days is loaded by the authority only (Art. 34)")
	}
	var c policy.Calendar
	if err := st.Decode(&c); err != nil {
		return err
	}
	norm, err := c.Normalized()
	if err != nil {
		return err
	}
	must(txn.Insert(tReg, &regRec{ID: "calendar", Calendar: norm}))
	return nil
}

func applyApplication(txn *memdb.Txn, st *statement.Statement, at time.Time) error {
	var a policy.Application
	if err := st.Decode(&a); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if !st.SignedBy(a.Applicant) {
		return fmt.Errorf("application %s must be signed by its applicant %s (Art. 34)", a.ID, a.Applicant)
	}
	raw, _ := txn.First(tDatasets, "id", a.Dataset)
	if raw == nil {
		return fmt.Errorf("application %s: dataset %s is not in the catalogue (Art. 34)", a.ID, a.Dataset)
	}
	d := raw.(*datasetRec).Dataset
	switch {
	case d.Sharing != policy.ShareConditional:
		return fmt.Errorf("application %s: dataset %s is shared %s; only conditionally shared data is applied for (Art. 33, Art. 34)", a.ID, d.Name, d.Sharing)
	case d.Holder == a.Applicant:
		return fmt.Errorf("application %s: %s holds dataset %s itself (Art. 34)", a.ID, a.Applicant, d.Name)
	}
	if regGet(txn, "application/"+a.ID) != nil {
		return conflictf("application %s was already filed", a.ID)
	}
	s := &policy.ApplicationState{Application: a, Holder: d.Holder, Filed: at,
		Deadline: calendarOf(txn).Deadline(at, policy.AnswerDays)}
	must(txn.Insert(tReg, &regRec{ID: "application/" + a.ID, Application: s}))
	return nil
}

func applyAnswer(txn *memdb.Txn, st *statement.Statement, at time.Time) error {
	var ans policy.Answer
	if err := st.Decode(&ans); err != nil {
		return err
	}
	if err := ans.Validate(); err != nil {
		return err
	}
	r := regGet(txn, "application/"+ans.Application)
	if r == nil {
		return fmt.Errorf("answer: application %s is not on record (Art. 34)", ans.Application)
	}
	prev := r.Application
	if !st.SignedBy(prev.Holder) {
		return fmt.Errorf("application %s is answered by %s, the holder of dataset %s (Art. 34)", ans.Application, prev.Holder, prev.Application.Dataset)
	}
	if prev.Answer != nil {
		return conflictf("application %s was already answered", ans.Application)
	}
	s := *prev
	s.Answer, s.Answered, s.Late = &ans, at, !at.Before(prev.Deadline)
	must(txn.Insert(tReg, &regRec{ID: r.ID, Application: &s}))
	return nil
}

// approvedApplication reports whether an approved application of
// applicant for dataset is on record.
func approvedApplication(txn *memdb.Txn, applicant, dataset string) bool {
	it, _ := txn.Get(tReg, "id_prefix", "application/")
	for raw := it.Next(); raw != nil; raw = it.Next() {
		s := raw.(*regRec).Application
		if s.Application.Applicant == applicant && s.Application.Dataset == dataset && s.Approved() {
			return true
		}
	}
	return false
}

// Applications lists the applications on record, by id.
func (v *Snapshot) Applications() []policy.ApplicationState {
	it, _ := v.txn.Get(tReg, "id_prefix", "application/")
	var out []policy.ApplicationState
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*regRec).Application)
	}
	return out
}

// Calendar returns the calendar of working days in force.
func (v *Snapshot) Calendar() *policy.Calendar { return calendarOf(v.txn) }

func applyCorrection(txn *memdb.Txn, st *statement.Statement, at time.Time) error {
	var c policy.Correction
	if err := st.Decode(&c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if len(st.Signers) != 1 {
		return fmt.Errorf("correction %s: one party files it (Art. 26(3))", c.ID)
	}
	raw, _ := txn.First(tDatasets, "id", c.Dataset)
	if raw == nil {
		return fmt.Errorf("correction %s: dataset %s is not in the catalogue (Art. 26(3))", c.ID, c.Dataset)
	}
	d := raw.(*datasetRec).Dataset
	hr, _ := txn.First(tParties, "id", d.Holder)
	if hr == nil || !hr.(*partyRec).Party.Public() {
		return fmt.Errorf("correction %s: dataset %s is not public data; corrections are asked of public data (Art. 26(3))", c.ID, c.Dataset)
	}
	if c.Column != "" && d.Schema.Index(c.Column) < 0 {
		return fmt.Errorf("correction %s: dataset %s has no column %s (Art. 26(3))", c.ID, c.Dataset, c.Column)
	}
	if regGet(txn, "correction/"+c.ID) != nil {
		return conflictf("correction %s was already filed", c.ID)
	}
	must(txn.Insert(tReg, &regRec{ID: "correction/" + c.ID, Correction: &policy.CorrectionState{
		Correction: c, Filer: st.Signers[0], Holder: d.Holder, Filed: at}}))
	return nil
}

func applyCorrected(txn *memdb.Txn, st *statement.Statement, at time.Time) error {
	var a policy.CorrectionAnswer
	if err := st.Decode(&a); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	r := regGet(txn, "correction/"+a.Correction)
	if r == nil {
		return fmt.Errorf("answer: correction %s is not on record (Art. 26(3))", a.Correction)
	}
	prev := r.Correction
	if !st.SignedBy(prev.Holder) {
		return fmt.Errorf("correction %s is answered by %s, the holder of dataset %s (Art. 26(3))", a.Correction, prev.Holder, prev.Correction.Dataset)
	}
	if prev.Answer != nil {
		return conflictf("correction %s was already answered", a.Correction)
	}
	s := *prev
	s.Answer, s.Answered = &a, at
	must(txn.Insert(tReg, &regRec{ID: r.ID, Correction: &s}))
	return nil
}

func applyAct(txn *memdb.Txn, m *metaRec, st *statement.Statement, at time.Time) error {
	var a policy.Act
	if err := st.Decode(&a); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	ok, err := byAuthorityOrHolders(txn, m, st, []string{a.Dataset})
	if err != nil {
		return fmt.Errorf("act: %w (Art. 57(4))", err)
	}
	if !ok {
		return fmt.Errorf("an act on dataset %s is recorded by its holder or the authority (Art. 57(4))", a.Dataset)
	}
	n := 0
	it, _ := txn.Get(tReg, "id_prefix", "act/")
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	must(txn.Insert(tReg, &regRec{ID: fmt.Sprintf("act/%08d", n), Act: &ActRecord{Act: a, By: st.Signers[0], At: at}}))
	return nil
}

// ActRecord is an act as the state holds it: who recorded it and when.
type ActRecord struct {
	policy.Act
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Corrections lists the correction requests, by id.
func (v *Snapshot) Corrections() []policy.CorrectionState {
	it, _ := v.txn.Get(tReg, "id_prefix", "correction/")
	var out []policy.CorrectionState
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*regRec).Correction)
	}
	return out
}

// Acts lists the recorded acts in ledger order.
func (v *Snapshot) Acts() []ActRecord {
	it, _ := v.txn.Get(tReg, "id_prefix", "act/")
	var out []ActRecord
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*regRec).Act)
	}
	return out
}

// PurposeEnded implements policy.RegulationSnapshot.
func (v *Snapshot) PurposeEnded(dataset string, t time.Time) (string, time.Time, bool) {
	it, _ := v.txn.Get(tLetters, "id")
	var letter string
	var at time.Time
	for raw := it.Next(); raw != nil; raw = it.Next() {
		ls := raw.(*letterRec).State
		l := &ls.Letter
		if !ls.Approved || ls.Rejected != "" || l.EndOfPurpose.IsZero() || l.EndOfPurpose.After(t) {
			continue
		}
		if _, ok := l.Dataset(dataset); ok && (letter == "" || l.EndOfPurpose.Before(at)) {
			letter, at = l.ID, l.EndOfPurpose
		}
	}
	return letter, at, letter != ""
}
