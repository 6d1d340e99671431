package enclave

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

func i64(v int64) *int64 { return &v }

func day(s string) int64 {
	d, ok := schema.ParseDate(s)
	if !ok {
		panic(s)
	}
	return d
}

// mkTable builds a table from text rows, converting each value with the
// schema (as an upload would).
func mkTable(name string, s *schema.Schema, unit int, maxRows int64, rows ...string) *Table {
	b := schema.NewBatch(s, len(rows))
	for _, r := range rows {
		fields := strings.Split(r, ",")
		if len(fields) != len(s.Columns) {
			panic(r)
		}
		for i, f := range fields {
			v, str, err := s.Columns[i].ParseValue(f)
			if err != nil {
				panic(fmt.Sprintf("%s: %v", r, err))
			}
			if s.Columns[i].Type == schema.String {
				b.Cols[i].Strs = append(b.Cols[i].Strs, str)
			} else {
				b.Cols[i].Ints = append(b.Cols[i].Ints, v)
			}
		}
		b.Len++
	}
	return &Table{Name: name, Schema: s, Rows: b, Unit: unit, MaxRowsPerUnit: maxRows}
}

var (
	loansSchema = &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String},
		{Name: "uscc", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1000)},
		{Name: "green", Type: schema.Bool},
	}}
	registrySchema = &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String},
		{Name: "industry", Type: schema.String},
		{Name: "founded", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
		{Name: "capital", Type: schema.Int, Min: i64(0), Max: i64(10000)},
	}}
	electricitySchema = &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String},
		{Name: "month", Type: schema.String},
		{Name: "kwh", Type: schema.Int, Min: i64(0), Max: i64(1000)},
	}}
)

func testTables() map[string]*Table {
	loans := mkTable("loans", loansSchema, 1, 3,
		"L1,A,100,true",
		"L2,A,200,false",
		"L3,A,300,true",
		"L4,B,400,true",
		"L5,C,500,false",
		"L6,X,600,true", // no registry row
		"L7,B,50,false",
	)
	registry := mkTable("registry", registrySchema, 0, 1,
		"A,C,2010-01-01,1000",
		"B,C,2015-06-30,500",
		"C,F,2020-12-31,2000",
		"D,F,2001-01-01,100", // no loans
	)
	electricity := mkTable("electricity", electricitySchema, 0, 2,
		"A,2025-05,10",
		"A,2025-06,20",
		"B,2025-06,30",
		"C,2025-05,40",
		"C,2025-06,50",
		"B,2025-05,60",
	)
	return map[string]*Table{"loans": loans, "registry": registry, "electricity": electricity}
}

func qc(t, n string, typ schema.Type) query.Column {
	return query.Column{Table: t, Name: n, Type: typ}
}

func ptr(c query.Column) *query.Column { return &c }

var noNoise = Params{Epsilon: 1, Delta: 1e-5, Noise: dptest.InsecureNoNoise{}}

// run executes p over tables as given (no cache), over copies with a
// derivation cache, as Store.Load returns them (run twice, cold and
// warm), and over copies whose rows went through the stored columnar
// form (string columns dictionary-coded, as Store.Load loads them), with
// and without a cache, and checks that all results agree.
func run(t *testing.T, p *query.Plan, tables map[string]*Table, params Params) *Result {
	t.Helper()
	res, err := Execute(context.Background(), p, tables, params)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	cached := make(map[string]*Table, len(tables))
	coded := make(map[string]*Table, len(tables))
	codedCached := make(map[string]*Table, len(tables))
	for name, tab := range tables {
		c := *tab
		c.cache = newTableCache()
		cached[name] = &c
		coded[name] = storedCopy(t, tab)
		cc := *coded[name]
		cc.cache = newTableCache()
		codedCached[name] = &cc
	}
	for _, pass := range []struct {
		name   string
		tables map[string]*Table
	}{{"cached, cold", cached}, {"cached, warm", cached}, {"stored", coded}, {"stored and cached, cold", codedCached}, {"stored and cached, warm", codedCached}} {
		res2, err := Execute(context.Background(), p, pass.tables, params)
		if err != nil {
			t.Fatalf("Execute (%s): %v", pass.name, err)
		}
		if !reflect.DeepEqual(res, res2) {
			t.Fatalf("Execute (%s):\n got %+v\nwant %+v", pass.name, res2, res)
		}
	}
	return res
}

// storedCopy returns a copy of tab whose rows were written in the stored
// columnar form and read back: string columns dictionary-coded.
func storedCopy(t *testing.T, tab *Table) *Table {
	t.Helper()
	var buf bytes.Buffer
	w, err := newColWriter(&buf, tab.Schema)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.write(tab.Rows); err != nil {
		t.Fatal(err)
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	cb := newColBlocks(tab.Schema)
	if err := readCols(buf.Bytes(), tab.Schema, cb, 2); err != nil {
		t.Fatal(err)
	}
	c := *tab
	c.Rows = cb.columns().batch
	return &c
}

func checkRows(t *testing.T, res *Result, want [][]string) {
	t.Helper()
	if len(want) == 0 && len(res.Rows) == 0 {
		return
	}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("rows:\n got %v\nwant %v", res.Rows, want)
	}
}

