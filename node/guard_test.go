package node_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
)

// restartWith restarts the room's node with a configuration change.
func (r *room) restartWith(o func(*node.Config)) {
	r.stop()
	r.opts = append(r.opts, o)
	r.start()
}

func quotaRefusal(t *testing.T, err error) *client.Error {
	t.Helper()
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, http.StatusTooManyRequests, ce.Status, ce.Message)
	require.Equal(t, api.CodeQuota, ce.Code)
	require.Nil(t, ce.Entry, "a refusal by a quota is not logged in the ledger")
	return ce
}

// TestQuotaRequestRate: a party past its burst is refused with 429 and a
// Retry-After, nothing is logged, and other parties are not affected.
func TestQuotaRequestRate(t *testing.T) {
	r := newRoom(t, 3)
	r.restartWith(func(c *node.Config) { c.Quotas = node.Quotas{Rate: 0.5, Burst: 3, UploadBytes: -1, Queries: -1} })
	scenario := func(i int, who string) error {
		msg, err := statement.NewAt(r.now, statement.KindCorrection, policy.Correction{ID: "C-" + who + strconv.Itoa(i), Dataset: "registry",
			Description: "a wrong row"}, r.parties[who].signer)
		require.NoError(t, err)
		_, err = r.c.Submit(context.Background(), msg)
		return err
	}
	for i := range 3 {
		require.NoError(t, scenario(i, "bank"))
	}
	entries := r.info().Entries
	err := scenario(3, "bank")
	quotaRefusal(t, err)
	require.Equal(t, entries, r.info().Entries)
	// The status and its Retry-After, as a client sees them.
	msg, _ := statement.NewAt(r.now, statement.KindCorrection, policy.Correction{ID: "C-raw", Dataset: "registry", Description: "a wrong row"}, r.parties["bank"].signer)
	resp, err := r.httpClient().Post(r.url()+"/v1/statements", "text/plain", strings.NewReader(string(msg)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, secs, 1)
	require.LessOrEqual(t, secs, 2)
	// Queries count against the same rate.
	_, err = r.query("bank", "L-1", "0.01", "", allowedSQL)
	quotaRefusal(t, err)
	// Another party has its own.
	require.NoError(t, scenario(0, "msb"))
}

// TestQuotaUploadBytes: a party over its upload quota is refused at the
// start of its next upload, with a Retry-After for the bytes it owes.
func TestQuotaUploadBytes(t *testing.T) {
	r := newRoom(t, 3)
	r.restartWith(func(c *node.Config) {
		c.Quotas = node.Quotas{Rate: -1, UploadBytes: 1000, UploadBurst: 10_000, Queries: -1}
	})
	before := r.sealedAll(t)
	data := loansCSV(3000) // about 75 kB: one upload runs far over the burst
	ct, stmt := r.sealedUpload(t, data, strings.Repeat("6", 32), r.parties["bank"].signer)
	status, e := r.put(t, ct, stmt)
	require.Equal(t, http.StatusOK, status, e.Message)
	stored := r.sealedAll(t)
	require.Len(t, stored, len(before)+1)

	ct, stmt = r.sealedUpload(t, data, strings.Repeat("7", 32), r.parties["bank"].signer)
	req, err := http.NewRequest(http.MethodPut, r.url()+"/v1/uploads", strings.NewReader(string(ct)))
	require.NoError(t, err)
	req.Header.Set(api.StatementHeader, base64.StdEncoding.EncodeToString(stmt))
	resp, err := r.httpClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.Greater(t, secs, 30, "about 65 kB owed at 1000 bytes a second")
	require.Equal(t, stored, r.sealedAll(t), "nothing of the refused upload stays")
}

// TestQuotaConcurrentQueries: a party's query past its number of queries
// in flight is refused; once one finishes, the next runs.
func TestQuotaConcurrentQueries(t *testing.T) {
	r := newRoom(t, 20)
	const slot = 1500 * time.Millisecond
	r.restartWith(func(c *node.Config) {
		c.Quotas = node.Quotas{Rate: -1, UploadBytes: -1, Queries: 1}
		c.Slot = slot // holds each answer, and so the query's place, for a while
	})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		_, err := r.query("bank", "L-1", "0.01", "", allowedSQL)
		require.NoError(t, err)
	}()
	time.Sleep(slot / 3)
	_, err := r.query("bank", "L-1", "0.01", "", allowedSQL)
	quotaRefusal(t, err)
	wg.Wait()
	require.GreaterOrEqual(t, time.Since(start), slot)
	_, err = r.query("bank", "L-1", "0.01", "", allowedSQL)
	require.NoError(t, err)
}

// TestAnswersOnTheTimeGrid: released answers and denials leave on the
// time grid, so that latency tells neither the deny path from the allow
// path nor a dataset from its neighbour (one row more). Each latency,
// measured by the client, falls in the first slot; up to half the
// samples in each case may fall later (a machine busy with other work, or
// the race detector, can delay an answer past a slot: that shows in the
// slot count, not in the time within it), but none earlier. TestGridHoldsToTheSlot checks the
// hold itself exactly. Without the grid, denials come back in a few
// milliseconds, in slot 0.
func TestAnswersOnTheTimeGrid(t *testing.T) {
	const slot = 400 * time.Millisecond
	const k = 6
	grid := func(c *node.Config) { c.Slot = slot }
	slots := func(r *room, sql string, allow bool) []int {
		var out []int
		for range k {
			start := time.Now()
			_, err := r.query("bank", "L-1", "0.01", "", sql)
			took := time.Since(start)
			require.Equal(t, allow, err == nil, "%s: %v", sql, err)
			out = append(out, int(took/slot))
		}
		sort.Ints(out)
		return out
	}
	onGrid := func(got []int, what string) {
		t.Helper()
		require.Equal(t, 1, got[0], "%s: %v", what, got)
		require.Equal(t, 1, got[k/2-1], "%s: %v (up to half the samples may be late)", what, got)
	}
	small := newRoom(t, 40, grid)
	neighbour := newRoom(t, 41, grid)
	// The first query of a room decrypts its tables: warm both up.
	for _, r := range []*room{small, neighbour} {
		_, err := r.query("bank", "L-1", "0.01", "", allowedSQL)
		require.NoError(t, err)
	}
	denied := "SELECT l.loan_id, SUM(l.amount) FROM loans l GROUP BY l.loan_id" // a group per unique id
	onGrid(slots(small, allowedSQL, true), "allowed, n rows")
	onGrid(slots(neighbour, allowedSQL, true), "allowed, n+1 rows")
	onGrid(slots(small, denied, false), "denied")
	onGrid(slots(neighbour, denied, false), "denied, n+1 rows")
}
