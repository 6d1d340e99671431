package csv_test

import (
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/schema"
)

// gb18030 returns s encoded in GB18030.
func gb18030(t *testing.T, s string) string {
	t.Helper()
	out, err := simplifiedchinese.GB18030.NewEncoder().String(s)
	require.NoError(t, err)
	return out
}

// chineseLoans are loans to Chinese borrowers, some of whose names need
// GB18030's four-byte form (䶮 is in CJK Extension A, 𠮷 beyond the BMP).
var chineseLoans = append([]loan{
	{"L0101", "91350200MA2XN5K93U", 8_800_000, 420, true, "厦门市光伏科技有限公司", "2022-07-01"},
	{"L0102", "91440300MA5FXT1Q2R", 120_000, 600, false, "深圳市前海\"储能\"有限公司，分公司", "2023-01-31"},
	{"L0103", "91510100MA6CKA1X4Y", 3_000_000, 510, true, "刘䶮个体工商户", "2020-05-20"},
	{"L0104", "91310000MA1FL7W91H", 50_000, 380, false, "𠮷野家（上海）餐饮有限公司", "2019-09-09"},
	{"L0105", "91110108MA01ABCD1E", 1, 0, true, "欧元结算 € 与替换符 \ufffd", "2024-12-31"},
	{"L0106", "91330100MA27XYZ12K", 77, 77, false, "浙江省杭州市\n多行名称,有逗号", "2018-03-08"},
}, loans...)

func TestGB18030(t *testing.T) {
	s := testSchema()
	inOrder := []string{"loan_id", "uscc", "amount", "rate_bp", "green", "borrower_name", "opened"}
	shuffled := []string{"opened", "borrower_name", "amount", "loan_id", "green", "uscc", "rate_bp"}
	for _, tc := range []struct {
		desc     string
		encoding string
		names    []string
		crlf     bool
		bom      bool
	}{
		{desc: "gb18030", encoding: "gb18030", names: inOrder},
		{desc: "upper case name, shuffled header", encoding: "GB18030", names: shuffled},
		{desc: "CR LF", encoding: csv.GB18030, names: inOrder, crlf: true},
		{desc: "GB18030 byte order mark", encoding: csv.GB18030, names: shuffled, crlf: true, bom: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			text := encode(t, chineseLoans, tc.names, tc.crlf)
			if tc.bom {
				text = "\ufeff" + text
			}
			in := gb18030(t, text)
			require.NotEqual(t, text, in)
			require.False(t, utf8.ValidString(in), "the fixture must not be UTF-8 by chance")

			b, err := csv.ReadAll(strings.NewReader(in), s, csv.Options{Encoding: tc.encoding})
			require.NoError(t, err)
			require.Equal(t, want(s, chineseLoans), b)

			for _, size := range []int{1, 2, 5, len(chineseLoans)} {
				b, err = readBatches(t, iotest.OneByteReader(strings.NewReader(in)), s, csv.Options{BatchSize: size, Encoding: tc.encoding})
				require.NoError(t, err)
				require.Equal(t, want(s, chineseLoans), b)
			}
		})
	}
}

func TestGBK(t *testing.T) {
	s := testSchema()
	var rows []loan
	enc := simplifiedchinese.GBK.NewEncoder()
	for _, l := range chineseLoans {
		if _, err := enc.String(l.name + l.uscc); err == nil {
			rows = append(rows, l)
		}
	}
	require.Greater(t, len(rows), len(chineseLoans)/2)
	in, err := enc.String(encode(t, rows, []string{"loan_id", "uscc", "amount", "rate_bp", "green", "borrower_name", "opened"}, true))
	require.NoError(t, err)
	b, err := csv.ReadAll(strings.NewReader(in), s, csv.Options{Encoding: "GBK"})
	require.NoError(t, err)
	require.Equal(t, want(s, rows), b)

	// What is GBK is GB18030 too.
	b, err = csv.ReadAll(strings.NewReader(in), s, csv.Options{Encoding: csv.GB18030})
	require.NoError(t, err)
	require.Equal(t, want(s, rows), b)
}

func TestEncodingNames(t *testing.T) {
	for _, name := range []string{"", "utf-8", "UTF-8", "gb18030", "GB18030", "gbk", "GBK", "Gbk"} {
		_, err := csv.ReadAll(strings.NewReader(header), testSchema(), csv.Options{Encoding: name})
		require.NoError(t, err, name)
	}
	for _, name := range []string{"utf8", "latin1", "gb2312", "big5", " gbk"} {
		_, err := csv.NewReader(strings.NewReader(header), testSchema(), csv.Options{Encoding: name})
		require.EqualError(t, err, "csv: unknown Encoding "+strconv.Quote(name)+" (want utf-8, gb18030 or gbk)")
	}
}

