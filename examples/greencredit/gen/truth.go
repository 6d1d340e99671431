package gen

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// RegionGreen is a group of the demo's second query.
type RegionGreen struct {
	Region string
	Green  bool
}

// Truth holds the exact, noise-free answers to the demo's two allowed
// queries (SCENARIO.md), and the counts that explain them. Groups with no
// joined rows are absent from the maps.
type Truth struct {
	// Q1: SELECT r.industry, AVG(l.amount) FROM loans l JOIN registry r
	// ON l.uscc = r.uscc GROUP BY r.industry.
	AvgLoanByIndustry map[string]float64
	// LoanSumByIndustry and LoansByIndustry are SUM(l.amount) and
	// COUNT(*) of Q1's groups; AvgLoanByIndustry is their quotient.
	LoanSumByIndustry map[string]int64
	LoansByIndustry   map[string]int64

	// Q2: SELECT r.region, l.green, SUM(e.kwh) FROM loans l JOIN registry
	// r ON l.uscc = r.uscc JOIN electricity e ON e.uscc = r.uscc WHERE
	// e.month = '<Year>-06' GROUP BY r.region, l.green. With SQL join
	// semantics an enterprise's June use is counted once per loan.
	KwhByRegionGreen map[RegionGreen]int64
	// RowsByRegionGreen is COUNT(*) of Q2's groups: the joined rows, one
	// per loan of an enterprise with (one) June row.
	RowsByRegionGreen map[RegionGreen]int64
	// EnterprisesByRegionGreen is COUNT(DISTINCT r.uscc) of Q2's groups.
	// An enterprise with green and other loans is in two groups.
	EnterprisesByRegionGreen map[RegionGreen]int64
}

// ComputeTruth reads the CSV files written by Write (or any files of the
// same columns) and computes the answers to the demo's queries exactly,
// with inner-join semantics: loans whose uscc is not in the registry drop
// out of both queries, and loans of enterprises without a June row drop
// out of Q2. A uscc that appears twice in the registry, or twice in June,
// joins twice, as in SQL. opts.Year selects June (Defaults to
// DefaultYear); the other fields of opts are not used.
//
// It uses only encoding/csv and strconv, nothing of the clean room's, so
// that it is an independent check of the clean room's answers. Memory
// grows with the number of enterprises, not of rows.
func ComputeTruth(files Files, opts Options) (*Truth, error) {
	if opts.Year == 0 {
		opts.Year = DefaultYear
	}
	if opts.Year < 1000 || opts.Year > 9999 {
		return nil, fmt.Errorf("gen: year %d, want a four-digit year", opts.Year)
	}
	june := fmt.Sprintf("%04d-06", opts.Year)

	// One entry per uscc of the registry: its rows (the first in the
	// entry, others chained through extra, as a join must see them all)
	// and its June use.
	type regRow struct{ industry, region string }
	type entry struct {
		row       regRow
		extra     []regRow
		kwh, rows int64 // June use and the number of June rows
		// groups has bit 0 set once the enterprise is counted in (region,
		// false) and bit 1 in (region, true), for an entry of one row.
		groups uint8
	}
	ents := make(map[string]*entry)
	intern := make(map[string]string)
	in := func(s string) string {
		if v, ok := intern[s]; ok {
			return v
		}
		s = strings.Clone(s)
		intern[s] = s
		return s
	}
	err := readCSV(files.Registry, []string{"uscc", "name", "industry", "region", "registered_capital", "founded"},
		func(rec []string) error {
			row := regRow{industry: in(rec[2]), region: in(rec[3])}
			if e, ok := ents[rec[0]]; ok {
				e.extra = append(e.extra, row)
			} else {
				ents[strings.Clone(rec[0])] = &entry{row: row}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}

	// June electricity use; several June rows add up, as a join would
	// count each. Rows of enterprises not in the registry join nothing.
	err = readCSV(files.Electricity, []string{"uscc", "month", "kwh"}, func(rec []string) error {
		kwh, err := strconv.ParseInt(rec[2], 10, 64)
		if err != nil {
			return fmt.Errorf("kwh %q is not an integer", rec[2])
		}
		if rec[1] == june {
			if e := ents[rec[0]]; e != nil {
				e.kwh += kwh
				e.rows++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	t := &Truth{
		AvgLoanByIndustry:        make(map[string]float64),
		LoanSumByIndustry:        make(map[string]int64),
		LoansByIndustry:          make(map[string]int64),
		KwhByRegionGreen:         make(map[RegionGreen]int64),
		RowsByRegionGreen:        make(map[RegionGreen]int64),
		EnterprisesByRegionGreen: make(map[RegionGreen]int64),
	}
	// seen counts distinct enterprises of several registry rows, whose
	// rows may share a region.
	type member struct {
		e *entry
		g RegionGreen
	}
	seen := make(map[member]bool)
	err = readCSV(files.Loans, []string{"loan_id", "uscc", "amount", "rate_bp", "green", "borrower_name"}, func(rec []string) error {
		amount, err := strconv.ParseInt(rec[2], 10, 64)
		if err != nil {
			return fmt.Errorf("amount %q is not an integer", rec[2])
		}
		var green bool
		switch rec[4] {
		case "true":
			green = true
		case "false":
		default:
			return fmt.Errorf("green %q is not true or false", rec[4])
		}
		e := ents[rec[1]]
		if e == nil {
			return nil
		}
		join := func(r regRow) {
			t.LoanSumByIndustry[r.industry] += amount
			t.LoansByIndustry[r.industry]++
			if e.rows == 0 {
				return
			}
			g := RegionGreen{Region: r.region, Green: green}
			t.KwhByRegionGreen[g] += e.kwh
			t.RowsByRegionGreen[g] += e.rows
			if len(e.extra) == 0 {
				bit := uint8(1)
				if green {
					bit = 2
				}
				if e.groups&bit == 0 {
					e.groups |= bit
					t.EnterprisesByRegionGreen[g]++
				}
			} else if m := (member{e, g}); !seen[m] {
				seen[m] = true
				t.EnterprisesByRegionGreen[g]++
			}
		}
		join(e.row)
		for _, r := range e.extra {
			join(r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for ind, n := range t.LoansByIndustry {
		t.AvgLoanByIndustry[ind] = float64(t.LoanSumByIndustry[ind]) / float64(n)
	}
	return t, nil
}

// readCSV reads the CSV file at path, checks that its header is want, and
// calls row with each record (reused between calls: clone what you keep).
func readCSV(path string, want []string, row func([]string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	r.FieldsPerRecord = len(want)
	hdr, err := r.Read()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("gen: %s: empty file, want a header %s", path, strings.Join(want, ","))
	}
	if err != nil {
		return fmt.Errorf("gen: %s: %w", path, err)
	}
	if !slices.Equal(hdr, want) {
		return fmt.Errorf("gen: %s: header %s, want %s", path, strings.Join(hdr, ","), strings.Join(want, ","))
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("gen: %s: %w", path, err)
		}
		if err := row(rec); err != nil {
			line, _ := r.FieldPos(0)
			return fmt.Errorf("gen: %s line %d: %w", path, line, err)
		}
	}
}
