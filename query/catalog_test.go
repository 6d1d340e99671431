package query

import (
	"github.com/xjdata/cleanroom/schema"
)

func bounds(min, max int64) (*int64, *int64) { return &min, &max }

func intCol(name string, min, max int64) schema.Column {
	lo, hi := bounds(min, max)
	return schema.Column{Name: name, Type: schema.Int, Min: lo, Max: hi}
}

func dateCol(name, min, max string) schema.Column {
	lo, _ := schema.ParseDate(min)
	hi, _ := schema.ParseDate(max)
	return schema.Column{Name: name, Type: schema.Date, Min: &lo, Max: &hi}
}

// scenario holds the schemas of the green-credit scenario (SCENARIO.md).
var scenario = map[string]*schema.Schema{
	"registry": {Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "name", Type: schema.String},
		{Name: "industry", Type: schema.String, MaxLen: 1},
		{Name: "region", Type: schema.String},
		intCol("registered_capital", 0, 10_000_000_000),
		dateCol("founded", "1949-10-01", "2030-12-31"),
	}},
	"electricity": {Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "month", Type: schema.String, MaxLen: 7},
		intCol("kwh", 0, 100_000_000),
	}},
	"loans": {Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		intCol("amount", 0, 1_000_000_000),
		intCol("rate_bp", 0, 2_000),
		{Name: "green", Type: schema.Bool},
		{Name: "borrower_name", Type: schema.String},
	}},
}

// testCatalog serves the scenario's schemas.
var testCatalog = CatalogFunc(func(name string) (*schema.Schema, bool) {
	s, ok := scenario[name]
	return s, ok
})
