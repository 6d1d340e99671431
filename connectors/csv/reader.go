package csv

import (
	"bufio"
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// DefaultBatchSize is the number of rows in a batch when Options.BatchSize
// is zero.
const DefaultBatchSize = 8192

// Options configures a Reader.
type Options struct {
	// File is the name errors give for the input, such as "loans.csv".
	// Defaults to "input".
	File string
	// BatchSize is the most rows Next returns at once. Defaults to
	// DefaultBatchSize; must not be negative.
	BatchSize int
	// Encoding is the input's character encoding: UTF8 (the default),
	// GB18030 or GBK. Input in GB18030 or GBK is decoded to UTF-8 as it is
	// read; see the package doc.
	Encoding string
	// Comma is the field delimiter. Defaults to ','; it may be any other
	// ASCII character but a letter, a digit, '"', '\r' and '\n' (tab,
	// semicolon and '|' are common).
	Comma byte
	// NoQuotes reads '"' as an ordinary character: a record is one line
	// and a field is what lies between delimiters, as in the tab-separated
	// files many databases export. By default fields may be quoted (RFC
	// 4180).
	NoQuotes bool
	// NoHeader says the file has no header line: its fields are the
	// schema's columns in schema order. By default the first line names
	// the columns, in any order.
	NoHeader bool
	// Nulls lists the texts that stand for a null in the input, such as
	// "NULL", "\\N" or "NA". The schema has no nulls, so a field equal to
	// one of them (quoted or not) is an error that says it is a null,
	// where it would otherwise be read as a value (or fail as one). An
	// empty string is not allowed here: an empty field is an empty string
	// in a string column and an error in any other.
	Nulls []string
}

// check checks o and sets its defaults.
func (o *Options) check() error {
	if o.BatchSize < 0 {
		return fmt.Errorf("csv: BatchSize is %d, want 0 (the default) or more", o.BatchSize)
	}
	if o.Comma == 0 {
		o.Comma = ','
	}
	c := o.Comma
	if c >= 0x80 || c < ' ' && c != '\t' || c == 0x7f || c == '"' ||
		c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		return fmt.Errorf("csv: delimiter %q is not allowed: want an ASCII character other than a letter, a digit, '\"' or a line end, such as ',', ';', '|' or a tab", rune(c))
	}
	for _, n := range o.Nulls {
		if n == "" {
			return errors.New("csv: an empty null marker is not allowed (an empty field is already an empty string, or an error in a column that is not a string)")
		}
	}
	return nil
}

// Reader reads CSV rows into batches of a schema. Create one with
// NewReader. Not thread-safe.
type Reader struct {
	file     string
	batch    int
	schema   *schema.Schema
	lim      *limitReader
	track    *lineTracker   // for an encoding other than UTF-8
	cr       *stdcsv.Reader // the slow path: GB18030 and GBK input
	fast     *fastReader    // the fast path: UTF-8 input
	cols     []int          // cols[j] is the schema column of field j
	plain    []plainField   // for the fast path, once the header is read
	rows     int64
	batches  *connectors.Batches // made by the first Next
	nulls    []string
	noHeader bool
}

// NewReader returns a Reader of the CSV in r, whose header must name the
// columns of s (see the package doc). It reads and checks the header line;
// an error about it is an *Error. It checks s with Validate and keeps it:
// the caller must not change s while the Reader is in use.
func NewReader(r io.Reader, s *schema.Schema, opts Options) (*Reader, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("csv: %w", err)
	}
	return newSchemaReader(r, s, opts, false)
}

// newSchemaReader is NewReader, on the slow path (encoding/csv alone) if
// slow.
func newSchemaReader(r io.Reader, s *schema.Schema, opts Options, slow bool) (*Reader, error) {
	rd, err := newReader(r, opts, slow)
	if err != nil {
		return nil, err
	}
	rd.schema = s
	if err := rd.readHeader(); err != nil {
		return nil, err
	}
	if rd.fast != nil {
		rd.planFields()
	}
	return rd, nil
}

