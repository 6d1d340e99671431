package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/state"
)

// datasets are the letter's datasets, in order.
var datasets = []string{"electricity", "loans", "registry"}

// logModel is what the test knows of the node's ledger: everything read
// of it so far, checked entry by entry, and what the clients were told.
// Entries of earlier trials are not read again: the compact range of
// their leaf hashes makes every later root depend on them, so the
// checkpoint after a restart vouches that they are unchanged.
type logModel struct {
	nodeKey  string
	verifier note.Verifier
	origin   string

	size uint64         // entries read and checked, [0, size)
	rng  *compact.Range // over the leaf hashes of [0, size)

	decisionOf map[string]uint64 // statement hash → index of its decision
	nonces     map[string]uint64 // query nonce → index of its decision
	runnable   map[uint64]bool   // allowed, not dry-run decisions
	released   map[uint64]uint64 // decision index → its release's index
	spent      map[string]dp.Epsilon
	uploads    map[string][]string // dataset → accepted upload ids, in log order

	// trialStart is the size when the current trial began; recent holds
	// the entries read since, which every acknowledgement of the trial
	// must point into.
	trialStart uint64
	recent     map[uint64]*state.Entry

	// wantRoots holds checkpoints the node served during the trial: when
	// the log read reaches one's size, its root must be the checkpoint's.
	wantRoots map[uint64][]byte

	pending  []*ack // acknowledged, not yet checked against the log
	ackSpent map[string]dp.Epsilon
	checked  int // acknowledgements checked, over all trials
}

func newLogModel(nodeKey string) (*logModel, error) {
	v, err := note.NewVerifier(nodeKey)
	if err != nil {
		return nil, fmt.Errorf("node key %q: %w", nodeKey, err)
	}
	return &logModel{
		nodeKey: nodeKey, verifier: v,
		rng:        (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0),
		decisionOf: map[string]uint64{}, nonces: map[string]uint64{}, runnable: map[uint64]bool{},
		released: map[uint64]uint64{}, spent: map[string]dp.Epsilon{}, ackSpent: map[string]dp.Epsilon{},
		recent: map[uint64]*state.Entry{}, uploads: map[string][]string{},
	}, nil
}

// beginTrial starts a trial at the current size.
func (m *logModel) beginTrial() {
	m.trialStart = m.size
	m.recent = map[uint64]*state.Entry{}
	m.pending = nil
	m.wantRoots = map[uint64][]byte{}
}

// expectCheckpoints records checkpoints the node served: the log must
// extend each of them, crash or not.
func (m *logModel) expectCheckpoints(cps []*ledger.Checkpoint) error {
	for _, cp := range cps {
		if cp.Size < m.size {
			continue // at most the size after the last trial's clean stop: checked then
		}
		if cp.Size == m.size {
			root, err := m.rng.GetRootHash(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(root, cp.Root) {
				return fmt.Errorf("the node served a checkpoint of %d entries with root %x; those entries as read have root %x", cp.Size, cp.Root, root)
			}
			continue
		}
		if r, ok := m.wantRoots[cp.Size]; ok && !bytes.Equal(r, cp.Root) {
			return fmt.Errorf("the node served two checkpoints of size %d with different roots %x and %x", cp.Size, r, cp.Root)
		}
		m.wantRoots[cp.Size] = cp.Root
	}
	return nil
}

// sync reads the entries appended since the last sync, checks each of
// them, checks the whole log against the node's signed checkpoint, and
// then checks every pending acknowledgement against the log.
func (m *logModel) sync(c *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw, err := c.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("fetching the checkpoint: %w", err)
	}
	cp, err := ledger.ParseCheckpoint(raw, m.verifier)
	if err != nil {
		return fmt.Errorf("the node's checkpoint does not verify: %w\n%s", err, raw)
	}
	if m.origin == "" {
		m.origin = cp.Origin
	} else if cp.Origin != m.origin {
		return fmt.Errorf("checkpoint origin changed from %q to %q", m.origin, cp.Origin)
	}
	if cp.Size < m.size {
		return fmt.Errorf("the log shrank: %d entries were read and checked before, the checkpoint now says %d", m.size, cp.Size)
	}
	for size := range m.wantRoots {
		if size > cp.Size {
			return fmt.Errorf("ROLLED BACK: before the crash the node served a signed checkpoint of %d entries, after it the log has %d", size, cp.Size)
		}
	}
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("fetching /v1/info: %w", err)
	}
	if info.Entries != cp.Size {
		return fmt.Errorf("the node's state reflects %d entries, its checkpoint covers %d", info.Entries, cp.Size)
	}
	for m.size < cp.Size {
		from := m.size
		page, err := c.Entries(ctx, from, min(cp.Size-from, 1000))
		if err != nil {
			return fmt.Errorf("fetching entries from %d: %w", from, err)
		}
		if len(page) == 0 {
			return fmt.Errorf("entry %d is missing: the checkpoint covers %d entries, the node serves none from %d", from, cp.Size, from)
		}
		for _, b := range page {
			if err := m.add(b); err != nil {
				return err
			}
		}
	}
	if m.size != cp.Size {
		return fmt.Errorf("read %d entries, the checkpoint covers %d", m.size, cp.Size)
	}
	if extra, err := c.Entries(ctx, cp.Size, 1); err != nil || len(extra) != 0 {
		return fmt.Errorf("the node serves entries beyond its checkpoint of size %d (%d, %v)", cp.Size, len(extra), err)
	}
	root, err := m.rng.GetRootHash(nil)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("the root of entries 0..%d as read (earlier trials' included) is %x, the signed checkpoint says %x", cp.Size-1, root, cp.Root)
	}
	var errs []string
	for _, a := range m.pending {
		if err := m.checkAck(a); err != nil {
			errs = append(errs, err.Error())
		}
	}
	m.pending = nil
	if len(errs) > 0 {
		return fmt.Errorf("%d acknowledged answers are not in the log as acknowledged (log size %d, this trial began at %d):\n  %s",
			len(errs), m.size, m.trialStart, strings.Join(errs, "\n  "))
	}
	return nil
}

