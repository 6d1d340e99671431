package node_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/state"
)

// refused submits a statement that must be refused and returns the error
// message.
func (r *room) refused(kind statement.Kind, body any, signer string) string {
	r.t.Helper()
	msg, err := statement.NewAt(r.now, kind, body, r.parties[signer].signer)
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

	// What the authority declares, a holder cannot lift.
	byAuthority := policy.Incident{ID: "INC-A", Datasets: []string{"electricity"}, Status: policy.IncidentOpen, Reason: "national alert"}
	r.submit(statement.KindIncident, byAuthority, r.parties["bureau"].signer)
	lift := byAuthority
	lift.Status, lift.Reason = policy.IncidentClosed, "we think it is fine"
	require.Contains(t, r.refused(statement.KindIncident, lift, "grid"), "declared by the authority, which alone may close it")
	r.deniedWith("", elec, policy.CodeIncident)
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
	_, err := r.c.UploadCSV(context.Background(), r.parties["bank"].signer, "loans", &s, csvFor(t, t.TempDir(), "loans", 3), client.UploadOptions{})
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

// TestApplications covers Art. 34: a deadline of ten working days in the
// authority's calendar, across a weekend and a holiday; refusals need a
// reason; only the holder answers; overdue applications are listed; a
// late answer is marked; and a holder cannot countersign a letter for a
// conditional dataset without an approved application.
func TestApplications(t *testing.T) {
	r := newRoom(t, 10) // r.now is Monday 2026-06-01 20:00 in China
	cal, err := policy.ParseCalendar([]byte("2026-06-05 holiday a Friday off\n"))
	require.NoError(t, err)
	require.Contains(t, r.refused(statement.KindCalendar, cal, "bank"), "loaded by the authority only")
	r.submit(statement.KindCalendar, cal, r.parties["bureau"].signer)

	app := policy.Application{ID: "A-perm", Applicant: "bank", Dataset: "permits", Purpose: "pricing green credit"}
	require.Contains(t, r.refused(statement.KindApply, app, "msb"), "must be signed by its applicant bank")
	require.Contains(t, r.refused(statement.KindApply, policy.Application{ID: "A-x", Applicant: "bank", Dataset: "loans", Purpose: "p"}, "bank"), "bank holds dataset loans itself")
	r.submit(statement.KindApply, app, r.parties["bank"].signer)
	require.Contains(t, r.refused(statement.KindApply, app, "bank"), "already filed")

	// Working days after Monday 1 June: Tue 2, Wed 3, Thu 4, (Fri 5 off,
	// weekend), Mon 8 … Fri 12, (weekend), Mon 15, Tue 16: the tenth.
	list := func(overdue bool) []api.Application {
		out, err := r.c.Applications(context.Background(), overdue)
		require.NoError(t, err)
		return out
	}
	var a api.Application
	for _, x := range list(false) {
		if x.Application.ID == "A-perm" {
			a = x
		}
	}
	require.Equal(t, "2026-06-17T00:00:00+08:00", a.Deadline.In(policy.China).Format(time.RFC3339))
	require.Equal(t, "msb", a.Holder)
	require.False(t, a.Overdue)

	r.now = time.Date(2026, 6, 16, 15, 59, 59, 0, time.UTC) // 23:59:59 on the 16th in China
	require.Empty(t, list(true))
	r.now = r.now.Add(time.Second)
	over := list(true)
	require.Len(t, over, 1)
	require.Equal(t, "A-perm", over[0].Application.ID)

	require.Contains(t, r.refused(statement.KindAnswer, policy.Answer{Application: "A-perm", Approve: false}, "msb"), "a refusal must give its reason")
	require.Contains(t, r.refused(statement.KindAnswer, policy.Answer{Application: "A-perm", Approve: true}, "msb"), "an approval states the conditions")
	require.Contains(t, r.refused(statement.KindAnswer, policy.Answer{Application: "A-perm", Approve: true, Conditions: "c"}, "grid"), "answered by msb, the holder of dataset permits")
	r.submit(statement.KindAnswer, policy.Answer{Application: "A-perm", Approve: false, Reason: "permits are not shared for pricing"}, r.parties["msb"].signer)
	require.Empty(t, list(true))
	for _, x := range list(false) {
		if x.Application.ID == "A-perm" {
			require.True(t, x.Late, "answered after the deadline")
			require.False(t, x.Approved())
		}
	}

	// Without an approved application the holder cannot countersign.
	l := r.defaultLetter("L-perm")
	l.Datasets = append(l.Datasets, policy.LetterDataset{Name: "permits", Epsilon: 1_000_000, Delta: 1e-6})
	msg, err := statement.NewAt(r.now, statement.KindLetter, &l, r.parties["bank"].signer, r.parties["msb"].signer, r.parties["grid"].signer)
	require.NoError(t, err)
	_, err = r.c.Submit(context.Background(), msg)
	require.ErrorContains(t, err, "msb countersigned it for dataset permits, which bank has no approved application for (Art. 34)")
}

// TestSecretCatalogue checks Art. 25: a dataset marked secret-catalogue is
// listed to public bodies, the authority and its holder only.
func TestSecretCatalogue(t *testing.T) {
	r := newRoom(t, 5)
	d := policy.Dataset{Name: "sanctions", Holder: "grid", Source: "grid compliance office", Schema: schemas["permits"], Declaration: testDeclaration,
		Sharing: policy.ShareConditional, Conditions: "by application", Opening: policy.OpenConditional, Level: policy.General, SecretCatalogue: true}
	r.submit(statement.KindDataset, d, r.parties["grid"].signer)
	names := func(signer string) []string {
		var s note.Signer
		if signer != "" {
			s = r.parties[signer].signer
		}
		cat, err := r.c.CatalogAs(context.Background(), s)
		require.NoError(t, err)
		var out []string
		for _, d := range cat {
			out = append(out, d.Name)
		}
		return out
	}
	require.NotContains(t, names(""), "sanctions", "anonymous")
	require.NotContains(t, names("bank"), "sanctions", "an enterprise")
	require.Contains(t, names("bank"), "loans")
	require.Contains(t, names("grid"), "sanctions", "its holder")
	require.Contains(t, names("msb"), "sanctions", "a public body")
	require.Contains(t, names("bureau"), "sanctions", "the authority")

	// A read signed by an unregistered key, or for another path, is refused.
	_, err := r.c.CatalogAs(context.Background(), r.parties["stranger"].signer)
	require.ErrorContains(t, err, "Cleanroom-Auth")
}

// TestCorrections covers Art. 26(3): any registered party asks the holder
// of public data for a correction; only the holder answers, once.
func TestCorrections(t *testing.T) {
	r := newRoom(t, 5)
	c := policy.Correction{ID: "C-1", Dataset: "registry", Column: "industry", Description: "E00001 is in section C, not B"}
	require.Contains(t, r.refused(statement.KindCorrection, policy.Correction{ID: "C-0", Dataset: "loans", Description: "x"}, "grid"), "not public data")
	require.Contains(t, r.refused(statement.KindCorrection, policy.Correction{ID: "C-0", Dataset: "registry", Column: "nope", Description: "x"}, "bank"), "has no column nope")
	require.Contains(t, r.refused(statement.KindCorrection, policy.Correction{ID: "C-0", Dataset: "registry"}, "bank"), "say what is wrong")
	r.submit(statement.KindCorrection, c, r.parties["bank"].signer)
	open, err := r.c.Corrections(context.Background(), true)
	require.NoError(t, err)
	require.Len(t, open, 1)
	require.Equal(t, "bank", open[0].Filer)
	require.Equal(t, "msb", open[0].Holder)

	ans := policy.CorrectionAnswer{Correction: "C-1", Accepted: true, Response: "corrected"}
	require.Contains(t, r.refused(statement.KindCorrected, ans, "grid"), "answered by msb, the holder of dataset registry")
	require.Contains(t, r.refused(statement.KindCorrected, policy.CorrectionAnswer{Correction: "C-1"}, "msb"), "a response is required")
	r.submit(statement.KindCorrected, ans, r.parties["msb"].signer)
	require.Contains(t, r.refused(statement.KindCorrected, ans, "msb"), "already answered")
	open, err = r.c.Corrections(context.Background(), true)
	require.NoError(t, err)
	require.Empty(t, open)
	all, err := r.c.Corrections(context.Background(), false)
	require.NoError(t, err)
	require.True(t, all[0].Answer.Accepted)
}

// TestActs covers Art. 57(4): copies, exports, de-identification and
// destruction outside the clean room are recorded with who, what and why.
func TestActs(t *testing.T) {
	r := newRoom(t, 5)
	act := policy.Act{Kind: policy.ActCopy, Dataset: "registry", What: "nightly backup", Why: "retention duty", Recipient: "bureau"}
	require.Contains(t, r.refused(statement.KindAct, act, "bank"), "recorded by its holder or the authority")
	require.Contains(t, r.refused(statement.KindAct, policy.Act{Kind: "leak", Dataset: "registry", What: "x", Why: "y"}, "msb"), "unknown kind")
	require.Contains(t, r.refused(statement.KindAct, policy.Act{Kind: policy.ActExport, Dataset: "registry", What: "x"}, "msb"), "say what was done and why")
	r.submit(statement.KindAct, act, r.parties["msb"].signer)
	r.submit(statement.KindAct, policy.Act{Kind: policy.ActDeidentify, Dataset: "electricity", What: "meter ids hashed", Why: "research release"}, r.parties["grid"].signer)
	acts, err := r.c.Acts(context.Background())
	require.NoError(t, err)
	require.Len(t, acts, 2)
	require.Equal(t, "msb", acts[0].By)
	require.Equal(t, policy.ActCopy, acts[0].Kind)
	require.Equal(t, "grid", acts[1].By)
	require.Equal(t, r.now, acts[1].At.UTC())
}

// TestEndOfPurpose checks that a letter's end of purpose seals the
// datasets it names, for every query from then on (Art. 31).
func TestEndOfPurpose(t *testing.T) {
	r := newRoom(t, 10)
	l := r.defaultLetter("L-eop")
	l.Datasets = l.Datasets[2:] // loans only
	l.EndOfPurpose = r.now.Add(time.Hour)
	r.letter(l, true, "bank")
	loans := "SELECT l.green, COUNT(*) FROM loans l GROUP BY l.green"
	_, err := r.query("bank", "L-1", "0.01", "", loans)
	require.NoError(t, err, "before the end of purpose")
	r.now = r.now.Add(time.Hour)
	d := r.deniedWith("", loans, policy.CodeSealed)
	require.Contains(t, d.String(), "dataset loans is sealed since the end of purpose of commitment letter L-eop")
	_, err = r.query("bank", "L-1", "0.01", "", "SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry")
	require.NoError(t, err, "the datasets it does not name are untouched")
}

// TestSourcesThroughTheAPI checks, through the node's API, that a dataset
// needs its data-source statement (Art. 42(1)), that it is part of the
// catalogue entry, and that a data item keeps one source (Art. 23).
func TestSourcesThroughTheAPI(t *testing.T) {
	r := newRoom(t, 5)
	base := policy.Dataset{Name: "capital_2025", Holder: "msb", Source: "msb registry office", Schema: schemas["registry"],
		Sharing: policy.ShareConditional, Conditions: "by application", Opening: policy.OpenConditional, Level: policy.General,
		Items: []policy.DataItem{{Column: "capital", Item: "enterprise.registered_capital"}}}
	require.Contains(t, r.refused(statement.KindDataset, base, "msb"), "a data-source statement is required")
	base.Declaration = testDeclaration
	r.submit(statement.KindDataset, base, r.parties["msb"].signer)

	other := base
	other.Name, other.Holder, other.Source = "capital_copy", "grid", "grid customer office"
	msg := r.refused(statement.KindDataset, other, "grid")
	require.Contains(t, msg, "data item enterprise.registered_capital already has its source: msb registry office (dataset capital_2025 of msb)")
	require.Contains(t, msg, "(Art. 23)")

	cat, err := r.c.Catalog(context.Background())
	require.NoError(t, err)
	for _, d := range cat {
		if d.Name == "capital_2025" {
			require.Equal(t, testDeclaration, d.Declaration)
			require.Equal(t, base.Items, d.Items)
		}
	}
}