// newReader returns a Reader of r with no schema yet, having read nothing.
func newReader(r io.Reader, opts Options, slow bool) (*Reader, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	dec, err := lookupEncoding(opts.Encoding)
	if err != nil {
		return nil, err
	}
	rd := &Reader{file: opts.File, batch: opts.BatchSize, nulls: opts.Nulls, noHeader: opts.NoHeader}
	if rd.file == "" {
		rd.file = "input"
	}
	if rd.batch == 0 {
		rd.batch = DefaultBatchSize
	}

	if dec != nil {
		r = dec.reader(r)
	}
	rd.lim = newLimitReader(skipBOM(r), rd.file)
	rd.lim.noQuotes = opts.NoQuotes
	var text io.Reader = rd.lim
	if dec != nil {
		rd.track = newLineTracker(rd.lim, rd.file)
		text = rd.track
	}
	// Without quotes no record is invalid, and encoding/csv cannot read
	// quotes as ordinary characters: the fast path reads every encoding.
	if dec == nil && !slow || opts.NoQuotes {
		rd.fast = &fastReader{src: text, comma: opts.Comma, noQuotes: opts.NoQuotes}
		return rd, nil
	}
	// encoding/csv uses a *bufio.Reader as it is when it is large enough;
	// a larger buffer means fewer reads through the limiter.
	br := bufio.NewReaderSize(text, window)
	rd.cr = stdcsv.NewReader(br)
	rd.cr.Comma = rune(opts.Comma)
	rd.cr.ReuseRecord = true
	rd.cr.FieldsPerRecord = 0 // set from the header, then enforced
	return rd, nil
}

