package enclave

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/xjdata/cleanroom/schema"
)

// The columnar form of stored rows: what the age ciphertext of a stored
// upload holds once ingested (uploads stored before it hold their
// canonical CSV, which Load still reads). It is the node's own format,
// written only by Ingest and read only by Load, inside an authenticated
// age stream: its reader checks structure and limits, not values, which
// Ingest checked. Ingest writes the second version; Load reads both.
//
// CRCOLS2: string columns dictionary-coded per block, ints narrowed per
// block, and an index at the end, so that a reader with random access
// (age's DecryptReaderAt) knows every block's place and size before
// reading any, and reads and decrypts blocks on several cores at once.
//
//	magic     "CRCOLS2\n"
//	header    uvarint number of columns, then one byte per column: its type (i, s, b, d)
//	blocks    one after the other, each of 1 to colBlockRows rows (the index
//	          says how many); per column, in order:
//	            int, bool, date: the block's smallest value (8 bytes,
//	                little-endian int64), a width w (1 byte, 1 to 8), then
//	                per row its value minus the smallest in w bytes,
//	                little-endian
//	            string: the block's dictionary, then the rows' codes:
//	                uvarint d, its number of entries (1 to rows); uvarint
//	                w: 0, then d × 4 bytes, little-endian uint32 lengths,
//	                or, when every entry is w−1 ≥ 1 bytes long, w and no
//	                lengths; the entries' bytes, one after the other; then
//	                per row its code, in 1 byte if d ≤ 256, else 2
//	                (little-endian). Entries are in the order in which rows
//	                first use them, and all used: a row's code is at most
//	                one more than every code before it. When d = rows the
//	                codes are 0, 1, … and not written.
//	index     uvarint the number of blocks; per block: uvarint its bytes,
//	          uvarint its rows, and per string column uvarint d, uvarint
//	          the bytes of its entries and uvarint w; then uvarint the
//	          total of rows
//	footer    8 bytes, little-endian uint64: the index's offset in the file
//
// A block holds at most colBlockRows rows, and ends at the row that
// brings its strings to colBlockBytes bytes: the writer's memory stays
// flat however large the upload. Every value takes at least one byte
// (width 1 for a constant int column; per string a code, a length or a
// byte of its entry), so a file's rows never claim more memory than eight
// times its size.
//
// Loading (colread.go, colblocks.go) yields the dictionary-coded columns
// directly (schema.Vector's Codes and Dict): each block's entries are
// appended to its column's dictionary, its codes offset by the entries
// before, so that coding a column for a join or a GROUP BY (codes.go)
// hashes its dictionary, not its rows. A column whose entries all have
// one width keeps no offsets (schema.Dict.Width), and one whose blocks
// hold distinct values (each row its own entry, say an identifier) no
// codes. Each value is decoded or copied once from the decrypted bytes
// into its place, and no pointer is held per row; columns.wipe zeroes
// every value, dictionary and code.
//
// CRCOLS1 (Ingest wrote it before; Load still reads it, see colfile1.go):
// blocks of typed vectors (a uvarint row count, then per column 8-byte
// ints, or 4-byte string lengths followed by their bytes), a uvarint 0
// and the total of rows.
const colMagic = "CRCOLS2\n"

// colBlockRows is the most rows of a block. Codes within a block fit in
// 2 bytes.
const colBlockRows = 1 << 16

// colBlockBytes is how many bytes of strings (of all string columns, as
// they come, before the dictionaries merge them) end a block before
// colBlockRows rows: what bounds the writer's memory.
const colBlockBytes = 16 << 20

// colMaxArena bounds the bytes of one string column's entries in one
// block.
const colMaxArena = 256 << 20

// colMaxIndex bounds the bytes of a file's index.
const colMaxIndex = 64 << 20

// ageChunk is the plaintext size of an age payload chunk
// (https://age-encryption.org/v1, "Payload").
const ageChunk = 64 << 10

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

// colHeader returns the magic and header of a file of s.
func colHeader(magic string, s *schema.Schema) ([]byte, error) {
	hdr := append([]byte(magic), binary.AppendUvarint(nil, uint64(len(s.Columns)))...)
	for _, c := range s.Columns {
		code := typeCode(c.Type)
		if code == 0 {
			return nil, fmt.Errorf("enclave: column %s has type %q", c.Name, c.Type)
		}
		hdr = append(hdr, code)
	}
	return hdr, nil
}

