package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/state"
)

const allowedSQL = "SELECT r.industry, SUM(l.amount), COUNT(*) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry"

func denialCode(t *testing.T, err error) []string {
	t.Helper()
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, http.StatusForbidden, ce.Status, "want a denial, got %v", err)
	require.NotNil(t, ce.Decision)
	require.NotNil(t, ce.Entry, "a denial is logged")
	var codes []string
	for _, r := range ce.Decision.Reasons {
		require.NotEmpty(t, r.Article, "every reason cites an article")
		codes = append(codes, r.Code)
	}
	return codes
}

func TestAllowedQueryReleasesWithLedgerIndex(t *testing.T) {
	r := newRoom(t, 300)
	res, err := r.query("bank", "L-1", "1", "", allowedSQL)
	require.NoError(t, err)
	require.True(t, res.Decision.Allow)
	require.Equal(t, []string{"industry", "SUM(l.amount)", "COUNT(*)"}, stripQualifiers(res.Result.Columns))
	require.NotEmpty(t, res.Result.Rows)
	require.NotNil(t, res.ReleaseEntry)
	require.Equal(t, res.DecisionEntry+1, *res.ReleaseEntry)

	// The decision and the release are in the ledger, with the result's hash.
	ls, err := r.c.Letter(context.Background(), "L-1")
	require.NoError(t, err)
	require.Equal(t, "3", ls.Spent("loans").String(), "two aggregates and group selection: three shares of 1")
	require.Equal(t, "3", ls.Spent("registry").String())
	require.Equal(t, "0", ls.Spent("electricity").String())
	raw, err := r.c.Entries(context.Background(), *res.ReleaseEntry, 1)
	require.NoError(t, err)
	e, err := state.DecodeEntry(raw[0])
	require.NoError(t, err)
	require.Equal(t, state.KindRelease, e.Kind)
	require.Equal(t, res.ResultSHA256, e.Release.ResultSHA256)
	require.Equal(t, "bank", e.Release.Recipient)
}

func stripQualifiers(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		if _, after, ok := strings.Cut(c, "."); ok && !strings.Contains(c, "(") {
			c = after
		}
		out[i] = c
	}
	return out
}

