// Package statement defines the signed statements through which every party
// acts on the clean room: registrations, uploads, commitment letters,
// approvals and queries.
//
// # Format
//
// A statement is a C2SP signed note (golang.org/x/mod/sumdb/note, Ed25519)
// whose text is a header line and a body:
//
//	cleanroom/v2 <kind> <time> <nonce>
//	<body>
//
// followed by a blank line and one or more signature lines. The time is
// when the statement was made, in UTC, as RFC 3339 with the fraction of a
// second Go's time.RFC3339Nano writes (no trailing zeros); the nonce is 32
// lower-case hex digits (128 random bits). Both are in one canonical form,
// so that a statement's bytes are fixed by its signers. The node accepts a
// statement only within a window of its time and only once per nonce
// (package state), so that a captured statement cannot be sent again. For
// every kind
// but letter the body is one line: the JSON encoding of the kind's document
// in package policy. A commitment letter's body is its own line-oriented
// text format (policy.ParseLetter), made to be read by the people who sign
// it. A note may carry several signatures:
// a commitment letter is signed by its applicant and by the holder of every
// dataset it names (Art. 36, Art. 43).
//
// The node logs each statement with its signatures, so who asked for what
// can be proven later (Art. 42).
//
// # Versions
//
// Version 1 ("cleanroom/v1 <kind>") had no time and no nonce in its header;
// it is refused (ErrMalformed), and a ledger that holds such statements
// does not replay with this code.
package statement

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Header is the first word of every statement's text.
const Header = "cleanroom/v2"

// NonceLen is the length of a statement's nonce: 32 hex digits.
const NonceLen = 32

// MaxBytes is the largest statement accepted, signatures included.
const MaxBytes = 1 << 20

// Kind names what a statement does.
type Kind string

// The statement kinds.
const (
	KindParty      Kind = "party"              // the authority registers a party
	KindDataset    Kind = "dataset"            // a holder registers a dataset
	KindUpload     Kind = "upload"             // a holder uploads sealed rows
	KindLetter     Kind = "letter"             // a commitment letter (Art. 36)
	KindApproval   Kind = "approval"           // the authority approves a letter
	KindScenario   Kind = "scenario"           // the authority approves or withdraws a scenario
	KindRevocation Kind = "revocation"         // the authority or a provider revokes a letter
	KindQuery      Kind = "query"              // an operator asks a question
	KindAgent      Kind = "agent"              // a provider registers its HE-mode agent
	KindHESetup    Kind = "mhe-setup"          // the authority starts the collective key generation
	KindHEShare    Kind = "mhe-share"          // a provider's agent commits to its key-generation share
	KindIncident   Kind = "incident"           // the authority or a holder opens or closes an incident (Art. 57(6))
	KindSeal       Kind = "seal"               // the holder or the authority seals a dataset (Art. 31)
	KindExport     Kind = "export-assessment"  // the authority records an export security assessment (Art. 59)
	KindDestroy    Kind = "destroy"            // the holder or the authority destroys a dataset (Art. 31, 57(4))
	KindCalendar   Kind = "calendar"           // the authority loads the calendar of working days (Art. 34)
	KindApply      Kind = "application"        // an applicant applies for a conditionally shared dataset (Art. 34)
	KindAnswer     Kind = "application-answer" // the holder approves or refuses an application (Art. 34)
	KindRead       Kind = "read"               // a party identifies itself on a read (never logged)
	KindCorrection Kind = "correction"         // a party asks for a correction of public data (Art. 26(3))
	KindCorrected  Kind = "correction-answer"  // the holder answers a correction request (Art. 26(3))
	KindAct        Kind = "act"                // a holder records a copy, export, de-identification or destruction (Art. 57(4))
	KindAbandon    Kind = "upload-abandon"     // a holder abandons an incomplete multipart upload
)

var kinds = map[Kind]bool{KindParty: true, KindDataset: true, KindUpload: true, KindLetter: true,
	KindApproval: true, KindScenario: true, KindRevocation: true, KindQuery: true,
	KindAgent: true, KindHESetup: true, KindHEShare: true, KindIncident: true, KindSeal: true, KindExport: true, KindDestroy: true,
	KindCalendar: true, KindApply: true, KindAnswer: true, KindRead: true,
	KindCorrection: true, KindCorrected: true, KindAct: true, KindAbandon: true}

