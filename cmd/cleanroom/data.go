package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// readStrictJSON decodes a spec file, refusing unknown fields.
func readStrictJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func newDataset() *cobra.Command {
	ds := &cobra.Command{Use: "dataset", Short: "Register, upload and list datasets (the providers' verbs)"}

	var key, spec, schemaFile string
	reg := &cobra.Command{
		Use:   "register --key HOLDER.key --spec DATASET.json",
		Short: "Register a dataset: schema, bounds, source and classes",
		Long: `register declares a dataset, signed by its holder (Art. 12). The spec is the
JSON of a dataset document: name, source department (Art. 23), the
data-source statement (where the data came from, its legal basis and the
collection dates; required, Art. 42(1)), the data items the source
department is the legal source of (one source per item: an item already
registered from another department is refused, Art. 23), schema with
column types and bounds, sharing class (Art. 33), opening class (Art. 35),
level (Art. 56), and the privacy unit column with the most rows one unit may
have. "secret_catalogue": true lists the dataset to public bodies only
(Art. 25). The holder is the key's party.`,
		Example: `  cleanroom dataset register --node-info data/node.json --key keys/bank.key --spec loans.json

  loans.json:
  {"name": "loans", "source": "信贷管理部", "sharing": "conditional", "conditions": "...",
   "declaration": {"origin": "the bank's lending", "legal_basis": "商业银行法",
                   "collected_from": "2020-01-01", "collected_to": "2025-12-31"},
   "items": [{"column": "amount", "item": "loan.amount"}],
   "opening": "conditional", "level": "general", "unit": "uscc", "max_rows_per_unit": 5,
   "schema": {"columns": [{"name": "uscc", "type": "string", "max_len": 18},
                          {"name": "amount", "type": "int", "min": 0, "max": 1000000000}]}}`,
		Args: cobra.NoArgs,
	}
	mkReg := conn(reg)
	reg.RunE = func(cmd *cobra.Command, _ []string) error {
		signer, _, err := keys.LoadSigner(key)
		if err != nil {
			return err
		}
		var d policy.Dataset
		if err := readStrictJSON(spec, &d); err != nil {
			return err
		}
		if schemaFile != "" {
			var sc schema.Schema
			if err := readStrictJSON(schemaFile, &sc); err != nil {
				return err
			}
			if err := sc.Validate(); err != nil {
				return fmt.Errorf("%s: %w", schemaFile, err)
			}
			d.Schema = sc
		}
		d.Holder = signer.Name()
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%s: %w", spec, err)
		}
		stmt, err := statement.New(statement.KindDataset, d, signer)
		if err != nil {
			return err
		}
		return submit(mkReg, stmt, "dataset "+d.Name+" registered")
	}
	keyFlag(reg, &key, "the holder's")
	reg.Flags().StringVar(&spec, "spec", "", "dataset spec JSON file (required)")
	reg.MarkFlagRequired("spec")
	reg.Flags().StringVar(&schemaFile, "schema", "", "schema JSON file that replaces the spec's schema (as dataset infer writes it)")

	var infFrom string
	var infRows int64
	var infSrc sourceFlags
	inf := &cobra.Command{
		Use:   "infer --from SOURCE",
		Short: "Suggest a schema for a table, to confirm or correct before registering",
		Long: `infer reads a table (the sources of dataset upload: csv:FILE, jsonl:FILE,
parquet:FILE, postgres://... or FILE) and prints the schema its columns and
values suggest, as JSON: for each column the narrowest type every value
parses as (bool, int, date, else string) and bounds that hold every value
seen, rounded out (ints to a power of ten, dates to whole years, string
lengths to a power of two), because declared bounds are published in the
catalogue and are the contribution bounds of differential privacy: tighten
them if you can. Read it, correct it, and register the dataset with it
(dataset register --schema FILE). Nothing is sent anywhere.`,
		Example: "  cleanroom dataset infer --from loans.csv > loans.schema.json\n" +
			"  cleanroom dataset register --node-info data/node.json --key keys/bank.key --spec loans.json --schema loans.schema.json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sp, err := from.Parse(infFrom)
			if err != nil {
				return err
			}
			cx, cancel := ctx()
			defer cancel()
			opts, err := infSrc.options()
			if err != nil {
				return err
			}
			sc, err := from.Discover(cx, sp, opts, infRows)
			if err != nil {
				return err
			}
			out, err := json.MarshalIndent(sc, "", "  ")
			if err != nil {
				return err
			}
			fmt.Println(string(out))
			fmt.Fprintf(os.Stderr, "suggested from %s; check every type and bound before registering\n", sp.Path)
			return nil
		},
	}
	inf.Flags().StringVar(&infFrom, "from", "", "the source: csv:FILE, jsonl:FILE, parquet:FILE, postgres://... or FILE (required)")
	infSrc.add(inf)
	inf.Flags().Int64Var(&infRows, "rows", 0, "read at most this many rows (default all)")
	inf.MarkFlagRequired("from")

	var upKey, upDataset, upLetter, upAgent, upFormat, upFrom, upResume string
	var upSrc sourceFlags
	var upHE, upClamp bool
	var upPartMiB int
	up := &cobra.Command{
		Use:   "upload --key HOLDER.key --dataset NAME (--from SOURCE | FILE)",
		Short: "Upload a table from a file or database, sealed with age to the node, or in HE mode",
		Long: `upload reads a table where it lives and puts it into the dataset, sealed to the
node. The source (--from, or a file argument) is one of:

  csv:FILE      a CSV file whose first line names the columns (--encoding
                utf-8, gb18030 or gbk; --delimiter, --no-quotes,
                --no-header and --null for other dialects)
  jsonl:FILE    JSON Lines, one object per row with a key for every column
  parquet:FILE  a Parquet file whose columns are the schema's
  postgres://USER@HOST:PORT/DB?table=T[&key=K]
  postgres://USER@HOST:PORT/DB?query=SELECT...[&key=K]
                a PostgreSQL table or query, read through a cursor in a
                read-only transaction; errors name the row by the key
                column K (default: the table's primary key). Give the
                password in PGPASSWORD or ~/.pgpass, not in the URL.
  FILE          by its extension: .csv, .jsonl, .ndjson or .parquet

Every row is checked against the dataset's registered schema as it is read:
type, declared bounds, UTF-8, length. The first bad row stops the upload
with an error naming the source, line, column and problem. With --clamp,
values outside a column's declared bounds are moved to the nearest bound
instead, and the count of clamped values is reported.

The rows travel in the node's columnar form (the same bytes from the same
rows, whatever the source) in parts of about --part-size MiB, each encrypted
with age to the node's recipient and signed; the node decrypts each part in
memory, checks every value again and stores only ciphertext. The dataset takes the rows only when the last
part has landed: an interrupted upload leaves nothing that queries read, and
--resume ID goes on where it stopped (parts the node has are checked against
the source, not sent again). A progress bar shows rows, bytes and rate.

With --he the upload is for the multiparty HE mode, where the node cannot
read what it computes on: by the rules of the commitment letter --commitment
for the dataset, join keys and the privacy unit become keyed fingerprints,
group-by and filter columns stay clear, numeric columns that may only be
aggregated are encrypted under the collective key (on every core, with a
progress bar), and columns without a rule are not sent at all. The keys
come from the provider's agent directory (--agent-dir). An HE upload reads
the whole table into memory before it encrypts it.`,
		Example: "  cleanroom dataset upload --node-info data/node.json --key keys/bank.key --dataset loans loans.csv\n" +
			"  cleanroom dataset upload --node-info data/node.json --key keys/bank.key --dataset loans --from jsonl:loans.jsonl --clamp\n" +
			"  PGPASSWORD=... cleanroom dataset upload --node-info data/node.json --key keys/bank.key --dataset loans --from 'postgres://reader@db:5432/bank?table=public.loans'\n" +
			"  cleanroom dataset upload --node-info data/node.json --key keys/bank.key --dataset loans loans.csv --resume 5f0c...\n" +
			"  cleanroom dataset upload --node-info data/node.json --key keys/bank.key --dataset loans --he --commitment L-7 --agent-dir agents/bank loans.csv",
		Args: cobra.MaximumNArgs(1),
	}
	mkUp := conn(up)
	up.RunE = func(cmd *cobra.Command, args []string) error {
		source := upFrom
		switch {
		case len(args) == 1 && source != "":
			return errors.New("give the source once: as --from or as a file argument")
		case len(args) == 1:
			source = args[0]
			if upFormat != "" {
				source = upFormat + ":" + source
			}
		case source == "":
			return errors.New("no source: give --from SOURCE or a file")
		}
		sp, err := from.Parse(source)
		if err != nil {
			return err
		}
		signer, _, err := keys.LoadSigner(upKey)
		if err != nil {
			return err
		}
		c, err := mkUp()
		if err != nil {
			return err
		}
		cx, cancel := ctx()
		defer cancel()
		cat, err := c.Catalog(cx)
		if err != nil {
			return err
		}
		var d *policy.Dataset
		for i := range cat {
			if cat[i].Name == upDataset {
				d = &cat[i].Dataset
			}
		}
		if d == nil {
			return withHint(fmt.Errorf("no dataset %q in the node's catalogue", upDataset), "register it first: cleanroom dataset register")
		}
		srcOpts, err := upSrc.options()
		if err != nil {
			return err
		}
		start := time.Now()
		if upHE {
			if upResume != "" {
				return errors.New("--resume is for sealed uploads: an HE upload is sent whole")
			}
			res, err := uploadHE(cx, c, signer, d, upLetter, upAgent, sp, srcOpts, upClamp)
			if err != nil {
				return err
			}
			fmt.Printf("uploaded %d rows to %s in HE mode (%s, %.1f s; ledger entry %d)\n",
				res.Rows, res.Dataset, humanBytes(res.CiphertextBytes), time.Since(start).Seconds(), res.Entry)
			if upClamp {
				fmt.Printf("clamped to the declared bounds: %s\n", describeClamped(res.Clamped))
			}
			return nil
		}
		if upPartMiB < 1 || upPartMiB > 1024 {
			return fmt.Errorf("--part-size %d: want 1 to 1024 (MiB)", upPartMiB)
		}
		res, err := c.UploadFrom(cx, signer, upDataset, &d.Schema, sp, srcOpts,
			client.UploadOptions{Clamp: upClamp, Resume: upResume, PartBytes: upPartMiB << 20, Progress: uploadBar("upload " + sp.Path)})
		if err != nil {
			return err
		}
		secs := time.Since(start).Seconds()
		fmt.Printf("uploaded %d rows to %s, sealed: %d parts sent", res.Rows, res.Dataset, len(res.Parts))
		if res.Skipped > 0 {
			fmt.Printf(", %d found on the node", res.Skipped)
		}
		rate := fmt.Sprintf("%.0f rows/s", float64(res.Rows)/secs)
		if res.SourceBytes > 0 {
			rate = fmt.Sprintf("%.1f MB/s of source", float64(res.SourceBytes)/1e6/secs)
		}
		fmt.Printf(" (%s of ciphertext, %s; upload %s, ledger entry %d)\n",
			humanBytes(res.CiphertextBytes), rate, res.Set, res.Entry())
		if upClamp {
			fmt.Printf("clamped to the declared bounds: %s\n", describeClamped(res.Clamped))
		}
		return nil
	}
	keyFlag(up, &upKey, "the holder's")
	up.Flags().StringVar(&upDataset, "dataset", "", "dataset name (required)")
	up.Flags().StringVar(&upFrom, "from", "", "the source: csv:FILE, jsonl:FILE, parquet:FILE, postgres://... or FILE (see above)")
	up.Flags().StringVar(&upFormat, "format", "", "the file argument's kind, csv, jsonl or parquet (default: from its extension)")
	upSrc.add(up)
	up.Flags().BoolVar(&upClamp, "clamp", false, "move values outside the declared bounds to the nearest bound, and count them")
	up.Flags().StringVar(&upResume, "resume", "", "go on with the interrupted upload of this ID (printed when it stopped)")
	up.Flags().IntVar(&upPartMiB, "part-size", client.DefaultPartBytes>>20, "plaintext MiB per part; memory use is about four times this")
	up.Flags().BoolVar(&upHE, "he", false, "upload for the multiparty HE mode")
	up.Flags().StringVar(&upLetter, "commitment", "", "with --he: the letter whose column rules decide each column's treatment")
	up.Flags().StringVar(&upAgent, "agent-dir", "", "with --he: the provider's agent directory (collective and fingerprint keys)")
	up.MarkFlagRequired("dataset")

	list := newCatalog("list", "  cleanroom dataset list --node-info data/node.json")
	ds.AddCommand(reg, inf, up, newAbandon(), list, newSeal(), newDestroy())
	return ds
}

