// Command cleanroom is the clean room in one binary: the compute node and
// every client verb.
//
// Usage:
//
//	cleanroom keygen --name NAME [--out DIR]
//	cleanroom node --data DIR [--listen ADDR] [--authority FILE.pub]
//	cleanroom agent --data DIR --key PROVIDER.key
//	cleanroom party register --key AUTHORITY.key --party-key NAME.key --kind KIND --jurisdiction CC
//	cleanroom dataset infer --from SOURCE
//	cleanroom dataset register --key HOLDER.key --spec DATASET.json [--schema SCHEMA.json]
//	cleanroom dataset upload --key HOLDER.key --dataset NAME [--clamp] [--resume ID] (--from SOURCE | FILE)
//	cleanroom dataset upload --key HOLDER.key --dataset NAME --he --commitment ID --agent-dir DIR FILE.csv
//	cleanroom dataset abandon --key HOLDER.key --dataset NAME --reason TEXT UPLOAD_ID
//	cleanroom dataset list [--key KEY]
//	cleanroom catalog [--key KEY]
//	cleanroom dataset seal --key KEY --reason TEXT DATASET
//	cleanroom dataset destroy --key KEY --reason TEXT DATASET
//	cleanroom mhe setup --key AUTHORITY.key --providers A,B,C
//	cleanroom calendar load --key AUTHORITY.key FILE
//	cleanroom application file --key APPLICANT.key --id ID --dataset NAME --purpose TEXT
//	cleanroom application answer --key HOLDER.key --id ID (--approve --conditions TEXT | --refuse --reason TEXT)
//	cleanroom application list [--overdue]
//	cleanroom commitment draft --spec LETTER.json --out LETTER.txt
//	cleanroom commitment sign --key KEY LETTER.txt
//	cleanroom commitment submit LETTER.txt
//	cleanroom commitment approve --key AUTHORITY.key LETTER.txt
//	cleanroom commitment show ID
//	cleanroom commitment revoke --key KEY --reason TEXT ID
//	cleanroom scenario approve --key AUTHORITY.key --id ID --text TEXT
//	cleanroom scenario withdraw --key AUTHORITY.key --id ID --reason TEXT
//	cleanroom incident declare|close --key KEY --id ID --datasets A,B --reason TEXT
//	cleanroom incident list
//	cleanroom correction file --key KEY --id ID --dataset NAME --description TEXT
//	cleanroom correction answer --key HOLDER.key --id ID [--accepted] --response TEXT
//	cleanroom correction list [--open]
//	cleanroom act record --key KEY --kind KIND --dataset NAME --what TEXT --why TEXT
//	cleanroom act list
//	cleanroom export approve --key AUTHORITY.key --commitment ID --recipient PARTY --reference TEXT
//	cleanroom budget show ID
//	cleanroom query --key KEY --commitment ID [--epsilon E] [--mode sealed|he] [--dry-run] "SQL"
//	cleanroom report usage [--dataset D] [--since DATE] [--until DATE] [--format table|csv|json]
//	cleanroom audit fetch --out DIR
//	cleanroom audit verify DIR [--trusted CHECKPOINT]
//	cleanroom audit prove RESULT.json
//
// Client verbs find the node with --node URL and --pin PIN, or --node-info
// FILE (the node.json the node writes into its data directory), or the
// environment variables CLEANROOM_NODE, CLEANROOM_PIN, CLEANROOM_NODE_INFO.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/xjdata/cleanroom/client"
)

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// exitError carries an exit code and optional hints.
type exitError struct {
	code  int
	err   error
	hints []string
}

func (e *exitError) Error() string { return e.err.Error() }

func withHint(err error, hints ...string) error { return &exitError{code: 1, err: err, hints: hints} }

func main() {
	root := newRoot()
	if err := root.Execute(); err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		msg := err.Error()
		var ce *client.Error
		if errors.As(err, &ce) && ce.Decision != nil {
			where := ""
			if ce.Entry != nil {
				where = fmt.Sprintf(" (decision logged at ledger entry %d)", *ce.Entry)
			}
			fmt.Fprintf(os.Stderr, "cleanroom: denied%s:\n", where)
			for _, r := range ce.Decision.Reasons {
				fmt.Fprintf(os.Stderr, "  - [%s] %s (%s)\n", r.Code, r.Message, r.Article)
			}
		} else {
			fmt.Fprintf(os.Stderr, "cleanroom: error: %s\n", strings.TrimSuffix(msg, "."))
		}
		if ee != nil {
			for _, h := range ee.hints {
				fmt.Fprintf(os.Stderr, "cleanroom: hint: %s\n", h)
			}
		}
		os.Exit(code)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "cleanroom",
		Short: "A privacy-preserving data clean room",
		Long: `cleanroom fuses datasets of several parties without showing any party's rows
to another: providers upload data sealed to the compute node, operators ask
aggregate questions in SQL under a signed commitment letter (Art. 36), and
only differentially private aggregates leave. Every decision is logged in a
tamper-evident ledger that auditors verify offline.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newKeygen(), newNode(), newParty(), newDataset(), newCommitment(), newScenario(), newBudget(), newQuery(), newAudit(), newAgent(), newMHE(), newIncident(), newExport(), newCalendar(), newApplication(), newReport(),
		newCatalog("catalog", "  cleanroom catalog --node-info data/node.json --key keys/msb.key"), newCorrection(), newAct())
	return root
}
