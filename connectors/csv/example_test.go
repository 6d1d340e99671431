package csv_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/schema"
)

func ExampleReadAll() {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "green", Type: schema.Bool},
	}}
	in := "green,uscc,amount\r\n" +
		"true,91350100M000100Y42,1500000\r\n" +
		"false,91110000600037341L,250000\r\n"
	b, err := csv.ReadAll(strings.NewReader(in), s, csv.Options{File: "loans.csv"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range b.Len {
		fmt.Println(b.Cols[0].Strs[i], b.Cols[1].Ints[i], b.Cols[2].Ints[i])
	}

	in += "true,9144030071526726XG,12x\r\n"
	_, err = csv.ReadAll(strings.NewReader(in), s, csv.Options{File: "loans.csv"})
	var e *csv.Error
	if errors.As(err, &e) {
		fmt.Println("rejected:", err)
		fmt.Println("line", e.Line, "field", e.Column, "column", e.Field)
	}
	// Output:
	// 91350100M000100Y42 1500000 1
	// 91110000600037341L 250000 0
	// rejected: loans.csv:4:3: column amount: "12x" is not an integer
	// line 4 field 3 column amount
}
