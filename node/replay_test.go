package node_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/state"
)

// refusedRaw sends msg, which must be refused with status and code, and
// returns the ledger entry of its rejection.
func (r *room) refusedRaw(msg []byte, status int, code string) *state.Entry {
	r.t.Helper()
	_, err := r.c.Submit(context.Background(), msg)
	var ce *client.Error
	require.ErrorAs(r.t, err, &ce)
	require.Equal(r.t, status, ce.Status, ce.Message)
	require.Equal(r.t, code, ce.Code, ce.Message)
	require.NotNil(r.t, ce.Entry, "a refused statement is logged")
	return r.entry(*ce.Entry)
}

// entry reads ledger entry i through the API.
func (r *room) entry(i uint64) *state.Entry {
	r.t.Helper()
	bs, err := r.c.Entries(context.Background(), i, 1)
	require.NoError(r.t, err)
	require.Len(r.t, bs, 1)
	e, err := state.DecodeEntry(bs[0])
	require.NoError(r.t, err)
	return e
}

// TestReplayedStatementRefused: a captured statement sent again is refused
// and logged, even where the state's rules alone would take it: the
// authority approves scenario S-2, withdraws it, and a network attacker
// replays the approval to bring it back.
func TestReplayedStatementRefused(t *testing.T) {
	r := newRoom(t, 10)
	bureau := r.parties["bureau"].signer
	sc := policy.Scenario{ID: "S-2", Text: "园区能耗统计"}
	approval, err := statement.NewAt(r.now, statement.KindScenario, policy.ScenarioDecision{Scenario: sc, Status: policy.ScenarioApproved}, bureau)
	require.NoError(t, err)
	_, err = r.c.Submit(context.Background(), approval)
	require.NoError(t, err)
	r.submit(statement.KindScenario, policy.ScenarioDecision{Scenario: sc, Status: policy.ScenarioWithdrawn, Reason: "the pilot ended"}, bureau)

	rej := r.refusedRaw(approval, http.StatusConflict, api.CodeReplay)
	require.Equal(t, state.KindRejection, rej.Kind)
	require.Equal(t, statement.Hash(approval), rej.Rejection.StatementSHA256)
	require.Equal(t, "scenario", rej.Rejection.ClaimedKind)
	require.Contains(t, rej.Rejection.Reason, "replayed statement")

	// The same decision signed afresh is a new statement, and the state's
	// rules take it.
	r.submit(statement.KindScenario, policy.ScenarioDecision{Scenario: sc, Status: policy.ScenarioApproved}, bureau)
	// Replayed again, it is refused again, whatever the scenario's state.
	r.refusedRaw(approval, http.StatusConflict, api.CodeReplay)
}

// TestStaleStatementRefused: a statement signed outside the window around
// the node's clock, in the past or the future, is refused and logged; the
// window is the node's configuration, recorded in the genesis.
func TestStaleStatementRefused(t *testing.T) {
	r := newRoom(t, 10, func(c *node.Config) { c.Window = 2 * time.Minute })
	require.Equal(t, "2m0s", r.entry(0).Genesis.Window)
	bureau := r.parties["bureau"].signer
	scenario := func(id string, at time.Time) []byte {
		msg, err := statement.NewAt(at, statement.KindScenario, policy.ScenarioDecision{
			Scenario: policy.Scenario{ID: id, Text: "text of " + id}, Status: policy.ScenarioApproved}, bureau)
		require.NoError(t, err)
		return msg
	}
	for _, skew := range []time.Duration{-2*time.Minute - time.Second, 2*time.Minute + time.Second, -24 * time.Hour} {
		rej := r.refusedRaw(scenario("S-old", r.now.Add(skew)), http.StatusUnprocessableEntity, api.CodeStale)
		require.Contains(t, rej.Rejection.Reason, "outside the window of 2m0s", skew)
	}
	// Within the window either way, it is taken.
	_, err := r.c.Submit(context.Background(), scenario("S-early", r.now.Add(-2*time.Minute)))
	require.NoError(t, err)
	_, err = r.c.Submit(context.Background(), scenario("S-late", r.now.Add(2*time.Minute)))
	require.NoError(t, err)

	// A letter gathers signatures for longer: the letter window (30 days
	// by default) bounds its age.
	old := r.defaultLetter("L-old")
	msg, err := statement.NewAt(r.now.AddDate(0, 0, -29), statement.KindLetter, &old, r.parties["bank"].signer, r.parties["msb"].signer, r.parties["grid"].signer)
	require.NoError(t, err)
	_, err = r.c.Submit(context.Background(), msg)
	require.NoError(t, err)
	older := r.defaultLetter("L-older")
	msg, err = statement.NewAt(r.now.AddDate(0, 0, -31), statement.KindLetter, &older, r.parties["bank"].signer, r.parties["msb"].signer, r.parties["grid"].signer)
	require.NoError(t, err)
	r.refusedRaw(msg, http.StatusUnprocessableEntity, api.CodeStale)

	// A query's own signed time is held to the same window.
	q, err := statement.NewAt(r.now, statement.KindQuery, policy.Request{SQL: allowedSQL, Letter: "L-1", Epsilon: "0.1",
		Nonce: statement.NewNonce(), Time: r.now.Add(-3 * time.Minute)}, r.parties["bank"].signer)
	require.NoError(t, err)
	_, err = r.c.Query(context.Background(), q)
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, api.CodeStale, ce.Code, ce.Message)
	require.NotNil(t, ce.Entry)

	// The window is fixed at first start.
	r.stop()
	_, err = node.Open(node.Config{Dir: r.dir, Window: 5 * time.Minute, Now: func() time.Time { return r.now }})
	require.ErrorContains(t, err, "time windows are fixed at first start")
}

// TestReplayedReadRefused: a signed read (which is never logged) is
// accepted once; sent again it is refused, and so is one signed outside
// the window.
func TestReplayedReadRefused(t *testing.T) {
	r := newRoom(t, 10)
	read := func(at time.Time) []byte {
		msg, err := statement.NewAt(at, statement.KindRead, api.Read{Path: "/v1/catalog", Time: at}, r.parties["msb"].signer)
		require.NoError(t, err)
		return msg
	}
	get := func(msg []byte) int {
		req, err := http.NewRequest(http.MethodGet, r.url()+"/v1/catalog", nil)
		require.NoError(t, err)
		req.Header.Set(api.AuthHeader, base64.StdEncoding.EncodeToString(msg))
		resp, err := r.httpClient().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	msg := read(r.now)
	require.Equal(t, http.StatusOK, get(msg))
	require.Equal(t, http.StatusUnauthorized, get(msg), "a replayed read")
	require.Equal(t, http.StatusUnauthorized, get(read(r.now.Add(-time.Hour))), "a stale read")
	require.Equal(t, http.StatusOK, get(read(r.now)), "a fresh read")
}
