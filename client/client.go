// Package client is the Go SDK for a cleanroom node: the CLI's verbs are
// thin wrappers over it.
//
// A Client talks HTTPS to one node and trusts exactly one certificate: the
// node's self-signed certificate, pinned by the SHA-256 of its DER bytes
// ("sha256:<hex>", printed by the node at start and written to its
// node.json). No certificate authority is consulted.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/state"
	"golang.org/x/mod/sumdb/note"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/policy"
)

// Client is a connection to one node. Safe for concurrent use.
type Client struct {
	base string
	pin  string
	hc   *http.Client
	now  func() time.Time
}

// SetClock sets the clock that signed reads are timed with (time.Now by
// default); a test running the node on a fake clock sets the same.
func (c *Client) SetClock(now func() time.Time) { c.now = now }

func (c *Client) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// New returns a client for the node at baseURL (https://host:port) whose
// certificate has the given pin.
func New(baseURL, pin string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("node URL %q: want https://host:port", baseURL)
	}
	hc, err := Pinned(pin)
	if err != nil {
		return nil, err
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), pin: pin, hc: hc}, nil
}

// Pin returns the pin of the node's certificate.
func (c *Client) Pin() string { return c.pin }

// Pinned returns an HTTP client that trusts exactly the TLS certificate
// whose pin ("sha256:" and 64 hex digits) it is given, as the node and the
// providers' agents print at start.
func Pinned(pin string) (*http.Client, error) {
	want, ok := strings.CutPrefix(pin, "sha256:")
	wantB, err := hex.DecodeString(want)
	if !ok || err != nil || len(wantB) != sha256.Size {
		return nil, fmt.Errorf("pin %q: want sha256: and 64 hex digits (the node prints it at start)", pin)
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is not checked against any authority: the pin below
		// is the whole trust decision.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server presented no certificate")
			}
			got := sha256.Sum256(raw[0])
			if subtle.ConstantTimeCompare(got[:], wantB) != 1 {
				return fmt.Errorf("the server certificate does not match the pin: got sha256:%x", got)
			}
			return nil
		},
	}
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, IdleConnTimeout: 90 * time.Second}
	return &http.Client{Transport: tr}, nil
}

// NodeInfo is the content of a node's node.json.
type NodeInfo struct {
	URL string `json:"url"`
	Pin string `json:"pin"`
}

// FromInfoFile returns a client for the node described by a node.json file.
func FromInfoFile(path string) (*Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ni NodeInfo
	if err := json.Unmarshal(b, &ni); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return New(ni.URL, ni.Pin)
}

// Error is an error answered by the node.
type Error struct {
	Status  int
	Code    string
	Message string
	// Entry is the ledger index of the logged rejection or decision.
	Entry *uint64
	// Decision holds every reason of a denied query.
	Decision *policy.Decision
}

func (e *Error) Error() string {
	if e.Entry != nil {
		return fmt.Sprintf("%s (ledger entry %d)", e.Message, *e.Entry)
	}
	return e.Message
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, hdr map[string]string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("node unreachable: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the node's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var body api.Error
		if json.Unmarshal(b, &body) != nil || body.Message == "" {
			body.Message = fmt.Sprintf("node answered %s", resp.Status)
		}
		return &Error{Status: resp.StatusCode, Code: body.Code, Message: body.Message, Entry: body.Entry, Decision: body.Decision}
	}
	if out == nil {
		return nil
	}
	if s, ok := out.(*[]byte); ok {
		*s = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the node's answer: %w", err)
	}
	return nil
}

// URL returns the node's base URL.
func (c *Client) URL() string { return c.base }

// Info returns the node's description.
func (c *Client) Info(ctx context.Context) (*api.Info, error) {
	var out api.Info
	return &out, c.do(ctx, http.MethodGet, "/v1/info", nil, nil, &out)
}

// Submit sends a signed statement (party, dataset, letter or approval).
func (c *Client) Submit(ctx context.Context, stmt []byte) (*api.Submitted, error) {
	var out api.Submitted
	return &out, c.do(ctx, http.MethodPost, "/v1/statements", bytes.NewReader(stmt), nil, &out)
}

// Query sends a signed query statement. A denied query returns an *Error
// whose Decision holds every reason.
func (c *Client) Query(ctx context.Context, stmt []byte) (*api.QueryResponse, error) {
	var out api.QueryResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/queries", bytes.NewReader(stmt), nil, &out)
}