// ErrMalformed is wrapped by every error about a statement's form (as
// opposed to its signatures).
var ErrMalformed = errors.New("malformed statement")

// Text returns the unsigned text of a statement of the given kind, made
// now with a fresh nonce. The body of a letter is an
// encoding.TextMarshaler (policy.Letter); every other body is encoded as
// JSON.
func Text(kind Kind, body any) ([]byte, error) { return TextAt(time.Now(), kind, body) }

// TextAt is Text for a statement made at t (for a client whose clock is
// not the system's, or a test's).
func TextAt(t time.Time, kind Kind, body any) ([]byte, error) {
	if !kinds[kind] {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrMalformed, kind)
	}
	if t.IsZero() {
		return nil, fmt.Errorf("%w: a statement needs its time", ErrMalformed)
	}
	var b bytes.Buffer
	b.WriteString(Header + " " + string(kind) + " " + FormatTime(t) + " " + NewNonce() + "\n")
	if kind == KindLetter {
		tm, ok := body.(encoding.TextMarshaler)
		if !ok {
			return nil, fmt.Errorf("%w: a letter body must marshal itself as text", ErrMalformed)
		}
		t, err := tm.MarshalText()
		if err != nil {
			return nil, err
		}
		b.Write(t)
		return b.Bytes(), nil
	}
	j, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	b.Write(j)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// FormatTime returns t as a statement header writes it.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Sign returns text signed by each signer, as a note.
func Sign(text []byte, signers ...note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(text)}, signers...)
}

// New encodes body as a statement of the given kind, made now with a fresh
// nonce, signed by signers.
func New(kind Kind, body any, signers ...note.Signer) ([]byte, error) {
	return NewAt(time.Now(), kind, body, signers...)
}

// NewAt is New for a statement made at t.
func NewAt(t time.Time, kind Kind, body any, signers ...note.Signer) ([]byte, error) {
	text, err := TextAt(t, kind, body)
	if err != nil {
		return nil, err
	}
	return Sign(text, signers...)
}

// Countersign adds signatures to an already signed statement, keeping every
// signature it has (they are not checked here).
func Countersign(msg []byte, signers ...note.Signer) ([]byte, error) {
	n, err := openUnverified(msg)
	if err != nil {
		return nil, err
	}
	n.Sigs = append(n.Sigs, n.UnverifiedSigs...)
	n.UnverifiedSigs = nil
	return note.Sign(n, signers...)
}

func openUnverified(msg []byte) (*note.Note, error) {
	if err := canonicalSignatures(msg); err != nil {
		return nil, err
	}
	_, err := note.Open(msg, note.VerifierList())
	var u *note.UnverifiedNoteError
	if !errors.As(err, &u) {
		return nil, fmt.Errorf("%w: not a signed note", ErrMalformed)
	}
	return u.Note, nil
}

// Statement is a parsed statement.
type Statement struct {
	Kind Kind
	// Time is when its author says the statement was made, and Nonce its
	// random nonce: the header's fields.
	Time  time.Time
	Nonce string
	// Body is the body as it stands in the text, without the header line:
	// one line of JSON and its newline, or a letter's text.
	Body []byte
	// Text is the signed text.
	Text []byte
	// Signers lists the names of the parties whose signatures verified,
	// in the order they appear. Empty from Parse.
	Signers []string
	// Raw is the whole note, signatures included.
	Raw []byte
}

// Hash returns the hex SHA-256 of the whole signed note.
func (s *Statement) Hash() string { return Hash(s.Raw) }

// Hash returns the hex SHA-256 of b.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// SignedBy reports whether name's signature verified.
func (s *Statement) SignedBy(name string) bool {
	for _, n := range s.Signers {
		if n == name {
			return true
		}
	}
	return false
}

