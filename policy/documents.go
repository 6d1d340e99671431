package policy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// PartyKind is the kind of a party under Art. 21.
type PartyKind string

// The party kinds. Data held by a public body or a public-service operator
// is public data (Art. 21).
const (
	PublicBody    PartyKind = "public-body"
	PublicService PartyKind = "public-service"
	Enterprise    PartyKind = "enterprise"
	Individual    PartyKind = "individual"
)

// Party is a registered party: the body of a party statement, signed by the
// authority and by the party's own key (proof of possession).
type Party struct {
	Name string    `json:"name"` // key name, also the party's id
	Kind PartyKind `json:"kind"`
	// Display is the party's full name, e.g. 自治区市场监督管理局.
	Display string `json:"display,omitempty"`
	// Jurisdiction is an ISO 3166-1 alpha-2 code; "CN" is domestic (Art. 59).
	Jurisdiction string `json:"jurisdiction"`
	// Key is the party's note verifier key (name+hash+key).
	Key string `json:"key"`
}

var partyNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
var letterIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
var jurisdictionRE = regexp.MustCompile(`^[A-Z]{2}$`)

// ValidPartyName reports whether s is a valid party name.
func ValidPartyName(s string) bool { return partyNameRE.MatchString(s) }

// Validate checks the party document's form.
func (p *Party) Validate() error {
	if !ValidPartyName(p.Name) {
		return fmt.Errorf("party: invalid name %q (want a lower-case letter, then letters, digits or -)", p.Name)
	}
	switch p.Kind {
	case PublicBody, PublicService, Enterprise, Individual:
	default:
		return fmt.Errorf("party %s: unknown kind %q (want public-body, public-service, enterprise or individual; Art. 21)", p.Name, p.Kind)
	}
	if !jurisdictionRE.MatchString(p.Jurisdiction) {
		return fmt.Errorf("party %s: jurisdiction %q is not a two-letter country code (Art. 59)", p.Name, p.Jurisdiction)
	}
	return nil
}

// Public reports whether data held by the party is public data (Art. 21).
func (p *Party) Public() bool { return p.Kind == PublicBody || p.Kind == PublicService }

// Domestic reports whether the party is in China (Art. 59).
func (p *Party) Domestic() bool { return p.Jurisdiction == "CN" }

// Sharing is a dataset's sharing class (Art. 33).
type Sharing string

// The sharing classes.
const (
	ShareUnconditional Sharing = "unconditional"
	ShareConditional   Sharing = "conditional"
	ShareNone          Sharing = "none"
)

// Opening is a dataset's opening class (Art. 35).
type Opening string

// The opening classes.
const (
	OpenUnconditional Opening = "unconditional"
	OpenConditional   Opening = "conditional"
	OpenNone          Opening = "not-open"
)

// Level is a data level (Art. 56).
type Level string

// The levels.
const (
	General   Level = "general"
	Important Level = "important"
	Core      Level = "core"
)

// Dataset is the body of a dataset registration, signed by its holder.
type Dataset struct {
	Name   string        `json:"name"`
	Holder string        `json:"holder"` // party name (Art. 12)
	Source string        `json:"source"` // source department (Art. 23, 42(1))
	Schema schema.Schema `json:"schema"`
	// Declaration states where the data came from (Art. 42(1)). Required.
	Declaration *SourceDeclaration `json:"declaration"`
	// Items lists the data items this dataset's source department is the
	// legal source of (Art. 23: one source per item). A data item
	// registered from one source department cannot be registered from
	// another.
	Items []DataItem `json:"items,omitempty"`
	// SecretCatalogue keeps the dataset's catalogue entry from every party
	// but public bodies (Art. 25).
	SecretCatalogue bool `json:"secret_catalogue,omitempty"`
	// Sharing and Opening are the classes of Art. 33 and Art. 35;
	// Conditions states them for a conditional class and LegalBasis cites
	// the law for "none" / "not-open".
	Sharing    Sharing `json:"sharing"`
	Opening    Opening `json:"opening"`
	Conditions string  `json:"conditions,omitempty"`
	LegalBasis string  `json:"legal_basis,omitempty"`
	Level      Level   `json:"level"`
	// Unit names the privacy-unit column (one person or enterprise), or is
	// empty when each row is its own unit.
	Unit string `json:"unit,omitempty"`
	// MaxRowsPerUnit caps the rows one unit may have in the dataset, and so
	// bounds its contribution to a result. Defaults to 1.
	MaxRowsPerUnit int64 `json:"max_rows_per_unit,omitempty"`
	// Unique lists identifier columns, unique per row: grouping by one is
	// row-level output (Art. 57(7)).
	Unique []string `json:"unique,omitempty"`
	// Personal marks personal information (Art. 39), if any.
	Personal *Personal `json:"personal,omitempty"`
}

