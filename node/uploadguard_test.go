package node_test

import (
	"bytes"
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
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/state"
)

// sealedUpload encrypts data to the node and returns the ciphertext and
// a signed upload statement for it (upload id id).
func (r *room) sealedUpload(t testing.TB, data []byte, id string, signers ...note.Signer) ([]byte, []byte) {
	return r.sealedUploadTo(t, "loans", data, id, signers...)
}

// sealedUploadTo is sealedUpload to another dataset.
func (r *room) sealedUploadTo(t testing.TB, dataset string, data []byte, id string, signers ...note.Signer) ([]byte, []byte) {
	rows := int64(bytes.Count(data, []byte("\n")) - 1)
	return r.sealedUploadAs(t, policy.Upload{Dataset: dataset, UploadID: id, File: dataset + ".csv", Rows: rows}, data, signers...)
}

// sealedUploadAs encrypts data to the node and returns the ciphertext and
// a signed upload statement u, with the hash of data.
func (r *room) sealedUploadAs(t testing.TB, u policy.Upload, data []byte, signers ...note.Signer) ([]byte, []byte) {
	recips, err := age.ParseRecipients(strings.NewReader(readNodeInfo(t, r.dir).Recipient))
	require.NoError(t, err)
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, recips...)
	require.NoError(t, err)
	w.Write(data)
	require.NoError(t, w.Close())
	u.PlaintextSHA256 = statement.Hash(data)
	stmt, err := statement.NewAt(r.now, statement.KindUpload, u, signers...)
	require.NoError(t, err)
	return ct.Bytes(), stmt
}