// read returns the next record, or io.EOF, as check reports it; a record
// whose number of fields differs from the header's is an *Error.
func (r *Reader) read() ([]string, error) {
	if r.fast != nil {
		rec, err := r.fast.read()
		if err != nil {
			return nil, r.check(err, nil)
		}
		return r.checkRecord(rec)
	}
	rec, err := r.cr.Read()
	if err := r.check(err, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// checkRecord returns rec, a record the fast path read, or an error: an
// *Error if its number of fields differs from the header's, or the
// limiter's error, as check returns it.
func (r *Reader) checkRecord(rec []string) ([]string, error) {
	if r.cols != nil && len(rec) != len(r.cols) {
		return nil, &Error{File: r.file, Line: r.fast.start,
			Err: fmt.Errorf("%w: got %d, want %d", stdcsv.ErrFieldCount, len(rec), len(r.cols))}
	}
	if r.lim.err != nil {
		return nil, r.lim.err
	}
	return rec, nil
}

// fieldLine returns the line field j of the last record is on.
func (r *Reader) fieldLine(j int) int {
	if r.fast != nil {
		return r.fast.fieldLine(j)
	}
	line, _ := r.cr.FieldPos(j)
	return line
}

// Discover reads the CSV in r and suggests a schema for it from its header
// and its values (see connectors.Inferrer), for its holder to confirm: it
// reads at most maxRows rows, or all if maxRows is 0. Errors are as
// NewReader's and Next's.
func Discover(r io.Reader, opts Options, maxRows int64) (*schema.Schema, error) {
	rd, err := newReader(r, opts, false)
	if err != nil {
		return nil, err
	}
	rec, err := rd.read()
	if err == io.EOF {
		if opts.NoHeader {
			return nil, &Error{File: rd.file, Line: 1, Err: errors.New("empty file: want at least one row to suggest columns from")}
		}
		return nil, &Error{File: rd.file, Line: 1, Err: errors.New("empty file: want a header line naming the columns")}
	} else if err != nil {
		return nil, err
	}
	line := rd.fieldLine(0)
	names := slices.Clone(rec)
	var first []string
	if opts.NoHeader {
		// No names to go by: c1, c2, ... for the holder to rename.
		first = names
		names = make([]string, len(rec))
		for j := range names {
			names[j] = "c" + strconv.Itoa(j+1)
		}
	}
	in, err := connectors.NewInferrer(names)
	if err != nil {
		return nil, &Error{File: rd.file, Line: line, Err: err}
	}
	rd.cols = make([]int, len(rec))
	text := func(rec []string) error {
		for j, t := range rec {
			if rd.isNull(t) {
				return rd.nullError(j, names[j], t)
			}
			in.Text(j, t)
		}
		return nil
	}
	n := int64(0)
	if first != nil {
		if err := text(first); err != nil {
			return nil, err
		}
		n++
	}
	for ; maxRows == 0 || n < maxRows; n++ {
		rec, err := rd.read()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if err := text(rec); err != nil {
			return nil, err
		}
	}
	return in.Schema(), nil
}

var bom = []byte{0xef, 0xbb, 0xbf}

// skipBOM returns r without a leading UTF-8 byte order mark. An error in
// reading the first bytes is returned by the first read that reaches it.
func skipBOM(r io.Reader) io.Reader {
	var buf [3]byte
	n, err := io.ReadFull(r, buf[:])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return bytes.NewReader(buf[:n])
	case err != nil:
		return io.MultiReader(bytes.NewReader(buf[:n]), errReader{err})
	case bytes.Equal(buf[:], bom):
		return r
	}
	return io.MultiReader(bytes.NewReader(buf[:]), r)
}

// errReader is a reader that fails.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (r *Reader) readHeader() error {
	if r.noHeader {
		r.cols = make([]int, len(r.schema.Columns))
		for i := range r.cols {
			r.cols[i] = i
		}
		if r.cr != nil {
			r.cr.FieldsPerRecord = len(r.cols)
		}
		return nil
	}
	rec, err := r.read()
	if err != nil {
		if err == io.EOF {
			return &Error{File: r.file, Line: 1, Err: errors.New("empty file: want a header line naming the columns")}
		}
		return err
	}
	line := r.fieldLine(0)
	seen := make([]bool, len(r.schema.Columns))
	r.cols = make([]int, len(rec))
	for j, name := range rec {
		fail := func(format string, args ...any) error {
			return &Error{File: r.file, Line: line, Column: j + 1, Err: fmt.Errorf(format, args...)}
		}
		if name == "" {
			return fail("empty column name in header")
		}
		i := r.schema.Index(name)
		switch {
		case i < 0:
			return fail("unknown column %s in header", connectors.Quote(name))
		case seen[i]:
			return fail("duplicate column %q in header", name)
		}
		seen[i] = true
		r.cols[j] = i
	}
	var missing []string
	for i, ok := range seen {
		if !ok {
			missing = append(missing, strconv.Quote(r.schema.Columns[i].Name))
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return &Error{File: r.file, Line: line, Err: fmt.Errorf("missing column %s in header", missing[0])}
	}
	return &Error{File: r.file, Line: line, Err: fmt.Errorf("missing columns %s in header", strings.Join(missing, ", "))}
}

// check turns what encoding/csv's Read returned into the error to report:
// nil, io.EOF, an *Error, or a wrapped error of the underlying reader.
func (r *Reader) check(err error, rec []string) error {
	if r.lim.err != nil {
		// The record being read is too long; whatever encoding/csv made
		// of its truncated bytes does not matter.
		return r.lim.err
	}
	if err == nil || err == io.EOF {
		return err
	}
	if e, ok := err.(*Error); ok {
		return e // from the lineTracker: not valid in the encoding
	}
	var pe *stdcsv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("csv: reading %s at line %d: %w", r.file, r.lim.line, err)
	}
	if pe.Err == stdcsv.ErrFieldCount {
		return &Error{File: r.file, Line: pe.StartLine,
			Err: fmt.Errorf("%w: got %d, want %d", stdcsv.ErrFieldCount, len(rec), len(r.cols))}
	}
	e := &Error{File: r.file, Line: pe.Line, Column: pe.Column, Err: pe.Err}
	if r.track != nil {
		e.Column = r.track.charColumn(pe.Line, pe.Column)
	}
	if pe.StartLine != pe.Line {
		e.Err = fmt.Errorf("%w (in the record that starts on line %d)", pe.Err, pe.StartLine)
	}
	return e
}

