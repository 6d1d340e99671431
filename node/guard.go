package node

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/xjdata/cleanroom/internal/api"
)

// Quotas bounds what one party may ask of the node. A request over a
// quota is refused with 429 and a Retry-After header (whole seconds);
// nothing of it is done, and it is not logged in the ledger (so that a
// flood cannot fill it), only in the node's log. Parties are known by
// their verified signature; a request that does not verify is refused
// before any quota is charged.
//
// The zero value of each field takes its default; a negative value turns
// that limit off.
type Quotas struct {
	// Rate is how many signed requests (statements, queries, uploads) a
	// party may make per second on average, and Burst how many at once.
	// Default to 100 per second and 500.
	Rate  float64
	Burst int
	// UploadBytes is how many bytes of uploads a party may send per
	// second on average, and UploadBurst how many at once. An upload is
	// refused at its start while the party is over its quota; one that
	// runs over it finishes (each is bounded by MaxUploadBytes) and the
	// next waits. Default to 256 MiB per second and 8 GiB.
	UploadBytes float64
	UploadBurst int64
	// Queries is how many queries of one party may run at once. Defaults
	// to 8.
	Queries int
}

// The default quotas.
const (
	DefaultRate        = 100
	DefaultBurst       = 500
	DefaultUploadBytes = 256 << 20
	DefaultUploadBurst = 8 << 30
	DefaultQueries     = 8
)

func (q Quotas) withDefaults() Quotas {
	if q.Rate == 0 {
		q.Rate = DefaultRate
	}
	if q.Burst == 0 {
		q.Burst = DefaultBurst
	}
	if q.UploadBytes == 0 {
		q.UploadBytes = DefaultUploadBytes
	}
	if q.UploadBurst == 0 {
		q.UploadBurst = DefaultUploadBurst
	}
	if q.Queries == 0 {
		q.Queries = DefaultQueries
	}
	return q
}

// bucket is a token bucket: tokens accrue at rate per second up to
// burst; a charge may take it below zero (a debt paid back by waiting).
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if b.last.IsZero() {
		b.tokens, b.last = burst, now
		return
	}
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = math.Min(burst, b.tokens+d*rate)
		b.last = now
	}
}

// wait is how long until the bucket holds at least need tokens.
func (b *bucket) wait(need, rate float64) time.Duration {
	if b.tokens >= need {
		return 0
	}
	return time.Duration((need - b.tokens) / rate * float64(time.Second))
}

// partyQuota is one party's state.
type partyQuota struct {
	requests bucket
	upload   bucket
	queries  int
}

// guard enforces Quotas. Safe for concurrent use.
type guard struct {
	q   Quotas
	now func() time.Time

	mu      sync.Mutex
	parties map[string]*partyQuota
}

func newGuard(q Quotas) *guard {
	return &guard{q: q.withDefaults(), now: time.Now, parties: map[string]*partyQuota{}}
}

// quotaError is a refusal by a quota: 429 with Retry-After.
type quotaError struct {
	party, what string
	retry       time.Duration
}

func (e *quotaError) Error() string {
	return fmt.Sprintf("quota: %s is over its %s; retry after %s", e.party, e.what, e.retry.Round(time.Millisecond))
}

func (g *guard) party(name string) *partyQuota {
	p := g.parties[name]
	if p == nil {
		p = &partyQuota{}
		g.parties[name] = p
	}
	return p
}

// request charges one request to party.
func (g *guard) request(party string) error {
	if g.q.Rate < 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.party(party)
	p.requests.refill(g.now(), g.q.Rate, float64(g.q.Burst))
	if w := p.requests.wait(1, g.q.Rate); w > 0 {
		return &quotaError{party: party, what: fmt.Sprintf("request rate (%g per second, %d at once)", g.q.Rate, g.q.Burst), retry: w}
	}
	p.requests.tokens--
	return nil
}

// upload refuses an upload while party is over its upload quota; else it
// returns a function that charges the bytes read.
func (g *guard) upload(party string) (func(n int64), error) {
	if g.q.UploadBytes < 0 {
		return func(int64) {}, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.party(party)
	p.upload.refill(g.now(), g.q.UploadBytes, float64(g.q.UploadBurst))
	if w := p.upload.wait(1, g.q.UploadBytes); w > 0 {
		return nil, &quotaError{party: party, what: fmt.Sprintf("upload quota (%g bytes per second, %d at once)", g.q.UploadBytes, g.q.UploadBurst), retry: w}
	}
	return func(n int64) {
		g.mu.Lock()
		p.upload.refill(g.now(), g.q.UploadBytes, float64(g.q.UploadBurst))
		p.upload.tokens -= float64(n)
		g.mu.Unlock()
	}, nil
}

// query takes one of party's query slots; release gives it back.
func (g *guard) query(party string) (release func(), err error) {
	if g.q.Queries < 0 {
		return func() {}, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.party(party)
	if p.queries >= g.q.Queries {
		return nil, &quotaError{party: party, what: fmt.Sprintf("concurrent queries (%d)", g.q.Queries), retry: time.Second}
	}
	p.queries++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			p.queries--
			g.mu.Unlock()
		})
	}, nil
}

// refuse answers a request refused by a quota.
func (n *Node) refuseQuota(w http.ResponseWriter, err *quotaError) {
	secs := int64(math.Ceil(err.retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	n.log.Warn("request over quota", "party", err.party, "quota", err.what)
	writeErr(w, http.StatusTooManyRequests, api.CodeQuota, err.Error(), nil)
}

// countingBody charges what is read from an upload's body.
type countingBody struct {
	r      interface{ Read([]byte) (int, error) }
	charge func(int64)
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.charge(int64(n))
	}
	return n, err
}

// DefaultSlot is the time grid on which query answers leave the node.
const DefaultSlot = 50 * time.Millisecond

// gridWriter holds back an answer until the next point of a time grid
// counted from the request's arrival, so that how long the node worked
// (noise drawn, rows read, the deny path taken) shows only as a whole
// number of slots.
type gridWriter struct {
	http.ResponseWriter
	start time.Time
	slot  time.Duration
	sleep func(time.Duration)
	held  bool
}

func (g *gridWriter) hold() {
	if g.held || g.slot <= 0 {
		return
	}
	g.held = true
	elapsed := time.Since(g.start)
	slots := elapsed/g.slot + 1
	g.sleep(time.Duration(slots)*g.slot - elapsed)
}

func (g *gridWriter) WriteHeader(code int) {
	g.hold()
	g.ResponseWriter.WriteHeader(code)
}

func (g *gridWriter) Write(b []byte) (int, error) {
	g.hold()
	return g.ResponseWriter.Write(b)
}