// TestDenials runs each denial reason through the real HTTP API.
func TestDenials(t *testing.T) {
	r := newRoom(t, 50)
	// An expired letter, a letter the grid never signed, an unapproved
	// letter.
	expired := r.defaultLetter("L-old")
	expired.NotBefore, expired.NotAfter = r.now.AddDate(0, -3, 0), r.now.AddDate(0, 0, -1)
	r.letter(expired, true, "bank", "msb", "grid")
	r.letter(r.defaultLetter("L-nogrid"), true, "bank", "msb")
	r.letter(r.defaultLetter("L-pending"), false, "bank", "msb", "grid")
	r.letter(r.defaultLetter("L-revoked"), true, "bank", "msb", "grid")
	r.submit(statement.KindRevocation, policy.Revocation{Letter: "L-revoked", Reason: "incident"}, r.parties["grid"].signer)
	// A letter whose scenario the authority withdrew.
	r.submit(statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S-2", Text: "old"}, Status: policy.ScenarioApproved}, r.parties["bureau"].signer)
	oldScenario := r.defaultLetter("L-withdrawn")
	oldScenario.Scenario = policy.Scenario{ID: "S-2", Text: "old"}
	r.letter(oldScenario, true, "bank", "msb", "grid")
	r.submit(statement.KindScenario, policy.ScenarioDecision{Scenario: policy.Scenario{ID: "S-2"}, Status: policy.ScenarioWithdrawn, Reason: "ended"}, r.parties["bureau"].signer)
	// A letter whose purposes go beyond the personal data's authorisation.
	beyond := r.defaultLetter("L-beyond")
	beyond.Purposes = []string{"pricing green credit", "marketing"}
	r.letter(beyond, true, "bank", "msb", "grid")
	// A letter with a tampered grid signature is refused at submission.
	forgedLetter := r.defaultLetter("L-forged")
	msg, err := statement.NewAt(r.now, statement.KindLetter, &forgedLetter, r.parties["bank"].signer, r.parties["msb"].signer, r.parties["grid"].signer)
	require.NoError(t, err)
	forged := tamper(t, msg, "grid")
	_, err = r.c.Submit(context.Background(), forged)
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, http.StatusUnauthorized, ce.Status)
	require.Contains(t, ce.Message, "signature by grid does not verify")

	for _, tc := range []struct {
		name, as, letter, eps, recipient, sql string
		want                                  string
	}{
		{"row-level select", "bank", "L-1", "0.1", "", "SELECT * FROM loans", policy.CodeRowLevel},
		{"revoked letter", "bank", "L-revoked", "0.1", "", allowedSQL, policy.CodeLetterRevoked},
		{"withdrawn scenario", "bank", "L-withdrawn", "0.1", "", allowedSQL, policy.CodeScenarioNotApprove},
		{"function not allowed", "bank", "L-1", "0.1", "", "SELECT SUM(r.capital) FROM registry r", policy.CodeColumnUse},
		{"count-only column counted", "bank", "L-1", "0.1", "", "SELECT r.industry, COUNT(r.name) FROM registry r GROUP BY r.industry", ""},
		{"group by a unique identifier", "bank", "L-1", "0.1", "", "SELECT l.loan_id, COUNT(*) FROM loans l GROUP BY l.loan_id", policy.CodeUniqueGroup},
		{"personal data beyond its authorisation", "bank", "L-beyond", "0.1", "", "SELECT r.industry, COUNT(r.name) FROM registry r GROUP BY r.industry", policy.CodePersonal},
		{"row-level column", "bank", "L-1", "0.1", "", "SELECT l.amount FROM loans l", policy.CodeRowLevel},
		{"column outside the letter", "bank", "L-1", "0.1", "", "SELECT r.address, COUNT(*) FROM registry r GROUP BY r.address", policy.CodeColumnNotInLetter},
		{"forbidden column in a filter", "bank", "L-1", "0.1", "", "SELECT COUNT(*) FROM registry r WHERE r.address = 'x'", policy.CodeColumnNotInLetter},
		{"count-only column grouped", "bank", "L-1", "0.1", "", "SELECT r.name, COUNT(*) FROM registry r GROUP BY r.name", policy.CodeColumnUse},
		{"join key as group", "bank", "L-1", "0.1", "", "SELECT r.uscc, COUNT(*) FROM registry r GROUP BY r.uscc", policy.CodeUniqueGroup},
		{"unsupported SQL", "bank", "L-1", "0.1", "", "SELECT AVG(r.capital), COUNT(*) FROM registry r GROUP BY r.industry HAVING 1", policy.CodeInvalidQuery},
		{"use not allowed", "bank", "L-1", "0.1", "", "SELECT COUNT(*) FROM loans l WHERE l.green = true", policy.CodeColumnUse},
		{"dataset outside the letter", "bank", "L-1", "0.1", "", "SELECT COUNT(*) FROM permits", policy.CodeDatasetScope},
		{"unknown letter", "bank", "L-none", "0.1", "", allowedSQL, policy.CodeUnknownLetter},
		{"expired letter", "bank", "L-old", "0.1", "", allowedSQL, policy.CodeLetterNotInForce},
		{"tampered letter", "bank", "L-forged", "0.1", "", allowedSQL, policy.CodeLetterRejected},
		{"letter without the holder's signature", "bank", "L-nogrid", "0.1", "", allowedSQL, policy.CodeLetterUnsigned},
		{"letter not approved", "bank", "L-pending", "0.1", "", allowedSQL, policy.CodeLetterNotApproved},
		{"not the applicant", "msb", "L-1", "0.1", "", allowedSQL, policy.CodeNotApplicant},
		{"recipient abroad, important data", "bank", "L-1", "0.1", "overseas", "SELECT COUNT(*) FROM electricity e", policy.CodeRecipientAbroad},
		{"recipient not in letter", "bank", "L-1", "0.1", "msb", allowedSQL, policy.CodeRecipient},
		{"overspent budget", "bank", "L-1", "1.000001", "", allowedSQL, policy.CodeBudget},
		{"bad epsilon", "bank", "L-1", "-1", "", allowedSQL, policy.CodeEpsilon},
		{"syntax error", "bank", "L-1", "0.1", "", "SELECT COUNT(* FROM loans", policy.CodeInvalidQuery},
		{"unknown column", "bank", "L-1", "0.1", "", "SELECT SUM(l.nope) FROM loans l", policy.CodeInvalidQuery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.query(tc.as, tc.letter, tc.eps, tc.recipient, tc.sql)
			if tc.want == "" {
				require.NoError(t, err, "allowed")
				return
			}
			require.Contains(t, denialCode(t, err), tc.want)
		})
	}
	// Nothing was spent by any denial; the one allowed query spent 0.2.
	ls, err := r.c.Letter(context.Background(), "L-1")
	require.NoError(t, err)
	require.Equal(t, "0.2", ls.Spent("registry").String())
	require.Zero(t, ls.Spent("loans"))
	require.Zero(t, ls.Spent("electricity"))

	// The whole log, denials included, verifies and replays.
	r.stop()
	_, err = audit.Verify(filepath.Join(r.dir, "ledger"), nodeKey(t, r.dir))
	require.NoError(t, err)
}

