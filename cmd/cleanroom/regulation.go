package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
)

// signAndSubmit signs body as a statement of kind with the key file and
// sends it, printing what and the ledger entry.
func signAndSubmit(mk func() (*client.Client, error), key string, kind statement.Kind, body any, what string) error {
	signer, _, err := keys.LoadSigner(key)
	if err != nil {
		return err
	}
	stmt, err := statement.New(kind, body, signer)
	if err != nil {
		return err
	}
	return submit(mk, stmt, what)
}

func newIncident() *cobra.Command {
	inc := &cobra.Command{Use: "incident", Short: "Declare and close security incidents on datasets (Art. 57(6))"}
	var key, id, datasets, reason string
	declare := &cobra.Command{
		Use:   "declare --key KEY --id ID --datasets A,B --reason TEXT",
		Short: "Declare an incident: queries reading its datasets are denied until it is closed",
		Long: `declare opens a security incident on datasets (Art. 57(6)). The authority
or the holder of every dataset named may declare one. From the moment it is
logged every query that reads one of the datasets is denied, citing the
incident, until 'incident close'.`,
		Example: `  cleanroom incident declare --node-info data/node.json --key keys/grid.key --id INC-1 --datasets electricity --reason "meter data leak under investigation"`,
		Args:    cobra.NoArgs,
	}
	mkD := conn(declare)
	declare.RunE = func(*cobra.Command, []string) error {
		return signAndSubmit(mkD, key, statement.KindIncident, policy.Incident{ID: id, Datasets: strings.Split(datasets, ","), Status: policy.IncidentOpen, Reason: reason},
			"incident "+id+" declared")
	}
	var ckey, cid, cdatasets, creason string
	closeCmd := &cobra.Command{
		Use:     "close --key KEY --id ID --datasets A,B --reason TEXT",
		Short:   "Close an incident: its datasets may be queried again",
		Long:    `close ends an incident (Art. 57(6)), with the reason it is closed. The authority or the holder of every dataset it names may close it; the datasets must be those it was declared on.`,
		Example: `  cleanroom incident close --node-info data/node.json --key keys/grid.key --id INC-1 --datasets electricity --reason "contained; keys rotated"`,
		Args:    cobra.NoArgs,
	}
	mkC := conn(closeCmd)
	closeCmd.RunE = func(*cobra.Command, []string) error {
		return signAndSubmit(mkC, ckey, statement.KindIncident, policy.Incident{ID: cid, Datasets: strings.Split(cdatasets, ","), Status: policy.IncidentClosed, Reason: creason},
			"incident "+cid+" closed")
	}
	for _, c := range []struct {
		cmd                       *cobra.Command
		key, id, datasets, reason *string
	}{{declare, &key, &id, &datasets, &reason}, {closeCmd, &ckey, &cid, &cdatasets, &creason}} {
		keyFlag(c.cmd, c.key, "the authority's or the holder's")
		c.cmd.Flags().StringVar(c.id, "id", "", "incident id (required)")
		c.cmd.Flags().StringVar(c.datasets, "datasets", "", "comma-separated datasets (required)")
		c.cmd.Flags().StringVar(c.reason, "reason", "", "why (required)")
		for _, f := range []string{"id", "datasets", "reason"} {
			c.cmd.MarkFlagRequired(f)
		}
	}
	list := listVerb("list", "List incidents, open and closed", "", "  cleanroom incident list --node-info data/node.json",
		"ID\tSTATUS\tDATASETS\tREASON", func(cx context.Context, c *client.Client) ([][]string, error) {
			incs, err := c.Incidents(cx)
			var rows [][]string
			for _, i := range incs {
				rows = append(rows, []string{i.ID, string(i.Status), strings.Join(i.Datasets, ","), i.Reason})
			}
			return rows, err
		})
	inc.AddCommand(declare, closeCmd, list)
	return inc
}

