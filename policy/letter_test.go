package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/stretchr/testify/require"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xjdata/cleanroom/protocols/dp"
	"github.com/xjdata/cleanroom/query"
)

var updateLetters = flag.Bool("update", false, "rewrite the golden letters in testdata/letters from their Go values")

func letterRule(col string, uses ...Use) ColumnRule { return ColumnRule{Column: col, Uses: uses} }

func letterAgg(col string, fs ...query.Func) ColumnRule {
	return ColumnRule{Column: col, Uses: []Use{query.UseAggregate}, Funcs: fs}
}

// greenCreditLetter is the commitment letter of SCENARIO.md.
func greenCreditLetter() *Letter {
	nb := time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)
	sumAvg := []query.Func{query.Sum, query.Avg}
	return &Letter{
		ID:        "L-7",
		Applicant: "bank",
		Scenario:  Scenario{ID: "GC-2025-01", Text: "绿色信贷风险评估 (green-credit risk assessment)"},
		Purposes:  []string{"绿色信贷定价 (pricing green credit)", "不得识别任何单个企业 (no enterprise may be singled out)"},
		Safeguards: []string{
			"结果仅限本行风险管理部使用 (results used only inside the bank's risk department)",
			"不得重新识别 (no re-identification)",
			"期满删除 (deletion at the end of the term)",
		},
		NotBefore:        nb,
		NotAfter:         nb.AddDate(0, 0, 90),
		MinGroupSize:     10,
		MaxGroupsPerUnit: 2,
		Recipients:       []string{"bank"},
		Datasets: []LetterDataset{
			{Name: "registry", Epsilon: 3_000_000, Delta: 1e-6, Columns: []ColumnRule{
				letterRule("uscc", query.UseJoinKey),
				letterRule("industry", query.UseGroupBy, query.UseFilter),
				letterRule("region", query.UseGroupBy, query.UseFilter),
				letterAgg("registered_capital", sumAvg...),
				letterRule("founded", query.UseFilter),
			}},
			{Name: "electricity", Epsilon: 3_000_000, Delta: 1e-6, Columns: []ColumnRule{
				letterRule("uscc", query.UseJoinKey),
				letterRule("month", query.UseGroupBy, query.UseFilter),
				letterAgg("kwh", sumAvg...),
			}},
			{Name: "loans", Epsilon: 3_000_000, Delta: 1e-6, Columns: []ColumnRule{
				letterRule("uscc", query.UseJoinKey),
				letterAgg("amount", sumAvg...),
				letterAgg("rate_bp", sumAvg...),
				letterRule("green", query.UseGroupBy, query.UseFilter),
			}},
		},
		Prohibitions: Prohibitions,
	}
}

// minimalLetter has one of every list that needs one, and nothing else.
func minimalLetter() *Letter {
	return &Letter{
		ID:               "L-1",
		Applicant:        "bank",
		Scenario:         Scenario{ID: "GC-2025-01", Text: "绿色信贷风险评估 (green-credit risk assessment)"},
		Purposes:         []string{"绿色信贷定价 (pricing green credit)"},
		Safeguards:       []string{"期满删除 (deletion at the end of the term)"},
		NotBefore:        time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC),
		NotAfter:         time.Date(2027, 2, 24, 19, 0, 0, 0, time.UTC),
		MinGroupSize:     10,
		MaxGroupsPerUnit: 1,
		Datasets:         []LetterDataset{{Name: "registry", Epsilon: 1_000_000, Delta: 1e-6}},
		Prohibitions:     Prohibitions,
	}
}

