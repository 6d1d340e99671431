package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
)

// Snapshot is the state a decision reads: only verified documents. The
// node's go-memdb state implements it, and so does an auditor's replay.
type Snapshot interface {
	Party(name string) (*Party, bool)
	Dataset(name string) (*Dataset, bool)
	Letter(id string) (*LetterState, bool)
	// Spent returns the budget a letter has spent on a dataset.
	Spent(letter, dataset string) dp.Epsilon
}

// LetterState is a letter as the state holds it. Its signatures were
// verified against the registered keys when it entered the state.
type LetterState struct {
	Letter Letter
	// SHA256 is the hex SHA-256 of the whole signed letter.
	SHA256 string
	// Signers lists the parties whose signatures verified.
	Signers []string
	// Approved is set once the authority approved it.
	Approved bool
	// Rejected holds why the letter was refused when it was submitted
	// (for example a signature that does not verify); such a letter never
	// allows a query.
	Rejected string
}

// Reason codes, stable across releases: tests, audit reports and clients
// match on them.
const (
	CodeInvalidQuery      = "invalid-query"
	CodeUnknownLetter     = "unknown-letter"
	CodeLetterRejected    = "letter-rejected"
	CodeLetterUnsigned    = "letter-signature-missing"
	CodeLetterNotApproved = "letter-not-approved"
	CodeLetterNotInForce  = "letter-not-in-force"
	CodeNotApplicant      = "requester-not-applicant"
	CodeRecipient         = "recipient-not-allowed"
	CodeRecipientAbroad   = "recipient-abroad"
	CodeDatasetUnknown    = "dataset-unknown"
	CodeDatasetScope      = "dataset-out-of-scope"
	CodeDatasetClass      = "dataset-class"
	CodeRowLevel          = "row-level-output"
	CodeColumnNotInLetter = "column-not-in-letter"
	CodeColumnUse         = "column-use-not-allowed"
	CodeUniqueGroup       = "group-by-unit"
	CodeEpsilon           = "epsilon-invalid"
	CodeBudget            = "budget-exhausted"
)

// Reason is one reason a query is denied.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Article cites the regulation, e.g. "Art. 36".
	Article string `json:"article"`
}

func (r Reason) String() string { return fmt.Sprintf("%s (%s)", r.Message, r.Article) }

// Charge is the budget a decision spends on one dataset.
type Charge struct {
	Dataset string     `json:"dataset"`
	Epsilon dp.Epsilon `json:"epsilon"`
}

// Params are the privacy parameters an allowed query runs with.
type Params struct {
	Epsilon          dp.Epsilon `json:"epsilon"`
	Delta            float64    `json:"delta"`
	MinGroupSize     int64      `json:"min_group_size"`
	MaxGroupsPerUnit int64      `json:"max_groups_per_unit"`
}

// Decision is the outcome of Evaluate: allow, or deny with every reason.
type Decision struct {
	Allow   bool     `json:"allow"`
	Reasons []Reason `json:"reasons,omitempty"`
	// Charges lists what an allowed query spends, per dataset.
	Charges []Charge `json:"charges,omitempty"`
	Params  *Params  `json:"params,omitempty"`
}

// String renders a denial as "denied: reason (Art. n); reason (Art. m)".
func (d *Decision) String() string {
	if d.Allow {
		return "allowed"
	}
	parts := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		parts[i] = r.String()
	}
	return "denied: " + strings.Join(parts, "; ")
}

// Has reports whether the decision carries a reason with the code.
func (d *Decision) Has(code string) bool {
	return slices.ContainsFunc(d.Reasons, func(r Reason) bool { return r.Code == code })
}

// Invalid returns the denial of a query that did not compile.
func Invalid(err error) *Decision {
	return &Decision{Reasons: []Reason{{Code: CodeInvalidQuery, Message: err.Error(), Article: "Art. 36"}}}
}

// Level floors on the minimum group size (Art. 56: stricter defaults for
// important and core data).
var minGroupFloor = map[Level]int64{General: 1, Important: 20, Core: 50}

// Input is what a query asks for.
type Input struct {
	// Requester is the party that signed the query.
	Requester string
	Request   Request
	Plan      *query.Plan
	// Time is when the decision is taken; the node's clock, recorded in
	// the ledger so that a replay decides the same.
	Time time.Time
}