func newSeal() *cobra.Command {
	var key, reason string
	cmd := &cobra.Command{
		Use:   "seal --key KEY --reason TEXT DATASET",
		Short: "Seal a dataset: no more queries or uploads (Art. 31)",
		Long: `seal closes a dataset for good (Art. 31): every later query that reads it is
denied citing Art. 31, and uploads to it are refused. Only its holder or the
authority may seal it; the seal is logged with its reason.`,
		Example: `  cleanroom dataset seal --node-info data/node.json --key keys/msb.key --reason "superseded by registry_2026" permits`,
		Args:    cobra.ExactArgs(1),
	}
	mk := conn(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		return signAndSubmit(mk, key, statement.KindSeal, policy.Seal{Dataset: args[0], Reason: reason}, "dataset "+args[0]+" sealed")
	}
	keyFlag(cmd, &key, "the holder's or the authority's")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.MarkFlagRequired("reason")
	return cmd
}

func newExport() *cobra.Command {
	e := &cobra.Command{Use: "export", Short: "Record export security assessments (Art. 59; the authority's verb)"}
	var key, letter, recipient, reference string
	approve := &cobra.Command{
		Use:   "approve --key AUTHORITY.key --commitment ID --recipient PARTY --reference TEXT",
		Short: "Record the export security assessment for a letter's results to a recipient abroad",
		Long: `approve records, signed by the authority, that an export security assessment
(Art. 59) lets results of a commitment letter derived from important or core
data be delivered to one recipient outside the country. Without it such a
release is denied, and the denial says so.`,
		Example: `  cleanroom export approve --node-info data/node.json --key keys/databureau.key --commitment L-7 --recipient overseas --reference "网信办数据出境安全评估 2026-017"`,
		Args:    cobra.NoArgs,
	}
	mk := conn(approve)
	approve.RunE = func(*cobra.Command, []string) error {
		return signAndSubmit(mk, key, statement.KindExport, policy.ExportAssessment{Letter: letter, Recipient: recipient, Reference: reference},
			"export assessment recorded for "+letter+" to "+recipient)
	}
	keyFlag(approve, &key, "the authority's")
	approve.Flags().StringVarP(&letter, "commitment", "c", "", "commitment letter id (required)")
	approve.Flags().StringVar(&recipient, "recipient", "", "the recipient abroad (required)")
	approve.Flags().StringVar(&reference, "reference", "", "the assessment's reference (required)")
	for _, f := range []string{"commitment", "recipient", "reference"} {
		approve.MarkFlagRequired(f)
	}
	e.AddCommand(approve)
	return e
}

func newDestroy() *cobra.Command {
	var key, reason string
	cmd := &cobra.Command{
		Use:   "destroy --key KEY --reason TEXT DATASET",
		Short: "Destroy a dataset: delete its stored files and erase its key (Art. 31, 57(4))",
		Long: `destroy has the node delete every stored file of a dataset, in both modes,
and erase the dataset's own key: crypto-shredding, so that a copy of the data
taken before cannot be decrypted either, as long as the key file was not
copied with it. The ledger records the destruction (who, why) with the
node's evidence: the SHA-256 of every file deleted and of the key erased.
The dataset is sealed: queries on it are denied citing Art. 31. Only its
holder or the authority may destroy it. It cannot be undone.`,
		Example: `  cleanroom dataset destroy --node-info data/node.json --key keys/msb.key --reason "retention period over" permits`,
		Args:    cobra.ExactArgs(1),
	}
	mk := conn(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		return signAndSubmit(mk, key, statement.KindDestroy, policy.Destruction{Dataset: args[0], Reason: reason}, "dataset "+args[0]+" destroyed: files deleted, key erased")
	}
	keyFlag(cmd, &key, "the holder's or the authority's")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.MarkFlagRequired("reason")
	return cmd
}

