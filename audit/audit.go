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
	"errors"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/ledger"
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
//
// It runs as a pipeline: the ledger package reads and checks the entries
// in order; each statement's signatures are then checked in parallel, on
// every core, against every key registered so far (statement.Check); and
// the replay applies the entries in order, resolving each statement against
// the keys registered at that point, which gives exactly the outcome of a
// check made then.
func Verify(dir string, nodeKey string) (*Report, error) {
	v, err := note.NewVerifier(nodeKey)
	if err != nil {
		return nil, fmt.Errorf("node key: %v", err)
	}
	r := &replay{st: state.New(), rep: &Report{Denied: map[string]int{}, Spent: map[string]string{}}, nodeKey: nodeKey, plans: map[string]*planned{}}
	p := newPipeline(r)
	cp, err := ledger.Verify(dir, v, p.feed)
	if rerr := p.close(); rerr != nil {
		err = rerr // the replay's error names the first bad entry
	}
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
	rep := r.rep
	rep.Origin, rep.Entries, rep.RootHash = cp.Origin, cp.Size, cp.Root
	snap := r.st.Snapshot()
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

// SpentKeys returns the keys of Spent ("letter/dataset"), sorted.
func (r *Report) SpentKeys() []string {
	keys := make([]string, 0, len(r.Spent))
	for k := range r.Spent {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
