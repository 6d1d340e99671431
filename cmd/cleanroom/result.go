package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/xjdata/cleanroom/internal/api"
)

// The output formats of a query's answer.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatCSV   = "csv"
)

// printResult writes a query's answer to stdout in format: a table with
// each value's confidence interval and, after it, how each column was
// noised; CSV of the rows with their intervals (the decision goes to
// stderr); or the whole response as JSON.
func printResult(w io.Writer, res *api.QueryResponse, dry bool, format string) error {
	var charges []string
	for _, c := range res.Decision.Charges {
		charges = append(charges, fmt.Sprintf("%s ε=%s", c.Dataset, c.Epsilon))
	}
	if format == formatJSON {
		printJSONTo(w, res)
		return nil
	}
	head := w
	if format == formatCSV {
		head = os.Stderr
	}
	if dry {
		fmt.Fprintf(head, "dry run: allowed (ledger entry %d); it would spend %s\n", res.DecisionEntry, strings.Join(charges, ", "))
		return nil
	}
	fmt.Fprintf(head, "allowed (decision at ledger entry %d; spent %s)\n", res.DecisionEntry, strings.Join(charges, ", "))
	if format == formatCSV {
		if err := writeCSV(w, res.Result); err != nil {
			return err
		}
	} else {
		writeTable(w, res.Result)
	}
	if res.ReleaseEntry != nil {
		fmt.Fprintf(head, "released at ledger entry %d, result sha256 %s\n", *res.ReleaseEntry, res.ResultSHA256)
	}
	return nil
}

// withCI reports, per column, whether some value has an interval.
func withCI(r *api.Result) []bool {
	has := make([]bool, len(r.Columns))
	for _, row := range r.Intervals {
		for i, ci := range row {
			if ci != nil && i < len(has) {
				has[i] = true
			}
		}
	}
	return has
}

// levelText renders a confidence level, such as "95%".
func levelText(level float64) string {
	if level <= 0 {
		level = 0.95
	}
	return strconv.FormatFloat(level*100, 'f', -1, 64) + "%"
}

// writeTable writes the rows, each value followed by its interval, then a
// line per column on how it was noised.
func writeTable(w io.Writer, r *api.Result) {
	has := withCI(r)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	var head []string
	for i, c := range r.Columns {
		head = append(head, c)
		if has[i] {
			head = append(head, levelText(r.Level)+" CI")
		}
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for ri, row := range r.Rows {
		var cells []string
		for i, v := range row {
			cells = append(cells, v)
			if has[i] {
				ci := interval(r, ri, i)
				if ci == nil {
					cells = append(cells, "")
				} else {
					cells = append(cells, "["+ci.Lo+", "+ci.Hi+"]")
				}
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	for i, s := range r.Stats {
		if s == nil || i >= len(r.Columns) {
			continue
		}
		note := ""
		if !has[i] {
			note = "; no confidence interval (the DP library computes none for it)"
		}
		fmt.Fprintf(w, "  %s: %s, ε=%s, δ=%s, sensitivity L0=%d, L∞=%s%s\n", r.Columns[i], s.Mechanism, num(s.Epsilon), num(s.Delta), s.L0, num(s.LInf), note)
	}
	if s := r.Selection; s != nil {
		fmt.Fprintf(w, "  groups released by a noisy count of units: %s, ε=%s, δ=%s\n", s.Mechanism, num(s.Epsilon), num(s.Delta))
	}
}

// writeCSV writes the rows as CSV, each column with an interval followed
// by its lower and upper bounds.
func writeCSV(w io.Writer, r *api.Result) error {
	has := withCI(r)
	cw := csv.NewWriter(w)
	var head []string
	for i, c := range r.Columns {
		head = append(head, c)
		if has[i] {
			head = append(head, c+" ci_lo", c+" ci_hi")
		}
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for ri, row := range r.Rows {
		var cells []string
		for i, v := range row {
			cells = append(cells, v)
			if has[i] {
				if ci := interval(r, ri, i); ci != nil {
					cells = append(cells, ci.Lo, ci.Hi)
				} else {
					cells = append(cells, "", "")
				}
			}
		}
		if err := cw.Write(cells); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func interval(r *api.Result, row, col int) *api.Interval {
	if row < len(r.Intervals) && col < len(r.Intervals[row]) {
		return r.Intervals[row][col]
	}
	return nil
}

// num renders a parameter without trailing zeros.
func num(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