func newCalendar() *cobra.Command {
	c := &cobra.Command{Use: "calendar", Short: "Load the calendar of working days (Art. 34; the authority's verb)"}
	var key string
	load := &cobra.Command{
		Use:   "load --key AUTHORITY.key FILE",
		Short: "Load the calendar of working days that application deadlines count in",
		Long: `load checks and signs a calendar file and sends it to the node; it replaces
the calendar in force for applications filed from then on (Art. 34: a
provider answers within ten working days). Working days are Monday to
Friday, less the holidays the file lists, plus the weekend days it lists as
working days (调休). One entry per line, # starts a comment:

  2026-10-01 holiday 国庆节
  2026-09-27 workday 国庆节调休

Days count in China Standard Time (UTC+8). An error names the line and
column.`,
		Example: "  cleanroom calendar load --node-info data/node.json --key keys/databureau.key examples/greencredit/calendar-2026.txt",
		Args:    cobra.ExactArgs(1),
	}
	mk := conn(load)
	load.RunE = func(_ *cobra.Command, args []string) error {
		b, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		cal, err := policy.ParseCalendar(b)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		return signAndSubmit(mk, key, statement.KindCalendar, cal, fmt.Sprintf("calendar loaded: %d holidays and make-up working days", len(cal.Days)))
	}
	keyFlag(load, &key, "the authority's")
	c.AddCommand(load)
	return c
}

func newApplication() *cobra.Command {
	a := &cobra.Command{Use: "application", Short: "Apply for conditionally shared data and answer applications (Art. 34)"}
	var key, id, dataset, purpose string
	file := &cobra.Command{
		Use:   "file --key APPLICANT.key --id ID --dataset NAME --purpose TEXT",
		Short: "Apply to a dataset's holder for conditionally shared data",
		Long: `file sends an application, signed by the applicant, for a dataset shared on
conditions (Art. 33, 34). The holder must answer within ten working days of
the calendar the authority loaded; the node records the deadline. An
approved application is what lets the holder countersign the applicant's
commitment letter naming the dataset.`,
		Example: `  cleanroom application file --node-info data/node.json --key keys/bank.key --id A-7 --dataset electricity --purpose "绿色信贷定价"`,
		Args:    cobra.NoArgs,
	}
	mkF := conn(file)
	file.RunE = func(*cobra.Command, []string) error {
		signer, _, err := keys.LoadSigner(key)
		if err != nil {
			return err
		}
		stmt, err := statement.New(statement.KindApply, policy.Application{ID: id, Applicant: signer.Name(), Dataset: dataset, Purpose: purpose}, signer)
		if err != nil {
			return err
		}
		return submit(mkF, stmt, "application "+id+" filed; the holder has 10 working days to answer")
	}
	keyFlag(file, &key, "the applicant's")
	file.Flags().StringVar(&id, "id", "", "application id (required)")
	file.Flags().StringVar(&dataset, "dataset", "", "the dataset applied for (required)")
	file.Flags().StringVar(&purpose, "purpose", "", "what the data is for (required)")
	for _, f := range []string{"id", "dataset", "purpose"} {
		file.MarkFlagRequired(f)
	}

	var akey, aid, conditions, reason string
	var approve, refuse bool
	answer := &cobra.Command{
		Use:   "answer --key HOLDER.key --id ID (--approve --conditions TEXT | --refuse --reason TEXT)",
		Short: "Approve an application with its conditions, or refuse it with a reason",
		Long: `answer records the holder's answer to an application (Art. 34): an approval
states the conditions of the sharing, a refusal its reason (the node refuses
a refusal without one). An answer after the deadline is recorded as late.`,
		Example: `  cleanroom application answer --node-info data/node.json --key keys/grid.key --id A-7 --approve --conditions "aggregates only, in the clean room"`,
		Args:    cobra.NoArgs,
	}
	mkA := conn(answer)
	answer.RunE = func(*cobra.Command, []string) error {
		if approve == refuse {
			return withHint(errors.New("give exactly one of --approve and --refuse"))
		}
		verb := "approved"
		if refuse {
			verb = "refused"
		}
		return signAndSubmit(mkA, akey, statement.KindAnswer, policy.Answer{Application: aid, Approve: approve, Conditions: conditions, Reason: reason},
			"application "+aid+" "+verb)
	}
	keyFlag(answer, &akey, "the holder's")
	answer.Flags().StringVar(&aid, "id", "", "application id (required)")
	answer.Flags().BoolVar(&approve, "approve", false, "approve it")
	answer.Flags().BoolVar(&refuse, "refuse", false, "refuse it")
	answer.Flags().StringVar(&conditions, "conditions", "", "the conditions of the sharing (with --approve)")
	answer.Flags().StringVar(&reason, "reason", "", "why it is refused (with --refuse)")
	answer.MarkFlagRequired("id")

	var overdue bool
	list := listVerb("list [--overdue]", "List applications with their deadlines; --overdue: those unanswered past it",
		`list shows every application for conditionally shared data (Art. 34) with its
holder, deadline and answer; --overdue keeps those still unanswered past
their deadline, for the provider, the authority and auditors.`,
		"  cleanroom application list --node-info data/node.json --overdue",
		"ID\tAPPLICANT\tDATASET\tHOLDER\tDEADLINE (CST)\tSTATUS", func(cx context.Context, c *client.Client) ([][]string, error) {
			apps, err := c.Applications(cx, overdue)
			var rows [][]string
			for _, a := range apps {
				status := "pending"
				switch {
				case a.Answer != nil && a.Answer.Approve:
					status = "approved: " + a.Answer.Conditions
				case a.Answer != nil:
					status = "refused: " + a.Answer.Reason
				case a.Overdue:
					status = "OVERDUE"
				}
				if a.Late {
					status += " (late)"
				}
				rows = append(rows, []string{a.Application.ID, a.Application.Applicant, a.Application.Dataset, a.Holder,
					a.Deadline.In(policy.China).Format("2006-01-02 15:04"), status})
			}
			return rows, err
		})
	list.Flags().BoolVar(&overdue, "overdue", false, "only those unanswered past their deadline")
	a.AddCommand(file, answer, list)
	return a
}