// add checks entry m.size and adds it to the model.
func (m *logModel) add(b []byte) error {
	i := m.size
	bad := func(format string, args ...any) error {
		return fmt.Errorf("entry %d: %s\n%s", i, fmt.Sprintf(format, args...), b)
	}
	e, err := state.DecodeEntry(b)
	if err != nil {
		return bad("does not decode: %v", err)
	}
	if (i == 0) != (e.Kind == state.KindGenesis) {
		return bad("a %s entry; the genesis is entry 0 and only it", e.Kind)
	}
	switch e.Kind {
	case state.KindGenesis:
		if e.Genesis == nil || e.Genesis.NodeKey != m.nodeKey {
			return bad("the genesis does not name the node key of node.json")
		}
	case state.KindDecision:
		if e.Decision == nil {
			return bad("a decision entry without a decision")
		}
		st, err := statement.Parse([]byte(e.Statement))
		if err != nil {
			return bad("the decision's statement does not parse: %v", err)
		}
		var req policy.Request
		if err := st.Decode(&req); err != nil {
			return bad("the decision's statement is not a query: %v", err)
		}
		h := statement.Hash([]byte(e.Statement))
		if j, ok := m.decisionOf[h]; ok {
			return bad("the statement decided at entry %d is decided again", j)
		}
		if j, ok := m.nonces[req.Nonce]; ok {
			return bad("nonce %s was already decided at entry %d", req.Nonce, j)
		}
		m.decisionOf[h], m.nonces[req.Nonce] = i, i
		d := e.Decision.Decision
		if !d.Allow && len(d.Charges) > 0 {
			return bad("a denial with charges %v", d.Charges)
		}
		if d.Allow && !req.DryRun {
			m.runnable[i] = true
			if req.Letter == letterID {
				for _, ch := range d.Charges {
					m.spent[ch.Dataset] += ch.Epsilon
				}
			}
		}
	case state.KindRelease:
		r := e.Release
		if r == nil {
			return bad("a release entry without a release")
		}
		if !m.runnable[r.Decision] || r.Decision >= i {
			return bad("releases a result of entry %d, which is no earlier allowed decision that runs", r.Decision)
		}
		if j, ok := m.released[r.Decision]; ok {
			return bad("a second release of decision %d (the first is entry %d)", r.Decision, j)
		}
		m.released[r.Decision] = i
	case state.KindRejection:
		if e.Rejection == nil || e.Rejection.Reason == "" {
			return bad("a rejection without a reason")
		}
	case state.KindStatement:
		st, err := statement.Parse([]byte(e.Statement))
		if err != nil {
			return bad("the statement does not parse: %v", err)
		}
		if (st.Kind == statement.KindUpload) != (e.Upload != nil) {
			return bad("a %s statement with upload receipt %+v", st.Kind, e.Upload)
		}
		if e.Upload != nil {
			var u policy.Upload
			if err := st.Decode(&u); err != nil {
				return bad("the upload statement does not decode: %v", err)
			}
			m.uploads[u.Dataset] = append(m.uploads[u.Dataset], u.UploadID)
		}
	default:
		return bad("unknown kind %q", e.Kind)
	}
	if err := m.rng.Append(rfc6962.DefaultHasher.HashLeaf(b), nil); err != nil {
		return err
	}
	if i >= m.trialStart {
		m.recent[i] = e
	}
	m.size++
	if want, ok := m.wantRoots[m.size]; ok {
		root, err := m.rng.GetRootHash(nil)
		if err != nil {
			return err
		}
		if !bytes.Equal(root, want) {
			return fmt.Errorf("ROLLED BACK: before the crash the node served a signed checkpoint of %d entries with root %x; the first %d entries of the log now have root %x",
				m.size, want, m.size, root)
		}
		delete(m.wantRoots, m.size)
	}
	return nil
}

