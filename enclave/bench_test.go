package enclave

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// splitmix64 is a deterministic generator for benchmark data (math/rand is
// banned in this package).
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *splitmix64) intn(n int) int { return int(s.next() % uint64(n)) }

func uscc(i int) string { return fmt.Sprintf("91650100MA%08d", i) }

var industries = []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T"}

// loansCSV returns a loans-like CSV of about size bytes.
func loansCSV(size int) []byte {
	var b bytes.Buffer
	b.WriteString("loan_id,uscc,amount,green,borrower_name\n")
	rng := splitmix64(1)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "LN%010d,%s,%d,%t,Enterprise %d Co. Ltd\n", i, uscc(rng.intn(200_000)), rng.intn(1_000_000_000), rng.intn(4) == 0, rng.intn(200_000))
	}
	return b.Bytes()
}

func BenchmarkIngest(b *testing.B) {
	s, c, _ := newStore(b)
	plain := loansCSV(20 << 20)
	ct := encrypt(b, c.Recipient(), plain)
	b.SetBytes(int64(len(plain)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("%032x", i)
		if _, err := s.Ingest(context.Background(), "loans", id, uploadSchema, "loans.csv", bytes.NewReader(ct)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Remove("loans", id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

var benchLoansSchema = &schema.Schema{Columns: []schema.Column{
	{Name: "uscc", Type: schema.String},
	{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1_000_000_000)},
	{Name: "industry", Type: schema.String},
}}

// benchLoans returns n loans of units enterprises (uscc drawn at random),
// each in one of 20 industries.
func benchLoans(n, units int) *Table {
	rng := splitmix64(2)
	codes := make([]string, units)
	for i := range codes {
		codes[i] = uscc(i)
	}
	bt := schema.NewBatch(benchLoansSchema, n)
	for i := 0; i < n; i++ {
		u := rng.intn(units)
		bt.Cols[0].Strs = append(bt.Cols[0].Strs, codes[u])
		bt.Cols[1].Ints = append(bt.Cols[1].Ints, int64(rng.intn(1_000_000_000)))
		bt.Cols[2].Strs = append(bt.Cols[2].Strs, industries[u%len(industries)])
	}
	bt.Len = n
	return &Table{Name: "loans", Schema: benchLoansSchema, Rows: bt, Unit: 0, MaxRowsPerUnit: 20}
}

var benchRegistrySchema = &schema.Schema{Columns: []schema.Column{
	{Name: "uscc", Type: schema.String},
	{Name: "industry", Type: schema.String},
	{Name: "capital", Type: schema.Int, Min: i64(0), Max: i64(10_000_000_000)},
}}

func benchRegistry(n int) *Table {
	rng := splitmix64(3)
	bt := schema.NewBatch(benchRegistrySchema, n)
	for i := 0; i < n; i++ {
		bt.Cols[0].Strs = append(bt.Cols[0].Strs, uscc(i))
		bt.Cols[1].Strs = append(bt.Cols[1].Strs, industries[rng.intn(len(industries))])
		bt.Cols[2].Ints = append(bt.Cols[2].Ints, int64(rng.intn(1_000_000_000)))
	}
	bt.Len = n
	return &Table{Name: "registry", Schema: benchRegistrySchema, Rows: bt, Unit: 0, MaxRowsPerUnit: 1}
}

// benchExecute runs p over tables as built by hand ("cold": every
// derivation per query) and as Store.Load returns them ("cached": codes and
// join indexes derived by an earlier query over the same rows).
func benchExecute(b *testing.B, p *query.Plan, tables map[string]*Table, rows int) {
	params := Params{Epsilon: 1, Delta: 1e-6, MinGroupSize: 10}
	cached := make(map[string]*Table, len(tables))
	for name, t := range tables {
		c := *t
		c.cache = newTableCache()
		cached[name] = &c
	}
	for _, bc := range []struct {
		name   string
		tables map[string]*Table
	}{{"cold", tables}, {"cached", cached}} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := Execute(context.Background(), p, bc.tables, params); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				res, err := Execute(context.Background(), p, bc.tables, params)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Rows) != len(industries) {
					b.Fatalf("%d groups released, want %d", len(res.Rows), len(industries))
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkExecuteGroupBy1M: SELECT industry, AVG(amount), COUNT(*) FROM
// loans GROUP BY industry over 1,000,000 loans of 200,000 enterprises, with
// the real Laplace noise.
func BenchmarkExecuteGroupBy1M(b *testing.B) {
	const n = 1_000_000
	tables := map[string]*Table{"loans": benchLoans(n, 200_000)}
	ind := qc("loans", "industry", schema.String)
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans"}},
		GroupBy: []query.Column{ind},
		Outputs: []query.Output{
			{Name: "industry", Column: ptr(ind)},
			{Name: "AVG(amount)", Func: query.Avg, Column: ptr(qc("loans", "amount", schema.Int))},
			{Name: "COUNT(*)", Func: query.Count},
		},
	}
	benchExecute(b, p, tables, n)
}

// BenchmarkExecuteJoin1M: SELECT r.industry, AVG(l.amount), COUNT(*) FROM
// loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry, with
// 1,000,000 loans and 1,000,000 enterprises, with the real Laplace noise.
func BenchmarkExecuteJoin1M(b *testing.B) {
	const n = 1_000_000
	tables := map[string]*Table{"loans": benchLoans(n, n), "registry": benchRegistry(n)}
	ind := qc("registry", "industry", schema.String)
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans"}, {Name: "registry"}},
		Joins:   []query.Join{{Left: qc("loans", "uscc", schema.String), Right: qc("registry", "uscc", schema.String)}},
		GroupBy: []query.Column{ind},
		Outputs: []query.Output{
			{Name: "industry", Column: ptr(ind)},
			{Name: "AVG(amount)", Func: query.Avg, Column: ptr(qc("loans", "amount", schema.Int))},
			{Name: "COUNT(*)", Func: query.Count},
		},
	}
	benchExecute(b, p, tables, 2*n)
}

var benchTaxSchema = &schema.Schema{Columns: []schema.Column{
	{Name: "uscc", Type: schema.String},
	{Name: "band", Type: schema.String},
	{Name: "paid", Type: schema.Int, Min: i64(0), Max: i64(100_000_000)},
}}

// benchTax returns one tax row per enterprise 0..n-1, each in one of 10
// bands.
func benchTax(n int) *Table {
	rng := splitmix64(4)
	bt := schema.NewBatch(benchTaxSchema, n)
	for i := 0; i < n; i++ {
		bt.Cols[0].Strs = append(bt.Cols[0].Strs, uscc(i))
		bt.Cols[1].Strs = append(bt.Cols[1].Strs, industries[rng.intn(10)])
		bt.Cols[2].Ints = append(bt.Cols[2].Ints, int64(rng.intn(100_000_000)))
	}
	bt.Len = n
	return &Table{Name: "tax", Schema: benchTaxSchema, Rows: bt, Unit: 0, MaxRowsPerUnit: 1}
}

// BenchmarkHEJoin3: SELECT t.band, SUM(l.amount), SUM(t.paid), COUNT(*)
// FROM loans l JOIN registry r ON l.uscc = r.uscc JOIN tax t ON r.uscc =
// t.uscc GROUP BY t.band, 1,000,000 rows per table, 10 groups, with the
// real Laplace noise: sealed (Execute) against HE preparation (PrepareHE,
// with l.amount and t.paid encrypted: weights over two tables; he-clear:
// nothing encrypted, every value computed in the clear), each over tables
// built by hand ("cold") and with derivation caches ("cached").
func BenchmarkHEJoin3(b *testing.B) {
	const n = 1_000_000
	tables := map[string]*Table{"loans": benchLoans(n, n), "registry": benchRegistry(n), "tax": benchTax(n)}
	band := qc("tax", "band", schema.String)
	p := &query.Plan{
		Tables: []query.Table{{Name: "loans"}, {Name: "registry"}, {Name: "tax"}},
		Joins: []query.Join{
			{Left: qc("loans", "uscc", schema.String), Right: qc("registry", "uscc", schema.String)},
			{Left: qc("registry", "uscc", schema.String), Right: qc("tax", "uscc", schema.String)},
		},
		GroupBy: []query.Column{band},
		Outputs: []query.Output{
			{Name: "band", Column: ptr(band)},
			{Name: "SUM(amount)", Func: query.Sum, Column: ptr(qc("loans", "amount", schema.Int))},
			{Name: "SUM(paid)", Func: query.Sum, Column: ptr(qc("tax", "paid", schema.Int))},
			{Name: "COUNT(*)", Func: query.Count},
		},
	}
	enc := map[string]map[string]bool{"loans": {"amount": true}, "tax": {"paid": true}}
	params := Params{Epsilon: 1, Delta: 1e-6, MinGroupSize: 10}
	cached := make(map[string]*Table, len(tables))
	for name, t := range tables {
		c := *t
		c.cache = newTableCache()
		cached[name] = &c
	}
	sealed := func(tabs map[string]*Table) (int, error) {
		res, err := Execute(context.Background(), p, tabs, params)
		if err != nil {
			return 0, err
		}
		return len(res.Rows), nil
	}
	prepare := func(enc map[string]map[string]bool) func(map[string]*Table) (int, error) {
		return func(tabs map[string]*Table) (int, error) {
			prep, err := PrepareHE(context.Background(), p, tabs, params, enc)
			if err != nil {
				return 0, err
			}
			return len(prep.Groups), nil
		}
	}
	he, heClear := prepare(enc), prepare(nil)
	for _, bc := range []struct {
		name   string
		tables map[string]*Table
		run    func(map[string]*Table) (int, error)
	}{
		{"sealed/cold", tables, sealed}, {"sealed/cached", cached, sealed},
		{"he/cold", tables, he}, {"he/cached", cached, he},
		{"he-clear/cached", cached, heClear},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, err := bc.run(bc.tables); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				groups, err := bc.run(bc.tables)
				if err != nil {
					b.Fatal(err)
				}
				if groups != 10 {
					b.Fatalf("%d groups released, want 10", groups)
				}
			}
			b.ReportMetric(float64(3*n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// cpuTime returns the CPU time the process has used (user and system, all
// threads): work done, whatever else the machine runs meanwhile.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
