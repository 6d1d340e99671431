package main

import (
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/ledger"
)

// newReport returns the report verbs: usage statistics for the source
// departments (Art. 26(4)).
func newReport() *cobra.Command {
	r := &cobra.Command{Use: "report", Short: "Reports computed from the ledger (usage statistics, Art. 26(4))"}

	var dataset, since, until, format, dir, nodeKey string
	u := &cobra.Command{
		Use:   "usage [--dataset D] [--since DATE] [--until DATE] [--format table|csv|json]",
		Short: "Per-dataset usage statistics for the source department (Art. 26(4))",
		Long: `usage reports how each dataset was used, as Art. 26(4) of the regulation asks
the clean room to feed back to the data's source department: per dataset, per
applicant and application scenario (those of the commitment letter each query
named), the queries allowed, the dry runs, the queries denied with a count per
reason code, the privacy budget spent and what each letter has left, and the
results released, to whom, and how many of them in multiparty HE mode.

The numbers come from the ledger alone: the report replays every entry with
the node's own code, checking every signature and decision as 'cleanroom audit
verify' does, so an auditor with a copy gets the same numbers as the node's
operator. It reads either a live node (--node-info, or --node and --pin): it
fetches the node's signed checkpoint and every entry, and checks the copy
against the checkpoint before counting; or a local copy, --ledger DIR, from
'cleanroom audit fetch' or a stopped node's data directory, checked against
the node's key (--node-key, --node-info, or DIR/node.json).

A query counts on every dataset it read: the datasets it was charged for when
allowed, the datasets its SQL names when denied (a query that does not
compile reads none). A denied query counts once under each reason code it
carries. A query naming no letter on record is counted under the party that
signed it, with no scenario.

--since and --until take dates, YYYY-MM-DD in UTC, and bound the window on
each entry's recorded time, until excluded: --since 2026-01-01 --until
2026-02-01 is January. Budget left is what each letter had left at the
window's end. Without --dataset, every dataset in the catalogue is reported,
including those nobody used.

--format table is for reading; csv has one row per dataset, applicant and
scenario, with the reasons as code=n;code=n and the recipients as party=n;
json is the whole report.`,
		Example: `  cleanroom report usage --node-info data/node.json --dataset loans --since 2026-01-01 --until 2026-04-01
  cleanroom report usage --ledger copy/ --dataset loans --format csv > loans-q1.csv`,
		Args: cobra.NoArgs,
	}
	mk := conn(u)
	u.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := usageFilter(dataset, since, until)
		if err != nil {
			return err
		}
		switch format {
		case "table", "csv", "json":
		default:
			return fmt.Errorf("--format %q: want table, csv or json", format)
		}
		var rep *audit.UsageReport
		if dir != "" {
			for _, name := range []string{"node", "pin"} {
				if cmd.Flags().Changed(name) {
					return withHint(fmt.Errorf("--ledger %s reads a local copy, --%s a live node", dir, name), "give one or the other")
				}
			}
			rep, err = usageFromCopy(cmd, dir, nodeKey, f)
		} else {
			rep, err = usageFromNode(mk, nodeKey, f)
		}
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		switch format {
		case "csv":
			return writeUsageCSV(out, rep)
		case "json":
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		}
		return writeUsageTable(out, rep)
	}
	u.Flags().StringVar(&dataset, "dataset", "", "the dataset to report on (default: every dataset)")
	u.Flags().StringVar(&since, "since", "", "count entries from this date on, YYYY-MM-DD (UTC)")
	u.Flags().StringVar(&until, "until", "", "count entries before this date, YYYY-MM-DD (UTC; excluded)")
	u.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	u.Flags().StringVar(&dir, "ledger", "", "read a local copy of the ledger (from 'cleanroom audit fetch') instead of a live node")
	u.Flags().StringVar(&nodeKey, "node-key", "", "the node's verifier key (default: from --node-info, DIR/node.json, or the live node)")

	r.AddCommand(u)
	return r
}

