package audit

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/state"
)

// Art. 26(4): usage statistics fed back to the source department. The
// report is computed from the ledger's entries alone, through the same
// replay as Verify (Replayer), so an auditor with a fetched copy and the
// node's operator with the live node get the same numbers.

// UsageFilter selects what a usage report counts.
type UsageFilter struct {
	// Dataset is the dataset reported on; empty for every dataset in the
	// catalogue.
	Dataset string
	// Since and Until bound the window, [Since, Until), on each entry's
	// recorded time; a zero bound leaves that side open.
	Since time.Time
	Until time.Time
}

// Contains reports whether t is inside the window.
func (f UsageFilter) Contains(t time.Time) bool {
	return (f.Since.IsZero() || !t.Before(f.Since)) && f.beforeEnd(t)
}

func (f UsageFilter) beforeEnd(t time.Time) bool { return f.Until.IsZero() || t.Before(f.Until) }

// Validate checks that the window is not empty.
func (f UsageFilter) Validate() error {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return fmt.Errorf("usage window: until %s is not after since %s",
			f.Until.UTC().Format(time.RFC3339), f.Since.UTC().Format(time.RFC3339))
	}
	return nil
}

// UsageReport is the per-dataset usage report of Art. 26(4): who queried
// each dataset, under which scenario, how many queries were allowed, run
// dry or denied (and why), the privacy budget spent and left, and the
// results released and to whom.
type UsageReport struct {
	// Origin is the ledger's origin, from its genesis.
	Origin string `json:"origin"`
	// Entries is how many ledger entries were read (all of them, whatever
	// the window: the state at the window's end depends on every entry
	// before it).
	Entries uint64 `json:"entries"`
	// RootHash is the root of the verified checkpoint the entries were
	// read under, when they were (UsageFromDir).
	RootHash []byte    `json:"root_hash,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	Until    time.Time `json:"until,omitzero"`
	// Datasets lists every dataset reported on, by name, including those
	// nobody used in the window.
	Datasets []DatasetUsage `json:"datasets"`
	// Unattributed counts the decisions in the window whose query read no
	// dataset of the catalogue (it did not compile): they are in no
	// dataset's numbers.
	Unattributed int `json:"unattributed"`
}

// DatasetUsage is one dataset's usage.
type DatasetUsage struct {
	Dataset string `json:"dataset"`
	Holder  string `json:"holder"`
	// Source is the source department the holder declared (Art. 23).
	Source string `json:"source"`
	// Total sums the counts of every applicant.
	Total UsageCounts `json:"total"`
	// Applicants lists the usage per applicant and scenario, sorted by
	// applicant then scenario.
	Applicants []ApplicantUsage `json:"applicants"`
}

// ApplicantUsage is the usage of one dataset by one applicant under one
// scenario: the applicant and scenario of the commitment letter each query
// named. A query that named no letter on record (unknown, or refused when
// submitted) is counted under the party that signed it, with an empty
// scenario.
type ApplicantUsage struct {
	Applicant string `json:"applicant"`
	Scenario  string `json:"scenario"`
	// Letters lists the letters the counted entries named, by id.
	Letters []LetterUsage `json:"letters"`
	UsageCounts
}

// LetterUsage is one letter's budget on the dataset.
type LetterUsage struct {
	Letter string `json:"letter"`
	// Covers says whether the letter covers the dataset at all; a letter
	// that does not has no budget on it (its queries were denied).
	Covers bool `json:"covers"`
	// Budget is the letter's privacy budget on the dataset.
	Budget dp.Epsilon `json:"budget"`
	// Spent is what the letter's allowed queries in the window spent on
	// the dataset.
	Spent dp.Epsilon `json:"spent"`
	// Left is Budget less everything spent on the dataset before the
	// window's end (including before its start): what the letter had left
	// when the window closed.
	Left dp.Epsilon `json:"left"`
}

// UsageCounts are the numbers of one applicant, scenario and dataset, or a
// dataset's total. A decision counts on every dataset its query read: the
// datasets of its charges when allowed, those of its compiled plan when
// denied.
type UsageCounts struct {
	// Allowed counts allowed decisions that were not dry runs.
	Allowed int `json:"allowed"`
	// DryRuns counts allowed dry runs (decided and costed, not run).
	DryRuns int `json:"dry_runs"`
	// Denied counts denied decisions, dry runs included.
	Denied int `json:"denied"`
	// DeniedDryRuns counts the denied decisions that were dry runs.
	DeniedDryRuns int `json:"denied_dry_runs"`
	// DeniedBy counts denied decisions by reason code; a decision counts
	// once under each code it carries, so the counts may sum to more than
	// Denied.
	DeniedBy map[string]int `json:"denied_by"`
	// Spent sums the charges of the allowed queries on the dataset.
	Spent dp.Epsilon `json:"spent"`
	// Releases counts results released from queries that read the
	// dataset, by the time of the release entry.
	Releases int `json:"releases"`
	// HEReleases counts the releases that were of multiparty HE mode
	// (ciphertexts under the operator's key), a part of Releases.
	HEReleases int `json:"he_releases"`
	// ResultRows sums the released results' row (group) counts.
	ResultRows int64 `json:"result_rows"`
	// Recipients counts releases by recipient.
	Recipients map[string]int `json:"recipients"`
}

func (c *UsageCounts) add(o *UsageCounts) {
	c.Allowed += o.Allowed
	c.DryRuns += o.DryRuns
	c.Denied += o.Denied
	c.DeniedDryRuns += o.DeniedDryRuns
	for k, n := range o.DeniedBy {
		c.DeniedBy[k] += n
	}
	c.Spent += o.Spent
	c.Releases += o.Releases
	c.HEReleases += o.HEReleases
	c.ResultRows += o.ResultRows
	for k, n := range o.Recipients {
		c.Recipients[k] += n
	}
}

// DenialCodes returns the codes of DeniedBy, sorted.
func (c *UsageCounts) DenialCodes() []string { return sortedKeys(c.DeniedBy) }

// RecipientNames returns the names of Recipients, sorted.
func (c *UsageCounts) RecipientNames() []string { return sortedKeys(c.Recipients) }

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Left returns what the applicant's letters that cover the dataset had
// left at the window's end, summed, and false if none covers it.
func (a *ApplicantUsage) Left() (dp.Epsilon, bool) {
	var sum dp.Epsilon
	covered := false
	for _, l := range a.Letters {
		if l.Covers {
			sum += l.Left
			covered = true
		}
	}
	return sum, covered
}

// Dataset returns the usage of the named dataset.
func (r *UsageReport) Dataset(name string) (*DatasetUsage, bool) {
	for i := range r.Datasets {
		if r.Datasets[i].Dataset == name {
			return &r.Datasets[i], true
		}
	}
	return nil, false
}

// Applicant returns the usage by an applicant under a scenario.
func (d *DatasetUsage) Applicant(applicant, scenario string) (*ApplicantUsage, bool) {
	for i := range d.Applicants {
		if a := &d.Applicants[i]; a.Applicant == applicant && a.Scenario == scenario {
			return a, true
		}
	}
	return nil, false
}

// UsageCounter computes a usage report entry by entry. It replays the
// entries with a Replayer, so every signature and decision is checked as
// Verify checks them, and reads what it counts from each entry once the
// replay accepted it. Not safe for concurrent use.
type UsageCounter struct {
	rp      *Replayer
	f       UsageFilter
	rows    map[usageKey]*ApplicantUsage
	budgets map[letterDataset]*letterTally
	// decisions maps each allowed decision that read a reported dataset
	// to its shape, for its releases.
	decisions map[uint64]uint32
	shapes    []decisionShape
	shapeOf   map[string]uint32
	unattrib  int
}

type usageKey struct{ dataset, applicant, scenario string }

type letterDataset struct{ letter, dataset string }

type letterTally struct {
	spent      dp.Epsilon // in the window
	spentToEnd dp.Epsilon // before the window's end
}

// decisionShape is what a release needs of its decision.
type decisionShape struct {
	applicant, scenario, letter string
	datasets                    []string
	he                          bool
}

// NewUsageCounter returns a UsageCounter at index 0 of the log whose
// checkpoints nodeKey verifies (the genesis must name that key).
func NewUsageCounter(nodeKey string, f UsageFilter) *UsageCounter {
	return &UsageCounter{rp: NewReplayer(nodeKey), f: f, rows: map[usageKey]*ApplicantUsage{},
		budgets: map[letterDataset]*letterTally{}, decisions: map[uint64]uint32{}, shapeOf: map[string]uint32{}}
}

// Next returns the index of the next entry to apply.
func (u *UsageCounter) Next() uint64 { return u.rp.Next() }

// Apply replays entry i, which must be Next(), and counts it. An entry the
// rules refuse gives an *EntryError naming it, and nothing is counted.
func (u *UsageCounter) Apply(i uint64, entry []byte) error {
	if err := u.rp.Apply(i, entry); err != nil {
		return err
	}
	e, err := state.DecodeEntry(entry)
	if err != nil {
		return &EntryError{Index: i, Reason: err.Error()} // not reached: the replay decoded it
	}
	switch e.Kind {
	case state.KindDecision:
		if err := u.decision(i, e); err != nil {
			return &EntryError{Index: i, Reason: err.Error()}
		}
	case state.KindRelease:
		u.release(e)
	}
	return nil
}

// reported reports whether a dataset is reported on.
func (u *UsageCounter) reported(dataset string) bool {
	return u.f.Dataset == "" || u.f.Dataset == dataset
}

func (u *UsageCounter) row(k usageKey) *ApplicantUsage {
	a := u.rows[k]
	if a == nil {
		a = &ApplicantUsage{Applicant: k.applicant, Scenario: k.scenario,
			UsageCounts: UsageCounts{DeniedBy: map[string]int{}, Recipients: map[string]int{}}}
		u.rows[k] = a
	}
	return a
}

func (u *UsageCounter) tally(letter, dataset string) *letterTally {
	k := letterDataset{letter, dataset}
	t := u.budgets[k]
	if t == nil {
		t = &letterTally{}
		u.budgets[k] = t
	}
	return t
}

// noteLetter lists the letter in a row once.
func noteLetter(a *ApplicantUsage, letter string) {
	if !slices.ContainsFunc(a.Letters, func(l LetterUsage) bool { return l.Letter == letter }) {
		a.Letters = append(a.Letters, LetterUsage{Letter: letter})
	}
}

// decision counts a decision entry the replay accepted.
func (u *UsageCounter) decision(i uint64, e *state.Entry) error {
	st, err := statement.Parse([]byte(e.Statement))
	if err != nil {
		return err
	}
	var req policy.Request
	if err := st.Decode(&req); err != nil {
		return err
	}
	d := &e.Decision.Decision
	snap := u.rp.State().Snapshot()

	// Which datasets it read.
	var read []string
	if d.Allow {
		for _, c := range d.Charges {
			read = append(read, c.Dataset)
		}
	} else {
		// The replay compiled the query against the catalogue as it stood
		// and cached the plan by its SQL (no dataset registered since).
		pl, ok := u.rp.r.plans[req.SQL]
		if !ok {
			return errors.New("internal: the replay left no plan for this decision")
		}
		if pl.err == nil {
			for _, name := range pl.plan.TableNames() {
				if _, ok := snap.Dataset(name); ok && !slices.Contains(read, name) {
					read = append(read, name)
				}
			}
		}
	}
	in := u.f.Contains(e.Time)
	if len(read) == 0 {
		if in {
			u.unattrib++
		}
		return nil
	}

	// Whose letter, which scenario.
	var applicant, scenario string
	ls, ok := snap.Letter(req.Letter)
	if ok && ls.Rejected == "" {
		applicant, scenario = ls.Letter.Applicant, ls.Letter.Scenario.ID
	} else {
		// No letter to name the applicant: the signer stands in. The
		// replay verified the signature; check it again to learn the name.
		vs, err := statement.Verify([]byte(e.Statement), snap)
		if err != nil || len(vs.Signers) != 1 {
			return fmt.Errorf("internal: the query's signer: %v", err)
		}
		applicant = vs.Signers[0]
	}

	spends := d.Allow && !req.DryRun
	var mine []string
	for _, ds := range read {
		if !u.reported(ds) {
			continue
		}
		mine = append(mine, ds)
		if spends && u.f.beforeEnd(e.Time) {
			for _, c := range d.Charges {
				if c.Dataset == ds {
					t := u.tally(req.Letter, ds)
					t.spentToEnd += c.Epsilon
					if in {
						t.spent += c.Epsilon
					}
				}
			}
		}
		if !in {
			continue
		}
		a := u.row(usageKey{ds, applicant, scenario})
		noteLetter(a, req.Letter)
		switch {
		case spends:
			a.Allowed++
			for _, c := range d.Charges {
				if c.Dataset == ds {
					a.Spent += c.Epsilon
				}
			}
		case d.Allow:
			a.DryRuns++
		default:
			a.Denied++
			if req.DryRun {
				a.DeniedDryRuns++
			}
			var seen []string
			for _, r := range d.Reasons {
				if !slices.Contains(seen, r.Code) {
					seen = append(seen, r.Code)
					a.DeniedBy[r.Code]++
				}
			}
		}
	}
	if spends && len(mine) > 0 {
		sh := decisionShape{applicant: applicant, scenario: scenario, letter: req.Letter, datasets: mine,
			he: d.Params != nil && d.Params.Mode == policy.ModeHE}
		key := fmt.Sprintf("%q %q %q %t %q", sh.applicant, sh.scenario, sh.letter, sh.he, sh.datasets)
		n, ok := u.shapeOf[key]
		if !ok {
			n = uint32(len(u.shapes))
			u.shapes = append(u.shapes, sh)
			u.shapeOf[key] = n
		}
		u.decisions[i] = n
	}
	return nil
}

// release counts a release entry the replay accepted.
func (u *UsageCounter) release(e *state.Entry) {
	if !u.f.Contains(e.Time) {
		return
	}
	n, ok := u.decisions[e.Release.Decision]
	if !ok {
		return // its decision read no reported dataset
	}
	sh := &u.shapes[n]
	for _, ds := range sh.datasets {
		a := u.row(usageKey{ds, sh.applicant, sh.scenario})
		noteLetter(a, sh.letter)
		a.Releases++
		if sh.he {
			a.HEReleases++
		}
		a.ResultRows += int64(e.Release.Rows)
		a.Recipients[e.Release.Recipient]++
	}
}

// Report returns the report of the entries applied so far. It fails if
// the filter's dataset is not in the catalogue, or nothing was applied.
func (u *UsageCounter) Report() (*UsageReport, error) {
	snap := u.rp.State().Snapshot()
	if snap.Entries() == 0 {
		return nil, errors.New("the ledger is empty: not even a genesis entry")
	}
	rep := &UsageReport{Origin: snap.Genesis().Origin, Entries: snap.Entries(), Since: u.f.Since, Until: u.f.Until, Unattributed: u.unattrib}
	for _, info := range snap.Datasets() {
		if !u.reported(info.Name) {
			continue
		}
		du := DatasetUsage{Dataset: info.Name, Holder: info.Holder, Source: info.Source,
			Total: UsageCounts{DeniedBy: map[string]int{}, Recipients: map[string]int{}}, Applicants: []ApplicantUsage{}}
		for k, a := range u.rows {
			if k.dataset != info.Name {
				continue
			}
			row := *a
			row.Letters = slices.Clone(a.Letters)
			row.DeniedBy, row.Recipients = maps.Clone(a.DeniedBy), maps.Clone(a.Recipients)
			for j := range row.Letters {
				lu := &row.Letters[j]
				t := u.budgets[letterDataset{lu.Letter, info.Name}]
				if t == nil {
					t = &letterTally{}
				}
				lu.Spent = t.spent
				if ls, ok := snap.Letter(lu.Letter); ok {
					if ld, ok := ls.Letter.Dataset(info.Name); ok {
						lu.Covers, lu.Budget, lu.Left = true, ld.Epsilon, ld.Epsilon-t.spentToEnd
					}
				}
			}
			slices.SortFunc(row.Letters, func(x, y LetterUsage) int { return strings.Compare(x.Letter, y.Letter) })
			du.Total.add(&row.UsageCounts)
			du.Applicants = append(du.Applicants, row)
		}
		slices.SortFunc(du.Applicants, func(x, y ApplicantUsage) int {
			if c := strings.Compare(x.Applicant, y.Applicant); c != 0 {
				return c
			}
			return strings.Compare(x.Scenario, y.Scenario)
		})
		rep.Datasets = append(rep.Datasets, du)
	}
	if u.f.Dataset != "" && len(rep.Datasets) == 0 {
		return nil, fmt.Errorf("dataset %q is not in the ledger's catalogue", u.f.Dataset)
	}
	slices.SortFunc(rep.Datasets, func(x, y DatasetUsage) int { return strings.Compare(x.Dataset, y.Dataset) })
	return rep, nil
}

// Usage computes the usage report of a ledger from its entries, in order
// from index 0, such as client.EntriesTo yields them from a node. It
// replays them as Verify does, against nodeKey, but checks nothing about
// their integrity as a log: verify them against a signed checkpoint first
// (ledger.Import, then UsageFromDir) unless they come from a copy already
// verified.
func Usage(entries iter.Seq2[[]byte, error], nodeKey string, f UsageFilter) (*UsageReport, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if _, err := note.NewVerifier(nodeKey); err != nil {
		return nil, fmt.Errorf("node key: %v", err)
	}
	u := NewUsageCounter(nodeKey, f)
	for e, err := range entries {
		if err != nil {
			return nil, err
		}
		if err := u.Apply(u.Next(), e); err != nil {
			return nil, err
		}
	}
	return u.Report()
}

// UsageFromDir computes the usage report of the ledger in dir, which must
// verify against the node's key as in Verify: the tree, the signed
// checkpoint, every signature and every decision. The report carries the
// checkpoint's root.
func UsageFromDir(dir, nodeKey string, f UsageFilter) (*UsageReport, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(nodeKey)
	if err != nil {
		return nil, fmt.Errorf("node key: %v", err)
	}
	u := NewUsageCounter(nodeKey, f)
	cp, err := ledger.Verify(dir, v, u.Apply)
	if err != nil {
		var ee *EntryError
		var le *ledger.EntryError
		switch {
		case errors.As(err, &ee):
			return nil, ee
		case errors.As(err, &le):
			return nil, &EntryError{Index: le.Index, Reason: le.Reason}
		}
		return nil, err
	}
	rep, err := u.Report()
	if err != nil {
		return nil, err
	}
	rep.RootHash = cp.Root
	return rep, nil
}