// colWriter writes batches of a schema in the columnar form (CRCOLS2).
// It gathers one block at a time. Not safe for concurrent use.
type colWriter struct {
	w      *bufio.Writer
	s      *schema.Schema
	off    int64 // bytes written
	rows   int64
	blocks int
	index  []byte // the index's entries so far
	buf    []byte

	// The block being gathered: n rows, ints per int column, a
	// dictionary per string column, strBytes bytes of strings (before
	// the dictionaries merge them).
	n        int
	ints     [][]int64
	dicts    []*blockDict
	strBytes int
}

// blockDict is one string column's dictionary in the block being
// gathered: entries in order of first use, their bytes in arena, and a
// code per row.
type blockDict struct {
	seen  map[string]uint16 // keys share arena's memory
	arena []byte
	lens  []uint32
	codes []uint16
}

func newColWriter(w io.Writer, s *schema.Schema) (*colWriter, error) {
	hdr, err := colHeader(colMagic, s)
	if err != nil {
		return nil, err
	}
	cw := &colWriter{w: bufio.NewWriterSize(w, 1<<20), s: s,
		ints: make([][]int64, len(s.Columns)), dicts: make([]*blockDict, len(s.Columns))}
	for i, c := range s.Columns {
		if c.Type == schema.String {
			cw.dicts[i] = &blockDict{seen: make(map[string]uint16)}
		}
	}
	n, err := cw.w.Write(hdr)
	cw.off += int64(n)
	return cw, err
}

// add codes s into the block's dictionary. The block has fewer than
// colBlockRows rows, so the dictionary fewer entries, and codes fit.
func (d *blockDict) add(s string) {
	code, ok := d.seen[s]
	if !ok {
		code = uint16(len(d.lens))
		key := ""
		if len(s) > 0 {
			start := len(d.arena)
			d.arena = append(d.arena, s...)
			// The key shares the arena: if a later append moves it, the
			// old array stays alive (and unchanged) for the map's sake.
			key = unsafe.String(&d.arena[start], len(s))
		}
		d.seen[key] = code
		d.lens = append(d.lens, uint32(len(s)))
	}
	d.codes = append(d.codes, code)
}

// width returns w of the format: one more than the length of every
// entry when they are all as long and not empty, else 0.
func (d *blockDict) width() uint64 {
	l := d.lens[0]
	if l == 0 || len(d.arena) != int(l)*len(d.lens) {
		return 0
	}
	for _, x := range d.lens {
		if x != l {
			return 0
		}
	}
	return uint64(l) + 1
}

// reset empties the dictionary for the next block.
func (d *blockDict) reset() {
	clear(d.seen)
	d.arena, d.lens, d.codes = d.arena[:0], d.lens[:0], d.codes[:0]
}

// wipe zeroes the dictionary's plaintext.
func (d *blockDict) wipe() {
	clear(d.seen)
	clear(d.arena[:cap(d.arena)])
	clear(d.lens[:cap(d.lens)])
	d.arena, d.lens, d.codes = d.arena[:0], d.lens[:0], d.codes[:0]
}

// colGather is how many rows write gathers column by column before it
// checks whether the block is full.
const colGather = 4096