// variedLetter uses every feature of the format: each use, functions in
// an unusual order, fractional budgets, both forms of delta, several
// recipients, noise from the providers, a dataset that requires HE mode, a
// dataset without columns, a text with a colon and an ideographic space
// inside.
func variedLetter() *Letter {
	return &Letter{
		ID:               "2026.bank_L-42",
		Applicant:        "bank",
		Scenario:         Scenario{ID: "GC.2025_02", Text: "绿色信贷：按行业、地区　(green credit: by industry, region)"},
		Purposes:         []string{"a", "绿色信贷定价", "pricing: green credit"},
		Safeguards:       []string{"结果仅限本行风险管理部使用"},
		NotBefore:        time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		NotAfter:         time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
		EndOfPurpose:     time.Date(2026, 9, 30, 16, 0, 0, 0, time.UTC),
		MinGroupSize:     20,
		MaxGroupsPerUnit: 9223372036854775807,
		Recipients:       []string{"bank", "audit-firm", "overseas-2"},
		Noise:            NoiseProviders,
		Datasets: []LetterDataset{
			{Name: "electricity", Epsilon: 500_000, Delta: 0.00025, Mode: ModeHE, Columns: []ColumnRule{
				letterRule("kwh", CountOnly),
				letterRule("month", query.UseFilter, query.UseGroupBy),
				letterRule("uscc", query.UseJoinKey),
			}},
			{Name: "loans", Epsilon: 1_250_000, Delta: 5e-7, Columns: []ColumnRule{
				{Column: "amount", Uses: []Use{query.UseFilter, query.UseAggregate}, Funcs: []query.Func{query.Avg, query.Count, query.Sum}},
				letterRule("green", CountOnly, query.UseGroupBy),
				letterAgg("rate_bp", query.Count),
				{Column: "x_1", Uses: []Use{query.UseAggregate, CountOnly, query.UseJoinKey, query.UseGroupBy, query.UseFilter}, Funcs: []query.Func{query.Sum}},
			}},
			{Name: "permits", Epsilon: 1, Delta: 1e-9},
		},
		Prohibitions: Prohibitions,
	}
}

// statisticsLetter allows the aggregates added after COUNT, SUM and AVG.
func statisticsLetter() *Letter {
	l := minimalLetter()
	l.ID = "L-STATS"
	l.Datasets[0].Columns = []ColumnRule{
		letterRule("uscc", query.UseJoinKey, CountOnly),
		{Column: "kwh", Uses: []Use{query.UseAggregate}, Funcs: []query.Func{query.Median, query.Percentile, query.Min, query.Max, query.Stddev, query.Variance, query.CountDistinct}},
	}
	return l
}

// publicGroupsLetter lists public values of two group-by columns.
func publicGroupsLetter() *Letter {
	l := minimalLetter()
	l.ID = "L-GROUPS"
	l.Datasets[0].Mode = ModeHE
	l.Datasets[0].Columns = []ColumnRule{
		letterRule("industry", query.UseGroupBy, query.UseFilter),
		letterRule("region", query.UseGroupBy),
		letterAgg("capital", query.Avg),
	}
	l.Datasets[0].Groups = []GroupValues{
		{Column: "region", Values: []string{"乌鲁木齐", "克拉玛依", "吐鲁番 市"}},
		{Column: "industry", Values: []string{"A", "B", "C"}},
	}
	return l
}

var goldenLetters = map[string]func() *Letter{
	"public-groups.txt": publicGroupsLetter,
	"green-credit.txt":  greenCreditLetter,
	"minimal.txt":       minimalLetter,
	"varied.txt":        variedLetter,
	"statistics.txt":    statisticsLetter,
}

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "letters", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLetterGolden checks that each golden letter is what MarshalText
// writes for its Go value, and that ParseLetter reads it back to that
// value. Run with -update to rewrite the golden files.
func TestLetterGolden(t *testing.T) {
	for name, build := range goldenLetters {
		t.Run(name, func(t *testing.T) {
			l := build()
			got, err := l.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "letters", name)
			if *updateLetters {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readGolden(t, name)
			if !bytes.Equal(got, want) {
				t.Fatalf("MarshalText differs from %s (run go test -run TestLetterGolden -update ./policy/ if the change is meant):\ngot:\n%s\nwant:\n%s", path, got, want)
			}
			parsed, err := ParseLetter(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(parsed, l) {
				t.Fatalf("ParseLetter(%s) = %+v, want %+v", name, parsed, l)
			}
			again, err := parsed.MarshalText()
			if err != nil || !bytes.Equal(again, want) {
				t.Fatalf("round trip of %s: %v\n%s", name, err, again)
			}
		})
	}
}

// TestLetterPackageDocExample checks that the example in the package
// documentation is the green-credit golden letter.
func TestLetterPackageDocExample(t *testing.T) {
	src, err := os.ReadFile("letter.go")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, _ := strings.Cut(string(src), "// # Example\n")
	doc, _, _ = strings.Cut(doc, "// # Errors\n")
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if s, ok := strings.CutPrefix(line, "//\t"); ok {
			b.WriteString(s + "\n")
		}
	}
	if want := readGolden(t, "green-credit.txt"); b.String() != string(want) {
		t.Fatalf("the example in the package doc is not testdata/letters/green-credit.txt:\n%s", b.String())
	}
}

