package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/state"
)

// Proven describes a result whose proofs check out.
type Proven struct {
	Origin        string
	DecisionEntry uint64
	ReleaseEntry  uint64
	// CheckpointSize is the size of the log under which the release was
	// proven.
	CheckpointSize uint64
	Recipient      string
	ResultSHA256   string
}

// Prove checks a released result offline, trusting only the node's key:
// the decision and the release entries are each included in the log under
// a checkpoint the node signed; the release entry names that decision, the
// result's recipient, and the SHA-256 of exactly this result; and the
// decision allowed the query. It says nothing about whether the rules were
// applied rightly: Verify, with replay, checks that over the whole log.
func Prove(res *api.QueryResponse, nodeKey string) (*Proven, error) {
	v, err := note.NewVerifier(nodeKey)
	if err != nil {
		return nil, fmt.Errorf("node key: %v", err)
	}
	if (res.Result == nil && res.HE == nil) || res.ReleaseEntry == nil {
		return nil, errors.New("no released result in this file (a dry run or a denial has none)")
	}
	check := func(what string, entry []byte, text string, index uint64) (*ledger.Checkpoint, *state.Entry, error) {
		p, err := ledger.ParseProof([]byte(text))
		if err != nil {
			return nil, nil, fmt.Errorf("%s proof: %w", what, err)
		}
		if p.Index != index {
			return nil, nil, fmt.Errorf("%s proof is for entry %d, the result names entry %d", what, p.Index, index)
		}
		cp, err := p.Verify(entry, v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s entry %d is not proven in the log: %w", what, index, err)
		}
		e, err := state.DecodeEntry(entry)
		if err != nil {
			return nil, nil, fmt.Errorf("%s entry %d: %w", what, index, err)
		}
		return cp, e, nil
	}
	_, de, err := check("decision", res.DecisionLogged, res.DecisionProof, res.DecisionEntry)
	if err != nil {
		return nil, err
	}
	cp, re, err := check("release", res.ReleaseLogged, res.ReleaseProof, *res.ReleaseEntry)
	if err != nil {
		return nil, err
	}
	if de.Kind != state.KindDecision || de.Decision == nil || !de.Decision.Allow {
		return nil, fmt.Errorf("entry %d is not a decision that allowed a query", res.DecisionEntry)
	}
	if re.Kind != state.KindRelease || re.Release == nil {
		return nil, fmt.Errorf("entry %d is not a release", *res.ReleaseEntry)
	}
	if re.Release.Decision != res.DecisionEntry {
		return nil, fmt.Errorf("release entry %d is for decision %d, not %d", *res.ReleaseEntry, re.Release.Decision, res.DecisionEntry)
	}
	// In HE mode the node released ciphertexts under the operator's key:
	// those are what the log names. The decrypted result beside them is
	// the operator's own reading, which only its key can check.
	var released any = res.Result
	if res.HE != nil {
		released = res.HE
	}
	b, err := json.Marshal(released)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != re.Release.ResultSHA256 {
		return nil, fmt.Errorf("the result in this file hashes to %s; the log released %s", got, re.Release.ResultSHA256)
	}
	return &Proven{Origin: cp.Origin, DecisionEntry: res.DecisionEntry, ReleaseEntry: *res.ReleaseEntry,
		CheckpointSize: cp.Size, Recipient: re.Release.Recipient, ResultSHA256: re.Release.ResultSHA256}, nil
}
