package parquet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// MaxPageSize is the largest page of a column chunk the reader accepts, in
// bytes, compressed and uncompressed: a page is read and decompressed
// whole. Writers make pages of about 1 MiB.
const MaxPageSize = 64 << 20

// streamBuffer is the size of the buffer each column chunk is read through.
const streamBuffer = 64 << 10

var (
	magic          = []byte("PAR1")
	magicEncrypted = []byte("PARE")
)

// kind is how the values of a file column become the values of a schema
// column.
type kind uint8

const (
	kNone   kind = iota // no schema type takes the column
	kInt32              // INT32, signed
	kInt8               // INT32 with INT(8, signed)
	kInt16              // INT32 with INT(16, signed)
	kUint8              // INT32 with INT(8, unsigned)
	kUint16             // INT32 with INT(16, unsigned)
	kUint32             // INT32 with INT(32, unsigned)
	kInt64              // INT64, signed
	kUint64             // INT64 with INT(64, unsigned)
	kDate               // INT32 with DATE
	kBool               // BOOLEAN
	kString             // BYTE_ARRAY with STRING or no logical type
)

// typ returns the schema type of the columns that take a file column of
// kind k.
func (k kind) typ() schema.Type {
	switch k {
	case kDate:
		return schema.Date
	case kBool:
		return schema.Bool
	case kString:
		return schema.String
	case kNone:
		return ""
	}
	return schema.Int
}

// want says what Parquet types a schema column of type t takes.
func want(t schema.Type) string {
	switch t {
	case schema.Int:
		return "INT32 or INT64, with an INT logical type or none"
	case schema.Date:
		return "INT32 with the DATE logical type"
	case schema.Bool:
		return "BOOLEAN"
	}
	return "BYTE_ARRAY, with the STRING logical type or none"
}

// field is one top-level column of a Parquet file.
type field struct {
	name     string
	pos      int    // 1-based position among the top-level columns
	leaf     int    // its index among the file's leaf columns
	kind     kind   // kNone when no schema type takes it
	desc     string // its Parquet type, for messages
	maxDef   int16  // 0 for a required column, 1 for an optional one
	problem  string // why no schema column can take it, when kind is kNone
	physical pq.Type
}

// source is an open Parquet file.
type source struct {
	name   string // for errors
	size   int64
	ra     *readerAt
	pf     *file.Reader
	meta   *metadata.FileMetaData
	fields []field
	rows   []int64 // rows[g] is the number of rows of row group g

	scratch []byte // for page headers
}

// readerAt passes reads on to r and keeps the first error other than
// io.EOF, so that a failed read can be told from a corrupt file.
type readerAt struct {
	r   io.ReaderAt
	err error
}

func (ra *readerAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := ra.r.ReadAt(p, off)
	if err != nil && err != io.EOF && ra.err == nil {
		ra.err = err
	}
	return n, err
}

// readErr returns the error to report for a failed read, or nil if no read
// has failed.
func (s *source) readErr() error {
	if s.ra.err != nil {
		return fmt.Errorf("parquet: reading %s: %w", s.name, s.ra.err)
	}
	return nil
}

// fail returns a read error if a read has failed, and e otherwise.
func (s *source) fail(e *Error) error {
	if err := s.readErr(); err != nil {
		return err
	}
	e.File = s.name
	return e
}

