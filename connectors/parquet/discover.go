package parquet

import (
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// MinDiscoveredMaxLen is the least max_len Discover gives a string column.
const MinDiscoveredMaxLen = 16

// DiscoverMaxLen is the longest string Discover accepts, in bytes.
const DiscoverMaxLen = 1 << 20

// Discover returns the schema of the Parquet file of size bytes in r: its
// columns, in order, with the schema type that takes each (see the package
// doc), the bounds of int and date columns, and the max_len of string
// columns. file is the name errors give; it defaults to "input".
//
// An int or date column's bounds are the least and greatest values in the
// file. They come from the statistics of the row groups' column chunks
// when every row group with rows has them (and the writer is not one known
// to write them wrong), and otherwise from reading the column. The bounds
// are what the file holds, not what its values could be: widen them before
// declaring the schema, or the next file may not fit. A string column's
// max_len is the length of its longest value rounded up to a power of two,
// and at least [MinDiscoveredMaxLen]; every string column is read for it.
// A column with no rows gets bounds [0, 0] (1970-01-01 for a date).
//
// Discover reads what it needs and no more, so a file it describes may
// still fail to read (a null in a column whose bounds came from
// statistics, or statistics that lie); but a file it refuses would fail to
// read with any schema, but for a string over [DiscoverMaxLen] bytes.
// Problems are the reader's: an *Error for the content, a wrapped error
// for a failed read, and also an *Error for a column name that is not a
// valid schema name ([schema.ValidName]) or a Parquet type no schema type
// takes. Reading a column applies the widest bounds a column of its type
// can have, so a value outside them is reported against those.
func Discover(r io.ReaderAt, size int64, file string) (s *schema.Schema, err error) {
	if file == "" {
		file = "input"
	}
	src, err := open(r, size, file)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, src.fail(&Error{Msg: "corrupt Parquet footer: " + libMsg(fmt.Errorf("%v", p))})
		}
	}()
	if len(src.fields) == 0 {
		return nil, &Error{File: file, Msg: "the file has no columns"}
	}
	if len(src.fields) > schema.MaxColumns {
		return nil, &Error{File: file, Msg: fmt.Sprintf("the file has %d columns, a schema at most %d", len(src.fields), schema.MaxColumns)}
	}
	s = &schema.Schema{Columns: make([]schema.Column, len(src.fields))}
	loose := &schema.Schema{}
	seen := map[string]bool{}
	for i := range src.fields {
		f := &src.fields[i]
		fail := func(field, format string, args ...any) error {
			return &Error{File: file, Column: f.pos, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		switch {
		case !schema.ValidName(f.name):
			return nil, fail("", "column name %s is not a valid schema name (want a lower-case letter, then up to 62 lower-case letters, digits or _)", connectors.Quote(f.name))
		case seen[f.name]:
			return nil, fail("", "duplicate column %q in the file", f.name)
		case f.problem != "":
			return nil, fail(f.name, "%s", f.problem)
		case f.kind == kNone:
			return nil, fail(f.name, "Parquet type %s fits no schema type (want INT32 or INT64 with an INT logical type or none, INT32 (DATE), BOOLEAN, or BYTE_ARRAY with the STRING logical type or none)", f.desc)
		}
		seen[f.name] = true
		c := &s.Columns[i]
		c.Name, c.Type = f.name, f.kind.typ()
		switch c.Type {
		case schema.Bool:
			continue
		case schema.String:
			loose.Columns = append(loose.Columns, schema.Column{Name: f.name, Type: schema.String, MaxLen: DiscoverMaxLen})
			continue
		}
		if lo, hi, ok := src.statsRange(f); ok {
			c.Min, c.Max = &lo, &hi
			continue
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if c.Type == schema.Date {
			lo, hi = schema.MinDate, schema.MaxDate
		}
		loose.Columns = append(loose.Columns, schema.Column{Name: f.name, Type: c.Type, Min: &lo, Max: &hi})
	}
	if len(loose.Columns) > 0 {
		if err := src.scan(s, loose); err != nil {
			return nil, err
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("parquet: discovered %w", err) // cannot be
	}
	return s, nil
}

// statsRange returns the least and greatest values of the int or date
// column f from the statistics of its column chunks, and whether every
// row group with rows has them. A column with no rows has the range [0, 0].
// Unsigned columns are not taken from statistics, nor statistics the
// Parquet library cannot decode.
func (src *source) statsRange(f *field) (lo, hi int64, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			lo, hi, ok = 0, 0, false
		}
	}()
	switch f.kind {
	case kInt32, kInt8, kInt16, kInt64, kDate:
	default:
		return 0, 0, false
	}
	found := false
	for g, n := range src.rows {
		if n == 0 {
			continue
		}
		cc, err := src.meta.RowGroup(g).ColumnChunk(f.leaf)
		if err != nil {
			return 0, 0, false
		}
		st, err := cc.Statistics()
		if err != nil || st == nil || !st.HasMinMax() {
			return 0, 0, false
		}
		var min, max int64
		switch st := st.(type) {
		case *metadata.Int32Statistics:
			min, max = int64(st.Min()), int64(st.Max())
		case *metadata.Int64Statistics:
			min, max = st.Min(), st.Max()
		default:
			return 0, 0, false
		}
		if min > max {
			return 0, 0, false
		}
		if !found || min < lo {
			lo = min
		}
		if !found || max > hi {
			hi = max
		}
		found = true
	}
	return lo, hi, true
}

// scan reads the columns of loose from the file and sets the bounds or
// max_len of the columns of s with their names from what they hold.
func (src *source) scan(s, loose *schema.Schema) error {
	rd, err := newReader(src, loose, DefaultBatchSize, true)
	if err != nil {
		return err
	}
	n := len(loose.Columns)
	los, his, lens := make([]int64, n), make([]int64, n), make([]int, n)
	seen := false
	for {
		b, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		for i, c := range loose.Columns {
			if c.Type == schema.String {
				for _, v := range b.Cols[i].Strs {
					lens[i] = max(lens[i], len(v))
				}
				continue
			}
			for k, v := range b.Cols[i].Ints {
				if (!seen && k == 0) || v < los[i] {
					los[i] = v
				}
				if (!seen && k == 0) || v > his[i] {
					his[i] = v
				}
			}
		}
		seen = seen || b.Len > 0
	}
	for i, c := range loose.Columns {
		out := &s.Columns[s.Index(c.Name)]
		if c.Type == schema.String {
			out.MaxLen = MinDiscoveredMaxLen
			if lens[i] > MinDiscoveredMaxLen {
				out.MaxLen = 1 << bits.Len(uint(lens[i]-1))
			}
			continue
		}
		lo, hi := los[i], his[i]
		out.Min, out.Max = &lo, &hi
	}
	return nil
}