// usageFilter parses the usage flags.
func usageFilter(dataset, since, until string) (audit.UsageFilter, error) {
	f := audit.UsageFilter{Dataset: dataset}
	var err error
	if f.Since, err = parseDay("since", since); err != nil {
		return f, err
	}
	if f.Until, err = parseDay("until", until); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, fmt.Errorf("--until %s is not after --since %s: the window would be empty (until is excluded)", until, since)
	}
	return f, nil
}

// parseDay parses a YYYY-MM-DD flag as midnight UTC; empty is the zero time.
func parseDay(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want a date YYYY-MM-DD (UTC)", flag, v)
	}
	return t, nil
}

// usageFromCopy computes the report of a local copy of the ledger.
func usageFromCopy(cmd *cobra.Command, dir, nodeKey string, f audit.UsageFilter) (*audit.UsageReport, error) {
	ldir := filepath.Join(dir, "ledger")
	if _, err := os.Stat(filepath.Join(ldir, "checkpoint")); err != nil {
		if _, err := os.Stat(filepath.Join(dir, "checkpoint")); err != nil {
			return nil, withHint(fmt.Errorf("--ledger %s: no ledger there (neither %s nor %s)", dir,
				filepath.Join(ldir, "checkpoint"), filepath.Join(dir, "checkpoint")),
				"copy a node's ledger with 'cleanroom audit fetch --out DIR', or pass a stopped node's --data directory")
		}
		ldir = dir
	}
	if nodeKey == "" {
		info := cmd.Flags().Lookup("node-info")
		local := filepath.Join(dir, "node.json")
		_, statErr := os.Stat(local)
		var err error
		switch {
		case info.Changed:
			nodeKey, err = nodeKeyFrom("", info.Value.String())
		case statErr == nil:
			nodeKey, err = nodeKeyFrom("", local)
		default:
			nodeKey, err = nodeKeyFrom("", info.Value.String())
		}
		if err != nil {
			return nil, err
		}
	}
	rep, err := audit.UsageFromDir(ldir, nodeKey, f)
	if err != nil {
		return nil, fmt.Errorf("usage of %s: %w", ldir, err)
	}
	return rep, nil
}

// usageFromNode fetches a live node's ledger into a temporary copy,
// checked against its signed checkpoint, and computes the report.
func usageFromNode(mk func() (*client.Client, error), nodeKey string, f audit.UsageFilter) (*audit.UsageReport, error) {
	c, err := mk()
	if err != nil {
		return nil, err
	}
	cx, cancel := ctx()
	defer cancel()
	if nodeKey == "" {
		info, err := c.Info(cx)
		if err != nil {
			return nil, err
		}
		nodeKey = info.NodeKey
	}
	v, err := note.NewVerifier(nodeKey)
	if err != nil {
		return nil, fmt.Errorf("the node's key: %v", err)
	}
	signed, err := c.Checkpoint(cx)
	if err != nil {
		return nil, err
	}
	cp, err := ledger.ParseCheckpoint(signed, v)
	if err != nil {
		return nil, fmt.Errorf("the node's checkpoint: %w", err)
	}
	tmp, err := os.MkdirTemp("", "cleanroom-usage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	ldir := filepath.Join(tmp, "ledger")
	progress := progressOf("fetch", func(n int64) string { return fmt.Sprintf("%d of %d entries", n, cp.Size) })
	entries := c.EntriesTo(cx, cp.Size, func(done uint64) { progress(int64(done), int64(cp.Size)) })
	if _, err := ledger.Import(ldir, v, signed, entries); err != nil {
		return nil, fmt.Errorf("the fetched copy does not match the node's checkpoint: %w", err)
	}
	rep, err := audit.UsageFromDir(ldir, nodeKey, f)
	if err != nil {
		return nil, fmt.Errorf("usage of the node's ledger: %w", err)
	}
	return rep, nil
}

// window describes a report's window in words.
func window(rep *audit.UsageReport) string {
	day := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	switch {
	case rep.Since.IsZero() && rep.Until.IsZero():
		return "all entries"
	case rep.Until.IsZero():
		return "from " + day(rep.Since) + " (UTC)"
	case rep.Since.IsZero():
		return "before " + day(rep.Until) + " (UTC)"
	}
	return fmt.Sprintf("from %s, before %s (UTC)", day(rep.Since), day(rep.Until))
}

// pairs renders a count map as "k=n<sep>k=n", by key.
func pairs(m map[string]int, keys []string, sep string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, sep)
}

