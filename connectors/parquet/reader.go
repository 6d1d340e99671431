package parquet

import (
	"fmt"
	"io"
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
	// File is the name errors give for the input, such as "loans.parquet".
	// Defaults to "input".
	File string
	// BatchSize is the most rows Next returns at once. Defaults to
	// DefaultBatchSize; must not be negative.
	BatchSize int
}

// Reader reads a Parquet file into batches of a schema. Create one with
// NewReader. Not thread-safe.
type Reader struct {
	src    *source
	batch  int
	schema *schema.Schema
	cols   []*column // in the order of the file's columns
	window int       // the rows of a window

	g      int   // the row group being read, 0-based; -1 before the first
	rgRows int64 // the rows of row group g
	rgRead int64 // the rows of row group g read into windows so far
	before int64 // the rows of the row groups before g

	// The window last read: its rows [pos, good) are still to be handed
	// out, and werr is the error of row good, or nil if good is the end.
	pos, good int
	werr      error

	rows    int64
	batches *connectors.Batches // made by the first Next
}

var _ connectors.Reader = (*Reader)(nil)

// NewReader returns a Reader of the Parquet file of size bytes in r, whose
// columns must be those of s (see the package doc). It reads the file's
// footer and checks its columns against s; an error about them is an
// *Error. It reads no values yet. It checks s with Validate and keeps it:
// the caller must not change s while the Reader is in use.
func NewReader(r io.ReaderAt, size int64, s *schema.Schema, opts Options) (*Reader, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("parquet: BatchSize is %d, want 0 (the default) or more", opts.BatchSize)
	}
	if opts.File == "" {
		opts.File = "input"
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	src, err := open(r, size, opts.File)
	if err != nil {
		return nil, err
	}
	return newReader(src, s, opts.BatchSize, false)
}

