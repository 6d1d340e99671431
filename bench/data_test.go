package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/xjdata/cleanroom/examples/greencredit/gen"
)

// The workload, as issue 8 sets it: 10 million loans of 1 million
// enterprises by default. The environment changes the size and where the
// generated data are kept.
const (
	envLoans       = "CLEANROOM_BENCH_LOANS"       // number of loans, about; default 10,000,000
	envEnterprises = "CLEANROOM_BENCH_ENTERPRISES" // registry rows; default 1,000,000
	envData        = "CLEANROOM_BENCH_DATA"        // cache folder; default $TMPDIR/cleanroom-bench

	defaultLoans       = 10_000_000
	defaultEnterprises = 1_000_000
)

// The query of every engine, and its DP parameters: ε = 1 and δ = 1e-5
// for the whole query, one group per enterprise (an enterprise has one
// industry and one region), at most Data.MaxLoans loans of an enterprise,
// each amount within the schema's declared bounds.
const (
	sqlQuery = "SELECT r.industry, r.region, AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry, r.region"
	epsilon  = 1.0
	delta    = 1e-5
)

// amountMin and amountMax are the declared bounds of loans.amount.
var amountMin, amountMax = func() (int64, int64) {
	sc := gen.Schemas()["loans"]
	c, _ := sc.Column("amount")
	return *c.Min, *c.Max
}()

// Data is the generated workload, kept in a cache folder between runs.
type Data struct {
	Dir         string
	Files       gen.Files
	Enterprises int
	// MaxLoans is the most loans one enterprise has: the contribution
	// bound of the loans dataset per privacy unit (uscc).
	MaxLoans int
}

func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

var (
	dataOnce sync.Once
	data     *Data
	dataErr  error
)

// workload returns the generated data, generating them on first use into
// $CLEANROOM_BENCH_DATA/e<enterprises>-l<loans>/ unless they are there
// already. Generation writes to a temporary folder and renames it, so an
// interrupted run leaves no half-written data behind.
func workload(tb testing.TB) *Data {
	tb.Helper()
	enterprises := envInt(tb, envEnterprises, defaultEnterprises)
	loans := envInt(tb, envLoans, defaultLoans)
	dataOnce.Do(func() { data, dataErr = generate(enterprises, loans) })
	if dataErr != nil {
		tb.Fatal(dataErr)
	}
	return data
}

func generate(enterprises, loans int) (*Data, error) {
	base := os.Getenv(envData)
	if base == "" {
		base = filepath.Join(os.TempDir(), "cleanroom-bench")
	}
	opts := gen.Options{Enterprises: enterprises, Loans: float64(loans) / float64(enterprises)}
	dir := filepath.Join(base, fmt.Sprintf("e%d-l%d", enterprises, loans))
	d := &Data{
		Dir:         dir,
		Enterprises: enterprises,
		MaxLoans:    opts.MaxLoansPerEnterprise(),
		Files: gen.Files{
			Registry:    filepath.Join(dir, gen.RegistryFile),
			Electricity: filepath.Join(dir, gen.ElectricityFile),
			Loans:       filepath.Join(dir, gen.LoansFile),
		},
	}
	if _, err := os.Stat(dir); err == nil {
		return d, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(base, ".gen-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "bench: generating %d enterprises, %d loans into %s\n", enterprises, loans, dir)
	if _, err := gen.Write(tmp, opts); err != nil {
		return nil, err
	}
	// The benchmarks do not read electricity.csv (12 rows per enterprise).
	if err := os.Remove(filepath.Join(tmp, gen.ElectricityFile)); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return d, nil
}

// readColumns reads the named columns of a generated CSV file as strings,
// each value a string of its own. The generator quotes nothing, so a line
// splits on commas.
func readColumns(path string, names ...string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(bufio.NewReaderSize(f, 1<<20))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("%s: no header", path)
	}
	header := strings.Split(sc.Text(), ",")
	idx := make([]int, len(names))
	for i, n := range names {
		if idx[i] = slices.Index(header, n); idx[i] < 0 {
			return nil, fmt.Errorf("%s: no column %s", path, n)
		}
	}
	cols := make([][]string, len(names))
	var fields [][]byte
	for sc.Scan() {
		fields = bytes.Split(sc.Bytes(), []byte{','})
		if len(fields) != len(header) {
			return nil, fmt.Errorf("%s: a line of %d fields, want %d", path, len(fields), len(header))
		}
		for i, j := range idx {
			cols[i] = append(cols[i], string(fields[j]))
		}
	}
	return cols, sc.Err()
}

// group is one group of the query: an industry and a region.
type group struct{ industry, region string }

// answer is a result of the query: the (noisy or exact) average per group.
type answer map[group]float64

var (
	truthOnce sync.Once
	truth     answer
	truthN    map[group]int
)

// exact returns the exact answer and the loans per group, computed once
// with the hand loop.
func exact(tb testing.TB) (answer, map[group]int) {
	tb.Helper()
	truthOnce.Do(func() {
		h, err := loadHand(workload(tb))
		if err != nil {
			tb.Fatal(err)
		}
		truth, truthN = h.answer(h.run())
	})
	if truth == nil {
		tb.Fatal("no exact answer")
	}
	return truth, truthN
}

// check compares got with the exact answer. An exact engine must give
// every group and every average (to 1e-9, relative). A DP engine may
// withhold groups, and its averages must lie within 10 standard
// deviations of the truth, for the noise both DP engines add: ε/2 to the
// mean, of which half to its sum, whose sensitivity is MaxLoans times half
// the width of the amount bounds (the Google DP library's BoundedMean);
// the noise of the count is negligible beside it. A Laplace variable
// exceeds 10 standard deviations with probability exp(-10·√2), below 1e-6.
func check(tb testing.TB, engine string, got answer, dp bool) {
	tb.Helper()
	want, n := exact(tb)
	if !dp && len(got) != len(want) {
		tb.Fatalf("%s: %d groups, want %d", engine, len(got), len(want))
	}
	if len(got) == 0 {
		tb.Fatalf("%s: no group released", engine)
	}
	sumScale := float64(workload(tb).MaxLoans) * float64(amountMax-amountMin) / 2 / (epsilon / 4)
	for g, v := range got {
		w, ok := want[g]
		if !ok {
			tb.Fatalf("%s: group %v is not in the data", engine, g)
		}
		tol := 1e-9 * w
		if dp {
			tol = 10 * math.Sqrt2 * sumScale / float64(n[g])
		}
		if math.Abs(v-w) > tol {
			tb.Fatalf("%s: group %v: average %.2f, want %.2f ± %.2f (%d loans)", engine, g, v, w, tol, n[g])
		}
	}
}