// Personal describes the personal information in a dataset (Art. 39): the
// columns that hold it and the purposes the persons authorised. A query
// that touches these columns is allowed only under a letter whose every
// purpose is within Scope.
type Personal struct {
	Columns []string `json:"columns"`
	Scope   []string `json:"scope"`
	// Basis says how the authorisation was obtained.
	Basis string `json:"basis"`
}

// SourceDeclaration is a provider's data-source statement (Art. 42(1)):
// where the data came from, on what legal basis, and when it was
// collected.
type SourceDeclaration struct {
	// Origin says how and where the data was collected.
	Origin string `json:"origin"`
	// LegalBasis cites the law or authorisation under which it was.
	LegalBasis string `json:"legal_basis"`
	// CollectedFrom and CollectedTo bound the collection, YYYY-MM-DD.
	CollectedFrom string `json:"collected_from"`
	CollectedTo   string `json:"collected_to"`
}

// DataItem names the catalogue-wide data item a column holds, such as
// "enterprise.registered_capital".
type DataItem struct {
	Column string `json:"column"`
	Item   string `json:"item"`
}

var itemRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$`)

// validate checks the declaration of dataset name.
func (s *SourceDeclaration) validate(name string) error {
	const art = "(Art. 42(1))"
	if s == nil {
		return fmt.Errorf("dataset %s: a data-source statement is required: where the data came from, its legal basis and the collection dates %s", name, art)
	}
	if strings.TrimSpace(s.Origin) == "" || strings.TrimSpace(s.LegalBasis) == "" {
		return fmt.Errorf("dataset %s: the data-source statement needs the origin of the data and its legal basis %s", name, art)
	}
	from, err1 := time.Parse(time.DateOnly, s.CollectedFrom)
	to, err2 := time.Parse(time.DateOnly, s.CollectedTo)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("dataset %s: the data-source statement's collection dates %q and %q must be YYYY-MM-DD %s", name, s.CollectedFrom, s.CollectedTo, art)
	}
	if to.Before(from) {
		return fmt.Errorf("dataset %s: the collection ends (%s) before it starts (%s) %s", name, s.CollectedTo, s.CollectedFrom, art)
	}
	return nil
}

// Validate checks the dataset document's form.
func (d *Dataset) Validate() error {
	if !schema.ValidName(d.Name) {
		return fmt.Errorf("dataset: invalid name %q (want a lower-case letter, then letters, digits or _)", d.Name)
	}
	if d.Source == "" {
		return fmt.Errorf("dataset %s: source department is required (Art. 23, Art. 42(1))", d.Name)
	}
	if err := d.Declaration.validate(d.Name); err != nil {
		return err
	}
	seenItems := map[string]bool{}
	for _, it := range d.Items {
		if d.Schema.Index(it.Column) < 0 {
			return fmt.Errorf("dataset %s: data item %s names column %q, which is not in the schema (Art. 23)", d.Name, it.Item, it.Column)
		}
		if !itemRE.MatchString(it.Item) {
			return fmt.Errorf("dataset %s: data item name %q: want dotted lower-case words, like enterprise.registered_capital (Art. 23)", d.Name, it.Item)
		}
		if seenItems[it.Item] {
			return fmt.Errorf("dataset %s: data item %s listed twice (Art. 23)", d.Name, it.Item)
		}
		seenItems[it.Item] = true
	}
	if err := d.Schema.Validate(); err != nil {
		return fmt.Errorf("dataset %s: %w", d.Name, err)
	}
	switch d.Sharing {
	case ShareUnconditional:
	case ShareConditional:
		if d.Conditions == "" {
			return fmt.Errorf("dataset %s: conditional sharing must state its conditions (Art. 33)", d.Name)
		}
	case ShareNone:
		if d.LegalBasis == "" {
			return fmt.Errorf("dataset %s: sharing class none must cite its legal basis (Art. 33)", d.Name)
		}
	default:
		return fmt.Errorf("dataset %s: unknown sharing class %q (want unconditional, conditional or none; Art. 33)", d.Name, d.Sharing)
	}
	switch d.Opening {
	case OpenUnconditional, OpenConditional:
	case OpenNone:
		if d.LegalBasis == "" {
			return fmt.Errorf("dataset %s: opening class not-open must cite its legal basis (Art. 35)", d.Name)
		}
	default:
		return fmt.Errorf("dataset %s: unknown opening class %q (want unconditional, conditional or not-open; Art. 35)", d.Name, d.Opening)
	}
	switch d.Level {
	case General, Important, Core:
	default:
		return fmt.Errorf("dataset %s: unknown level %q (want general, important or core; Art. 56)", d.Name, d.Level)
	}
	if d.Unit != "" && d.Schema.Index(d.Unit) < 0 {
		return fmt.Errorf("dataset %s: privacy unit column %q is not in the schema", d.Name, d.Unit)
	}
	if d.MaxRowsPerUnit < 0 || d.MaxRowsPerUnit > 1_000_000 {
		return fmt.Errorf("dataset %s: max_rows_per_unit %d out of range [1, 1000000]", d.Name, d.MaxRowsPerUnit)
	}
	if d.Unit == "" && d.MaxRowsPerUnit > 1 {
		return fmt.Errorf("dataset %s: max_rows_per_unit needs a privacy unit column", d.Name)
	}
	for _, c := range d.Unique {
		if d.Schema.Index(c) < 0 {
			return fmt.Errorf("dataset %s: unique column %q is not in the schema", d.Name, c)
		}
	}
	if p := d.Personal; p != nil {
		if len(p.Columns) == 0 || len(p.Scope) == 0 || p.Basis == "" {
			return fmt.Errorf("dataset %s: personal information needs its columns, the authorised purposes and the basis of the authorisation (Art. 39)", d.Name)
		}
		for _, c := range p.Columns {
			if d.Schema.Index(c) < 0 {
				return fmt.Errorf("dataset %s: personal column %q is not in the schema (Art. 39)", d.Name, c)
			}
		}
	}
	return nil
}

// RowsPerUnit returns MaxRowsPerUnit with its default.
func (d *Dataset) RowsPerUnit() int64 { return max(d.MaxRowsPerUnit, 1) }

// Upload is the body of an upload statement, signed by the dataset's holder.
// It binds the holder to the plaintext it sent (by hash) without revealing it.
type Upload struct {
	Dataset  string `json:"dataset"`
	UploadID string `json:"upload_id"` // 32 hex digits, chosen by the client
	File     string `json:"file"`      // the file's base name, for error messages
	Rows     int64  `json:"rows"`
	// PlaintextSHA256 is the hex SHA-256 of the rows in Format, the same
	// bytes from every source: of the part's rows for a part of a
	// multipart upload, of all the rows for an HE upload.
	PlaintextSHA256 string `json:"plaintext_sha256"`
	// Format is the form of the rows the plaintext holds and the hash
	// covers: "" for the canonical CSV of the schema
	// (connectors.CSVWriter), UploadColumnar for a columnar part
	// (internal/columnar's CRPART2, which the client encodes from the
	// rows alone).
	Format string `json:"format,omitempty"`
	// HE is set for an upload in multiparty HE mode.
	HE *HEUpload `json:"he,omitempty"`
	// Part is set for one part of a multipart upload.
	Part *UploadPart `json:"part,omitempty"`
}

// UploadColumnar is Upload.Format for a columnar part.
const UploadColumnar = "crpart2"

// MaxUploadParts bounds the parts of one multipart upload.
const MaxUploadParts = 1 << 16

// UploadPart places an upload in a multipart upload: a large table sent as
// several uploads, each a whole CSV of some of its rows, that the dataset
// takes only when all have landed. Until then the parts are kept but not
// queried, so that an interrupted upload can go on where it stopped and a
// half-sent table is never read.
type UploadPart struct {
	// Set is the multipart upload's ID, 32 hex digits chosen by the
	// client, the same in every part.
	Set string `json:"set"`
	// Index is the part's place, from 0.
	Index int `json:"index"`
	// Last marks the final part: the upload is complete when parts 0 to
	// this one have all landed.
	Last bool `json:"last,omitempty"`
}

// Abandon is the body of an upload-abandon statement, signed by the
// dataset's holder: the landed parts of an incomplete multipart upload are
// deleted and the upload takes no more parts.
type Abandon struct {
	Dataset string `json:"dataset"`
	Set     string `json:"set"`
	Reason  string `json:"reason"`
}

// Use is a column use a letter may allow.
type Use = query.Use

// The uses a column rule may grant, beyond those of package query. A column
// absent from a letter is forbidden (the default).
const (
	// CountOnly allows a column only inside COUNT(col).
	CountOnly Use = "count-only"
)

// ColumnRule says how a letter allows one column to be used. A column may
// have several uses (for example group-by and filter).
type ColumnRule struct {
	Column string `json:"column"`
	Uses   []Use  `json:"uses"`
	// Funcs lists the aggregate functions allowed when Uses holds
	// "aggregate": a subset of COUNT, SUM, AVG.
	Funcs []query.Func `json:"funcs,omitempty"`
}

// String renders the rule as in a letter, e.g. "group-by filter" or
// "aggregate(SUM,AVG)".
func (r *ColumnRule) String() string {
	parts := make([]string, len(r.Uses))
	for i, u := range r.Uses {
		parts[i] = string(u)
		if u == query.UseAggregate {
			fs := make([]string, len(r.Funcs))
			for j, f := range r.Funcs {
				fs[j] = string(f)
			}
			parts[i] += "(" + strings.Join(fs, ",") + ")"
		}
	}
	return strings.Join(parts, " ")
}

// Allows reports whether the rule allows use u (with aggregate f).
func (r *ColumnRule) Allows(u Use, f query.Func) bool {
	switch u {
	case query.UseAggregate:
		if (f == query.Count || f == query.CountDistinct) && slices.Contains(r.Uses, CountOnly) {
			return true
		}
		return slices.Contains(r.Uses, query.UseAggregate) && slices.Contains(r.Funcs, f)
	}
	return slices.Contains(r.Uses, u)
}

// LetterDataset is a dataset a letter covers: its privacy budget and the
// rule of each column it allows.
type LetterDataset struct {
	Name string `json:"name"`
	// Epsilon is the letter's privacy budget on this dataset.
	Epsilon dp.Epsilon `json:"epsilon"`
	// Delta is used for group selection over this dataset.
	Delta float64 `json:"delta"`
	// Mode is ModeHE when the dataset may be read only in multiparty HE
	// mode, empty when either mode may read it.
	Mode    Mode         `json:"mode,omitempty"`
	Columns []ColumnRule `json:"columns"`
	// Groups are the public values of group-by columns (see GroupValues).
	Groups []GroupValues `json:"groups,omitempty"`
}

// MaxGroupValues is the most public values a letter lists for a column.
const MaxGroupValues = 1024

// GroupValues are the public values of a group-by column, which the
// letter's signers agree are known to all (the 20 industry sections of
// GB/T 4754, the 14 prefectures, the 12 months): a query that groups only
// by columns with public values releases a row for every combination of
// them, in the letter's order, including those no row falls in, instead
// of choosing groups by a noisy count (partition selection), and spends
// no δ on the choice; rows with other values are left out. A group whose
// noisy count of units is below the minimum group size still appears,
// with its aggregates withheld.
type GroupValues struct {
	Column string   `json:"column"`
	Values []string `json:"values"`
}

// checkGroups checks the public group values: each of a column the letter
// allows as group-by, listed once, with between 1 and MaxGroupValues
// values, each a letter text, none twice. It returns the index of the
// first bad value counted over all lists (or of the list, for a list
// problem) and what is wrong, or "".
func (ld *LetterDataset) checkGroups() (int, string) {
	at := 0
	seen := map[string]bool{}
	for _, g := range ld.Groups {
		r, ok := ld.Rule(g.Column)
		switch {
		case !ok || !slices.Contains(r.Uses, query.UseGroupBy):
			return at, fmt.Sprintf("public group values of column %s, which the letter does not allow as group-by", g.Column)
		case seen[g.Column]:
			return at, fmt.Sprintf("public group values of column %s listed twice", g.Column)
		case len(g.Values) == 0:
			return at, fmt.Sprintf("column %s has an empty list of public group values", g.Column)
		case len(g.Values) > MaxGroupValues:
			return at, fmt.Sprintf("column %s has %d public group values, at most %d", g.Column, len(g.Values), MaxGroupValues)
		}
		seen[g.Column] = true
		for i, v := range g.Values {
			if msg := checkLetterValue(v); msg != "" {
				return at + i, fmt.Sprintf("public group value %q of column %s: %s", v, g.Column, msg)
			}
			if slices.Contains(g.Values[:i], v) {
				return at + i, fmt.Sprintf("public group value %q of column %s listed twice", v, g.Column)
			}
		}
		at += len(g.Values)
	}
	return 0, ""
}

// GroupValues returns the letter's public values of a column, if any.
func (ld *LetterDataset) GroupValues(column string) ([]string, bool) {
	for _, g := range ld.Groups {
		if g.Column == column {
			return g.Values, true
		}
	}
	return nil, false
}

// Mode is an execution mode (DESIGN.md: sealed or multiparty HE).
type Mode string

// The modes.
const (
	ModeSealed Mode = "sealed"
	ModeHE     Mode = "he"
)

// NoiseSource says who draws the DP noise of an HE-mode release.
type NoiseSource string

// The noise sources. The node is the default.
const (
	// NoiseNode: the node draws the noise through the DP library and adds
	// it under encryption. A node colluding with the operator can remove
	// it.
	NoiseNode NoiseSource = "node"
	// NoiseProviders: every provider's agent draws a full noise sample and
	// adds it inside its key-switch share, so that even the node, the
	// operator and all providers but one together cannot remove the honest
	// provider's noise. The price is accuracy: with k providers the noise
	// is the sum of k samples, √k times the standard deviation.
	NoiseProviders NoiseSource = "providers"
)

// Rule returns the rule of the named column.
func (ld *LetterDataset) Rule(column string) (*ColumnRule, bool) {
	for i := range ld.Columns {
		if ld.Columns[i].Column == column {
			return &ld.Columns[i], true
		}
	}
	return nil, false
}

// Scenario is an application scenario (Art. 36): registered, approved and
// possibly withdrawn by the authority. A letter names one.
type Scenario struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// ScenarioStatus is the authority's word on a scenario.
type ScenarioStatus string

// The scenario statuses.
const (
	ScenarioApproved  ScenarioStatus = "approved"
	ScenarioWithdrawn ScenarioStatus = "withdrawn"
)

// ScenarioDecision is the body of a scenario statement, signed by the
// authority: it approves a scenario (registering it the first time) or
// withdraws it. Letters are valid only while their scenario is approved.
type ScenarioDecision struct {
	Scenario Scenario       `json:"scenario"`
	Status   ScenarioStatus `json:"status"`
	Reason   string         `json:"reason,omitempty"`
}

// Prohibitions is the fixed text of Art. 36(2) that every letter carries.
const Prohibitions = "不得超出申请的应用场景使用数据；不得篡改、破坏、泄露数据；不得危害国家安全、公共利益，不得损害个人和组织的合法权益。" +
	" / No use outside the stated scenario; no tampering, destruction or leak; no harm to national security, the public interest, trade secrets or privacy."

// Letter is a commitment letter (承诺书, Art. 36): signed by the applicant
// and by the holder of every dataset it names (Art. 43). Its text form is
// defined by MarshalText and ParseLetter.
type Letter struct {
	ID         string    `json:"id"`
	Applicant  string    `json:"applicant"`
	Scenario   Scenario  `json:"scenario"`
	Purposes   []string  `json:"purposes"`
	Safeguards []string  `json:"safeguards"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	// EndOfPurpose, if set, is when the purpose ends: from then on the
	// datasets the letter names are sealed (Art. 31).
	EndOfPurpose time.Time `json:"end_of_purpose,omitzero"`
	// MinGroupSize is the smallest number of units a released group may
	// have; important and core data take at least 20 and 50 (Art. 56).
	MinGroupSize int64 `json:"min_group_size"`
	// MaxGroupsPerUnit bounds how many groups one unit contributes to.
	MaxGroupsPerUnit int64 `json:"max_groups_per_unit"`
	// Recipients lists the parties that may receive results besides the
	// applicant.
	Recipients []string `json:"recipients"`
	// Noise says who draws the DP noise in HE mode; empty means the node.
	Noise        NoiseSource     `json:"noise,omitempty"`
	Datasets     []LetterDataset `json:"datasets"`
	Prohibitions string          `json:"prohibitions"`
}