type letterErrorVector struct {
	Desc string `json:"desc"`
	// Body is the letter's body; BodyBase64 replaces it for bodies that are
	// not valid UTF-8.
	Body       string `json:"body,omitempty"`
	BodyBase64 string `json:"body_base64,omitempty"`
	WantErr    string `json:"wantErr"`
	WantLine   int    `json:"wantLine"`
	WantKey    string `json:"wantKey"`
}

func (v *letterErrorVector) body(t testing.TB) []byte {
	if v.BodyBase64 == "" {
		return []byte(v.Body)
	}
	b, err := base64.StdEncoding.DecodeString(v.BodyBase64)
	if err != nil {
		t.Fatalf("%s: %v", v.Desc, err)
	}
	return b
}

func loadLetterErrors(t testing.TB) []letterErrorVector {
	t.Helper()
	var vs []letterErrorVector
	d := json.NewDecoder(bytes.NewReader(readGolden(t, "errors.json")))
	d.DisallowUnknownFields()
	if err := d.Decode(&vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestLetterErrors walks testdata/letters/errors.json: each body must be
// refused with an error naming the line and key.
func TestLetterErrors(t *testing.T) {
	vs := loadLetterErrors(t)
	if len(vs) < 30 {
		t.Fatalf("%d error vectors, want at least 30", len(vs))
	}
	descs := map[string]bool{}
	for _, v := range vs {
		if descs[v.Desc] {
			t.Errorf("two vectors named %q", v.Desc)
		}
		descs[v.Desc] = true
		t.Run(v.Desc, func(t *testing.T) {
			l, err := ParseLetter(v.body(t))
			if err == nil {
				t.Fatalf("ParseLetter succeeded: %+v", l)
			}
			var le *LetterError
			if !errors.As(err, &le) {
				t.Fatalf("error %v (%T) is not a *LetterError", err, err)
			}
			if !strings.Contains(err.Error(), v.WantErr) {
				t.Errorf("error %q, want it to contain %q", err, v.WantErr)
			}
			if le.Line != v.WantLine || le.Key != v.WantKey {
				t.Errorf("error at line %d key %q, want line %d key %q (%v)", le.Line, le.Key, v.WantLine, v.WantKey, err)
			}
		})
	}
}

// TestLetterValidateErrorsWrapped checks that a problem Letter.Validate
// finds keeps its message and error.
func TestLetterValidateErrorsWrapped(t *testing.T) {
	l := greenCreditLetter()
	l.Datasets[1].Delta = 0.5
	verr := l.Validate()
	_, err := l.MarshalText()
	var le *LetterError
	if !errors.As(err, &le) || le.Err == nil || le.Err.Error() != verr.Error() || errors.Unwrap(err) != le.Err {
		t.Fatalf("got %v, want a *LetterError wrapping %v", err, verr)
	}
	// registry takes lines 14 to 21, electricity 22 to 24, its delta 24.
	if want := "letter: line 24 (delta): " + verr.Error(); err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
}

// TestLetterMarshalErrors checks the letters MarshalText refuses, and
// where it says the problem is.
func TestLetterMarshalErrors(t *testing.T) {
	tests := []struct {
		desc     string
		edit     func(l *Letter)
		wantLine int
		wantKey  string
		wantErr  string
	}{
		{"invalid id", func(l *Letter) { l.ID = "L 7" }, 1, "id", "invalid id"},
		{"invalid applicant", func(l *Letter) { l.Applicant = "Bank" }, 2, "applicant", "invalid applicant"},
		{"no scenario text", func(l *Letter) { l.Scenario.Text = "" }, 3, "scenario", "needs an id and a text"},
		{"scenario text begins with a space", func(l *Letter) { l.Scenario.Text = " x" }, 3, "scenario", "scenario text: begins with white space U+0020"},
		{"scenario text with a newline", func(l *Letter) { l.Scenario.Text = "x\nid: L-8" }, 3, "scenario", "U+000A"},
		{"no purposes", func(l *Letter) { l.Purposes = nil }, 4, "purpose", "no purposes"},
		{"purpose with a CR", func(l *Letter) { l.Purposes[1] = "x\r" }, 5, "purpose", "U+000D"},
		{"purpose with a trailing ideographic space", func(l *Letter) { l.Purposes[1] = "x\u3000" }, 5, "purpose", "ends with white space U+3000"},
		{"empty purpose", func(l *Letter) { l.Purposes[0] = "" }, 4, "purpose", "empty value"},
		{"purpose not UTF-8", func(l *Letter) { l.Purposes[0] = "\xff" }, 4, "purpose", "not valid UTF-8"},
		{"purpose with a bidi override", func(l *Letter) { l.Purposes[0] = "a\u202eb" }, 4, "purpose", "U+202E"},
		{"purpose twice", func(l *Letter) { l.Purposes[1] = l.Purposes[0] }, 5, "purpose", "purpose repeats line 4"},
		{"no safeguards", func(l *Letter) { l.Safeguards = nil }, 6, "safeguard", "no security safeguards"},
		{"safeguard twice", func(l *Letter) { l.Safeguards[2] = l.Safeguards[0] }, 8, "safeguard", "safeguard repeats line 6"},
		{"no not-before", func(l *Letter) { l.NotBefore = time.Time{} }, 9, "not-before", "validity window"},
		{"not-after before not-before", func(l *Letter) { l.NotAfter = l.NotBefore }, 10, "not-after", "validity window"},
		{"fraction of a second", func(l *Letter) { l.NotAfter = l.NotAfter.Add(time.Millisecond) }, 10, "not-after", "fraction of a second"},
		{"year 10000", func(l *Letter) { l.NotAfter = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, 10, "not-after", "year 10000"},
		{"min group size 0", func(l *Letter) { l.MinGroupSize = 0 }, 11, "min-group-size", "min_group_size"},
		{"max groups -1", func(l *Letter) { l.MaxGroupsPerUnit = -1 }, 12, "max-groups-per-unit", "max_groups_per_unit"},
		{"invalid recipient", func(l *Letter) { l.Recipients = []string{"bank", "x y"} }, 14, "recipient", "invalid recipient"},
		{"recipient twice", func(l *Letter) { l.Recipients = []string{"bank", "msb", "bank"} }, 15, "recipient", "recipient repeats line 13"},
		{"no datasets", func(l *Letter) { l.Datasets = nil }, 14, "dataset", "no datasets"},
		{"dataset twice", func(l *Letter) { l.Datasets[2].Name = "registry" }, 28, "dataset", "listed twice"},
		{"invalid dataset name", func(l *Letter) { l.Datasets[1].Name = "Grid" }, 22, "dataset", "invalid dataset name"},
		{"zero epsilon", func(l *Letter) { l.Datasets[0].Epsilon = 0 }, 15, "epsilon", "must be positive"},
		{"delta too large", func(l *Letter) { l.Datasets[2].Delta = 1e-3 }, 30, "delta", "must be in (0, 0.001)"},
		{"column twice", func(l *Letter) { l.Datasets[0].Columns[2].Column = "industry" }, 19, "column", "two rules"},
		{"column without uses", func(l *Letter) { l.Datasets[1].Columns[2].Uses = nil }, 27, "column", "at least one use"},
		{"unknown use", func(l *Letter) { l.Datasets[0].Columns[0].Uses = []Use{query.UseOutput} }, 17, "column", "unknown use"},
		{"funcs without aggregate", func(l *Letter) { l.Datasets[0].Columns[0].Funcs = []query.Func{query.Sum} }, 17, "column", "only aggregate takes them"},
		{"unknown function", func(l *Letter) { l.Datasets[0].Columns[3].Funcs[1] = "MODE" }, 20, "column", "unknown aggregate"},
		{"use twice", func(l *Letter) { l.Datasets[0].Columns[1].Uses[1] = query.UseGroupBy }, 18, "column", "use group-by appears twice"},
		{"function twice", func(l *Letter) { l.Datasets[0].Columns[3].Funcs[1] = query.Sum }, 20, "column", "aggregate SUM appears twice"},
		{"other prohibitions", func(l *Letter) { l.Prohibitions = "none" }, 35, "prohibitions", "Art. 36(2)"},
		{"line too long", func(l *Letter) { l.Safeguards[1] = strings.Repeat("长", 1362) }, 7, "safeguard", "line of 4097 bytes"},
		{"body too long", func(l *Letter) {
			for i := range 20 {
				l.Purposes = append(l.Purposes, fmt.Sprint(i, strings.Repeat("长", 1300)))
			}
		}, 0, "", "more than the 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			l := greenCreditLetter()
			tt.edit(l)
			b, err := l.MarshalText()
			var le *LetterError
			if !errors.As(err, &le) {
				t.Fatalf("MarshalText = %q, %v; want a *LetterError", b, err)
			}
			if le.Line != tt.wantLine || le.Key != tt.wantKey || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q at line %d key %q; want %q at line %d key %q", err, le.Line, le.Key, tt.wantErr, tt.wantLine, tt.wantKey)
			}
		})
	}
	if _, err := (*Letter)(nil).MarshalText(); err == nil {
		t.Error("MarshalText of a nil letter succeeded")
	}
}

// TestLetterTimesInUTC checks that a time in another zone is written in
// UTC, the same instant.
func TestLetterTimesInUTC(t *testing.T) {
	l := greenCreditLetter()
	cst := time.FixedZone("CST", 8*3600)
	l.NotBefore = l.NotBefore.In(cst)
	b, err := l.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if want := readGolden(t, "green-credit.txt"); !bytes.Equal(b, want) {
		t.Fatalf("got\n%s", b)
	}
}

func TestLetterErrorString(t *testing.T) {
	for _, tt := range []struct {
		e    LetterError
		want string
	}{
		{LetterError{Line: 7, Key: "not-after", Msg: "m"}, "letter: line 7 (not-after): m"},
		{LetterError{Line: 3, Msg: "m"}, "letter: line 3: m"},
		{LetterError{Key: "id", Msg: "m"}, "letter: (id): m"},
		{LetterError{Msg: "m"}, "letter: m"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.e, got, tt.want)
		}
	}
}

