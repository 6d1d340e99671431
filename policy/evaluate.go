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
	Scenario(id string) (*ScenarioState, bool)
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
	// Revoked holds who revoked the letter and why; empty while in force.
	Revoked string
}

// ScenarioState is an application scenario as the state holds it.
type ScenarioState struct {
	Scenario Scenario
	Status   ScenarioStatus
	Reason   string
}

// Reason codes, stable across releases: tests, audit reports and clients
// match on them.
const (
	CodeInvalidQuery       = "invalid-query"
	CodeUnknownLetter      = "unknown-letter"
	CodeLetterRejected     = "letter-rejected"
	CodeLetterUnsigned     = "letter-signature-missing"
	CodeLetterNotApproved  = "letter-not-approved"
	CodeLetterNotInForce   = "letter-not-in-force"
	CodeLetterRevoked      = "letter-revoked"
	CodeScenarioNotApprove = "scenario-not-approved"
	CodeNotApplicant       = "requester-not-applicant"
	CodeRecipient          = "recipient-not-allowed"
	CodeRecipientAbroad    = "recipient-abroad"
	CodeDatasetUnknown     = "dataset-unknown"
	CodeDatasetScope       = "dataset-out-of-scope"
	CodeDatasetClass       = "dataset-class"
	CodePersonal           = "personal-data-scope"
	CodeRowLevel           = "row-level-output"
	CodeColumnNotInLetter  = "column-not-in-letter"
	CodeColumnUse          = "column-use-not-allowed"
	CodeUniqueGroup        = "group-by-unique"
	CodeEpsilon            = "epsilon-invalid"
	CodeBudget             = "budget-exhausted"
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
	// Mode is ModeHE for a query that runs in multiparty HE mode, empty in
	// sealed mode.
	Mode Mode `json:"mode,omitempty"`
	// Noise says who draws the noise in HE mode.
	Noise NoiseSource `json:"noise,omitempty"`
	// PublicGroups are, when every GROUP BY column has public values in
	// the letter (GroupValues), those values in GROUP BY order: every
	// combination of them is released, and no group is chosen by a noisy
	// count. Nil otherwise.
	PublicGroups [][]string `json:"public_groups,omitempty"`
}

// MaxPublicCombinations is the most groups public group values may make.
const MaxPublicCombinations = 1 << 16

