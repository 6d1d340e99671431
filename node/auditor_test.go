package node_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/ledger"
)

// fetchCopy copies the node's ledger through the API, as 'audit fetch'
// does.
func fetchCopy(t *testing.T, r *room, dir string) *ledger.Checkpoint {
	ctx := context.Background()
	v, err := note.NewVerifier(nodeKey(t, r.dir))
	require.NoError(t, err)
	signed, err := r.c.Checkpoint(ctx)
	require.NoError(t, err)
	cp, err := ledger.ParseCheckpoint(signed, v)
	require.NoError(t, err)
	got, err := ledger.Import(dir, v, signed, r.c.EntriesTo(ctx, cp.Size, nil))
	require.NoError(t, err)
	return got
}

// TestResultsCarryProofs: a released result proves offline against the
// node's key; a result changed after release, or a proof for another
// entry, does not.
func TestResultsCarryProofs(t *testing.T) {
	r := newRoom(t, 300)
	res, err := r.query("bank", "L-1", "1", "", allowedSQL)
	require.NoError(t, err)
	key := nodeKey(t, r.dir)
	p, err := audit.Prove(res, key)
	require.NoError(t, err)
	require.Equal(t, *res.ReleaseEntry, p.ReleaseEntry)
	require.Equal(t, "bank", p.Recipient)

	// Round trip through the file an operator keeps.
	b, _ := json.Marshal(res)
	var saved api.QueryResponse
	require.NoError(t, json.Unmarshal(b, &saved))
	_, err = audit.Prove(&saved, key)
	require.NoError(t, err)

	changed := saved
	changed.Result = &api.Result{Columns: saved.Result.Columns, Rows: append([][]string{}, saved.Result.Rows...)}
	changed.Result.Rows[0] = append([]string{}, saved.Result.Rows[0]...)
	changed.Result.Rows[0][1] = "1"
	_, err = audit.Prove(&changed, key)
	require.ErrorContains(t, err, "hashes to")

	swapped := saved
	swapped.ReleaseProof = saved.DecisionProof
	_, err = audit.Prove(&swapped, key)
	require.Error(t, err)

	otherKey := newParty(t, "node", "public-body", "CN").vkey
	_, err = audit.Prove(&saved, otherKey)
	require.Error(t, err, "a checkpoint signed by another key proves nothing")
}

// TestFetchedCopyVerifies: a copy fetched page by page through the API
// verifies and replays, and matches the node's own directory.
func TestFetchedCopyVerifies(t *testing.T) {
	r := newRoom(t, 300)
	_, err := r.query("bank", "L-1", "1", "", allowedSQL)
	require.NoError(t, err)
	_, err = r.query("bank", "L-1", "0.1", "", "SELECT * FROM loans")
	require.Error(t, err)
	dir := filepath.Join(t.TempDir(), "ledger")
	cp := fetchCopy(t, r, dir)
	rep, err := audit.Verify(dir, nodeKey(t, r.dir))
	require.NoError(t, err)
	require.Equal(t, cp.Size, rep.Entries)
	require.Equal(t, 1, rep.Allowed)
	require.Equal(t, 1, rep.Denied["row-level-output"])
}

// TestForkAndRollbackAreDetected runs two copies of one node from the same
// snapshot, as an insider holding the node's key could, and lets each
// append different entries: an auditor holding a checkpoint of one
// detects the other as a fork; an older copy is detected as a rollback.
func TestForkAndRollbackAreDetected(t *testing.T) {
	r := newRoom(t, 50)
	key := nodeKey(t, r.dir)
	v, err := note.NewVerifier(key)
	require.NoError(t, err)
	r.stop()
	snapshot := filepath.Join(t.TempDir(), "snapshot")
	older := filepath.Join(t.TempDir(), "older")
	require.NoError(t, exec.Command("cp", "-a", r.dir, snapshot).Run())
	require.NoError(t, exec.Command("cp", "-a", r.dir, older).Run())
	old, err := os.ReadFile(filepath.Join(r.dir, "ledger", "checkpoint"))
	require.NoError(t, err)

	// Copy A goes on with one query.
	r.start()
	_, err = r.query("bank", "L-1", "1", "", allowedSQL)
	require.NoError(t, err)
	r.stop()
	trustedA, err := os.ReadFile(filepath.Join(r.dir, "ledger", "checkpoint"))
	require.NoError(t, err)

	// Copy B, from the snapshot, goes on with two others.
	r.dir = snapshot
	r.start()
	for range 2 {
		_, err = r.query("bank", "L-1", "0.5", "", allowedSQL)
		require.NoError(t, err)
	}
	r.stop()

	// An auditor who saved A's checkpoint sees B as a fork, with evidence.
	err = ledger.CheckTrusted(filepath.Join(snapshot, "ledger"), v, trustedA)
	var fe *ledger.ForkError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, trustedA, fe.Trusted)
	require.ErrorIs(t, err, ledger.ErrSecurity)

	// Both are consistent with the checkpoint from before they diverged.
	require.NoError(t, ledger.CheckTrusted(filepath.Join(snapshot, "ledger"), v, old))

	// The untouched older copy, against A's newer checkpoint: a rollback.
	err = ledger.CheckTrusted(filepath.Join(older, "ledger"), v, trustedA)
	var rb *ledger.RollbackError
	require.ErrorAs(t, err, &rb)
	require.Less(t, rb.CurrentSize, rb.TrustedSize)
}
