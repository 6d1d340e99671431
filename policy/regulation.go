package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Incident is the body of an incident statement (Art. 57(6)): the
// authority, or the holder of every dataset it names, declares a security
// incident on datasets, or closes it. While it is open every query that
// reads one of them is denied.
type Incident struct {
	ID       string   `json:"id"`
	Datasets []string `json:"datasets"`
	// Status is IncidentOpen to declare, IncidentClosed to close.
	Status IncidentStatus `json:"status"`
	Reason string         `json:"reason"`
}

// IncidentStatus says whether an incident is open or closed.
type IncidentStatus string

// The incident statuses.
const (
	IncidentOpen   IncidentStatus = "open"
	IncidentClosed IncidentStatus = "closed"
)

// Validate checks the incident document's form.
func (i *Incident) Validate() error {
	if !letterIDRE.MatchString(i.ID) {
		return fmt.Errorf("incident: invalid id %q (Art. 57(6))", i.ID)
	}
	if len(i.Datasets) == 0 {
		return fmt.Errorf("incident %s: name the datasets it concerns (Art. 57(6))", i.ID)
	}
	for k, d := range i.Datasets {
		if slices.Contains(i.Datasets[:k], d) {
			return fmt.Errorf("incident %s: dataset %s named twice (Art. 57(6))", i.ID, d)
		}
	}
	if i.Status != IncidentOpen && i.Status != IncidentClosed {
		return fmt.Errorf("incident %s: status %q (want open or closed; Art. 57(6))", i.ID, i.Status)
	}
	if strings.TrimSpace(i.Reason) == "" {
		return fmt.Errorf("incident %s: a reason is required (Art. 57(6))", i.ID)
	}
	return nil
}

// Seal is the body of a seal statement (Art. 31): the holder of a dataset
// or the authority seals it; no query may read it any more. It cannot be
// unsealed.
type Seal struct {
	Dataset string `json:"dataset"`
	Reason  string `json:"reason"`
}

// Validate checks the seal document's form.
func (s *Seal) Validate() error {
	if strings.TrimSpace(s.Reason) == "" {
		return fmt.Errorf("seal of %s: a reason is required (Art. 31)", s.Dataset)
	}
	return nil
}

// Destruction is the body of a destroy statement (Art. 31, Art. 37 on
// exit, Art. 57(4)): the holder of a dataset or the authority has the node
// delete its stored files and erase its key. It seals the dataset too.
type Destruction struct {
	Dataset string `json:"dataset"`
	Reason  string `json:"reason"`
}

// Validate checks the destruction document's form.
func (d *Destruction) Validate() error {
	if strings.TrimSpace(d.Reason) == "" {
		return fmt.Errorf("destruction of %s: a reason is required (Art. 31)", d.Dataset)
	}
	return nil
}

// ExportAssessment is the body of an export-assessment statement, signed
// by the authority (Art. 59): the export security assessment that lets
// results of a letter derived from important or core data go to one
// recipient outside the country.
type ExportAssessment struct {
	Letter    string `json:"letter"`
	Recipient string `json:"recipient"`
	// Reference cites the assessment (its number, the body that made it).
	Reference string `json:"reference"`
}

// Validate checks the assessment document's form.
func (e *ExportAssessment) Validate() error {
	if !letterIDRE.MatchString(e.Letter) || !ValidPartyName(e.Recipient) {
		return fmt.Errorf("export assessment: invalid letter %q or recipient %q (Art. 59)", e.Letter, e.Recipient)
	}
	if strings.TrimSpace(e.Reference) == "" {
		return fmt.Errorf("export assessment for %s: cite the assessment (Art. 59)", e.Letter)
	}
	return nil
}

// RegulationSnapshot is what Evaluate needs of the regulation's workflows.
// A Snapshot that does not implement it has no incidents, seals or export
// assessments.
type RegulationSnapshot interface {
	// OpenIncidents returns the open incidents naming a dataset.
	OpenIncidents(dataset string) []Incident
	// Sealed returns why a dataset was sealed, if it was.
	Sealed(dataset string) (string, bool)
	// ExportAssessed reports whether an export security assessment is on
	// record for results of a letter delivered to a recipient abroad.
	ExportAssessed(letter, recipient string) bool
	// PurposeEnded returns the approved letter naming a dataset whose end
	// of purpose is earliest, if that is at or before t.
	PurposeEnded(dataset string, t time.Time) (letter string, at time.Time, ended bool)
}