func newCorrection() *cobra.Command {
	c := &cobra.Command{Use: "correction", Short: "Ask for and answer corrections of public data (Art. 26(3))"}
	var key, id, dataset, column, description string
	file := &cobra.Command{
		Use:   "file --key KEY --id ID --dataset NAME [--column COL] --description TEXT",
		Short: "Ask the holder of a public dataset to correct it",
		Long: `file sends a correction request on a public dataset (one held by a public
body or a public-service operator; Art. 26(3)), signed by any registered
party. It is routed to the holder, whose answer is recorded; 'correction
list --open' shows those waiting.`,
		Example: `  cleanroom correction file --node-info data/node.json --key keys/bank.key --id C-1 --dataset registry --column region --description "91650100MA0000001X moved to 昌吉 in 2024"`,
		Args:    cobra.NoArgs,
	}
	mkF := conn(file)
	file.RunE = func(*cobra.Command, []string) error {
		return signAndSubmit(mkF, key, statement.KindCorrection, policy.Correction{ID: id, Dataset: dataset, Column: column, Description: description},
			"correction "+id+" filed with the holder of "+dataset)
	}
	keyFlag(file, &key, "your")
	file.Flags().StringVar(&id, "id", "", "request id (required)")
	file.Flags().StringVar(&dataset, "dataset", "", "the dataset (required)")
	file.Flags().StringVar(&column, "column", "", "the column concerned, if one")
	file.Flags().StringVar(&description, "description", "", "what is wrong (required)")
	for _, f := range []string{"id", "dataset", "description"} {
		file.MarkFlagRequired(f)
	}

	var akey, aid, response string
	var accepted bool
	answer := &cobra.Command{
		Use:     "answer --key HOLDER.key --id ID [--accepted] --response TEXT",
		Short:   "Answer a correction request as the dataset's holder",
		Long:    `answer records the holder's response to a correction request (Art. 26(3)): --accepted if the data was corrected, and the response either way.`,
		Example: `  cleanroom correction answer --node-info data/node.json --key keys/msb.key --id C-1 --accepted --response "corrected in upload of 2026-12-01"`,
		Args:    cobra.NoArgs,
	}
	mkA := conn(answer)
	answer.RunE = func(*cobra.Command, []string) error {
		return signAndSubmit(mkA, akey, statement.KindCorrected, policy.CorrectionAnswer{Correction: aid, Accepted: accepted, Response: response},
			"correction "+aid+" answered")
	}
	keyFlag(answer, &akey, "the holder's")
	answer.Flags().StringVar(&aid, "id", "", "request id (required)")
	answer.Flags().BoolVar(&accepted, "accepted", false, "the data was corrected")
	answer.Flags().StringVar(&response, "response", "", "the response (required)")
	answer.MarkFlagRequired("id")
	answer.MarkFlagRequired("response")

	var open bool
	list := listVerb("list [--open]", "List correction requests; --open: those not answered yet", "",
		"  cleanroom correction list --node-info data/node.json --open",
		"ID\tDATASET\tFILER\tHOLDER\tSTATUS\tDESCRIPTION", func(cx context.Context, cl *client.Client) ([][]string, error) {
			cs, err := cl.Corrections(cx, open)
			var rows [][]string
			for _, c := range cs {
				status := "open"
				if c.Answer != nil {
					status = "rejected: " + c.Answer.Response
					if c.Answer.Accepted {
						status = "corrected: " + c.Answer.Response
					}
				}
				rows = append(rows, []string{c.Correction.ID, c.Correction.Dataset, c.Filer, c.Holder, status, c.Correction.Description})
			}
			return rows, err
		})
	list.Flags().BoolVar(&open, "open", false, "only those not answered yet")
	c.AddCommand(file, answer, list)
	return c
}

