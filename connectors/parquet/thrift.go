package parquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/apache/thrift/lib/go/thrift"
)

// The Parquet library trusts some numbers of a file's metadata with its
// memory: it makes room for as many schema children, and as many
// dictionary entries, as the file says there are, so that a file of a few
// bytes can make the program run out of memory (which is not a panic: the
// program dies). This file reads those numbers first, with the same Thrift
// compact protocol and the same rules as the library's generated code
// (fields matched by id and type, others skipped, the last of a repeated
// field kept), so that the reader refuses such a file before the library
// sees it.

// maxSchemaDepth is the deepest nesting of groups the reader accepts in a
// file's schema.
const maxSchemaDepth = 64

// readStruct reads a Thrift struct, calling field for each of its fields:
// field reads the field and returns true, or returns false to have it
// skipped.
func readStruct(ctx context.Context, p thrift.TProtocol, field func(id int16, t thrift.TType) (bool, error)) error {
	if _, err := p.ReadStructBegin(ctx); err != nil {
		return err
	}
	for {
		_, t, id, err := p.ReadFieldBegin(ctx)
		if err != nil {
			return err
		}
		if t == thrift.STOP {
			break
		}
		ok, err := field(id, t)
		if err != nil {
			return err
		}
		if !ok {
			if err := p.Skip(ctx, t); err != nil {
				return err
			}
		}
		if err := p.ReadFieldEnd(ctx); err != nil {
			return err
		}
	}
	return p.ReadStructEnd(ctx)
}

func protocol(b []byte) (thrift.TProtocol, *thrift.TMemoryBuffer) {
	buf := &thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(b)}
	return thrift.NewTCompactProtocolConf(buf, &thrift.TConfiguration{}), buf
}

// checkSchema reads the schema elements of the Thrift FileMetaData in
// footer and checks that their numbers of children make a tree no deeper
// than maxSchemaDepth, in which no group claims more children than there
// are elements after it. A footer it cannot read is left to the library to
// refuse.
func checkSchema(footer []byte) error {
	ctx := context.Background()
	p, _ := protocol(footer)
	var children []int32
	err := readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
		if id != 2 || t != thrift.LIST {
			return false, nil
		}
		_, size, err := p.ReadListBegin(ctx)
		if err != nil {
			return true, err
		}
		children = children[:0]
		for range size {
			var n int32
			err := readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
				if id != 5 || t != thrift.I32 {
					return false, nil
				}
				v, err := p.ReadI32(ctx)
				n = v
				return true, err
			})
			if err != nil {
				return true, err
			}
			children = append(children, n)
		}
		return true, p.ReadListEnd(ctx)
	})
	if err != nil {
		return nil // not Thrift: the library fails on it too, and says why
	}

	// Walk the tree as the library builds it: each element with children
	// is a group of the elements that follow.
	pos := 0
	var walk func(depth int) error
	walk = func(depth int) error {
		if pos == len(children) {
			return nil // the library says what is missing
		}
		i, n := pos, children[pos]
		pos++
		switch {
		case n < 0:
			return fmt.Errorf("schema element %d claims %d children", i+1, n)
		case int64(n) > int64(len(children)-pos):
			return fmt.Errorf("schema element %d claims %d children, but the schema has %d %s after it", i+1, n, len(children)-pos, plural(len(children)-pos, "element"))
		case n > 0 && depth > maxSchemaDepth:
			return fmt.Errorf("schema is nested more than %d levels deep", maxSchemaDepth)
		}
		for range n {
			if err := walk(depth + 1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(0)
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// The page types and encodings of the Parquet format.
const (
	pageData       = 0
	pageIndex      = 1
	pageDictionary = 2
	pageDataV2     = 3

	encPlain           = 0
	encPlainDictionary = 2
	encRLE             = 3
	encBitPacked       = 4
	encRLEDictionary   = 8
)

var encodingNames = map[int32]string{
	0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED", 5: "DELTA_BINARY_PACKED",
	6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT",
}

func encodingName(e int32) string {
	if s, ok := encodingNames[e]; ok {
		return s
	}
	return fmt.Sprintf("encoding %d", e)
}

// pageHeader is what the reader checks of a Thrift PageHeader.
type pageHeader struct {
	typ                      int32
	uncompressed, compressed int32
	hasType                  bool
	hasSizes                 int // bits 1 and 2: the two sizes are set
	data, dict, dataV2       *pageInfo
}

// pageInfo is what the reader checks of a DataPageHeader,
// DictionaryPageHeader or DataPageHeaderV2.
type pageInfo struct {
	numValues, numRows int32
	encoding           int32
	defEnc, repEnc     int32
}

var errHeader = errors.New("incomplete page header")

// parsePageHeader reads a Thrift PageHeader at the start of b, and returns
// it and its length.
func parsePageHeader(b []byte) (*pageHeader, int, error) {
	ctx := context.Background()
	p, buf := protocol(b)
	h := &pageHeader{}
	i32 := func(dst *int32) (bool, error) {
		v, err := p.ReadI32(ctx)
		*dst = v
		return true, err
	}
	sub := func(kind int32) (*pageInfo, error) {
		in := &pageInfo{}
		err := readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
			if t != thrift.I32 {
				return false, nil
			}
			switch {
			case id == 1:
				return i32(&in.numValues)
			case kind == pageDictionary && id == 2:
				return i32(&in.encoding)
			case kind == pageData && id == 2:
				return i32(&in.encoding)
			case kind == pageData && id == 3:
				return i32(&in.defEnc)
			case kind == pageData && id == 4:
				return i32(&in.repEnc)
			case kind == pageDataV2 && id == 3:
				return i32(&in.numRows)
			case kind == pageDataV2 && id == 4:
				return i32(&in.encoding)
			}
			return false, nil
		})
		return in, err
	}
	err := readStruct(ctx, p, func(id int16, t thrift.TType) (bool, error) {
		var err error
		switch {
		case id == 1 && t == thrift.I32:
			h.hasType = true
			return i32(&h.typ)
		case id == 2 && t == thrift.I32:
			h.hasSizes |= 1
			return i32(&h.uncompressed)
		case id == 3 && t == thrift.I32:
			h.hasSizes |= 2
			return i32(&h.compressed)
		case id == 5 && t == thrift.STRUCT:
			h.data, err = sub(pageData)
		case id == 7 && t == thrift.STRUCT:
			h.dict, err = sub(pageDictionary)
		case id == 8 && t == thrift.STRUCT:
			h.dataV2, err = sub(pageDataV2)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, 0, err
	}
	if !h.hasType || h.hasSizes != 3 {
		return nil, 0, errHeader
	}
	return h, len(b) - int(buf.RemainingBytes()), nil
}