// write appends a batch's rows, ending a block whenever it is full.
func (cw *colWriter) write(b *schema.Batch) error {
	for lo := 0; lo < b.Len; {
		hi := min(b.Len, lo+colGather, lo+colBlockRows-cw.n)
		// End the chunk at the row that fills the block's strings.
		for r := lo; r < hi && cw.strBytes < colBlockBytes; r++ {
			for i := range cw.dicts {
				if cw.dicts[i] != nil {
					cw.strBytes += len(b.Cols[i].Str(r))
				}
			}
			if cw.strBytes >= colBlockBytes {
				hi = r + 1
			}
		}
		for i := range cw.s.Columns {
			v := &b.Cols[i]
			d := cw.dicts[i]
			if d == nil {
				cw.ints[i] = append(cw.ints[i], v.Ints[lo:hi]...)
				continue
			}
			for r := lo; r < hi; r++ {
				d.add(v.Str(r))
			}
			if len(d.arena) > colMaxArena {
				return fmt.Errorf("enclave: column %s: %d bytes of strings in %d rows", cw.s.Columns[i].Name, len(d.arena), cw.n+hi-lo)
			}
		}
		cw.n += hi - lo
		lo = hi
		if cw.n == colBlockRows || cw.strBytes >= colBlockBytes {
			if err := cw.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush writes the block gathered and its index entry.
func (cw *colWriter) flush() error {
	n := cw.n
	if n == 0 {
		return nil
	}
	buf := cw.buf[:0]
	for i := range cw.s.Columns {
		if d := cw.dicts[i]; d != nil {
			buf = binary.AppendUvarint(buf, uint64(len(d.lens)))
			buf = binary.AppendUvarint(buf, d.width())
			if d.width() == 0 {
				for _, l := range d.lens {
					buf = binary.LittleEndian.AppendUint32(buf, l)
				}
			}
			buf = append(buf, d.arena...)
			switch {
			case len(d.lens) == n:
			case len(d.lens) <= 1<<8:
				for _, c := range d.codes {
					buf = append(buf, byte(c))
				}
			default:
				for _, c := range d.codes {
					buf = binary.LittleEndian.AppendUint16(buf, c)
				}
			}
			continue
		}
		xs := cw.ints[i]
		lo, hi := slices.Min(xs), slices.Max(xs)
		w := max(1, (bits.Len64(uint64(hi)-uint64(lo))+7)/8)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(lo))
		buf = append(buf, byte(w))
		buf = appendNarrow(buf, xs, lo, w)
	}
	// The index entry: bytes, rows, then d and bytes per string column.
	cw.index = binary.AppendUvarint(cw.index, uint64(len(buf)))
	cw.index = binary.AppendUvarint(cw.index, uint64(n))
	for _, d := range cw.dicts {
		if d != nil {
			cw.index = binary.AppendUvarint(cw.index, uint64(len(d.lens)))
			cw.index = binary.AppendUvarint(cw.index, uint64(len(d.arena)))
			cw.index = binary.AppendUvarint(cw.index, d.width())
			d.reset()
		}
	}
	for i := range cw.ints {
		cw.ints[i] = cw.ints[i][:0]
	}
	cw.buf = buf
	if _, err := cw.w.Write(buf); err != nil {
		return err
	}
	cw.off += int64(len(buf))
	cw.rows += int64(n)
	cw.blocks++
	cw.n, cw.strBytes = 0, 0
	return nil
}

// appendNarrow appends each x−lo in w bytes, little-endian.
func appendNarrow(buf []byte, xs []int64, lo int64, w int) []byte {
	switch w {
	case 1:
		for _, x := range xs {
			buf = append(buf, byte(x-lo))
		}
	case 2:
		for _, x := range xs {
			buf = binary.LittleEndian.AppendUint16(buf, uint16(x-lo))
		}
	case 4:
		for _, x := range xs {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(x-lo))
		}
	case 8:
		for _, x := range xs {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(x-lo))
		}
	default:
		var b [8]byte
		for _, x := range xs {
			binary.LittleEndian.PutUint64(b[:], uint64(x-lo))
			buf = append(buf, b[:w]...)
		}
	}
	return buf
}

// close writes the last block, the index and the footer, flushes, and
// zeroes the writer's buffers of plaintext.
func (cw *colWriter) close() error {
	defer cw.wipe()
	if err := cw.flush(); err != nil {
		return err
	}
	indexOff := cw.off
	end := binary.AppendUvarint(cw.buf[:0], uint64(cw.blocks))
	end = append(end, cw.index...)
	end = binary.AppendUvarint(end, uint64(cw.rows))
	end = binary.LittleEndian.AppendUint64(end, uint64(indexOff))
	cw.buf = end
	if _, err := cw.w.Write(end); err != nil {
		return err
	}
	return cw.w.Flush()
}

// wipe zeroes the writer's buffers: the block gathered, the last block
// written.
func (cw *colWriter) wipe() {
	clear(cw.buf[:cap(cw.buf)])
	for i, xs := range cw.ints {
		clear(xs[:cap(xs)])
		cw.ints[i] = xs[:0]
	}
	for _, d := range cw.dicts {
		if d != nil {
			d.wipe()
		}
	}
}

// colFormat names the form of a stored upload's plaintext by its start.
func colFormat(head []byte) string {
	for _, m := range []string{colMagic, colMagic1} {
		if len(head) >= len(m) && string(head[:len(m)]) == m {
			return m
		}
	}
	return ""
}

// isColFile reports whether a plaintext is in a columnar form (either
// version).
func isColFile(head []byte) bool { return colFormat(head) != "" }
