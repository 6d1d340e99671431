package audit_test

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/state"
)

func TestReplayerMatchesVerify(t *testing.T) {
	dir, key := buildLog(t, 600)
	rep, err := audit.Verify(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	v, _ := note.NewVerifier(key)
	if _, err := ledger.Verify(dir, v, func(i uint64, e []byte) error {
		entries = append(entries, bytes.Clone(e))
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	r := audit.NewReplayer(key)
	for i, e := range entries {
		if err := r.Apply(uint64(i), e); err != nil {
			t.Fatal(err)
		}
	}
	snap := r.State().Snapshot()
	if snap.Entries() != rep.Entries || r.Next() != rep.Entries {
		t.Fatalf("replayed %d entries, Verify %d", snap.Entries(), rep.Entries)
	}
	for k, want := range rep.Spent {
		letter, dataset, _ := bytes.Cut([]byte(k), []byte("/"))
		if got := snap.Spent(string(letter), string(dataset)).String(); got != want {
			t.Errorf("spent %s: %s, Verify says %s", k, got, want)
		}
	}
	if err := r.Apply(3, entries[3]); err == nil {
		t.Fatal("an entry out of order was applied")
	}
}

func TestReplayerRefusesAWrongDecision(t *testing.T) {
	dir, key := buildLog(t, 300)
	v, _ := note.NewVerifier(key)
	var entries [][]byte
	if _, err := ledger.Verify(dir, v, func(i uint64, e []byte) error {
		entries = append(entries, bytes.Clone(e))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Turn the first denial into an allowance: the rules disagree.
	bad := -1
	for i, b := range entries {
		e, err := state.DecodeEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == state.KindDecision && !e.Decision.Allow {
			e.Decision.Allow, e.Decision.Reasons = true, nil
			if entries[i], err = e.Encode(); err != nil {
				t.Fatal(err)
			}
			bad = i
			break
		}
	}
	if bad < 0 {
		t.Fatal("no denial in the generated log")
	}
	r := audit.NewReplayer(key)
	var err error
	for i, e := range entries {
		if err = r.Apply(uint64(i), e); err != nil {
			break
		}
	}
	var ee *audit.EntryError
	if !errors.As(err, &ee) || ee.Index != uint64(bad) {
		t.Fatalf("error %v, want one naming entry %d", err, bad)
	}
	if r.Next() != uint64(bad) {
		t.Fatalf("the replayer moved past the bad entry to %d", r.Next())
	}
}