// TestColumnRuleStringMatchesLetter checks that ColumnRule.String renders
// a rule's uses as a letter's column line does.
func TestColumnRuleStringMatchesLetter(t *testing.T) {
	for _, build := range goldenLetters {
		for _, d := range build().Datasets {
			for _, r := range d.Columns {
				s, msg := formatColumnRule(&r)
				if msg != "" || s != r.Column+" "+r.String() {
					t.Errorf("column line %q (%s), String %q", s, msg, r.String())
				}
			}
		}
	}
}

// TestLetterSingleByteChanges checks that every change of one bit of a
// golden letter is refused, or parses to a letter whose encoding is the
// changed text: never silently normalised. It checks the strict parser
// alone too, so that the final comparison in ParseLetter is never what
// catches a change.
func TestLetterSingleByteChanges(t *testing.T) {
	for _, name := range []string{"green-credit.txt", "varied.txt"} {
		orig := readGolden(t, name)
		ok, refused := 0, 0
		buf := make([]byte, len(orig))
		for i := range orig {
			for bit := range 8 {
				copy(buf, orig)
				buf[i] ^= 1 << bit
				if checkStrict(t, buf) {
					ok++
				} else {
					refused++
				}
			}
		}
		if ok+refused < 5000 {
			t.Fatalf("%s: only %d changes", name, ok+refused)
		}
		t.Logf("%s: %d single-bit changes, %d parse to another letter, %d refused", name, ok+refused, ok, refused)
	}
}