// entry returns an entry of this trial for checking an acknowledgement.
func (m *logModel) entry(what string, i uint64) (*state.Entry, error) {
	if i < m.trialStart {
		return nil, fmt.Errorf("%s: acknowledged at entry %d, before the trial's first entry %d", what, i, m.trialStart)
	}
	e, ok := m.recent[i]
	if !ok {
		return nil, fmt.Errorf("%s: LOST, acknowledged at entry %d but the log has %d entries", what, i, m.size)
	}
	return e, nil
}

// checkAck checks one acknowledgement against the log.
func (m *logModel) checkAck(a *ack) error {
	what := a.String()
	if up := a.upload; up != nil {
		e, err := m.entry(what, up.Entry)
		if err != nil {
			return err
		}
		var u policy.Upload
		if e.Kind == state.KindStatement && e.Upload != nil {
			if st, err := statement.Parse([]byte(e.Statement)); err == nil {
				st.Decode(&u)
			}
		}
		if u.UploadID != up.UploadID || u.Dataset != up.Dataset || e.Upload.CiphertextSHA256 != up.CiphertextSHA256 {
			return fmt.Errorf("%s: entry %d is not that upload: %s of %s/%s, receipt %+v", what, up.Entry, e.Kind, u.Dataset, u.UploadID, e.Upload)
		}
		m.checked++
		return nil
	}
	if a.rejection != nil {
		e, err := m.entry(what, *a.rejection)
		if err != nil {
			return err
		}
		if e.Kind != state.KindRejection || e.Rejection == nil || e.Rejection.StatementSHA256 != a.q.hash {
			return fmt.Errorf("%s: entry %d is not the rejection of the statement sent: %s %+v", what, *a.rejection, e.Kind, e.Rejection)
		}
		m.checked++
		return nil
	}
	e, err := m.entry(what, *a.decision)
	if err != nil {
		return err
	}
	if e.Kind != state.KindDecision || e.Statement != string(a.q.msg) || e.Decision == nil {
		return fmt.Errorf("%s: entry %d is a %s entry that does not hold the query statement sent (statement %.12s…)",
			what, *a.decision, e.Kind, statement.Hash([]byte(e.Statement)))
	}
	got, _ := json.Marshal(e.Decision.Decision)
	told, _ := json.Marshal(a.dec)
	if !bytes.Equal(got, told) {
		return fmt.Errorf("%s: the log holds decision %s, the client was told %s", what, got, told)
	}
	if a.release != nil {
		r, err := m.entry(what+" (release)", *a.release)
		if err != nil {
			return err
		}
		if r.Kind != state.KindRelease || r.Release == nil || r.Release.Decision != *a.decision || r.Release.ResultSHA256 != a.resultSHA || r.Release.Recipient != "bank" {
			return fmt.Errorf("%s: entry %d is not the release the client got (result %.12s…): %s %+v", what, *a.release, a.resultSHA, r.Kind, r.Release)
		}
	}
	if a.dec.Allow && !a.q.req.DryRun {
		for _, ch := range a.dec.Charges {
			m.ackSpent[ch.Dataset] += ch.Epsilon
		}
	}
	m.checked++
	return nil
}

