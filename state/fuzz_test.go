package state_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/state"
)

// FuzzDecodeEntry: a ledger entry as an auditor or an agent fetches it
// (the node serves them on /v1/ledger/entries) decodes strictly or not at
// all, re-encodes to what it decoded, and applying it to a state never
// panics.
func FuzzDecodeEntry(f *testing.F) {
	auth, avkey, err := keys.New("authority")
	if err != nil {
		f.Fatal(err)
	}
	_, nvkey, _ := keys.Generate("node")
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	g := &state.Entry{Kind: state.KindGenesis, Time: t0, Genesis: &state.Genesis{Origin: "fuzz", NodeKey: nvkey, AuthorityKey: avkey}}
	gb, _ := g.Encode()
	msg, _ := statement.NewAt(t0, statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S", Text: "t"}, Status: policy.ScenarioApproved}, auth)
	se := &state.Entry{Kind: state.KindStatement, Time: t0, Statement: string(msg)}
	sb, _ := se.Encode()
	f.Add(gb)
	f.Add(sb)
	f.Add([]byte(`{"v":1,"kind":"rejection","time":"2026-06-01T12:00:00Z","rejection":{"statement_sha256":"00","reason":"x"}}`))
	f.Add([]byte(`{"v":1,"kind":"decision","time":"2026-06-01T12:00:00Z","statement":"x","decision":{"allow":true}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := state.DecodeEntry(b)
		if err != nil {
			return
		}
		again, err := e.Encode()
		if err != nil {
			t.Fatalf("a decoded entry does not encode: %v", err)
		}
		e2, err := state.DecodeEntry(again)
		if err != nil {
			t.Fatalf("a re-encoded entry does not decode: %v", err)
		}
		if again2, _ := e2.Encode(); !bytes.Equal(again, again2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", again, again2)
		}
		s := state.New()
		if s.Apply(0, g) != nil {
			t.Fatal("genesis")
		}
		s.Apply(1, e) // may refuse; must not panic
		s.Check(e)
	})
}