// publicGroups returns the public values of p's GROUP BY columns when the
// letter lists them for every one, and how many combinations they make.
func publicGroups(l *Letter, p *query.Plan) ([][]string, int) {
	if len(p.GroupBy) == 0 {
		return nil, 0
	}
	out := make([][]string, len(p.GroupBy))
	n := 1
	for i, g := range p.GroupBy {
		ld, ok := l.Dataset(g.Table)
		if !ok {
			return nil, 0
		}
		vs, ok := ld.GroupValues(g.Name)
		if !ok {
			return nil, 0
		}
		out[i] = vs
		n = min(n*len(vs), MaxPublicCombinations+1)
	}
	return out, n
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

// Shares returns how many shares of epsilon a plan costs: one per
// aggregate in its select list, and one for the noisy count of units that
// enforces the minimum group size and, with GROUP BY, chooses which groups
// are released. AVG is one aggregate: the DP library splits its share
// between the noisy sum and the noisy count it divides. So
// "SELECT COUNT(*), SUM(x) FROM t" costs three shares of the requested
// epsilon on every dataset it reads.
func Shares(p *query.Plan) int64 {
	n := int64(1)
	for _, o := range p.Outputs {
		if o.Func != "" {
			n++
		}
	}
	return n
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
		deny(CodeUnknownLetter, "Art. 36", "no commitment letter %q is on record", req.Letter)
		return d
	}
	l := &ls.Letter
	if ls.Rejected != "" {
		deny(CodeLetterRejected, "Art. 36", "commitment letter %s was refused when submitted: %s", l.ID, ls.Rejected)
		return d
	}
	checkLetter(s, ls, in, deny)
	recipient := checkRecipient(s, l, in, deny)
	datasets := checkDatasets(s, l, in, recipient, deny)
	checkWorkflows(s, datasets, in.Time, deny)
	checkColumns(s, l, in.Plan, deny)

	per, err := dp.ParseEpsilon(req.Epsilon)
	if err != nil || per <= 0 {
		deny(CodeEpsilon, "Art. 57(7)", "epsilon %q is not a positive decimal with at most 6 places", req.Epsilon)
		return d
	}
	shares := Shares(in.Plan)
	cost := per * dp.Epsilon(shares)
	if cost/dp.Epsilon(shares) != per {
		deny(CodeEpsilon, "Art. 57(7)", "epsilon %s is too large", req.Epsilon)
		return d
	}
	mode := checkMode(s, l, in, datasets, per.Float64(), deny)
	checkShape(s, in.Plan, mode, deny)
	public, combos := publicGroups(l, in.Plan)
	switch {
	case public != nil && mode == ModeHE:
		deny(CodeShape, "Art. 19", "commitment letter %s lists public values of the GROUP BY columns, which only sealed mode releases as such; ask in sealed mode", l.ID)
	case combos > MaxPublicCombinations:
		deny(CodeShape, "Art. 36", "the public values of the GROUP BY columns make more than %d groups; group by fewer columns", MaxPublicCombinations)
	}
	minGroup := l.MinGroupSize
	delta := 1.0
	for _, ds := range datasets {
		minGroup = max(minGroup, minGroupFloor[ds.Level])
		ld, ok := l.Dataset(ds.Name)
		if !ok {
			continue
		}
		delta = min(delta, ld.Delta)
		spent := s.Spent(l.ID, ds.Name)
		if left := ld.Epsilon - spent; cost > left {
			deny(CodeBudget, "Art. 57(7)", "privacy budget of commitment letter %s on dataset %s: %s left of %s, the query costs %s (%d × %s)",
				l.ID, ds.Name, left, ld.Epsilon, cost, shares, per)
		}
		d.Charges = append(d.Charges, Charge{Dataset: ds.Name, Epsilon: cost})
	}
	if len(d.Reasons) > 0 {
		d.Charges = nil
		return d
	}
	sort.Slice(d.Charges, func(i, j int) bool { return d.Charges[i].Dataset < d.Charges[j].Dataset })
	d.Allow = true
	d.Params = &Params{Epsilon: cost, Delta: delta, MinGroupSize: minGroup, MaxGroupsPerUnit: l.MaxGroupsPerUnit, PublicGroups: public}
	if mode == ModeHE {
		d.Params.Mode, d.Params.Noise = ModeHE, l.NoiseFrom()
	}
	return d
}

type denyFunc func(code, article, format string, args ...any)

// checkLetter checks the letter itself: requester, signatures, approval,
// scenario, window, revocation.
func checkLetter(s Snapshot, ls *LetterState, in Input, deny denyFunc) {
	l := &ls.Letter
	if in.Requester != l.Applicant && !slices.Contains(l.Recipients, in.Requester) {
		deny(CodeNotApplicant, "Art. 36", "%s is neither the applicant of commitment letter %s nor a recipient it names", in.Requester, l.ID)
	}
	if !slices.Contains(ls.Signers, l.Applicant) {
		deny(CodeLetterUnsigned, "Art. 36", "commitment letter %s lacks the signature of its applicant %s", l.ID, l.Applicant)
	}
	for _, ld := range l.Datasets {
		if ds, ok := s.Dataset(ld.Name); ok && !slices.Contains(ls.Signers, ds.Holder) {
			deny(CodeLetterUnsigned, "Art. 43", "commitment letter %s lacks the signature of %s, holder of dataset %s", l.ID, ds.Holder, ds.Name)
		}
	}
	if !ls.Approved {
		deny(CodeLetterNotApproved, "Art. 36", "commitment letter %s is not approved by the authority", l.ID)
	}
	switch sc, ok := s.Scenario(l.Scenario.ID); {
	case !ok:
		deny(CodeScenarioNotApprove, "Art. 36", "the application scenario %s of commitment letter %s is not registered", l.Scenario.ID, l.ID)
	case sc.Status != ScenarioApproved:
		deny(CodeScenarioNotApprove, "Art. 36", "the application scenario %s of commitment letter %s was withdrawn: %s", l.Scenario.ID, l.ID, sc.Reason)
	case sc.Scenario.Text != l.Scenario.Text:
		deny(CodeScenarioNotApprove, "Art. 36", "commitment letter %s states scenario %s as %q, the approved text is %q", l.ID, l.Scenario.ID, l.Scenario.Text, sc.Scenario.Text)
	}
	if in.Time.Before(l.NotBefore) || !in.Time.Before(l.NotAfter) {
		deny(CodeLetterNotInForce, "Art. 36", "commitment letter %s is valid from %s to %s, not at %s",
			l.ID, l.NotBefore.UTC().Format(time.RFC3339), l.NotAfter.UTC().Format(time.RFC3339), in.Time.UTC().Format(time.RFC3339))
	}
	if ls.Revoked != "" {
		deny(CodeLetterRevoked, "Art. 36", "commitment letter %s was revoked: %s", l.ID, ls.Revoked)
	}
}

