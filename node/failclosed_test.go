package node_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
)

// TestFailClosed makes the ledger's writes fail: every query is refused
// with audit-unavailable, nothing is computed, spent or released, no other
// statement is accepted; once the disk is writable again the node resumes
// by itself, and the log verifies.
func TestFailClosed(t *testing.T) {
	for _, fault := range []string{"writes", "fsync", "checkpoint"} {
		t.Run(fault, func(t *testing.T) {
			r := newRoom(t, 200)
			before := r.info().Entries
			sw := map[string]func(bool){
				"writes":     r.fsys.FailWrites.Store,
				"fsync":      r.fsys.FailSync.Store,
				"checkpoint": r.fsys.FailCheckpoint.Store,
			}[fault]
			sw(true)
			for range 5 {
				_, err := r.query("bank", "L-1", "0.1", "", allowedSQL)
				var ce *client.Error
				require.ErrorAs(t, err, &ce)
				require.Equal(t, http.StatusServiceUnavailable, ce.Status)
				require.Equal(t, api.CodeUnavailable, ce.Code)
			}
			// Other statements are refused too, and an unsigned one cannot
			// even be logged as rejected.
			_, err := r.c.Submit(context.Background(), []byte("junk"))
			require.ErrorContains(t, err, "audit-unavailable")
			msg, _ := statement.NewAt(r.now, statement.KindRevocation, policy.Revocation{Letter: "L-1", Reason: "x"}, r.parties["grid"].signer)
			_, err = r.c.Submit(context.Background(), msg)
			require.ErrorContains(t, err, "audit-unavailable")

			sw(false)
			ls, err := r.c.Letter(context.Background(), "L-1")
			require.NoError(t, err)
			if fault != "checkpoint" {
				// Nothing of the failed batches is in the log: no budget.
				require.Zero(t, ls.Spent("loans"), "a refused query spends nothing")
				require.Equal(t, before, r.info().Entries)
			}
			if fault != "checkpoint" {
				require.Empty(t, ls.State.Revoked, "the revocation was refused")
			}
			// When only the checkpoint could not be stored, the entries
			// themselves are durable (ledger.Pending.Wait): the revocation
			// stands, though its author was told it failed.
			if fault == "checkpoint" {
				require.NotEmpty(t, ls.State.Revoked)
			} else {
				res, err := r.query("bank", "L-1", "1", "", allowedSQL)
				require.NoError(t, err, "the node resumes once the ledger is writable")
				require.NotEmpty(t, res.Result.Rows)
			}
			// A restart signs a checkpoint over whatever is durable (after a
			// checkpoint failure, entries beyond the stored checkpoint).
			r.stop()
			r.start()
			r.stop()
			_, err = audit.Verify(filepath.Join(r.dir, "ledger"), nodeKey(t, r.dir))
			require.NoError(t, err)
			_, err = os.Stat(filepath.Join(r.dir, "ledger", "entries"))
			require.NoError(t, err)
		})
	}
}
