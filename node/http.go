package node

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/enclave"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// Version is reported by /v1/info.
var Version = "dev"

// MaxUploadBytes bounds one upload's ciphertext, unless
// Config.MaxUploadBytes is smaller.
const MaxUploadBytes = enclave.MaxUploadBytes

// Handler returns the node's HTTP API.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", n.handleInfo)
	mux.HandleFunc("POST /v1/statements", n.handleStatement)
	mux.HandleFunc("PUT /v1/uploads", n.handleUpload)
	mux.HandleFunc("POST /v1/queries", n.handleQuery)
	mux.HandleFunc("GET /v1/catalog", n.handleCatalog)
	mux.HandleFunc("GET /v1/incidents", n.handleIncidents)
	mux.HandleFunc("GET /v1/applications", n.handleApplications)
	mux.HandleFunc("GET /v1/corrections", n.handleCorrections)
	mux.HandleFunc("GET /v1/acts", n.handleActs)
	mux.HandleFunc("GET /v1/letters/{id}", n.handleLetter)
	mux.HandleFunc("GET /v1/ledger/checkpoint", n.handleCheckpoint)
	mux.HandleFunc("GET /v1/ledger/entries", n.handleEntries)
	mux.HandleFunc("GET /v1/ledger/proof", n.handleProof)
	mux.HandleFunc("GET /v1/ledger/consistency", n.handleConsistency)
	mux.HandleFunc("POST /v1/mhe/setup", n.handleHESetup)
	mux.HandleFunc("POST /v1/mhe/finish", n.handleHEFinish)
	mux.HandleFunc("GET /v1/mhe/key", n.handleHEKey)
	mux.HandleFunc("POST /v1/he/queries", n.handleHEQuery)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string, entry *uint64) {
	writeJSON(w, status, api.Error{Code: code, Message: msg, Entry: entry})
}

// readStatement reads a request body of at most statement.MaxBytes.
func readStatement(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, statement.MaxBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeErr(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("statement larger than %d bytes", statement.MaxBytes), nil)
		return nil, false
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, api.CodeMalformed, "reading request: "+err.Error(), nil)
		return nil, false
	}
	return b, true
}

func (n *Node) handleInfo(w http.ResponseWriter, r *http.Request) {
	snap := n.durableSnapshot()
	g := snap.Genesis()
	writeJSON(w, http.StatusOK, api.Info{Origin: g.Origin, NodeKey: g.NodeKey, Recipient: g.Recipient,
		AuthorityKey: g.AuthorityKey, Entries: snap.Entries(), Version: Version})
}

// reject logs a refused statement and answers the client. Nothing else
// changes.
func (n *Node) reject(w http.ResponseWriter, status int, code string, raw []byte, letter string, cause error) {
	rej := &state.Rejection{StatementSHA256: statement.Hash(raw), Reason: cause.Error(), Letter: letter}
	if st, err := statement.Parse(raw); err == nil {
		rej.ClaimedKind = string(st.Kind)
	}
	var unsigned *statement.UnsignedError
	if errors.As(cause, &unsigned) {
		rej.ClaimedSigners = unsigned.Names
	}
	i, err := n.append(&state.Entry{Kind: state.KindRejection, Rejection: rej})
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, api.CodeUnavailable, errAudit.Error(), nil)
		return
	}
	n.log.Info("statement rejected", "entry", i, "kind", rej.ClaimedKind, "reason", rej.Reason)
	writeErr(w, status, code, cause.Error(), &i)
}

// statusOf maps a verification or check error to an HTTP status and code.
func statusOf(err error) (int, string) {
	var se *statement.SignatureError
	var ue *statement.UnsignedError
	switch {
	case errors.As(err, &se), errors.As(err, &ue):
		return http.StatusUnauthorized, api.CodeUnsigned
	case errors.Is(err, statement.ErrMalformed):
		return http.StatusBadRequest, api.CodeMalformed
	case errors.Is(err, errAudit):
		return http.StatusServiceUnavailable, api.CodeUnavailable
	case errors.Is(err, state.ErrReplay):
		return http.StatusConflict, api.CodeReplay
	case errors.Is(err, state.ErrStale):
		return http.StatusUnprocessableEntity, api.CodeStale
	case errors.Is(err, state.ErrConflict):
		return http.StatusConflict, api.CodeConflict
	}
	return http.StatusUnprocessableEntity, api.CodeRejected
}

