package node_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
)

// TestConcurrentQueriesSpendTheBudgetExactly sends 1,000 queries at once,
// each costing 0.01 (two shares of 0.005), against a budget of 1.00 on
// the dataset: exactly 100 are allowed, every run, and the ledger's
// debits add up to the budget.
func TestConcurrentQueriesSpendTheBudgetExactly(t *testing.T) {
	r := newRoom(t, 30)
	l := r.defaultLetter("L-c")
	for i := range l.Datasets {
		l.Datasets[i].Epsilon = 1_000_000
	}
	r.letter(l, true, "bank", "msb", "grid")

	// The node's own handler, over plain HTTP in-process: the concurrency
	// under test is the node's, not TLS's.
	srv := httptest.NewServer(r.node.Handler())
	defer srv.Close()
	const n = 1000
	msgs := make([][]byte, n)
	for i := range msgs {
		m, err := statement.NewAt(r.now, statement.KindQuery, policy.Request{SQL: "SELECT COUNT(*) FROM loans l", Letter: "L-c", Epsilon: "0.005",
			Nonce: statement.NewNonce(), Time: r.now}, r.parties["bank"].signer)
		require.NoError(t, err)
		msgs[i] = m
	}
	var mu sync.Mutex
	status := map[int]int{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, m := range msgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := http.Post(srv.URL+"/v1/queries", "text/plain", bytes.NewReader(m))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden {
				var e api.Error
				json.NewDecoder(resp.Body).Decode(&e)
				if e.Decision == nil || !e.Decision.Has(policy.CodeBudget) {
					t.Errorf("denied for another reason: %s", e.Message)
				}
			}
			mu.Lock()
			status[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Equal(t, map[int]int{http.StatusOK: 100, http.StatusForbidden: 900}, status)
	ls, err := r.c.Letter(t.Context(), "L-c")
	require.NoError(t, err)
	require.Equal(t, dp.Epsilon(1_000_000), ls.Spent("loans"))
}