// Decode unmarshals a JSON body into v, strictly: unknown fields and
// trailing data are errors. A letter's body is parsed by policy.ParseLetter.
func (s *Statement) Decode(v any) error {
	if s.Kind == KindLetter {
		return fmt.Errorf("%w: a letter body is text, not JSON", ErrMalformed)
	}
	d := json.NewDecoder(bytes.NewReader(s.Body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %s body: %v", ErrMalformed, s.Kind, err)
	}
	if d.More() {
		return fmt.Errorf("%w: %s body: trailing data", ErrMalformed, s.Kind)
	}
	return nil
}

// Parse parses a signed statement without checking any signature: use it to
// learn the kind and body before the signers are known. Signers is empty.
func Parse(msg []byte) (*Statement, error) {
	if len(msg) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(msg), MaxBytes)
	}
	n, err := openUnverified(msg)
	if err != nil {
		return nil, err
	}
	return parseText(n, msg)
}

func parseText(n *note.Note, msg []byte) (*Statement, error) {
	head, rest, ok := strings.Cut(n.Text, "\n")
	if !ok {
		return nil, fmt.Errorf("%w: no header line", ErrMalformed)
	}
	f := strings.Split(head, " ")
	if len(f) == 2 && f[0] == "cleanroom/v1" {
		return nil, fmt.Errorf("%w: header %q is of version 1, which has no time and nonce; sign it again with this version (%s)", ErrMalformed, quoteCut(head), Header)
	}
	if len(f) != 4 || f[0] != Header || !kinds[Kind(f[1])] {
		return nil, fmt.Errorf("%w: header %q is not %q, a known kind, a time and a nonce", ErrMalformed, quoteCut(head), Header)
	}
	kind := Kind(f[1])
	t, err := time.Parse(time.RFC3339Nano, f[2])
	if err != nil || FormatTime(t) != f[2] {
		return nil, fmt.Errorf("%w: header time %q is not a UTC RFC 3339 time in its canonical form", ErrMalformed, quoteCut(f[2]))
	}
	if !validNonce(f[3]) {
		return nil, fmt.Errorf("%w: header nonce %q is not %d lower-case hex digits", ErrMalformed, quoteCut(f[3]), NonceLen)
	}
	st := &Statement{Kind: kind, Time: t, Nonce: f[3], Text: []byte(n.Text), Raw: msg}
	if kind == KindLetter {
		if rest == "" {
			return nil, fmt.Errorf("%w: empty letter", ErrMalformed)
		}
		st.Body = []byte(rest)
		return st, nil
	}
	body, ok := strings.CutSuffix(rest, "\n")
	if !ok || body == "" || strings.Contains(body, "\n") || !json.Valid([]byte(body)) {
		return nil, fmt.Errorf("%w: body must be one line of JSON", ErrMalformed)
	}
	st.Body = []byte(body)
	return st, nil
}

