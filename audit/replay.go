package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// job is one entry on its way through the pipeline.
type job struct {
	i     uint64
	e     *state.Entry
	err   error
	c     *statement.Checked
	cerr  error
	ready chan struct{}
}

// pipeline checks statements' signatures in parallel ahead of an in-order
// replay.
type pipeline struct {
	r       *replay
	keys    *keySet
	work    chan *job
	order   chan *job
	failed  atomic.Pointer[error]
	workers sync.WaitGroup
	done    chan struct{}
}

// window bounds how far the parallel checks run ahead of the replay.
const window = 4096

func newPipeline(r *replay) *pipeline {
	p := &pipeline{r: r, keys: &keySet{m: map[string]note.Verifier{}},
		work: make(chan *job, window), order: make(chan *job, window), done: make(chan struct{})}
	for range runtime.GOMAXPROCS(0) {
		p.workers.Add(1)
		go func() {
			defer p.workers.Done()
			for j := range p.work {
				j.c, j.cerr = statement.Check([]byte(j.e.Statement), p.keys)
				close(j.ready)
			}
		}()
	}
	go func() {
		defer close(p.done)
		for j := range p.order {
			<-j.ready
			if p.failed.Load() != nil {
				continue
			}
			if err := p.r.apply(j); err != nil {
				err = &EntryError{Index: j.i, Reason: err.Error()}
				p.failed.Store(&err)
			}
		}
	}()
	return p
}

// feed receives the ledger's entries in order; it is ledger.Verify's
// callback.
func (p *pipeline) feed(i uint64, b []byte) error {
	if errp := p.failed.Load(); errp != nil {
		return *errp
	}
	j := &job{i: i, ready: make(chan struct{})}
	j.e, j.err = state.DecodeEntry(b)
	if j.err == nil {
		p.keys.learn(j.e)
	}
	if j.err != nil || j.e.Statement == "" {
		close(j.ready)
	} else {
		p.work <- j
	}
	p.order <- j
	return nil
}

// close drains the pipeline and returns the replay's first error.
func (p *pipeline) close() error {
	close(p.work)
	close(p.order)
	p.workers.Wait()
	<-p.done
	if errp := p.failed.Load(); errp != nil {
		return *errp
	}
	return nil
}

// partyHeader starts every party statement: only those register keys.
const partyHeader = statement.Header + " " + string(statement.KindParty) + "\n"

// keySet holds every key an entry so far has tried to register: a superset
// of the keys the replay knows at any point, which statement.Check allows.
type keySet struct {
	mu sync.RWMutex
	m  map[string]note.Verifier // by name+hash
}

func (k *keySet) learn(e *state.Entry) {
	var vkey string
	switch {
	case e.Genesis != nil:
		vkey = e.Genesis.AuthorityKey
	case strings.HasPrefix(e.Statement, partyHeader):
		st, err := statement.Parse([]byte(e.Statement))
		if err != nil || st.Kind != statement.KindParty {
			return
		}
		var p policy.Party
		if st.Decode(&p) != nil {
			return
		}
		vkey = p.Key
	default:
		return
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return
	}
	k.mu.Lock()
	k.m[fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())] = v
	k.mu.Unlock()
}

// Verifier implements note.Verifiers.
func (k *keySet) Verifier(name string, hash uint32) (note.Verifier, error) {
	k.mu.RLock()
	v, ok := k.m[fmt.Sprintf("%s+%08x", name, hash)]
	k.mu.RUnlock()
	if !ok {
		return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
	}
	return v, nil
}

// replay rebuilds the state entry by entry with the node's own
// state.Apply, and decides every query again.
type replay struct {
	st      *state.State
	rep     *Report
	nodeKey string
	// plans caches compiled queries by SQL. Compiling depends only on the
	// SQL and the catalogue, so the cache is dropped whenever a dataset
	// registers.
	plans map[string]*planned
}

type planned struct {
	plan *query.Plan
	err  error
}

func (r *replay) apply(j *job) error {
	if j.err != nil {
		return j.err
	}
	if j.cerr != nil {
		return j.cerr
	}
	i, e := j.i, j.e
	if i == 0 && (e.Genesis == nil || e.Genesis.NodeKey != r.nodeKey) {
		return errors.New("genesis does not name the node key the checkpoint is verified with")
	}
	rep := r.rep
	switch e.Kind {
	case state.KindDecision:
		if err := r.decide(e, j.c); err != nil {
			return err
		}
		if e.Decision.Allow {
			rep.Allowed++
		}
		for _, reason := range e.Decision.Reasons {
			rep.Denied[reason.Code]++
		}
	case state.KindRejection:
		rep.Rejections++
	case state.KindRelease:
		rep.Releases++
	case state.KindStatement:
		if e.Upload != nil {
			rep.Uploads++
		}
		if j.c != nil && j.c.Kind() == statement.KindDataset {
			clear(r.plans)
		}
	}
	if j.c != nil {
		r.st.Prime(i, j.c)
	}
	return r.st.Apply(i, e)
}

// decide decides the entry's query again, on the state as it stood, at
// the recorded time, and compares with the recorded decision.
func (r *replay) decide(e *state.Entry, c *statement.Checked) error {
	if e.Decision == nil {
		return errors.New("decision entry without decision")
	}
	if c == nil {
		return errors.New("decision entry without a query statement")
	}
	snap := r.st.Snapshot()
	s, err := c.Resolve(snap)
	if err != nil {
		return fmt.Errorf("query statement: %v", err)
	}
	var req policy.Request
	if err := s.Decode(&req); err != nil {
		return err
	}
	pl, ok := r.plans[req.SQL]
	if !ok {
		pl = &planned{}
		pl.plan, pl.err = query.Compile(req.SQL, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
			d, ok := snap.Dataset(name)
			if !ok {
				return nil, false
			}
			return &d.Schema, true
		}))
		r.plans[req.SQL] = pl
	}
	var want *policy.Decision
	if pl.err != nil {
		want = policy.Invalid(pl.err)
	} else {
		want = policy.Evaluate(snap, policy.Input{Requester: s.Signers[0], Request: req, Plan: pl.plan, Time: e.Time})
	}
	got, _ := json.Marshal(e.Decision.Decision)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		return fmt.Errorf("recorded decision %s, the rules give %s", got, exp)
	}
	return nil
}
