// Package api defines the JSON bodies of the node's HTTP API, shared by the
// node and the client.
//
// # Endpoints
//
//	GET  /v1/info                 Info
//	POST /v1/statements           a signed statement (party, dataset, letter, approval, scenario,
//	                              revocation, agent, incident, seal, export-assessment) -> Submitted
//	PUT  /v1/uploads              age ciphertext body; header Cleanroom-Statement -> Uploaded
//	POST /v1/queries              a signed query statement -> QueryResponse
//	GET  /v1/catalog              []DatasetInfo (Art. 25)
//	GET  /v1/incidents            []policy.Incident, open and closed (Art. 57(6))
//	GET  /v1/applications[?overdue=1]  []Application (Art. 34)
//	GET  /v1/corrections[?open=1]      []policy.CorrectionState (Art. 26(3))
//	GET  /v1/acts                      []state.ActRecord (Art. 57(4))
//	GET  /v1/letters/{id}         LetterStatus
//	GET  /v1/ledger/checkpoint    the latest signed checkpoint (text)
//	GET  /v1/ledger/entries?from=N&count=M   Entries
//	GET  /v1/ledger/proof?index=N             C2SP tlog-proof of entry N (text)
//	GET  /v1/ledger/consistency?from=M        Consistency from size M to the latest checkpoint
//	POST /v1/mhe/setup            a signed mhe-setup statement -> HESetupResult (runs the key generation)
//	GET  /v1/mhe/key              the collective public key (binary)
//	POST /v1/he/queries           HEQuery -> QueryResponse with HE (in the
//	                              binary form of WriteHEAnswer if the request
//	                              says "Accept: application/octet-stream")
//
// Errors are an Error body with a 4xx or 5xx status: 400 malformed input,
// 401 a statement without a valid signature by a registered key, 403 a
// denied query (with its Decision), 404 unknown, 409 a conflict (duplicate;
// code "replayed" for a statement whose nonce is on record), 413 too
// large, 422 rejected data (code "stale" for a statement signed outside
// the node's time window), 503 the ledger cannot be written (code
// "audit-unavailable": nothing was done), 429 a party over a quota (code
// "quota", with a Retry-After header in seconds; nothing was done).
package api

import (
	"time"

	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
)

// StatementHeader carries the signed upload statement, base64 (standard
// encoding), on PUT /v1/uploads.
const StatementHeader = "Cleanroom-Statement"

// AuthHeader carries, on a read that depends on who asks (GET
// /v1/catalog), a signed "read" statement, base64: Read naming the path
// and the time, within the node's allowed clock skew. It is not logged.
const AuthHeader = "Cleanroom-Auth"

// Read is the body of a read statement.
type Read struct {
	Path string    `json:"path"`
	Time time.Time `json:"time"`
}

// Info describes the node.
type Info struct {
	Origin       string `json:"origin"`
	NodeKey      string `json:"node_key"`
	Recipient    string `json:"recipient"`
	AuthorityKey string `json:"authority_key"`
	Entries      uint64 `json:"entries"`
	Version      string `json:"version"`
}

// Error is the body of every error response.
type Error struct {
	Code     string           `json:"code"`
	Message  string           `json:"error"`
	Entry    *uint64          `json:"entry,omitempty"` // ledger index of the logged rejection or decision
	Decision *policy.Decision `json:"decision,omitempty"`
}

// Error codes.
const (
	CodeMalformed   = "malformed"
	CodeUnsigned    = "unauthenticated"
	CodeDenied      = "denied"
	CodeNotFound    = "not-found"
	CodeConflict    = "conflict"
	CodeReplay      = "replayed"
	CodeStale       = "stale"
	CodeQuota       = "quota"
	CodeTooLarge    = "too-large"
	CodeRejected    = "rejected"
	CodeUnavailable = "audit-unavailable"
	CodeInternal    = "internal"
)

// Submitted answers an accepted statement.
type Submitted struct {
	Kind  string `json:"kind"`
	Entry uint64 `json:"entry"`
}

// Uploaded answers an accepted upload.
type Uploaded struct {
	Entry            uint64 `json:"entry"`
	Dataset          string `json:"dataset"`
	UploadID         string `json:"upload_id"`
	Rows             int64  `json:"rows"`
	CiphertextSHA256 string `json:"ciphertext_sha256"`
	CiphertextBytes  int64  `json:"ciphertext_bytes"`
}