// checkStrict parses b with ParseLetter and with the strict parser alone,
// fails t if either accepts a form that is not canonical, and reports
// whether b is a letter.
func checkStrict(t testing.TB, b []byte) bool {
	t.Helper()
	in := bytes.Clone(b)
	l, err := ParseLetter(b)
	if !bytes.Equal(in, b) {
		t.Fatalf("ParseLetter changed its input")
	}
	if err != nil {
		var le *LetterError
		if !errors.As(err, &le) {
			t.Fatalf("ParseLetter(%q): error %v (%T) is not a *LetterError", b, err, err)
		}
		if le.Line < 0 || le.Line > bytes.Count(b, []byte("\n"))+1 {
			t.Fatalf("ParseLetter(%q): error %v on line %d, outside the letter", b, err, le.Line)
		}
		if strings.Contains(le.Msg, "canonical form: want") {
			t.Fatalf("ParseLetter(%q): only the final comparison caught %v", b, err)
		}
	} else {
		enc, err := l.MarshalText()
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("ParseLetter(%q) accepted a letter that encodes as %q, %v", b, enc, err)
		}
	}
	if pl, err := parseLetter(b); err == nil && pl.validate() == nil {
		enc, err := pl.MarshalText()
		if err != nil {
			t.Fatalf("parseLetter(%q) accepted a letter MarshalText refuses: %v", b, err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("parseLetter(%q) accepted a form that encodes as %q", b, enc)
		}
	}
	return err == nil
}