// quoteCut shortens s for an error message.
func quoteCut(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

func validNonce(s string) bool {
	if len(s) != NonceLen {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// canonicalSignatures refuses signature lines whose base64 is not in its
// one canonical form. note.Open tolerates non-zero padding bits in the last
// character, which would let one signature be written several ways: a
// statement's bytes (and so its hash, which approvals name) must be fixed
// by its signers.
func canonicalSignatures(msg []byte) error {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return fmt.Errorf("%w: not a signed note", ErrMalformed)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(msg[i+2:]), "\n"), "\n") {
		_, b64, _ := strings.Cut(line, " ")
		b64 = b64[strings.LastIndexByte(b64, ' ')+1:]
		if raw, err := base64.StdEncoding.Strict().DecodeString(b64); err != nil || base64.StdEncoding.EncodeToString(raw) != b64 {
			return fmt.Errorf("%w: a signature is not canonical base64", ErrMalformed)
		}
	}
	return nil
}

// SignatureError reports a signature that is present but does not verify
// against the registered key of the party it names.
type SignatureError struct {
	Party string
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("signature by %s does not verify", e.Party)
}

// UnsignedError reports a statement that carries no signature by any
// registered party.
type UnsignedError struct {
	// Names lists the key names the signatures claim, if any.
	Names []string
}

func (e *UnsignedError) Error() string {
	if len(e.Names) == 0 {
		return "statement carries no signature by a registered party"
	}
	return fmt.Sprintf("statement carries no signature by a registered party (signed as %s)", strings.Join(e.Names, ", "))
}

// Verify parses msg and checks its signatures against known. Every
// signature by a known key must verify (a bad one is a *SignatureError);
// at least one must be by a known key (else *UnsignedError). Signatures by
// unknown keys are ignored and not listed in Signers. It follows
// note.Open's rules: only the first signature by each key counts.
func Verify(msg []byte, known note.Verifiers) (*Statement, error) {
	c, err := Check(msg, known)
	if err != nil {
		return nil, err
	}
	return c.Resolve(known)
}

// Checked is a parsed statement with the outcome of each signature checked
// against a set of keys. Resolve then gives the verified statement for the
// keys known at some moment, checking at that point any signature whose key
// was not in the set: the outcome is the same as Verify's at that moment,
// whatever set Check was given. So a statement can be checked once, even
// ahead of time against every key a ledger ever registers, and resolved
// cheaply as a replay reaches it. A Checked is immutable and safe for
// concurrent use.
type Checked struct {
	stmt *Statement
	text []byte
	sigs []sigCheck
}

type sigState int8

const (
	sigUnchecked sigState = iota
	sigValid
	sigInvalid
)

type sigCheck struct {
	name  string
	hash  uint32
	sig   []byte
	state sigState
}

// Check parses msg and checks each signature whose key known holds. Its
// only errors are about the statement's form; signature outcomes wait for
// Resolve.
func Check(msg []byte, known note.Verifiers) (*Checked, error) {
	if len(msg) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(msg), MaxBytes)
	}
	n, err := openUnverified(msg)
	if err != nil {
		return nil, err
	}
	st, err := parseText(n, msg)
	if err != nil {
		return nil, err
	}
	c := &Checked{stmt: st, text: []byte(n.Text)}
	for _, us := range n.UnverifiedSigs {
		raw, err := base64.StdEncoding.DecodeString(us.Base64)
		if err != nil || len(raw) < 5 {
			return nil, fmt.Errorf("%w: bad signature encoding", ErrMalformed)
		}
		sc := sigCheck{name: us.Name, hash: us.Hash, sig: raw[4:]}
		if v, err := known.Verifier(us.Name, us.Hash); err == nil && v.Name() == us.Name && v.KeyHash() == us.Hash {
			sc.state = sigInvalid
			if v.Verify(c.text, sc.sig) {
				sc.state = sigValid
			}
		}
		c.sigs = append(c.sigs, sc)
	}
	return c, nil
}

// Kind returns the statement's kind.
func (c *Checked) Kind() Kind { return c.stmt.Kind }

// Resolve returns the statement verified against the keys known now,
// with the same result as Verify(msg, known).
func (c *Checked) Resolve(known note.Verifiers) (*Statement, error) {
	type key struct {
		name string
		hash uint32
	}
	seen := make(map[key]bool)
	var signers, unverified []string
	for _, sc := range c.sigs {
		v, err := known.Verifier(sc.name, sc.hash)
		if _, ok := err.(*note.UnknownVerifierError); ok {
			unverified = append(unverified, sc.name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if v.Name() != sc.name || v.KeyHash() != sc.hash {
			return nil, fmt.Errorf("%w: verifier name or hash does not match the signature", ErrMalformed)
		}
		k := key{sc.name, sc.hash}
		if seen[k] {
			continue // note.Open counts the first signature by a key
		}
		seen[k] = true
		ok := sc.state == sigValid
		if sc.state == sigUnchecked {
			ok = v.Verify(c.text, sc.sig)
		}
		if !ok {
			return nil, &SignatureError{Party: sc.name}
		}
		signers = append(signers, sc.name)
	}
	if len(signers) == 0 {
		return nil, &UnsignedError{Names: slices.Compact(unverified)}
	}
	s := *c.stmt
	s.Signers = signers
	return &s, nil
}

// NewNonce returns a fresh random nonce for a statement that must not be
// replayed.
func NewNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
