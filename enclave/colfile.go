package enclave

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unsafe"

	"github.com/xjdata/cleanroom/schema"
)

// The columnar form of stored rows: what the age ciphertext of a stored
// upload holds once ingested (older uploads hold their canonical CSV,
// which Load still reads). It is the node's own format, written only by
// Ingest and read only by Load, inside an authenticated age stream: its
// reader checks structure and limits, not values, which Ingest checked.
//
//	magic "CRCOLS1\n"
//	uvarint   number of columns, then one byte per column: its type (i, s, b, d)
//	blocks:   uvarint rows (≥ 1, at most colBlockRows), then per column:
//	            int, bool, date: rows × 8 bytes, little-endian int64
//	            string: rows × 4 bytes, little-endian uint32 lengths, then
//	                    the bytes of the values, one after the other
//	end:      uvarint 0, then uvarint the total number of rows
//
// Loading it is decryption and copying: strings land in one allocation
// (an arena) per column and block, which Columns.Wipe zeroes.
const colMagic = "CRCOLS1\n"

// colBlockRows is the most rows of a block.
const colBlockRows = 1 << 16

// colMaxArena bounds the bytes of one string column in one block.
const colMaxArena = 256 << 20

var errColFormat = errors.New("not a valid stored column file")

// typeCode is a column type's byte in the header.
func typeCode(t schema.Type) byte {
	switch t {
	case schema.Int:
		return 'i'
	case schema.String:
		return 's'
	case schema.Bool:
		return 'b'
	case schema.Date:
		return 'd'
	}
	return 0
}

// colWriter writes batches of a schema in the columnar form.
type colWriter struct {
	w    *bufio.Writer
	s    *schema.Schema
	rows int64
	buf  []byte
}

func newColWriter(w io.Writer, s *schema.Schema) (*colWriter, error) {
	cw := &colWriter{w: bufio.NewWriterSize(w, 1<<20), s: s}
	hdr := append([]byte(colMagic), binary.AppendUvarint(nil, uint64(len(s.Columns)))...)
	for _, c := range s.Columns {
		code := typeCode(c.Type)
		if code == 0 {
			return nil, fmt.Errorf("enclave: column %s has type %q", c.Name, c.Type)
		}
		hdr = append(hdr, code)
	}
	_, err := cw.w.Write(hdr)
	return cw, err
}

// write appends a batch, in blocks of at most colBlockRows rows.
func (cw *colWriter) write(b *schema.Batch) error {
	for lo := 0; lo < b.Len; lo += colBlockRows {
		hi := min(lo+colBlockRows, b.Len)
		cw.buf = binary.AppendUvarint(cw.buf[:0], uint64(hi-lo))
		for i := range cw.s.Columns {
			v := &b.Cols[i]
			if v.Type != schema.String {
				for _, x := range v.Ints[lo:hi] {
					cw.buf = binary.LittleEndian.AppendUint64(cw.buf, uint64(x))
				}
				continue
			}
			total := 0
			for _, s := range v.Strs[lo:hi] {
				cw.buf = binary.LittleEndian.AppendUint32(cw.buf, uint32(len(s)))
				total += len(s)
			}
			if total > colMaxArena {
				return fmt.Errorf("enclave: column %s: %d bytes of strings in %d rows", cw.s.Columns[i].Name, total, hi-lo)
			}
			for _, s := range v.Strs[lo:hi] {
				cw.buf = append(cw.buf, s...)
			}
		}
		if _, err := cw.w.Write(cw.buf); err != nil {
			return err
		}
		cw.rows += int64(hi - lo)
	}
	return nil
}

// close ends the file and flushes it.
func (cw *colWriter) close() error {
	end := binary.AppendUvarint([]byte{0}, uint64(cw.rows))
	if _, err := cw.w.Write(end); err != nil {
		return err
	}
	return cw.w.Flush()
}

// columns are rows loaded from the columnar form, with the arenas their
// strings live in.
type columns struct {
	batch  *schema.Batch
	arenas [][]byte
}

// wipe zeroes every value (the strings' bytes in place), so that the
// plaintext does not outlive its use in memory.
func (c *columns) wipe() {
	for _, a := range c.arenas {
		clear(a)
	}
	for i := range c.batch.Cols {
		clear(c.batch.Cols[i].Ints)
	}
}