func newCommitment() *cobra.Command {
	cm := &cobra.Command{Use: "commitment", Short: "Draft, sign, submit and approve commitment letters (Art. 36)"}

	var spec, out string
	var validDays int
	draft := &cobra.Command{
		Use:   "draft --spec LETTER.json --out LETTER.txt",
		Short: "Write a commitment letter's text from a spec, ready to sign",
		Long: `draft turns a spec (the JSON of a commitment letter: id, applicant, scenario,
purposes, safeguards, minimum group size, recipients, and for each dataset its
epsilon budget, delta and the rule of each allowed column) into the letter's
text, a fixed format meant to be read before it is signed. The prohibitions
of Art. 36(2) are filled in. Without not_before/not_after in the spec the
letter is valid from now for --valid-days. Each signer then runs
'commitment sign'.`,
		Example: "  cleanroom commitment draft --spec letter.json --out L-7.txt --valid-days 90",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l policy.Letter
			if err := readStrictJSON(spec, &l); err != nil {
				return err
			}
			if l.Prohibitions == "" {
				l.Prohibitions = policy.Prohibitions
			}
			if l.NotBefore.IsZero() {
				l.NotBefore = time.Now().UTC().Truncate(time.Second)
				l.NotAfter = l.NotBefore.AddDate(0, 0, validDays)
			}
			text, err := statement.Text(statement.KindLetter, &l)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, text, 0o644); err != nil {
				return err
			}
			fmt.Printf("drafted letter %s into %s, valid %s to %s; next: each party runs 'cleanroom commitment sign'\n",
				l.ID, out, l.NotBefore.Format(time.DateOnly), l.NotAfter.Format(time.DateOnly))
			return nil
		},
	}
	draft.Flags().StringVar(&spec, "spec", "", "letter spec JSON (required)")
	draft.Flags().StringVarP(&out, "out", "o", "", "file to write the letter text to (required)")
	draft.Flags().IntVar(&validDays, "valid-days", 90, "validity from now, when the spec has no window")
	draft.MarkFlagRequired("spec")
	draft.MarkFlagRequired("out")

	var signKey string
	sign := &cobra.Command{
		Use:   "sign --key KEY LETTER.txt",
		Short: "Add your signature to a commitment letter, in place",
		Long: `sign adds the key's signature to the letter file, keeping the signatures it
has. The applicant and the holder of every dataset named must sign (Art. 36,
Art. 43). Read the letter before you sign it: the file is plain text.`,
		Example: "  cleanroom commitment sign --key keys/grid.key L-7.txt",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			signer, _, err := keys.LoadSigner(signKey)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var signed []byte
			if _, perr := statement.Parse(b); perr == nil {
				signed, err = statement.Countersign(b, signer)
			} else {
				signed, err = statement.Sign(b, signer)
			}
			if err != nil {
				return fmt.Errorf("%s: not a letter text or signed letter: %w", args[0], err)
			}
			if st, err := statement.Parse(signed); err != nil || st.Kind != statement.KindLetter {
				return fmt.Errorf("%s: not a commitment letter", args[0])
			}
			if err := os.WriteFile(args[0], signed, 0o644); err != nil {
				return err
			}
			fmt.Printf("signed %s as %s\n", args[0], signer.Name())
			return nil
		},
	}
	keyFlag(sign, &signKey, "your")

	submitCmd := &cobra.Command{
		Use:     "submit LETTER.txt",
		Short:   "Send a signed commitment letter to the node",
		Long:    "submit sends the letter; the node checks every signature against the registered keys and refuses a letter whose signature does not verify.",
		Example: "  cleanroom commitment submit --node-info data/node.json L-7.txt",
		Args:    cobra.ExactArgs(1),
	}
	mkSubmit := conn(submitCmd)
	submitCmd.RunE = func(cmd *cobra.Command, args []string) error {
		b, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		return submit(mkSubmit, b, "letter "+args[0]+" submitted")
	}

	var apKey string
	approve := &cobra.Command{
		Use:     "approve --key AUTHORITY.key LETTER.txt",
		Short:   "Approve a submitted letter and its scenario (the authority's verb)",
		Long:    "approve signs the authority's approval of exactly this letter (by its SHA-256) and its application scenario.",
		Example: "  cleanroom commitment approve --node-info data/node.json --key keys/databureau.key L-7.txt",
		Args:    cobra.ExactArgs(1),
	}
	mkApprove := conn(approve)
	approve.RunE = func(cmd *cobra.Command, args []string) error {
		signer, _, err := keys.LoadSigner(apKey)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		st, err := statement.Parse(b)
		if err != nil || st.Kind != statement.KindLetter {
			return fmt.Errorf("%s: not a signed commitment letter", args[0])
		}
		l, err := policy.ParseLetter(st.Body)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		stmt, err := statement.New(statement.KindApproval, policy.Approval{Letter: l.ID, LetterSHA256: st.Hash()}, signer)
		if err != nil {
			return err
		}
		return submit(mkApprove, stmt, "letter "+l.ID+" approved")
	}
	keyFlag(approve, &apKey, "the authority's")

	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show a letter's state and remaining budget",
		Example: "  cleanroom commitment show --node-info data/node.json L-7",
		Args:    cobra.ExactArgs(1),
	}
	mkShow := conn(show)
	show.RunE = func(cmd *cobra.Command, args []string) error {
		ls, err := fetchLetter(mkShow, args[0])
		if err != nil {
			return err
		}
		printJSON(ls)
		return nil
	}
	var rvKey, rvReason string
	revoke := &cobra.Command{
		Use:   "revoke --key KEY --reason TEXT ID",
		Short: "Revoke a letter (the authority or a provider of its data)",
		Long: `revoke ends a letter: every query decided after the revocation is denied.
The authority or the holder of any dataset the letter names may revoke it;
the reason is logged.`,
		Example: "  cleanroom commitment revoke --node-info data/node.json --key keys/grid.key --reason \"incident 2026-07\" L-7",
		Args:    cobra.ExactArgs(1),
	}
	mkRevoke := conn(revoke)
	revoke.RunE = func(cmd *cobra.Command, args []string) error {
		signer, _, err := keys.LoadSigner(rvKey)
		if err != nil {
			return err
		}
		stmt, err := statement.New(statement.KindRevocation, policy.Revocation{Letter: args[0], Reason: rvReason}, signer)
		if err != nil {
			return err
		}
		return submit(mkRevoke, stmt, "letter "+args[0]+" revoked")
	}
	keyFlag(revoke, &rvKey, "your")
	revoke.Flags().StringVar(&rvReason, "reason", "", "why the letter is revoked (required)")
	revoke.MarkFlagRequired("reason")

	cm.AddCommand(draft, sign, submitCmd, approve, show, revoke)
	return cm
}

