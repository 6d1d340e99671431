package policy

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// HEKey is the collective key of the multiparty HE mode as the state holds
// it, once its setup has completed.
type HEKey struct {
	// Setup is the setup's id.
	Setup string `json:"setup"`
	// Providers are the parties whose agents hold a share of the secret
	// key; every one of them must agree to each decryption.
	Providers []string `json:"providers"`
	// PlaintextModulus is T of the parameter set: sums are exact modulo T.
	PlaintextModulus uint64 `json:"plaintext_modulus"`
	// KeySHA256 is the hex SHA-256 of the collective public key.
	KeySHA256 string `json:"key_sha256"`
}

// MaxExact is the largest absolute value that decrypts exactly.
func (k *HEKey) MaxExact() uint64 { return (k.PlaintextModulus - 1) / 2 }

// Treatment says how an HE-mode upload carries a column.
type Treatment string

// The treatments of a column in an HE-mode upload.
const (
	// Clear columns reach the node as they are: group-by and filter.
	Clear Treatment = "clear"
	// Fingerprint columns are keyed join tokens: join keys and the unit.
	Fingerprint Treatment = "fingerprint"
	// Encrypted columns are encrypted under the collective key.
	Encrypted Treatment = "encrypted"
	// Absent columns were not uploaded at all.
	Absent Treatment = ""
)

// HEData is what the HE-mode uploads of a dataset hold.
type HEData struct {
	// Rows is the total number of rows uploaded in HE mode.
	Rows int64 `json:"rows"`
	// Columns maps each uploaded column to its treatment.
	Columns map[string]Treatment `json:"columns"`
}

// Treatment returns how column c is carried (Absent if it is not).
func (h *HEData) Treatment(c string) Treatment { return h.Columns[c] }

// HESnapshot is what Evaluate needs to decide queries in HE mode. A
// Snapshot that does not implement it has no HE mode: every HE query is
// denied as not set up.
type HESnapshot interface {
	// HEKey returns the collective key once set up.
	HEKey() (*HEKey, bool)
	// HEData returns a dataset's HE-mode uploads, if any.
	HEData(dataset string) (*HEData, bool)
}

// Reason codes of HE mode.
const (
	CodeMode          = "mode-invalid"
	CodeModeRequired  = "he-mode-required"
	CodeHENotReady    = "he-not-set-up"
	CodeHENoData      = "he-no-data"
	CodeHEColumn      = "he-column-treatment"
	CodeHEOverflow    = "he-overflow"
	CodeHEResultKey   = "he-result-key"
	heOverflowArticle = "Art. 19"
)

// noiseTails is how many noise scales above the largest sum the plaintext
// modulus must leave free: a Laplace sample exceeds 50 scales with
// probability e⁻⁵⁰ (below 2⁻⁷²).
const noiseTails = 50

// checkMode decides the execution mode and, in HE mode, checks everything
// the encrypted execution needs. It returns the mode.
func checkMode(s Snapshot, l *Letter, in Input, datasets []*Dataset, per float64, deny denyFunc) Mode {
	req := in.Request
	mode := req.Mode
	switch mode {
	case "", ModeSealed, ModeHE:
	default:
		deny(CodeMode, "Art. 19", "unknown execution mode %q (want sealed or he)", mode)
		return ""
	}
	for _, ds := range datasets {
		ld, ok := l.Dataset(ds.Name)
		if !ok || ld.Mode != ModeHE {
			continue
		}
		if mode == ModeSealed {
			deny(CodeModeRequired, "Art. 19", "commitment letter %s lets dataset %s be read only in multiparty HE mode; ask with mode he", l.ID, ds.Name)
		}
		if mode == "" {
			mode = ModeHE
		}
	}
	if mode == "" {
		mode = ModeSealed
	}
	if mode != ModeHE {
		if req.ResultKey != "" {
			deny(CodeHEResultKey, "Art. 19", "a result key is for HE mode; a sealed-mode result is not encrypted to one")
		}
		return mode
	}
	if !validHex(req.ResultKey, 64) {
		deny(CodeHEResultKey, "Art. 19", "HE mode needs the hex SHA-256 of the operator's result public key, got %q", req.ResultKey)
	}
	hs, ok := s.(HESnapshot)
	var key *HEKey
	if ok {
		key, ok = hs.HEKey()
	}
	if !ok {
		deny(CodeHENotReady, "Art. 19", "multiparty HE mode is not set up: the providers' agents have not generated a collective key")
		return mode
	}
	data := map[string]*HEData{}
	for _, ds := range datasets {
		h, ok := hs.HEData(ds.Name)
		if !ok {
			deny(CodeHENoData, "Art. 19", "dataset %s has no HE-mode upload", ds.Name)
			continue
		}
		data[ds.Name] = h
	}
	if len(data) != len(datasets) {
		return mode
	}
	p := in.Plan
	treat := func(c query.Column) Treatment { return data[c.Table].Treatment(c.Name) }
	for _, u := range p.Uses() {
		t := treat(u.Column)
		var why string
		switch {
		case t == Absent:
			why = "was not uploaded for HE mode"
		case u.Use == query.UseGroupBy || u.Use == query.UseFilter:
			if t != Clear {
				why = fmt.Sprintf("is %s in HE mode; %s needs a clear column", t, useText(u))
			}
		case u.Use == query.UseAggregate && u.Func != query.Count:
			if t == Fingerprint {
				why = "is a keyed fingerprint in HE mode; it can be joined or counted, not summed"
			}
		}
		if why != "" {
			deny(CodeHEColumn, "Art. 19", "column %s %s", u.Column, why)
		}
	}
	for _, j := range p.Joins {
		if a, b := treat(j.Left), treat(j.Right); a != b && a != Absent && b != Absent {
			deny(CodeHEColumn, "Art. 19", "join %s = %s compares a %s column with a %s one in HE mode", j.Left, j.Right, a, b)
		}
	}
	if len(p.Tables) > 0 {
		t0 := p.Tables[0].Name
		if ds, ok := s.Dataset(t0); ok && ds.Unit != "" && data[t0].Treatment(ds.Unit) == Absent {
			deny(CodeHEColumn, "Art. 19", "the privacy unit %s.%s was not uploaded for HE mode, so contributions cannot be bounded", t0, ds.Unit)
		}
	}
	checkOverflow(s, l, p, data, key, per, deny)
	return mode
}

