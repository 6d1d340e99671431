// Package audit is what an auditor runs, offline, on a copy of a node's
// ledger: it trusts nothing but the node's public key.
//
// Verify checks, in one pass over the entries:
//
//   - the ledger's integrity: every record's framing and leaf hash, the
//     RFC 6962 tree recomputed from the entries, and the signed checkpoint
//     over it (package ledger);
//   - every statement's signatures, against the keys registered by the
//     entries before it, by rebuilding the state with the node's own
//     state.Apply;
//   - every decision, by compiling the query again and re-running
//     policy.Evaluate on the state as it stood, at the recorded time: the
//     recorded decision must be exactly what the rules give;
//   - that no budget is ever overspent (state.Apply refuses such a debit).
//
// The first failure is reported with the index of the entry at fault.
package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// Report summarises a verified ledger.
type Report struct {
	Origin     string            `json:"origin"`
	Entries    uint64            `json:"entries"`
	RootHash   []byte            `json:"root_hash"`
	Parties    int               `json:"parties"`
	Datasets   int               `json:"datasets"`
	Letters    int               `json:"letters"`
	Uploads    int               `json:"uploads"`
	Allowed    int               `json:"allowed"`
	Denied     map[string]int    `json:"denied"` // by reason code
	Rejections int               `json:"rejections"`
	Releases   int               `json:"releases"`
	Spent      map[string]string `json:"spent"` // "letter/dataset" -> epsilon
}

// EntryError names the first bad entry.
type EntryError struct {
	Index  uint64
	Reason string
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %d: %s", e.Index, e.Reason) }

// Verify verifies the ledger in dir against the node's verifier key.
func Verify(dir string, nodeKey string) (*Report, error) {
	v, err := note.NewVerifier(nodeKey)
	if err != nil {
		return nil, fmt.Errorf("node key: %v", err)
	}
	st := state.New()
	rep := &Report{Denied: map[string]int{}, Spent: map[string]string{}}
	cp, err := ledger.Verify(dir, v, func(i uint64, b []byte) error {
		if err := check(st, rep, nodeKey, i, b); err != nil {
			return &EntryError{Index: i, Reason: err.Error()}
		}
		return nil
	})
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
	if cp.Size == 0 {
		return nil, errors.New("the ledger is empty: not even a genesis entry")
	}
	rep.Origin, rep.Entries, rep.RootHash = cp.Origin, cp.Size, cp.Root
	snap := st.Snapshot()
	rep.Parties, rep.Datasets = len(snap.Parties()), len(snap.Datasets())
	for _, id := range snap.LetterIDs() {
		ls, _ := snap.Letter(id)
		if ls.Rejected != "" {
			continue
		}
		rep.Letters++
		for _, d := range ls.Letter.Datasets {
			if s := snap.Spent(id, d.Name); s > 0 {
				rep.Spent[id+"/"+d.Name] = s.String()
			}
		}
	}
	return rep, nil
}

func check(st *state.State, rep *Report, nodeKey string, i uint64, b []byte) error {
	e, err := state.DecodeEntry(b)
	if err != nil {
		return err
	}
	if i == 0 && (e.Genesis == nil || e.Genesis.NodeKey != nodeKey) {
		return errors.New("genesis does not name the node key the checkpoint is verified with")
	}
	switch e.Kind {
	case state.KindDecision:
		if err := replayDecision(st, e); err != nil {
			return err
		}
		if e.Decision.Allow {
			rep.Allowed++
		}
		for _, r := range e.Decision.Reasons {
			rep.Denied[r.Code]++
		}
	case state.KindRejection:
		rep.Rejections++
	case state.KindRelease:
		rep.Releases++
	case state.KindStatement:
		if e.Upload != nil {
			rep.Uploads++
		}
	}
	return st.Apply(i, e)
}

// replayDecision decides the entry's query again and compares.
func replayDecision(st *state.State, e *state.Entry) error {
	if e.Decision == nil {
		return errors.New("decision entry without decision")
	}
	snap := st.Snapshot()
	s, err := statement.Verify([]byte(e.Statement), snap)
	if err != nil {
		return fmt.Errorf("query statement: %v", err)
	}
	var req policy.Request
	if err := s.Decode(&req); err != nil {
		return err
	}
	plan, cerr := query.Compile(req.SQL, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
		d, ok := snap.Dataset(name)
		if !ok {
			return nil, false
		}
		return &d.Schema, true
	}))
	var want *policy.Decision
	if cerr != nil {
		want = policy.Invalid(cerr)
	} else {
		want = policy.Evaluate(snap, policy.Input{Requester: s.Signers[0], Request: req, Plan: plan, Time: e.Time})
	}
	got, _ := json.Marshal(e.Decision.Decision)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		return fmt.Errorf("recorded decision %s, the rules give %s", got, exp)
	}
	return nil
}

// SortedDenials returns the denial counts by code, most frequent first.
func (r *Report) SortedDenials() []string {
	codes := make([]string, 0, len(r.Denied))
	for c := range r.Denied {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		if r.Denied[codes[i]] != r.Denied[codes[j]] {
			return r.Denied[codes[i]] > r.Denied[codes[j]]
		}
		return codes[i] < codes[j]
	})
	return codes
}