var (
	lAmount   = qc("loans", "amount", schema.Int)
	lGreen    = qc("loans", "green", schema.Bool)
	lUscc     = qc("loans", "uscc", schema.String)
	rUscc     = qc("registry", "uscc", schema.String)
	rIndustry = qc("registry", "industry", schema.String)
)

func aggOutputs() []query.Output {
	return []query.Output{
		{Name: "COUNT(*)", Func: query.Count},
		{Name: "SUM(l.amount)", Func: query.Sum, Column: ptr(lAmount)},
		{Name: "AVG(l.amount)", Func: query.Avg, Column: ptr(lAmount)},
	}
}

func TestExecuteSingleTable(t *testing.T) {
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans"}},
		GroupBy: []query.Column{lGreen},
		Outputs: append([]query.Output{{Name: "green", Column: ptr(lGreen)}}, aggOutputs()...),
	}
	params := noNoise
	params.MaxGroupsPerUnit = 2 // A and B have loans in both groups
	res := run(t, p, testTables(), params)
	if want := []string{"green", "COUNT(*)", "SUM(l.amount)", "AVG(l.amount)"}; !reflect.DeepEqual(res.Columns, want) {
		t.Errorf("columns = %v, want %v", res.Columns, want)
	}
	checkRows(t, res, [][]string{
		{"false", "3", "750", "250.00"}, // A 200, C 500, B 50
		{"true", "4", "1400", "350.00"}, // A 100+300, B 400, X 600
	})
	if res.Suppressed != 0 {
		t.Errorf("Suppressed = %d", res.Suppressed)
	}
}

func TestExecuteJoin(t *testing.T) {
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans", Alias: "l"}, {Name: "registry", Alias: "r"}},
		Joins:   []query.Join{{Left: lUscc, Right: rUscc}},
		GroupBy: []query.Column{rIndustry},
		Outputs: append([]query.Output{{Name: "industry", Column: ptr(rIndustry)}}, aggOutputs()...),
	}
	res := run(t, p, testTables(), noNoise)
	// L6 (X) has no registry row; D has no loans. A has three loans.
	checkRows(t, res, [][]string{
		{"C", "5", "1050", "210.00"}, // A 100+200+300, B 400+50
		{"F", "1", "500", "500.00"},  // C
	})
}

// TestExecuteJoinThree joins three tables, with several matches per key in
// the last, and a filter on the joined table.
func TestExecuteJoinThree(t *testing.T) {
	eUscc := qc("electricity", "uscc", schema.String)
	eKwh := qc("electricity", "kwh", schema.Int)
	eMonth := qc("electricity", "month", schema.String)
	p := &query.Plan{
		Tables: []query.Table{{Name: "loans"}, {Name: "registry"}, {Name: "electricity"}},
		Joins: []query.Join{
			{Left: lUscc, Right: rUscc},
			{Left: rUscc, Right: eUscc},
		},
		GroupBy: []query.Column{rIndustry, lGreen},
		Outputs: []query.Output{
			{Name: "industry", Column: ptr(rIndustry)},
			{Name: "green", Column: ptr(lGreen)},
			{Name: "n", Func: query.Count, Column: ptr(eKwh)},
			{Name: "kwh", Func: query.Sum, Column: ptr(eKwh)},
		},
	}
	params := noNoise
	params.MaxGroupsPerUnit = 2
	res := run(t, p, testTables(), params)
	// Joined rows (loan, electricity): every loan of A, B, C meets both
	// months of its enterprise. L∞ = 3·1·2 = 6.
	// C/false: A's L2 × 2 months (10+20) and B's L7 × 2 (30+60): units A
	//          (2 rows, 30), B (2 rows, 90) → 4, 120.
	// C/true:  A's L1, L3 × 2 (4 rows, 60), B's L4 × 2 (2 rows, 90) → 6, 150.
	// F/false: C's L5 × 2 (40+50) → 2, 90.
	checkRows(t, res, [][]string{
		{"C", "false", "4", "120"},
		{"C", "true", "6", "150"},
		{"F", "false", "2", "90"},
	})

	// Filter the joined table: June only.
	p.Filters = []query.Filter{{Column: eMonth, Op: query.OpEQ, Value: query.Value{Str: "2025-06"}}}
	res = run(t, p, testTables(), params)
	checkRows(t, res, [][]string{
		{"C", "false", "2", "50"}, // A 20, B 30
		{"C", "true", "3", "70"},  // A 20 ×2 loans (40), B 30
		{"F", "false", "1", "50"},
	})
}

