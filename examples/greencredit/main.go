// Command greencredit runs the green-credit scenario end to end against a
// real node, driving the cleanroom binary exactly as the parties would, and
// prints a transcript.
//
// A bank fuses its loan book with the enterprise registry of the market
// supervision bureau and the grid operator's monthly electricity use, under
// a commitment letter approved by the data bureau (see SCENARIO.md). The
// demo generates the data, starts a node on a free loopback port, registers
// the parties and datasets, uploads the data sealed with age, drafts, signs
// and approves the letter, runs the allowed queries and prints their DP
// answers next to the true ones, starts the three providers' agents and
// runs the same queries in multiparty HE mode, runs queries that must be denied and
// prints each reason, verifies the ledger offline, and cleans up.
//
// It exits 0 only if every step behaved as expected.
//
// Usage:
//
//	greencredit --bin bin/cleanroom [--enterprises N] [--keep DIR]
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xjdata/cleanroom/examples/greencredit/gen"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// calendar2026 is the working-day calendar the authority loads.
//
//go:embed calendar-2026.txt
var calendar2026 []byte

type demo struct {
	// resultFile holds a released result as the bank saved it, for the
	// auditor to prove.
	resultFile string
	bin        string
	work       string
	keys       string
	nodeInfo   string
	failures   []string
	steps      int
}

func main() {
	bin := flag.String("bin", "bin/cleanroom", "the cleanroom binary")
	n := flag.Int("enterprises", 100_000, "number of enterprises to generate")
	keep := flag.String("keep", "", "work in this directory and keep it (default: a temporary one, removed)")
	flag.Parse()
	if err := run(*bin, *n, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "greencredit: error: %v\n", err)
		os.Exit(1)
	}
}

func run(bin string, enterprises int, keep string) error {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%s: build it first (make demo does)", bin)
	}
	work := keep
	if work == "" {
		if work, err = os.MkdirTemp("", "greencredit-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	d := &demo{bin: abs, work: work, keys: filepath.Join(work, "keys")}
	start := time.Now()
	err = d.story(enterprises)
	fmt.Println()
	if err != nil {
		return err
	}
	if len(d.failures) > 0 {
		fmt.Printf("FAILED: %d of %d checks did not behave as expected:\n", len(d.failures), d.steps)
		for _, f := range d.failures {
			fmt.Println("  - " + f)
		}
		return errors.New("the demo did not behave as expected")
	}
	fmt.Printf("All %d checks behaved as expected in %s.\n", d.steps, time.Since(start).Round(100*time.Millisecond))
	return nil
}

func section(title string) { fmt.Printf("\n== %s ==\n", title) }

// cleanroom runs the binary, prints the command and its output, and
// returns the output and whether it exited 0.
func (d *demo) cleanroom(args ...string) (string, bool) {
	shown := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, d.work+"/", "")
		if strings.ContainsAny(a, " *'") {
			a = "'" + a + "'"
		}
		shown[i] = a
	}
	fmt.Printf("$ cleanroom %s\n", strings.Join(shown, " "))
	cmd := exec.Command(d.bin, args...)
	cmd.Dir = d.work
	cmd.Env = append(os.Environ(), "CLEANROOM_NODE_INFO="+d.nodeInfo)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line != "" {
			fmt.Println("    " + line)
		}
	}
	return out.String(), err == nil
}

// expect records a check.
func (d *demo) expect(ok bool, what string) {
	d.steps++
	if !ok {
		d.failures = append(d.failures, what)
		fmt.Printf("    !! unexpected: %s\n", what)
	}
}

// must runs a step that has to succeed.
func (d *demo) must(what string, args ...string) string {
	out, ok := d.cleanroom(args...)
	d.expect(ok, what+" should succeed")
	return out
}

// denied runs a step that has to fail with the given reason code.
func (d *demo) denied(what, code string, args ...string) {
	out, ok := d.cleanroom(args...)
	d.expect(!ok && strings.Contains(out, code), fmt.Sprintf("%s should be refused with %q", what, code))
}

// sameTypes reports whether a and b have the same columns, by name and
// type, in the same order.
func sameTypes(a, b *schema.Schema) bool {
	if len(a.Columns) != len(b.Columns) {
		return false
	}
	for i := range a.Columns {
		if a.Columns[i].Name != b.Columns[i].Name || a.Columns[i].Type != b.Columns[i].Type {
			return false
		}
	}
	return true
}

