package jsonl_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/xjdata/cleanroom/connectors/jsonl"
	"github.com/xjdata/cleanroom/schema"
)

// loansSchema is the bank's loan book of the demo scenario, plus the date
// the loan was opened.
func loansSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "rate_bp", Type: schema.Int, Min: i64(0), Max: i64(2000)},
		{Name: "green", Type: schema.Bool},
		{Name: "borrower_name", Type: schema.String, MaxLen: 256},
		{Name: "opened", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
	}}
}

// loansJSONL returns at least size bytes of loan rows in loansSchema,
// deterministically, as an exporter writes them: keys in one order,
// unified social credit codes, Chinese enterprise names, one in eight with
// an escaped quote or a comma.
func loansJSONL(size int) ([]byte, int) {
	const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	places := []string{"福建省", "厦门市", "深圳市", "上海", "北京", "浙江省杭州市", "四川省成都市"}
	words := []string{"绿色能源", "光伏", "风电", "储能", "新材料", "智能制造", "物流", "农业"}
	kinds := []string{"科技有限公司", "股份有限公司", "集团有限公司", "有限责任公司"}
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	rows := 0
	var uscc [18]byte
	for buf.Len() < size {
		rows++
		buf.WriteString(`{"loan_id":"L`)
		buf.WriteString(strconv.Itoa(10_000_000 + rows))
		buf.WriteString(`","uscc":"`)
		for i := range uscc {
			uscc[i] = usccChars[rng.IntN(len(usccChars))]
		}
		buf.Write(uscc[:])
		buf.WriteString(`","amount":`)
		buf.WriteString(strconv.Itoa(rng.IntN(1e9 + 1)))
		buf.WriteString(`,"rate_bp":`)
		buf.WriteString(strconv.Itoa(rng.IntN(2001)))
		buf.WriteString(`,"green":`)
		buf.WriteString(strconv.FormatBool(rng.IntN(4) == 0))
		buf.WriteString(`,"borrower_name":`)
		name := places[rng.IntN(len(places))] + words[rng.IntN(len(words))] + kinds[rng.IntN(len(kinds))]
		switch rng.IntN(16) {
		case 0:
			name += "，分公司"
		case 1:
			name += `（"绿色"）`
		}
		quoted, _ := json.Marshal(name)
		buf.Write(quoted)
		buf.WriteString(`,"opened":"`)
		buf.WriteString(schema.FormatDate(day("2000-01-01") + int64(rng.IntN(11000))))
		buf.WriteString("\"}\n")
	}
	return buf.Bytes(), rows
}

// BenchmarkReader measures upload throughput over about 10 MB of loan rows:
// parsing, checking and converting into batches of the default size.
func BenchmarkReader(b *testing.B) {
	data, rows := loansJSONL(10 << 20)
	s := loansSchema()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := jsonl.NewReader(bytes.NewReader(data), s, jsonl.Options{File: "loans.jsonl"})
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if r.Rows() != int64(rows) {
			b.Fatalf("read %d rows, want %d", r.Rows(), rows)
		}
	}
	b.ReportMetric(float64(rows), "rows/op")
}

// BenchmarkEncodingJSON is the yardstick: encoding/json decoding the same
// lines into structs, without the checks.
func BenchmarkEncodingJSON(b *testing.B) {
	data, rows := loansJSONL(10 << 20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d := json.NewDecoder(bytes.NewReader(data))
		n := 0
		for {
			var l loan
			if err := d.Decode(&l); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
}