// fill appends rows to b until it holds upTo rows (then it returns nil), the
// input ends (io.EOF) or an error.
func (r *Reader) fill(b *schema.Batch, upTo int) error {
	if r.plain != nil {
		return r.fillFast(b, upTo)
	}
	for b.Len < upTo {
		rec, err := r.read()
		if err != nil {
			return err
		}
		if err := r.appendRecord(b, rec); err != nil {
			return err
		}
	}
	return nil
}

// appendRecord appends rec, a record of the header's number of fields, to
// b as a row, or returns the error in its first field not valid.
func (r *Reader) appendRecord(b *schema.Batch, rec []string) error {
	cols := r.schema.Columns
	for j, text := range rec {
		i := r.cols[j]
		c := &cols[i]
		if r.nulls != nil && r.isNull(text) {
			return r.nullError(j, c.Name, text)
		}
		v, s, err := c.ParseValue(text)
		if err != nil {
			return r.valueError(j, c, text, err)
		}
		vec := &b.Cols[i]
		if c.Type == schema.String {
			vec.Strs = append(vec.Strs, s)
		} else {
			vec.Ints = append(vec.Ints, v)
		}
	}
	b.Len++
	r.rows++
	return nil
}

func (r *Reader) valueError(j int, c *schema.Column, text string, err error) error {
	var ve *schema.ValueError
	if len(text) > connectors.MaxEcho && errors.As(err, &ve) {
		// ParseValue quotes the whole value; keep its first bytes only.
		reason := strings.Replace(ve.Reason, strconv.Quote(text), connectors.Quote(text), 1)
		if len(reason) > 4*connectors.MaxEcho+64 {
			reason = fmt.Sprintf("value of %d bytes is not a valid %s", len(text), c.Type)
		}
		err = &schema.ValueError{Column: ve.Column, Reason: reason}
	}
	return &Error{File: r.file, Line: r.fieldLine(j), Column: j + 1, Field: c.Name, Err: err}
}

// isNull reports whether text is one of the null markers.
func (r *Reader) isNull(text string) bool {
	return slices.Contains(r.nulls, text)
}

// nullError reports a null, text, in field j of the last record.
func (r *Reader) nullError(j int, column, text string) error {
	return &Error{File: r.file, Line: r.fieldLine(j), Column: j + 1, Field: column,
		Err: &schema.ValueError{Column: column, Reason: fmt.Sprintf("null (%s) is not allowed: the schema has no nulls; fill the value or leave the row out at the source", connectors.Quote(text))}}
}

// Next returns the next batch of at most Options.BatchSize rows, and io.EOF
// after the last. Each batch is newly allocated; the caller may keep it.
// After an error, Next returns the same error again.
func (r *Reader) Next() (*schema.Batch, error) {
	if r.batches == nil {
		r.batches = connectors.NewBatches(connectors.FillFunc(r.fill), r.schema, r.batch)
	}
	return r.batches.Next()
}

// Rows returns the number of data rows read and converted so far. After an
// error it counts every good row before the one in error, including those
// of the batch that the error discarded.
func (r *Reader) Rows() int64 { return r.rows }

// ReadAll reads the whole of r as one batch. See NewReader.
func ReadAll(r io.Reader, s *schema.Schema, opts Options) (*schema.Batch, error) {
	rd, err := NewReader(r, s, opts)
	if err != nil {
		return nil, err
	}
	return connectors.ReadAll(connectors.FillFunc(rd.fill), s, rd.batch)
}