// Evaluate decides whether in may run against the state s. It is pure and
// deterministic: it reads no clock, performs no I/O and draws no
// randomness, so an auditor's replay gets the same decision. It reports
// every failing check, not only the first.
func Evaluate(s Snapshot, in Input) *Decision {
	d := &Decision{}
	deny := func(code, article, format string, args ...any) {
		d.Reasons = append(d.Reasons, Reason{Code: code, Message: fmt.Sprintf(format, args...), Article: article})
	}
	req := in.Request
	ls, ok := s.Letter(req.Letter)
	if !ok {
		deny(CodeUnknownLetter, "Art. 36", "no commitment letter %q is in force for this clean room", req.Letter)
		return d
	}
	l := &ls.Letter
	if ls.Rejected != "" {
		deny(CodeLetterRejected, "Art. 36", "commitment letter %s was refused when submitted: %s", l.ID, ls.Rejected)
		return d
	}
	if in.Requester != l.Applicant {
		deny(CodeNotApplicant, "Art. 36", "%s is not the applicant of commitment letter %s", in.Requester, l.ID)
	}
	if !slices.Contains(ls.Signers, l.Applicant) {
		deny(CodeLetterUnsigned, "Art. 36", "commitment letter %s lacks the signature of its applicant %s", l.ID, l.Applicant)
	}
	for _, ld := range l.Datasets {
		ds, ok := s.Dataset(ld.Name)
		if ok && !slices.Contains(ls.Signers, ds.Holder) {
			deny(CodeLetterUnsigned, "Art. 43", "commitment letter %s lacks the signature of %s, holder of dataset %s", l.ID, ds.Holder, ds.Name)
		}
	}
	if !ls.Approved {
		deny(CodeLetterNotApproved, "Art. 36", "the scenario %s of commitment letter %s is not approved by the authority", l.Scenario.ID, l.ID)
	}
	if in.Time.Before(l.NotBefore) || !in.Time.Before(l.NotAfter) {
		deny(CodeLetterNotInForce, "Art. 36", "commitment letter %s is valid from %s to %s, not at %s",
			l.ID, l.NotBefore.UTC().Format(time.RFC3339), l.NotAfter.UTC().Format(time.RFC3339), in.Time.UTC().Format(time.RFC3339))
	}

	recipient := req.Recipient
	if recipient == "" {
		recipient = in.Requester
	}
	if recipient != l.Applicant && !slices.Contains(l.Recipients, recipient) {
		deny(CodeRecipient, "Art. 36", "%s is not a recipient named in commitment letter %s", recipient, l.ID)
	}
	rp, rpOK := s.Party(recipient)
	if !rpOK {
		deny(CodeRecipient, "Art. 42", "recipient %s is not a registered party", recipient)
	}

	p := in.Plan
	var datasets []*Dataset
	for _, name := range p.TableNames() {
		ds, ok := s.Dataset(name)
		if !ok {
			deny(CodeDatasetUnknown, "Art. 25", "dataset %s is not in the catalogue", name)
			continue
		}
		datasets = append(datasets, ds)
		if _, ok := l.Dataset(name); !ok {
			deny(CodeDatasetScope, "Art. 36", "dataset %s is not in commitment letter %s", name, l.ID)
		}
		if ds.Sharing == ShareNone {
			deny(CodeDatasetClass, "Art. 33", "dataset %s is not to be shared (%s)", name, ds.LegalBasis)
		}
		if ds.Opening == OpenNone {
			if req, ok := s.Party(in.Requester); !ok || req.Kind != PublicBody {
				deny(CodeDatasetClass, "Art. 35", "dataset %s is not open outside public bodies (%s)", name, ds.LegalBasis)
			}
		}
		if rpOK && !rp.Domestic() && (ds.Level == Important || ds.Level == Core) {
			deny(CodeRecipientAbroad, "Art. 59", "results derived from %s data (dataset %s) may not be delivered to %s in %s without a security assessment",
				ds.Level, name, recipient, rp.Jurisdiction)
		}
	}

	if how, ok := p.RowLevel(); ok {
		deny(CodeRowLevel, "Art. 36", "row-level output is never released (%s); ask for COUNT, SUM or AVG with GROUP BY", how)
	}
	for _, u := range p.Uses() {
		if u.Use == query.UseOutput {
			continue // reported as row-level output above
		}
		ld, ok := l.Dataset(u.Column.Table)
		if !ok {
			continue // reported as out of scope above
		}
		allowed, listed := ld.Columns[u.Column.Name]
		switch {
		case !listed:
			deny(CodeColumnNotInLetter, "Art. 36", "column %s is not in commitment letter %s", u.Column, l.ID)
		case !slices.Contains(allowed, u.Use):
			deny(CodeColumnUse, "Art. 36", "column %s may be used as %s only, not as %s (commitment letter %s)",
				u.Column, joinUses(allowed), u.Use, l.ID)
		}
		if u.Use == query.UseGroupBy {
			if ds, ok := s.Dataset(u.Column.Table); ok && ds.Unit == u.Column.Name {
				deny(CodeUniqueGroup, "Art. 57(7)", "GROUP BY %s makes one group per %s unit: row-level output", u.Column, ds.Name)
			}
		}
	}

	cost, err := dp.ParseEpsilon(req.Epsilon)
	if err != nil || cost <= 0 {
		deny(CodeEpsilon, "Art. 57(7)", "epsilon %q is not a positive decimal", req.Epsilon)
		return d
	}
	budget, err := l.Budget()
	if err != nil {
		deny(CodeEpsilon, "Art. 36", "commitment letter %s has an invalid budget: %v", l.ID, err)
		return d
	}
	minGroup := l.MinGroupSize
	for _, ds := range datasets {
		minGroup = max(minGroup, minGroupFloor[ds.Level])
		spent := s.Spent(l.ID, ds.Name)
		if left := budget - spent; cost > left {
			deny(CodeBudget, "Art. 57(7)", "privacy budget of commitment letter %s on dataset %s: %s left of %s, query asks %s",
				l.ID, ds.Name, left, budget, cost)
		}
		d.Charges = append(d.Charges, Charge{Dataset: ds.Name, Epsilon: cost})
	}
	if len(d.Reasons) > 0 {
		d.Charges = nil
		return d
	}
	sort.Slice(d.Charges, func(i, j int) bool { return d.Charges[i].Dataset < d.Charges[j].Dataset })
	d.Allow = true
	d.Params = &Params{Epsilon: cost, Delta: l.Delta, MinGroupSize: minGroup, MaxGroupsPerUnit: l.GroupsPerUnit()}
	return d
}

func joinUses(us []Use) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = string(u)
	}
	return strings.Join(s, ", ")
}
