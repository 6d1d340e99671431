// Package policy holds the documents of the clean room (parties, datasets,
// application scenarios, commitment letters, revocations and query
// requests) and the policy engine that decides every query against them.
//
// # Decisions
//
// Evaluate decides a compiled query against a Snapshot of verified
// documents. It is pure and deterministic (the time is an input; no clock,
// I/O or randomness), so an auditor's replay of the ledger reaches the same
// decision, and it reports every failing check, each with a stable code, a
// sentence and the article it enforces. A query is allowed only when: its
// letter is on record, signed by the applicant and every holder (Art. 43),
// approved, in its window, not revoked, and its scenario approved; the
// requester is the applicant or a recipient the letter names, and so is
// the result's recipient, who is not abroad for important or core data
// (Art. 59); every dataset is in the letter and its sharing and opening
// classes allow the requester (Art. 33, 35); personal data is used only
// under purposes its holders' persons authorised (Art. 39); every column
// is used only as its rule allows; nothing row-level is output (SELECT *,
// a column outside GROUP BY, a group per unit or per unique identifier);
// and the budget left on every dataset covers the cost.
//
// The cost is the requested epsilon once per aggregate and once for the
// noisy count of units that enforces the minimum group size and selects
// the released groups (Shares). Amounts are exact micro-epsilon integers.
// The SQL subset has no derived expressions yet; when it does, a derived
// value takes the strictest rule of its inputs.
//
// # Commitment letter text format, version 1
//
// A commitment letter (承诺书, Art. 36 of the Xinjiang Data Regulations,
// 新疆维吾尔自治区数据条例) is signed by the applicant and by the holder of
// every dataset it names (Art. 43), so its text is made to be read by the
// people who sign it. It travels as a [C2SP signed note] whose text is
// a header line ("cleanroom/v2 letter", its time and nonce; package
// internal/statement) followed by the letter's body. This
// section defines the body, version 1; [Letter.MarshalText] writes it and
// [ParseLetter] reads it. The format is fixed: any change is a new version
// under a new header line.
//
// Exactly one byte string encodes a given letter. A reader must refuse
// every input that a writer would not have produced byte for byte; there
// is no lenient or normalising mode. (ParseLetter checks this last by
// encoding what it parsed and comparing.)
//
// # Lines
//
// The body is a sequence of lines, each of the form "key: value" and each
// ended by a line feed (LF, 0x0A):
//
//   - The body is at most 65536 bytes; a line is at most 4096 bytes, not
//     counting its line feed.
//   - The body is valid UTF-8. Lines end in LF alone (no carriage return);
//     the last line ends in LF too; there are no blank lines.
//   - A line is a key (lower-case ASCII, one of the keys below), a colon,
//     exactly one space (U+0020) and the value. The value is not empty and
//     neither begins nor ends with white space: U+0009–U+000D, U+0020,
//     U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F
//     or U+3000. So no line begins or ends with a space. Spaces, including
//     the ideographic space U+3000, may appear inside a value.
//   - No line holds a control or invisible formatting character, which
//     could make what a signer sees differ from what is signed:
//     U+0000–U+001F, U+007F–U+009F, U+00AD, U+061C, U+180E, U+200B–U+200F,
//     U+2028–U+202E, U+2060–U+206F, U+FEFF, U+FFF9–U+FFFB, U+E0000–U+E007F.
//
// # Keys
//
// The keys appear in exactly this order, each as often as shown, and
// nothing follows the last:
//
//	id                   once          the letter's id
//	applicant            once          a party name
//	scenario             once          a scenario id, one space, the scenario's text
//	purpose              one or more   a text
//	safeguard            one or more   a text
//	not-before           once          a time
//	not-after            once          a time, later than not-before
//	end-of-purpose       at most once  a time, later than not-before
//	min-group-size       once          an integer, at least 1
//	max-groups-per-unit  once          an integer, at least 1
//	noise                at most once  providers
//	recipient            zero or more  a party name
//	dataset              one or more   a dataset name, opening a block of:
//	  epsilon            once          the letter's ε budget on the dataset
//	  delta              once          the δ used for group selection on it
//	  mode               at most once  he
//	  column             zero or more  a column rule
//	  group              zero or more  a column name, one space, a public value of it
//	prohibitions         once          the text of Art. 36(2), exactly Prohibitions
//
// "end-of-purpose" is when the purpose of the letter ends: from then on
// every dataset the letter names is sealed (Art. 31), for every query
// under any letter; without it the letter seals nothing.
//
// "group" lines list the public values of a group-by column of the
// dataset (see GroupValues), one value a line, the values of one column on
// consecutive lines, in the order the letter gives them.
//
// The keys end-of-purpose, noise, mode and group were added to version 1 as optional keys whose
// absence keeps the meaning a letter had before them, so every letter
// written before them reads and encodes as it did; a reader that does not
// know them refuses a letter that has them. "noise: providers" says that in
// HE mode the DP noise comes from every provider's agent rather than from
// the node; without it the node draws the noise. "mode: he" says that the
// dataset may be read only in multiparty HE mode; without it a query may
// read it in either mode. The defaults are never written out ("noise: node"
// is an error), so each letter keeps one encoding.
//
// Lists keep their order: two letters that name the same purposes in a
// different order are different letters, each with its one encoding. No
// list holds the same value twice (purposes, safeguards, recipients,
// datasets, the columns of a dataset, the uses of a column and the
// functions of an aggregate).
//
// # Values
//
// An id (the letter's or a scenario's) is an ASCII letter or digit followed
// by at most 63 ASCII letters, digits, '.', '_' or '-'. A party name is a
// lower-case ASCII letter followed by at most 62 lower-case letters, digits
// or '-'. A dataset or column name is a lower-case ASCII letter followed by
// at most 62 lower-case letters, digits or '_'.
//
// A text is any value the line rules allow. A scenario's text is the rest
// of its line after the scenario id and one space, and must equal the text
// the authority approved.
//
// A time is RFC 3339 in UTC with whole seconds, written exactly as
// YYYY-MM-DDTHH:MM:SSZ (20 bytes, upper-case T and Z, no fraction, no
// numeric offset), and must be a real date and time of the years 0000 to
// 9999 (no leap second). The letter is in force from not-before, inclusive,
// to not-after, exclusive.
//
// An integer is decimal digits without a sign or a leading zero, at most
// 9223372036854775807.
//
// An epsilon is a decimal with no sign, no exponent, no leading zero in its
// integer part and at most six fraction digits, the last of them not 0; a
// whole number has no point. So "3", "0.5" and "0.000001", never "3.0",
// "03", ".5", "0.50" or "1e-6". It must be above 0. (This is the String
// form of protocols/dp.Epsilon.)
//
// A delta is written as Go's strconv.FormatFloat(δ, 'g', -1, 64) writes
// it: take the shortest decimal digits d₁d₂…dₙ that read back as the same
// IEEE 754 double (as Ryū, Grisu or ECMAScript's Number::toString do) and
// the decimal exponent x of d₁ (so that δ = d₁.d₂…dₙ × 10^x); if x < -4 or
// x ≥ 6 the value is written d₁.d₂…dₙe±XX (no point when n = 1; the
// exponent has a sign and at least two digits, as in 1e-06), otherwise as
// a plain decimal with no trailing zeros (as in 0.00025). It must be above 0 and below
// 0.001, so "1e-06", "5e-07", "1.5e-05", "0.0001" and "0.00025", never
// "1e-6", "1E-06", "0.000001" or "1.50e-05".
//
// A column rule is a column name followed by one or more uses, separated by
// single spaces. A use is one of
//
//	join-key          the column may be a join key
//	group-by          the column may be grouped by
//	filter            the column may appear in a WHERE clause
//	count-only        the column may appear only inside COUNT(column)
//	aggregate(F,...)  the column may be aggregated with the functions F
//
// where the functions are one or more of COUNT, COUNT_DISTINCT (COUNT of
// the column's distinct values), SUM, AVG, MIN, MAX, MEDIAN, PERCENTILE,
// STDDEV and VARIANCE, separated by commas without spaces (the functions
// after AVG were added to version 1; a reader that does not know one
// refuses the letter). count-only allows COUNT and COUNT_DISTINCT.
// Aggregate always names its functions. A column without a rule is
// forbidden. A column computed with in an aggregate's argument (SUM(a *
// b)) must allow that aggregate, and a column compared in a CASE WHEN
// inside it must allow filter: a derived value has the strictest rule of
// its columns.
//
// # Example
//
// The letter of the green-credit scenario, signed by a bank, the market
// supervision bureau and the grid operator (the "cleanroom/v2 letter"
// header line and the signatures are not part of the body):
//
//	id: L-7
//	applicant: bank
//	scenario: GC-2025-01 绿色信贷风险评估 (green-credit risk assessment)
//	purpose: 绿色信贷定价 (pricing green credit)
//	purpose: 不得识别任何单个企业 (no enterprise may be singled out)
//	safeguard: 结果仅限本行风险管理部使用 (results used only inside the bank's risk department)
//	safeguard: 不得重新识别 (no re-identification)
//	safeguard: 期满删除 (deletion at the end of the term)
//	not-before: 2026-11-26T19:00:00Z
//	not-after: 2027-02-24T19:00:00Z
//	min-group-size: 10
//	max-groups-per-unit: 2
//	recipient: bank
//	dataset: registry
//	epsilon: 3
//	delta: 1e-06
//	column: uscc join-key
//	column: industry group-by filter
//	column: region group-by filter
//	column: registered_capital aggregate(SUM,AVG)
//	column: founded filter
//	dataset: electricity
//	epsilon: 3
//	delta: 1e-06
//	column: uscc join-key
//	column: month group-by filter
//	column: kwh aggregate(SUM,AVG)
//	dataset: loans
//	epsilon: 3
//	delta: 1e-06
//	column: uscc join-key
//	column: amount aggregate(SUM,AVG)
//	column: rate_bp aggregate(SUM,AVG)
//	column: green group-by filter
//	prohibitions: 不得超出申请的应用场景使用数据；不得篡改、破坏、泄露数据；不得危害国家安全、公共利益，不得损害个人和组织的合法权益。 / No use outside the stated scenario; no tampering, destruction or leak; no harm to national security, the public interest, trade secrets or privacy.
//
// # Errors
//
// ParseLetter and MarshalText report every problem as a [*LetterError]
// naming the line (1-based) and the key, including the problems
// [Letter.Validate] finds, whose message it keeps.
//
// [C2SP signed note]: https://c2sp.org/signed-note
package policy

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// Limits of the letter text format, version 1: the largest body and the
// longest line, in bytes, not counting the line's line feed.
const (
	letterMaxBytes = 64 << 10
	letterMaxLine  = 4096
)