func (n *Node) handleStatement(w http.ResponseWriter, r *http.Request) {
	raw, ok := readStatement(w, r)
	if !ok {
		return
	}
	st, err := statement.Parse(raw)
	if err != nil {
		n.reject(w, http.StatusBadRequest, api.CodeMalformed, raw, "", err)
		return
	}
	if v, err := statement.Verify(raw, n.snapshot()); err == nil {
		if err := n.guard.request(v.Signers[0]); err != nil {
			n.refuseQuota(w, err.(*quotaError))
			return
		}
	}
	var letterID string
	switch st.Kind {
	case statement.KindParty, statement.KindDataset, statement.KindApproval, statement.KindScenario, statement.KindRevocation, statement.KindAgent,
		statement.KindIncident, statement.KindSeal, statement.KindExport, statement.KindCalendar, statement.KindApply, statement.KindAnswer,
		statement.KindCorrection, statement.KindCorrected, statement.KindAct:
	case statement.KindLetter:
		if l, err := policy.ParseLetter(st.Body); err == nil {
			letterID = l.ID
		}
	case statement.KindDestroy:
		n.handleDestroy(w, raw, st)
		return
	case statement.KindAbandon:
		n.handleAbandon(w, raw, st)
		return
	default:
		n.reject(w, http.StatusBadRequest, api.CodeMalformed, raw, "", fmt.Errorf("%w: a %s statement goes to its own endpoint", statement.ErrMalformed, st.Kind))
		return
	}
	e := &state.Entry{Kind: state.KindStatement, Statement: string(raw)}
	i, err := n.append(e)
	if errors.Is(err, errAudit) {
		writeErr(w, http.StatusServiceUnavailable, api.CodeUnavailable, err.Error(), nil)
		return
	}
	if err != nil {
		status, code := statusOf(err)
		var se *statement.SignatureError
		if letterID != "" && errors.As(err, &se) {
			err = fmt.Errorf("commitment letter %s refused: %w (Art. 36, Art. 43)", letterID, err)
		} else {
			letterID = ""
		}
		n.reject(w, status, code, raw, letterID, err)
		return
	}
	n.log.Info("statement accepted", "entry", i, "kind", st.Kind)
	writeJSON(w, http.StatusOK, api.Submitted{Kind: string(st.Kind), Entry: i})
}