func ptrTo[T any](v T) *T { return &v }

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func (d *demo) story(enterprises int) error {
	section(fmt.Sprintf("1. The data: %d synthetic enterprises (deterministic)", enterprises))
	opts := gen.Options{Enterprises: enterprises, Seed: 1}
	t0 := time.Now()
	files, err := gen.Write(filepath.Join(d.work, "data"), opts)
	if err != nil {
		return err
	}
	for _, f := range []string{files.Registry, files.Electricity, files.Loans} {
		fi, _ := os.Stat(f)
		fmt.Printf("    %-16s %8.1f MB\n", filepath.Base(f), float64(fi.Size())/1e6)
	}
	truth, err := gen.ComputeTruth(files, opts)
	if err != nil {
		return err
	}
	fmt.Printf("    generated in %s\n", time.Since(t0).Round(10*time.Millisecond))

	section("2. Keys: each party makes its own Ed25519 signing key")
	parties := []struct{ name, kind, juris, display string }{
		{"databureau", "public-body", "CN", "自治区数据局 (authority)"},
		{"msb", "public-body", "CN", "自治区市场监督管理局"},
		{"grid", "public-service", "CN", "国网新疆电力"},
		{"bank", "enterprise", "CN", "某商业银行"},
		{"auditfirm", "enterprise", "CN", "an audit firm"},
		{"overseas", "enterprise", "SG", "an overseas analytics partner"},
	}
	for _, p := range parties {
		d.must("keygen "+p.name, "keygen", "--name", p.name, "--out", d.keys)
	}
	key := func(name string) string { return filepath.Join(d.keys, name+".key") }

	section("3. The node starts (sealed mode), trusting the data bureau as authority")
	nodeDir := filepath.Join(d.work, "node")
	d.nodeInfo = filepath.Join(nodeDir, "node.json")
	stop, err := d.startNode(nodeDir)
	if err != nil {
		return err
	}
	defer stop()

	section("4. The authority registers every party (Art. 21, Art. 42(2))")
	for _, p := range parties {
		d.must("register "+p.name, "party", "register", "--key", key("databureau"), "--party-key", key(p.name),
			"--kind", p.kind, "--jurisdiction", p.juris, "--display", p.display)
	}

	section("5. Providers register their datasets: source, declaration, schema, classes (Art. 23, 33, 35, 42(1), 56)")
	schemas := gen.Schemas()
	declare := func(origin, basis string) *policy.SourceDeclaration {
		return &policy.SourceDeclaration{Origin: origin, LegalBasis: basis, CollectedFrom: "2015-01-01", CollectedTo: "2025-12-31"}
	}
	items := func(prefix string, cols ...string) []policy.DataItem {
		var out []policy.DataItem
		for _, c := range cols {
			out = append(out, policy.DataItem{Column: c, Item: prefix + "." + c})
		}
		return out
	}
	specs := []policy.Dataset{
		{Name: "registry", Holder: "msb", Source: "自治区市场监督管理局 登记注册处", Schema: schemas["registry"],
			Declaration: declare("市场主体登记申请材料 (enterprise registration filings)", "《市场主体登记管理条例》"),
			Items:       items("enterprise", "name", "industry", "region", "registered_capital", "founded"),
			Sharing:     policy.ShareConditional, Conditions: "仅用于经批准的融合应用场景", Opening: policy.OpenConditional,
			Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1},
		{Name: "electricity", Holder: "grid", Source: "国网新疆电力 营销部", Schema: schemas["electricity"],
			Declaration: declare("用电计量 (metered electricity use)", "《电力法》及供用电合同"),
			Items:       items("enterprise", "kwh"),
			Sharing:     policy.ShareConditional, Conditions: "重要数据，仅限境内、聚合结果", Opening: policy.OpenConditional,
			Level: policy.Important, Unit: "uscc", MaxRowsPerUnit: 12},
		{Name: "loans", Holder: "bank", Source: "某商业银行 信贷管理部", Schema: schemas["loans"],
			Declaration: declare("本行信贷业务 (the bank's own lending)", "《商业银行法》"),
			Items:       items("loan", "amount", "rate_bp", "green"),
			Sharing:     policy.ShareConditional, Conditions: "银行自有数据，仅用于本行风险评估", Opening: policy.OpenConditional,
			Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 5},
		{Name: "permits", Holder: "msb", Source: "自治区市场监督管理局 许可处", Schema: schemas["registry"],
			Declaration: declare("行政许可 (administrative permits)", "《行政许可法》"),
			Sharing:     policy.ShareConditional, Conditions: "另行申请", Opening: policy.OpenConditional,
			Level: policy.General, Unit: "uscc", MaxRowsPerUnit: 1},
	}
	for _, s := range specs {
		holder := s.Holder
		s.Holder = ""
		p := filepath.Join(d.work, s.Name+".json")
		if err := writeJSON(p, s); err != nil {
			return err
		}
		d.must("register dataset "+s.Name, "dataset", "register", "--key", key(holder), "--spec", p)
	}
	fmt.Println("\n  The permits office claims to be the source of registered capital too: one source per item (Art. 23):")
	second := specs[3]
	second.Name, second.Holder, second.Items = "permit_capital", "", items("enterprise", "registered_capital")
	if err := writeJSON(filepath.Join(d.work, "permit_capital.json"), second); err != nil {
		return err
	}
	d.denied("a second source for a data item", "already has its source", "dataset", "register", "--key", key("msb"), "--spec", filepath.Join(d.work, "permit_capital.json"))
	undeclared := specs[3]
	undeclared.Name, undeclared.Holder, undeclared.Declaration = "undeclared", "", nil
	if err := writeJSON(filepath.Join(d.work, "undeclared.json"), undeclared); err != nil {
		return err
	}
	d.denied("a dataset without a data-source statement", "Art. 42(1)", "dataset", "register", "--key", key("msb"), "--spec", filepath.Join(d.work, "undeclared.json"))

	section("6. Providers upload their data, sealed with age to the node")
	fmt.Println("  The bank asks the tool what schema its loans file suggests (it registered its own, tighter bounds):")
	out := d.must("infer the loans schema", "dataset", "infer", "--from", files.Loans)
	var suggested schema.Schema
	err = json.NewDecoder(strings.NewReader(out)).Decode(&suggested)
	d.expect(err == nil && sameTypes(&suggested, ptrTo(schemas["loans"])), "the suggested schema should have the registered columns and types")
	fmt.Println("  Uploads travel in signed parts (here 8 MiB each); the dataset takes them when the last lands:")
	for _, u := range []struct{ holder, dataset, file string }{
		{"msb", "registry", files.Registry}, {"grid", "electricity", files.Electricity}, {"bank", "loans", files.Loans},
	} {
		d.must("upload "+u.dataset, "dataset", "upload", "--key", key(u.holder), "--dataset", u.dataset, "--part-size", "8", u.file)
	}
	bad := filepath.Join(d.work, "data", "loans-bad.csv")
	os.WriteFile(bad, []byte("loan_id,uscc,amount,rate_bp,green,borrower_name\nL1,91650100MA0000000X,12x,500,true,某公司\n"), 0o644)
	d.denied("a malformed upload", "loans-bad.csv:2:3", "dataset", "upload", "--key", key("bank"), "--dataset", "loans", bad)
	d.must("list the catalogue", "dataset", "list")

	section("7. Applications for conditional sharing (Art. 34), answered within ten working days")
	calFile := filepath.Join(d.work, "calendar-2026.txt")
	if err := os.WriteFile(calFile, calendar2026, 0o644); err != nil {
		return err
	}
	d.must("load the calendar", "calendar", "load", "--key", key("databureau"), calFile)
	for _, a := range []struct{ id, dataset, holder, conditions string }{
		{"A-registry", "registry", "msb", "仅限聚合结果，在数据融合环境内使用 (aggregates only, inside the clean room)"},
		{"A-electricity", "electricity", "grid", "重要数据：仅限境内、最小分组 20 (important data: domestic, groups of 20 or more)"},
	} {
		d.must("apply for "+a.dataset, "application", "file", "--key", key("bank"), "--id", a.id, "--dataset", a.dataset,
			"--purpose", "绿色信贷定价 (pricing green credit)")
		d.must("approve "+a.id, "application", "answer", "--key", key(a.holder), "--id", a.id, "--approve", "--conditions", a.conditions)
	}
	d.denied("a refusal without a reason", "a refusal must give its reason", "application", "answer", "--key", key("msb"), "--id", "A-registry", "--refuse")
	out = d.must("list the applications", "application", "list")
	d.expect(strings.Contains(out, "approved") && !strings.Contains(out, "late"), "both applications should be approved within their deadline")

	section("8. The commitment letter (承诺书, Art. 36): drafted, signed by all, approved")
	scenario := policy.Scenario{ID: "GC-2025-01", Text: "绿色信贷风险评估 (green-credit risk assessment)"}
	fmt.Println("  The data bureau approves the application scenario:")
	d.must("approve the scenario", "scenario", "approve", "--key", key("databureau"), "--id", scenario.ID, "--text", scenario.Text)
	rule := func(col string, uses ...policy.Use) policy.ColumnRule {
		return policy.ColumnRule{Column: col, Uses: uses}
	}
	agg := func(col string, fs ...query.Func) policy.ColumnRule {
		return policy.ColumnRule{Column: col, Uses: []policy.Use{query.UseAggregate}, Funcs: fs}
	}
	cols := map[string][]policy.ColumnRule{
		"registry": {rule("uscc", query.UseJoinKey), rule("industry", query.UseGroupBy, query.UseFilter),
			rule("region", query.UseGroupBy, query.UseFilter), agg("registered_capital", query.Sum, query.Avg), rule("founded", query.UseFilter)},
		"electricity": {rule("uscc", query.UseJoinKey), rule("month", query.UseGroupBy, query.UseFilter), agg("kwh", query.Sum, query.Avg)},
		"loans": {rule("uscc", query.UseJoinKey), agg("amount", query.Sum, query.Avg), agg("rate_bp", query.Avg),
			rule("green", query.UseGroupBy, query.UseFilter), rule("loan_id", policy.CountOnly)},
	}
	letter := func(id string) policy.Letter {
		l := policy.Letter{
			ID: id, Applicant: "bank", Scenario: scenario,
			Purposes:     []string{"绿色信贷定价 (pricing green credit)", "不得识别任何单个企业 (no enterprise may be singled out)"},
			Safeguards:   []string{"结果仅限本行风险管理部使用", "不得重新识别", "期满删除"},
			MinGroupSize: 10, MaxGroupsPerUnit: 2, Recipients: []string{"bank"},
		}
		for _, name := range []string{"registry", "electricity", "loans"} {
			l.Datasets = append(l.Datasets, policy.LetterDataset{Name: name, Epsilon: 3_000_000, Delta: 1e-6, Columns: cols[name]})
		}
		return l
	}
	l7, err := d.draftAndSign(letter("L-7"), "bank", "msb", "grid")
	if err != nil {
		return err
	}
	d.must("submit L-7", "commitment", "submit", l7)
	d.must("approve L-7", "commitment", "approve", "--key", key("databureau"), l7)

	// An expired letter: same terms, a window that ended last month.
	expired := letter("L-8")
	expired.NotBefore = time.Now().UTC().AddDate(0, -4, 0).Truncate(time.Second)
	expired.NotAfter = time.Now().UTC().AddDate(0, -1, 0).Truncate(time.Second)
	fmt.Println("\n  An older letter, L-8, whose validity ended last month:")
	l8, err := d.draftAndSign(expired, "bank", "msb", "grid")
	if err != nil {
		return err
	}
	d.must("submit L-8", "commitment", "submit", l8)
	d.must("approve L-8", "commitment", "approve", "--key", key("databureau"), l8)

	// A letter whose grid-operator signature was tampered with.
	fmt.Println("\n  A letter, L-9, whose grid-operator signature was tampered with on the way:")
	l9, err := d.draftAndSign(letter("L-9"), "bank", "msb", "grid")
	if err != nil {
		return err
	}
	if err := tamperSignature(l9, "grid"); err != nil {
		return err
	}
	d.denied("a letter with a tampered signature", "signature by grid does not verify", "commitment", "submit", l9)

	// A letter the grid operator revokes after an incident.
	fmt.Println("\n  A letter, L-10, that the grid operator revokes after a security incident:")
	l10, err := d.draftAndSign(letter("L-10"), "bank", "msb", "grid")
	if err != nil {
		return err
	}
	d.must("submit L-10", "commitment", "submit", l10)
	d.must("approve L-10", "commitment", "approve", "--key", key("databureau"), l10)
	d.must("revoke L-10", "commitment", "revoke", "--key", key("grid"), "--reason", "安全事件 2026-11 (security incident)", "L-10")

	section("9. Allowed queries: DP answers next to the truth")
	q1 := "SELECT r.industry, AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry"
	q2 := fmt.Sprintf("SELECT r.region, l.green, SUM(e.kwh) FROM loans l JOIN registry r ON l.uscc = r.uscc JOIN electricity e ON e.uscc = r.uscc WHERE e.month = '%d-06' GROUP BY r.region, l.green", 2025)
	d.must("dry run of query 1", "query", "--key", key("bank"), "--commitment", "L-7", "--epsilon", "0.75", "--dry-run", q1)
	sealed1, ok := d.queryJSON("query 1", "L-7", "0.75", q1)
	if ok {
		d.compare(sealed1, func(row []string) (float64, bool) {
			v, ok := truth.AvgLoanByIndustry[row[0]]
			return v, ok
		})
	}
	sealed2, ok := d.queryJSON("query 2", "L-7", "0.5", q2)
	if ok {
		d.compare(sealed2, func(row []string) (float64, bool) {
			v, ok := truth.KwhByRegionGreen[gen.RegionGreen{Region: row[0], Green: row[1] == "true"}]
			return float64(v), ok
		})
	}
	fmt.Println("\n  The noise is calibrated to the bounds a unit's values can reach: the declared bounds of loan")
	fmt.Println("  amounts are [0, 10^9]. Clamping each loan at 50,000,000 (LEAST) narrows them, for a small bias")
	fmt.Println("  on the rare larger loans. HAVING, ORDER BY and LIMIT work on the released values at no cost;")
	fmt.Println("  each value comes with its 95% confidence interval and how it was noised:")
	q3 := "SELECT r.industry, AVG(LEAST(l.amount, 50000000)) AS avg_amount, COUNT(*) AS loans FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry HAVING loans >= 200 ORDER BY avg_amount DESC LIMIT 6"
	d.must("query 3 (clamped, with confidence intervals)", "query", "--key", key("bank"), "--commitment", "L-7", "--epsilon", "0.1", q3)

	section("10. The same queries in multiparty HE mode: the node computes on data it cannot read")
	fmt.Println("  Each provider starts its own agent, a separate process with its own keys:")
	for _, p := range []string{"msb", "grid", "bank"} {
		stopAgent, err := d.startAgent(p)
		if err != nil {
			return err
		}
		defer stopAgent()
	}
	fmt.Println("\n  The data bureau has the agents generate the collective key (the node aggregates public shares only):")
	d.must("HE setup", "mhe", "setup", "--key", key("databureau"), "--providers", "msb,grid,bank", "--id", "HE-1")
	fmt.Println("\n  A letter, L-11, with the same terms, that requires HE mode for every dataset and has each")
	fmt.Println("  provider's agent add its own noise (so no provider has to trust the node with it):")
	he := letter("L-11")
	he.Noise = policy.NoiseProviders
	for i := range he.Datasets {
		he.Datasets[i].Mode = policy.ModeHE
	}
	l11, err := d.draftAndSign(he, "bank", "msb", "grid")
	if err != nil {
		return err
	}
	d.must("submit L-11", "commitment", "submit", l11)
	d.must("approve L-11", "commitment", "approve", "--key", key("databureau"), l11)
	d.denied("sealed mode under a letter that requires HE mode", policy.CodeModeRequired,
		"query", "--key", key("bank"), "--commitment", "L-11", "--epsilon", "0.1", "--mode", "sealed", q1)
	fmt.Println("\n  Providers upload again for HE mode: join keys as keyed fingerprints, group-by columns clear, amounts encrypted:")
	for _, u := range []struct{ holder, dataset, file string }{
		{"msb", "registry", files.Registry}, {"grid", "electricity", files.Electricity}, {"bank", "loans", files.Loans},
	} {
		d.must("HE upload "+u.dataset, "dataset", "upload", "--key", key(u.holder), "--dataset", u.dataset,
			"--he", "--commitment", "L-11", "--agent-dir", filepath.Join(d.work, "agents", u.holder), u.file)
	}
	fmt.Println("\n  The allowed queries again, in HE mode; each agent re-checks the decision before it helps decrypt:")
	if res, ok := d.queryJSON("query 1 in HE mode", "L-11", "0.75", q1); ok {
		d.sideBySide(sealed1, res, func(row []string) (float64, bool) {
			v, ok := truth.AvgLoanByIndustry[row[0]]
			return v, ok
		})
	}
	if res, ok := d.queryJSON("query 2 in HE mode", "L-11", "0.5", q2); ok {
		d.sideBySide(sealed2, res, func(row []string) (float64, bool) {
			v, ok := truth.KwhByRegionGreen[gen.RegionGreen{Region: row[0], Green: row[1] == "true"}]
			return float64(v), ok
		})
	}

	section("11. Queries that must be denied, each with its reason and article")
	d.must("show the budget left", "budget", "show", "L-7")
	bank := []string{"query", "--key", key("bank"), "--commitment", "L-7", "--epsilon", "0.05"}
	q := func(extra ...string) []string { return append(append([]string{}, bank...), extra...) }
	d.denied("row-level SELECT", policy.CodeRowLevel, q("SELECT * FROM loans")...)
	d.denied("a column outside the letter", policy.CodeColumnNotInLetter, q("SELECT COUNT(*), SUM(l.amount) FROM loans l WHERE l.borrower_name = '某公司'")...)
	d.denied("grouping by the join key", policy.CodeUniqueGroup, q("SELECT r.uscc, COUNT(*) FROM registry r GROUP BY r.uscc")...)
	d.denied("an aggregate the letter does not allow", policy.CodeColumnUse, q("SELECT l.green, SUM(l.rate_bp) FROM loans l GROUP BY l.green")...)
	d.denied("a dataset outside the letter", policy.CodeDatasetScope, q("SELECT industry, COUNT(*) FROM permits GROUP BY industry")...)
	d.denied("an expired letter", policy.CodeLetterNotInForce, "query", "--key", key("bank"), "--commitment", "L-8", "--epsilon", "0.1", q1)
	d.denied("a letter with a tampered signature", policy.CodeLetterRejected, "query", "--key", key("bank"), "--commitment", "L-9", "--epsilon", "0.1", q1)
	d.denied("a revoked letter", policy.CodeLetterRevoked, "query", "--key", key("bank"), "--commitment", "L-10", "--epsilon", "0.1", q1)
	d.denied("a release abroad of important data", policy.CodeRecipientAbroad, q("--recipient", "overseas", q2)...)
	d.denied("a query that would overspend the budget", policy.CodeBudget, "query", "--key", key("bank"), "--commitment", "L-7", "--epsilon", "0.5", q1)
	d.denied("a query by someone who is not the applicant", policy.CodeNotApplicant, "query", "--key", key("auditfirm"), "--commitment", "L-7", "--epsilon", "0.1", q1)
	d.denied("SQL that does not parse", policy.CodeInvalidQuery, q("SELECT industry, COUNT(* FROM registry")...)

	fmt.Println("\n  The grid operator declares a security incident on its data (Art. 57(6)); queries on it stop until it is closed:")
	d.must("declare an incident", "incident", "declare", "--key", key("grid"), "--id", "INC-2026-11", "--datasets", "electricity", "--reason", "疑似计量数据泄露，调查中 (suspected meter-data leak)")
	d.denied("a query on a dataset under an open incident", policy.CodeIncident, q(q2)...)
	d.must("close the incident", "incident", "close", "--key", key("grid"), "--id", "INC-2026-11", "--datasets", "electricity", "--reason", "已处置 (contained)")
	d.must("list the incidents", "incident", "list")
	fmt.Println("\n  The bureau seals its registry at the end of the purpose (Art. 31): no more queries or uploads:")
	d.must("seal the registry", "dataset", "seal", "--key", key("msb"), "--reason", "应用场景结束 (end of purpose)", "registry")
	d.denied("a query on a sealed dataset", policy.CodeSealed, "query", "--key", key("bank"), "--commitment", "L-11", "--epsilon", "0.05", q1)

	section("12. Usage statistics for the grid operator's source department (Art. 26(4)), from the ledger")
	d.must("report the usage of electricity", "report", "usage", "--dataset", "electricity")

	section("13. The auditor fetches the ledger and verifies it offline, replaying every decision")
	copyDir := filepath.Join(d.work, "auditor")
	d.must("fetch the ledger", "audit", "fetch", "--out", copyDir)
	stop()
	out = d.must("verify the copy", "audit", "verify", copyDir)
	d.expect(strings.Contains(out, "ledger verified"), "the audit report should say the ledger verified")
	if d.resultFile != "" {
		d.must("prove a released result", "audit", "prove", "--node-info", filepath.Join(copyDir, "node.json"), d.resultFile)
	}
	return nil
}