// The keys of the letter text format, in their order.
const (
	keyID               = "id"
	keyApplicant        = "applicant"
	keyScenario         = "scenario"
	keyPurpose          = "purpose"
	keySafeguard        = "safeguard"
	keyNotBefore        = "not-before"
	keyNotAfter         = "not-after"
	keyEndOfPurpose     = "end-of-purpose"
	keyMinGroupSize     = "min-group-size"
	keyMaxGroupsPerUnit = "max-groups-per-unit"
	keyNoise            = "noise"
	keyRecipient        = "recipient"
	keyDataset          = "dataset"
	keyEpsilon          = "epsilon"
	keyDelta            = "delta"
	keyMode             = "mode"
	keyColumn           = "column"
	keyGroup            = "group"
	keyProhibitions     = "prohibitions"
)

// letterKeyOrder ranks each key by its place in a letter.
var letterKeyOrder = map[string]int{
	keyID: 1, keyApplicant: 2, keyScenario: 3, keyPurpose: 4, keySafeguard: 5,
	keyNotBefore: 6, keyNotAfter: 7, keyEndOfPurpose: 8, keyMinGroupSize: 9, keyMaxGroupsPerUnit: 10,
	keyNoise: 11, keyRecipient: 12, keyDataset: 13, keyEpsilon: 14, keyDelta: 15,
	keyMode: 16, keyColumn: 17, keyGroup: 18, keyProhibitions: 19,
}

