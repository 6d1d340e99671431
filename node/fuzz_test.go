package node_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
)

// fuzzRoutes are the requests whose bodies (or signed headers) the node
// decodes.
var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/v1/statements"},
	{http.MethodPost, "/v1/queries"},
	{http.MethodPost, "/v1/he/queries"},
	{http.MethodPut, "/v1/uploads"},
	{http.MethodGet, "/v1/catalog"},
	{http.MethodPost, "/v1/mhe/setup"},
	{http.MethodPost, "/v1/mhe/finish"},
	{http.MethodGet, "/v1/ledger/entries"},
}

// FuzzAPIBodies sends arbitrary bodies and signed headers to every route
// that decodes one, through the node's handler: it never panics, never
// answers 500, and every refusal is a JSON api.Error with a code.
func FuzzAPIBodies(f *testing.F) {
	r := newRoom(f, 3)
	bank := r.parties["bank"].signer
	q, _ := statement.NewAt(r.now, statement.KindQuery, policy.Request{SQL: allowedSQL, Letter: "L-1", Epsilon: "0.01", Nonce: statement.NewNonce(), Time: r.now}, bank)
	read, _ := statement.NewAt(r.now, statement.KindRead, api.Read{Path: "/v1/catalog", Time: r.now}, bank)
	corr, _ := statement.NewAt(r.now, statement.KindCorrection, policy.Correction{ID: "C-1", Dataset: "registry", Description: "x"}, bank)
	he, _ := json.Marshal(api.HEQuery{Statement: string(q), ResultKey: []byte{1, 2, 3}})
	ct, up := r.sealedUpload(f, loansCSV(3), strings.Repeat("9", 32), bank)
	for i := range fuzzRoutes {
		f.Add(uint8(i), []byte{}, "")
	}
	f.Add(uint8(0), corr, "")
	f.Add(uint8(1), q, "")
	f.Add(uint8(2), he, "")
	f.Add(uint8(3), ct, string(up))
	f.Add(uint8(4), []byte{}, string(read))
	f.Add(uint8(0), []byte("cleanroom/v2 query 2026-06-01T12:00:00Z 0123456789abcdef0123456789abcdef\n{}\n\n— bank AAAA\n"), "")
	h := r.node.Handler()
	f.Fuzz(func(t *testing.T, route uint8, body []byte, header string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(rt.method, rt.path+"?from=0&count=1", bytes.NewReader(body))
		if header != "" {
			enc := base64.StdEncoding.EncodeToString([]byte(header))
			req.Header.Set(api.StatementHeader, enc)
			req.Header.Set(api.AuthHeader, enc)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: %d %s", rt.method, rt.path, w.Code, w.Body.String())
		}
		if w.Code >= 400 {
			var e api.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" {
				t.Fatalf("%s %s: %d with a body that is not an api.Error: %q", rt.method, rt.path, w.Code, w.Body.String())
			}
		}
	})
}
