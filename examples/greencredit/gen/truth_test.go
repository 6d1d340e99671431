package gen

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes hand-made CSV files, given as lines, into a temporary
// directory.
func writeFiles(t *testing.T, registry, electricity, loans []string) Files {
	t.Helper()
	dir := t.TempDir()
	f := Files{
		Registry:    filepath.Join(dir, RegistryFile),
		Electricity: filepath.Join(dir, ElectricityFile),
		Loans:       filepath.Join(dir, LoansFile),
	}
	for p, lines := range map[string][]string{f.Registry: registry, f.Electricity: electricity, f.Loans: loans} {
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

const (
	registryHeader    = "uscc,name,industry,region,registered_capital,founded"
	electricityHeader = "uscc,month,kwh"
	loansHeader       = "loan_id,uscc,amount,rate_bp,green,borrower_name"
)

type rg = RegionGreen

func TestComputeTruthByHand(t *testing.T) {
	files := writeFiles(t,
		[]string{
			registryHeader,
			"U1,甲,A,乌鲁木齐,1000000,2001-01-01",
			"U2,乙,C,乌鲁木齐,1000000,2002-02-02",
			"U3,丙,C,喀什,1000000,2003-03-03",
			"U4,丁,F,喀什,1000000,2004-04-04",
			"U6,己,K,哈密,1000000,2006-06-06", // no loans
		},
		[]string{
			electricityHeader,
			"U1,2025-05,999", // not June
			"U1,2025-06,100",
			"U2,2025-06,20",
			"U3,2025-06,3",
			"U3,2024-06,5000", // June of another year
			"U5,2025-06,7000", // not in the registry
			"U4,2025-07,50",   // U4 has no June row
			"U6,2025-06,60000",
		},
		[]string{
			loansHeader,
			"L1,U1,1000,400,true,甲",
			"L2,U1,3000,400,false,甲",
			"L3,U1,2000,400,true,甲",
			"L4,U2,500,400,false,乙",
			"L5,U3,700,400,true,丙",
			"L6,U4,900,400,false,丁",
			"L7,U5,100000,400,true,戊", // not in the registry: dropped
		})
	got, err := ComputeTruth(files, Options{Year: 2025})
	if err != nil {
		t.Fatal(err)
	}
	want := &Truth{
		// A: L1 L2 L3 = 6000 / 3; C: L4 L5 = 1200 / 2; F: L6.
		AvgLoanByIndustry: map[string]float64{"A": 2000, "C": 600, "F": 900},
		LoanSumByIndustry: map[string]int64{"A": 6000, "C": 1200, "F": 900},
		LoansByIndustry:   map[string]int64{"A": 3, "C": 2, "F": 1},
		// 乌鲁木齐 green: L1, L3 of U1, its 100 kWh twice.
		// 乌鲁木齐 other: L2 of U1 (100) and L4 of U2 (20).
		// 喀什 green: L5 of U3 (3). 喀什 other: L6 of U4, no June row.
		KwhByRegionGreen:         map[rg]int64{{"乌鲁木齐", true}: 200, {"乌鲁木齐", false}: 120, {"喀什", true}: 3},
		RowsByRegionGreen:        map[rg]int64{{"乌鲁木齐", true}: 2, {"乌鲁木齐", false}: 2, {"喀什", true}: 1},
		EnterprisesByRegionGreen: map[rg]int64{{"乌鲁木齐", true}: 1, {"乌鲁木齐", false}: 2, {"喀什", true}: 1},
	}
	checkTruth(t, got, want)

	// Another year picks other June rows: only U3 has one.
	got, err = ComputeTruth(files, Options{Year: 2024})
	if err != nil {
		t.Fatal(err)
	}
	want.KwhByRegionGreen = map[rg]int64{{"喀什", true}: 5000}
	want.RowsByRegionGreen = map[rg]int64{{"喀什", true}: 1}
	want.EnterprisesByRegionGreen = map[rg]int64{{"喀什", true}: 1}
	checkTruth(t, got, want)
}

// TestComputeTruthDuplicates checks SQL join semantics when a key repeats:
// every matching pair of rows joins.
func TestComputeTruthDuplicates(t *testing.T) {
	files := writeFiles(t,
		[]string{
			registryHeader,
			"U1,甲,A,乌鲁木齐,1,2001-01-01",
			"U1,甲,B,哈密,1,2001-01-01",
		},
		[]string{
			electricityHeader,
			"U1,2025-06,100",
			"U1,2025-06,10",
		},
		[]string{
			loansHeader,
			"L1,U1,500,400,true,甲",
			"L2,U1,300,400,true,甲",
		})
	got, err := ComputeTruth(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkTruth(t, got, &Truth{
		AvgLoanByIndustry: map[string]float64{"A": 400, "B": 400},
		LoanSumByIndustry: map[string]int64{"A": 800, "B": 800},
		LoansByIndustry:   map[string]int64{"A": 2, "B": 2},
		// Each region: 2 loans × 2 June rows = 4 joined rows, 2·110 kWh.
		KwhByRegionGreen:         map[rg]int64{{"乌鲁木齐", true}: 220, {"哈密", true}: 220},
		RowsByRegionGreen:        map[rg]int64{{"乌鲁木齐", true}: 4, {"哈密", true}: 4},
		EnterprisesByRegionGreen: map[rg]int64{{"乌鲁木齐", true}: 1, {"哈密", true}: 1},
	})
}

func checkTruth(t *testing.T, got, want *Truth) {
	t.Helper()
	if !maps.Equal(got.AvgLoanByIndustry, want.AvgLoanByIndustry) {
		t.Errorf("AvgLoanByIndustry %v, want %v", got.AvgLoanByIndustry, want.AvgLoanByIndustry)
	}
	if !maps.Equal(got.LoanSumByIndustry, want.LoanSumByIndustry) {
		t.Errorf("LoanSumByIndustry %v, want %v", got.LoanSumByIndustry, want.LoanSumByIndustry)
	}
	if !maps.Equal(got.LoansByIndustry, want.LoansByIndustry) {
		t.Errorf("LoansByIndustry %v, want %v", got.LoansByIndustry, want.LoansByIndustry)
	}
	if !maps.Equal(got.KwhByRegionGreen, want.KwhByRegionGreen) {
		t.Errorf("KwhByRegionGreen %v, want %v", got.KwhByRegionGreen, want.KwhByRegionGreen)
	}
	if !maps.Equal(got.RowsByRegionGreen, want.RowsByRegionGreen) {
		t.Errorf("RowsByRegionGreen %v, want %v", got.RowsByRegionGreen, want.RowsByRegionGreen)
	}
	if !maps.Equal(got.EnterprisesByRegionGreen, want.EnterprisesByRegionGreen) {
		t.Errorf("EnterprisesByRegionGreen %v, want %v", got.EnterprisesByRegionGreen, want.EnterprisesByRegionGreen)
	}
}

// TestComputeTruthGenerated checks the truth of generated data against
// what the generator promises: every loan joins, every enterprise has one
// June row.
func TestComputeTruthGenerated(t *testing.T) {
	const n = 10_000
	opts := Options{Enterprises: n, Seed: 5}
	files := mustWrite(t, opts)
	truth, err := ComputeTruth(files, opts)
	if err != nil {
		t.Fatal(err)
	}
	loans := readAll(t, files.Loans, Schemas()["loans"])
	borrowers := map[string]bool{}
	var sum int64
	for _, rec := range loans {
		borrowers[rec[1]] = true
		v, _, _ := Schemas()["loans"].Columns[2].ParseValue(rec[2])
		sum += v
	}
	var nq1, sumq1, nq2, nent int64
	for ind, c := range truth.LoansByIndustry {
		nq1 += c
		sumq1 += truth.LoanSumByIndustry[ind]
		if avg := truth.AvgLoanByIndustry[ind]; avg != float64(truth.LoanSumByIndustry[ind])/float64(c) {
			t.Errorf("industry %s: average %v", ind, avg)
		}
	}
	for g, c := range truth.RowsByRegionGreen {
		nq2 += c
		nent += truth.EnterprisesByRegionGreen[g]
		if truth.KwhByRegionGreen[g] < 0 || truth.EnterprisesByRegionGreen[g] > c {
			t.Errorf("group %v: %d kWh, %d rows, %d enterprises", g, truth.KwhByRegionGreen[g], c, truth.EnterprisesByRegionGreen[g])
		}
	}
	if nq1 != int64(len(loans)) || nq2 != int64(len(loans)) || sumq1 != sum {
		t.Errorf("%d loans, Q1 counts %d (sum %d, want %d), Q2 counts %d", len(loans), nq1, sumq1, sum, nq2)
	}
	if nent < int64(len(borrowers)) || nent > 2*int64(len(borrowers)) {
		t.Errorf("%d borrowers, %d enterprise-groups", len(borrowers), nent)
	}
	if len(truth.KwhByRegionGreen) != 28 {
		t.Errorf("%d groups in Q2, want 14 regions × 2", len(truth.KwhByRegionGreen))
	}
}

func TestComputeTruthErrors(t *testing.T) {
	good := func() ([]string, []string, []string) {
		return []string{registryHeader, "U1,甲,A,乌鲁木齐,1,2001-01-01"},
			[]string{electricityHeader, "U1,2025-06,100"},
			[]string{loansHeader, "L1,U1,500,400,true,甲"}
	}
	for _, tc := range []struct {
		desc  string
		edit  func(r, e, l []string) ([]string, []string, []string)
		error string
	}{
		{"registry header", func(r, e, l []string) ([]string, []string, []string) {
			r[0] = "uscc,name,industry,region,capital,founded"
			return r, e, l
		}, "header"},
		{"empty electricity", func(r, e, l []string) ([]string, []string, []string) { return r, nil, l }, "empty file"},
		{"kwh not a number", func(r, e, l []string) ([]string, []string, []string) {
			e[1] = "U1,2025-06,many"
			return r, e, l
		}, "line 2: kwh"},
		{"amount not a number", func(r, e, l []string) ([]string, []string, []string) {
			l[1] = "L1,U1,5e2,400,true,甲"
			return r, e, l
		}, "amount"},
		{"green not a bool", func(r, e, l []string) ([]string, []string, []string) {
			l[1] = "L1,U1,500,400,yes,甲"
			return r, e, l
		}, "green"},
		{"missing field", func(r, e, l []string) ([]string, []string, []string) {
			l[1] = "L1,U1,500,400,true"
			return r, e, l
		}, "wrong number of fields"},
	} {
		r, e, l := tc.edit(good())
		files := writeFiles(t, r, e, l)
		if e == nil {
			os.WriteFile(files.Electricity, nil, 0o644)
		}
		_, err := ComputeTruth(files, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.error) {
			t.Errorf("%s: error %v, want one containing %q", tc.desc, err, tc.error)
		}
	}
	if _, err := ComputeTruth(Files{Registry: filepath.Join(t.TempDir(), "none.csv")}, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	r, e, l := good()
	files := writeFiles(t, r, e, l)
	if _, err := ComputeTruth(files, Options{Year: 99}); err == nil {
		t.Error("year 99 accepted")
	}
}