// letterNext lists, for the key of a line ("" before the first), the keys
// the next line may have. The last one listed is the one the letter cannot
// do without.
var letterNext = map[string][]string{
	"":                  {keyID},
	keyID:               {keyApplicant},
	keyApplicant:        {keyScenario},
	keyScenario:         {keyPurpose},
	keyPurpose:          {keyPurpose, keySafeguard},
	keySafeguard:        {keySafeguard, keyNotBefore},
	keyNotBefore:        {keyNotAfter},
	keyNotAfter:         {keyEndOfPurpose, keyMinGroupSize},
	keyEndOfPurpose:     {keyMinGroupSize},
	keyMinGroupSize:     {keyMaxGroupsPerUnit},
	keyMaxGroupsPerUnit: {keyNoise, keyRecipient, keyDataset},
	keyNoise:            {keyRecipient, keyDataset},
	keyRecipient:        {keyRecipient, keyDataset},
	keyDataset:          {keyEpsilon},
	keyEpsilon:          {keyDelta},
	keyDelta:            {keyMode, keyColumn, keyDataset, keyProhibitions},
	keyMode:             {keyColumn, keyDataset, keyProhibitions},
	keyColumn:           {keyColumn, keyGroup, keyDataset, keyProhibitions},
	keyGroup:            {keyGroup, keyDataset, keyProhibitions},
	keyProhibitions:     {},
}

// letterOnce holds the keys that appear at most once (epsilon, delta and
// mode once per dataset).
var letterOnce = map[string]bool{
	keyID: true, keyApplicant: true, keyScenario: true, keyNotBefore: true, keyNotAfter: true, keyEndOfPurpose: true,
	keyMinGroupSize: true, keyMaxGroupsPerUnit: true, keyNoise: true, keyEpsilon: true,
	keyDelta: true, keyMode: true, keyProhibitions: true,
}

// letterTimeLayout is the one form of a time in a letter.
const letterTimeLayout = "2006-01-02T15:04:05Z"

// LetterError locates a problem in a letter's text, or in a letter that
// cannot be written as text.
type LetterError struct {
	// Line is the 1-based line of the body the problem is on (or, for a
	// missing line, where it belongs), or 0 if it is not about a line.
	Line int
	// Key is the key of that line, if known.
	Key string
	// Msg says what is wrong.
	Msg string
	// Err is the underlying error, if any: that of Letter.Validate. Msg
	// includes its text.
	Err error
}

