package jsonl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/jsonl"
	"github.com/xjdata/cleanroom/schema"
)

func i64(v int64) *int64 { return &v }

func day(s string) int64 {
	d, ok := schema.ParseDate(s)
	if !ok {
		panic("bad date " + s)
	}
	return d
}

// testSchema is the loans schema of the benchmark plus a date column.
func testSchema() *schema.Schema {
	return &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "rate_bp", Type: schema.Int, Min: i64(0), Max: i64(2000)},
		{Name: "green", Type: schema.Bool},
		{Name: "borrower_name", Type: schema.String},
		{Name: "opened", Type: schema.Date, Min: i64(day("2000-01-01")), Max: i64(day("2030-12-31"))},
	}}
}

// readBatches reads in with NewReader and Next and returns the rows as one
// batch, checking that no batch is larger than opts.BatchSize and that
// Rows keeps count.
func readBatches(t *testing.T, in io.Reader, s *schema.Schema, opts jsonl.Options) (*schema.Batch, error) {
	t.Helper()
	r, err := jsonl.NewReader(in, s, opts)
	if err != nil {
		return nil, err
	}
	all := schema.NewBatch(s, 0)
	for {
		b, err := r.Next()
		if err == io.EOF {
			require.Equal(t, int64(all.Len), r.Rows())
			_, err = r.Next()
			require.Equal(t, io.EOF, err, "Next after io.EOF")
			return all, nil
		}
		if err != nil {
			require.Nil(t, b)
			// Rows counts the good rows of the batch that failed.
			require.GreaterOrEqual(t, r.Rows(), int64(all.Len))
			require.Less(t, r.Rows(), int64(all.Len+opts.BatchSize))
			_, again := r.Next()
			require.Equal(t, err, again, "Next after an error")
			return nil, err
		}
		require.Positive(t, b.Len)
		require.LessOrEqual(t, b.Len, opts.BatchSize)
		for i := range b.Cols {
			require.Equal(t, b.Len, b.Cols[i].Len())
		}
		all.Append(b)
	}
}

// good is a valid line of testSchema; the keys of its values start at
// columns 2, 17, 45, 58, 72, 85 and 108, the values at 12, 24, 54, 68,
// 80, 101 and 117.
const good = `{"loan_id":"L1","uscc":"91350100M000100Y42","amount":100,"rate_bp":350,"green":true,"borrower_name":"Acme","opened":"2020-01-01"}`

// rest is good without its first key: a line that starts with
// `{"amount":X,` + rest has every column.
const rest = `"loan_id":"L1","uscc":"91350100M000100Y42","rate_bp":350,"green":true,"borrower_name":"Acme","opened":"2020-01-01"}`

// with returns good with the value of key replaced by the raw JSON v.
func with(key, v string) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(good), &m); err != nil {
		panic(err)
	}
	i := strings.Index(good, `"`+key+`":`)
	if i < 0 {
		panic(key)
	}
	i += len(key) + 3
	return good[:i] + v + good[i+len(m[key]):]
}

