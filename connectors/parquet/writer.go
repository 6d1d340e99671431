package parquet

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/xjdata/cleanroom/schema"
)

// DefaultRowGroupRows is the most rows in a row group that Write writes
// when WriteOptions.RowGroupRows is zero.
const DefaultRowGroupRows = 1 << 20

// WriteOptions configures Write.
type WriteOptions struct {
	// RowGroupRows is the most rows in a row group. Defaults to
	// DefaultRowGroupRows; must not be negative.
	RowGroupRows int
	// Compression is the codec of the pages: "snappy", "zstd", "gzip" or
	// "none" (any case). Defaults to "snappy", the codec Parquet writers
	// use by default.
	Compression string
}

var codecs = map[string]compress.Compression{
	"snappy": compress.Codecs.Snappy,
	"zstd":   compress.Codecs.Zstd,
	"gzip":   compress.Codecs.Gzip,
	"none":   compress.Codecs.Uncompressed,
}

// Write writes the batches of s that batches yields to w as a Parquet
// file, the form the reader takes: one required column for each column of
// s, in order, int as INT64, date as INT32 (DATE), string as BYTE_ARRAY
// (STRING) and bool as BOOLEAN, with statistics, dictionary encoding where
// it pays, and pages of about 1 MiB. It writes a row group each time it
// has RowGroupRows rows, and the rest at the end, and then the footer. It
// keeps one row group in memory, compressed, and nothing of the batches
// once written. Empty batches are allowed, and no batches at all make a
// file of no rows.
//
// Every batch must have the columns of s, with their types; Write does not
// check the values against s's bounds or max_len (so that tests can write
// files the reader must refuse), but a date must fit an INT32. It stops at
// the first batch in error, and returns the error; what it has written is
// then not a Parquet file.
func Write(w io.Writer, s *schema.Schema, batches func(yield func(*schema.Batch) bool), opts WriteOptions) (err error) {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	if opts.RowGroupRows < 0 {
		return fmt.Errorf("parquet: RowGroupRows is %d, want 0 (the default) or more", opts.RowGroupRows)
	}
	if opts.RowGroupRows == 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.Compression == "" {
		opts.Compression = "snappy"
	}
	codec, ok := codecs[strings.ToLower(opts.Compression)]
	if !ok {
		return fmt.Errorf("parquet: unknown Compression %q (want snappy, zstd, gzip or none)", opts.Compression)
	}
	root, err := fileSchema(s)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parquet: writing: %v", p)
		}
	}()
	props := pq.NewWriterProperties(pq.WithCompression(codec), pq.WithStats(true), pq.WithDictionaryDefault(true))
	fw, err := file.NewParquetWriterWithError(w, root, file.WithWriterProps(props))
	if err != nil {
		return fmt.Errorf("parquet: writing: %w", err)
	}
	wr := &writer{s: s, fw: fw, max: opts.RowGroupRows}
	for b := range batches {
		if err = wr.write(b); err != nil {
			break
		}
	}
	if err == nil && wr.rg != nil {
		err = wr.closeRowGroup()
	}
	if err != nil {
		// Close the writer, for its resources; the file is lost anyway.
		_ = fw.Close()
		return err
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("parquet: writing: %w", err)
	}
	return nil
}

// fileSchema returns the Parquet schema Write writes s as.
func fileSchema(s *schema.Schema) (*pqschema.GroupNode, error) {
	fields := make(pqschema.FieldList, len(s.Columns))
	for i, c := range s.Columns {
		var (
			n   *pqschema.PrimitiveNode
			err error
		)
		switch c.Type {
		case schema.Int:
			n, err = pqschema.NewPrimitiveNodeLogical(c.Name, pq.Repetitions.Required, nil, pq.Types.Int64, -1, -1)
		case schema.Date:
			n, err = pqschema.NewPrimitiveNodeLogical(c.Name, pq.Repetitions.Required, pqschema.DateLogicalType{}, pq.Types.Int32, -1, -1)
		case schema.String:
			n, err = pqschema.NewPrimitiveNodeLogical(c.Name, pq.Repetitions.Required, pqschema.StringLogicalType{}, pq.Types.ByteArray, -1, -1)
		case schema.Bool:
			n, err = pqschema.NewPrimitiveNodeLogical(c.Name, pq.Repetitions.Required, nil, pq.Types.Boolean, -1, -1)
		}
		if err != nil {
			return nil, fmt.Errorf("parquet: column %s: %w", c.Name, err)
		}
		fields[i] = n
	}
	root, err := pqschema.NewGroupNode("schema", pq.Repetitions.Required, fields, -1)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	return root, nil
}