// Reason codes of the regulation's workflows.
const (
	CodeIncident = "incident-open"
	CodeSealed   = "dataset-sealed"
)

// checkWorkflows denies a query that reads a sealed dataset (sealed by a
// statement, or by the end of purpose of a letter naming it) or one under
// an open incident.
func checkWorkflows(s Snapshot, datasets []*Dataset, t time.Time, deny denyFunc) {
	rs, ok := s.(RegulationSnapshot)
	if !ok {
		return
	}
	for _, ds := range datasets {
		if why, sealed := rs.Sealed(ds.Name); sealed {
			deny(CodeSealed, "Art. 31", "dataset %s is sealed: %s", ds.Name, why)
		} else if l, at, ended := rs.PurposeEnded(ds.Name, t); ended {
			deny(CodeSealed, "Art. 31", "dataset %s is sealed since the end of purpose of commitment letter %s at %s", ds.Name, l, at.UTC().Format(time.RFC3339))
		}
		for _, inc := range rs.OpenIncidents(ds.Name) {
			deny(CodeIncident, "Art. 57(6)", "dataset %s is under incident %s until it is closed: %s", ds.Name, inc.ID, inc.Reason)
		}
	}
}

// exportAssessed reports whether s records an export assessment for the
// letter and recipient.
func exportAssessed(s Snapshot, letter, recipient string) bool {
	rs, ok := s.(RegulationSnapshot)
	return ok && rs.ExportAssessed(letter, recipient)
}

// Correction is the body of a correction statement (Art. 26(3)): a
// registered party asks the holder of a public dataset to correct it.
type Correction struct {
	ID      string `json:"id"`
	Dataset string `json:"dataset"`
	// Column names the data item concerned, if one.
	Column      string `json:"column,omitempty"`
	Description string `json:"description"`
}

// Validate checks the correction request's form.
func (c *Correction) Validate() error {
	if !letterIDRE.MatchString(c.ID) {
		return fmt.Errorf("correction: invalid id %q (Art. 26(3))", c.ID)
	}
	if strings.TrimSpace(c.Description) == "" {
		return fmt.Errorf("correction %s: say what is wrong (Art. 26(3))", c.ID)
	}
	return nil
}

// CorrectionAnswer is the body of a correction-answer statement, signed by
// the dataset's holder: whether it corrected the data, and its response.
type CorrectionAnswer struct {
	Correction string `json:"correction"`
	Accepted   bool   `json:"accepted"`
	Response   string `json:"response"`
}

// Validate checks the answer's form.
func (a *CorrectionAnswer) Validate() error {
	if strings.TrimSpace(a.Response) == "" {
		return fmt.Errorf("answer to correction %s: a response is required (Art. 26(3))", a.Correction)
	}
	return nil
}

// CorrectionState is a correction request as the state holds it.
type CorrectionState struct {
	Correction Correction        `json:"correction"`
	Filer      string            `json:"filer"`
	Holder     string            `json:"holder"`
	Filed      time.Time         `json:"filed"`
	Answer     *CorrectionAnswer `json:"answer,omitempty"`
	Answered   time.Time         `json:"answered,omitempty"`
}

// ActKind is a kind of data-handling act (Art. 57(4)).
type ActKind string

// The acts a party records.
const (
	ActCopy       ActKind = "copy"
	ActExport     ActKind = "export"
	ActDeidentify ActKind = "de-identification"
	ActDestroy    ActKind = "destruction"
)

// Act is the body of an act statement (Art. 57(4)): the holder of a
// dataset, or the authority, records a copy, export, de-identification or
// destruction of its data done outside the clean room, with what was done
// and why; who is the signer.
type Act struct {
	Kind    ActKind `json:"kind"`
	Dataset string  `json:"dataset"`
	What    string  `json:"what"`
	Why     string  `json:"why"`
	// Recipient is who received an export or a copy, if anyone.
	Recipient string `json:"recipient,omitempty"`
}

// Validate checks the act's form.
func (a *Act) Validate() error {
	switch a.Kind {
	case ActCopy, ActExport, ActDeidentify, ActDestroy:
	default:
		return fmt.Errorf("act: unknown kind %q (want copy, export, de-identification or destruction; Art. 57(4))", a.Kind)
	}
	if strings.TrimSpace(a.What) == "" || strings.TrimSpace(a.Why) == "" {
		return fmt.Errorf("act on %s: say what was done and why (Art. 57(4))", a.Dataset)
	}
	return nil
}