// put sends an upload and returns the status and the error body.
func (r *room) put(t *testing.T, ct, stmt []byte) (int, api.Error) {
	req, err := http.NewRequest(http.MethodPut, r.url()+"/v1/uploads", bytes.NewReader(ct))
	require.NoError(t, err)
	req.Header.Set(api.StatementHeader, base64.StdEncoding.EncodeToString(stmt))
	resp, err := r.httpClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e api.Error
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

func loansCSV(n int) []byte {
	var b strings.Builder
	b.WriteString("loan_id,uscc,amount,green\n")
	for i := range n {
		fmt.Fprintf(&b, "N%05d,G%05d,%d,%t\n", i, i, i+1, i%2 == 0)
	}
	return []byte(b.String())
}

// sealedAll lists every file under sealed/ and he/uploads/.
func (r *room) sealedAll(t *testing.T) []string {
	var out []string
	for _, d := range []string{"sealed", filepath.Join("he", "uploads")} {
		filepath.WalkDir(filepath.Join(r.dir, d), func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// TestUploadOneByteOverTheLimit: an upload of exactly the limit is taken;
// one byte over gets 413 and leaves nothing.
func TestUploadOneByteOverTheLimit(t *testing.T) {
	data := loansCSV(2000)
	// The ciphertext's size depends only on the plaintext's: measure it.
	probe := newRoom(t, 3)
	ct, _ := probe.sealedUpload(t, data, strings.Repeat("0", 32), probe.parties["bank"].signer)
	limit := int64(len(ct)) - 1
	probe.stop()

	r := newRoom(t, 3, func(c *node.Config) { c.MaxUploadBytes = limit })
	before := r.sealedAll(t)
	ct, stmt := r.sealedUpload(t, data, strings.Repeat("1", 32), r.parties["bank"].signer)
	require.Equal(t, limit+1, int64(len(ct)))
	status, e := r.put(t, ct, stmt)
	require.Equal(t, http.StatusRequestEntityTooLarge, status, e.Message)
	require.Equal(t, api.CodeTooLarge, e.Code)
	require.Contains(t, e.Message, fmt.Sprintf("upload larger than %d bytes", limit))
	require.Equal(t, before, r.sealedAll(t), "nothing of it stays")

	r.stop()
	r.opts = []func(*node.Config){func(c *node.Config) { c.MaxUploadBytes = limit + 1 }}
	r.start()
	ct, stmt = r.sealedUpload(t, data, strings.Repeat("2", 32), r.parties["bank"].signer)
	status, e = r.put(t, ct, stmt)
	require.Equal(t, http.StatusOK, status, e.Message)
}

// TestUploadSignaturesChecked: an upload without a signature by a
// registered key, with a signature that does not verify, or signed by a
// party that does not hold the dataset is refused before its body is
// read, logged, and leaves nothing.
func TestUploadSignaturesChecked(t *testing.T) {
	r := newRoom(t, 3)
	before := r.sealedAll(t)
	data := loansCSV(10)
	ct, good := r.sealedUpload(t, data, strings.Repeat("3", 32), r.parties["bank"].signer)
	for _, tc := range []struct {
		name   string
		stmt   []byte
		status int
		reason string
	}{
		{"unsigned", func() []byte {
			_, s := r.sealedUpload(t, data, strings.Repeat("4", 32), r.parties["stranger"].signer)
			return s
		}(),
			http.StatusUnauthorized, "no signature by a registered party"},
		{"wrongly signed", tamper(t, good, "bank"), http.StatusUnauthorized, "signature by bank does not verify"},
		{"signed by another party", func() []byte {
			_, s := r.sealedUpload(t, data, strings.Repeat("5", 32), r.parties["msb"].signer)
			return s
		}(),
			http.StatusUnprocessableEntity, "must be signed by its holder bank"},
	} {
		status, e := r.put(t, ct, tc.stmt)
		require.Equal(t, tc.status, status, "%s: %s", tc.name, e.Message)
		require.Contains(t, e.Message, tc.reason, tc.name)
		require.NotNil(t, e.Entry, "%s: the refusal is logged", tc.name)
		entry := r.entry(*e.Entry)
		require.Equal(t, state.KindRejection, entry.Kind, tc.name)
		require.Equal(t, statement.Hash(tc.stmt), entry.Rejection.StatementSHA256, tc.name)
		require.Equal(t, before, r.sealedAll(t), "%s: nothing stays", tc.name)
	}
	status, e := r.put(t, ct, good)
	require.Equal(t, http.StatusOK, status, e.Message)
}

// TestUploadFormatChecked: the plaintext must be in the form the signed
// statement names, which is one the node knows; an upload that is not is
// refused and leaves nothing.
func TestUploadFormatChecked(t *testing.T) {
	r := newRoom(t, 3)
	bank := r.parties["bank"].signer
	before := r.sealedAll(t)
	s := schemas["loans"]
	text := loansCSV(10)
	rows, err := csv.ReadAll(bytes.NewReader(text), &s, csv.Options{})
	require.NoError(t, err)
	var part bytes.Buffer
	require.NoError(t, columnar.EncodePart(&part, &s, rows))

	for _, tc := range []struct {
		name   string
		format string
		data   []byte
		status int
		want   string
	}{
		{"a part sent as a CSV", "", part.Bytes(), http.StatusUnprocessableEntity, `the signed statement names the format "", the plaintext is crpart2`},
		{"a CSV sent as a part", policy.UploadColumnar, text, http.StatusUnprocessableEntity, `the signed statement names the format "crpart2", the plaintext is csv`},
		{"an unknown format", "parquet", text, http.StatusUnprocessableEntity, `unknown format "parquet"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("%032x", len(tc.name))
			ct, stmt := r.sealedUploadAs(t, policy.Upload{Dataset: "loans", UploadID: id, File: "loans", Rows: 10, Format: tc.format}, tc.data, bank)
			status, e := r.put(t, ct, stmt)
			require.Equal(t, tc.status, status, e.Message)
			require.Contains(t, e.Message, tc.want)
			require.Equal(t, before, r.sealedAll(t), "nothing of it stays")
		})
	}
	ct, stmt := r.sealedUploadAs(t, policy.Upload{Dataset: "loans", UploadID: strings.Repeat("9", 32), File: "loans", Rows: 10, Format: policy.UploadColumnar}, part.Bytes(), bank)
	status, e := r.put(t, ct, stmt)
	require.Equal(t, http.StatusOK, status, e.Message)
}