// newReader returns a Reader of the columns of s in src. Unless partial,
// every column of the file must be one of s.
func newReader(src *source, s *schema.Schema, batch int, partial bool) (*Reader, error) {
	rd := &Reader{src: src, batch: batch, schema: s, g: -1, window: windowRows(s)}
	seen := make([]bool, len(s.Columns))
	for k := range src.fields {
		f := &src.fields[k]
		fail := func(field, format string, args ...any) error {
			return &Error{File: src.name, Column: f.pos, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		i := s.Index(f.name)
		switch {
		case i < 0 && partial:
			continue
		case i < 0:
			return nil, fail("", "unknown column %s in the file (not a column of the schema)", connectors.Quote(f.name))
		case seen[i]:
			return nil, fail("", "duplicate column %q in the file", f.name)
		}
		seen[i] = true
		col := &s.Columns[i]
		if f.problem != "" {
			return nil, fail(col.Name, "%s", f.problem)
		}
		if f.kind.typ() != col.Type {
			return nil, fail(col.Name, "Parquet type %s cannot hold %s column (want %s)", f.desc, article(col.Type), want(col.Type))
		}
		rd.cols = append(rd.cols, newColumn(col, i, f, rd.window))
	}
	var missing []string
	for i, ok := range seen {
		if !ok {
			missing = append(missing, strconv.Quote(s.Columns[i].Name))
		}
	}
	switch len(missing) {
	case 0:
		return rd, nil
	case 1:
		return nil, &Error{File: src.name, Msg: fmt.Sprintf("missing column %s in the file", missing[0])}
	}
	return nil, &Error{File: src.name, Msg: fmt.Sprintf("missing columns %s in the file", strings.Join(missing, ", "))}
}

// article returns the type t with "a" or "an" before it.
func article(t schema.Type) string {
	if t == schema.Int {
		return "an int"
	}
	return "a " + string(t)
}

// fill appends rows to b until it holds upTo rows (then it returns nil), the
// input ends (io.EOF) or an error.
func (r *Reader) fill(b *schema.Batch, upTo int) error {
	for b.Len < upTo {
		if r.pos == r.good {
			if r.werr != nil {
				return r.werr
			}
			if err := r.advance(); err != nil {
				return err
			}
			continue
		}
		k := min(upTo-b.Len, r.good-r.pos)
		for _, c := range r.cols {
			vec := &b.Cols[c.idx]
			if c.strs != nil {
				vec.Strs = append(vec.Strs, c.strs[r.pos:r.pos+k]...)
			} else {
				vec.Ints = append(vec.Ints, c.ints[r.pos:r.pos+k]...)
			}
		}
		r.pos += k
		b.Len += k
		r.rows += int64(k)
	}
	return nil
}

// advance reads the next window of rows, opening the next row group when
// the last is done, and returns io.EOF after the last row group.
func (r *Reader) advance() (err error) {
	var cur *column // the column being read, for a panic
	defer func() {
		if p := recover(); p != nil {
			e := &Error{RowGroup: r.g + 1, Msg: "corrupt column chunk: " + libMsg(fmt.Errorf("the Parquet library failed: %v", p))}
			if cur != nil {
				e.Column, e.Field = cur.f.pos, cur.col.Name
			}
			err = r.src.fail(e)
		}
	}()
	for r.rgRead == r.rgRows {
		r.closeColumns()
		if r.g+1 == len(r.src.rows) {
			return io.EOF
		}
		r.g++
		r.before += r.rgRows
		r.rgRows, r.rgRead = r.src.rows[r.g], 0
		if r.rgRows == 0 {
			continue
		}
		rg := r.src.pf.RowGroup(r.g)
		for _, c := range r.cols {
			cur = c
			c.stop, c.stopFault = r.src.scanChunk(r.g, c.f)
			if c.stopFault != nil && c.stop == 0 {
				continue // the library is not to read it at all
			}
			rd, err := rg.Column(c.f.leaf)
			if err != nil {
				return r.src.fail(&Error{RowGroup: r.g + 1, Column: c.f.pos, Field: c.col.Name,
					Msg: "corrupt column chunk: " + libMsg(err), Err: err})
			}
			c.rd = rd
		}
	}

	n := int(min(int64(r.window), r.rgRows-r.rgRead))
	start := r.rgRead
	var first *fault
	var at *column
	for _, c := range r.cols {
		cur = c
		// Read no further than the pages scanChunk let through.
		k := int(max(0, min(int64(n), c.stop-start)))
		f := c.read(k)
		if f == nil && k < n {
			f = &fault{row: k, msg: c.stopFault.msg, err: c.stopFault.err}
		}
		if f != nil && (first == nil || f.row < first.row) {
			first, at = f, c
		}
	}
	cur = nil
	r.rgRead += int64(n)
	r.pos, r.good, r.werr = 0, n, nil
	if first != nil {
		row := start + int64(first.row) + 1
		r.good = first.row
		r.werr = r.src.fail(&Error{RowGroup: r.g + 1, Row: row, Ordinal: r.before + row,
			Column: at.f.pos, Field: at.col.Name, Msg: first.msg, Err: first.err})
		return nil
	}
	if r.rgRead == r.rgRows {
		// Every column chunk must end with the row group.
		for _, c := range r.cols {
			cur = c
			if c.rd.HasNext() {
				r.werr = r.src.fail(&Error{RowGroup: r.g + 1, Column: c.f.pos, Field: c.col.Name,
					Msg: fmt.Sprintf("column chunk holds more values than the row group's %d rows", r.rgRows)})
				return nil
			}
			if err := c.rd.Err(); err != nil {
				r.werr = r.src.fail(&Error{RowGroup: r.g + 1, Column: c.f.pos, Field: c.col.Name,
					Msg: "corrupt column chunk: " + libMsg(err), Err: err})
				return nil
			}
		}
	}
	return nil
}

// closeColumns closes the column chunk readers of the row group read.
func (r *Reader) closeColumns() {
	for _, c := range r.cols {
		if c.rd != nil {
			_ = c.rd.Close()
			c.rd = nil
		}
	}
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

// TotalRows returns the number of rows of the file, as its footer says and
// its row groups agree: what Rows counts once the file is read whole,
// unless an error stops the reading first. Known before any row is read,
// it lets a caller refuse a file of too many rows before reading it.
func (r *Reader) TotalRows() int64 { return r.src.meta.GetNumRows() }

// ReadAll reads the whole of the file as one batch. See NewReader.
func ReadAll(r io.ReaderAt, size int64, s *schema.Schema, opts Options) (*schema.Batch, error) {
	rd, err := NewReader(r, size, s, opts)
	if err != nil {
		return nil, err
	}
	return connectors.ReadAll(connectors.FillFunc(rd.fill), s, rd.batch)
}