// Error returns the problem as, for example, "letter: line 7 (not-after):
// not an RFC 3339 UTC time with seconds, like 2026-01-02T15:04:05Z".
func (e *LetterError) Error() string {
	switch {
	case e.Line > 0 && e.Key != "":
		return fmt.Sprintf("letter: line %d (%s): %s", e.Line, e.Key, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("letter: line %d: %s", e.Line, e.Msg)
	case e.Key != "":
		return fmt.Sprintf("letter: (%s): %s", e.Key, e.Msg)
	}
	return "letter: " + e.Msg
}

// Unwrap returns Err.
func (e *LetterError) Unwrap() error { return e.Err }

// MarshalText returns the letter's body in the v1 text format (see the
// package documentation). It checks the letter with Validate first, and
// also refuses what the format cannot hold: a text with a forbidden
// character or with white space at either end, a time with a fraction of a
// second or outside the years 0000 to 9999, a list holding a value twice,
// a line or a body that is too long. Times are written in UTC. Every error
// is a *LetterError naming the line the problem would be on.
func (l *Letter) MarshalText() ([]byte, error) {
	if l == nil {
		return nil, &LetterError{Msg: "nil letter"}
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	return l.marshal()
}

// marshal is MarshalText for a letter that Validate accepts.
func (l *Letter) marshal() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(1024)
	line := 0
	var lerr *LetterError
	put := func(key, value string) {
		line++
		if lerr != nil {
			return
		}
		if msg := checkLetterValue(value); msg != "" {
			lerr = &LetterError{Line: line, Key: key, Msg: msg}
			return
		}
		if n := len(key) + 2 + len(value); n > letterMaxLine {
			lerr = &LetterError{Line: line, Key: key, Msg: fmt.Sprintf("line of %d bytes, longer than %d", n, letterMaxLine)}
			return
		}
		b.WriteString(key)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteByte('\n')
	}
	fail := func(key, format string, args ...any) {
		if lerr == nil {
			lerr = &LetterError{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
		}
	}
	putList := func(key string, values []string) {
		for i, v := range values {
			put(key, v)
			if j := slices.Index(values[:i], v); j >= 0 {
				fail(key, "%s repeats line %d", key, line-i+j)
			}
		}
	}
	putTime := func(key string, t time.Time) {
		s, msg := formatLetterTime(t)
		put(key, s)
		if msg != "" {
			fail(key, "%s", msg)
		}
	}

	put(keyID, l.ID)
	put(keyApplicant, l.Applicant)
	put(keyScenario, l.Scenario.ID+" "+l.Scenario.Text)
	if msg := checkLetterValue(l.Scenario.Text); msg != "" {
		fail(keyScenario, "scenario text: %s", msg)
	}
	if strings.ContainsFunc(l.Scenario.ID, unicode.IsSpace) {
		fail(keyScenario, "the scenario id holds white space")
	}
	putList(keyPurpose, l.Purposes)
	putList(keySafeguard, l.Safeguards)
	putTime(keyNotBefore, l.NotBefore)
	putTime(keyNotAfter, l.NotAfter)
	if !l.EndOfPurpose.IsZero() {
		putTime(keyEndOfPurpose, l.EndOfPurpose)
	}
	put(keyMinGroupSize, strconv.FormatInt(l.MinGroupSize, 10))
	put(keyMaxGroupsPerUnit, strconv.FormatInt(l.MaxGroupsPerUnit, 10))
	if l.Noise == NoiseProviders {
		put(keyNoise, string(NoiseProviders))
	}
	putList(keyRecipient, l.Recipients)
	for _, d := range l.Datasets {
		put(keyDataset, d.Name)
		put(keyEpsilon, d.Epsilon.String())
		put(keyDelta, strconv.FormatFloat(d.Delta, 'g', -1, 64))
		if d.Mode == ModeHE {
			put(keyMode, string(ModeHE))
		}
		for i := range d.Columns {
			s, msg := formatColumnRule(&d.Columns[i])
			if msg != "" {
				line++
				fail(keyColumn, "%s", msg)
				continue
			}
			put(keyColumn, s)
		}
		for _, g := range d.Groups {
			for _, v := range g.Values {
				put(keyGroup, g.Column+" "+v)
			}
		}
	}
	put(keyProhibitions, l.Prohibitions)
	if lerr != nil {
		return nil, lerr
	}
	if b.Len() > letterMaxBytes {
		return nil, &LetterError{Msg: fmt.Sprintf("%d bytes, more than the %d a letter may have", b.Len(), letterMaxBytes)}
	}
	return b.Bytes(), nil
}

// ParseLetter parses a letter's body in the v1 text format (see the package
// documentation). It is strict: it checks the syntax, then the letter with
// Validate, then that MarshalText returns the input byte for byte, so that
// any form but the canonical one is an error. Empty lists are nil in the
// letter returned, and its times are in UTC. Every error is a
// *LetterError.
func ParseLetter(body []byte) (*Letter, error) {
	l, err := parseLetter(body)
	if err != nil {
		return nil, err
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	enc, err := l.marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(enc, body) {
		return nil, notCanonical(body, enc)
	}
	return l, nil
}

// notCanonical reports the first line where body differs from enc, the
// canonical encoding of what it parsed to. A strict parser never gets here.
func notCanonical(body, enc []byte) error {
	i := 0
	for i < len(body) && i < len(enc) && body[i] == enc[i] {
		i++
	}
	start := bytes.LastIndexByte(enc[:i], '\n') + 1
	want, _, _ := strings.Cut(string(enc[start:]), "\n")
	key, _, _ := strings.Cut(want, ":")
	return &LetterError{Line: bytes.Count(body[:i], []byte("\n")) + 1, Key: key,
		Msg: fmt.Sprintf("not in canonical form: want %q", want)}
}

// validate runs Validate and locates its error.
func (l *Letter) validate() error {
	err := l.Validate()
	if err == nil {
		return nil
	}
	line, key := l.locateInvalid()
	return &LetterError{Line: line, Key: key, Msg: err.Error(), Err: err}
}

// letterLayout holds the line numbers of a letter's encoding, or where a
// missing line would be.
type letterLayout struct {
	// The first line of each part.
	purposes, safeguards, notBefore, recipients, datasets, prohibitions int
	// The line of each dataset key.
	dataset []int
}

func (l *Letter) layout() letterLayout {
	var lo letterLayout
	lo.purposes = 4
	lo.safeguards = lo.purposes + len(l.Purposes)
	lo.notBefore = lo.safeguards + len(l.Safeguards)
	lo.recipients = lo.notBefore + 4
	lo.datasets = lo.recipients + len(l.Recipients)
	n := lo.datasets
	for _, d := range l.Datasets {
		lo.dataset = append(lo.dataset, n)
		n += 3 + len(d.Columns) + groupLines(&d)
		if d.Mode == ModeHE {
			n++
		}
	}
	lo.prohibitions = n
	return lo
}

// locateInvalid returns the line and key of the first problem Validate
// finds, testing the same conditions in the same order, or 0 and "" if it
// finds none.
func (l *Letter) locateInvalid() (int, string) {
	lo := l.layout()
	switch {
	case !letterIDRE.MatchString(l.ID):
		return 1, keyID
	case !ValidPartyName(l.Applicant):
		return 2, keyApplicant
	case !letterIDRE.MatchString(l.Scenario.ID) || l.Scenario.Text == "":
		return 3, keyScenario
	case len(l.Purposes) == 0:
		return lo.purposes, keyPurpose
	case len(l.Safeguards) == 0:
		return lo.safeguards, keySafeguard
	case l.NotBefore.IsZero():
		return lo.notBefore, keyNotBefore
	case !l.NotAfter.After(l.NotBefore):
		return lo.notBefore + 1, keyNotAfter
	case l.MinGroupSize < 1:
		return lo.notBefore + 2, keyMinGroupSize
	case l.MaxGroupsPerUnit < 1:
		return lo.notBefore + 3, keyMaxGroupsPerUnit
	}
	for i, r := range l.Recipients {
		if !ValidPartyName(r) {
			return lo.recipients + i, keyRecipient
		}
	}
	if len(l.Datasets) == 0 {
		return lo.datasets, keyDataset
	}
	seen := map[string]bool{}
	for i, d := range l.Datasets {
		at := lo.dataset[i]
		if !schema.ValidName(d.Name) || seen[d.Name] {
			return at, keyDataset
		}
		seen[d.Name] = true
		if d.Epsilon <= 0 {
			return at + 1, keyEpsilon
		}
		if !(d.Delta > 0 && d.Delta < 1e-3) {
			return at + 2, keyDelta
		}
		cols := at + 3
		if d.Mode == ModeHE {
			cols++
		}
		seenCol := map[string]bool{}
		for j, r := range d.Columns {
			bad := !schema.ValidName(r.Column) || seenCol[r.Column] || len(r.Uses) == 0 ||
				slices.ContainsFunc(r.Uses, func(u Use) bool { return !knownUse(u) }) ||
				slices.Contains(r.Uses, query.UseAggregate) != (len(r.Funcs) > 0) ||
				slices.ContainsFunc(r.Funcs, func(f query.Func) bool { return !knownFunc(f) })
			if bad {
				return cols + j, keyColumn
			}
			seenCol[r.Column] = true
		}
		if j, why := d.checkGroups(); why != "" {
			return cols + len(d.Columns) + j, keyGroup
		}
	}
	if l.Prohibitions != Prohibitions {
		return lo.prohibitions, keyProhibitions
	}
	return 0, ""
}

// groupLines counts the group lines of a dataset.
func groupLines(d *LetterDataset) int {
	n := 0
	for _, g := range d.Groups {
		n += len(g.Values)
	}
	return n
}

func knownUse(u Use) bool {
	switch u {
	case query.UseJoinKey, query.UseGroupBy, query.UseFilter, query.UseAggregate, CountOnly:
		return true
	}
	return false
}

func knownFunc(f query.Func) bool { return slices.Contains(query.Funcs, f) }

// funcList names the aggregate functions a letter may allow, for messages.
func funcList() string {
	names := make([]string, len(query.Funcs))
	for i, f := range query.Funcs {
		names[i] = string(f)
	}
	return strings.Join(names, ", ")
}

// forbiddenInLetter reports whether r is a control or invisible formatting
// character, which no line of a letter may hold.
func forbiddenInLetter(r rune) bool {
	switch {
	case 0x20 <= r && r < 0x7f:
		return false
	case r < 0x20, 0x7f <= r && r <= 0x9f, r == 0xad, r == 0x61c, r == 0x180e,
		0x200b <= r && r <= 0x200f, 0x2028 <= r && r <= 0x202e, 0x2060 <= r && r <= 0x206f,
		r == 0xfeff, 0xfff9 <= r && r <= 0xfffb, 0xe0000 <= r && r <= 0xe007f:
		return true
	}
	return false
}

// checkLetterValue checks a value (or a part of one that stands at both its
// ends, like a scenario's text) against the line rules, and returns what is
// wrong or "".
func checkLetterValue(s string) string {
	if s == "" {
		return "empty value"
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		if forbiddenInLetter(r) {
			return fmt.Sprintf("holds %U, a control or invisible formatting character", r)
		}
	}
	if r, _ := utf8.DecodeRuneInString(s); unicode.IsSpace(r) {
		return fmt.Sprintf("begins with white space %U", r)
	}
	if r, _ := utf8.DecodeLastRuneInString(s); unicode.IsSpace(r) {
		return fmt.Sprintf("ends with white space %U", r)
	}
	return ""
}

// formatLetterTime returns t's form in a letter and, if it has none, why.
func formatLetterTime(t time.Time) (string, string) {
	t = t.UTC()
	s := t.Format(letterTimeLayout)
	if t.Nanosecond() != 0 {
		return s, "time has a fraction of a second; a letter holds whole seconds"
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return s, fmt.Sprintf("year %d is outside 0000 to 9999", y)
	}
	return s, ""
}

// formatColumnRule returns r's form in a letter and, if it has none, why.
func formatColumnRule(r *ColumnRule) (string, string) {
	if r.Column == "" || strings.ContainsAny(r.Column, " ") {
		return "", fmt.Sprintf("invalid column name %q", r.Column)
	}
	var b strings.Builder
	b.WriteString(r.Column)
	for i, u := range r.Uses {
		if !knownUse(u) {
			return "", fmt.Sprintf("unknown use %q", u)
		}
		if slices.Contains(r.Uses[:i], u) {
			return "", fmt.Sprintf("column %s: use %s appears twice", r.Column, u)
		}
		b.WriteByte(' ')
		b.WriteString(string(u))
		if u != query.UseAggregate {
			continue
		}
		b.WriteByte('(')
		for j, f := range r.Funcs {
			if !knownFunc(f) {
				return "", fmt.Sprintf("unknown aggregate %q", f)
			}
			if slices.Contains(r.Funcs[:j], f) {
				return "", fmt.Sprintf("column %s: aggregate %s appears twice", r.Column, f)
			}
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(string(f))
		}
		b.WriteByte(')')
	}
	return b.String(), ""
}

// letterParser holds the state of parseLetter.
type letterParser struct {
	l    *Letter
	line int
	key  string          // the key of the current line, once known
	last string          // the key of the previous line
	seen map[string]bool // keys of letterOnce seen (epsilon and delta: in this dataset)
	at   map[string]int  // line of each purpose, safeguard and recipient seen, by key and value
}

// parseLetter parses the syntax of a letter body: everything but Validate
// and the comparison with MarshalText.
func parseLetter(body []byte) (*Letter, error) {
	if len(body) > letterMaxBytes {
		return nil, &LetterError{Msg: fmt.Sprintf("%d bytes, more than the %d a letter may have", len(body), letterMaxBytes)}
	}
	if len(body) == 0 {
		return nil, &LetterError{Line: 1, Key: keyID, Msg: "empty letter"}
	}
	p := &letterParser{l: &Letter{}, seen: map[string]bool{}, at: map[string]int{}}
	rest := string(body)
	for rest != "" {
		p.line++
		text, after, ok := strings.Cut(rest, "\n")
		rest = after
		if msg := p.parseLine(text, ok); msg != "" {
			return nil, &LetterError{Line: p.line, Key: p.key, Msg: msg}
		}
	}
	if want := letterNext[p.last]; len(want) > 0 {
		missing := want[len(want)-1]
		return nil, &LetterError{Line: p.line + 1, Key: missing, Msg: fmt.Sprintf("missing %s: the letter ends before it", missing)}
	}
	return p.l, nil
}

// parseLine parses one line, without its line feed; terminated says
// whether it had one. It returns what is wrong, or "".
func (p *letterParser) parseLine(text string, terminated bool) string {
	p.key = ""
	if k, _, ok := strings.Cut(text, ":"); ok && letterKeyOrder[k] > 0 {
		p.key = k
	}
	switch {
	case !terminated:
		return "no line feed at the end of the letter"
	case len(text) > letterMaxLine:
		return fmt.Sprintf("line of %d bytes, longer than %d", len(text), letterMaxLine)
	case !utf8.ValidString(text):
		return "not valid UTF-8"
	case text == "":
		return "blank line"
	case strings.HasSuffix(text, "\r"):
		return "carriage return (CR) at the end of the line: lines end in a line feed alone"
	}
	for _, r := range text {
		if forbiddenInLetter(r) {
			return fmt.Sprintf("holds %U, a control or invisible formatting character", r)
		}
	}
	if r, _ := utf8.DecodeRuneInString(text); unicode.IsSpace(r) {
		return "the line begins with white space"
	}
	if r, _ := utf8.DecodeLastRuneInString(text); r == ' ' {
		return "trailing space"
	} else if unicode.IsSpace(r) {
		return fmt.Sprintf("trailing white space %U", r)
	}
	key, rest, ok := strings.Cut(text, ":")
	if !ok {
		return "want a line of the form key: value"
	}
	if p.key == "" {
		return fmt.Sprintf("unknown key %q", key)
	}
	if msg := p.order(key); msg != "" {
		return msg
	}
	value, ok := strings.CutPrefix(rest, " ")
	switch {
	case rest == "":
		return "empty value"
	case !ok:
		return "want one space after the colon"
	case strings.HasPrefix(value, " "):
		return "want exactly one space after the colon"
	}
	if r, _ := utf8.DecodeRuneInString(value); unicode.IsSpace(r) {
		return fmt.Sprintf("the value begins with white space %U", r)
	}
	return p.value(key, value)
}

// order checks that key may come next, and records it.
func (p *letterParser) order(key string) string {
	want := letterNext[p.last]
	if !slices.Contains(want, key) {
		switch {
		case len(want) == 0:
			return fmt.Sprintf("nothing may follow %s", p.last)
		case letterOnce[key] && p.seen[key] && (key == keyEpsilon || key == keyDelta || key == keyMode):
			return fmt.Sprintf("duplicate %s: a dataset has one", key)
		case letterOnce[key] && p.seen[key]:
			return fmt.Sprintf("duplicate %s: a letter has one", key)
		}
		if need := want[len(want)-1]; letterKeyOrder[key] > letterKeyOrder[need] {
			return fmt.Sprintf("missing %s before %s", need, key)
		}
		return fmt.Sprintf("%s out of order: want %s here", key, orList(want))
	}
	if key == keyDataset {
		delete(p.seen, keyEpsilon)
		delete(p.seen, keyDelta)
		delete(p.seen, keyMode)
	}
	p.seen[key] = true
	p.last = key
	return ""
}

func orList(keys []string) string {
	switch len(keys) {
	case 1:
		return keys[0]
	case 2:
		return keys[0] + " or " + keys[1]
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " or " + keys[len(keys)-1]
}

// value parses the value of a line whose key came in order.
func (p *letterParser) value(key, v string) string {
	l := p.l
	var msg string
	switch key {
	case keyID:
		l.ID = v
	case keyApplicant:
		l.Applicant = v
	case keyScenario:
		id, text, ok := strings.Cut(v, " ")
		if !ok {
			return "want the scenario id, one space, then the scenario's text"
		}
		if r, _ := utf8.DecodeRuneInString(text); unicode.IsSpace(r) {
			return "want one space between the scenario id and its text"
		}
		l.Scenario = Scenario{ID: id, Text: text}
	case keyPurpose:
		msg = p.list(&l.Purposes, key, v)
	case keySafeguard:
		msg = p.list(&l.Safeguards, key, v)
	case keyNotBefore:
		l.NotBefore, msg = parseLetterTime(v)
	case keyNotAfter:
		l.NotAfter, msg = parseLetterTime(v)
	case keyEndOfPurpose:
		l.EndOfPurpose, msg = parseLetterTime(v)
	case keyMinGroupSize:
		l.MinGroupSize, msg = parseLetterInt(v)
	case keyMaxGroupsPerUnit:
		l.MaxGroupsPerUnit, msg = parseLetterInt(v)
	case keyNoise:
		switch NoiseSource(v) {
		case NoiseProviders:
			l.Noise = NoiseProviders
		case NoiseNode:
			msg = "noise: node is the default: leave the line out"
		default:
			msg = fmt.Sprintf("unknown noise source %q (want providers, or no noise line for the node)", v)
		}
	case keyRecipient:
		msg = p.list(&l.Recipients, key, v)
	case keyDataset:
		l.Datasets = append(l.Datasets, LetterDataset{Name: v})
	case keyEpsilon:
		d := &l.Datasets[len(l.Datasets)-1]
		d.Epsilon, msg = parseLetterEpsilon(v)
	case keyDelta:
		d := &l.Datasets[len(l.Datasets)-1]
		d.Delta, msg = parseLetterDelta(v)
	case keyMode:
		d := &l.Datasets[len(l.Datasets)-1]
		if Mode(v) != ModeHE {
			msg = fmt.Sprintf("unknown mode %q (want he, or no mode line for either mode)", v)
		}
		d.Mode = ModeHE
	case keyColumn:
		d := &l.Datasets[len(l.Datasets)-1]
		var r ColumnRule
		if r, msg = parseColumnRule(v); msg == "" {
			d.Columns = append(d.Columns, r)
		}
	case keyGroup:
		d := &l.Datasets[len(l.Datasets)-1]
		col, val, ok := strings.Cut(v, " ")
		if !ok || val == "" || strings.HasPrefix(val, " ") {
			return "want the column name, one space, then the public value"
		}
		if n := len(d.Groups); n > 0 && d.Groups[n-1].Column == col {
			d.Groups[n-1].Values = append(d.Groups[n-1].Values, val)
			break
		}
		if _, ok := d.GroupValues(col); ok {
			return fmt.Sprintf("the public values of column %s must be on consecutive lines", col)
		}
		d.Groups = append(d.Groups, GroupValues{Column: col, Values: []string{val}})
	case keyProhibitions:
		l.Prohibitions = v
	}
	return msg
}

// list appends v to a list that may not hold a value twice.
func (p *letterParser) list(list *[]string, key, v string) string {
	if at := p.at[key+":"+v]; at > 0 {
		return fmt.Sprintf("%s repeats line %d", key, at)
	}
	p.at[key+":"+v] = p.line
	*list = append(*list, v)
	return ""
}

func parseLetterTime(v string) (time.Time, string) {
	const bad = "not an RFC 3339 UTC time with seconds, like 2026-01-02T15:04:05Z"
	if len(v) != len(letterTimeLayout) {
		switch {
		case len(v) > 19 && v[19] == '.':
			return time.Time{}, bad + " (no fraction of a second)"
		case len(v) > 19 && (v[19] == '+' || v[19] == '-'):
			return time.Time{}, bad + " (in UTC, ending in Z)"
		}
		return time.Time{}, bad
	}
	for i := 0; i < len(v); i++ {
		c, want := v[i], letterTimeLayout[i]
		if '0' <= want && want <= '9' {
			if c < '0' || c > '9' {
				return time.Time{}, bad
			}
		} else if c != want {
			return time.Time{}, bad
		}
	}
	t, err := time.Parse(letterTimeLayout, v)
	if err != nil {
		return time.Time{}, bad + " (no such date or time)"
	}
	if t.Format(letterTimeLayout) != v {
		return time.Time{}, bad
	}
	return t, ""
}

func parseLetterInt(v string) (int64, string) {
	switch {
	case v[0] == '+' || v[0] == '-':
		return 0, "not a canonical decimal integer: no sign is allowed"
	case strings.ContainsFunc(v, func(r rune) bool { return r < '0' || r > '9' }):
		return 0, "not a decimal integer"
	case len(v) > 1 && v[0] == '0':
		return 0, "not a canonical decimal integer: no leading zeros are allowed"
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, "integer out of range (at most 9223372036854775807)"
	}
	return n, ""
}

func parseLetterEpsilon(v string) (dp.Epsilon, string) {
	e, err := dp.ParseEpsilon(v)
	if err != nil {
		return 0, err.Error()
	}
	if s := e.String(); s != v {
		return 0, fmt.Sprintf("epsilon not in canonical form: write %s", s)
	}
	return e, ""
}

func parseLetterDelta(v string) (float64, string) {
	d, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, "delta is not a number like 1e-06"
	}
	if s := strconv.FormatFloat(d, 'g', -1, 64); s != v {
		return 0, fmt.Sprintf("delta not in canonical form: write %s", s)
	}
	return d, ""
}

func parseColumnRule(v string) (ColumnRule, string) {
	toks := strings.Split(v, " ")
	if slices.Contains(toks, "") {
		return ColumnRule{}, "want the column name and its uses separated by single spaces"
	}
	r := ColumnRule{Column: toks[0]}
	for _, t := range toks[1:] {
		u, args := Use(t), ""
		switch t {
		case string(query.UseJoinKey), string(query.UseGroupBy), string(query.UseFilter), string(CountOnly):
		case string(query.UseAggregate):
			return ColumnRule{}, "aggregate needs its functions, like aggregate(SUM,AVG)"
		default:
			var ok bool
			if args, ok = strings.CutPrefix(t, string(query.UseAggregate)+"("); !ok {
				return ColumnRule{}, fmt.Sprintf("unknown use %q (want join-key, group-by, filter, aggregate(...) or count-only)", t)
			}
			if args, ok = strings.CutSuffix(args, ")"); !ok {
				return ColumnRule{}, "want aggregate's functions in parentheses, separated by commas without spaces, like aggregate(SUM,AVG)"
			}
			u = query.UseAggregate
		}
		if slices.Contains(r.Uses, u) {
			return ColumnRule{}, fmt.Sprintf("use %s appears twice", u)
		}
		r.Uses = append(r.Uses, u)
		if u != query.UseAggregate {
			continue
		}
		for _, f := range strings.Split(args, ",") {
			fn := query.Func(f)
			switch {
			case !knownFunc(fn):
				return ColumnRule{}, fmt.Sprintf("unknown aggregate function %q (want functions of %s, separated by commas)", f, funcList())
			case slices.Contains(r.Funcs, fn):
				return ColumnRule{}, fmt.Sprintf("aggregate function %s appears twice", f)
			}
			r.Funcs = append(r.Funcs, fn)
		}
	}
	return r, ""
}