// checkRecipient checks who receives the result and returns the party.
func checkRecipient(s Snapshot, l *Letter, in Input, deny denyFunc) *Party {
	recipient := in.Request.Recipient
	if recipient == "" {
		recipient = in.Requester
	}
	if recipient != l.Applicant && !slices.Contains(l.Recipients, recipient) {
		deny(CodeRecipient, "Art. 36", "%s is not a recipient named in commitment letter %s", recipient, l.ID)
	}
	rp, ok := s.Party(recipient)
	if !ok {
		deny(CodeRecipient, "Art. 42", "recipient %s is not a registered party", recipient)
		return nil
	}
	return rp
}

// checkDatasets checks every dataset the plan reads against the letter and
// its classes, and returns those that exist.
func checkDatasets(s Snapshot, l *Letter, in Input, rp *Party, deny denyFunc) []*Dataset {
	var out []*Dataset
	touched := map[string]bool{}
	for _, u := range in.Plan.Uses() {
		touched[u.Column.String()] = true
	}
	for _, name := range in.Plan.TableNames() {
		ds, ok := s.Dataset(name)
		if !ok {
			deny(CodeDatasetUnknown, "Art. 25", "dataset %s is not in the catalogue", name)
			continue
		}
		out = append(out, ds)
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
		if rp != nil && !rp.Domestic() && (ds.Level == Important || ds.Level == Core) && !exportAssessed(s, l.ID, rp.Name) {
			deny(CodeRecipientAbroad, "Art. 59", "results derived from %s data (dataset %s) may not be delivered to %s in %s: no export security assessment is recorded for commitment letter %s and that recipient",
				ds.Level, name, rp.Name, rp.Jurisdiction, l.ID)
		}
		if p := ds.Personal; p != nil && slices.ContainsFunc(p.Columns, func(c string) bool { return touched[name+"."+c] }) {
			for _, purpose := range l.Purposes {
				if !slices.Contains(p.Scope, purpose) {
					deny(CodePersonal, "Art. 39", "dataset %s holds personal information authorised only for %q; commitment letter %s states the purpose %q",
						name, p.Scope, l.ID, purpose)
				}
			}
		}
	}
	return out
}

// checkColumns checks every column use against the letter's rules, and
// refuses row-level output in every form.
func checkColumns(s Snapshot, l *Letter, p *query.Plan, deny denyFunc) {
	if how, ok := p.RowLevel(); ok {
		deny(CodeRowLevel, "Art. 36", "row-level output is never released (%s); ask for COUNT, SUM or AVG with GROUP BY", how)
	}
	for _, u := range p.Uses() {
		if u.Use == query.UseOutput {
			continue // reported as row-level output above
		}
		if u.Use == query.UseGroupBy {
			if ds, ok := s.Dataset(u.Column.Table); ok && (ds.Unit == u.Column.Name || slices.Contains(ds.Unique, u.Column.Name)) {
				deny(CodeUniqueGroup, "Art. 57(7)", "GROUP BY %s makes one group per row or per unit: row-level output", u.Column)
			}
		}
		ld, ok := l.Dataset(u.Column.Table)
		if !ok {
			continue // reported as out of scope above
		}
		r, ok := ld.Rule(u.Column.Name)
		switch {
		case !ok:
			deny(CodeColumnNotInLetter, "Art. 36", "column %s is not in commitment letter %s", u.Column, l.ID)
		case !r.Allows(u.Use, u.Func):
			deny(CodeColumnUse, "Art. 36", "commitment letter %s allows column %s as %s, not as %s", l.ID, u.Column, r, useText(u))
		}
	}
}

func useText(u query.ColumnUse) string {
	if u.Use == query.UseAggregate {
		return string(u.Func)
	}
	return string(u.Use)
}