// Validate checks the letter's form (not its signatures or its datasets).
func (l *Letter) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("letter %s: "+format+" (Art. 36)", append([]any{l.ID}, args...)...)
	}
	if !letterIDRE.MatchString(l.ID) {
		return fmt.Errorf("letter: invalid id %q", l.ID)
	}
	if !ValidPartyName(l.Applicant) {
		return bad("invalid applicant %q", l.Applicant)
	}
	if !letterIDRE.MatchString(l.Scenario.ID) || l.Scenario.Text == "" {
		return bad("the application scenario needs an id and a text")
	}
	if len(l.Purposes) == 0 {
		return bad("no purposes stated")
	}
	if len(l.Safeguards) == 0 {
		return bad("no security safeguards declared")
	}
	if l.NotBefore.IsZero() || !l.NotAfter.After(l.NotBefore) {
		return bad("validity window must have not_before before not_after")
	}
	if !l.EndOfPurpose.IsZero() && !l.EndOfPurpose.After(l.NotBefore) {
		return bad("the end of purpose must come after not_before")
	}
	if l.MinGroupSize < 1 {
		return bad("min_group_size must be at least 1")
	}
	if l.MaxGroupsPerUnit < 1 {
		return bad("max_groups_per_unit must be at least 1")
	}
	for _, r := range l.Recipients {
		if !ValidPartyName(r) {
			return bad("invalid recipient %q", r)
		}
	}
	switch l.Noise {
	case "", NoiseNode, NoiseProviders:
	default:
		return bad("unknown noise source %q (want node or providers)", l.Noise)
	}
	if len(l.Datasets) == 0 {
		return bad("no datasets")
	}
	seen := map[string]bool{}
	for _, d := range l.Datasets {
		if !schema.ValidName(d.Name) {
			return bad("invalid dataset name %q", d.Name)
		}
		if seen[d.Name] {
			return bad("dataset %s listed twice", d.Name)
		}
		seen[d.Name] = true
		if d.Epsilon <= 0 {
			return bad("dataset %s: the epsilon budget must be positive", d.Name)
		}
		if !(d.Delta > 0 && d.Delta < 1e-3) {
			return bad("dataset %s: delta %g must be in (0, 0.001)", d.Name, d.Delta)
		}
		if d.Mode != "" && d.Mode != ModeHE {
			return bad("dataset %s: unknown mode %q (want he, or none for either mode)", d.Name, d.Mode)
		}
		cols := map[string]bool{}
		for _, r := range d.Columns {
			if !schema.ValidName(r.Column) {
				return bad("dataset %s: invalid column name %q", d.Name, r.Column)
			}
			if cols[r.Column] {
				return bad("column %s.%s has two rules", d.Name, r.Column)
			}
			cols[r.Column] = true
			if len(r.Uses) == 0 {
				return bad("column %s.%s: a rule needs at least one use (leave a column out to forbid it)", d.Name, r.Column)
			}
			for _, u := range r.Uses {
				switch u {
				case query.UseJoinKey, query.UseGroupBy, query.UseFilter, query.UseAggregate, CountOnly:
				default:
					return bad("column %s.%s: unknown use %q (want join-key, group-by, filter, aggregate or count-only)", d.Name, r.Column, u)
				}
			}
			agg := slices.Contains(r.Uses, query.UseAggregate)
			if agg != (len(r.Funcs) > 0) {
				return bad("column %s.%s: aggregate needs its functions, and only aggregate takes them", d.Name, r.Column)
			}
			for _, f := range r.Funcs {
				if !knownFunc(f) {
					return bad("column %s.%s: unknown aggregate %q (want %s)", d.Name, r.Column, f, funcList())
				}
			}
		}
		if _, why := d.checkGroups(); why != "" {
			return bad("dataset %s: %s", d.Name, why)
		}
	}
	if l.Prohibitions != Prohibitions {
		return bad("the prohibitions of Art. 36(2) must be stated exactly")
	}
	return nil
}