func TestExecuteFilters(t *testing.T) {
	tables := testTables()
	tables["registry"].Unit = -1
	tables["loans"].Unit = -1 // each row its own unit: counts are row counts
	type fcase struct {
		table string
		col   query.Column
		value query.Value
	}
	cases := []fcase{
		{"registry", rIndustry, query.Value{Str: "C"}},
		{"registry", rIndustry, query.Value{Str: "D"}},
		{"registry", qc("registry", "founded", schema.Date), query.Value{Int: day("2015-06-30")}},
		{"registry", qc("registry", "capital", schema.Int), query.Value{Int: 1000}},
		{"loans", lGreen, query.Value{Int: 1}},
		{"loans", lAmount, query.Value{Int: 300}},
		{"loans", lUscc, query.Value{Str: "B"}},
	}
	ops := []query.Op{query.OpEQ, query.OpNE, query.OpLT, query.OpLE, query.OpGT, query.OpGE}
	for _, tc := range cases {
		tab := tables[tc.table]
		ci := tab.Schema.Index(tc.col.Name)
		for _, op := range ops {
			want := 0
			for r := 0; r < tab.Rows.Len; r++ {
				var c int
				if tc.col.Type == schema.String {
					c = strings.Compare(tab.Rows.Cols[ci].Strs[r], tc.value.Str)
				} else {
					c = cmpInt(tab.Rows.Cols[ci].Ints[r], tc.value.Int)
				}
				if cmpOK(op, c) {
					want++
				}
			}
			p := &query.Plan{
				Tables:  []query.Table{{Name: tc.table}},
				Filters: []query.Filter{{Column: tc.col, Op: op, Value: tc.value}},
				Outputs: []query.Output{{Name: "n", Func: query.Count}},
			}
			res := run(t, p, tables, noNoise)
			name := fmt.Sprintf("%s %s %v", tc.col, op, tc.value)
			if want == 0 {
				// No unit: the global group is below MinGroupSize 1.
				if len(res.Rows) != 0 || res.Suppressed != 1 {
					t.Errorf("%s: rows %v, suppressed %d; want none, 1", name, res.Rows, res.Suppressed)
				}
				continue
			}
			checkRows(t, res, [][]string{{fmt.Sprint(want)}})
		}
	}

	// Filters are AND-ed, on either side of a join.
	tables = testTables()
	p := &query.Plan{
		Tables: []query.Table{{Name: "loans"}, {Name: "registry"}},
		Joins:  []query.Join{{Left: lUscc, Right: rUscc}},
		Filters: []query.Filter{
			{Column: lAmount, Op: query.OpGE, Value: query.Value{Int: 100}},
			{Column: lAmount, Op: query.OpLT, Value: query.Value{Int: 500}},
			{Column: qc("registry", "founded", schema.Date), Op: query.OpGT, Value: query.Value{Int: day("2012-01-01")}},
		},
		Outputs: []query.Output{{Name: "n", Func: query.Count}, {Name: "s", Func: query.Sum, Column: ptr(lAmount)}},
	}
	// Loans of 100..499 whose enterprise was founded after 2012: B's L4 (400).
	res := run(t, p, tables, noNoise)
	checkRows(t, res, [][]string{{"1", "400"}})
}

// TestExecuteConcurrentCached runs queries at once over the same cached
// tables, as the node does with tables from Store.Load: the race detector
// checks the shared derivations.
func TestExecuteConcurrentCached(t *testing.T) {
	tables := testTables()
	for _, tab := range tables {
		tab.cache = newTableCache()
	}
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans"}, {Name: "registry"}},
		Joins:   []query.Join{{Left: lUscc, Right: rUscc}},
		GroupBy: []query.Column{rIndustry},
		Outputs: append([]query.Output{{Name: "industry", Column: ptr(rIndustry)}}, aggOutputs()...),
	}
	want := [][]string{{"C", "5", "1050", "210.00"}, {"F", "1", "500", "500.00"}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := Execute(context.Background(), p, tables, noNoise)
			if err != nil {
				t.Error(err)
				return
			}
			if !reflect.DeepEqual(res.Rows, want) {
				t.Errorf("rows %v, want %v", res.Rows, want)
			}
		}()
	}
	wg.Wait()
}

