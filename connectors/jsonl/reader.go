package jsonl

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// DefaultBatchSize is the number of rows in a batch when Options.BatchSize
// is zero.
const DefaultBatchSize = 8192

// DefaultMaxLine is the longest line accepted when Options.MaxLine is zero,
// in bytes.
const DefaultMaxLine = 1 << 20

// bufSize is the size of the read buffer; longer lines are gathered in a
// second buffer of at most about MaxLine bytes.
const bufSize = 64 << 10

// Options configures a Reader.
type Options struct {
	// File is the name errors give for the input, such as "loans.jsonl".
	// Defaults to "input".
	File string
	// BatchSize is the most rows Next returns at once. Defaults to
	// DefaultBatchSize; must not be negative.
	BatchSize int
	// MaxLine is the longest line accepted, in bytes, not counting the \n
	// or \r\n that ends it. Defaults to DefaultMaxLine; must not be
	// negative.
	MaxLine int
}

// Reader reads JSON Lines into batches of a schema. Create one with
// NewReader. Not thread-safe.
type Reader struct {
	file    string
	batch   int
	maxLine int
	schema  *schema.Schema
	cols    []schema.Column // schema.Columns
	index   map[string]int  // column name to position in cols

	br      *bufio.Reader
	long    []byte // a line longer than br's buffer, gathered
	line    int    // the number of the line last read
	eof     bool   // br has returned io.EOF
	rows    int64
	batches *connectors.Batches // made by the first Next

	// The row being read.
	order   []int    // order[k] is the column of the k-th key of the last row
	gen     uint64   // the row's number, to tell this row's marks in seen
	seen    []uint64 // seen[c] == gen when column c has its key in the row
	seenAt  []int    // seenAt[c] is the offset of column c's key
	ints    []int64  // ints[c] is column c's value, for non-string columns
	strs    []string // strs[c] is column c's value, for string columns
	arena   []byte   // the text of the row's string and date values
	pend    []pending
	scratch []byte // a key with escapes, unescaped
}

// pending is a string or date value read but not yet checked: its text is
// arena[a0:a1] and it starts at offset pos of the line.
type pending struct {
	col, pos, a0, a1 int
}

// NewReader returns a Reader of the JSON Lines in r, each an object with a
// key for every column of s (see the package doc). It reads nothing yet.
// It checks s with Validate and keeps it: the caller must not change s
// while the Reader is in use.
func NewReader(r io.Reader, s *schema.Schema, opts Options) (*Reader, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("jsonl: BatchSize is %d, want 0 (the default) or more", opts.BatchSize)
	}
	if opts.MaxLine < 0 {
		return nil, fmt.Errorf("jsonl: MaxLine is %d, want 0 (the default) or more", opts.MaxLine)
	}
	n := len(s.Columns)
	rd := &Reader{
		file: opts.File, batch: opts.BatchSize, maxLine: opts.MaxLine,
		schema: s, cols: s.Columns, index: make(map[string]int, n),
		br:   bufio.NewReaderSize(r, bufSize),
		seen: make([]uint64, n), seenAt: make([]int, n),
		ints: make([]int64, n), strs: make([]string, n),
	}
	if rd.file == "" {
		rd.file = "input"
	}
	if rd.batch == 0 {
		rd.batch = DefaultBatchSize
	}
	if rd.maxLine == 0 {
		rd.maxLine = DefaultMaxLine
	}
	for i, c := range s.Columns {
		rd.index[c.Name] = i
	}
	return rd, nil
}

var bom = []byte{0xef, 0xbb, 0xbf}

// readLine returns the next line without the \n or \r\n that ends it, and
// io.EOF after the last. The line is valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	if r.eof {
		return nil, io.EOF
	}
	r.line++
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Gather the line, but no more of it than can be within MaxLine:
		// its \r\n and a byte order mark do not count.
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(r.long)-len(bom)-1 > r.maxLine {
				return nil, r.tooLong()
			}
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("jsonl: reading %s at line %d: %w", r.file, r.line, err)
	}
	if r.line == 1 {
		line = bytes.TrimPrefix(line, bom)
	}
	if err == nil {
		line = line[:len(line)-1]
	} else {
		r.eof = true
		if len(line) == 0 {
			return nil, io.EOF // the file is empty or ends with a newline
		}
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > r.maxLine {
		return nil, r.tooLong()
	}
	return line, nil
}

func (r *Reader) tooLong() *Error {
	return &Error{File: r.file, Line: r.line, Column: 1,
		Msg: fmt.Sprintf("line is longer than %d bytes", r.maxLine)}
}

// fill appends rows to b until it holds upTo rows (then it returns nil), the
// input ends (io.EOF) or an error.
func (r *Reader) fill(b *schema.Batch, upTo int) error {
	for b.Len < upTo {
		line, err := r.readLine()
		if err != nil {
			return err
		}
		if err := r.parseRow(line); err != nil {
			return err
		}
		for c := range r.cols {
			vec := &b.Cols[c]
			if r.cols[c].Type == schema.String {
				vec.Strs = append(vec.Strs, r.strs[c])
			} else {
				vec.Ints = append(vec.Ints, r.ints[c])
			}
		}
		b.Len++
		r.rows++
	}
	return nil
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

// Rows returns the number of rows read and converted so far. After an
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
