package jsonl_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xjdata/cleanroom/connectors/jsonl"
	"github.com/xjdata/cleanroom/schema"
)

func ExampleReadAll() {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "green", Type: schema.Bool},
	}}
	in := `{"green":true,"uscc":"91350100M000100Y42","amount":1500000}` + "\r\n" +
		`{"uscc":"91110000600037341L","amount":250000,"green":false}` + "\r\n"
	b, err := jsonl.ReadAll(strings.NewReader(in), s, jsonl.Options{File: "loans.jsonl"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range b.Len {
		fmt.Println(b.Cols[0].Strs[i], b.Cols[1].Ints[i], b.Cols[2].Ints[i])
	}

	in += `{"uscc":"9144030071526726XG","amount":"12","green":true}` + "\r\n"
	_, err = jsonl.ReadAll(strings.NewReader(in), s, jsonl.Options{File: "loans.jsonl"})
	var e *jsonl.Error
	if errors.As(err, &e) {
		fmt.Println("rejected:", err)
		fmt.Println("line", e.Line, "byte", e.Column, "column", e.Field)
	}
	// Output:
	// 91350100M000100Y42 1500000 1
	// 91110000600037341L 250000 0
	// rejected: loans.jsonl:3:39: column amount: want an integer (a JSON number), got string "12"
	// line 3 byte 39 column amount
}