// TestEncodingErrors checks input that is not in the declared encoding,
// and that with another encoding than UTF-8, errors give columns in
// characters of the decoded text.
func TestEncodingErrors(t *testing.T) {
	const row1 = "L1,91350100M000100Y42,100,350,true,福建省绿色能源科技有限公司,2021-03-15\n"
	const prefix = "L2,91350100M000100Y42,100,350,true," // 35 characters
	for _, tc := range []struct {
		desc     string
		encoding string
		in       func(t *testing.T) string
		err      string
		line     int
		col      int
		sentinel error
	}{
		{"GB18030 read as UTF-8", "", func(t *testing.T) string { return gb18030(t, header+row1) },
			"loans.csv:2:6: column borrower_name: string is not valid UTF-8", 2, 6, nil},
		{"UTF-8 read as GB18030", "gb18030", func(t *testing.T) string { return header + row1 },
			// 福建省绿色能源科 in UTF-8 is E7 A6 8F E5 BB BA ... E7 A7 91:
			// 11 GB18030 characters, then A7 91, a user-defined code.
			"loans.csv:2:47: bytes 0xa7 0x91 are a user-defined or unassigned GB18030 code, not a character (is the file in another encoding?)", 2, 47, csv.ErrEncoding},
		{"UTF-8 with a byte order mark read as GB18030", "gb18030", func(t *testing.T) string { return "\ufeff" + header + row1 },
			"loans.csv:1:1: the file starts with a UTF-8 byte order mark: it is UTF-8, not GB18030", 1, 1, csv.ErrEncoding},
		{"a byte that starts no character", "gb18030", func(t *testing.T) string {
			return gb18030(t, header+row1+prefix+"厦门") + "\xff" + gb18030(t, "公司,2020-01-01\n")
		}, "loans.csv:3:38: byte 0xff is not a GB18030 character (is the file in another encoding?)", 3, 38, csv.ErrEncoding},
		{"a lead byte before a comma", "gbk", func(t *testing.T) string {
			return gb18030(t, header+row1+prefix+"厦门") + "\x81" + gb18030(t, ",2020-01-01\n")
		}, "loans.csv:3:38: byte 0x81 is not a GBK character (is the file in another encoding?)", 3, 38, csv.ErrEncoding},
		{"a lead byte at the end of the file", "gb18030", func(t *testing.T) string {
			return gb18030(t, header+prefix+"厦门,2020-01-01") + "\x81"
		}, "loans.csv:2:49: byte 0x81 is not a GB18030 character (is the file in another encoding?)", 2, 49, csv.ErrEncoding},
		{"four bytes past U+FFFF", "gb18030", func(t *testing.T) string {
			return gb18030(t, header+prefix+"厦门") + "\x84\x31\xa5\x30" + gb18030(t, ",2020-01-01\n")
		}, "loans.csv:2:38: bytes 0x84 0x31 0xa5 0x30 are not a GB18030 character (is the file in another encoding?)", 2, 38, csv.ErrEncoding},
		{"a lead byte and a colon, which x/text reads as four bytes", "gb18030", func(t *testing.T) string {
			return gb18030(t, header+prefix+"厦门") + "\x81\x3a\x81\x30" + gb18030(t, ",2020-01-01\n")
		}, "loans.csv:2:38: byte 0x81 is not a GB18030 character (is the file in another encoding?)", 2, 38, csv.ErrEncoding},
		{"a four-byte character in GBK", "gbk", func(t *testing.T) string {
			return gb18030(t, header+prefix+"𠮷野家,2020-01-01\n")
		}, "loans.csv:2:36: byte 0x95 is not a GBK character (is the file in another encoding?)", 2, 36, csv.ErrEncoding},
		{"a user-defined code", "gb18030", func(t *testing.T) string {
			return gb18030(t, header+prefix+"刘") + "\xaa\xa1" + gb18030(t, ",2020-01-01\n")
		}, "loans.csv:2:37: bytes 0xaa 0xa1 are a user-defined or unassigned GB18030 code, not a character (is the file in another encoding?)", 2, 37, csv.ErrEncoding},
		{"in the header", "gb18030", func(t *testing.T) string { return "loan_id,uscc\xff," + header[13:] },
			"loans.csv:1:13: byte 0xff is not a GB18030 character (is the file in another encoding?)", 1, 13, csv.ErrEncoding},
		{"in the first byte", "gb18030", func(t *testing.T) string { return "\xff" + header },
			"loans.csv:1:1: byte 0xff is not a GB18030 character (is the file in another encoding?)", 1, 1, csv.ErrEncoding},
		{"at the start of a line", "gb18030", func(t *testing.T) string { return gb18030(t, header+row1) + "\xfe\xff" + gb18030(t, row1) },
			"loans.csv:3:1: byte 0xfe is not a GB18030 character (is the file in another encoding?)", 3, 1, csv.ErrEncoding},
		{"in a quoted field across lines", "gb18030", func(t *testing.T) string {
			return gb18030(t, header+prefix+"\"厦门\n光伏") + "\xff" + gb18030(t, "\",2020-01-01\n")
		}, "loans.csv:3:3: byte 0xff is not a GB18030 character (is the file in another encoding?)", 3, 3, csv.ErrEncoding},
		{"a syntax error before it on its line comes first", "gb18030", func(t *testing.T) string {
			return gb18030(t, header+prefix+"福建\"省") + "\xff" + gb18030(t, ",2020-01-01\n")
		}, "loans.csv:2:38: bare \" in non-quoted-field", 2, 38, stdcsv.ErrBareQuote},
		{"a bare quote, in characters", "gb18030", func(t *testing.T) string { return gb18030(t, header+prefix+"福建\"省,2020-01-01\n") },
			"loans.csv:2:38: bare \" in non-quoted-field", 2, 38, stdcsv.ErrBareQuote},
		{"text after a closing quote, in characters", "gb18030", func(t *testing.T) string { return gb18030(t, header+prefix+"\"福建\"x,2020-01-01\n") },
			"loans.csv:2:39: extraneous or missing \" in quoted-field", 2, 39, stdcsv.ErrQuote},
		{"a quote left open, in characters", "gb18030", func(t *testing.T) string { return gb18030(t, header+prefix+"\"福建\n更多\n") },
			"loans.csv:3:4: extraneous or missing \" in quoted-field (in the record that starts on line 2)", 3, 4, stdcsv.ErrQuote},
		{"a quote left open, CR LF", "gb18030", func(t *testing.T) string { return gb18030(t, header+prefix+"\"福建\r\n更多\r\n") },
			"loans.csv:3:4: extraneous or missing \" in quoted-field (in the record that starts on line 2)", 3, 4, stdcsv.ErrQuote},
		{"a bare quote after a GB18030 byte order mark", "gb18030", func(t *testing.T) string { return gb18030(t, "\ufeff"+header[:8]+"福\"建\n") },
			"loans.csv:1:10: bare \" in non-quoted-field", 1, 10, stdcsv.ErrBareQuote},
		{"value errors give field numbers as before", "gb18030", func(t *testing.T) string {
			return gb18030(t, header+"福建,91350100M000100Y42,12x,350,true,福建,2020-01-01\n")
		},
			"loans.csv:2:3: column amount: \"12x\" is not an integer", 2, 3, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			in := tc.in(t)
			opts := csv.Options{File: "loans.csv", Encoding: tc.encoding}
			_, err := csv.ReadAll(strings.NewReader(in), testSchema(), opts)
			requireEncodingError(t, err, tc.err, tc.line, tc.col, tc.sentinel)

			opts.BatchSize = 1
			_, err = readBatches(t, iotest.OneByteReader(strings.NewReader(in)), testSchema(), opts)
			requireEncodingError(t, err, tc.err, tc.line, tc.col, tc.sentinel)
		})
	}
}

