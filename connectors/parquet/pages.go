package parquet

import (
	"fmt"
	"io"

	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// maxPageHeader is the longest page header the Parquet library reads.
const maxPageHeader = 4 << 20

// chunkRange returns where the pages of a column chunk are, as the Parquet
// library reads them: from its dictionary page, if any, or first data
// page, for its compressed size (and up to 100 bytes more for files of
// the writers of PARQUET-816).
func (s *source) chunkRange(cc *metadata.ColumnChunkMetaData) (start, length int64) {
	start = cc.DataPageOffset()
	if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && start > cc.DictionaryPageOffset() {
		start = cc.DictionaryPageOffset()
	}
	return start, cc.TotalCompressedSize()
}

// padding returns the bytes the library reads after a column chunk of
// the writers of PARQUET-816.
func (s *source) padding(start, length int64) int64 {
	if !s.meta.WriterVersion().LessThan(metadata.Parquet816FixedVersion) {
		return 0
	}
	return max(0, min(100, s.size-(start+length)))
}

// readHeader reads the page header at off, before end, as the library
// does: in a view of up to 16 KiB, then twice that, up to 4 MiB (here it
// starts with 256 bytes: a header that fits in a view is read the same in
// a longer one). It returns io.EOF if off is end.
func (s *source) readHeader(off, end int64) (*pageHeader, int, error) {
	if off >= end {
		return nil, 0, io.EOF
	}
	var err error
	for size := int64(256); ; size = max(2*size, 16<<10) {
		n := min(size, maxPageHeader, end-off)
		if int64(cap(s.scratch)) < n {
			s.scratch = make([]byte, n)
		}
		view := s.scratch[:n]
		if _, rerr := s.ra.ReadAt(view, off); rerr != nil && rerr != io.EOF {
			return nil, 0, rerr
		}
		h, hlen, perr := parsePageHeader(view)
		if perr == nil {
			return h, hlen, nil
		}
		err = perr
		if n == end-off || n == maxPageHeader {
			return nil, 0, err
		}
	}
}

// maxValues returns the most values of physical type t that size bytes
// of PLAIN encoding can hold.
func maxValues(t pq.Type, size int32) int64 {
	switch t {
	case pq.Types.Boolean:
		return 8 * int64(size)
	case pq.Types.Int64:
		return int64(size) / 8
	}
	return int64(size) / 4 // INT32, and BYTE_ARRAY's 4-byte lengths
}

// dataEncoding reports whether the reader takes values of physical type t
// in encoding e. The DELTA encodings are refused: the library's decoders
// make room for as many values as a page's bytes claim.
func dataEncoding(t pq.Type, e int32) bool {
	switch e {
	case encPlain, encPlainDictionary, encRLEDictionary:
		return true
	case encRLE:
		return t == pq.Types.Boolean
	}
	return false
}

// scanChunk reads the page headers of column f's chunk in row group g
// before the library does, as the library goes through them, and returns
// the row of the row group (0-based) at which the first page the reader
// refuses starts, with why; or the row group's rows and nil.
func (s *source) scanChunk(g int, f *field) (int64, *fault) {
	rows := s.rows[g]
	cc, err := s.meta.RowGroup(g).ColumnChunk(f.leaf)
	if err != nil {
		return 0, &fault{msg: "corrupt column chunk metadata: " + libMsg(err), err: err}
	}
	start, length := s.chunkRange(cc)
	end := start + length + s.padding(start, length)
	off, seen := start, int64(0)
	for seen < cc.NumValues() {
		at := func(format string, args ...any) (int64, *fault) {
			return seen, &fault{msg: fmt.Sprintf(format, args...)}
		}
		h, hlen, err := s.readHeader(off, end)
		switch {
		case err == io.EOF:
			return at("column chunk ends before the end of the row group")
		case err != nil && s.ra.err != nil:
			return seen, &fault{msg: "read failed", err: err} // reported as a read error
		case err != nil:
			return at("corrupt column chunk: cannot read the page header at byte %d of the file: %s", off, libMsg(err))
		case h.compressed < 0 || h.uncompressed < 0:
			return at("corrupt column chunk: page of a negative size")
		case h.compressed > MaxPageSize || h.uncompressed > MaxPageSize:
			return at("page of %d bytes, %d uncompressed: over the %d bytes the reader takes", h.compressed, h.uncompressed, MaxPageSize)
		}
		next := off + int64(hlen) + int64(h.compressed)
		switch h.typ {
		case pageDictionary:
			d := h.dict
			switch {
			case d == nil:
				return at("corrupt column chunk: dictionary page without its header")
			case d.numValues < 0:
				return at("corrupt column chunk: dictionary page of %d values", d.numValues)
			case d.encoding != encPlain && d.encoding != encPlainDictionary:
				return at("corrupt column chunk: dictionary page in the %s encoding", encodingName(d.encoding))
			case int64(d.numValues) > maxValues(f.physical, h.uncompressed):
				return at("corrupt column chunk: dictionary page claims %d values in %d bytes", d.numValues, h.uncompressed)
			}
		case pageData, pageDataV2:
			d, n := h.data, int32(0)
			if h.typ == pageDataV2 {
				d = h.dataV2
			}
			switch {
			case d == nil:
				return at("corrupt column chunk: data page without its header")
			case !dataEncoding(f.physical, d.encoding):
				return at("page in the %s encoding, which the reader does not take (want PLAIN or dictionary encoding, or RLE for BOOLEAN)", encodingName(d.encoding))
			case h.typ == pageData && (d.defEnc != encRLE && d.defEnc != encBitPacked || d.repEnc != encRLE && d.repEnc != encBitPacked):
				return at("corrupt column chunk: levels in the %s or %s encoding", encodingName(d.defEnc), encodingName(d.repEnc))
			}
			n = d.numValues
			if h.typ == pageDataV2 {
				n = d.numRows
			}
			if n < 0 || d.numValues < 0 {
				return at("corrupt column chunk: data page of %d values", n)
			}
			seen += int64(n)
		case pageIndex:
			return at("corrupt column chunk: index page among the data pages")
		default:
			return at("corrupt column chunk: page of unknown type %d", h.typ)
		}
		off = next
	}
	return rows, nil
}