func TestBudgetIsSpentExactlyOnce(t *testing.T) {
	r := newRoom(t, 50)
	// Three queries of three shares of 0.333333 leave exactly 0.000003:
	// exact arithmetic lets one more query of three millionths through,
	// and no more.
	for range 3 {
		_, err := r.query("bank", "L-1", "0.333333", "", allowedSQL)
		require.NoError(t, err)
	}
	_, err := r.query("bank", "L-1", "0.000001", "", allowedSQL)
	require.NoError(t, err)
	ls, _ := r.c.Letter(context.Background(), "L-1")
	require.Equal(t, "3", ls.Spent("loans").String())
	_, err = r.query("bank", "L-1", "0.000001", "", allowedSQL)
	require.Contains(t, denialCode(t, err), policy.CodeBudget)

	// A dry run shows the cost and spends nothing.
	msg, _ := statement.NewAt(r.now, statement.KindQuery, policy.Request{SQL: "SELECT COUNT(*) FROM electricity e", Letter: "L-1", Epsilon: "1.5",
		Nonce: statement.NewNonce(), Time: r.now, DryRun: true}, r.parties["bank"].signer)
	res, err := r.c.Query(context.Background(), msg)
	require.NoError(t, err)
	require.Nil(t, res.Result)
	require.Equal(t, "3", res.Decision.Charges[0].Epsilon.String(), "COUNT(*) and group selection: two shares of 1.5")
	ls, _ = r.c.Letter(context.Background(), "L-1")
	require.Zero(t, ls.Spent("electricity"))
}

func TestReplayedQueryIsRefused(t *testing.T) {
	r := newRoom(t, 50)
	msg, _ := statement.NewAt(r.now, statement.KindQuery, policy.Request{SQL: allowedSQL, Letter: "L-1", Epsilon: "0.5",
		Nonce: statement.NewNonce(), Time: r.now}, r.parties["bank"].signer)
	_, err := r.c.Query(context.Background(), msg)
	require.NoError(t, err)
	_, err = r.c.Query(context.Background(), msg)
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, http.StatusConflict, ce.Status)
	require.Contains(t, ce.Message, "replayed query")
	ls, _ := r.c.Letter(context.Background(), "L-1")
	require.Equal(t, "1.5", ls.Spent("loans").String(), "the replay spent nothing")
}

func TestUnsignedAndForeignStatementsAreRejectedAndLogged(t *testing.T) {
	r := newRoom(t, 10)
	before := r.info().Entries
	// Signed by a key the node does not know.
	msg, _ := statement.NewAt(r.now, statement.KindQuery, policy.Request{SQL: allowedSQL, Letter: "L-1", Epsilon: "0.5",
		Nonce: statement.NewNonce(), Time: r.now}, r.parties["stranger"].signer)
	_, err := r.c.Query(context.Background(), msg)
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, http.StatusUnauthorized, ce.Status)
	require.Contains(t, ce.Message, "no signature by a registered party (signed as stranger)")
	// A dataset registered by someone else than its holder.
	ds, _ := statement.NewAt(r.now, statement.KindDataset, policy.Dataset{Name: "x", Holder: "msb", Source: "s", Declaration: testDeclaration, Schema: schemas["permits"],
		Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General}, r.parties["bank"].signer)
	_, err = r.c.Submit(context.Background(), ds)
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Message, "must be signed by its holder msb (Art. 12)")
	// A second registration of the same dataset (Art. 23).
	dup, _ := statement.NewAt(r.now, statement.KindDataset, policy.Dataset{Name: "loans", Holder: "msb", Source: "elsewhere", Declaration: testDeclaration, Schema: schemas["loans"],
		Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General}, r.parties["msb"].signer)
	_, err = r.c.Submit(context.Background(), dup)
	require.ErrorAs(t, err, &ce)
	require.Equal(t, http.StatusConflict, ce.Status)
	require.Contains(t, ce.Message, "each data item has one source (Art. 23)")
	// Each rejection is one ledger entry, and nothing else changed.
	require.Equal(t, before+3, r.info().Entries)
	cat, _ := r.c.Catalog(context.Background())
	require.Len(t, cat, 4)
}