type errorCase struct {
	desc  string
	in    string
	err   string
	line  int
	col   int
	field string
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("1234567890", 8)
	for _, tc := range []errorCase{
		// Lines.
		{"blank line", good + "\n\n" + good + "\n", "loans.jsonl:2:1: blank line (every line must hold an object)", 2, 1, ""},
		{"line of spaces", good + "\n \t \n", "loans.jsonl:2:1: blank line (every line must hold an object)", 2, 1, ""},
		{"blank line with CR LF", good + "\r\n\r\n" + good + "\r\n", "loans.jsonl:2:1: blank line (every line must hold an object)", 2, 1, ""},
		{"two newlines at the end", good + "\n\n", "loans.jsonl:2:1: blank line (every line must hold an object)", 2, 1, ""},
		{"only a newline", "\n", "loans.jsonl:1:1: blank line (every line must hold an object)", 1, 1, ""},
		{"spaces after the last newline", good + "\n  ", "loans.jsonl:2:1: blank line (every line must hold an object)", 2, 1, ""},
		{"first blank, after a byte order mark", "\ufeff\n" + good, "loans.jsonl:1:1: blank line (every line must hold an object)", 1, 1, ""},

		// Syntax.
		{"an array", "[1,2]\n", "loans.jsonl:1:1: want a JSON object, got '['", 1, 1, ""},
		{"a string after spaces", `  "x"`, `loans.jsonl:1:3: want a JSON object, got '"'`, 1, 3, ""},
		{"the line ends inside the object", good[:57], "loans.jsonl:1:58: line ends inside the object (an object must be on one line)", 1, 58, ""},
		{"an object across lines", good[:57] + "\n" + good[57:], "loans.jsonl:1:58: line ends inside the object (an object must be on one line)", 1, 58, ""},
		{"the line ends after a key", `{"amount"`, "loans.jsonl:1:10: want ':' after the key, got the end of the line", 1, 10, ""},
		{"the line ends after a colon", `{"amount":  `, "loans.jsonl:1:13: want a value after ':', got the end of the line", 1, 13, ""},
		{"a key without quotes", `{amount:100}`, "loans.jsonl:1:2: want a key (a JSON string), got 'a'", 1, 2, ""},
		{"a key in single quotes", `{'amount':100}`, `loans.jsonl:1:2: want a key (a JSON string), got '\''`, 1, 2, ""},
		{"no colon", `{"amount" 100}`, "loans.jsonl:1:11: want ':' after the key, got '1'", 1, 11, ""},
		{"no comma", `{"amount":100 ` + rest, `loans.jsonl:1:15: want ',' or '}' after a value, got '"'`, 1, 15, ""},
		{"a trailing comma", good[:len(good)-1] + ",}", "loans.jsonl:1:130: want a key after ',', got '}' (no trailing commas)", 1, 130, ""},
		{"text after the object", good + " x", "loans.jsonl:1:131: want the end of the line after the object, got 'x' (one object per line)", 1, 131, ""},
		{"two objects on a line", good + good, "loans.jsonl:1:130: want the end of the line after the object, got '{' (one object per line)", 1, 130, ""},
		{"no value", `{"amount":,` + rest, "loans.jsonl:1:11: want a value after ':', got ','", 1, 11, ""},
		{"a string not closed", `{"loan_id":"L1`, "loans.jsonl:1:15: line ends inside the string that starts at column 12", 1, 15, ""},
		{"a key not closed", `{"loan_id`, "loans.jsonl:1:10: line ends inside the string that starts at column 2", 1, 10, ""},
		{"a tab in a string", with("borrower_name", "\"Ac\tme\""), "loans.jsonl:1:104: control character U+0009 in a string (write it as an escape)", 1, 104, ""},
		{"a NUL in a key", "{\"amo\x00unt\":1}", "loans.jsonl:1:6: control character U+0000 in a string (write it as an escape)", 1, 6, ""},
		{"an unknown escape", with("borrower_name", `"Ac\xme"`), `loans.jsonl:1:104: invalid escape "\\x" in a string`, 1, 104, ""},
		{"an escape at the end of the line", `{"loan_id":"L1\`, "loans.jsonl:1:16: line ends inside an escape", 1, 16, ""},
		{"a short \\u escape", with("borrower_name", `"Ac\u12"`), `loans.jsonl:1:104: invalid escape "\\u12\"" (want \u and four hex digits)`, 1, 104, ""},
		{"a \\u escape with a non-hex digit", with("borrower_name", `"\u00g9"`), `loans.jsonl:1:102: invalid escape "\\u00g" (want \u and four hex digits)`, 1, 102, ""},
		{"a lone high surrogate", with("borrower_name", `"A\ud83cB"`), `loans.jsonl:1:103: invalid escape \ud83c: a high surrogate with no low surrogate after it`, 1, 103, ""},
		{"a high surrogate before a non-surrogate", with("borrower_name", `"\ud83c\u0041"`), `loans.jsonl:1:102: invalid escape \ud83c: a high surrogate with no low surrogate after it`, 1, 102, ""},
		{"a lone low surrogate", with("borrower_name", `"\udf31"`), `loans.jsonl:1:102: invalid escape \udf31: a low surrogate with no high surrogate before it`, 1, 102, ""},
		{"a leading zero", `{"amount":0100,` + rest, `loans.jsonl:1:11: invalid number "0100"`, 1, 11, ""},
		{"a bare minus", `{"amount":-,` + rest, `loans.jsonl:1:11: invalid number "-"`, 1, 11, ""},
		{"a plus sign", `{"amount":+1,` + rest, `loans.jsonl:1:11: want a value after ':', got '+'`, 1, 11, ""},
		{"a fraction without digits", `{"amount":1.,` + rest, `loans.jsonl:1:11: invalid number "1."`, 1, 11, ""},
		{"a leading point", `{"amount":.5,` + rest, `loans.jsonl:1:11: want a value after ':', got '.'`, 1, 11, ""},
		{"an exponent without digits", `{"amount":1e+,` + rest, `loans.jsonl:1:11: invalid number "1e+"`, 1, 11, ""},
		{"letters after digits", `{"amount":12x,` + rest, `loans.jsonl:1:11: invalid number "12x"`, 1, 11, ""},
		{"hex", `{"amount":0x10,` + rest, `loans.jsonl:1:11: invalid number "0x10"`, 1, 11, ""},
		{"a short literal", with("green", "tru"), `loans.jsonl:1:80: invalid value "tru" (want a string, a number, true or false)`, 1, 80, ""},
		{"literals are lower case", with("green", "True"), `loans.jsonl:1:80: invalid value "True" (want a string, a number, true or false)`, 1, 80, ""},
		{"NaN", `{"amount":NaN,` + rest, `loans.jsonl:1:11: invalid value "NaN" (want a string, a number, true or false)`, 1, 11, ""},
		{"a byte that is not UTF-8", `{"amount":` + "\xff", `loans.jsonl:1:11: want a value after ':', got byte 0xff (not UTF-8)`, 1, 11, ""},
		{"a byte order mark on line 2", good + "\n\ufeff" + good, `loans.jsonl:2:1: want a JSON object, got '\ufeff'`, 2, 1, ""},
		{"a comment", good + " // loan 1", `loans.jsonl:1:131: want the end of the line after the object, got '/' (one object per line)`, 1, 131, ""},

		// Keys.
		{"an unknown key", `{"amount":1,"rate":5,` + rest, `loans.jsonl:1:13: unknown key "rate" (not a column of the schema)`, 1, 13, ""},
		{"keys are case-sensitive", `{"Amount":1,` + rest, `loans.jsonl:1:2: unknown key "Amount" (not a column of the schema)`, 1, 2, ""},
		{"keys are not trimmed", `{"amount ":1,` + rest, `loans.jsonl:1:2: unknown key "amount " (not a column of the schema)`, 1, 2, ""},
		{"a long unknown key is cut", `{"企业名称企业名称企业名称企业名称企业名称企业名称企业名称":1}`, `loans.jsonl:1:2: unknown key "企业名称企业名称企业名称企业名称企业名称企"… (not a column of the schema)`, 1, 2, ""},
		{"an unknown key with escapes", `{"\u00e9":1}`, `loans.jsonl:1:2: unknown key "é" (not a column of the schema)`, 1, 2, ""},
		{"an unknown key that is not UTF-8", "{\"\xff\xfe\":1}", `loans.jsonl:1:2: unknown key "\xff\xfe" (not a column of the schema)`, 1, 2, ""},
		{"a repeated key", good[:len(good)-1] + `,"amount":100}`, "loans.jsonl:1:130: column amount: key repeated (first at column 45)", 1, 130, "amount"},
		{"a repeated key, written with an escape", `{"amount":1,"\u0061mount":1}`, "loans.jsonl:1:13: column amount: key repeated (first at column 2)", 1, 13, "amount"},
		{"a missing key", `{"amount":1,` + strings.Replace(rest, `"green":true,`, "", 1), `loans.jsonl:1:1: missing key "green"`, 1, 1, ""},
		{"missing keys", `{"amount":1,"green":true}`, `loans.jsonl:1:1: missing keys "loan_id", "uscc", "rate_bp", "borrower_name", "opened"`, 1, 1, ""},
		{"an empty object", ` { } `, `loans.jsonl:1:1: missing keys "loan_id", "uscc", "amount", "rate_bp", "green", "borrower_name", "opened"`, 1, 1, ""},

		// Types.
		{"a number for a string", with("loan_id", "1"), `loans.jsonl:1:12: column loan_id: want a JSON string, got number 1`, 1, 12, "loan_id"},
		{"a string for an int", `{"amount":"100",` + rest, `loans.jsonl:1:11: column amount: want an integer (a JSON number), got string "100"`, 1, 11, "amount"},
		{"a string for a bool", with("green", `"true"`), `loans.jsonl:1:80: column green: want true or false, got string "true"`, 1, 80, "green"},
		{"a number for a bool", with("green", `1`), `loans.jsonl:1:80: column green: want true or false, got number 1`, 1, 80, "green"},
		{"a number for a date", with("opened", `20200101`), `loans.jsonl:1:117: column opened: want a date as a JSON string "YYYY-MM-DD", got number 20200101`, 1, 117, "opened"},
		{"a bool for an int", `{"amount":false,` + rest, `loans.jsonl:1:11: column amount: want an integer (a JSON number), got false`, 1, 11, "amount"},
		{"null", with("borrower_name", "null"), `loans.jsonl:1:101: column borrower_name: null is not allowed (the schema has no nulls)`, 1, 101, "borrower_name"},
		{"null for an int", `{"amount": null,` + rest, `loans.jsonl:1:12: column amount: null is not allowed (the schema has no nulls)`, 1, 12, "amount"},
		{"an object", with("borrower_name", `{"name":"Acme"}`), `loans.jsonl:1:101: column borrower_name: want a JSON string, got an object`, 1, 101, "borrower_name"},
		{"an array", `{"amount":[100],` + rest, `loans.jsonl:1:11: column amount: want an integer (a JSON number), got an array`, 1, 11, "amount"},
		{"a fraction", `{"amount":1.5,` + rest, `loans.jsonl:1:11: column amount: 1.5 is not an integer (want no fraction or exponent)`, 1, 11, "amount"},
		{"a zero fraction", `{"amount":100.0,` + rest, `loans.jsonl:1:11: column amount: 100.0 is not an integer (want no fraction or exponent)`, 1, 11, "amount"},
		{"an exponent", `{"amount":1e3,` + rest, `loans.jsonl:1:11: column amount: 1e3 is not an integer (want no fraction or exponent)`, 1, 11, "amount"},
		{"a long string for an int is cut", `{"amount":"` + long + `",` + rest, `loans.jsonl:1:11: column amount: want an integer (a JSON number), got string "` + long[:64] + `"…`, 1, 11, "amount"},
		{"a long number for a string is cut", with("loan_id", long), `loans.jsonl:1:12: column loan_id: want a JSON string, got number ` + long[:64] + `…`, 1, 12, "loan_id"},

		// Values, as ParseValue checks them.
		{"an int below its bounds", `{"amount":-5,` + rest, "loans.jsonl:1:11: column amount: -5 is outside the declared bounds [0, 1000000000]", 1, 11, "amount"},
		{"an int above its bounds", with("rate_bp", "2001"), "loans.jsonl:1:68: column rate_bp: 2001 is outside the declared bounds [0, 2000]", 1, 68, "rate_bp"},
		{"an int beyond int64", `{"amount":9223372036854775808,` + rest, `loans.jsonl:1:11: column amount: "9223372036854775808" is not an integer`, 1, 11, "amount"},
		{"an int below int64", `{"amount":-9223372036854775809,` + rest, `loans.jsonl:1:11: column amount: "-9223372036854775809" is not an integer`, 1, 11, "amount"},
		{"the least int64, out of bounds", `{"amount":-9223372036854775808,` + rest, `loans.jsonl:1:11: column amount: -9223372036854775808 is outside the declared bounds [0, 1000000000]`, 1, 11, "amount"},
		{"a long int is cut", `{"amount":` + long + `,` + rest, `loans.jsonl:1:11: column amount: "` + long[:64] + `"… is not an integer`, 1, 11, "amount"},
		{"a negative zero is zero, then out of bounds", `{"rate_bp":-0,"amount":-1,` + strings.Replace(rest, `"rate_bp":350,`, "", 1), "loans.jsonl:1:24: column amount: -1 is outside the declared bounds [0, 1000000000]", 1, 24, "amount"},
		{"a bad date", with("opened", `"2020-13-01"`), `loans.jsonl:1:117: column opened: "2020-13-01" is not a date (want YYYY-MM-DD)`, 1, 117, "opened"},
		{"no 29 February in 2021", with("opened", `"2021-02-29"`), `loans.jsonl:1:117: column opened: "2021-02-29" is not a date (want YYYY-MM-DD)`, 1, 117, "opened"},
		{"a date in another layout", with("opened", `"2020/01/01"`), `loans.jsonl:1:117: column opened: "2020/01/01" is not a date (want YYYY-MM-DD)`, 1, 117, "opened"},
		{"a date with a time", with("opened", `"2020-01-01T00:00:00Z"`), `loans.jsonl:1:117: column opened: "2020-01-01T00:00:00Z" is not a date (want YYYY-MM-DD)`, 1, 117, "opened"},
		{"a date out of bounds", with("opened", `"1999-12-31"`), `loans.jsonl:1:117: column opened: 1999-12-31 is outside the declared bounds [2000-01-01, 2030-12-31]`, 1, 117, "opened"},
		{"an escaped date is a date", with("opened", `"2020\u002d13-01"`), `loans.jsonl:1:117: column opened: "2020-13-01" is not a date (want YYYY-MM-DD)`, 1, 117, "opened"},
		{"a string longer than max_len", with("uscc", `"91350100M000100Y42X"`), "loans.jsonl:1:24: column uscc: string of 19 bytes is longer than max_len 18", 1, 24, "uscc"},
		{"max_len counts the bytes after escapes", with("uscc", `"91350100M000100Y4\u00e9"`), "loans.jsonl:1:24: column uscc: string of 19 bytes is longer than max_len 18", 1, 24, "uscc"},
		{"a string that is not UTF-8", with("borrower_name", "\"Acme \xff\xfe\""), "loans.jsonl:1:101: column borrower_name: string is not valid UTF-8", 1, 101, "borrower_name"},
		{"a long date is cut", with("opened", `"`+long+`"`), `loans.jsonl:1:117: column opened: "` + long[:64] + `"… is not a date (want YYYY-MM-DD)`, 1, 117, "opened"},

		// Which problem comes first.
		{"a bad value before a syntax error", with("uscc", `"91350100M000100Y42X"`) + "x", "loans.jsonl:1:24: column uscc: string of 19 bytes is longer than max_len 18", 1, 24, "uscc"},
		{"a bad string before a bad int", with("amount", "-1")[:11] + `"Acme` + "\xff" + `"` + with("amount", "-1")[14:], "loans.jsonl:1:12: column loan_id: string is not valid UTF-8", 1, 12, "loan_id"},
		{"a bad int before a bad string", with("borrower_name", "\"\xff\"") + "", "loans.jsonl:1:101: column borrower_name: string is not valid UTF-8", 1, 101, "borrower_name"},
		{"a bad value before a repeated key", with("opened", `"1999-12-31"`)[:len(good)-1] + `,"green":false}`, "loans.jsonl:1:117: column opened: 1999-12-31 is outside the declared bounds [2000-01-01, 2030-12-31]", 1, 117, "opened"},
		{"a bad value before a missing key", `{"loan_id":"` + long + `"}`, `loans.jsonl:1:12: column loan_id: string of 80 bytes is longer than max_len 32`, 1, 12, "loan_id"},
		{"a syntax error before a bad value", `{"amount":1 2,"loan_id":"` + long + `"}`, `loans.jsonl:1:13: want ',' or '}' after a value, got '2'`, 1, 13, ""},
		{"an error after good lines", good + "\n" + good + "\r\n" + with("green", "maybe") + "\n" + good, `loans.jsonl:3:80: invalid value "maybe" (want a string, a number, true or false)`, 3, 80, ""},
		{"byte columns do not count a byte order mark", "\ufeff" + with("rate_bp", "2001"), "loans.jsonl:1:68: column rate_bp: 2001 is outside the declared bounds [0, 2000]", 1, 68, "rate_bp"},
		{"byte columns count bytes, not characters", `{"borrower_name":"福建省", "amount":-1,` + strings.Replace(rest, `"borrower_name":"Acme",`, "", 1), "loans.jsonl:1:40: column amount: -1 is outside the declared bounds [0, 1000000000]", 1, 40, "amount"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			opts := jsonl.Options{File: "loans.jsonl"}
			_, err := jsonl.ReadAll(strings.NewReader(tc.in), testSchema(), opts)
			requireError(t, err, tc)

			opts.BatchSize = 1
			_, err = readBatches(t, iotest.OneByteReader(strings.NewReader(tc.in)), testSchema(), opts)
			requireError(t, err, tc)
		})
	}
}

func requireError(t *testing.T, err error, tc errorCase) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, tc.err, err.Error())
	var e *jsonl.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "loans.jsonl", e.File)
	require.Equal(t, tc.line, e.Line, "line")
	require.Equal(t, tc.col, e.Column, "column")
	require.Equal(t, tc.field, e.Field, "field")
	var ve *schema.ValueError
	if errors.As(err, &ve) {
		require.Equal(t, tc.field, ve.Column)
		require.True(t, strings.HasSuffix(err.Error(), ve.Error()))
	}
}

// TestValueErrorWrapped checks that a value that does not fit its column
// is a *schema.ValueError too, and that other errors are not.
func TestValueErrorWrapped(t *testing.T) {
	_, err := jsonl.ReadAll(strings.NewReader(with("rate_bp", "2001")), testSchema(), jsonl.Options{})
	var ve *schema.ValueError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "rate_bp", ve.Column)
	require.Equal(t, "2001 is outside the declared bounds [0, 2000]", ve.Reason)

	_, err = jsonl.ReadAll(strings.NewReader(with("rate_bp", "true")), testSchema(), jsonl.Options{})
	require.False(t, errors.As(err, &ve), "a type error is not a ValueError: %v", err)
}

// TestMaxLine checks Options.MaxLine, with a schema whose one string column
// could hold a longer value.
func TestMaxLine(t *testing.T) {
	big := &schema.Schema{Columns: []schema.Column{{Name: "t", Type: schema.String, MaxLen: 8 << 20}}}
	obj := func(n int) string { return `{"t":"` + strings.Repeat("x", n-8) + `"}` } // n bytes long
	for _, max := range []int{0, 100, 64 << 10, 100 << 10} {
		opts := jsonl.Options{File: "big.jsonl", MaxLine: max}
		if max == 0 {
			max = jsonl.DefaultMaxLine
		}
		tooLong := "big.jsonl:2:1: line is longer than " + strconv.Itoa(max) + " bytes"
		for _, tc := range []struct {
			desc string
			in   string
			err  string // empty for success
		}{
			{"a line of the largest size", obj(8) + "\n" + obj(max) + "\n", ""},
			{"the largest line at the end of the file", obj(8) + "\n" + obj(max), ""},
			{"the largest line ending in CR LF", obj(8) + "\r\n" + obj(max) + "\r\n" + obj(8) + "\r\n", ""},
			{"the largest line ending in CR at EOF", obj(8) + "\r\n" + obj(max) + "\r", ""},
			{"the largest first line after a byte order mark", "\ufeff" + obj(max) + "\n" + obj(8), ""},
			{"one byte too long", obj(8) + "\n" + obj(max+1) + "\n" + obj(8), tooLong},
			{"one byte too long at EOF", obj(8) + "\n" + obj(max+1), tooLong},
			{"spaces count", obj(8) + "\n" + obj(max) + " \n", tooLong},
			{"a CR inside the line counts", obj(8) + "\n" + obj(max) + "\r\r\n", tooLong},
			{"much too long", obj(8) + "\n" + obj(3*max+bufSize) + "\n", tooLong},
			{"an over-long first line", obj(max+1) + "\n", strings.Replace(tooLong, ":2:", ":1:", 1)},
			{"an over-long first line after a byte order mark", "\ufeff" + obj(max+1) + "\n", strings.Replace(tooLong, ":2:", ":1:", 1)},
		} {
			t.Run(strconv.Itoa(max)+"/"+tc.desc, func(t *testing.T) {
				ins := []io.Reader{
					strings.NewReader(tc.in),
					iotest.HalfReader(strings.NewReader(tc.in)),
					iotest.DataErrReader(strings.NewReader(tc.in)),
				}
				if max <= 1<<16 {
					ins = append(ins, iotest.OneByteReader(strings.NewReader(tc.in)))
				}
				for _, in := range ins {
					b, err := jsonl.ReadAll(in, big, opts)
					if tc.err == "" {
						require.NoError(t, err)
						require.Positive(t, b.Len)
						continue
					}
					require.EqualError(t, err, tc.err)
					var e *jsonl.Error
					require.ErrorAs(t, err, &e)
				}
			})
		}
	}
}

const bufSize = 64 << 10

// TestTooLongStopsEarly checks that an endless line is refused after about
// MaxLine bytes have been read, not buffered to the end.
func TestTooLongStopsEarly(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "t", Type: schema.String}}}
	for _, max := range []int{0, 1000, 3 << 20} {
		src := &countingReader{r: io.MultiReader(strings.NewReader(`{"t":"x"}`+"\n"+`{"t":"`), endless('x'))}
		_, err := jsonl.ReadAll(src, s, jsonl.Options{MaxLine: max})
		if max == 0 {
			max = jsonl.DefaultMaxLine
		}
		require.EqualError(t, err, "input:2:1: line is longer than "+strconv.Itoa(max)+" bytes")
		require.Less(t, src.n, int64(max+3*bufSize))
	}
}

type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	in := io.MultiReader(strings.NewReader(good+"\n"+good[:20]), iotest.ErrReader(boom))
	_, err := jsonl.ReadAll(in, testSchema(), jsonl.Options{File: "loans.jsonl"})
	require.ErrorIs(t, err, boom)
	var e *jsonl.Error
	require.False(t, errors.As(err, &e), "a failed read is not an *Error: %v", err)
	require.EqualError(t, err, "jsonl: reading loans.jsonl at line 2: boom")

	// A failure at once, and one after a whole line.
	for _, in := range []io.Reader{
		iotest.ErrReader(boom),
		io.MultiReader(strings.NewReader(good+"\n"), iotest.ErrReader(boom)),
	} {
		r, err := jsonl.NewReader(in, testSchema(), jsonl.Options{BatchSize: 1})
		require.NoError(t, err)
		for err == nil {
			_, err = r.Next()
		}
		require.ErrorIs(t, err, boom)
		require.False(t, errors.As(err, &e))
	}
}

func TestOptions(t *testing.T) {
	_, err := jsonl.NewReader(strings.NewReader(""), testSchema(), jsonl.Options{BatchSize: -1})
	require.EqualError(t, err, "jsonl: BatchSize is -1, want 0 (the default) or more")

	_, err = jsonl.NewReader(strings.NewReader(""), testSchema(), jsonl.Options{MaxLine: -1})
	require.EqualError(t, err, "jsonl: MaxLine is -1, want 0 (the default) or more")

	_, err = jsonl.NewReader(strings.NewReader(""), &schema.Schema{}, jsonl.Options{})
	require.EqualError(t, err, "jsonl: schema: no columns")

	// File defaults to "input", BatchSize to DefaultBatchSize.
	_, err = jsonl.ReadAll(strings.NewReader("\n"), testSchema(), jsonl.Options{})
	require.EqualError(t, err, "input:1:1: blank line (every line must hold an object)")

	in := new(bytes.Buffer)
	for range jsonl.DefaultBatchSize + 1 {
		in.WriteString(good + "\n")
	}
	r, err := jsonl.NewReader(in, testSchema(), jsonl.Options{})
	require.NoError(t, err)
	b, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, jsonl.DefaultBatchSize, b.Len)
	b, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, 1, b.Len)
	_, err = r.Next()
	require.Equal(t, io.EOF, err)
	require.Equal(t, int64(jsonl.DefaultBatchSize+1), r.Rows())
}

// loan is one row of testSchema.
type loan struct {
	ID     string `json:"loan_id"`
	USCC   string `json:"uscc"`
	Amount int64  `json:"amount"`
	BP     int64  `json:"rate_bp"`
	Green  bool   `json:"green"`
	Name   string `json:"borrower_name"`
	Opened string `json:"opened"`
}

var loans = []loan{
	{"L0001", "91350100M000100Y42", 1_500_000, 385, true, "福建省绿色能源科技有限公司", "2021-03-15"},
	{"L0002", "91110000600037341L", 0, 0, false, "Acme, Inc.", "2000-01-01"},
	{"L0003", "9144030071526726XG", 1_000_000_000, 2000, true, "The \"Quoted\" Co. \\ <&> /", "2030-12-31"},
	{"L0004", "91310115MA1K3YJ12C", 42, 1, false, "多行\n名称,有逗号\r\n\t和\"引号\"\u0000\u001f\u2028", "2024-02-29"},
	{"L0005", "", 7, 7, true, "", "2010-06-30"},
	{"", "91350100M000100Y42", 8, 8, false, " leading and trailing spaces ", "2015-01-01"},
	{"L0007", "9135\"0100M000100", 9, 9, true, "émoji 🌱 and ünïcödé", "2019-11-11"},
}

// want returns rows as the batch the reader should produce.
func want(s *schema.Schema, rows []loan) *schema.Batch {
	b := schema.NewBatch(s, len(rows))
	for _, l := range rows {
		b.Cols[0].Strs = append(b.Cols[0].Strs, l.ID)
		b.Cols[1].Strs = append(b.Cols[1].Strs, l.USCC)
		b.Cols[2].Ints = append(b.Cols[2].Ints, l.Amount)
		b.Cols[3].Ints = append(b.Cols[3].Ints, l.BP)
		g := int64(0)
		if l.Green {
			g = 1
		}
		b.Cols[4].Ints = append(b.Cols[4].Ints, g)
		b.Cols[5].Strs = append(b.Cols[5].Strs, l.Name)
		b.Cols[6].Ints = append(b.Cols[6].Ints, day(l.Opened))
		b.Len++
	}
	return b
}

// encode writes rows with encoding/json, one per line.
func encode(t *testing.T, rows []loan) string {
	t.Helper()
	var buf bytes.Buffer
	for _, l := range rows {
		line, err := json.Marshal(l)
		require.NoError(t, err)
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.String()
}

// escapeAll writes every string of rows' lines with \u escapes only, as
// some exporters do, surrogate pairs for characters beyond the BMP.
func escapeAll(t *testing.T, rows []loan) string {
	t.Helper()
	esc := func(s string) string {
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range s {
			if r >= 0x10000 {
				r -= 0x10000
				b.WriteString(`\u` + strconv.FormatInt(int64(0xd800+r>>10), 16) + `\u` + strconv.FormatInt(int64(0xdc00+r&0x3ff), 16))
				continue
			}
			h := strconv.FormatInt(int64(r), 16)
			b.WriteString(`\u` + strings.Repeat("0", 4-len(h)) + strings.ToUpper(h))
		}
		b.WriteByte('"')
		return b.String()
	}
	var buf strings.Builder
	for _, l := range rows {
		buf.WriteString(`{` + esc("opened") + `:` + esc(l.Opened) + `, ` + esc("borrower_name") + ` : ` + esc(l.Name) +
			`,"green":` + strconv.FormatBool(l.Green) + `,"rate_bp":` + strconv.FormatInt(l.BP, 10) + `,"amount":` + strconv.FormatInt(l.Amount, 10) +
			`,"uscc":` + esc(l.USCC) + `,"loan_id":` + esc(l.ID) + "}\n")
	}
	return buf.String()
}

func TestRoundTrip(t *testing.T) {
	s := testSchema()
	for _, tc := range []struct {
		desc string
		in   func(t *testing.T) string
	}{
		{"encoding/json", func(t *testing.T) string { return encode(t, loans) }},
		{"every string escaped, keys shuffled", func(t *testing.T) string { return escapeAll(t, loans) }},
		{"keys in another order on every line", func(t *testing.T) string {
			lines := strings.Split(strings.TrimSuffix(encode(t, loans), "\n"), "\n")
			for i, l := range lines {
				var m map[string]json.RawMessage
				require.NoError(t, json.Unmarshal([]byte(l), &m))
				keys := []string{"loan_id", "uscc", "amount", "rate_bp", "green", "borrower_name", "opened"}
				k := i % len(keys)
				keys = append(keys[k:], keys[:k]...)
				var b strings.Builder
				b.WriteByte('{')
				for j, key := range keys {
					if j > 0 {
						b.WriteByte(',')
					}
					b.WriteString(strconv.Quote(key) + ":" + string(m[key]))
				}
				b.WriteByte('}')
				lines[i] = b.String()
			}
			return strings.Join(lines, "\n") + "\n"
		}},
		{"CR LF", func(t *testing.T) string { return strings.ReplaceAll(encode(t, loans), "}\n", "}\r\n") }},
		{"BOM", func(t *testing.T) string { return "\ufeff" + encode(t, loans) }},
		{"BOM and CR LF", func(t *testing.T) string { return "\ufeff" + strings.ReplaceAll(encode(t, loans), "}\n", "}\r\n") }},
		{"no final newline", func(t *testing.T) string { return strings.TrimSuffix(encode(t, loans), "\n") }},
		{"final CR", func(t *testing.T) string {
			return strings.TrimSuffix(strings.ReplaceAll(encode(t, loans), "}\n", "}\r\n"), "\n")
		}},
		{"whitespace around tokens", func(t *testing.T) string {
			var buf bytes.Buffer
			for _, l := range loans {
				line, err := json.MarshalIndent(l, "", "\t")
				require.NoError(t, err)
				buf.WriteString(" \t" + strings.ReplaceAll(string(line), "\n", " \r ") + "\t \r\n")
			}
			return buf.String()
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			in := tc.in(t)
			b, err := jsonl.ReadAll(strings.NewReader(in), s, jsonl.Options{})
			require.NoError(t, err)
			require.Equal(t, want(s, loans), b)

			for _, size := range []int{1, 2, 3, len(loans) - 1, len(loans), len(loans) + 1} {
				b, err = readBatches(t, iotest.OneByteReader(strings.NewReader(in)), s, jsonl.Options{BatchSize: size})
				require.NoError(t, err)
				require.Equal(t, want(s, loans), b)
			}
		})
	}
}

// TestInts checks the ends of int64 and the forms of numbers an int
// column takes.
func TestInts(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "n", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)}}}
	for in, want := range map[string]int64{
		"9223372036854775807":  math.MaxInt64,
		"-9223372036854775808": math.MinInt64,
		"0":                    0,
		"-0":                   0,
		"1000000000000000000":  1e18,
		"-1":                   -1,
		"10":                   10,
	} {
		b, err := jsonl.ReadAll(strings.NewReader(`{"n":`+in+`}`), s, jsonl.Options{})
		require.NoError(t, err, in)
		require.Equal(t, []int64{want}, b.Cols[0].Ints, in)
	}
	for _, in := range []string{"9223372036854775808", "-9223372036854775809", "18446744073709551616", "99999999999999999999"} {
		_, err := jsonl.ReadAll(strings.NewReader(`{"n":`+in+`}`), s, jsonl.Options{})
		require.EqualError(t, err, `input:1:6: column n: "`+in+`" is not an integer`)
	}
}

func TestEmpty(t *testing.T) {
	for _, in := range []string{"", "\ufeff"} {
		b, err := jsonl.ReadAll(strings.NewReader(in), testSchema(), jsonl.Options{})
		require.NoError(t, err)
		require.Equal(t, 0, b.Len)

		r, err := jsonl.NewReader(strings.NewReader(in), testSchema(), jsonl.Options{})
		require.NoError(t, err)
		_, err = r.Next()
		require.Equal(t, io.EOF, err)
		require.Zero(t, r.Rows())
	}
}

// TestBatches checks batch boundaries: sizes, contents and Rows, for row
// counts around multiples of the batch size.
func TestBatches(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "n", Type: schema.Int, Min: i64(0), Max: i64(1000)},
		{Name: "s", Type: schema.String},
	}}
	const size = 4
	for _, rows := range []int{0, 1, size - 1, size, size + 1, 2 * size, 2*size + 1, 10 * size} {
		var in strings.Builder
		for i := range rows {
			in.WriteString(`{"s":"名` + strconv.Itoa(i) + `","n":` + strconv.Itoa(i) + "}\n")
		}
		r, err := jsonl.NewReader(strings.NewReader(in.String()), s, jsonl.Options{BatchSize: size})
		require.NoError(t, err)
		next := 0
		for {
			b, err := r.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			require.Equal(t, min(size, rows-next), b.Len, "rows %d, batch at %d", rows, next)
			for i := range b.Len {
				require.Equal(t, int64(next+i), b.Cols[0].Ints[i])
				require.Equal(t, "名"+strconv.Itoa(next+i), b.Cols[1].Strs[i])
			}
			next += b.Len
			require.Equal(t, int64(next), r.Rows())
		}
		require.Equal(t, rows, next)
	}
}

// TestErrorInLaterBatch checks that an error is reported by the Next call
// that reaches it, after the good batches before it.
func TestErrorInLaterBatch(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "n", Type: schema.Int, Min: i64(0), Max: i64(1000)}}}
	in := "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n{\"n\":5}\n{\"n\":\"five\"}\n{\"n\":7}\n"
	r, err := jsonl.NewReader(strings.NewReader(in), s, jsonl.Options{File: "f.jsonl", BatchSize: 2})
	require.NoError(t, err)
	for range 2 {
		b, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, 2, b.Len)
	}
	b, err := r.Next()
	require.Nil(t, b)
	require.EqualError(t, err, `f.jsonl:6:6: column n: want an integer (a JSON number), got string "five"`)
	require.Equal(t, int64(5), r.Rows())
	_, err2 := r.Next()
	require.Equal(t, err, err2)
}

// TestRowsAreIndependent checks that the strings of a batch do not change
// when later lines are read into the reader's buffers.
func TestRowsAreIndependent(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "s", Type: schema.String}, {Name: "d", Type: schema.Date, Min: i64(0), Max: i64(1e5)}}}
	var in strings.Builder
	for i := range 1000 {
		in.WriteString(`{"s":"row \"` + strconv.Itoa(i) + `\"","d":"2020-01-01"}` + "\n")
	}
	r, err := jsonl.NewReader(strings.NewReader(in.String()), s, jsonl.Options{BatchSize: 7})
	require.NoError(t, err)
	var all []string
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		all = append(all, b.Cols[0].Strs...)
	}
	require.Len(t, all, 1000)
	for i, v := range all {
		require.Equal(t, `row "`+strconv.Itoa(i)+`"`, v)
	}
}