func newAct() *cobra.Command {
	a := &cobra.Command{Use: "act", Short: "Record copies, exports, de-identification and destruction of data (Art. 57(4))"}
	var key, kind, dataset, what, why, recipient string
	record := &cobra.Command{
		Use:   "record --key KEY --kind copy|export|de-identification|destruction --dataset NAME --what TEXT --why TEXT",
		Short: "Record a data-handling act done outside the clean room",
		Long: `record logs, signed by the dataset's holder or the authority, an act of
copying, exporting, de-identifying or destroying the dataset's data done
outside the clean room (Art. 57(4)): who (the signer), what and why, and the
recipient of a copy or export. Acts inside the clean room are logged by the
node itself (uploads, releases, destroy).`,
		Example: `  cleanroom act record --node-info data/node.json --key keys/msb.key --kind copy --dataset registry --what "nightly backup to the bureau's archive" --why "retention duty" --recipient databureau`,
		Args:    cobra.NoArgs,
	}
	mk := conn(record)
	record.RunE = func(*cobra.Command, []string) error {
		return signAndSubmit(mk, key, statement.KindAct, policy.Act{Kind: policy.ActKind(kind), Dataset: dataset, What: what, Why: why, Recipient: recipient},
			kind+" of "+dataset+" recorded")
	}
	keyFlag(record, &key, "the holder's or the authority's")
	record.Flags().StringVar(&kind, "kind", "", "copy, export, de-identification or destruction (required)")
	record.Flags().StringVar(&dataset, "dataset", "", "the dataset (required)")
	record.Flags().StringVar(&what, "what", "", "what was done (required)")
	record.Flags().StringVar(&why, "why", "", "why (required)")
	record.Flags().StringVar(&recipient, "recipient", "", "who received a copy or an export")
	for _, f := range []string{"kind", "dataset", "what", "why"} {
		record.MarkFlagRequired(f)
	}
	list := listVerb("list", "List the recorded acts", "", "  cleanroom act list --node-info data/node.json",
		"WHEN (UTC)\tBY\tKIND\tDATASET\tWHAT\tWHY\tRECIPIENT", func(cx context.Context, cl *client.Client) ([][]string, error) {
			acts, err := cl.Acts(cx)
			var rows [][]string
			for _, a := range acts {
				rows = append(rows, []string{a.At.UTC().Format("2006-01-02 15:04"), a.By, string(a.Kind), a.Dataset, a.What, a.Why, a.Recipient})
			}
			return rows, err
		})
	a.AddCommand(record, list)
	return a
}

// listVerb returns a verb that fetches rows from the node and prints them
// as a table under header (tab-separated columns).
func listVerb(use, short, long, example, header string, rows func(context.Context, *client.Client) ([][]string, error)) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Long: long, Example: example, Args: cobra.NoArgs}
	mk := conn(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		c, err := mk()
		if err != nil {
			return err
		}
		cx, cancel := ctx()
		defer cancel()
		rs, err := rows(cx, c)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		for _, r := range rs {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
	return cmd
}