// colBlocks gathers the rows of one or more files (or batches) of a
// schema into columns. Given the number of rows to expect (reserve), it
// allocates each column once at its final size and copies each value into
// place once; without, the columns grow as they fill.
type colBlocks struct {
	s      *schema.Schema
	cols   []schema.Vector
	rows   int
	arenas [][]byte
}

func newColBlocks(s *schema.Schema) *colBlocks {
	cb := &colBlocks{s: s, cols: make([]schema.Vector, len(s.Columns))}
	for i, c := range s.Columns {
		cb.cols[i].Type = c.Type
	}
	return cb
}

// reserve makes room for n rows in every column.
func (cb *colBlocks) reserve(n int) {
	for i := range cb.cols {
		v := &cb.cols[i]
		if v.Type == schema.String {
			v.Strs = slices.Grow(v.Strs, n)
		} else {
			v.Ints = slices.Grow(v.Ints, n)
		}
	}
}

// add appends a batch's rows.
func (cb *colBlocks) add(b *schema.Batch) {
	for i := range b.Cols {
		cb.cols[i].Ints = append(cb.cols[i].Ints, b.Cols[i].Ints...)
		cb.cols[i].Strs = append(cb.cols[i].Strs, b.Cols[i].Strs...)
	}
	cb.rows += b.Len
}

// columns returns the rows gathered.
func (cb *colBlocks) columns() *columns {
	return &columns{batch: &schema.Batch{Schema: cb.s, Cols: cb.cols, Len: cb.rows}, arenas: cb.arenas}
}

// wipe zeroes what has been gathered, when it is given up.
func (cb *colBlocks) wipe() { cb.columns().wipe() }

// isColFile reports whether a plaintext starts with the columnar magic.
func isColFile(head []byte) bool { return bytes.HasPrefix(head, []byte(colMagic)) }

// readColumns reads the columnar form of rows of s from r into blocks.
func readColumns(r io.Reader, s *schema.Schema, into *colBlocks) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<20)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("enclave: %w: "+format, append([]any{errColFormat}, args...)...)
	}
	magic := make([]byte, len(colMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != colMagic {
		return fail("no magic")
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n != uint64(len(s.Columns)) {
		return fail("%d columns, the schema has %d", n, len(s.Columns))
	}
	for i, c := range s.Columns {
		code, err := br.ReadByte()
		if err != nil || code != typeCode(c.Type) {
			return fail("column %d (%s) is not of the schema's type %s", i, c.Name, c.Type)
		}
	}
	var total uint64
	scratch := make([]byte, 8*colBlockRows)
	for {
		rows, err := binary.ReadUvarint(br)
		if err != nil {
			return fail("truncated block header")
		}
		if rows == 0 {
			break
		}
		if rows > colBlockRows {
			return fail("a block of %d rows (at most %d)", rows, colBlockRows)
		}
		for i := range s.Columns {
			if s.Columns[i].Type != schema.String {
				raw := scratch[:8*rows]
				if _, err := io.ReadFull(br, raw); err != nil {
					return fail("truncated column %s", s.Columns[i].Name)
				}
				v := &into.cols[i]
				for j := 0; j < len(raw); j += 8 {
					v.Ints = append(v.Ints, int64(binary.LittleEndian.Uint64(raw[j:])))
				}
				clear(raw)
				continue
			}
			lens := scratch[:4*rows]
			if _, err := io.ReadFull(br, lens); err != nil {
				return fail("truncated column %s", s.Columns[i].Name)
			}
			sum := 0
			for j := 0; j < len(lens); j += 4 {
				sum += int(binary.LittleEndian.Uint32(lens[j:]))
				if sum > colMaxArena {
					return fail("column %s holds more than %d bytes in a block", s.Columns[i].Name, colMaxArena)
				}
			}
			arena := make([]byte, sum)
			if _, err := io.ReadFull(br, arena); err != nil {
				return fail("truncated column %s", s.Columns[i].Name)
			}
			into.arenas = append(into.arenas, arena)
			v := &into.cols[i]
			off := 0
			for j := 0; j < len(lens); j += 4 {
				l := int(binary.LittleEndian.Uint32(lens[j:]))
				if l == 0 {
					v.Strs = append(v.Strs, "")
					continue
				}
				v.Strs = append(v.Strs, unsafe.String(&arena[off], l))
				off += l
			}
		}
		into.rows += int(rows)
		total += rows
	}
	want, err := binary.ReadUvarint(br)
	if err != nil || want != total {
		return fail("the file says %d rows, its blocks hold %d", want, total)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return fail("data after the end")
	}
	return nil
}