func TestDatasetNameCannotEscape(t *testing.T) {
	r := newRoom(t, 10)
	for _, name := range []string{"../evil", "a/b", "..", "UPPER", ""} {
		msg, _ := statement.NewAt(r.now, statement.KindDataset, policy.Dataset{Name: name, Holder: "msb", Source: "s", Declaration: testDeclaration, Schema: schemas["permits"],
			Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General}, r.parties["msb"].signer)
		_, err := r.c.Submit(context.Background(), msg)
		require.ErrorContains(t, err, "invalid name", name)
	}
	_, err := os.Stat(filepath.Join(r.dir, "evil"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestOversizedStatementIs413(t *testing.T) {
	r := newRoom(t, 10)
	_, err := r.c.Submit(context.Background(), bytes.Repeat([]byte("x"), statement.MaxBytes+1))
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, http.StatusRequestEntityTooLarge, ce.Status)
}

// TestMalformedUploadStoresNothing sends malformed CSV past the client's
// own check, straight to the node, and checks the node's answer names the
// file, line and column, and that nothing of the upload stays.
func TestMalformedUploadStoresNothing(t *testing.T) {
	r := newRoom(t, 10)
	before := r.info().Entries
	info := r.info()
	for _, tc := range []struct{ csv, want string }{
		{"loan_id,uscc,amount,green\nL1,E1,12x,true\n", `bad.csv:2:3: column amount: "12x" is not an integer`},
		{"loan_id,uscc,amount,green\nL1,E1,5\n", "bad.csv:2"},
		{"loan_id,uscc,amount,green\nL1,E1,2000000000,true\n", "outside the declared bounds"},
		{"loan_id,uscc,amount,green\nL1,\"E1,5,true\n", "bad.csv:2"},
	} {
		status, msg := r.rawUpload(t, info.Recipient, "loans", "bad.csv", []byte(tc.csv))
		require.Equal(t, http.StatusUnprocessableEntity, status, msg)
		require.Contains(t, msg, tc.want)
		require.Contains(t, msg, "nothing stored")
	}
	require.Equal(t, before, r.info().Entries, "a rejected upload logs nothing")
	files, _ := os.ReadDir(filepath.Join(r.dir, "sealed", "loans"))
	require.Len(t, files, 1, "only the first, good upload is on disk")

	// The client checks first, and says where, before sending anything.
	bad := filepath.Join(t.TempDir(), "loans.csv")
	os.WriteFile(bad, []byte("loan_id,uscc,amount,green\nL1,E1,12,maybe\n"), 0o644)
	s := schemas["loans"]
	_, err := r.c.UploadCSV(context.Background(), r.parties["bank"].signer, "loans", &s, bad, client.UploadOptions{})
	require.ErrorContains(t, err, "loans.csv:2:4")
}

// rawUpload uploads data sealed to recipient, with a correctly signed
// statement, bypassing the client's own CSV check.
func (r *room) rawUpload(t *testing.T, recipient, dataset, file string, data []byte) (int, string) {
	recips, err := age.ParseRecipients(strings.NewReader(recipient))
	require.NoError(t, err)
	var ct bytes.Buffer
	w, _ := age.Encrypt(&ct, recips...)
	w.Write(data)
	w.Close()
	stmt, _ := statement.NewAt(r.now, statement.KindUpload, policy.Upload{Dataset: dataset, UploadID: strings.Repeat("ab", 16), File: file,
		Rows: 1, PlaintextSHA256: statement.Hash(data)}, r.parties["bank"].signer)
	req, _ := http.NewRequest(http.MethodPut, r.url()+"/v1/uploads", &ct)
	req.Header.Set(api.StatementHeader, base64.StdEncoding.EncodeToString(stmt))
	resp, err := r.httpClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e api.Error
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	return resp.StatusCode, e.Message
}

func TestRestartKeepsEverything(t *testing.T) {
	r := newRoom(t, 1000)
	res1, err := r.query("bank", "L-1", "0.5", "", allowedSQL) // 3 shares: 1.5
	require.NoError(t, err)
	catBefore, _ := r.c.Catalog(context.Background())
	entries := r.info().Entries
	r.stop()

	r.start()
	require.Equal(t, entries, r.info().Entries)
	catAfter, _ := r.c.Catalog(context.Background())
	require.Equal(t, catBefore, catAfter)
	ls, err := r.c.Letter(context.Background(), "L-1")
	require.NoError(t, err)
	require.True(t, ls.State.Approved)
	require.Equal(t, "1.5", ls.Spent("loans").String())
	// Sealed data is still readable, and the budget carries over: this
	// query spends the rest, and the next is denied.
	res2, err := r.query("bank", "L-1", "0.5", "", allowedSQL)
	require.NoError(t, err)
	require.NotEmpty(t, res1.Result.Rows)
	require.NotEmpty(t, res2.Result.Rows)
	_, err = r.query("bank", "L-1", "0.000001", "", allowedSQL)
	require.Contains(t, denialCode(t, err), policy.CodeBudget)
	r.stop()
	rep, err := audit.Verify(filepath.Join(r.dir, "ledger"), nodeKey(t, r.dir))
	require.NoError(t, err)
	require.Equal(t, 2, rep.Allowed)
}

func TestAuditCatchesAFlippedByteInEveryEntry(t *testing.T) {
	r := newRoom(t, 20)
	_, err := r.query("bank", "L-1", "1", "", allowedSQL)
	require.NoError(t, err)
	r.stop()
	ledgerDir := filepath.Join(r.dir, "ledger")
	key := nodeKey(t, r.dir)
	_, err = audit.Verify(ledgerDir, key)
	require.NoError(t, err)

	files, err := os.ReadDir(ledgerDir)
	require.NoError(t, err)
	flips := 0
	for _, f := range files {
		path := filepath.Join(ledgerDir, f.Name())
		orig, err := os.ReadFile(path)
		require.NoError(t, err)
		// Flip one bit in every 7th byte of every file: the log must never
		// verify. (The ledger package flips every byte of a smaller log.)
		for pos := 0; pos < len(orig); pos += 7 {
			b := bytes.Clone(orig)
			b[pos] ^= 0x01
			require.NoError(t, os.WriteFile(path, b, 0o600))
			_, err := audit.Verify(ledgerDir, key)
			require.Error(t, err, "flip at %s:%d went unnoticed", f.Name(), pos)
			flips++
		}
		require.NoError(t, os.WriteFile(path, orig, 0o600))
	}
	require.Greater(t, flips, 100)
}

// TestAuditCatchesAnAlteredDecision rewrites the log after changing one
// decision's budget debit, and re-signs it with the node's own key, as an
// insider could: the tree and checkpoint then verify, but replay does not.
func TestAuditCatchesAnAlteredDecision(t *testing.T) {
	r := newRoom(t, 20)
	res, err := r.query("bank", "L-1", "1", "", allowedSQL)
	require.NoError(t, err)
	r.stop()

	signer, _, err := keys.LoadSigner(filepath.Join(r.dir, "node.key"))
	require.NoError(t, err)
	origin, err := os.ReadFile(filepath.Join(r.dir, "origin"))
	require.NoError(t, err)
	forged := filepath.Join(t.TempDir(), "ledger")
	out, err := ledger.Open(forged, signer, string(origin))
	require.NoError(t, err)
	orig, err := ledger.Open(filepath.Join(r.dir, "ledger"), signer, string(origin))
	require.NoError(t, err)
	defer orig.Close()
	err = orig.Scan(0, func(i uint64, b []byte) error {
		if i == res.DecisionEntry {
			e, err := state.DecodeEntry(b)
			require.NoError(t, err)
			e.Decision.Charges[0].Epsilon = 1 // one micro-epsilon instead of 1
			b, err = e.Encode()
			require.NoError(t, err)
		}
		_, err := out.Append(b)
		return err
	})
	require.NoError(t, err)
	require.Equal(t, orig.Size(), out.Size())
	require.NoError(t, out.Close())

	_, err = audit.Verify(forged, nodeKey(t, r.dir))
	var ee *audit.EntryError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, res.DecisionEntry, ee.Index)
	require.Contains(t, ee.Reason, "the rules give")
}

func (r *room) info() *api.Info {
	i, err := r.c.Info(context.Background())
	require.NoError(r.t, err)
	return i
}

func readNodeInfo(t testing.TB, dir string) node.NodeInfo {
	b, err := os.ReadFile(filepath.Join(dir, "node.json"))
	require.NoError(t, err)
	var ni node.NodeInfo
	require.NoError(t, json.Unmarshal(b, &ni))
	return ni
}

func nodeKey(t testing.TB, dir string) string { return readNodeInfo(t, dir).NodeKey }

func (r *room) url() string { return readNodeInfo(r.t, r.dir).URL }

// httpClient skips certificate checks: the tests talk to their own node on
// loopback. The pinned client is tested through client.New.
func (r *room) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

func tamper(t *testing.T, msg []byte, signer string) []byte {
	lines := strings.Split(string(msg), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "— "+signer+" ") {
			// Replace one base64 character by another, so the signature
			// still decodes but no longer verifies.
			b := []byte(l)
			if k := len(b) - 4; b[k] == 'A' {
				b[k] = 'B'
			} else {
				b[k] = 'A'
			}
			lines[i] = string(b)
			return []byte(strings.Join(lines, "\n"))
		}
	}
	t.Fatalf("no signature by %s", signer)
	return nil
}