// fetchLetter returns a letter's state and budgets from the node.
func fetchLetter(mk func() (*client.Client, error), id string) (*api.LetterStatus, error) {
	c, err := mk()
	if err != nil {
		return nil, err
	}
	cx, cancel := ctx()
	defer cancel()
	return c.Letter(cx, id)
}

func newScenario() *cobra.Command {
	sc := &cobra.Command{Use: "scenario", Short: "Approve and withdraw application scenarios (the authority's verbs)"}
	var key, id, text, reason string
	approve := &cobra.Command{
		Use:   "approve --key AUTHORITY.key --id ID --text TEXT",
		Short: "Approve an application scenario",
		Long: `approve registers and approves an application scenario (Art. 36). A letter
names its scenario by id and text, and is valid only while the scenario is
approved.`,
		Example: "  cleanroom scenario approve --node-info data/node.json --key keys/databureau.key --id GC-2025-01 --text 绿色信贷风险评估",
		Args:    cobra.NoArgs,
	}
	mkApprove := conn(approve)
	approve.RunE = func(cmd *cobra.Command, _ []string) error {
		return sendScenario(mkApprove, key, policy.ScenarioDecision{Scenario: policy.Scenario{ID: id, Text: text}, Status: policy.ScenarioApproved})
	}
	approve.Flags().StringVar(&key, "key", "", "the authority's signing key (required)")
	approve.Flags().StringVar(&id, "id", "", "scenario id (required)")
	approve.Flags().StringVar(&text, "text", "", "scenario text (required)")
	for _, f := range []string{"key", "id", "text"} {
		approve.MarkFlagRequired(f)
	}

	withdraw := &cobra.Command{
		Use:     "withdraw --key AUTHORITY.key --id ID --reason TEXT",
		Short:   "Withdraw an application scenario: its letters stop allowing queries",
		Example: "  cleanroom scenario withdraw --node-info data/node.json --key keys/databureau.key --id GC-2025-01 --reason 评估结束",
		Args:    cobra.NoArgs,
	}
	mkWithdraw := conn(withdraw)
	withdraw.RunE = func(cmd *cobra.Command, _ []string) error {
		return sendScenario(mkWithdraw, key, policy.ScenarioDecision{Scenario: policy.Scenario{ID: id}, Status: policy.ScenarioWithdrawn, Reason: reason})
	}
	withdraw.Flags().StringVar(&key, "key", "", "the authority's signing key (required)")
	withdraw.Flags().StringVar(&id, "id", "", "scenario id (required)")
	withdraw.Flags().StringVar(&reason, "reason", "", "why (required)")
	for _, f := range []string{"key", "id", "reason"} {
		withdraw.MarkFlagRequired(f)
	}
	sc.AddCommand(approve, withdraw)
	return sc
}