// draftAndSign writes the letter's spec, drafts it with the CLI, and has
// each signer sign it in turn. It returns the letter file.
func (d *demo) draftAndSign(l policy.Letter, signers ...string) (string, error) {
	spec := filepath.Join(d.work, l.ID+".json")
	file := filepath.Join(d.work, l.ID+".txt")
	if err := writeJSON(spec, l); err != nil {
		return "", err
	}
	d.must("draft "+l.ID, "commitment", "draft", "--spec", spec, "--out", file, "--valid-days", "90")
	for _, s := range signers {
		d.must("sign "+l.ID+" as "+s, "commitment", "sign", "--key", filepath.Join(d.keys, s+".key"), file)
	}
	return file, nil
}

// startNode runs the node in the background and waits for its node.json.
func (d *demo) startNode(dir string) (func(), error) {
	args := []string{"node", "--data", dir, "--listen", "127.0.0.1:0", "--authority", filepath.Join(d.keys, "databureau.pub")}
	stop, err := d.background("the node", args, filepath.Join(d.work, "node.log"), d.nodeInfo)
	if err != nil {
		return nil, err
	}
	b, _ := os.ReadFile(d.nodeInfo)
	var ni struct{ URL, Pin string }
	json.Unmarshal(b, &ni)
	fmt.Printf("    node listening at %s\n    certificate pin %s (clients pin it; see node.json)\n", ni.URL, ni.Pin)
	return func() { stop(); fmt.Println("    (node stopped)") }, nil
}