func TestClientRefusesAnotherCertificate(t *testing.T) {
	r := newRoom(t, 10)
	wrong := "sha256:" + strings.Repeat("00", 32)
	c, err := client.New(r.url(), wrong)
	require.NoError(t, err)
	_, err = c.Info(context.Background())
	require.ErrorContains(t, err, "does not match the pin")

	_, err = client.New("http://"+strings.TrimPrefix(r.url(), "https://"), readNodeInfo(t, r.dir).Pin)
	require.ErrorContains(t, err, "want https://host:port")
	_, err = client.New(r.url(), "md5:abc")
	require.ErrorContains(t, err, "want sha256:")
}

func TestNodeRefusesToStartWithoutAuthorityOrWithAnother(t *testing.T) {
	_, err := node.Open(node.Config{Dir: t.TempDir()})
	require.ErrorContains(t, err, "needs the authority's verifier key")

	r := newRoom(t, 10)
	r.stop()
	other := newParty(t, "other", policy.PublicBody, "CN")
	_, err = node.Open(node.Config{Dir: r.dir, AuthorityKey: other.vkey})
	require.ErrorContains(t, err, "differs from the authority recorded in the ledger")
}

func TestNodeRefusesADamagedLedger(t *testing.T) {
	r := newRoom(t, 10)
	r.stop()
	path := filepath.Join(r.dir, "ledger", "entries")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x40
	require.NoError(t, os.WriteFile(path, b, 0o600))
	_, err = node.Open(node.Config{Dir: r.dir})
	require.ErrorContains(t, err, "ledger")
	require.ErrorIs(t, err, ledger.ErrSecurity)
}