// open reads and checks the footer of the Parquet file of size bytes in r:
// that it is a Parquet file, the row counts, and the column chunk metadata
// of every row group. It does not check the columns against a schema.
func open(r io.ReaderAt, size int64, name string) (s *source, err error) {
	if size < 0 {
		return nil, fmt.Errorf("parquet: size is %d, want 0 or more", size)
	}
	s = &source{name: name, size: size, ra: &readerAt{r: r}}
	if err := s.checkMagic(); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, s.fail(&Error{Msg: "corrupt Parquet footer: " + libMsg(fmt.Errorf("%v", p))})
		}
	}()
	if err := s.checkFooter(); err != nil {
		return nil, err
	}
	props := pq.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled = true
	props.BufferSize = streamBuffer
	props.MaxCompressedPageSize = MaxPageSize
	props.MaxUncompressedPageSize = MaxPageSize
	s.pf, err = file.NewParquetReader(io.NewSectionReader(s.ra, 0, size), file.WithReadProps(props))
	if err != nil {
		return nil, s.fail(&Error{Msg: "corrupt Parquet footer: " + libMsg(err), Err: err})
	}
	s.meta = s.pf.MetaData()
	if err := s.readFields(); err != nil {
		return nil, err
	}
	if err := s.checkRowGroups(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkMagic checks that the file starts and ends with "PAR1".
func (s *source) checkMagic() error {
	if s.size == 0 {
		return &Error{File: s.name, Msg: "not a Parquet file (it is empty)"}
	}
	var head, tail [4]byte
	if s.size >= 4 {
		if _, err := s.ra.ReadAt(head[:], 0); err != nil && err != io.EOF {
			return s.readErr()
		}
		if _, err := s.ra.ReadAt(tail[:], s.size-4); err != nil && err != io.EOF {
			return s.readErr()
		}
	}
	switch {
	case s.size >= 4 && bytes.Equal(head[:], magicEncrypted) && bytes.Equal(tail[:], magicEncrypted):
		return &Error{File: s.name, Msg: "encrypted Parquet files are not supported"}
	case s.size >= 4 && bytes.Equal(head[:], magic) && !bytes.Equal(tail[:], magic):
		return &Error{File: s.name, Msg: `not a whole Parquet file: it starts with "PAR1" but does not end with it (was it cut short?)`}
	case s.size < 12 || !bytes.Equal(head[:], magic):
		return &Error{File: s.name, Msg: `not a Parquet file (it does not start and end with "PAR1")`}
	}
	return nil
}

// checkFooter checks the schema of the footer before the library reads it
// (see checkSchema). A footer whose length is not that of the file is left
// to the library to refuse.
func (s *source) checkFooter() error {
	var tail [8]byte
	if _, err := s.ra.ReadAt(tail[:], s.size-8); err != nil && err != io.EOF {
		return s.readErr()
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > s.size-12 {
		return nil
	}
	footer := make([]byte, n)
	if _, err := s.ra.ReadAt(footer, s.size-8-n); err != nil && err != io.EOF {
		return s.readErr()
	}
	if err := checkSchema(footer); err != nil {
		return &Error{File: s.name, Msg: "corrupt Parquet footer: " + libMsg(err)}
	}
	return nil
}

// readFields reads the top-level columns of the file's schema, and says
// which schema type takes each.
func (s *source) readFields() error {
	sc := s.meta.Schema
	root := sc.Root()
	leaf := 0
	for i := range root.NumFields() {
		n := root.Field(i)
		f := field{name: n.Name(), pos: i + 1, leaf: leaf}
		switch n := n.(type) {
		case *pqschema.GroupNode:
			f.desc, f.problem = groupProblem(n)
			leaf += leaves(n)
		case *pqschema.PrimitiveNode:
			leaf++
			f.physical = n.PhysicalType()
			f.desc = describe(n)
			switch n.RepetitionType() {
			case pq.Repetitions.Required:
			case pq.Repetitions.Optional:
				f.maxDef = 1
			case pq.Repetitions.Repeated:
				f.problem = "repeated Parquet column (a list of values); want one value per row"
			default:
				f.problem = "Parquet column of unknown repetition"
			}
			if f.problem == "" {
				f.kind = kindOf(n)
			}
		default:
			return &Error{File: s.name, Column: i + 1, Msg: "corrupt Parquet schema"}
		}
		if f.kind != kNone {
			if c := sc.Column(f.leaf); c.MaxDefinitionLevel() != f.maxDef || c.MaxRepetitionLevel() != 0 {
				return &Error{File: s.name, Column: i + 1, Msg: "corrupt Parquet schema"}
			}
		}
		s.fields = append(s.fields, f)
	}
	if leaf != sc.NumColumns() {
		return &Error{File: s.name, Msg: "corrupt Parquet schema"}
	}
	return nil
}

// leaves returns the number of leaf columns under n.
func leaves(n pqschema.Node) int {
	g, ok := n.(*pqschema.GroupNode)
	if !ok {
		return 1
	}
	k := 0
	for i := range g.NumFields() {
		k += leaves(g.Field(i))
	}
	return k
}

// groupProblem describes a group column and says why it cannot be read.
func groupProblem(g *pqschema.GroupNode) (desc, problem string) {
	desc = "group"
	switch g.LogicalType().(type) {
	case pqschema.ListLogicalType:
		desc = "LIST"
	case pqschema.MapLogicalType:
		desc = "MAP"
	case pqschema.VariantLogicalType:
		desc = "VARIANT"
	}
	return desc, "nested Parquet column (" + desc + "); want one value per row"
}

// kindOf says how the values of a primitive column become schema values,
// or kNone if they cannot.
func kindOf(n *pqschema.PrimitiveNode) kind {
	lt := n.LogicalType()
	none := lt == nil || lt.IsNone()
	switch n.PhysicalType() {
	case pq.Types.Boolean:
		if none {
			return kBool
		}
	case pq.Types.ByteArray:
		if _, ok := lt.(pqschema.StringLogicalType); ok || none {
			return kString
		}
	case pq.Types.Int32:
		if none {
			return kInt32
		}
		switch lt := lt.(type) {
		case pqschema.DateLogicalType:
			return kDate
		case pqschema.IntLogicalType:
			switch {
			case lt.BitWidth() == 8 && lt.IsSigned():
				return kInt8
			case lt.BitWidth() == 16 && lt.IsSigned():
				return kInt16
			case lt.BitWidth() == 32 && lt.IsSigned():
				return kInt32
			case lt.BitWidth() == 8:
				return kUint8
			case lt.BitWidth() == 16:
				return kUint16
			case lt.BitWidth() == 32:
				return kUint32
			}
		}
	case pq.Types.Int64:
		if none {
			return kInt64
		}
		if lt, ok := lt.(pqschema.IntLogicalType); ok && lt.BitWidth() == 64 {
			if lt.IsSigned() {
				return kInt64
			}
			return kUint64
		}
	}
	return kNone
}

// describe returns the Parquet type of n as the format's documentation
// names it: INT64, INT32 (DATE), BYTE_ARRAY (STRING), INT32 (INT(8,
// unsigned)).
func describe(n *pqschema.PrimitiveNode) string {
	var d string
	switch n.PhysicalType() {
	case pq.Types.Boolean:
		d = "BOOLEAN"
	case pq.Types.Int32:
		d = "INT32"
	case pq.Types.Int64:
		d = "INT64"
	case pq.Types.Int96:
		d = "INT96"
	case pq.Types.Float:
		d = "FLOAT"
	case pq.Types.Double:
		d = "DOUBLE"
	case pq.Types.ByteArray:
		d = "BYTE_ARRAY"
	case pq.Types.FixedLenByteArray:
		d = fmt.Sprintf("FIXED_LEN_BYTE_ARRAY(%d)", n.TypeLength())
	default:
		d = fmt.Sprintf("physical type %d", int(n.PhysicalType()))
	}
	lt := n.LogicalType()
	if lt == nil || lt.IsNone() {
		return d
	}
	var l string
	switch lt := lt.(type) {
	case pqschema.StringLogicalType:
		l = "STRING"
	case pqschema.DateLogicalType:
		l = "DATE"
	case pqschema.IntLogicalType:
		sign := "signed"
		if !lt.IsSigned() {
			sign = "unsigned"
		}
		l = fmt.Sprintf("INT(%d, %s)", lt.BitWidth(), sign)
	case pqschema.DecimalLogicalType:
		l = fmt.Sprintf("DECIMAL(%d, %d)", lt.Precision(), lt.Scale())
	case pqschema.TimestampLogicalType:
		l = "TIMESTAMP"
	case pqschema.TimeLogicalType:
		l = "TIME"
	case pqschema.EnumLogicalType:
		l = "ENUM"
	case pqschema.JSONLogicalType:
		l = "JSON"
	case pqschema.BSONLogicalType:
		l = "BSON"
	case pqschema.UUIDLogicalType:
		l = "UUID"
	case pqschema.IntervalLogicalType:
		l = "INTERVAL"
	case pqschema.Float16LogicalType:
		l = "FLOAT16"
	case pqschema.NullLogicalType:
		l = "UNKNOWN"
	case pqschema.GeometryLogicalType:
		l = "GEOMETRY"
	case pqschema.GeographyLogicalType:
		l = "GEOGRAPHY"
	default:
		l = "an unknown logical type"
	}
	return d + " (" + l + ")"
}

// checkRowGroups checks the row counts of the footer and the metadata of
// every column chunk, so that the reading of the pages can trust them.
func (s *source) checkRowGroups() error {
	nrg := s.pf.NumRowGroups()
	ncol := s.meta.Schema.NumColumns()
	s.rows = make([]int64, nrg)
	var total int64
	for g := range nrg {
		rg := s.meta.RowGroup(g)
		fail := func(f *field, format string, args ...any) error {
			e := &Error{RowGroup: g + 1, Msg: fmt.Sprintf(format, args...)}
			if f != nil {
				e.Column, e.Field = f.pos, f.name
			}
			return s.fail(e)
		}
		n := rg.NumRows()
		if n < 0 {
			return fail(nil, "corrupt row group metadata: %d rows", n)
		}
		if total+n < total {
			return fail(nil, "corrupt row group metadata: more than 2^63 rows in the file")
		}
		total += n
		s.rows[g] = n
		if rg.NumColumns() != ncol {
			return fail(nil, "corrupt row group metadata: %d column chunks for %d columns", rg.NumColumns(), ncol)
		}
		for i := range s.fields {
			f := &s.fields[i]
			if f.kind == kNone {
				continue // an error anyway, named when matched to a schema
			}
			cc, err := rg.ColumnChunk(f.leaf)
			if err != nil {
				return fail(f, "corrupt column chunk metadata: %s", libMsg(err))
			}
			if cc.FilePath() != "" {
				return fail(f, "column chunk is in another file (%s); want one self-contained file", connectors.Quote(cc.FilePath()))
			}
			if cc.CryptoMetadata() != nil {
				return fail(f, "column chunk is encrypted; encrypted Parquet files are not supported")
			}
			if _, err := compress.GetCodec(cc.Compression()); err != nil {
				return fail(f, "column chunk compressed with %s, which the reader does not take (want snappy, gzip, zstd, brotli, lz4_raw or none)", cc.Compression())
			}
			if cc.Type() != f.physical {
				return fail(f, "corrupt column chunk metadata: values of physical type %d in a %s column", int(cc.Type()), f.desc)
			}
			if cc.NumValues() != n {
				return fail(f, "column chunk holds %d values, the row group %d rows", cc.NumValues(), n)
			}
			if n == 0 {
				continue
			}
			start, length := s.chunkRange(cc)
			if start < int64(len(magic)) || length <= 0 || length > s.size-start {
				return fail(f, "corrupt column chunk metadata: %d bytes at offset %d in a file of %d bytes", length, start, s.size)
			}
		}
	}
	if total != s.meta.GetNumRows() {
		return s.fail(&Error{Msg: fmt.Sprintf("corrupt Parquet footer: %d rows in all, but its row groups hold %d", s.meta.GetNumRows(), total)})
	}
	return nil
}
