package state_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/state"
)

// TestLedgerWithReplayRefused: the replay check is decided from the ledger
// alone, so a ledger in which a node took a statement twice, or one signed
// outside the genesis's window, does not replay (what an auditor and an
// agent run).
func TestLedgerWithReplayRefused(t *testing.T) {
	auth, avkey, err := keys.New("authority")
	require.NoError(t, err)
	_, nvkey, err := keys.Generate("node")
	require.NoError(t, err)
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s := state.New()
	require.NoError(t, s.Apply(0, &state.Entry{Kind: state.KindGenesis, Time: t0,
		Genesis: &state.Genesis{Origin: "test", NodeKey: nvkey, AuthorityKey: avkey, Window: "1m0s"}}))
	at := func(signed, logged time.Time, body policy.ScenarioDecision) *state.Entry {
		msg, err := statement.NewAt(signed, statement.KindScenario, body, auth)
		require.NoError(t, err)
		return &state.Entry{Kind: state.KindStatement, Time: logged, Statement: string(msg)}
	}
	sc := policy.Scenario{ID: "S-1", Text: "t"}
	approve := at(t0, t0, policy.ScenarioDecision{Scenario: sc, Status: policy.ScenarioApproved})
	require.NoError(t, s.Apply(1, approve))
	require.NoError(t, s.Apply(2, at(t0, t0.Add(time.Second), policy.ScenarioDecision{Scenario: sc, Status: policy.ScenarioWithdrawn, Reason: "r"})))

	// The approval again: the scenario's rules would take it, the nonce
	// does not.
	again := *approve
	again.Time = t0.Add(2 * time.Second)
	err = s.Apply(3, &again)
	require.ErrorIs(t, err, state.ErrReplay)
	require.ErrorIs(t, err, state.ErrConflict)
	require.ErrorContains(t, err, "entry 1")

	// Outside the genesis's one-minute window, either way.
	err = s.Apply(3, at(t0, t0.Add(61*time.Second), policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S-2", Text: "t"}, Status: policy.ScenarioApproved}))
	require.ErrorIs(t, err, state.ErrStale)
	err = s.Apply(3, at(t0.Add(2*time.Minute), t0.Add(2*time.Second), policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S-2", Text: "t"}, Status: policy.ScenarioApproved}))
	require.ErrorIs(t, err, state.ErrStale)
	require.NoError(t, s.Apply(3, at(t0, t0.Add(60*time.Second), policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S-2", Text: "t"}, Status: policy.ScenarioApproved})))
}

// TestGenesisWindows: the windows are Go durations in canonical form,
// within bounds, the letter window no shorter than the window.
func TestGenesisWindows(t *testing.T) {
	for _, tc := range []struct {
		window, letter string
		ok             bool
	}{
		{"", "", true}, {"1m0s", "", true}, {"10m0s", "720h0m0s", true}, {"1s", "1s", true},
		{"1m", "", false}, {"0s", "", false}, {"500ms", "", false}, {"-1m0s", "", false},
		{"10000h0m0s", "", false}, {"10m0s", "1m0s", false}, {"", "5m0s", false}, {"x", "", false},
	} {
		g := state.Genesis{Window: tc.window, LetterWindow: tc.letter}
		_, _, err := g.Windows()
		require.Equal(t, tc.ok, err == nil, "%q %q: %v", tc.window, tc.letter, err)
	}
	w, lw, err := (&state.Genesis{}).Windows()
	require.NoError(t, err)
	require.Equal(t, state.DefaultWindow, w)
	require.Equal(t, state.DefaultLetterWindow, lw)
}
