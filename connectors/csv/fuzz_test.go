package csv_test

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/schema"
)

func fuzzSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "name", Type: schema.String, MaxLen: 40},
		{Name: "n", Type: schema.Int, Min: i64(-1000), Max: i64(1000)},
		{Name: "ok", Type: schema.Bool},
		{Name: "d", Type: schema.Date, Min: i64(day("1970-01-01")), Max: i64(day("2100-12-31"))},
	}}
}

// FuzzReader checks that the reader never crashes; that reading whole, or
// one byte at a time in batches of any size, gives the same rows or the
// same *Error, with a short message; and that a batch it returns, written
// back as CSV (columns reversed, every string quoted), reads back to the
// same batch. The seed corpus is in testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Add([]byte("name,n,ok,d\nx,1,true,2020-01-01\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		s := fuzzSchema()
		opts := csv.Options{File: "fuzz.csv", BatchSize: int(size%8) + 1}
		b, err := csv.ReadAll(bytes.NewReader(data), s, opts)
		b2, err2 := readBatches(t, iotest.OneByteReader(bytes.NewReader(data)), s, opts)
		if err != nil {
			require.Nil(t, b)
			require.Error(t, err2)
			require.Equal(t, err.Error(), err2.Error())
			var e *csv.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "fuzz.csv", e.File)
			require.Positive(t, e.Line)
			require.LessOrEqual(t, len(err.Error()), 512, "message too long: %s", err)
			return
		}
		require.NoError(t, err2)
		require.Equal(t, b, b2)

		again, err := csv.ReadAll(bytes.NewReader(reencode(b)), s, opts)
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}

// reencode writes b as CSV, its columns in reverse order and every string
// quoted.
func reencode(b *schema.Batch) []byte {
	var buf bytes.Buffer
	cols := b.Schema.Columns
	for i := len(cols) - 1; i >= 0; i-- {
		buf.WriteString(cols[i].Name)
		if i > 0 {
			buf.WriteByte(',')
		}
	}
	buf.WriteString("\r\n")
	for row := range b.Len {
		for i := len(cols) - 1; i >= 0; i-- {
			if cols[i].Type == schema.String {
				buf.WriteByte('"')
				buf.WriteString(strings.ReplaceAll(b.Cols[i].Strs[row], `"`, `""`))
				buf.WriteByte('"')
			} else {
				buf.WriteString(schema.FormatValue(cols[i].Type, b.Cols[i].Ints[row]))
			}
			if i > 0 {
				buf.WriteByte(',')
			}
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// FuzzGB18030 checks GB18030 input: the reader never crashes; reading
// whole, or one byte at a time in batches of any size, gives the same rows
// or the same *Error; and the rows it accepts are those of the same input
// decoded by golang.org/x/text and read as UTF-8.
func FuzzGB18030(f *testing.F) {
	enc := simplifiedchinese.GB18030.NewEncoder()
	for _, s := range []string{
		"name,n,ok,d\n福建,1,true,2020-01-01\n\"厦门,\"\"光伏\"\"\",-1000,false,1970-01-01\n",
		"\ufeffd,ok,n,name\r\n2100-12-31,true,1000,𠮷野家\r\n",
		"name,n,ok,d\n福\"建,1,true,2020-01-01\n",
		"name,n,ok,d\n\"福建\n",
		"name,n,ok,d\n€\ufffd,1,true,2020-01-01",
	} {
		gb, err := enc.String(s)
		require.NoError(f, err)
		f.Add([]byte(gb), uint8(1))
	}
	f.Add([]byte("name,n,ok,d\n\x81,1,true,2020-01-01\n"), uint8(2))
	f.Add([]byte("name,n,ok,d\n\xaa\xa1,1,true,2020-01-01\n"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		s := fuzzSchema()
		opts := csv.Options{File: "fuzz.csv", BatchSize: int(size%8) + 1, Encoding: csv.GB18030}
		b, err := csv.ReadAll(bytes.NewReader(data), s, opts)
		b2, err2 := readBatches(t, iotest.OneByteReader(bytes.NewReader(data)), s, opts)
		if err != nil {
			require.Nil(t, b)
			require.Error(t, err2)
			require.Equal(t, err.Error(), err2.Error())
			var e *csv.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "fuzz.csv", e.File)
			require.Positive(t, e.Line)
			require.LessOrEqual(t, len(err.Error()), 512, "message too long: %s", err)
			return
		}
		require.NoError(t, err2)
		require.Equal(t, b, b2)

		text, _ := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		b3, err := csv.ReadAll(bytes.NewReader(text), s, csv.Options{File: "fuzz.csv", BatchSize: opts.BatchSize})
		require.NoError(t, err)
		require.Equal(t, b, b3)
	})
}

// FuzzFastPath checks that the fast path reads every input exactly as
// encoding/csv alone does: the same rows, or the same error.
func FuzzFastPath(f *testing.F) {
	for _, seed := range []string{
		"name,n,ok,d\nx,1,true,2020-01-01\n",
		"name,n,ok,d\r\n\"a,\"\"b\"\"\nc\",2,false,2021-02-03\r\n\r\ny,3,true,2022-03-04",
		"name,n,ok,d\nx\"y,1,true,2020-01-01\n",
		"name,n,ok,d\n\"x\ny,1,true,2020-01-01\n",
		"name,n,ok,d\nx,1,true\n",
		"name,n,ok,d\n\"x\"y,1,true,2020-01-01\n",
		"d,ok,n,name\n2020-01-01,true,1,\" \"\r",
	} {
		f.Add([]byte(seed), uint8(3))
	}
	f.Add([]byte("name;n;ok;d\n\"x;\"\"y\";1;true;2020-01-01\n"), uint8(8+3))
	f.Add([]byte("name\tn\tok\td\nx,y\t1\ttrue\t2020-01-01\n"), uint8(16+3))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		s := fuzzSchema()
		// The high bits choose the delimiter.
		comma := []byte{',', ';', '\t', '|'}[size>>3&3]
		opts := csv.Options{File: "fuzz.csv", BatchSize: int(size%8) + 1, Comma: comma}
		fast, err := csv.ReadAll(bytes.NewReader(data), s, opts)
		slow, err2 := csv.ReadAllSlow(bytes.NewReader(data), s, opts)
		if err2 != nil {
			require.Error(t, err, "the fast path accepts what encoding/csv refuses: %v", err2)
			require.Equal(t, err2.Error(), err.Error())
			return
		}
		require.NoError(t, err)
		require.Equal(t, slow, fast)
	})
}