// TestExecuteStoredBlocks: over rows that span several blocks of the
// stored form (each block's dictionary repeats the values of the others,
// so coding merges equal entries), a join, a string filter and a GROUP BY
// give what they give over plain rows (run compares the forms).
func TestExecuteStoredBlocks(t *testing.T) {
	const n, units = 3*colBlockRows + 17, 1000
	loans := schema.NewBatch(loansSchema, n)
	for r := range n {
		u := (r * 7) % units
		loans.Cols[0].Strs = append(loans.Cols[0].Strs, fmt.Sprintf("L%d", r))
		loans.Cols[1].Strs = append(loans.Cols[1].Strs, fmt.Sprintf("U%04d", u))
		loans.Cols[2].Ints = append(loans.Cols[2].Ints, int64(r%1001))
		loans.Cols[3].Ints = append(loans.Cols[3].Ints, int64(r%3&1))
	}
	loans.Len = n
	registry := schema.NewBatch(registrySchema, units)
	for u := range units {
		registry.Cols[0].Strs = append(registry.Cols[0].Strs, fmt.Sprintf("U%04d", units-1-u))
		registry.Cols[1].Strs = append(registry.Cols[1].Strs, string(rune('A'+u%5)))
		registry.Cols[2].Ints = append(registry.Cols[2].Ints, day("2000-01-01")+int64(u))
		registry.Cols[3].Ints = append(registry.Cols[3].Ints, int64(u))
	}
	registry.Len = units
	tables := map[string]*Table{
		"loans":    {Name: "loans", Schema: loansSchema, Rows: loans, Unit: 1, MaxRowsPerUnit: 1000},
		"registry": {Name: "registry", Schema: registrySchema, Rows: registry, Unit: -1, MaxRowsPerUnit: 1},
	}
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans", Alias: "l"}, {Name: "registry", Alias: "r"}},
		Joins:   []query.Join{{Left: lUscc, Right: rUscc}},
		Filters: []query.Filter{{Column: rIndustry, Op: query.OpNE, Value: query.Value{Str: "C"}}},
		GroupBy: []query.Column{rIndustry},
		Outputs: append([]query.Output{{Name: "industry", Column: ptr(rIndustry)}}, aggOutputs()...),
	}
	res := run(t, p, tables, noNoise)
	if len(res.Rows) != 4 {
		t.Fatalf("rows %v", res.Rows)
	}
	stored := storedCopy(t, tables["loans"])
	// Each full block holds every value once; the last, 17 rows, 17.
	if d := stored.Rows.Cols[1].Dict.Len(); d != 3*units+17 {
		t.Errorf("the stored uscc column has %d dictionary entries, want %d (one per value and block)", d, 3*units+17)
	}
}

// TestExecuteBadDictionary: a dictionary-coded column with a code past its
// dictionary, or offsets out of its bytes, is refused with an error, with
// or without a cache, never a panic.
func TestExecuteBadDictionary(t *testing.T) {
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans", Alias: "l"}},
		GroupBy: []query.Column{lUscc},
		Outputs: []query.Output{{Name: "uscc", Column: ptr(lUscc)}, {Name: "COUNT(*)", Func: query.Count}},
	}
	// withOffs gives a column of one width its offsets.
	withOffs := func(v *schema.Vector) *schema.Dict {
		d := v.Dict
		d.Offs = make([]int64, d.Len()+1)
		for i := range d.Offs {
			d.Offs[i] = int64(i * d.Width)
		}
		d.Width = 0
		return d
	}
	for _, tc := range []struct {
		desc  string
		spoil func(cols []schema.Vector)
		want  string
	}{
		{"code past the dictionary", func(c []schema.Vector) { c[1].Codes[2] = int32(c[1].Dict.Len()) }, "row 2 has code"},
		{"negative code", func(c []schema.Vector) { c[1].Codes[0] = -1 }, "row 0 has code -1"},
		{"offsets past the bytes", func(c []schema.Vector) { withOffs(&c[1]).Offs[1] = int64(len(c[1].Dict.Bytes) + 1) }, "dictionary entry 0 spans"},
		{"offsets not from 0", func(c []schema.Vector) { withOffs(&c[1]).Offs[0] = 1 }, "must start at 0"},
		{"a width that does not divide the bytes", func(c []schema.Vector) { c[1].Dict.Width = 3 }, "needs a width above 0 that divides its 4 bytes, not 3"},
		{"fewer entries than rows, without codes", func(c []schema.Vector) { c[0].Dict.Bytes = c[0].Dict.Bytes[:12] }, "column loan_id does not match its schema (6 values"},
	} {
		for _, cache := range []bool{false, true} {
			tab := storedCopy(t, testTables()["loans"])
			if v := &tab.Rows.Cols; (*v)[1].Dict.Width != 1 || (*v)[0].Codes != nil {
				t.Fatalf("uscc's dictionary has width %d; loan_id has codes %v", (*v)[1].Dict.Width, (*v)[0].Codes)
			}
			tc.spoil(tab.Rows.Cols)
			if cache {
				tab.cache = newTableCache()
			}
			_, err := Execute(context.Background(), p, map[string]*Table{"loans": tab}, noNoise)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s (cache %t): got %v, want an error containing %q", tc.desc, cache, err, tc.want)
			}
		}
	}
}
