package enclave_test

import (
	"context"
	"fmt"

	"github.com/xjdata/cleanroom/enclave"
	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// ExampleExecute counts loans and averages their amounts per green flag,
// with each enterprise (uscc) a privacy unit. The noise is switched off
// for the example: a real release uses Params.Noise nil (Laplace).
func ExampleExecute() {
	lo, hi := int64(0), int64(1000)
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String},
		{Name: "amount", Type: schema.Int, Min: &lo, Max: &hi},
		{Name: "green", Type: schema.Bool},
	}}
	rows := schema.NewBatch(s, 4)
	rows.Cols[0].Strs = []string{"A", "A", "B", "C"}
	rows.Cols[1].Ints = []int64{100, 300, 200, 900}
	rows.Cols[2].Ints = []int64{1, 1, 0, 1}
	rows.Len = 4
	loans := &enclave.Table{Name: "loans", Schema: s, Rows: rows, Unit: 0, MaxRowsPerUnit: 2}

	green := query.Column{Table: "loans", Name: "green", Type: schema.Bool}
	amount := query.Column{Table: "loans", Name: "amount", Type: schema.Int}
	plan := &query.Plan{
		SQL:     "SELECT green, COUNT(*), AVG(amount) FROM loans GROUP BY green",
		Tables:  []query.Table{{Name: "loans"}},
		GroupBy: []query.Column{green},
		Outputs: []query.Output{
			{Name: "green", Column: &green},
			{Name: "COUNT(*)", Func: query.Count},
			{Name: "AVG(amount)", Func: query.Avg, Column: &amount},
		},
	}
	res, err := enclave.Execute(context.Background(), plan, map[string]*enclave.Table{"loans": loans}, enclave.Params{
		Epsilon: 1,
		Delta:   1e-6,
		Noise:   dptest.InsecureNoNoise{}, // tests only
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Columns)
	for _, r := range res.Rows {
		fmt.Println(r)
	}
	// Output:
	// [green COUNT(*) AVG(amount)]
	// [false 1 200.00]
	// [true 3 433.33]
}
