package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/state"
)

// refused submits a statement that must be refused and returns the error
// message.
func (r *room) refused(kind statement.Kind, body any, signer string) string {
	r.t.Helper()
	msg, err := statement.New(kind, body, r.parties[signer].signer)
	require.NoError(r.t, err)
	_, err = r.c.Submit(context.Background(), msg)
	var ce *client.Error
	require.ErrorAs(r.t, err, &ce)
	return ce.Message
}

// deniedWith runs a query and requires a denial carrying code.
func (r *room) deniedWith(recipient, sql, code string) *policy.Decision {
	r.t.Helper()
	_, err := r.query("bank", "L-1", "0.01", recipient, sql)
	var ce *client.Error
	require.ErrorAs(r.t, err, &ce, sql)
	require.NotNil(r.t, ce.Decision, ce.Message)
	require.True(r.t, ce.Decision.Has(code), ce.Decision.String())
	return ce.Decision
}

func TestIncidents(t *testing.T) {
	r := newRoom(t, 30)
	elec := "SELECT e.month, SUM(e.kwh) FROM electricity e GROUP BY e.month"
	_, err := r.query("bank", "L-1", "0.01", "", elec)
	require.NoError(t, err)

	inc := policy.Incident{ID: "INC-1", Datasets: []string{"electricity"}, Status: policy.IncidentOpen, Reason: "meter data leak under investigation"}
	require.Contains(t, r.refused(statement.KindIncident, inc, "bank"), "signed by the authority or by the holder of every dataset")
	require.Contains(t, r.refused(statement.KindIncident, policy.Incident{ID: "INC-1", Datasets: []string{"electricity"}, Status: policy.IncidentOpen}, "grid"), "a reason is required")
	r.submit(statement.KindIncident, inc, r.parties["grid"].signer)
	require.Contains(t, r.refused(statement.KindIncident, inc, "grid"), "already declared")

	d := r.deniedWith("", elec, policy.CodeIncident)
	require.Contains(t, d.String(), "incident INC-1")
	require.Contains(t, d.String(), "Art. 57(6)")
	// A query that does not read electricity runs.
	_, err = r.query("bank", "L-1", "0.01", "", "SELECT COUNT(*) FROM loans l")
	require.NoError(t, err)

	incs, err := r.c.Incidents(context.Background())
	require.NoError(t, err)
	require.Len(t, incs, 1)
	require.Equal(t, policy.IncidentOpen, incs[0].Status)

	closing := inc
	closing.Status, closing.Reason = policy.IncidentClosed, "contained; keys rotated"
	require.Contains(t, r.refused(statement.KindIncident, policy.Incident{ID: "INC-2", Datasets: []string{"electricity"}, Status: policy.IncidentClosed, Reason: "x"}, "grid"), "not on record")
	// The authority may close what a holder opened.
	r.submit(statement.KindIncident, closing, r.parties["bureau"].signer)
	_, err = r.query("bank", "L-1", "0.01", "", elec)
	require.NoError(t, err)
	require.Contains(t, r.refused(statement.KindIncident, closing, "grid"), "already closed")
}

func TestSeal(t *testing.T) {
	r := newRoom(t, 30)
	loans := "SELECT l.green, COUNT(*) FROM loans l GROUP BY l.green"
	require.Contains(t, r.refused(statement.KindSeal, policy.Seal{Dataset: "loans", Reason: "end of purpose"}, "msb"), "only by its holder or the authority")
	require.Contains(t, r.refused(statement.KindSeal, policy.Seal{Dataset: "loans"}, "bank"), "a reason is required")
	require.Contains(t, r.refused(statement.KindSeal, policy.Seal{Dataset: "nothing", Reason: "x"}, "bank"), `unknown dataset "nothing"`)
	r.submit(statement.KindSeal, policy.Seal{Dataset: "loans", Reason: "end of purpose"}, r.parties["bank"].signer)

	d := r.deniedWith("", loans, policy.CodeSealed)
	require.Contains(t, d.String(), "dataset loans is sealed: by bank: end of purpose (Art. 31)")
	s := schemas["loans"]
	_, err := r.c.UploadCSV(context.Background(), r.parties["bank"].signer, "loans", &s, csvFor(t, t.TempDir(), "loans", 3), nil)
	require.ErrorContains(t, err, "dataset loans is sealed: it takes no more uploads (Art. 31)")
	require.Contains(t, r.refused(statement.KindSeal, policy.Seal{Dataset: "loans", Reason: "again"}, "bureau"), "already sealed")
	// Other datasets are untouched.
	_, err = r.query("bank", "L-1", "0.01", "", "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry")
	require.NoError(t, err)
}