func requireEncodingError(t *testing.T, err error, msg string, line, col int, sentinel error) {
	t.Helper()
	require.EqualError(t, err, msg)
	var e *csv.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, line, e.Line, "line")
	require.Equal(t, col, e.Column, "column")
	if sentinel != nil {
		require.ErrorIs(t, err, sentinel)
	}
	if sentinel != csv.ErrEncoding {
		require.NotErrorIs(t, err, csv.ErrEncoding)
	}
}

// TestErrorsGB18030 walks testdata/errors.json again with every input
// encoded in GB18030: each must fail as in UTF-8, with syntax errors'
// columns in characters rather than bytes.
func TestErrorsGB18030(t *testing.T) {
	data, err := os.ReadFile("testdata/errors.json")
	require.NoError(t, err)
	var vectors []errorVector
	require.NoError(t, json.Unmarshal(data, &vectors))
	n := 0
	for _, v := range vectors {
		if !utf8.ValidString(v.CSV) {
			continue // not text, so not GB18030 either
		}
		n++
		t.Run(v.Desc, func(t *testing.T) {
			in := gb18030(t, v.CSV)
			opts := csv.Options{File: "loans.csv", Encoding: csv.GB18030}
			_, err := csv.ReadAll(strings.NewReader(in), testSchema(), opts)
			if errors.Is(err, stdcsv.ErrBareQuote) || errors.Is(err, stdcsv.ErrQuote) {
				lines := strings.Split(strings.TrimPrefix(v.CSV, "\ufeff"), "\n")
				line := strings.TrimSuffix(lines[v.Line-1], "\r") + "\n"
				col := utf8.RuneCountInString(line[:min(v.Column-1, len(line))]) + 1 + max(0, v.Column-1-len(line))
				v.Err = strings.Replace(v.Err, ":"+strconv.Itoa(v.Column)+":", ":"+strconv.Itoa(col)+":", 1)
				v.Column = col
			}
			requireError(t, err, v)

			opts.BatchSize = 1
			_, err = readBatches(t, iotest.OneByteReader(strings.NewReader(in)), testSchema(), opts)
			requireError(t, err, v)
		})
	}
	require.Greater(t, n, len(vectors)/2)
}