// TestLetterRandomRoundTrip encodes random valid letters and parses them
// back.
func TestLetterRandomRoundTrip(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		l := randomLetter(rng)
		b, err := l.MarshalText()
		if err != nil {
			t.Fatalf("letter %d: %v\n%+v", i, err, l)
		}
		got, err := ParseLetter(b)
		if err != nil {
			t.Fatalf("letter %d: %v\n%s", i, err, b)
		}
		if !reflect.DeepEqual(got, l) {
			t.Fatalf("letter %d: parsed %+v, want %+v", i, got, l)
		}
	}
}

func randomLetter(rng *rand.Rand) *Letter {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	texts := []string{"a", "绿色信贷定价", "x: y", "A　B", "pricing (green) credit", "末尾。", "1", "¿qué?", "😀 ok"}
	list := func(min int, from []string) []string {
		var out []string
		for _, i := range rng.Perm(len(from))[:min+rng.IntN(len(from)-min+1)] {
			out = append(out, from[i])
		}
		return out
	}
	nb := time.Unix(rng.Int64N(253402300799), 0).UTC()
	l := &Letter{
		ID:               pick("L-1", "x", "0.a_b-c", strings.Repeat("z", 64)),
		Applicant:        pick("bank", "a", "b-2"),
		Scenario:         Scenario{ID: pick("S", "GC-2025-01"), Text: pick(texts...)},
		Purposes:         list(1, texts),
		Safeguards:       list(1, texts),
		NotBefore:        nb,
		NotAfter:         nb.Add(time.Duration(1+rng.IntN(1000)) * time.Second),
		MinGroupSize:     1 + rng.Int64N(1000),
		MaxGroupsPerUnit: 1 + rng.Int64N(1<<62),
		Recipients:       list(0, []string{"bank", "msb", "grid", "a-1"}),
		Prohibitions:     Prohibitions,
	}
	if l.NotAfter.Year() > 9999 {
		l.NotAfter = l.NotBefore.Add(time.Second)
		l.NotBefore = l.NotBefore.Add(-time.Second)
	}
	uses := []Use{query.UseJoinKey, query.UseGroupBy, query.UseFilter, query.UseAggregate, CountOnly}
	funcs := []query.Func{query.Count, query.Sum, query.Avg}
	for _, name := range list(1, []string{"registry", "electricity", "loans", "d_2"}) {
		d := LetterDataset{Name: name, Epsilon: dp.Epsilon(1 + rng.Int64N(10_000_000)), Delta: rng.Float64() * 1e-3}
		if d.Delta == 0 {
			d.Delta = 1e-6
		}
		for _, c := range list(0, []string{"uscc", "kwh", "month", "c_1"}) {
			r := ColumnRule{Column: c}
			for _, i := range rng.Perm(len(uses))[:1+rng.IntN(len(uses))] {
				r.Uses = append(r.Uses, uses[i])
				if uses[i] == query.UseAggregate {
					for _, j := range rng.Perm(len(funcs))[:1+rng.IntN(len(funcs))] {
						r.Funcs = append(r.Funcs, funcs[j])
					}
				}
			}
			d.Columns = append(d.Columns, r)
		}
		l.Datasets = append(l.Datasets, d)
	}
	return l
}

