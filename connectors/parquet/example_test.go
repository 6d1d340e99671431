package parquet_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

func ExampleReadAll() {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "green", Type: schema.Bool},
	}}
	// A file as a provider exports it; here written by Write, in row
	// groups of two rows.
	rows := schema.NewBatch(s, 3)
	rows.Cols[0].Strs = []string{"91350100M000100Y42", "91110000600037341L", "9144030071526726XG"}
	rows.Cols[1].Ints = []int64{1500000, 250000, 12000000000}
	rows.Cols[2].Ints = []int64{1, 0, 1}
	rows.Len = 3
	var file bytes.Buffer
	if err := parquet.Write(&file, s, func(yield func(*schema.Batch) bool) { yield(rows) }, parquet.WriteOptions{RowGroupRows: 2}); err != nil {
		fmt.Println(err)
		return
	}

	data := file.Bytes()
	_, err := parquet.ReadAll(bytes.NewReader(data), int64(len(data)), s, parquet.Options{File: "loans.parquet"})
	var e *parquet.Error
	if errors.As(err, &e) {
		fmt.Println("rejected:", err)
		fmt.Println("row group", e.RowGroup, "row", e.Row, "file row", e.Ordinal, "column", e.Field)
	}

	// With the 12 billion loan at the limit, the file is read.
	s.Columns[1].Max = i64(12e9)
	b, err := parquet.ReadAll(bytes.NewReader(data), int64(len(data)), s, parquet.Options{File: "loans.parquet"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range b.Len {
		fmt.Println(b.Cols[0].Strs[i], b.Cols[1].Ints[i], b.Cols[2].Ints[i])
	}
	// Output:
	// rejected: loans.parquet: row group 2, row 1 (row 3 of the file): column amount: 12000000000 is outside the declared bounds [0, 1000000000]
	// row group 2 row 1 file row 3 column amount
	// 91350100M000100Y42 1500000 1
	// 91110000600037341L 250000 0
	// 9144030071526726XG 12000000000 1
}

func ExampleDiscover() {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "opened", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
	}}
	b := schema.NewBatch(s, 2)
	b.Cols[0].Strs = []string{"91350100M000100Y42", "91110000600037341L"}
	b.Cols[1].Ints = []int64{day("2021-03-01"), day("2024-06-30")}
	b.Len = 2
	var file bytes.Buffer
	if err := parquet.Write(&file, s, func(yield func(*schema.Batch) bool) { yield(b) }, parquet.WriteOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	got, err := parquet.Discover(bytes.NewReader(file.Bytes()), int64(file.Len()), "loans.parquet")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range got.Columns {
		switch c.Type {
		case schema.String:
			fmt.Println(c.Name, c.Type, "max_len", c.MaxLen)
		case schema.Date:
			fmt.Println(c.Name, c.Type, schema.FormatDate(*c.Min), schema.FormatDate(*c.Max))
		}
	}
	// Output:
	// uscc string max_len 32
	// opened date 2021-03-01 2024-06-30
}