// A JSON Lines upload lands the same rows as a CSV upload of the same
// table: the sealed plaintext it names is the CSV the node would have
// received, and the rows (of other enterprises) add to the dataset.
func TestUploadJSONL(t *testing.T) {
	const n = 40
	r := newRoom(t, n, func(c *node.Config) { c.Noise = dptest.InsecureNoNoise{} })
	dir := t.TempDir()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"loan_id":"L9%05d","uscc":"F%05d","amount":%d,"green":%t}`+"\n", i, i, 10000+i, i%2 == 0)
	}
	p := filepath.Join(dir, "loans.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	s := schemas["loans"]
	res, err := r.c.UploadJSONL(context.Background(), r.parties["bank"].signer, "loans", &s, p, client.UploadOptions{})
	require.NoError(t, err)
	require.EqualValues(t, n, res.Rows)

	out, err := r.query("bank", "L-1", "0.1", "", "SELECT COUNT(*) FROM loans l")
	require.NoError(t, err)
	require.Equal(t, [][]string{{fmt.Sprint(2 * n)}}, out.Result.Rows)

	// Bad input names the file, line and field, and sends nothing.
	require.NoError(t, os.WriteFile(p, []byte(`{"loan_id":"L1","uscc":"E1","amount":"x","green":true}`+"\n"), 0o644))
	_, err = r.c.UploadJSONL(context.Background(), r.parties["bank"].signer, "loans", &s, p, client.UploadOptions{})
	require.ErrorContains(t, err, "loans.jsonl:1:")
	out, err = r.query("bank", "L-1", "0.1", "", "SELECT COUNT(*) FROM loans l")
	require.NoError(t, err)
	require.Equal(t, [][]string{{fmt.Sprint(2 * n)}}, out.Result.Rows)
}
