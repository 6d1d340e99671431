package csv_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/schema"
)

// loansSchema is the bank's loan book of the demo scenario.
func loansSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "rate_bp", Type: schema.Int, Min: i64(0), Max: i64(2000)},
		{Name: "green", Type: schema.Bool},
		{Name: "borrower_name", Type: schema.String, MaxLen: 256},
	}}
}

// loansCSV returns at least size bytes of loan rows in loansSchema,
// deterministically: unified social credit codes, Chinese enterprise
// names, one in eight quoted because it holds a comma or a quote.
func loansCSV(size int) ([]byte, int) {
	const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	places := []string{"福建省", "厦门市", "深圳市", "上海", "北京", "浙江省杭州市", "四川省成都市"}
	words := []string{"绿色能源", "光伏", "风电", "储能", "新材料", "智能制造", "物流", "农业"}
	kinds := []string{"科技有限公司", "股份有限公司", "集团有限公司", "有限责任公司"}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := bytes.NewBufferString("loan_id,uscc,amount,rate_bp,green,borrower_name\n")
	rows := 0
	var uscc [18]byte
	for buf.Len() < size {
		rows++
		buf.WriteString("L")
		buf.WriteString(strconv.Itoa(10_000_000 + rows))
		buf.WriteByte(',')
		for i := range uscc {
			uscc[i] = usccChars[rng.IntN(len(usccChars))]
		}
		buf.Write(uscc[:])
		buf.WriteByte(',')
		buf.WriteString(strconv.Itoa(rng.IntN(1e9 + 1)))
		buf.WriteByte(',')
		buf.WriteString(strconv.Itoa(rng.IntN(2001)))
		buf.WriteByte(',')
		buf.WriteString(strconv.FormatBool(rng.IntN(4) == 0))
		buf.WriteByte(',')
		name := places[rng.IntN(len(places))] + words[rng.IntN(len(words))] + kinds[rng.IntN(len(kinds))]
		switch rng.IntN(16) {
		case 0:
			buf.WriteString(`"` + name + `,分公司"`)
		case 1:
			buf.WriteString(`"` + name + `（""绿色""）"`)
		default:
			buf.WriteString(name)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes(), rows
}

// BenchmarkReader measures upload throughput over about 10 MB of loan rows:
// parsing, checking and converting into batches of the default size.
func BenchmarkReader(b *testing.B) {
	data, rows := loansCSV(10 << 20)
	benchRead(b, data, rows, loansSchema(), "loans.csv")
}

// benchRead reads data, rows of s, whole, b.N times, and reports bytes,
// rows per read and rows per second.
func benchRead(b *testing.B, data []byte, rows int, s *schema.Schema, file string) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := csv.NewReader(bytes.NewReader(data), s, csv.Options{File: file})
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
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReaderGB18030 is BenchmarkReader over the same rows encoded in
// GB18030, as a Chinese public body exports them; bytes per second count
// the GB18030 input.
func BenchmarkReaderGB18030(b *testing.B) {
	text, rows := loansCSV(10 << 20)
	data, err := simplifiedchinese.GB18030.NewEncoder().Bytes(text)
	if err != nil {
		b.Fatal(err)
	}
	s := loansSchema()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := csv.NewReader(bytes.NewReader(data), s, csv.Options{File: "loans.csv", Encoding: csv.GB18030})
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

// electricitySchema is the grid company's monthly electricity use per
// enterprise in the demo scenario: short rows of two strings and an int.
func electricitySchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "month", Type: schema.String, MaxLen: 7},
		{Name: "kwh", Type: schema.Int, Min: i64(0), Max: i64(100_000_000)},
	}}
}

// electricityCSV returns at least size bytes of rows in electricitySchema,
// deterministically, about 34 bytes a row: a unified social credit code, a
// month such as 2025-03 and a monthly use in kWh.
func electricityCSV(size int) ([]byte, int) {
	const usccChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
	rng := rand.New(rand.NewPCG(3, 4))
	buf := bytes.NewBufferString("uscc,month,kwh\n")
	buf.Grow(size + 64)
	rows := 0
	var uscc [18]byte
	for buf.Len() < size {
		if rows%12 == 0 {
			for i := range uscc {
				uscc[i] = usccChars[rng.IntN(len(usccChars))]
			}
		}
		buf.Write(uscc[:])
		buf.WriteString(",2025-")
		m := rows%12 + 1
		buf.WriteByte(byte('0' + m/10))
		buf.WriteByte(byte('0' + m%10))
		buf.WriteByte(',')
		// Mostly five to seven digits, as monthly use of an enterprise.
		buf.WriteString(strconv.Itoa(int(rng.ExpFloat64()*200_000) % 100_000_001))
		buf.WriteByte('\n')
		rows++
	}
	return buf.Bytes(), rows
}

// BenchmarkReaderShortRows measures upload throughput over about 32 MB of
// short rows (electricitySchema), where the cost per row and per field
// counts more than the cost per byte.
func BenchmarkReaderShortRows(b *testing.B) {
	data, rows := electricityCSV(32 << 20)
	benchRead(b, data, rows, electricitySchema(), "electricity.csv")
}
