package node_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
)

// BenchmarkUploadEndToEnd uploads a loans CSV as a provider does: the
// client checks and hashes it, seals it with age to the node and streams
// it over TLS; the node decrypts in memory, checks every row, stores the
// ciphertext durably and logs the upload. Reported in plaintext MB/s.
func BenchmarkUploadEndToEnd(b *testing.B) {
	r := newRoom(b, 10)
	var sb strings.Builder
	sb.WriteString("loan_id,uscc,amount,green\n")
	for i := range 400_000 {
		fmt.Fprintf(&sb, "L%07d,91650100MA%08d,%d,%t\n", i, i/3, 10000+i*7, i%3 == 0)
	}
	path := filepath.Join(b.TempDir(), "loans.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s := schemas["loans"]
	b.SetBytes(int64(sb.Len()))
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.c.UploadCSV(context.Background(), r.parties["bank"].signer, "loans", &s, path, client.UploadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecisions posts signed queries to the node's HTTP handler from
// 32 clients at once. Each is verified, compiled, decided by the policy
// engine and durable in the ledger (group commit) before it is answered:
// a mix of dry runs and denials, so that the figure is the decision path
// alone, not the enclave. Reported as decisions per second.
func BenchmarkDecisions(b *testing.B) {
	r := newRoom(b, 30)
	srv := httptest.NewServer(r.node.Handler())
	defer srv.Close()
	sqls := []string{"SELECT COUNT(*) FROM loans l", "SELECT * FROM loans"}
	msgs := make([][]byte, b.N)
	for i := range msgs {
		m, err := statement.NewAt(r.now, statement.KindQuery, policy.Request{SQL: sqls[i%2], Letter: "L-1", Epsilon: "0.000001",
			Nonce: statement.NewNonce(), Time: r.now, DryRun: true}, r.parties["bank"].signer)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = m
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(msgs)) {
					return
				}
				resp, err := hc.Post(srv.URL+"/v1/queries", "text/plain", bytes.NewReader(msgs[i]))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusForbidden {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