// Catalog returns the node's dataset catalogue (Art. 25) as an anonymous
// reader sees it: without the datasets marked secret-catalogue.
func (c *Client) Catalog(ctx context.Context) ([]api.DatasetInfo, error) {
	return c.CatalogAs(ctx, nil)
}

// CatalogAs returns the catalogue as the party of signer sees it: a
// public body, the authority and a dataset's holder also see the datasets
// marked secret-catalogue. A nil signer reads anonymously.
func (c *Client) CatalogAs(ctx context.Context, signer note.Signer) ([]api.DatasetInfo, error) {
	const path = "/v1/catalog"
	var hdr map[string]string
	if signer != nil {
		now := c.clock().UTC()
		msg, err := statement.NewAt(now, statement.KindRead, api.Read{Path: path, Time: now}, signer)
		if err != nil {
			return nil, err
		}
		hdr = map[string]string{api.AuthHeader: base64.StdEncoding.EncodeToString(msg)}
	}
	var out []api.DatasetInfo
	return out, c.do(ctx, http.MethodGet, path, nil, hdr, &out)
}

// Applications lists the applications for conditional sharing (Art. 34),
// only those overdue if overdue is set.
func (c *Client) Applications(ctx context.Context, overdue bool) ([]api.Application, error) {
	var out []api.Application
	path := "/v1/applications"
	if overdue {
		path += "?overdue=1"
	}
	return out, c.do(ctx, http.MethodGet, path, nil, nil, &out)
}

// Corrections lists the correction requests (Art. 26(3)), only the open
// ones if open is set.
func (c *Client) Corrections(ctx context.Context, open bool) ([]policy.CorrectionState, error) {
	var out []policy.CorrectionState
	path := "/v1/corrections"
	if open {
		path += "?open=1"
	}
	return out, c.do(ctx, http.MethodGet, path, nil, nil, &out)
}

// Acts lists the recorded data-handling acts (Art. 57(4)).
func (c *Client) Acts(ctx context.Context) ([]state.ActRecord, error) {
	var out []state.ActRecord
	return out, c.do(ctx, http.MethodGet, "/v1/acts", nil, nil, &out)
}

// Incidents lists the incidents on record, open and closed (Art. 57(6)).
func (c *Client) Incidents(ctx context.Context) ([]policy.Incident, error) {
	var out []policy.Incident
	return out, c.do(ctx, http.MethodGet, "/v1/incidents", nil, nil, &out)
}

// Letter returns a letter's state and budget.
func (c *Client) Letter(ctx context.Context, id string) (*api.LetterStatus, error) {
	var out api.LetterStatus
	return &out, c.do(ctx, http.MethodGet, "/v1/letters/"+url.PathEscape(id), nil, nil, &out)
}

// Checkpoint returns the ledger's latest signed checkpoint.
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, http.MethodGet, "/v1/ledger/checkpoint", nil, nil, &out)
}

// EntriesTo yields the ledger's entries from 0 up to size (a checkpoint's
// size), fetching them page by page; it stops at the first error, which it
// yields.
func (c *Client) EntriesTo(ctx context.Context, size uint64, progress func(done uint64)) iter.Seq2[[]byte, error] {
	const page = 1000
	return func(yield func([]byte, error) bool) {
		for from := uint64(0); from < size; {
			got, err := c.Entries(ctx, from, min(page, size-from))
			if err == nil && len(got) == 0 {
				err = fmt.Errorf("the node returned no entries from %d", from)
			}
			if err != nil {
				yield(nil, err)
				return
			}
			for _, e := range got {
				if !yield(e, nil) {
					return
				}
			}
			from += uint64(len(got))
			if progress != nil {
				progress(from)
			}
		}
	}
}

// Consistency returns the ledger's latest signed checkpoint with a proof
// that it extends the log at size from.
func (c *Client) Consistency(ctx context.Context, from uint64) (*api.Consistency, error) {
	var out api.Consistency
	return &out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/ledger/consistency?from=%d", from), nil, nil, &out)
}

// Entries returns up to count raw ledger entries from index from.
func (c *Client) Entries(ctx context.Context, from, count uint64) ([][]byte, error) {
	var out api.Entries
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/ledger/entries?from=%d&count=%d", from, count), nil, nil, &out)
	return out.Entries, err
}