func (n *Node) handleUpload(w http.ResponseWriter, r *http.Request) {
	raw, err := base64.StdEncoding.DecodeString(r.Header.Get(api.StatementHeader))
	if err != nil || len(raw) == 0 {
		writeErr(w, http.StatusBadRequest, api.CodeMalformed, "missing or malformed "+api.StatementHeader+" header (base64 of the signed upload statement)", nil)
		return
	}
	snap := n.snapshot()
	st, err := statement.Verify(raw, snap)
	if err == nil && st.Kind != statement.KindUpload {
		err = fmt.Errorf("%w: a %s statement is not an upload", statement.ErrMalformed, st.Kind)
	}
	var u policy.Upload
	if err == nil {
		err = st.Decode(&u)
	}
	var ds *policy.Dataset
	if err == nil {
		var ok bool
		if ds, ok = snap.Dataset(u.Dataset); !ok {
			err = fmt.Errorf("unknown dataset %q", u.Dataset)
		}
	}
	// A dry run of the entry checks the signer is the holder and the
	// upload id is fresh before a byte of the body is read.
	received := n.entryTime()
	if err == nil {
		err = n.st.Load().Check(&state.Entry{Kind: state.KindStatement, Time: received, Statement: string(raw), Upload: &state.Receipt{}})
	}
	if err != nil {
		status, code := statusOf(err)
		n.reject(w, status, code, raw, "", err)
		return
	}
	if err := n.guard.request(st.Signers[0]); err != nil {
		n.refuseQuota(w, err.(*quotaError))
		return
	}
	charge, qerr := n.guard.upload(st.Signers[0])
	if qerr != nil {
		n.refuseQuota(w, qerr.(*quotaError))
		return
	}
	body := &countingBody{r: http.MaxBytesReader(w, r.Body, n.cfg.MaxUploadBytes), charge: charge}
	if u.HE != nil {
		unlock := n.lockDataset(u.Dataset)
		defer unlock()
		n.uploadHE(w, r, raw, &u, ds, body, received)
		return
	}
	unlock := n.shareDataset(u.Dataset)
	defer unlock()
	rc, err := n.store.Ingest(r.Context(), u.Dataset, u.UploadID, &ds.Schema, u.File, body)
	if err != nil {
		var mbe *http.MaxBytesError
		var ce *csv.Error
		switch {
		case errors.As(err, &mbe):
			writeErr(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("upload larger than %d bytes", n.cfg.MaxUploadBytes), nil)
		case errors.As(err, &ce):
			writeErr(w, http.StatusUnprocessableEntity, api.CodeRejected, "upload rejected, nothing stored: "+ce.Error(), nil)
		default:
			writeErr(w, http.StatusUnprocessableEntity, api.CodeRejected, "upload rejected, nothing stored: "+err.Error(), nil)
		}
		return
	}
	want := enclave.FormatCSV
	if u.Format == policy.UploadColumnar {
		want = enclave.FormatPart
	}
	if rc.Format != want {
		n.store.Remove(u.Dataset, u.UploadID)
		writeErr(w, http.StatusUnprocessableEntity, api.CodeRejected,
			fmt.Sprintf("upload rejected, nothing stored: the signed statement names the format %q, the plaintext is %s", u.Format, rc.Format), nil)
		return
	}
	plainHash := hex.EncodeToString(rc.PlaintextSHA256[:])
	if plainHash != u.PlaintextSHA256 || rc.Rows != u.Rows {
		n.store.Remove(u.Dataset, u.UploadID)
		writeErr(w, http.StatusUnprocessableEntity, api.CodeRejected,
			fmt.Sprintf("upload rejected, nothing stored: the signed statement names %d rows with SHA-256 %s, the ciphertext holds %d rows with SHA-256 %s",
				u.Rows, u.PlaintextSHA256, rc.Rows, plainHash), nil)
		return
	}
	cipherHash := hex.EncodeToString(rc.CiphertextSHA256[:])
	i, err := n.append(&state.Entry{Kind: state.KindStatement, Statement: string(raw), Upload: &state.Receipt{
		Received: received, CiphertextSHA256: cipherHash, CiphertextBytes: rc.CiphertextBytes, PlaintextBytes: rc.PlaintextBytes,
	}})
	if err != nil {
		n.store.Remove(u.Dataset, u.UploadID)
		status, code := statusOf(err)
		writeErr(w, status, code, err.Error(), nil)
		return
	}
	n.log.Info("upload accepted", "entry", i, "dataset", u.Dataset, "rows", rc.Rows, "bytes", rc.CiphertextBytes)
	writeJSON(w, http.StatusOK, api.Uploaded{Entry: i, Dataset: u.Dataset, UploadID: u.UploadID, Rows: rc.Rows,
		CiphertextSHA256: cipherHash, CiphertextBytes: rc.CiphertextBytes})
}

