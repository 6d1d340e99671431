package parquet_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"strconv"
	"testing"

	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/apache/thrift/lib/go/thrift"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/schema"
)

// none is the children of an element with no num_children.
const none = math.MinInt32

// element is a SchemaElement of a crafted footer.
type element struct {
	name     string
	typ      int32 // physical type, or -1 for a group
	children int32 // none for none
}

// craftedFile returns a Parquet file of no data whose footer, written
// field by field, has the schema elems and numRows rows in no row group.
func craftedFile(t testing.TB, numRows int64, elems ...element) []byte {
	t.Helper()
	ctx := context.Background()
	buf := thrift.NewTMemoryBuffer()
	p := thrift.NewTCompactProtocolConf(buf, &thrift.TConfiguration{})
	must := func(err error) { require.NoError(t, err) }
	must(p.WriteStructBegin(ctx, "FileMetaData"))
	must(p.WriteFieldBegin(ctx, "version", thrift.I32, 1))
	must(p.WriteI32(ctx, 1))
	must(p.WriteFieldBegin(ctx, "schema", thrift.LIST, 2))
	must(p.WriteListBegin(ctx, thrift.STRUCT, len(elems)))
	for _, e := range elems {
		must(p.WriteStructBegin(ctx, "SchemaElement"))
		if e.typ >= 0 {
			must(p.WriteFieldBegin(ctx, "type", thrift.I32, 1))
			must(p.WriteI32(ctx, e.typ))
			must(p.WriteFieldBegin(ctx, "repetition_type", thrift.I32, 3))
			must(p.WriteI32(ctx, 0))
		}
		must(p.WriteFieldBegin(ctx, "name", thrift.STRING, 4))
		must(p.WriteString(ctx, e.name))
		if e.children != none {
			must(p.WriteFieldBegin(ctx, "num_children", thrift.I32, 5))
			must(p.WriteI32(ctx, e.children))
		}
		must(p.WriteFieldStop(ctx))
		must(p.WriteStructEnd(ctx))
	}
	must(p.WriteListEnd(ctx))
	must(p.WriteFieldBegin(ctx, "num_rows", thrift.I64, 3))
	must(p.WriteI64(ctx, numRows))
	must(p.WriteFieldBegin(ctx, "row_groups", thrift.LIST, 4))
	must(p.WriteListBegin(ctx, thrift.STRUCT, 0))
	must(p.WriteListEnd(ctx))
	must(p.WriteFieldStop(ctx))
	must(p.WriteStructEnd(ctx))
	must(p.Flush(ctx))
	footer := buf.Bytes()
	out := append([]byte("PAR1"), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// TestCraftedFooters reads footers no writer makes.
func TestCraftedFooters(t *testing.T) {
	const int64Type = 2
	s := fuzzSchema()
	for _, tc := range []struct {
		desc string
		data []byte
		err  string
	}{
		{"a valid footer", craftedFile(t, 0, element{"schema", -1, 1}, element{"n", int64Type, none}),
			`x.parquet: missing columns "name", "ok", "d" in the file`},
		{"a root of 2^31-1 children", craftedFile(t, 0, element{"schema", -1, 1<<31 - 1}, element{"n", int64Type, none}),
			"x.parquet: corrupt Parquet footer: schema element 1 claims 2147483647 children, but the schema has 1 element after it"},
		{"a group of 2^31-1 children", craftedFile(t, 0, element{"schema", -1, 2}, element{"g", -1, 1<<31 - 1}, element{"n", int64Type, none}),
			"x.parquet: corrupt Parquet footer: schema element 2 claims 2147483647 children, but the schema has 1 element after it"},
		{"a negative number of children", craftedFile(t, 0, element{"schema", -1, -5}, element{"n", int64Type, none}),
			"x.parquet: corrupt Parquet footer: schema element 1 claims -5 children"},
		{"rows in no row group", craftedFile(t, 10, element{"schema", -1, 1}, element{"n", int64Type, none}),
			"x.parquet: corrupt Parquet footer: 10 rows in all, but its row groups hold 0"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := parquet.ReadAll(bytes.NewReader(tc.data), int64(len(tc.data)), s, parquet.Options{File: "x.parquet"})
			require.EqualError(t, err, tc.err)
		})
	}
}

// TestEncodings reads files of every encoding arrow-go writes: PLAIN and
// dictionary encoding are taken, the DELTA encodings refused.
func TestEncodings(t *testing.T) {
	s := testSchema()
	want := batchOf(s, goodRows(0, 50)...)
	plain := writeWith(t, s, pq.NewWriterProperties(pq.WithDictionaryDefault(false)), want)
	got, err := readAll(plain, s, parquet.Options{})
	require.NoError(t, err)
	require.Equal(t, want.Cols, got.Cols)
	v2 := writeWith(t, s, pq.NewWriterProperties(pq.WithDataPageVersion(pq.DataPageV2), pq.WithCompression(compress.Codecs.Zstd)), want)
	got, err = readAll(v2, s, parquet.Options{})
	require.NoError(t, err)
	require.Equal(t, want.Cols, got.Cols)

	for _, tc := range []struct {
		enc pq.Encoding
		col string
		err string
	}{
		{pq.Encodings.DeltaBinaryPacked, "amount", "loans.parquet: row group 1, row 1 (row 1 of the file): column amount: page in the DELTA_BINARY_PACKED encoding, which the reader does not take (want PLAIN or dictionary encoding, or RLE for BOOLEAN)"},
		{pq.Encodings.DeltaLengthByteArray, "uscc", "loans.parquet: row group 1, row 1 (row 1 of the file): column uscc: page in the DELTA_LENGTH_BYTE_ARRAY encoding, which the reader does not take (want PLAIN or dictionary encoding, or RLE for BOOLEAN)"},
		{pq.Encodings.DeltaByteArray, "loan_id", "loans.parquet: row group 1, row 1 (row 1 of the file): column loan_id: page in the DELTA_BYTE_ARRAY encoding, which the reader does not take (want PLAIN or dictionary encoding, or RLE for BOOLEAN)"},
	} {
		data := writeWith(t, s, pq.NewWriterProperties(pq.WithDictionaryDefault(false), pq.WithEncodingFor(tc.col, tc.enc)), want)
		_, err := readAll(data, s, parquet.Options{File: "loans.parquet"})
		require.EqualError(t, err, tc.err)
	}
}

// writeWith writes b with arrow-go's low-level writer and props.
func writeWith(t testing.TB, s *schema.Schema, props *pq.WriterProperties, b *schema.Batch) []byte {
	t.Helper()
	fields := make(pqschema.FieldList, len(s.Columns))
	for i, c := range s.Columns {
		var err error
		switch c.Type {
		case schema.Int:
			fields[i] = pqschema.NewInt64Node(c.Name, pq.Repetitions.Required, -1)
		case schema.Bool:
			fields[i] = pqschema.NewBooleanNode(c.Name, pq.Repetitions.Required, -1)
		case schema.Date:
			fields[i], err = pqschema.NewPrimitiveNodeLogical(c.Name, pq.Repetitions.Required, pqschema.DateLogicalType{}, pq.Types.Int32, -1, -1)
		case schema.String:
			fields[i], err = pqschema.NewPrimitiveNodeLogical(c.Name, pq.Repetitions.Required, pqschema.StringLogicalType{}, pq.Types.ByteArray, -1, -1)
		}
		require.NoError(t, err)
	}
	root, err := pqschema.NewGroupNode("schema", pq.Repetitions.Required, fields, -1)
	require.NoError(t, err)
	var buf bytes.Buffer
	fw := file.NewParquetWriter(&buf, root, file.WithWriterProps(props))
	rg, err := fw.AppendRowGroupChecked()
	require.NoError(t, err)
	for i := range s.Columns {
		cw, err := rg.NextColumn()
		require.NoError(t, err)
		v := b.Cols[i]
		switch cw := cw.(type) {
		case *file.Int64ColumnChunkWriter:
			_, err = cw.WriteBatch(v.Ints, nil, nil)
		case *file.Int32ColumnChunkWriter:
			d := make([]int32, len(v.Ints))
			for k, x := range v.Ints {
				d[k] = int32(x)
			}
			_, err = cw.WriteBatch(d, nil, nil)
		case *file.BooleanColumnChunkWriter:
			d := make([]bool, len(v.Ints))
			for k, x := range v.Ints {
				d[k] = x != 0
			}
			_, err = cw.WriteBatch(d, nil, nil)
		case *file.ByteArrayColumnChunkWriter:
			d := make([]pq.ByteArray, len(v.Strs))
			for k, x := range v.Strs {
				d[k] = pq.ByteArray(x)
			}
			_, err = cw.WriteBatch(d, nil, nil)
		}
		require.NoError(t, err)
		require.NoError(t, cw.Close())
	}
	require.NoError(t, rg.Close())
	require.NoError(t, fw.Close())
	return buf.Bytes()
}

// TestDictionaryClaims patches a dictionary page header to claim more
// values than its bytes can hold (the library would make room for them
// all): the reader refuses it before the library reads it.
func TestDictionaryClaims(t *testing.T) {
	s := &schema.Schema{Columns: []schema.Column{{Name: "name", Type: schema.String}}}
	var rows []row
	for i := range 1000 {
		rows = append(rows, row{"n" + strconv.Itoa(i%100)})
	}
	data := write(t, s, parquet.WriteOptions{Compression: "none"}, batchOf(s, rows...))
	// The DictionaryPageHeader (field 7 of the PageHeader) and its num_values,
	// 100: field 1, I32, then the zigzag varint of 100.
	i := bytes.Index(data, []byte{0x4c, 0x15, 0xc8, 0x01}) + 1
	require.Positive(t, i)
	bad := bytes.Clone(data)
	bad[i+1], bad[i+2] = 0xfe, 0x7f // 8191
	_, err := readAll(bad, s, parquet.Options{File: "x.parquet"})
	require.EqualError(t, err, "x.parquet: row group 1, row 1 (row 1 of the file): column name: corrupt column chunk: dictionary page claims 8191 values in 690 bytes")
}