func BenchmarkParseLetter(b *testing.B) {
	body := readGolden(b, "green-credit.txt")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLetter(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalLetter(b *testing.B) {
	l := greenCreditLetter()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.MarshalText(); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleParseLetter() {
	body := "id: L-1\n" +
		"applicant: bank\n" +
		"scenario: GC-2025-01 绿色信贷风险评估 (green-credit risk assessment)\n" +
		"purpose: 绿色信贷定价 (pricing green credit)\n" +
		"safeguard: 期满删除 (deletion at the end of the term)\n" +
		"not-before: 2026-11-26T19:00:00Z\n" +
		"not-after: 2027-02-24T19:00:00+08:00\n"
	_, err := ParseLetter([]byte(body))
	fmt.Println(err)
	// Output:
	// letter: line 7 (not-after): not an RFC 3339 UTC time with seconds, like 2026-01-02T15:04:05Z (in UTC, ending in Z)
}

// TestLetterGroupErrors: public group values are checked where they are.
func TestLetterGroupErrors(t *testing.T) {
	good, err := publicGroupsLetter().MarshalText()
	require.NoError(t, err)
	for _, tc := range []struct {
		desc, from, to, want string
	}{
		{"a column not allowed as group-by", "group: industry A\ngroup: industry B\ngroup: industry C", "group: capital 7", "letter: line 20 (group): letter L-GROUPS: dataset registry: public group values of column capital, which the letter does not allow as group-by (Art. 36)"},
		{"not on consecutive lines", "group: industry B", "group: region B", "letter: line 21 (group): the public values of column region must be on consecutive lines"},
		{"no value", "group: industry A", "group: industry", "letter: line 20 (group): want the column name, one space, then the public value"},
		{"a value twice", "group: industry B", "group: industry A", "letter: line 21 (group): letter L-GROUPS: dataset registry: public group value \"A\" of column industry listed twice (Art. 36)"},
		{"unknown column", "group: region 乌鲁木齐\ngroup: region 克拉玛依\ngroup: region 吐鲁番 市", "group: nope x", "letter: line 17 (group): letter L-GROUPS: dataset registry: public group values of column nope, which the letter does not allow as group-by (Art. 36)"},
		{"before the columns", "column: capital aggregate(AVG)\ngroup: region 乌鲁木齐", "group: region 乌鲁木齐\ncolumn: capital aggregate(AVG)", "letter: line 17 (column): column out of order: want group, dataset or prohibitions here"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			body := strings.Replace(string(good), tc.from, tc.to, 1)
			require.NotEqual(t, string(good), body, "the replacement applies")
			_, err := ParseLetter([]byte(body))
			require.EqualError(t, err, tc.want)
		})
	}
	l := publicGroupsLetter()
	l.Datasets[0].Groups[1].Values = nil
	_, err = l.MarshalText()
	require.EqualError(t, err, "letter: line 20 (group): letter L-GROUPS: dataset registry: column industry has an empty list of public group values (Art. 36)")
}