// Result is a released, differentially private result.
type Result struct {
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
	// Stats describe, per column, how its values were released: nil for
	// grouping columns.
	Stats []*Stats `json:"stats,omitempty"`
	// Intervals are, per row and column, the confidence interval of the
	// value at level Level: nil for grouping values and for the values
	// the DP library gives none (quantiles, STDDEV, VARIANCE).
	Intervals [][]*Interval `json:"intervals,omitempty"`
	// Level is the confidence level of the intervals, such as 0.95.
	Level float64 `json:"level,omitempty"`
	// Selection describes the noisy count of units that decided which
	// groups are released.
	Selection *Stats `json:"selection,omitempty"`
}

// Stats describe how a column's values were noised.
type Stats struct {
	// Mechanism is the DP library's noise, such as "Laplace Noise".
	Mechanism string  `json:"mechanism"`
	Epsilon   float64 `json:"epsilon"`
	Delta     float64 `json:"delta"`
	// L0 and LInf are the sensitivities the noise is calibrated to: the
	// groups one privacy unit may contribute to, and its largest effect on
	// one group's value.
	L0   int64   `json:"l0"`
	LInf float64 `json:"linf"`
}

// Interval is a confidence interval, rendered as its value is.
type Interval struct {
	Lo string `json:"lo"`
	Hi string `json:"hi"`
}

// QueryResponse answers an allowed query (or a dry run).
type QueryResponse struct {
	Decision policy.Decision `json:"decision"`
	// DecisionEntry is the ledger index of the decision.
	DecisionEntry uint64 `json:"decision_entry"`
	// Result and ReleaseEntry are absent for a dry run. In HE mode, HE
	// replaces Result: the client decrypts it.
	Result       *Result   `json:"result,omitempty"`
	HE           *HEResult `json:"he,omitempty"`
	ReleaseEntry *uint64   `json:"release_entry,omitempty"`
	// ResultSHA256 is the hash logged in the release entry: the SHA-256 of
	// Result's JSON encoding.
	ResultSHA256 string `json:"result_sha256,omitempty"`
	// The decision and release entries as logged, each with a C2SP
	// tlog-proof of its inclusion under a checkpoint signed by the node:
	// 'cleanroom audit prove' checks them offline.
	DecisionLogged []byte `json:"decision_logged,omitempty"`
	DecisionProof  string `json:"decision_proof,omitempty"`
	ReleaseLogged  []byte `json:"release_logged,omitempty"`
	ReleaseProof   string `json:"release_proof,omitempty"`
}

// Consistency is a consistency proof between two checkpoints.
type Consistency struct {
	From       uint64   `json:"from"`
	Checkpoint string   `json:"checkpoint"`
	Hashes     [][]byte `json:"hashes"`
}

// LetterStatus is a letter with its budget on each dataset.
type LetterStatus struct {
	State   policy.LetterState `json:"state"`
	Budgets []Budget           `json:"budgets"`
}

// Budget is a letter's privacy budget on one dataset.
type Budget struct {
	Dataset string     `json:"dataset"`
	Epsilon dp.Epsilon `json:"epsilon"`
	Spent   dp.Epsilon `json:"spent"`
	Left    dp.Epsilon `json:"left"`
}

// Spent returns the budget spent on a dataset, or 0.
func (s *LetterStatus) Spent(dataset string) dp.Epsilon {
	for _, b := range s.Budgets {
		if b.Dataset == dataset {
			return b.Spent
		}
	}
	return 0
}

// DatasetInfo is a catalogue entry (Art. 25).
type DatasetInfo struct {
	policy.Dataset
	Uploads []string `json:"uploads"`
	Rows    int64    `json:"rows"`
	Queries int64    `json:"queries"`
	// Pending lists the parts of multipart uploads not yet complete,
	// which queries do not read.
	Pending []PendingPart `json:"pending,omitempty"`
}

// PendingPart is a landed part of a multipart upload that is not complete.
type PendingPart struct {
	Set             string `json:"set"`
	Index           int    `json:"index"`
	Last            bool   `json:"last,omitempty"`
	UploadID        string `json:"upload_id"`
	Rows            int64  `json:"rows"`
	PlaintextSHA256 string `json:"plaintext_sha256"`
	Entry           uint64 `json:"entry"`
}