func sendScenario(mk func() (*client.Client, error), key string, sd policy.ScenarioDecision) error {
	signer, _, err := keys.LoadSigner(key)
	if err != nil {
		return err
	}
	stmt, err := statement.New(statement.KindScenario, sd, signer)
	if err != nil {
		return err
	}
	return submit(mk, stmt, fmt.Sprintf("scenario %s %s", sd.Scenario.ID, sd.Status))
}

func newBudget() *cobra.Command {
	b := &cobra.Command{Use: "budget", Short: "Show privacy budgets"}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a letter's privacy budget on each dataset: granted, spent, left",
		Long: `show prints, for each dataset a letter covers, the epsilon it grants, what
queries have spent and what is left. The applicant, the providers and the
auditors all see the same figures, which are replayed from the ledger.`,
		Example: "  cleanroom budget show --node-info data/node.json L-7",
		Args:    cobra.ExactArgs(1),
	}
	mk := conn(show)
	show.RunE = func(cmd *cobra.Command, args []string) error {
		ls, err := fetchLetter(mk, args[0])
		if err != nil {
			return err
		}
		state := "in force"
		switch {
		case ls.State.Rejected != "":
			state = "refused: " + ls.State.Rejected
		case ls.State.Revoked != "":
			state = "revoked " + ls.State.Revoked
		case !ls.State.Approved:
			state = "awaiting approval"
		}
		fmt.Printf("letter %s (%s), valid %s to %s\n", args[0], state,
			ls.State.Letter.NotBefore.Format(time.DateOnly), ls.State.Letter.NotAfter.Format(time.DateOnly))
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DATASET\tEPSILON\tSPENT\tLEFT")
		for _, bl := range ls.Budgets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", bl.Dataset, bl.Epsilon, bl.Spent, bl.Left)
		}
		return tw.Flush()
	}
	b.AddCommand(show)
	return b
}