// writer writes batches into row groups of at most max rows.
type writer struct {
	s    *schema.Schema
	fw   *file.Writer
	max  int
	rg   file.BufferedRowGroupWriter // nil between row groups
	rows int                         // the rows in rg
	nb   int                         // the batches written, for errors

	i32   []int32
	bools []bool
	bas   []pq.ByteArray
}

var errBatch = errors.New("parquet: batch does not match the schema")

func (w *writer) write(b *schema.Batch) error {
	w.nb++
	if err := w.check(b); err != nil {
		return fmt.Errorf("%w: batch %d: %s", errBatch, w.nb, err)
	}
	for off := 0; off < b.Len; {
		if w.rg == nil {
			rg, err := w.fw.AppendBufferedRowGroupChecked()
			if err != nil {
				return fmt.Errorf("parquet: writing: %w", err)
			}
			w.rg, w.rows = rg, 0
		}
		k := min(b.Len-off, w.max-w.rows)
		for i := range w.s.Columns {
			if err := w.writeColumn(i, &b.Cols[i], off, off+k); err != nil {
				return err
			}
		}
		off += k
		w.rows += k
		if w.rows == w.max {
			if err := w.closeRowGroup(); err != nil {
				return err
			}
		}
	}
	return nil
}

// check checks that b has the columns of w.s and a value for every row
// of each.
func (w *writer) check(b *schema.Batch) error {
	if b == nil {
		return errors.New("nil batch")
	}
	if len(b.Cols) != len(w.s.Columns) {
		return fmt.Errorf("%d columns, want %d", len(b.Cols), len(w.s.Columns))
	}
	for i, c := range w.s.Columns {
		v := &b.Cols[i]
		if v.Type != c.Type {
			return fmt.Errorf("column %s: type %q, want %q", c.Name, v.Type, c.Type)
		}
		if v.Len() != b.Len {
			return fmt.Errorf("column %s: %d values in a batch of %d rows", c.Name, v.Len(), b.Len)
		}
		if c.Type == schema.Date {
			for _, d := range v.Ints {
				if d < math.MinInt32 || d > math.MaxInt32 {
					return fmt.Errorf("column %s: date %d does not fit an INT32", c.Name, d)
				}
			}
		}
	}
	return nil
}

// writeColumn writes the values [from, to) of v, column i.
func (w *writer) writeColumn(i int, v *schema.Vector, from, to int) error {
	cw, err := w.rg.Column(i)
	if err != nil {
		return fmt.Errorf("parquet: writing: %w", err)
	}
	switch cw := cw.(type) {
	case *file.Int64ColumnChunkWriter:
		_, err = cw.WriteBatch(v.Ints[from:to], nil, nil)
	case *file.Int32ColumnChunkWriter:
		w.i32 = w.i32[:0]
		for _, d := range v.Ints[from:to] {
			w.i32 = append(w.i32, int32(d))
		}
		_, err = cw.WriteBatch(w.i32, nil, nil)
	case *file.BooleanColumnChunkWriter:
		w.bools = w.bools[:0]
		for _, x := range v.Ints[from:to] {
			w.bools = append(w.bools, x != 0)
		}
		_, err = cw.WriteBatch(w.bools, nil, nil)
	case *file.ByteArrayColumnChunkWriter:
		w.bas = w.bas[:0]
		for _, s := range v.Strs[from:to] {
			w.bas = append(w.bas, pq.ByteArray(s))
		}
		_, err = cw.WriteBatch(w.bas, nil, nil)
	default:
		err = fmt.Errorf("no writer for column %d", i+1)
	}
	if err != nil {
		return fmt.Errorf("parquet: writing: %w", err)
	}
	return nil
}

func (w *writer) closeRowGroup() error {
	err := w.rg.Close()
	w.rg = nil
	if err != nil {
		return fmt.Errorf("parquet: writing: %w", err)
	}
	return nil
}