// MarshalJSON encodes the letter as a JSON object: its spec form, as
// 'cleanroom commitment draft' reads it and the API shows it. Without it,
// encoding/json would use MarshalText for an addressable letter and write
// the signed text form as a string.
func (l Letter) MarshalJSON() ([]byte, error) {
	type plain Letter
	return json.Marshal(plain(l))
}

// NoiseFrom returns who draws the noise in HE mode.
func (l *Letter) NoiseFrom() NoiseSource {
	if l.Noise == NoiseProviders {
		return NoiseProviders
	}
	return NoiseNode
}

// Dataset returns the letter's entry for the named dataset.
func (l *Letter) Dataset(name string) (*LetterDataset, bool) {
	for i := range l.Datasets {
		if l.Datasets[i].Name == name {
			return &l.Datasets[i], true
		}
	}
	return nil, false
}

// Revocation is the body of a revocation statement, signed by the authority
// or by the holder of a dataset the letter names. It takes effect for every
// query decided after it.
type Revocation struct {
	Letter string `json:"letter"`
	Reason string `json:"reason"`
}

// Approval is the authority's approval of a letter and its scenario.
type Approval struct {
	Letter string `json:"letter"`
	// LetterSHA256 is the hex SHA-256 of the whole signed letter approved.
	LetterSHA256 string `json:"letter_sha256"`
}

// Request is the body of a query statement, signed by the operator.
type Request struct {
	SQL    string `json:"sql"`
	Letter string `json:"letter"`
	// Epsilon is what the operator is willing to spend on this query, as a
	// decimal string; every dataset read is charged this much.
	Epsilon string `json:"epsilon"`
	// Recipient is the party that receives the result. Defaults to the
	// requester.
	Recipient string    `json:"recipient,omitempty"`
	Nonce     string    `json:"nonce"`
	Time      time.Time `json:"time"`
	// DryRun asks for the decision and its cost without running or spending.
	DryRun bool `json:"dry_run,omitempty"`
	// Mode is the execution mode asked for: sealed, he, or empty for the
	// one the letter requires (sealed when it requires none).
	Mode Mode `json:"mode,omitempty"`
	// ResultKey is, in HE mode, the hex SHA-256 of the operator's result
	// public key: the agents switch the result to that key only.
	ResultKey string `json:"result_key,omitempty"`
}