// TestEncodingErrorAfterRows checks that the rows before a line with bad
// bytes come out in their batches, and that the error stops the read.
func TestEncodingErrorAfterRows(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "n", Type: schema.Int, Min: i64(0), Max: i64(1000)},
		{Name: "name", Type: schema.String},
	}}
	var text strings.Builder
	text.WriteString("name,n\n")
	for i := range 5 {
		text.WriteString("名称" + strconv.Itoa(i) + "," + strconv.Itoa(i) + "\n")
	}
	in := gb18030(t, text.String()) + "\xff\xff,5\n" + gb18030(t, "名称6,6\n")
	r, err := csv.NewReader(strings.NewReader(in), s, csv.Options{File: "f.csv", BatchSize: 2, Encoding: csv.GB18030})
	require.NoError(t, err)
	for range 2 {
		b, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, 2, b.Len)
	}
	b, err := r.Next()
	require.Nil(t, b)
	require.EqualError(t, err, "f.csv:7:1: byte 0xff is not a GB18030 character (is the file in another encoding?)")
	require.Equal(t, int64(5), r.Rows())
	_, err2 := r.Next()
	require.Equal(t, err, err2)
}

// TestTooLongGB18030 checks that MaxRecordBytes counts the UTF-8 bytes the
// input decodes to, and that an endless line is refused early.
func TestTooLongGB18030(t *testing.T) {
	big := &schema.Schema{Columns: []schema.Column{{Name: "text", Type: schema.String, MaxLen: 4 * csv.MaxRecordBytes}}}
	chars := func(n int) string { return strings.Repeat("中", n) } // 2 bytes in GB18030, 3 in UTF-8
	max := csv.MaxRecordBytes / 3
	opts := csv.Options{File: "big.csv", Encoding: csv.GB18030}

	b, err := csv.ReadAll(strings.NewReader(gb18030(t, "text\n"+chars(max)+"x\n")), big, opts)
	require.NoError(t, err)
	require.Equal(t, 1, b.Len)

	_, err = csv.ReadAll(strings.NewReader(gb18030(t, "text\n"+chars(max)+"xx\n")), big, opts)
	require.EqualError(t, err, "big.csv:2: line is longer than 1048576 bytes")

	src := &countingReader{r: io.MultiReader(strings.NewReader("text\n"), endless(0xd6))} // 0xd6 0xd6 is 咒
	_, err = csv.ReadAll(src, big, opts)
	require.EqualError(t, err, "big.csv:2: line is longer than 1048576 bytes")
	require.Less(t, src.n, int64(csv.MaxRecordBytes+256<<10))
}

func TestReadErrorGB18030(t *testing.T) {
	boom := errors.New("boom")
	in := io.MultiReader(strings.NewReader(gb18030(t, header+"L1,91350100M000100Y42,100,350,true,福建,2020-01-01\nL2,9135")), iotest.ErrReader(boom))
	_, err := csv.ReadAll(in, testSchema(), csv.Options{File: "loans.csv", Encoding: csv.GB18030})
	require.ErrorIs(t, err, boom)
	var e *csv.Error
	require.False(t, errors.As(err, &e), "a failed read is not an *Error: %v", err)
	require.EqualError(t, err, "csv: reading loans.csv at line 3: boom")

	// A read that fails in the middle of a character is a failed read
	// too, not bad bytes.
	in = io.MultiReader(strings.NewReader(gb18030(t, header+"L1,91350100M000100Y42,100,350,true,福")[:len(header)+36]), iotest.ErrReader(boom))
	_, err = csv.ReadAll(in, testSchema(), csv.Options{File: "loans.csv", Encoding: csv.GB18030})
	require.ErrorIs(t, err, boom)
	require.False(t, errors.As(err, &e), "a failed read is not an *Error: %v", err)

	_, err = csv.NewReader(iotest.ErrReader(boom), testSchema(), csv.Options{Encoding: csv.GB18030})
	require.ErrorIs(t, err, boom)
	require.False(t, errors.As(err, &e))
}