// Entries is a page of raw ledger entries.
type Entries struct {
	From    uint64   `json:"from"`
	Entries [][]byte `json:"entries"`
}

// AgentInfo describes a provider's agent (GET /v1/agent/info).
type AgentInfo struct {
	Party string `json:"party"`
	// Recipient is the agent's age recipient.
	Recipient string `json:"recipient"`
	// Pin is the pin of the agent's TLS certificate.
	Pin string `json:"pin"`
	// Synced is how many ledger entries the agent has verified.
	Synced uint64 `json:"synced"`
	// KeySHA256 is the hex SHA-256 of the collective key the agent holds a
	// share of, once set up.
	KeySHA256 string `json:"key_sha256,omitempty"`
}

// KeygenRequest asks an agent for its share of the collective key of the
// mhe-setup statement logged at ledger index Setup.
type KeygenRequest struct {
	Setup uint64 `json:"setup"`
}

// KeygenResponse is an agent's key-generation share.
type KeygenResponse struct {
	// Share is the public-key-generation share.
	Share []byte `json:"share"`
	// Statement is the agent's signed mhe-share statement committing to
	// Share by hash.
	Statement string `json:"statement"`
	// Fingerprint holds, from the first provider of the setup only, the
	// fingerprint key encrypted with age to each other provider's agent,
	// by party.
	Fingerprint map[string]string `json:"fingerprint,omitempty"`
}

// FinishRequest gives an agent every provider's key-generation share, in
// the setup's order, once the node has logged the collective key at
// ledger index Key, and the fingerprint key encrypted to it.
type FinishRequest struct {
	Key         uint64   `json:"key"`
	Shares      [][]byte `json:"shares"`
	Fingerprint string   `json:"fingerprint,omitempty"`
}

// FinishResponse confirms the collective key an agent verified.
type FinishResponse struct {
	KeySHA256 string `json:"key_sha256"`
}

// KeySwitchRequest asks an agent for its key-switch shares of the result
// ciphertexts recorded by the heresult entry at ledger index Result,
// towards the operator's result public key Target.
type KeySwitchRequest struct {
	Result  uint64   `json:"result"`
	Ciphers [][]byte `json:"ciphers"`
	Target  []byte   `json:"target"`
}

// KeySwitchResponse holds an agent's shares, one per ciphertext.
type KeySwitchResponse struct {
	Shares [][]byte `json:"shares"`
}

// HEQuery is the body of POST /v1/he/queries: a signed query statement in
// HE mode and the operator's result public key, whose SHA-256 the
// statement names.
type HEQuery struct {
	Statement string `json:"statement"`
	ResultKey []byte `json:"result_key"`
}

// HEResult is an HE-mode result: the result ciphertexts switched to the
// operator's result key, and what the operator needs to decrypt and
// format them (release.Layout over Aggs and len(Groups) groups).
type HEResult struct {
	// ResultEntry is the ledger index of the heresult entry.
	ResultEntry uint64 `json:"result_entry"`
	// Plan is the compiled query.
	Plan *query.Plan `json:"plan"`
	// Aggs are the plan's aggregates as released.
	Aggs []release.Agg `json:"aggs"`
	// Groups are the released groups' grouping values.
	Groups [][]string `json:"groups"`
	// Ciphers are the ciphertexts under the operator's key, in layout
	// order: one per hidden value, then the clear vector.
	Ciphers [][]byte `json:"ciphers"`
	// Privacy is what the values' noise is calibrated to, Mechanism the
	// DP library's noise (release.Mechanism), and Draws how many noise
	// samples each value carries: 1 when the node adds the noise, one
	// per provider under a letter's noise: providers. The operator's
	// client derives each value's description and confidence interval
	// from them.
	Privacy   release.Privacy `json:"privacy"`
	Mechanism string          `json:"mechanism"`
	Draws     int             `json:"draws"`
}

// HESetupResult answers POST /v1/mhe/setup.
type HESetupResult struct {
	SetupEntry uint64 `json:"setup_entry"`
	KeyEntry   uint64 `json:"key_entry"`
	KeySHA256  string `json:"key_sha256"`
	// Providers are the parties whose agents hold a share.
	Providers []string `json:"providers"`
}

// Application is an application for conditional sharing as the node
// lists it (Art. 34): Overdue says it is unanswered past its deadline now.
type Application struct {
	policy.ApplicationState
	Overdue bool `json:"overdue"`
}
