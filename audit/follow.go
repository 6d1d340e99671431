package audit

import (
	"fmt"

	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/state"
)

// Replayer replays a ledger entry by entry as Verify does: it applies each
// entry to a state with the node's own code, checking every statement's
// signatures against the keys registered before it, and decides every
// query again, comparing with the recorded decision. It is for a party
// that follows the log as it grows, such as a provider's agent, and checks
// the entries' integrity itself (ledger.Follower); Verify is the auditor's
// whole-directory check. Not safe for concurrent use; State's snapshots
// are.
type Replayer struct {
	r    *replay
	next uint64
}

// NewReplayer returns a Replayer at index 0 of the log whose checkpoints
// nodeKey verifies (the genesis must name that key).
func NewReplayer(nodeKey string) *Replayer {
	return &Replayer{r: &replay{st: state.New(), rep: &Report{Denied: map[string]int{}, Spent: map[string]string{}}, nodeKey: nodeKey, plans: map[string]*planned{}}}
}

// Next returns the index of the next entry to apply.
func (p *Replayer) Next() uint64 { return p.next }

// State returns the state replayed so far.
func (p *Replayer) State() *state.State { return p.r.st }

// Apply replays entry i, which must be Next(). An entry that the rules
// refuse gives an *EntryError naming it; the Replayer then stays where it
// was, so nothing after a bad entry is ever applied.
func (p *Replayer) Apply(i uint64, entry []byte) error {
	if i != p.next {
		return fmt.Errorf("audit: replay: entry %d given, %d is next", i, p.next)
	}
	j := &job{i: i}
	j.e, j.err = state.DecodeEntry(entry)
	if j.err == nil && j.e.Statement != "" {
		// As Verify's pipeline does, against the keys registered so far.
		j.c, j.cerr = statement.Check([]byte(j.e.Statement), p.r.st.Snapshot())
	}
	if err := p.r.apply(j); err != nil {
		return &EntryError{Index: i, Reason: err.Error()}
	}
	p.next++
	return nil
}