func newQuery() *cobra.Command {
	var key, letter, epsilon, recipient, mode, format string
	var dry, asJSON bool
	cmd := &cobra.Command{
		Use:   `query --key KEY --commitment ID "SQL"`,
		Short: "Ask an aggregate question under a commitment letter",
		Long: `query signs {sql, letter, epsilon, nonce, time} and sends it. The node
checks it against the letter (Art. 36) and answers with a differentially
private result and the ledger entries of its decision and release, or with
every reason it was denied. Supported: SELECT of grouping columns and
aggregates (COUNT(*), COUNT(col), COUNT(DISTINCT col), SUM, AVG, MIN, MAX,
MEDIAN, PERCENTILE(col, rank), STDDEV, VARIANCE) of columns or of
expressions (+ - * / by a number, CASE WHEN), over one dataset or inner
equi-JOINs, WHERE comparisons joined by AND, GROUP BY, and HAVING, ORDER BY
and LIMIT on the released values. Each aggregate and the choice of groups
cost --epsilon. --dry-run shows the decision and its cost without running
or spending.

Each COUNT, SUM and AVG comes with its 95% confidence interval as the DP
library computes it, and the answer says how each column was noised
(mechanism, ε, δ, sensitivity). --format csv prints the rows with their
intervals as CSV (the decision on stderr); --format json (or --json) the
whole answer with its proofs, for 'cleanroom audit prove'.

--mode he runs the query in multiparty HE mode: the node computes on
encrypted columns and keyed fingerprints, and the providers' agents, each
after checking the decision itself, switch the noisy result to a one-time
result key that this command makes and keeps in memory; it decrypts the
answer here. A letter may require HE mode for a dataset; without --mode the
letter's requirement decides, and sealed mode is the default.`,
		Example: `  cleanroom query --node-info data/node.json --key keys/bank.key --commitment L-7 --epsilon 0.5 \
    "SELECT r.industry, AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry"`,
		Args: cobra.ExactArgs(1),
	}
	mk := conn(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		switch format {
		case formatTable, formatJSON, formatCSV:
		default:
			return fmt.Errorf("--format %q: want table, csv or json", format)
		}
		signer, _, err := keys.LoadSigner(key)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		req := policy.Request{
			SQL: args[0], Letter: letter, Epsilon: epsilon, Recipient: recipient,
			Nonce: statement.NewNonce(), Time: now, DryRun: dry, Mode: policy.Mode(mode),
		}
		c, err := mk()
		if err != nil {
			return err
		}
		cx, cancel := ctx()
		defer cancel()
		if req.Mode == "" {
			if req.Mode, err = modeOf(cx, c, letter, args[0]); err != nil {
				return err
			}
		}
		var sk *mhe.ResultSecretKey
		var pk *mhe.PublicKey
		if req.Mode == policy.ModeHE {
			if sk, pk, err = heKeyPair(); err != nil {
				return err
			}
			req.ResultKey = client.ResultKeyHash(pk)
		}
		stmt, err := statement.NewAt(now, statement.KindQuery, req, signer)
		if err != nil {
			return err
		}
		var res *api.QueryResponse
		if pk != nil {
			res, err = c.QueryHE(cx, stmt, pk)
			if err == nil && res.HE != nil {
				res.Result, err = client.DecryptHE(res.HE, sk)
			}
		} else {
			res, err = c.Query(cx, stmt)
		}
		if asJSON {
			format = formatJSON
		}
		var ce *client.Error
		if format == formatJSON && errors.As(err, &ce) && ce.Decision != nil {
			printJSON(api.Error{Code: ce.Code, Message: ce.Message, Entry: ce.Entry, Decision: ce.Decision})
			return &exitError{code: 1, err: err}
		}
		if err != nil {
			return err
		}
		return printResult(os.Stdout, res, dry, format)
	}
	cmd.Flags().StringVarP(&key, "key", "k", "", "your signing key (required)")
	cmd.Flags().StringVarP(&letter, "commitment", "c", "", "commitment letter id (required)")
	cmd.Flags().StringVarP(&epsilon, "epsilon", "e", "0.1", "epsilon for each aggregate and for group selection; --dry-run shows the total")
	cmd.Flags().StringVar(&recipient, "recipient", "", "party to deliver the result to (default: you)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "show the decision and cost; run and spend nothing")
	cmd.Flags().StringVar(&mode, "mode", "", "execution mode: sealed or he (default: what the letter requires, else sealed)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the answer as JSON (as --format json)")
	cmd.Flags().StringVar(&format, "format", formatTable, "how to print the answer: table, csv or json")
	cmd.MarkFlagRequired("key")
	cmd.MarkFlagRequired("commitment")
	return cmd
}

// modeOf returns the mode a query runs in when none is asked for: HE if
// the letter requires it for a dataset the query reads, else sealed. A
// query that does not compile or a letter not found leave the mode empty,
// for the node to decide and explain.
func modeOf(cx context.Context, c *client.Client, letter, sql string) (policy.Mode, error) {
	ls, err := c.Letter(cx, letter)
	if err != nil {
		return "", nil
	}
	cat, err := c.Catalog(cx)
	if err != nil {
		return "", err
	}
	plan, err := query.Compile(sql, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
		for i := range cat {
			if cat[i].Name == name {
				return &cat[i].Schema, true
			}
		}
		return nil, false
	}))
	if err != nil {
		return "", nil
	}
	for _, t := range plan.TableNames() {
		if ld, ok := ls.State.Letter.Dataset(t); ok && ld.Mode == policy.ModeHE {
			return policy.ModeHE, nil
		}
	}
	return "", nil
}

