package node

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestGridHoldsToTheSlot: an answer written after any amount of work is
// held until the next whole slot from the request's arrival, and the hold
// happens once, before the first byte.
func TestGridHoldsToTheSlot(t *testing.T) {
	const slot = 50 * time.Millisecond
	for _, worked := range []time.Duration{0, time.Millisecond, 49 * time.Millisecond, 51 * time.Millisecond, 120 * time.Millisecond, 1234 * time.Millisecond} {
		var slept []time.Duration
		g := &gridWriter{ResponseWriter: httptest.NewRecorder(), start: time.Now().Add(-worked), slot: slot,
			sleep: func(d time.Duration) { slept = append(slept, d) }}
		g.WriteHeader(200)
		g.Write([]byte("x"))
		if len(slept) != 1 {
			t.Fatalf("worked %v: held %d times", worked, len(slept))
		}
		total := worked + slept[0]
		want := (worked/slot + 1) * slot
		// The clock moves between the start and the hold: allow for it.
		if d := total - want; d < -5*time.Millisecond || d > 5*time.Millisecond || slept[0] <= 0 {
			t.Errorf("worked %v, held %v: answered at %v, want %v", worked, slept[0], total, want)
		}
	}
	g := &gridWriter{ResponseWriter: httptest.NewRecorder(), start: time.Now(), slot: -1, sleep: func(time.Duration) { t.Error("a negative slot holds") }}
	g.WriteHeader(200)
}