// background runs the binary with args in the background, its output in
// logPath, and waits until the file ready exists. It returns a function
// that stops the process (SIGTERM, then SIGKILL after 10s).
func (d *demo) background(what string, args []string, logPath, ready string) (func(), error) {
	fmt.Printf("$ cleanroom %s &\n", strings.ReplaceAll(strings.Join(args, " "), d.work+"/", ""))
	cmd := exec.Command(d.bin, args...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		logf.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(ready); err == nil {
			return stop, nil
		}
		select {
		case err := <-done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited: %v\n%s", what, err, b)
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("%s did not start within 30s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type result struct {
	Decision struct {
		Charges []struct {
			Dataset string `json:"dataset"`
			Epsilon string `json:"epsilon"`
		} `json:"charges"`
	} `json:"decision"`
	DecisionEntry uint64 `json:"decision_entry"`
	ReleaseEntry  uint64 `json:"release_entry"`
	Result        struct {
		Columns   []string   `json:"columns"`
		Rows      [][]string `json:"rows"`
		Intervals [][]*struct {
			Lo string `json:"lo"`
			Hi string `json:"hi"`
		} `json:"intervals"`
	} `json:"result"`
}

// interval renders the confidence interval of the last column of row i,
// or "" when it has none.
func (r *result) interval(i int) string {
	if i >= len(r.Result.Intervals) {
		return ""
	}
	row := r.Result.Intervals[i]
	if len(row) == 0 || row[len(row)-1] == nil {
		return ""
	}
	ci := row[len(row)-1]
	return "[" + ci.Lo + ", " + ci.Hi + "]"
}

func (d *demo) queryJSON(what, letter, eps, sql string, extra ...string) (*result, bool) {
	args := append([]string{"query", "--key", filepath.Join(d.keys, "bank.key"), "--commitment", letter, "--epsilon", eps}, extra...)
	args = append(args, "--json", sql)
	shown := append([]string{}, args[:len(args)-2]...)
	fmt.Printf("$ cleanroom %s '%s'\n", strings.ReplaceAll(strings.Join(shown, " "), d.work+"/", ""), sql)
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "CLEANROOM_NODE_INFO="+d.nodeInfo)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var res result
	ok := err == nil && json.Unmarshal(out.Bytes(), &res) == nil && len(res.Result.Rows) > 0
	if ok && d.resultFile == "" {
		d.resultFile = filepath.Join(d.work, "result.json")
		os.WriteFile(d.resultFile, out.Bytes(), 0o644)
	}
	d.expect(ok, what+" should be allowed and release rows")
	if !ok {
		fmt.Printf("    %s%s\n", out.String(), errb.String())
		return nil, false
	}
	var spent []string
	for _, c := range res.Decision.Charges {
		spent = append(spent, c.Dataset+" ε="+c.Epsilon)
	}
	fmt.Printf("    allowed: decision at ledger entry %d, release at %d; spent %s\n", res.DecisionEntry, res.ReleaseEntry, strings.Join(spent, ", "))
	return &res, true
}

// compare prints DP answers beside the truth, with the relative error.
func (d *demo) compare(res *result, truth func([]string) (float64, bool)) {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	cols := res.Result.Columns
	last := len(cols) - 1
	fmt.Fprintf(w, "    %-28s %18s %18s %8s\n", strings.Join(cols[:last], ", "), "DP "+cols[last], "true", "error")
	var errs []float64
	for _, row := range res.Result.Rows {
		dpv, _ := strconv.ParseFloat(row[last], 64)
		tv, ok := truth(row[:last])
		if !ok {
			fmt.Fprintf(w, "    %-28s %18s %18s\n", strings.Join(row[:last], ", "), row[last], "(no such group)")
			continue
		}
		rel := math.Abs(dpv-tv) / math.Max(math.Abs(tv), 1)
		errs = append(errs, rel)
		fmt.Fprintf(w, "    %-28s %18.0f %18.0f %7.1f%%\n", strings.Join(row[:last], ", "), dpv, tv, 100*rel)
	}
	if len(errs) > 0 {
		sort.Float64s(errs)
		fmt.Fprintf(w, "    median relative error %.1f%% over %d released groups\n", 100*errs[len(errs)/2], len(errs))
	}
	d.expect(len(errs) == len(res.Result.Rows), "every released group should exist in the true answer")
}

// sideBySide prints the sealed-mode and HE-mode answers of one query next
// to the truth. Both are differentially private with independent noise,
// so they differ from each other and from the truth by about the noise.
func (d *demo) sideBySide(sealed, he *result, truth func([]string) (float64, bool)) {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	cols := he.Result.Columns
	last := len(cols) - 1
	fmt.Fprintf(w, "    %-28s %16s %16s %16s   %s\n", strings.Join(cols[:last], ", "), "sealed", "HE", "true", "HE 95% CI")
	sealedOf := map[string]string{}
	if sealed != nil {
		for _, row := range sealed.Result.Rows {
			sealedOf[strings.Join(row[:last], "\x00")] = row[last]
		}
	}
	matched := 0
	noCI := false
	for i, row := range he.Result.Rows {
		tv, ok := truth(row[:last])
		if ok {
			matched++
		}
		sv := sealedOf[strings.Join(row[:last], "\x00")]
		if sv == "" {
			sv = "(withheld)"
		}
		ci := he.interval(i)
		if ci == "" {
			ci, noCI = "(none)", true
		}
		fmt.Fprintf(w, "    %-28s %16s %16s %16.0f   %s\n", strings.Join(row[:last], ", "), sv, row[last], tv, ci)
	}
	if noCI {
		fmt.Fprintln(w, "    (an AVG whose noise several providers drew has no interval: the DP library derives one for a single draw only)")
	}
	d.expect(matched == len(he.Result.Rows), "every group released in HE mode should exist in the true answer")
}

// startAgent runs a provider's agent in the background (its own process
// and data directory) and waits until it has registered with the node.
func (d *demo) startAgent(party string) (func(), error) {
	dir := filepath.Join(d.work, "agents", party)
	args := []string{"agent", "--data", dir, "--key", filepath.Join(d.keys, party+".key"), "--node-info", d.nodeInfo, "--listen", "127.0.0.1:0"}
	info := filepath.Join(dir, "agent-info.json")
	stop, err := d.background("the agent of "+party, args, filepath.Join(d.work, "agent-"+party+".log"), info)
	if err != nil {
		return nil, err
	}
	b, _ := os.ReadFile(info)
	var ai struct{ URL, Pin string }
	json.Unmarshal(b, &ai)
	fmt.Printf("    agent of %s listening at %s, registered with the node\n", party, ai.URL)
	d.steps++
	return stop, nil
}

// tamperSignature flips one character of the named signer's signature.
func tamperSignature(path, signer string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "— "+signer+" ") {
			r := []byte(l)
			k := len(r) - 5
			if r[k] == 'A' {
				r[k] = 'B'
			} else {
				r[k] = 'A'
			}
			lines[i] = string(r)
			return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
		}
	}
	return fmt.Errorf("%s: no signature by %s", path, signer)
}