func letterIDs(a *audit.ApplicantUsage) string {
	ids := make([]string, len(a.Letters))
	for i, l := range a.Letters {
		ids[i] = l.Letter
	}
	return strings.Join(ids, ";")
}

func leftText(a *audit.ApplicantUsage) string {
	if left, ok := a.Left(); ok {
		return left.String()
	}
	return ""
}

func writeUsageTable(w io.Writer, rep *audit.UsageReport) error {
	fmt.Fprintf(w, "usage statistics (Art. 26(4)) of ledger %s, %d entries", rep.Origin, rep.Entries)
	if len(rep.RootHash) > 0 {
		fmt.Fprintf(w, ", root %s", hex.EncodeToString(rep.RootHash))
	}
	fmt.Fprintf(w, "\nwindow: %s\n", window(rep))
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, d := range rep.Datasets {
		fmt.Fprintf(w, "\ndataset %s: holder %s, source %s\n", d.Dataset, d.Holder, d.Source)
		if len(d.Applicants) == 0 {
			fmt.Fprintln(w, "  no queries and no releases in the window")
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  APPLICANT\tSCENARIO\tLETTERS\tALLOWED\tDRY RUNS\tDENIED\tε SPENT\tε LEFT\tRELEASES\tHE\tRECIPIENTS\tDENIED BY")
		row := func(applicant, scenario, letters, left string, c *audit.UsageCounts) {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%s\t%s\n", applicant, dash(scenario), dash(letters),
				c.Allowed, c.DryRuns, c.Denied, c.Spent, dash(left), c.Releases, c.HEReleases,
				dash(pairs(c.Recipients, c.RecipientNames(), ", ")), dash(pairs(c.DeniedBy, c.DenialCodes(), ", ")))
		}
		for i := range d.Applicants {
			a := &d.Applicants[i]
			row(a.Applicant, a.Scenario, letterIDs(a), leftText(a), &a.UsageCounts)
		}
		row("total", "", "", "", &d.Total)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if rep.Unattributed > 0 {
		fmt.Fprintf(w, "\n%d decisions in the window read no dataset of the catalogue (their SQL did not compile)\n", rep.Unattributed)
	}
	return nil
}

// usageCSVHeader names the CSV columns.
var usageCSVHeader = []string{"dataset", "holder", "source", "applicant", "scenario", "letters",
	"allowed", "dry_runs", "denied", "denied_dry_runs", "denied_by_reason", "epsilon_spent", "epsilon_left",
	"releases", "he_releases", "result_rows", "recipients"}

func writeUsageCSV(w io.Writer, rep *audit.UsageReport) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(usageCSVHeader); err != nil {
		return err
	}
	itoa := strconv.Itoa
	for _, d := range rep.Datasets {
		for i := range d.Applicants {
			a := &d.Applicants[i]
			if err := cw.Write([]string{d.Dataset, d.Holder, d.Source, a.Applicant, a.Scenario, letterIDs(a),
				itoa(a.Allowed), itoa(a.DryRuns), itoa(a.Denied), itoa(a.DeniedDryRuns), pairs(a.DeniedBy, a.DenialCodes(), ";"),
				a.Spent.String(), leftText(a), itoa(a.Releases), itoa(a.HEReleases), strconv.FormatInt(a.ResultRows, 10),
				pairs(a.Recipients, a.RecipientNames(), ";")}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return errors.New("writing the CSV: " + err.Error())
	}
	return nil
}