// handleCatalog lists the catalogue (Art. 25). Datasets marked
// secret-catalogue are listed only to public bodies, the authority and
// their holder, who identify themselves with a signed read (AuthHeader).
func (n *Node) handleCatalog(w http.ResponseWriter, r *http.Request) {
	snap := n.durableSnapshot()
	who, err := n.reader(r, snap)
	if err != nil {
		writeErr(w, http.StatusUnauthorized, api.CodeUnsigned, err.Error(), nil)
		return
	}
	out := []api.DatasetInfo{}
	for _, d := range snap.Datasets() {
		if !d.SecretCatalogue || who != nil && (who.Kind == policy.PublicBody || who.Name == d.Holder) || n.isAuthority(snap, who) {
			out = append(out, d)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// reader returns the party a signed read identifies, or nil for an
// anonymous read.
func (n *Node) reader(r *http.Request, snap *state.Snapshot) (*policy.Party, error) {
	h := r.Header.Get(api.AuthHeader)
	if h == "" {
		return nil, nil
	}
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%s: not base64", api.AuthHeader)
	}
	st, err := statement.Verify(raw, snap)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", api.AuthHeader, err)
	}
	var rd api.Read
	if st.Kind != statement.KindRead || len(st.Signers) != 1 || st.Decode(&rd) != nil {
		return nil, fmt.Errorf("%s: not a read statement by one party", api.AuthHeader)
	}
	now, w := n.cfg.Now(), snap.Window()
	if rd.Path != r.URL.Path || rd.Time.Before(now.Add(-w)) || rd.Time.After(now.Add(w)) ||
		st.Time.Before(now.Add(-w)) || st.Time.After(now.Add(w)) {
		n.log.Warn("signed read refused", "party", st.Signers[0], "reason", "stale or for another path", "path", r.URL.Path)
		return nil, fmt.Errorf("%s: signed for %s at %s, not for %s now", api.AuthHeader, rd.Path, rd.Time.UTC().Format(time.RFC3339), r.URL.Path)
	}
	if !n.reads.fresh(st.Nonce, st.Time, now, w) {
		n.log.Warn("signed read refused", "party", st.Signers[0], "reason", "replayed", "nonce", st.Nonce)
		return nil, fmt.Errorf("%s: replayed: a read with nonce %s was received already", api.AuthHeader, st.Nonce)
	}
	p, ok := snap.Party(st.Signers[0])
	if !ok {
		if a := snap.Authority(); a != nil && a.Name() == st.Signers[0] {
			return &policy.Party{Name: a.Name(), Kind: policy.PublicBody}, nil
		}
		return nil, fmt.Errorf("%s: %s is not a registered party", api.AuthHeader, st.Signers[0])
	}
	return p, nil
}

// isAuthority reports whether a reader is the authority.
func (n *Node) isAuthority(snap *state.Snapshot, who *policy.Party) bool {
	a := snap.Authority()
	return who != nil && a != nil && who.Name == a.Name()
}

// handleApplications lists the applications for conditional sharing
// (Art. 34), with whether each is overdue now; ?overdue=1 keeps only
// those.
func (n *Node) handleApplications(w http.ResponseWriter, r *http.Request) {
	now := n.cfg.Now()
	out := []api.Application{}
	for _, a := range n.durableSnapshot().Applications() {
		if od := a.Overdue(now); od || r.URL.Query().Get("overdue") == "" {
			out = append(out, api.Application{ApplicationState: a, Overdue: od})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleCorrections lists the correction requests (Art. 26(3)); ?open=1
// keeps those not answered yet.
func (n *Node) handleCorrections(w http.ResponseWriter, r *http.Request) {
	out := []policy.CorrectionState{}
	for _, c := range n.durableSnapshot().Corrections() {
		if c.Answer == nil || r.URL.Query().Get("open") == "" {
			out = append(out, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// handleActs lists the recorded copy, export, de-identification and
// destruction acts (Art. 57(4)).
func (n *Node) handleActs(w http.ResponseWriter, r *http.Request) {
	out := n.durableSnapshot().Acts()
	if out == nil {
		out = []state.ActRecord{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handleIncidents(w http.ResponseWriter, r *http.Request) {
	inc := n.durableSnapshot().Incidents()
	if inc == nil {
		inc = []policy.Incident{}
	}
	writeJSON(w, http.StatusOK, inc)
}

func (n *Node) handleLetter(w http.ResponseWriter, r *http.Request) {
	snap := n.durableSnapshot()
	ls, ok := snap.Letter(r.PathValue("id"))
	if !ok {
		writeErr(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("no letter %q", r.PathValue("id")), nil)
		return
	}
	out := api.LetterStatus{State: *ls}
	for _, d := range ls.Letter.Datasets {
		spent := snap.Spent(ls.Letter.ID, d.Name)
		out.Budgets = append(out.Budgets, api.Budget{Dataset: d.Name, Epsilon: d.Epsilon, Spent: spent, Left: d.Epsilon - spent})
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handleCheckpoint(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(n.ledger.Checkpoint())
}

// maxEntriesPage bounds one page of /v1/ledger/entries.
const maxEntriesPage = 1000

func (n *Node) handleEntries(w http.ResponseWriter, r *http.Request) {
	from, err1 := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
	count, err2 := strconv.ParseUint(r.URL.Query().Get("count"), 10, 64)
	if err1 != nil || err2 != nil || count == 0 {
		writeErr(w, http.StatusBadRequest, api.CodeMalformed, "want ?from=N&count=M with M > 0", nil)
		return
	}
	count = min(count, maxEntriesPage)
	out := api.Entries{From: from, Entries: [][]byte{}}
	for i := from; i < from+count && i < n.ledger.Size(); i++ {
		b, err := n.ledger.Entry(i)
		if err != nil {
			writeErr(w, http.StatusInternalServerError, api.CodeInternal, "reading the ledger failed", nil)
			return
		}
		out.Entries = append(out.Entries, b)
	}
	writeJSON(w, http.StatusOK, out)
}

// proof returns entry index as logged and its tlog-proof under the latest
// checkpoint, which must cover it.
func (n *Node) proof(index uint64) ([]byte, string, error) {
	signed := n.ledger.Checkpoint()
	cp, err := ledger.ParseCheckpoint(signed, n.verifier)
	if err != nil {
		return nil, "", err
	}
	if index >= cp.Size {
		return nil, "", fmt.Errorf("entry %d is not covered by the latest checkpoint (size %d)", index, cp.Size)
	}
	hashes, err := n.ledger.InclusionProof(index, cp.Size)
	if err != nil {
		return nil, "", err
	}
	entry, err := n.ledger.Entry(index)
	if err != nil {
		return nil, "", err
	}
	return entry, string(ledger.FormatProof(index, hashes, signed, nil)), nil
}

func (n *Node) handleProof(w http.ResponseWriter, r *http.Request) {
	index, err := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	if err != nil {
		writeErr(w, http.StatusBadRequest, api.CodeMalformed, "want ?index=N", nil)
		return
	}
	_, p, err := n.proof(index)
	if err != nil {
		writeErr(w, http.StatusNotFound, api.CodeNotFound, err.Error(), nil)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, p)
}

func (n *Node) handleConsistency(w http.ResponseWriter, r *http.Request) {
	from, err := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
	if err != nil {
		writeErr(w, http.StatusBadRequest, api.CodeMalformed, "want ?from=M", nil)
		return
	}
	signed := n.ledger.Checkpoint()
	cp, err := ledger.ParseCheckpoint(signed, n.verifier)
	if err != nil || from > cp.Size {
		writeErr(w, http.StatusNotFound, api.CodeNotFound, fmt.Sprintf("size %d is beyond the latest checkpoint", from), nil)
		return
	}
	hashes, err := n.ledger.ConsistencyProof(from, cp.Size)
	if err != nil {
		writeErr(w, http.StatusInternalServerError, api.CodeInternal, "reading the ledger failed", nil)
		return
	}
	writeJSON(w, http.StatusOK, api.Consistency{From: from, Checkpoint: string(signed), Hashes: hashes})
}

// catalog adapts a snapshot to query.Catalog.
func catalog(snap *state.Snapshot) query.Catalog {
	return query.CatalogFunc(func(name string) (*schema.Schema, bool) {
		d, ok := snap.Dataset(name)
		if !ok {
			return nil, false
		}
		return &d.Schema, true
	})
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// readNonces remembers the nonces of the signed reads received within the
// time window, so that a captured read cannot be sent again. Reads are not
// logged in the ledger, so this set lives in memory: a restart forgets it,
// which lets a read captured less than a window before the restart be
// sent once more. Safe for concurrent use.
type readNonces struct {
	mu   sync.Mutex
	seen map[string]time.Time // nonce → signed time
	// next is when to drop the nonces that fell out of the window.
	next time.Time
}

// fresh records nonce and reports whether it is new. A nonce signed more
// than a window ago cannot come back (its read is refused as stale), so it
// is forgotten.
func (r *readNonces) fresh(nonce string, signed, now time.Time, window time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]time.Time{}
	}
	if now.After(r.next) {
		for k, t := range r.seen {
			if t.Before(now.Add(-window)) {
				delete(r.seen, k)
			}
		}
		r.next = now.Add(window / 4)
	}
	if _, ok := r.seen[nonce]; ok {
		return false
	}
	r.seen[nonce] = signed
	return true
}