func TestExportAssessment(t *testing.T) {
	r := newRoom(t, 30)
	elec := "SELECT COUNT(*) FROM electricity e"
	d := r.deniedWith("overseas", elec, policy.CodeRecipientAbroad)
	require.Contains(t, d.String(), "no export security assessment is recorded for commitment letter L-1")

	ea := policy.ExportAssessment{Letter: "L-1", Recipient: "overseas", Reference: "数据出境安全评估 2026-017"}
	require.Contains(t, r.refused(statement.KindExport, ea, "bank"), "recorded by the authority only")
	require.Contains(t, r.refused(statement.KindExport, policy.ExportAssessment{Letter: "L-1", Recipient: "grid", Reference: "x"}, "bureau"), "only a recipient abroad needs one")
	require.Contains(t, r.refused(statement.KindExport, policy.ExportAssessment{Letter: "L-9", Recipient: "overseas", Reference: "x"}, "bureau"), "not on record")
	r.submit(statement.KindExport, ea, r.parties["bureau"].signer)
	res, err := r.query("bank", "L-1", "0.01", "overseas", elec)
	require.NoError(t, err)
	require.NotNil(t, res.ReleaseEntry)
	require.Contains(t, r.refused(statement.KindExport, ea, "bureau"), "already on record")
}

// TestDestroy destroys a dataset for real: its files and key leave the
// data directory, a fresh start cannot read it, queries are denied citing
// Art. 31, and the ledger still verifies.
func TestDestroy(t *testing.T) {
	r := newRoom(t, 30)
	loans := "SELECT l.green, COUNT(*) FROM loans l GROUP BY l.green"
	_, err := r.query("bank", "L-1", "0.01", "", loans)
	require.NoError(t, err)
	sealedDir := filepath.Join(r.dir, "sealed", "loans")
	keyFile := filepath.Join(r.dir, "datakeys", "loans.age")
	require.DirExists(t, sealedDir)
	require.FileExists(t, keyFile)
	entries, _ := os.ReadDir(sealedDir)
	require.Len(t, entries, 1)

	require.Contains(t, r.refused(statement.KindDestroy, policy.Destruction{Dataset: "loans", Reason: "exit"}, "msb"), "only by its holder or the authority")
	require.Contains(t, r.refused(statement.KindDestroy, policy.Destruction{Dataset: "loans"}, "bank"), "a reason is required")
	i := r.submit(statement.KindDestroy, policy.Destruction{Dataset: "loans", Reason: "end of the bank's participation (Art. 37)"}, r.parties["bank"].signer)
	require.NoDirExists(t, sealedDir)
	require.NoFileExists(t, keyFile)
	require.Contains(t, r.refused(statement.KindDestroy, policy.Destruction{Dataset: "loans", Reason: "again"}, "bank"), "already destroyed")

	// The ledger records who, why and what, by hash.
	raw, err := r.c.Entries(context.Background(), i, 1)
	require.NoError(t, err)
	e, err := state.DecodeEntry(raw[0])
	require.NoError(t, err)
	require.Len(t, e.Destroyed.Files, 1)
	require.Equal(t, "sealed/loans/"+strings.TrimSuffix(entries[0].Name(), ".age")+".age", e.Destroyed.Files[0].Name)
	require.Len(t, e.Destroyed.KeySHA256, 64)

	d := r.deniedWith("", loans, policy.CodeSealed)
	require.Contains(t, d.String(), "destroyed: end of the bank's participation")

	// A fresh start: the node replays the log, and the data stays gone;
	// what a crash between logging and deleting would have left goes too.
	r.stop()
	require.NoError(t, os.MkdirAll(sealedDir, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(sealedDir, entries[0].Name()), []byte("left by a crash"), 0o600))
	require.NoError(t, os.WriteFile(keyFile, []byte("AGE-SECRET-KEY-PQ-1LEFT\n"), 0o600))
	r.start()
	require.NoFileExists(t, keyFile)
	require.NoDirExists(t, sealedDir)
	r.deniedWith("", loans, policy.CodeSealed)
	info, err := r.c.Info(context.Background())
	require.NoError(t, err)
	r.stop()
	rep, err := audit.Verify(filepath.Join(r.dir, "ledger"), info.NodeKey)
	require.NoError(t, err)
	require.Positive(t, rep.Entries)
}
