package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/xjdata/cleanroom/policy"
)

// Version is the entry format version written by this code.
const Version = 1

// EntryKind says what a ledger entry records.
type EntryKind string

// The entry kinds.
const (
	// KindGenesis is the first entry: the deployment's origin, the node's
	// key and the authority's key.
	KindGenesis EntryKind = "genesis"
	// KindStatement records an accepted signed statement (party, dataset,
	// upload, letter, approval).
	KindStatement EntryKind = "statement"
	// KindDecision records a query statement and the policy decision on it,
	// with the budget it debits. It is durable before anything runs.
	KindDecision EntryKind = "decision"
	// KindRelease records a result delivered: its hash and recipient
	// (Art. 42(4)).
	KindRelease EntryKind = "release"
	// KindRejection records a statement refused before it could act:
	// unsigned, mis-signed, from an unregistered key, or malformed.
	KindRejection EntryKind = "rejection"
)

// Entry is one ledger entry, encoded as JSON. Entries never hold row data,
// secret keys or results: only hashes of them.
type Entry struct {
	V    int       `json:"v"`
	Kind EntryKind `json:"kind"`
	// Time is the node's clock when the entry was made.
	Time time.Time `json:"time"`
	// Statement is the signed statement as received, when it is a
	// well-formed note of at most statement.MaxBytes.
	Statement string      `json:"statement,omitempty"`
	Genesis   *Genesis    `json:"genesis,omitempty"`
	Upload    *Receipt    `json:"upload,omitempty"`
	Decision  *Decided    `json:"decision,omitempty"`
	Release   *Release    `json:"release,omitempty"`
	Rejection *Rejection  `json:"rejection,omitempty"`
	HEKey     *HEKeyEntry `json:"hekey,omitempty"`
	HEResult  *HEResult   `json:"heresult,omitempty"`
	// Destroyed is the node's evidence with a destroy statement.
	Destroyed *Destroyed `json:"destroyed,omitempty"`
}

// Genesis starts a deployment's ledger.
type Genesis struct {
	Origin string `json:"origin"`
	// NodeKey is the node's note verifier key, which signs checkpoints.
	NodeKey string `json:"node_key"`
	// AuthorityKey is the verifier key of the authority, the only key
	// that may register parties.
	AuthorityKey string `json:"authority_key"`
	// Recipient is the node's age recipient for sealed uploads.
	Recipient string `json:"recipient"`
	// Window is how far a signed statement's time may be from the time of
	// the entry that logs it, as a Go duration ("10m0s"); LetterWindow is
	// how long a commitment letter, which gathers several signatures, may
	// take from its time to its entry. Empty means DefaultWindow and
	// DefaultLetterWindow. They are fixed for the deployment's life, so
	// that a replay judges every statement as the node did.
	Window       string `json:"window,omitempty"`
	LetterWindow string `json:"letter_window,omitempty"`
}

// Windows returns the genesis's windows, with the defaults for empty ones.
func (g *Genesis) Windows() (window, letter time.Duration, err error) {
	window, letter = DefaultWindow, DefaultLetterWindow
	if g.Window != "" {
		if window, err = parseWindow(g.Window); err != nil {
			return 0, 0, fmt.Errorf("genesis: window: %w", err)
		}
	}
	if g.LetterWindow != "" {
		if letter, err = parseWindow(g.LetterWindow); err != nil {
			return 0, 0, fmt.Errorf("genesis: letter window: %w", err)
		}
	}
	if letter < window {
		return 0, 0, fmt.Errorf("genesis: the letter window %v is shorter than the window %v", letter, window)
	}
	return window, letter, nil
}

func parseWindow(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d.String() != s {
		return 0, fmt.Errorf("%q is not a duration in Go's canonical form (such as 10m0s)", s)
	}
	if d < time.Second || d > MaxWindow {
		return 0, fmt.Errorf("%v is outside [1s, %v]", d, MaxWindow)
	}
	return d, nil
}

// Receipt is the node's account of a sealed upload.
type Receipt struct {
	// Received is when the node began to receive the upload, which may be
	// long before its entry: the upload statement's time is judged
	// against it. Zero means the entry's time.
	Received         time.Time `json:"received,omitzero"`
	CiphertextSHA256 string    `json:"ciphertext_sha256"`
	CiphertextBytes  int64     `json:"ciphertext_bytes"`
	PlaintextBytes   int64     `json:"plaintext_bytes"`
}

// Decided is a query's decision as logged.
type Decided struct {
	policy.Decision
	// PlanSHA256 is the hex SHA-256 of the compiled plan's JSON, so that a
	// replay can tell it compiled the same plan.
	PlanSHA256 string `json:"plan_sha256,omitempty"`
}

// Release records a delivered result.
type Release struct {
	Decision  uint64 `json:"decision"` // ledger index of the decision
	Recipient string `json:"recipient"`
	// ResultSHA256 is the hex SHA-256 of the result as delivered.
	ResultSHA256 string `json:"result_sha256"`
	Rows         int    `json:"rows"`
}

// Rejection records a refused statement.
type Rejection struct {
	// StatementSHA256 is the hex SHA-256 of what was received.
	StatementSHA256 string `json:"statement_sha256"`
	// Claimed is the statement kind and signer names it claimed, if it
	// parsed that far.
	ClaimedKind    string   `json:"claimed_kind,omitempty"`
	ClaimedSigners []string `json:"claimed_signers,omitempty"`
	// Letter is set when a commitment letter was refused: queries naming
	// it are then denied with Reason.
	Letter string `json:"letter,omitempty"`
	Reason string `json:"reason"`
}

// Encode returns the entry's bytes as stored in the ledger.
func (e *Entry) Encode() ([]byte, error) {
	e.V = Version
	return json.Marshal(e)
}

// DecodeEntry parses a ledger entry strictly.
func DecodeEntry(b []byte) (*Entry, error) {
	var e Entry
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil {
		return nil, fmt.Errorf("entry: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("entry: trailing data")
	}
	if e.V != Version {
		return nil, fmt.Errorf("entry: version %d, this build reads %d", e.V, Version)
	}
	return &e, nil
}