// checkBudget checks that the letter's spent budget, as the node reports
// it, is exactly what the allowed decisions in the log debit, and covers
// every acknowledged debit.
func (m *logModel) checkBudget(c *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ls, err := c.Letter(ctx, letterID)
	if err != nil {
		return fmt.Errorf("fetching letter %s: %w", letterID, err)
	}
	var errs []string
	for _, ds := range datasets {
		spent := ls.Spent(ds)
		if spent != m.spent[ds] {
			errs = append(errs, fmt.Sprintf("%s: the node says %s spent, the allowed decisions in the log debit %s", ds, spent, m.spent[ds]))
		}
		if spent < m.ackSpent[ds] {
			errs = append(errs, fmt.Sprintf("%s: DEBIT LOST, the node says %s spent, acknowledged queries debited %s", ds, spent, m.ackSpent[ds]))
		}
	}
	for _, b := range ls.Budgets {
		if b.Epsilon != letterBudget*dp.EpsilonUnit || b.Left != b.Epsilon-b.Spent {
			errs = append(errs, fmt.Sprintf("%s: budget %s, spent %s, left %s do not add up", b.Dataset, b.Epsilon, b.Spent, b.Left))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("budget of letter %s:\n  %s", letterID, strings.Join(errs, "\n  "))
	}
	return nil
}

// checkReport checks an audit report against the model.
func (m *logModel) checkReport(who string, rep *audit.Report) error {
	if rep.Entries != m.size {
		return fmt.Errorf("%s verified %d entries, the node served %d", who, rep.Entries, m.size)
	}
	want := map[string]string{}
	for _, ds := range datasets {
		if s := m.spent[ds]; s > 0 {
			want[letterID+"/"+ds] = s.String()
		}
	}
	got := map[string]string{}
	for k, v := range rep.Spent {
		if strings.HasPrefix(k, letterID+"/") {
			got[k] = v
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("%s replayed budgets %v, the log's decisions debit %v", who, got, want)
	}
	return nil
}

// summary describes the model for the test log.
func (m *logModel) summary() string {
	var parts []string
	for _, ds := range datasets {
		parts = append(parts, fmt.Sprintf("%s ε=%s", ds, m.spent[ds]))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d entries, %d decisions (%d ran, %d released), %d acknowledgements checked; spent %s",
		m.size, len(m.decisionOf), len(m.runnable), len(m.released), m.checked, strings.Join(parts, ", "))
}

// checkSealed checks that the sealed store holds exactly the uploads the
// log accepted: the node removes at start what a crash left between
// storing an upload and logging it, and loses nothing it logged.
func (m *logModel) checkSealed(c *client.Client, sealedDir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cat, err := c.Catalog(ctx)
	if err != nil {
		return fmt.Errorf("fetching the catalogue: %w", err)
	}
	var errs []string
	for _, d := range cat {
		if fmt.Sprint(d.Uploads) != fmt.Sprint(m.uploads[d.Name]) {
			errs = append(errs, fmt.Sprintf("%s: the catalogue lists uploads %v, the log accepted %v", d.Name, d.Uploads, m.uploads[d.Name]))
		}
		files, err := os.ReadDir(filepath.Join(sealedDir, d.Name))
		if err != nil {
			return err
		}
		var onDisk []string
		for _, f := range files {
			onDisk = append(onDisk, f.Name())
		}
		var want []string
		for _, id := range m.uploads[d.Name] {
			want = append(want, id+".age")
		}
		sort.Strings(want)
		if fmt.Sprint(onDisk) != fmt.Sprint(want) {
			errs = append(errs, fmt.Sprintf("%s: sealed/%s holds %v, the log accepted %v", d.Name, d.Name, onDisk, want))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sealed uploads:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// checkShown checks that what the node showed any client before the
// crash (entries in /v1/info, budget spent in /v1/letters) is not undone
// by it: a node that shows state it has not made durable can show a
// client a debit, or a log size, that a crash then takes back.
func (m *logModel) checkShown(r *recorder) error {
	var errs []string
	if r.infoEntries > m.size {
		errs = append(errs, fmt.Sprintf("/v1/info reported %d entries before the crash; the log has %d after it", r.infoEntries, m.size))
	}
	for _, ds := range datasets {
		if shown := r.shownSpent[ds]; shown > m.spent[ds] {
			errs = append(errs, fmt.Sprintf("/v1/letters/%s showed %s spent on %s before the crash; %s after it", letterID, shown, ds, m.spent[ds]))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("state shown to clients was undone by the crash (it was not durable when shown):\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}
