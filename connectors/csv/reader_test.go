package csv_test

import (
	"bytes"
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/csv"
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

const header = "loan_id,uscc,amount,rate_bp,green,borrower_name,opened\n"

// readBatches reads in with NewReader and Next and returns the rows as one
// batch, checking that no batch is larger than opts.BatchSize and that
// Rows keeps count.
func readBatches(t *testing.T, in io.Reader, s *schema.Schema, opts csv.Options) (*schema.Batch, error) {
	t.Helper()
	r, err := csv.NewReader(in, s, opts)
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

type errorVector struct {
	Desc   string `json:"desc"`
	CSV    string `json:"csv"`
	Err    string `json:"err"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Field  string `json:"field"`
}

// TestErrors walks testdata/errors.json: each input is read whole, and a
// row at a time one byte at a time, and both must fail with the same
// *Error.
func TestErrors(t *testing.T) {
	data, err := os.ReadFile("testdata/errors.json")
	require.NoError(t, err)
	var vectors []errorVector
	require.NoError(t, json.Unmarshal(data, &vectors))
	require.NotEmpty(t, vectors)
	for _, v := range vectors {
		t.Run(v.Desc, func(t *testing.T) {
			opts := csv.Options{File: "loans.csv"}
			_, err := csv.ReadAll(strings.NewReader(v.CSV), testSchema(), opts)
			requireError(t, err, v)

			opts.BatchSize = 1
			_, err = readBatches(t, iotest.OneByteReader(strings.NewReader(v.CSV)), testSchema(), opts)
			requireError(t, err, v)
		})
	}
}

func requireError(t *testing.T, err error, v errorVector) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, v.Err, err.Error())
	var e *csv.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "loans.csv", e.File)
	require.Equal(t, v.Line, e.Line, "line")
	require.Equal(t, v.Column, e.Column, "column")
	require.Equal(t, v.Field, e.Field, "field")
	if v.Field != "" {
		var ve *schema.ValueError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, v.Field, ve.Column)
	}
}

func TestErrorWrapsSentinels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{header + "L1,U,1,1,true,a\"b,2020-01-01\n", stdcsv.ErrBareQuote},
		{header + "L1,U,1,1,true,\"a\"b,2020-01-01\n", stdcsv.ErrQuote},
		{header + "L1,U,1,1,true,\"ab\n", stdcsv.ErrQuote},
		{header + "L1,U,1,1,true\n", stdcsv.ErrFieldCount},
	} {
		_, err := csv.ReadAll(strings.NewReader(tc.in), testSchema(), csv.Options{})
		require.ErrorIs(t, err, tc.want)
		require.True(t, strings.HasPrefix(err.Error(), "input:2"), err.Error())
	}
}

func TestInvalidUTF8(t *testing.T) {
	in := header + "L1,91350100M000100Y42,100,350,true,Acme \xff\xfe,2020-01-01\n"
	_, err := csv.ReadAll(strings.NewReader(in), testSchema(), csv.Options{File: "loans.csv"})
	require.EqualError(t, err, "loans.csv:2:6: column borrower_name: string is not valid UTF-8")

	in = "loan_id,uscc,amount,rate_bp,green,borrower_name,opened,\xff\xfe\n"
	_, err = csv.ReadAll(strings.NewReader(in), testSchema(), csv.Options{File: "loans.csv"})
	require.EqualError(t, err, `loans.csv:1:8: unknown column "\xff\xfe" in header`)

	// A long invalid value is cut too, even when ParseValue's message
	// escapes every byte.
	in = header + "L1,91350100M000100Y42,100,350," + strings.Repeat("\xff", 500) + ",Acme,2020-01-01\n"
	_, err = csv.ReadAll(strings.NewReader(in), testSchema(), csv.Options{File: "loans.csv"})
	require.EqualError(t, err, `loans.csv:2:5: column green: "`+strings.Repeat(`\xff`, 64)+`"… is not a bool (want true or false)`)
}

// TestTooLong checks MaxRecordBytes, with a schema whose one string column
// could hold a longer value.
func TestTooLong(t *testing.T) {
	big := &schema.Schema{Columns: []schema.Column{{Name: "text", Type: schema.String, MaxLen: 4 * csv.MaxRecordBytes}}}
	const max = csv.MaxRecordBytes
	x := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		desc string
		in   string
		err  string // empty for success
	}{
		{"a line of the largest size", "text\n" + x(max) + "\n", ""},
		{"the largest line at the end of the file", "text\nok\n" + x(max), ""},
		{"the largest line ending in CR LF", "text\r\n" + x(max) + "\r\n" + "ok\r\n", ""},
		{"the largest line ending in CR at EOF", "text\r\n" + x(max) + "\r", ""},
		{"a quoted field of the largest size", "text\n\"" + x(max-2) + "\"\n", ""},
		{"a quoted field with newlines of the largest size", "text\n\"" + x(max/2-2) + "\n\n" + x(max/2-2) + "\"\n", ""},
		{"one byte too long", "text\nok\n" + x(max+1) + "\nok\n", "big.csv:3: line is longer than 1048576 bytes"},
		{"one byte too long at EOF", "text\nok\n" + x(max+1), "big.csv:3: line is longer than 1048576 bytes"},
		{"a CR inside the largest line", "text\n" + x(max-1) + "\r\r\n", ""},
		{"a CR inside the line counts", "text\n" + x(max) + "\r\r\n", "big.csv:2: line is longer than 1048576 bytes"},
		{"an over-long header", x(max+1) + "\n", "big.csv:1: line is longer than 1048576 bytes"},
		{"an over-long line after a BOM", "\ufefftext\n" + x(max+1), "big.csv:2: line is longer than 1048576 bytes"},
		{"an over-long line with a stray quote", "text\n" + x(10) + "\"" + x(max), "big.csv:2: line is longer than 1048576 bytes"},
		{"newlines in a quoted field count", "text\n\"" + x(max/2-2) + "\n\n" + x(max/2) + "\"\n", "big.csv:2: record is longer than 1048576 bytes (lines 2 to 4; is a quote left open?)"},
		{"a quote left open", "text\nok\n\"" + strings.Repeat("a\n", max), "big.csv:3: record is longer than 1048576 bytes (lines 3 to 524291; is a quote left open?)"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ins := []io.Reader{
				strings.NewReader(tc.in),
				iotest.HalfReader(strings.NewReader(tc.in)),
				iotest.DataErrReader(strings.NewReader(tc.in)),
				split(tc.in, len(tc.in)/2),
			}
			if i := strings.IndexByte(tc.in[10:], '\r'); i >= 0 {
				// Reads that end between a \r and what follows it.
				ins = append(ins, split(tc.in, 10+i+1))
			}
			for _, in := range ins {
				b, err := csv.ReadAll(in, big, csv.Options{File: "big.csv"})
				if tc.err == "" {
					require.NoError(t, err)
					require.Positive(t, b.Len)
					continue
				}
				require.EqualError(t, err, tc.err)
				var e *csv.Error
				require.ErrorAs(t, err, &e)
			}
		})
	}
}

// split returns a reader of s whose reads end at s[k].
func split(s string, k int) io.Reader {
	return io.MultiReader(strings.NewReader(s[:k]), strings.NewReader(s[k:]))
}

// TestTooLongStopsEarly checks that an endless line is refused after about
// MaxRecordBytes have been read, not buffered to the end.
func TestTooLongStopsEarly(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "text", Type: schema.String}}}
	src := &countingReader{r: io.MultiReader(strings.NewReader("text\n"), endless('x'))}
	_, err := csv.ReadAll(src, s, csv.Options{})
	require.EqualError(t, err, "input:2: line is longer than 1048576 bytes")
	require.Less(t, src.n, int64(csv.MaxRecordBytes+256<<10))

	src = &countingReader{r: io.MultiReader(strings.NewReader("text\n\""), endless('\n'))}
	_, err = csv.ReadAll(src, s, csv.Options{})
	require.EqualError(t, err, "input:2: record is longer than 1048576 bytes (lines 2 to 1048578; is a quote left open?)")
	require.Less(t, src.n, int64(csv.MaxRecordBytes+256<<10))
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
	in := io.MultiReader(strings.NewReader(header+"L1,91350100M000100Y42,100,350,true,Acme,2020-01-01\nL2,9135"), iotest.ErrReader(boom))
	_, err := csv.ReadAll(in, testSchema(), csv.Options{File: "loans.csv"})
	require.ErrorIs(t, err, boom)
	var e *csv.Error
	require.False(t, errors.As(err, &e), "a failed read is not an *Error: %v", err)
	require.EqualError(t, err, "csv: reading loans.csv at line 3: boom")

	// A failure while reading the first bytes.
	_, err = csv.NewReader(iotest.ErrReader(boom), testSchema(), csv.Options{})
	require.ErrorIs(t, err, boom)
	require.False(t, errors.As(err, &e))

	// The same, in the header line.
	_, err = csv.NewReader(io.MultiReader(strings.NewReader("loan_id,us"), iotest.ErrReader(boom)), testSchema(), csv.Options{})
	require.ErrorIs(t, err, boom)
	require.False(t, errors.As(err, &e))
}

func TestOptions(t *testing.T) {
	_, err := csv.NewReader(strings.NewReader(header), testSchema(), csv.Options{BatchSize: -1})
	require.EqualError(t, err, "csv: BatchSize is -1, want 0 (the default) or more")

	_, err = csv.NewReader(strings.NewReader(header), &schema.Schema{}, csv.Options{})
	require.EqualError(t, err, "csv: schema: no columns")

	// File defaults to "input", BatchSize to DefaultBatchSize.
	_, err = csv.ReadAll(strings.NewReader(""), testSchema(), csv.Options{})
	require.EqualError(t, err, "input:1: empty file: want a header line naming the columns")

	in := new(bytes.Buffer)
	in.WriteString(header)
	for range csv.DefaultBatchSize + 1 {
		in.WriteString("L1,91350100M000100Y42,100,350,true,Acme,2020-01-01\n")
	}
	r, err := csv.NewReader(in, testSchema(), csv.Options{})
	require.NoError(t, err)
	b, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, csv.DefaultBatchSize, b.Len)
	b, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, 1, b.Len)
	_, err = r.Next()
	require.Equal(t, io.EOF, err)
	require.Equal(t, int64(csv.DefaultBatchSize+1), r.Rows())
}

// loan is one row of testSchema.
type loan struct {
	id, uscc   string
	amount, bp int64
	green      bool
	name       string
	opened     string
}

var loans = []loan{
	{"L0001", "91350100M000100Y42", 1_500_000, 385, true, "福建省绿色能源科技有限公司", "2021-03-15"},
	{"L0002", "91110000600037341L", 0, 0, false, "Acme, Inc.", "2000-01-01"},
	{"L0003", "9144030071526726XG", 1_000_000_000, 2000, true, "The \"Quoted\" Co.", "2030-12-31"},
	{"L0004", "91310115MA1K3YJ12C", 42, 1, false, "多行\n名称,有逗号\r\n和\"引号\"", "2024-02-29"},
	{"L0005", "", 7, 7, true, "", "2010-06-30"},
	{"", "91350100M000100Y42", 8, 8, false, " leading and trailing spaces ", "2015-01-01"},
	{"L0007", "9135\"0100M000100", 9, 9, true, "émoji 🌱 and ünïcödé", "2019-11-11"},
}

// want returns rows as the batch the reader should produce. A \r\n inside
// a quoted field is read as \n.
func want(s *schema.Schema, rows []loan) *schema.Batch {
	b := schema.NewBatch(s, len(rows))
	for _, l := range rows {
		b.Cols[0].Strs = append(b.Cols[0].Strs, l.id)
		b.Cols[1].Strs = append(b.Cols[1].Strs, l.uscc)
		b.Cols[2].Ints = append(b.Cols[2].Ints, l.amount)
		b.Cols[3].Ints = append(b.Cols[3].Ints, l.bp)
		g := int64(0)
		if l.green {
			g = 1
		}
		b.Cols[4].Ints = append(b.Cols[4].Ints, g)
		b.Cols[5].Strs = append(b.Cols[5].Strs, strings.ReplaceAll(l.name, "\r\n", "\n"))
		b.Cols[6].Ints = append(b.Cols[6].Ints, day(l.opened))
		b.Len++
	}
	return b
}

// encode writes rows as CSV with encoding/csv's Writer, columns in the
// order of names.
func encode(t *testing.T, rows []loan, names []string, crlf bool) string {
	t.Helper()
	var buf bytes.Buffer
	w := stdcsv.NewWriter(&buf)
	w.UseCRLF = crlf
	require.NoError(t, w.Write(names))
	for _, l := range rows {
		rec := make([]string, len(names))
		for j, n := range names {
			switch n {
			case "loan_id":
				rec[j] = l.id
			case "uscc":
				rec[j] = l.uscc
			case "amount":
				rec[j] = strconv.FormatInt(l.amount, 10)
			case "rate_bp":
				rec[j] = strconv.FormatInt(l.bp, 10)
			case "green":
				rec[j] = strconv.FormatBool(l.green)
			case "borrower_name":
				rec[j] = l.name
			case "opened":
				rec[j] = l.opened
			}
		}
		require.NoError(t, w.Write(rec))
	}
	w.Flush()
	require.NoError(t, w.Error())
	return buf.String()
}

func TestRoundTrip(t *testing.T) {
	s := testSchema()
	inOrder := []string{"loan_id", "uscc", "amount", "rate_bp", "green", "borrower_name", "opened"}
	shuffled := []string{"opened", "borrower_name", "amount", "loan_id", "green", "uscc", "rate_bp"}
	for _, tc := range []struct {
		desc  string
		names []string
		crlf  bool
		edit  func(string) string
	}{
		{desc: "schema order", names: inOrder},
		{desc: "shuffled header", names: shuffled},
		{desc: "CR LF", names: inOrder, crlf: true},
		{desc: "BOM", names: shuffled, edit: func(s string) string { return "\ufeff" + s }},
		{desc: "BOM and CR LF", names: inOrder, crlf: true, edit: func(s string) string { return "\ufeff" + s }},
		{desc: "no final newline", names: inOrder, edit: func(s string) string { return strings.TrimSuffix(s, "\n") }},
		{desc: "no final CR LF", names: inOrder, crlf: true, edit: func(s string) string { return strings.TrimSuffix(s, "\r\n") }},
		{desc: "final CR", names: inOrder, crlf: true, edit: func(s string) string { return strings.TrimSuffix(s, "\n") }},
		{desc: "blank lines", names: inOrder, edit: func(s string) string {
			return "\n\r\n" + strings.Replace(s, "\nL0002", "\n\n\nL0002", 1) + "\n\n"
		}},
		{desc: "quoted header", names: inOrder, edit: func(s string) string {
			return strings.Replace(s, "loan_id,uscc", `"loan_id","uscc"`, 1)
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			in := encode(t, loans, tc.names, tc.crlf)
			if tc.edit != nil {
				in = tc.edit(in)
			}
			b, err := csv.ReadAll(strings.NewReader(in), s, csv.Options{})
			require.NoError(t, err)
			require.Equal(t, want(s, loans), b)

			for _, size := range []int{1, 2, 3, len(loans) - 1, len(loans), len(loans) + 1} {
				b, err = readBatches(t, iotest.OneByteReader(strings.NewReader(in)), s, csv.Options{BatchSize: size})
				require.NoError(t, err)
				require.Equal(t, want(s, loans), b)
			}
		})
	}
}

func TestHeaderOnly(t *testing.T) {
	for _, in := range []string{header, strings.TrimSuffix(header, "\n"), "\ufeff" + header + "\n\n"} {
		b, err := csv.ReadAll(strings.NewReader(in), testSchema(), csv.Options{})
		require.NoError(t, err)
		require.Equal(t, 0, b.Len)

		r, err := csv.NewReader(strings.NewReader(in), testSchema(), csv.Options{})
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
		in.WriteString("s,n\n")
		for i := range rows {
			in.WriteString("名" + strconv.Itoa(i) + "," + strconv.Itoa(i) + "\n")
		}
		r, err := csv.NewReader(strings.NewReader(in.String()), s, csv.Options{BatchSize: size})
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
	in := "n\n1\n2\n3\n4\n5\nfive\n7\n"
	r, err := csv.NewReader(strings.NewReader(in), s, csv.Options{File: "f.csv", BatchSize: 2})
	require.NoError(t, err)
	for range 2 {
		b, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, 2, b.Len)
	}
	b, err := r.Next()
	require.Nil(t, b)
	require.EqualError(t, err, `f.csv:7:1: column n: "five" is not an integer`)
	require.Equal(t, int64(5), r.Rows())
	_, err2 := r.Next()
	require.Equal(t, err, err2)
}

// TestDialects reads the same rows written with other delimiters, without
// quotes, without a header and with null markers.
func TestDialects(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "name", Type: schema.String, MaxLen: 64},
		{Name: "n", Type: schema.Int, Min: i64(0), Max: i64(100)},
		{Name: "ok", Type: schema.Bool},
	}}
	rows := func(names []string, ns []int64, oks []int64) *schema.Batch {
		b := schema.NewBatch(s, len(names))
		b.Cols[0].Strs, b.Cols[1].Ints, b.Cols[2].Ints, b.Len = names, ns, oks, len(names)
		return b
	}
	for _, tc := range []struct {
		desc string
		in   string
		opts csv.Options
		want *schema.Batch
		err  string
	}{{
		desc: "semicolon, quoted field holding one",
		in:   "name;n;ok\n\"a;b\";1;true\nc,d;2;false\n",
		opts: csv.Options{Comma: ';'},
		want: rows([]string{"a;b", "c,d"}, []int64{1, 2}, []int64{1, 0}),
	}, {
		desc: "tab, header in another order",
		in:   "ok\tname\tn\r\ntrue\tx y\t3\r\n",
		opts: csv.Options{Comma: '\t'},
		want: rows([]string{"x y"}, []int64{3}, []int64{1}),
	}, {
		desc: "pipe, no quotes: quotes are data",
		in:   "name|n|ok\n\"公司\"名称|4|true\nsay \"hi|5|false\n",
		opts: csv.Options{Comma: '|', NoQuotes: true},
		want: rows([]string{`"公司"名称`, `say "hi`}, []int64{4, 5}, []int64{1, 0}),
	}, {
		desc: "no header: schema order",
		in:   "a,1,true\nb,2,false\n",
		opts: csv.Options{NoHeader: true},
		want: rows([]string{"a", "b"}, []int64{1, 2}, []int64{1, 0}),
	}, {
		desc: "no header, no quotes, tab",
		in:   "a\"\t1\ttrue\n",
		opts: csv.Options{NoHeader: true, NoQuotes: true, Comma: '\t'},
		want: rows([]string{`a"`}, []int64{1}, []int64{1}),
	}, {
		desc: "no header: a short row",
		in:   "a,1,true\nb,2\n",
		opts: csv.Options{NoHeader: true},
		err:  "t.csv:2: wrong number of fields: got 2, want 3",
	}, {
		desc: "no header, no quotes: a long row",
		in:   "a,1,true,x\n",
		opts: csv.Options{NoHeader: true, NoQuotes: true},
		err:  "t.csv:1: wrong number of fields: got 4, want 3",
	}, {
		desc: "a null marker in an int column",
		in:   "name,n,ok\na,1,true\nb,\\N,true\n",
		opts: csv.Options{Nulls: []string{`\N`, "NULL"}},
		err:  `t.csv:3:2: column n: null ("\\N") is not allowed: the schema has no nulls; fill the value or leave the row out at the source`,
	}, {
		desc: "a quoted null marker in a string column",
		in:   "name,n,ok\n\"NULL\",1,true\n",
		opts: csv.Options{Nulls: []string{`\N`, "NULL"}},
		err:  `t.csv:2:1: column name: null ("NULL") is not allowed: the schema has no nulls; fill the value or leave the row out at the source`,
	}, {
		desc: "without markers NULL is a string",
		in:   "name,n,ok\nNULL,1,true\n",
		want: rows([]string{"NULL"}, []int64{1}, []int64{1}),
	}, {
		desc: "a delimiter that is a letter",
		in:   "name,n,ok\n",
		opts: csv.Options{Comma: 'x'},
		err:  `csv: delimiter 'x' is not allowed: want an ASCII character other than a letter, a digit, '"' or a line end, such as ',', ';', '|' or a tab`,
	}, {
		desc: "a quote as delimiter",
		in:   "name,n,ok\n",
		opts: csv.Options{Comma: '"'},
		err:  `csv: delimiter '"' is not allowed: want an ASCII character other than a letter, a digit, '"' or a line end, such as ',', ';', '|' or a tab`,
	}, {
		desc: "a newline as delimiter",
		in:   "name,n,ok\n",
		opts: csv.Options{Comma: '\n'},
		err:  `csv: delimiter '\n' is not allowed: want an ASCII character other than a letter, a digit, '"' or a line end, such as ',', ';', '|' or a tab`,
	}, {
		desc: "an empty null marker",
		in:   "name,n,ok\n",
		opts: csv.Options{Nulls: []string{""}},
		err:  "csv: an empty null marker is not allowed (an empty field is already an empty string, or an error in a column that is not a string)",
	}} {
		t.Run(tc.desc, func(t *testing.T) {
			tc.opts.File = "t.csv"
			got, err := csv.ReadAll(strings.NewReader(tc.in), s, tc.opts)
			tc.opts.BatchSize = 1
			got1, err1 := readBatches(t, iotest.OneByteReader(strings.NewReader(tc.in)), s, tc.opts)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				require.EqualError(t, err1, tc.err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, err1)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.want, got1)
			if !tc.opts.NoQuotes {
				slow, err := csv.ReadAllSlow(strings.NewReader(tc.in), s, tc.opts)
				require.NoError(t, err)
				require.Equal(t, tc.want, slow)
			}
		})
	}
}