// checkOverflow refuses a query whose encrypted sums could wrap around the
// plaintext modulus: a wrapped sum decrypts silently to a wrong value. The
// bound is static, from what the state knows before anything runs: at
// most rows(first table) × L0 × L∞ joined rows are kept, each value is
// within its declared bounds, and the noise of every contributor adds
// noiseTails scales.
func checkOverflow(s Snapshot, l *Letter, p *query.Plan, data map[string]*HEData, key *HEKey, per float64, deny denyFunc) {
	if len(p.Tables) == 0 {
		return
	}
	linf := 1.0
	for _, t := range p.Tables {
		if ds, ok := s.Dataset(t.Name); ok {
			linf *= float64(ds.RowsPerUnit())
		}
	}
	l0 := 1.0
	if len(p.GroupBy) > 0 {
		l0 = float64(l.MaxGroupsPerUnit)
	}
	kept := float64(data[p.Tables[0].Name].Rows) * l0 * linf
	contributors := 1.0
	if l.NoiseFrom() == NoiseProviders {
		contributors = float64(len(key.Providers))
	}
	limit := float64(key.MaxExact())
	for _, o := range p.Outputs {
		if (o.Func != query.Sum && o.Func != query.Avg) || o.Column == nil {
			continue
		}
		if data[o.Column.Table].Treatment(o.Column.Name) != Encrypted {
			continue
		}
		ds, ok := s.Dataset(o.Column.Table)
		if !ok {
			continue
		}
		i := ds.Schema.Index(o.Column.Name)
		if i < 0 {
			continue
		}
		lo, hi := columnBounds(ds.Schema.Columns[i])
		m := math.Max(math.Abs(lo), math.Abs(hi))
		// A SUM's noise has scale L0·L∞·M/ε; an AVG carries 2S − (lo+hi)·C,
		// at most 4·kept·M, with the noise of its halved budget doubled.
		value, scale := kept*m, l0*linf*m/per
		if o.Func == query.Avg {
			value, scale = 4*kept*m, 4*l0*linf*m/per
		}
		if need := value + noiseTails*scale*contributors; !(need < limit) {
			deny(CodeHEOverflow, heOverflowArticle,
				"%s(%s) could reach %.3g with its noise, beyond the %.3g that the HE parameters hold exactly (%.0f rows × %g per row); lower the bounds or the rows, or use sealed mode",
				o.Func, o.Column, need, limit, kept, m)
		}
	}
}

// columnBounds returns the declared bounds of a summable column.
func columnBounds(c schema.Column) (float64, float64) {
	if c.Type == schema.Bool || c.Min == nil || c.Max == nil {
		return 0, 1
	}
	return float64(*c.Min), float64(*c.Max)
}