// newCatalog returns the verb that lists the catalogue (Art. 25), as
// "catalog" or as "dataset list".
func newCatalog(name, example string) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   name + " [--key KEY]",
		Short: "List the catalogue of datasets (Art. 25)",
		Long: `The catalogue lists every dataset with its holder, source department, data
source statement, classes (Art. 33, 35), level (Art. 56), rows and columns.
Datasets marked secret-catalogue are listed only to public bodies, the
authority and their holder: give --key to read as your party (a signed read,
not logged).`,
		Example: example,
		Args:    cobra.NoArgs,
	}
	mk := conn(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		c, err := mk()
		if err != nil {
			return err
		}
		var signer note.Signer
		if key != "" {
			if signer, _, err = keys.LoadSigner(key); err != nil {
				return err
			}
		}
		cx, cancel := ctx()
		defer cancel()
		cat, err := c.CatalogAs(cx, signer)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DATASET\tHOLDER\tSOURCE\tSHARING\tOPENING\tLEVEL\tROWS\tCOLUMNS")
		for _, d := range cat {
			var cols []string
			for _, c := range d.Schema.Columns {
				cols = append(cols, c.Name+":"+string(c.Type))
			}
			name := d.Name
			if d.SecretCatalogue {
				name += " (secret catalogue)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", name, d.Holder, d.Source, d.Sharing, d.Opening, d.Level, d.Rows, strings.Join(cols, " "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, d := range cat {
			sets := map[string][2]int64{} // parts and rows of each incomplete upload
			var order []string
			for _, p := range d.Pending {
				if _, ok := sets[p.Set]; !ok {
					order = append(order, p.Set)
				}
				v := sets[p.Set]
				sets[p.Set] = [2]int64{v[0] + 1, v[1] + p.Rows}
			}
			for _, set := range order {
				fmt.Printf("%s: incomplete upload %s, %d parts (%d rows) landed, not read: resume it (dataset upload --resume %s) or abandon it (dataset abandon)\n",
					d.Name, set, sets[set][0], sets[set][1], set)
			}
		}
		return nil
	}
	cmd.Flags().StringVar(&key, "key", "", "read as this party (sees the secret catalogue if allowed)")
	return cmd
}

func newAbandon() *cobra.Command {
	var key, dataset, reason string
	cmd := &cobra.Command{
		Use:   "abandon --key HOLDER.key --dataset NAME --reason TEXT UPLOAD_ID",
		Short: "Abandon an incomplete upload: delete its landed parts",
		Long: `abandon gives up an upload that stopped before its last part landed (dataset
list shows them): the node logs the holder's signed statement with its reason,
deletes the parts it kept, and refuses further parts of that upload. The
dataset never read them. Only the dataset's holder may abandon its uploads.`,
		Example: `  cleanroom dataset abandon --node-info data/node.json --key keys/bank.key --dataset loans --reason "wrong extract" 5f0c7a1e9b2d4c6f8a0b1c2d3e4f5a6b`,
		Args:    cobra.ExactArgs(1),
	}
	mk := conn(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		return signAndSubmit(mk, key, statement.KindAbandon, policy.Abandon{Dataset: dataset, Set: args[0], Reason: reason}, "upload "+args[0]+" to "+dataset+" abandoned")
	}
	keyFlag(cmd, &key, "the holder's")
	cmd.Flags().StringVar(&dataset, "dataset", "", "the dataset (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.MarkFlagRequired("dataset")
	cmd.MarkFlagRequired("reason")
	return cmd
}

// sourceFlags are the flags that say how to read a source: a CSV file's
// encoding and dialect.
type sourceFlags struct {
	encoding, delimiter string
	noQuotes, noHeader  bool
	nulls               []string
}

func (f *sourceFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.encoding, "encoding", "", "a CSV source's encoding: utf-8 (default), gb18030 or gbk")
	fl.StringVar(&f.delimiter, "delimiter", "", `a CSV source's field delimiter: one ASCII character such as ';' or '|', or "tab" (default ',')`)
	fl.BoolVar(&f.noQuotes, "no-quotes", false, `a CSV source does not quote fields: '"' is an ordinary character and a record is one line`)
	fl.BoolVar(&f.noHeader, "no-header", false, "a CSV source has no header line: its fields are the schema's columns in order")
	fl.StringArrayVar(&f.nulls, "null", nil, `a text that a CSV source writes for a missing value, such as NULL or '\N' (repeatable); such values are refused by name`)
}

// options returns the from.Options the flags describe.
func (f *sourceFlags) options() (from.Options, error) {
	o := from.Options{Encoding: f.encoding}
	o.CSV.NoQuotes, o.CSV.NoHeader, o.CSV.Nulls = f.noQuotes, f.noHeader, f.nulls
	switch d := f.delimiter; {
	case d == "":
	case d == "tab" || d == `\t` || d == "\t":
		o.CSV.Comma = '\t'
	case len(d) == 1:
		o.CSV.Comma = d[0]
	default:
		return o, withHint(fmt.Errorf("--delimiter %q: want one ASCII character", d), `for a tab write --delimiter tab`)
	}
	return o, nil
}