// TestDialectsGB18030 reads GB18030 input without quotes and with a tab,
// which takes the fast reader over decoded text.
func TestDialectsGB18030(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{
		{Name: "name", Type: schema.String, MaxLen: 64},
		{Name: "n", Type: schema.Int, Min: i64(0), Max: i64(100)},
	}}
	in := gb18030(t, "name\tn\n\"新疆\"公司\t7\n")
	b, err := csv.ReadAll(strings.NewReader(in), s, csv.Options{Encoding: "gb18030", Comma: '\t', NoQuotes: true})
	require.NoError(t, err)
	require.Equal(t, []string{`"新疆"公司`}, b.Cols[0].Strs)
	require.Equal(t, []int64{7}, b.Cols[1].Ints)

	// With quotes, on encoding/csv.
	in = gb18030(t, "name;n\n\"新;疆\";8\n")
	b, err = csv.ReadAll(strings.NewReader(in), s, csv.Options{Encoding: "gb18030", Comma: ';'})
	require.NoError(t, err)
	require.Equal(t, []string{"新;疆"}, b.Cols[0].Strs)
}

// TestDiscoverDialects suggests a schema from a file without a header,
// and refuses one with a null.
func TestDiscoverDialects(t *testing.T) {
	s, err := csv.Discover(strings.NewReader("a|12|true\nb|7|false\n"), csv.Options{Comma: '|', NoHeader: true}, 0)
	require.NoError(t, err)
	require.Len(t, s.Columns, 3)
	require.Equal(t, "c1", s.Columns[0].Name)
	require.Equal(t, schema.String, s.Columns[0].Type)
	require.Equal(t, "c2", s.Columns[1].Name)
	require.Equal(t, schema.Int, s.Columns[1].Type)
	require.Equal(t, schema.Bool, s.Columns[2].Type)

	_, err = csv.Discover(strings.NewReader("x,y\n1,NA\n"), csv.Options{File: "d.csv", Nulls: []string{"NA"}}, 0)
	require.EqualError(t, err, `d.csv:2:2: column y: null ("NA") is not allowed: the schema has no nulls; fill the value or leave the row out at the source`)
}

// TestNoQuotesLimit reads, without quotes, a line with one quote and then
// more than MaxRecordBytes of lines: every line is a record of its own,
// where with quotes the quote would open a record without end.
func TestNoQuotesLimit(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "name", Type: schema.String, MaxLen: 2048}}}
	var in strings.Builder
	in.WriteString("name\nx\"\n")
	line := strings.Repeat("y", 1000) + "\n"
	n := 2*csv.MaxRecordBytes/len(line) + 1
	for range n {
		in.WriteString(line)
	}
	n++
	b, err := csv.ReadAll(strings.NewReader(in.String()), s, csv.Options{NoQuotes: true})
	require.NoError(t, err)
	require.Equal(t, n, b.Len)

	// With quotes, the same input is one record left open.
	_, err = csv.ReadAll(strings.NewReader(in.String()), s, csv.Options{File: "q.csv"})
	require.ErrorContains(t, err, "q.csv:2: record is longer than")
}