func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	return !slices.ContainsFunc([]byte(s), func(c byte) bool { return !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') })
}

// Agent is the body of an agent statement, signed by the provider it
// serves: where the node reaches the provider's agent, how it pins the
// agent's TLS certificate, and the agent's age recipient, to which the
// other agents encrypt the shared fingerprint key. A later statement
// replaces an earlier one.
type Agent struct {
	Party string `json:"party"`
	// URL is the agent's https URL.
	URL string `json:"url"`
	// Pin is the hex SHA-256 of the agent's TLS certificate (DER).
	Pin string `json:"pin"`
	// Recipient is the agent's age recipient.
	Recipient string `json:"recipient"`
}

// Validate checks the agent document's form.
func (a *Agent) Validate() error {
	if !ValidPartyName(a.Party) {
		return fmt.Errorf("agent: invalid party name %q", a.Party)
	}
	if !strings.HasPrefix(a.URL, "https://") || len(a.URL) > 512 || strings.ContainsAny(a.URL, " \t\r\n") {
		return fmt.Errorf("agent of %s: URL %q is not an https URL", a.Party, a.URL)
	}
	if !validHex(a.Pin, 64) {
		return fmt.Errorf("agent of %s: pin must be the hex SHA-256 of its certificate", a.Party)
	}
	if !strings.HasPrefix(a.Recipient, "age1") || len(a.Recipient) > 4096 {
		return fmt.Errorf("agent of %s: %q is not an age recipient", a.Party, a.Recipient)
	}
	return nil
}

// HESetup is the body of an mhe-setup statement, signed by the authority:
// it starts the generation of the collective key by the agents of the
// providers it names, from a public random seed. Once the node has logged
// the collective key, HE mode is set up; a setup that did not complete may
// be replaced by another with a new id and seed.
type HESetup struct {
	ID        string   `json:"id"`
	Providers []string `json:"providers"`
	// Seed is 32 random bytes in hex: the common reference string.
	Seed string `json:"seed"`
	// PlaintextModulus is T of the parameter set (protocols/mhe).
	PlaintextModulus uint64 `json:"plaintext_modulus"`
}

// Validate checks the setup document's form.
func (h *HESetup) Validate() error {
	if !letterIDRE.MatchString(h.ID) {
		return fmt.Errorf("mhe setup: invalid id %q", h.ID)
	}
	if len(h.Providers) == 0 || len(h.Providers) > 64 {
		return fmt.Errorf("mhe setup %s: name 1 to 64 providers", h.ID)
	}
	for i, p := range h.Providers {
		if !ValidPartyName(p) {
			return fmt.Errorf("mhe setup %s: invalid provider %q", h.ID, p)
		}
		if slices.Contains(h.Providers[:i], p) {
			return fmt.Errorf("mhe setup %s: provider %s named twice", h.ID, p)
		}
	}
	if !validHex(h.Seed, 64) {
		return fmt.Errorf("mhe setup %s: the seed must be 64 lower-case hex digits", h.ID)
	}
	if h.PlaintextModulus < 3 || h.PlaintextModulus%2 == 0 {
		return fmt.Errorf("mhe setup %s: plaintext modulus %d is not an odd modulus", h.ID, h.PlaintextModulus)
	}
	return nil
}

// HEShare is the body of an mhe-share statement, signed by a provider's
// agent: its public-key-generation share for a setup, by hash. The node
// logs every provider's HEShare with the collective key.
type HEShare struct {
	Setup       string `json:"setup"`
	Party       string `json:"party"`
	ShareSHA256 string `json:"share_sha256"`
	// FingerprintSHA256 is, from the first provider of the setup, the hex
	// SHA-256 of the fingerprint key it made (its text form): the other
	// agents accept the key the node relays only if it matches, so the
	// node cannot slip in a key of its own.
	FingerprintSHA256 string `json:"fingerprint_sha256,omitempty"`
}

// HEUpload describes an upload in HE mode: the collective key its
// encrypted columns are under and how it carries each column.
type HEUpload struct {
	KeySHA256 string               `json:"key_sha256"`
	Columns   map[string]Treatment `json:"columns"`
}

// Validate checks the HE part of an upload of dataset d.
func (h *HEUpload) Validate(d *Dataset) error {
	if !validHex(h.KeySHA256, 64) {
		return fmt.Errorf("HE upload to %s: the key hash must be 64 lower-case hex digits", d.Name)
	}
	if len(h.Columns) == 0 {
		return fmt.Errorf("HE upload to %s: no columns", d.Name)
	}
	for c, t := range h.Columns {
		i := d.Schema.Index(c)
		if i < 0 {
			return fmt.Errorf("HE upload to %s: column %q is not in the schema", d.Name, c)
		}
		switch t {
		case Clear, Fingerprint:
		case Encrypted:
			if d.Schema.Columns[i].Type == schema.String {
				return fmt.Errorf("HE upload to %s: string column %s cannot be encrypted for sums", d.Name, c)
			}
		default:
			return fmt.Errorf("HE upload to %s: column %s has unknown treatment %q (want clear, fingerprint or encrypted)", d.Name, c, t)
		}
	}
	if d.Unit != "" && h.Columns[d.Unit] != Fingerprint && h.Columns[d.Unit] != Clear {
		return fmt.Errorf("HE upload to %s: the privacy unit %s must be uploaded as a fingerprint", d.Name, d.Unit)
	}
	return nil
}
