package enclave

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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
// flat however large the upload. Every value takes at least one byte (width
// 1 for a constant int column, a code or a length per string), so a
// file's rows never claim more memory than eight times its size.
//
// Loading yields the dictionary-coded columns directly (schema.Vector's
// Codes and Dict): each block's entries are appended to its column's
// dictionary, its codes offset by the entries before, so that coding a
// column for a join or a GROUP BY (codes.go) hashes its dictionary, not
// its rows. A column whose entries all have one width keeps no offsets
// (schema.Dict.Width), and one whose blocks hold distinct values (each
// row its own entry, say an identifier) no codes. No value is copied
// twice and no pointer is held per row; columns.wipe zeroes every value,
// dictionary and code.
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

// columns are rows loaded from stored uploads: ints as they are, strings
// dictionary-coded.
type columns struct {
	batch *schema.Batch
}

// wipe zeroes every value, dictionary and code, so that the plaintext
// does not outlive its use in memory.
func (c *columns) wipe() {
	for i := range c.batch.Cols {
		v := &c.batch.Cols[i]
		clear(v.Ints)
		clear(v.Codes)
		if v.Dict != nil {
			clear(v.Dict.Bytes)
			clear(v.Dict.Offs)
		}
	}
}

// size returns the bytes the rows take in memory: 8 per int, bool or
// date, 4 per code, and each dictionary's bytes and offsets.
func (c *columns) size() int64 {
	var n int64
	for i := range c.batch.Cols {
		v := &c.batch.Cols[i]
		n += 8*int64(len(v.Ints)) + 4*int64(len(v.Codes))
		if v.Dict != nil {
			n += int64(len(v.Dict.Bytes)) + 8*int64(len(v.Dict.Offs))
		}
	}
	return n
}

// colBlocks gathers the rows of one or more stored files (or batches) of
// a schema into columns: ints as they are, strings dictionary-coded, each
// file's (or block's) dictionary after the previous ones. Columnar files
// say their sizes before their rows (extend), so that each column is
// allocated once at its final size; the older forms grow the columns as
// they fill, from the size grow announced. Planned (plan) before any row,
// a string column keeps no offsets when every entry of every file is of
// one width, and no codes when every block of every file holds distinct
// values; a file that breaks either writes them out (materialize).
type colBlocks struct {
	s    *schema.Schema
	cols []schema.Vector
	rows int
}

func newColBlocks(s *schema.Schema) *colBlocks {
	cb := &colBlocks{s: s, cols: make([]schema.Vector, len(s.Columns))}
	for i, c := range s.Columns {
		cb.cols[i].Type = c.Type
		if c.Type == schema.String {
			cb.cols[i].Dict = &schema.Dict{Offs: []int64{0}}
			cb.cols[i].Codes = []int32{}
		}
	}
	return cb
}

// colTotals is what gathered columns will hold: rows, and per column the
// entries and bytes of its dictionary, the width of every entry (0 if
// they differ) and whether each row is its own entry (string columns).
type colTotals struct {
	rows           int
	entries, bytes []int64
	width          []int
	identity       []bool
}

func (t *colTotals) init(cols int) {
	if t.entries == nil {
		t.entries, t.bytes = make([]int64, cols), make([]int64, cols)
		t.width, t.identity = make([]int, cols), make([]bool, cols)
		for i := range t.identity {
			t.width[i], t.identity[i] = -1, true // nothing seen yet
		}
	}
}

// add counts a columnar file's rows and dictionaries.
func (t *colTotals) add(f *colFile) {
	t.init(len(f.entries))
	t.rows += f.rows
	for i := range f.entries {
		t.entries[i] += f.entries[i]
		t.bytes[i] += f.bytes[i]
		if f.rows > 0 {
			if t.width[i] == -1 {
				t.width[i] = f.width[i]
			} else if t.width[i] != f.width[i] {
				t.width[i] = 0
			}
			t.identity[i] = t.identity[i] && f.identity[i]
		}
	}
}

// addRows counts n rows of an older form, an entry each (with offsets
// and codes).
func (t *colTotals) addRows(n int, cols int) {
	t.init(cols)
	t.rows += n
	for i := range t.entries {
		t.entries[i] += int64(n)
		t.width[i], t.identity[i] = 0, false
	}
}

// plan sets, before any row, which string columns keep no offsets (their
// entries' width) and which no codes, from what t says all files hold.
func (cb *colBlocks) plan(t colTotals) {
	if cb.rows > 0 || t.entries == nil {
		return
	}
	for i := range cb.cols {
		v := &cb.cols[i]
		if v.Dict == nil {
			continue
		}
		if t.width[i] > 0 {
			v.Dict = &schema.Dict{Width: t.width[i]}
		}
		if t.identity[i] {
			v.Codes = nil
		}
	}
}

// materializeOffs gives string column c offsets, if it has none.
func (cb *colBlocks) materializeOffs(c int) {
	d := cb.cols[c].Dict
	if d.Offs != nil {
		return
	}
	offs := make([]int64, d.Len()+1)
	for i := range offs {
		offs[i] = int64(i * d.Width)
	}
	d.Offs, d.Width = offs, 0
}

// materializeCodes gives string column c codes, if it has none (each row
// its own entry).
func (cb *colBlocks) materializeCodes(c int) {
	v := &cb.cols[c]
	if v.Codes != nil {
		return
	}
	v.Codes = make([]int32, cb.rows)
	for r := range v.Codes {
		v.Codes[r] = int32(r)
	}
}

// grow makes room for t in every column, so that filling them does not
// reallocate. Past the most a table holds, it does nothing: the rows are
// refused as they come. The columns are allocated on every core, the
// largest first: a fresh allocation's cost is mostly the kernel's, paging
// in (and zeroing) the memory.
func (cb *colBlocks) grow(t colTotals) {
	if t.rows <= 0 || t.rows > maxRows-cb.rows {
		return
	}
	type job struct {
		bytes int64
		alloc func()
	}
	var jobs []job
	for i := range cb.cols {
		v := &cb.cols[i]
		if v.Dict == nil {
			jobs = append(jobs, job{8 * int64(t.rows), func() { v.Ints = slices.Grow(v.Ints, t.rows) }})
			continue
		}
		entries, bytes := int(min(t.entries[i], maxRows)), int(min(t.bytes[i], 1<<40))
		if v.Codes != nil {
			jobs = append(jobs, job{4 * int64(t.rows), func() { v.Codes = slices.Grow(v.Codes, t.rows) }})
		}
		if v.Dict.Offs != nil {
			jobs = append(jobs, job{8 * int64(entries), func() { v.Dict.Offs = slices.Grow(v.Dict.Offs, entries) }})
		}
		jobs = append(jobs, job{int64(bytes), func() { v.Dict.Bytes = slices.Grow(v.Dict.Bytes, bytes) }})
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(b.bytes, a.bytes) })
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(jobs), runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := next.Add(1) - 1; j < int64(len(jobs)); j = next.Add(1) - 1 {
				jobs[j].alloc()
			}
		}()
	}
	wg.Wait()
}

// checkRows refuses n more rows past the most a table holds.
func (cb *colBlocks) checkRows(n int) error {
	if n < 0 || n > maxRows-cb.rows {
		return fmt.Errorf("enclave: %w: %d rows after %d, a table holds at most %d", errColFormat, n, cb.rows, maxRows)
	}
	return nil
}

// extend lengthens every column by f's rows, and each string column's
// dictionary by f's entries and bytes, each allocated at once at its
// final length (a column whose plan f breaks first gets its offsets or
// codes), and returns where the new rows, entries and bytes start. The
// caller fills them.
func (cb *colBlocks) extend(f *colFile) (rowBase int, entryBase, byteBase []int64, err error) {
	if err := cb.checkRows(f.rows); err != nil {
		return 0, nil, nil, err
	}
	entryBase, byteBase = make([]int64, len(cb.cols)), make([]int64, len(cb.cols))
	for i := range cb.cols {
		if d := cb.cols[i].Dict; d != nil {
			entryBase[i], byteBase[i] = int64(d.Len()), int64(len(d.Bytes))
			if f.entries[i] > int64(maxRows)-entryBase[i] {
				return 0, nil, nil, fmt.Errorf("enclave: %w: column %s: more than %d dictionary entries", errColFormat, cb.s.Columns[i].Name, maxRows)
			}
		}
	}
	for i := range cb.cols {
		v := &cb.cols[i]
		if v.Dict == nil {
			v.Ints = lengthen(v.Ints, f.rows)
			continue
		}
		if f.rows > 0 && v.Dict.Offs == nil && f.width[i] != v.Dict.Width {
			cb.materializeOffs(i)
		}
		if f.rows > 0 && v.Codes == nil && !f.identity[i] {
			cb.materializeCodes(i)
		}
		d := v.Dict
		if v.Codes != nil {
			v.Codes = lengthen(v.Codes, f.rows)
		}
		if d.Offs != nil {
			d.Offs = lengthen(d.Offs, int(f.entries[i]))
		}
		d.Bytes = lengthen(d.Bytes, int(f.bytes[i]))
	}
	rowBase = cb.rows
	cb.rows += f.rows
	return rowBase, entryBase, byteBase, nil
}

// lengthen returns s with n more elements, reallocated (once) only if
// its capacity is short. The new elements are for the caller to set.
func lengthen[T any](s []T, n int) []T {
	s = slices.Grow(s, n)
	return s[:len(s)+n]
}

// addStrings appends plain strings to string column c, each its own
// dictionary entry (the older forms: Execute's coding merges equal
// entries).
func (cb *colBlocks) addStrings(c int, strs []string) {
	cb.materializeOffs(c)
	cb.materializeCodes(c)
	v := &cb.cols[c]
	d := v.Dict
	for _, s := range strs {
		v.Codes = append(v.Codes, int32(d.Len()))
		d.Bytes = append(d.Bytes, s...)
		d.Offs = append(d.Offs, int64(len(d.Bytes)))
	}
}

// add appends a batch's rows (a stored CSV upload's).
func (cb *colBlocks) add(b *schema.Batch) error {
	if err := cb.checkRows(b.Len); err != nil {
		return err
	}
	for i := range b.Cols {
		if cb.cols[i].Dict != nil {
			cb.addStrings(i, b.Cols[i].Strs)
		} else {
			cb.cols[i].Ints = append(cb.cols[i].Ints, b.Cols[i].Ints...)
		}
	}
	cb.rows += b.Len
	return nil
}

// columns returns the rows gathered.
func (cb *colBlocks) columns() *columns {
	return &columns{batch: &schema.Batch{Schema: cb.s, Cols: cb.cols, Len: cb.rows}}
}

// wipe zeroes what has been gathered, when it is given up.
func (cb *colBlocks) wipe() { cb.columns().wipe() }

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

// colFile is a CRCOLS2 file whose header and index have been read: where
// each block is and what it holds.
type colFile struct {
	ra      io.ReaderAt
	size    int64
	rows    int
	entries []int64 // per string column: its dictionaries' entries, in all
	bytes   []int64 // and their bytes,
	width   []int   // the width of every entry, or 0 if they differ,
	// and whether every block holds distinct values (d = rows)
	identity []bool
	blocks   []colBlock
}

// colBlock is one block of a colFile, as its index describes it.
type colBlock struct {
	off, bytes int64
	rows       int
	row        int // the rows before it, in the file
	// Per column (string columns only): its dictionary's entries, bytes
	// and w (see the format), and the entries and bytes of the blocks
	// before it.
	ents, entBase, w []int32
	nbytes, byteOff  []int64
}

// openColFile reads the header and index of a CRCOLS2 file of s, size
// bytes read through ra.
func openColFile(ra io.ReaderAt, size int64, s *schema.Schema) (*colFile, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("enclave: %w: "+format, append([]any{errColFormat}, args...)...)
	}
	want, err := colHeader(colMagic, s)
	if err != nil {
		return nil, err
	}
	hdrLen := int64(len(want))
	if size < hdrLen+8 {
		return nil, fail("%d bytes, too short", size)
	}
	head := make([]byte, hdrLen)
	if err := readAt(ra, head, 0); err != nil {
		return nil, err
	}
	if string(head[:len(colMagic)]) != colMagic {
		return nil, fail("no magic")
	}
	if n, k := binary.Uvarint(head[len(colMagic):]); k <= 0 || n != uint64(len(s.Columns)) || len(colMagic)+k+len(s.Columns) != len(head) {
		return nil, fail("%d columns, the schema has %d", n, len(s.Columns))
	}
	for i, c := range s.Columns {
		if head[int(hdrLen)-len(s.Columns)+i] != typeCode(c.Type) {
			return nil, fail("column %d (%s) is not of the schema's type %s", i, c.Name, c.Type)
		}
	}
	var foot [8]byte
	if err := readAt(ra, foot[:], size-8); err != nil {
		return nil, err
	}
	indexOff := binary.LittleEndian.Uint64(foot[:])
	if indexOff < uint64(hdrLen) || indexOff > uint64(size-8) || uint64(size-8)-indexOff > colMaxIndex {
		return nil, fail("an index at %d in %d bytes", indexOff, size)
	}
	index := make([]byte, size-8-int64(indexOff))
	if err := readAt(ra, index, int64(indexOff)); err != nil {
		return nil, err
	}
	uv := func() (uint64, bool) {
		x, k := binary.Uvarint(index)
		if k <= 0 {
			return 0, false
		}
		index = index[k:]
		return x, true
	}
	nblocks, ok := uv()
	if !ok || nblocks > uint64(len(index)) {
		return nil, fail("an index of %d blocks in %d bytes", nblocks, len(index))
	}
	f := &colFile{ra: ra, size: size, entries: make([]int64, len(s.Columns)), bytes: make([]int64, len(s.Columns)),
		width: make([]int, len(s.Columns)), identity: make([]bool, len(s.Columns)), blocks: make([]colBlock, nblocks)}
	for i := range f.identity {
		f.width[i], f.identity[i] = -1, true // nothing seen yet
	}
	var strCols, intCols int64
	for _, c := range s.Columns {
		if c.Type == schema.String {
			strCols++
		} else {
			intCols++
		}
	}
	off := hdrLen
	for bi := range f.blocks {
		b := &f.blocks[bi]
		nbytes, ok1 := uv()
		rows, ok2 := uv()
		if !ok1 || !ok2 {
			return nil, fail("truncated index")
		}
		if rows < 1 || rows > colBlockRows {
			return nil, fail("block %d: %d rows (1 to %d)", bi, rows, colBlockRows)
		}
		// At least: 9 bytes and a byte a row per int column, a length
		// and a byte a row per string column (see the format).
		least := intCols*(9+int64(rows)) + strCols*(1+int64(rows))
		if nbytes < uint64(least) || nbytes > uint64(indexOff)-uint64(off) {
			return nil, fail("block %d: %d bytes for %d rows at %d, the blocks end at %d", bi, nbytes, rows, off, indexOff)
		}
		*b = colBlock{off: off, bytes: int64(nbytes), rows: int(rows), row: f.rows,
			ents: make([]int32, len(s.Columns)), entBase: make([]int32, len(s.Columns)), w: make([]int32, len(s.Columns)),
			nbytes: make([]int64, len(s.Columns)), byteOff: make([]int64, len(s.Columns))}
		for c, col := range s.Columns {
			if col.Type != schema.String {
				continue
			}
			d, ok1 := uv()
			db, ok2 := uv()
			w, ok3 := uv()
			if !ok1 || !ok2 || !ok3 {
				return nil, fail("truncated index")
			}
			if d < 1 || d > rows || db > colMaxArena || db > nbytes {
				return nil, fail("block %d, column %s: %d entries of %d bytes for %d rows", bi, col.Name, d, db, rows)
			}
			if w == 1 || w > colMaxArena || (w > 1 && (w-1)*d != db) {
				return nil, fail("block %d, column %s: %d entries of %d bytes, each of %d", bi, col.Name, d, db, int64(w)-1)
			}
			width := max(int(w)-1, 0)
			if f.width[c] == -1 {
				f.width[c] = width
			} else if f.width[c] != width {
				f.width[c] = 0
			}
			f.identity[c] = f.identity[c] && d == rows
			b.ents[c], b.nbytes[c], b.w[c] = int32(d), int64(db), int32(w)
			b.entBase[c], b.byteOff[c] = int32(f.entries[c]), f.bytes[c]
			f.entries[c] += int64(d)
			f.bytes[c] += int64(db)
		}
		off += int64(nbytes)
		f.rows += int(rows)
		if f.rows > maxRows {
			return nil, fail("more than %d rows", maxRows)
		}
	}
	total, ok := uv()
	switch {
	case !ok:
		return nil, fail("truncated index")
	case total != uint64(f.rows):
		return nil, fail("the file says %d rows, its blocks hold %d", total, f.rows)
	case off != int64(indexOff):
		return nil, fail("the blocks end at %d, the index starts at %d", off, indexOff)
	case len(index) != 0:
		return nil, fail("%d bytes after the index", len(index))
	}
	for i := range f.width {
		f.width[i] = max(f.width[i], 0)
	}
	return f, nil
}

// readAt reads len(p) bytes at off, or fails: with errColFormat if the
// file ends first.
func readAt(ra io.ReaderAt, p []byte, off int64) error {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == io.EOF || err == nil {
		return fmt.Errorf("enclave: %w: truncated at %d", errColFormat, off+int64(n))
	}
	return fmt.Errorf("enclave: reading stored columns at %d: %w", off+int64(n), err)
}

// colMinParallel is the fewest bytes of blocks each worker of read takes
// (a variable for tests).
var colMinParallel int64 = 4 << 20

// read appends the file's rows to cb: its blocks are split in contiguous
// ranges, one per worker (at most workers, each of at least
// colMinParallel bytes), each read and decoded straight into place.
func (f *colFile) read(cb *colBlocks, workers int) error {
	rowBase, entryBase, byteBase, err := cb.extend(f)
	if err != nil {
		return err
	}
	if len(f.blocks) == 0 {
		return nil
	}
	last := &f.blocks[len(f.blocks)-1]
	total := last.off + last.bytes - f.blocks[0].off
	workers = max(1, min(workers, len(f.blocks), int(total/colMinParallel)))
	// Cut the blocks where the bytes cross each worker's share.
	cuts := []int{0}
	for w, bi := 1, 0; w < workers; w++ {
		target := f.blocks[0].off + total*int64(w)/int64(workers)
		for bi < len(f.blocks) && f.blocks[bi].off < target {
			bi++
		}
		if bi > cuts[len(cuts)-1] && bi < len(f.blocks) {
			cuts = append(cuts, bi)
		}
	}
	cuts = append(cuts, len(f.blocks))
	var failed atomic.Bool
	errs := make([]error, len(cuts)-1)
	var wg sync.WaitGroup
	for w := range len(cuts) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bl := f.blocks[cuts[w]:cuts[w+1]]
			end := bl[len(bl)-1].off + bl[len(bl)-1].bytes
			r := newSectionReader(f.ra, bl[0].off, end, f.size)
			dec := colDecoder{cb: cb, r: r, rowBase: rowBase, entryBase: entryBase, byteBase: byteBase}
			defer func() {
				r.wipe()
				clear(dec.scratch)
			}()
			for bi := range bl {
				if failed.Load() {
					return
				}
				if err := dec.block(&bl[bi]); err != nil {
					errs[w] = err
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// colDecoder decodes blocks of one file into their place in cb.
type colDecoder struct {
	cb                  *colBlocks
	r                   *sectionReader
	rowBase             int
	entryBase, byteBase []int64
	scratch             []byte
}

// block decodes one block, which must take exactly the bytes its index
// entry says.
func (d *colDecoder) block(b *colBlock) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("enclave: %w: block at %d: "+format, append([]any{errColFormat, b.off}, args...)...)
	}
	r := d.r
	if r.offset() != b.off {
		return fail("starts at %d", r.offset())
	}
	if d.scratch == nil {
		d.scratch = make([]byte, 8*colBlockRows)
	}
	row := d.rowBase + b.row
	for c := range d.cb.cols {
		v := &d.cb.cols[c]
		if v.Dict == nil {
			var head [9]byte
			if err := r.full(head[:]); err != nil {
				return err
			}
			lo, w := int64(binary.LittleEndian.Uint64(head[:])), int(head[8])
			if w < 1 || w > 8 {
				return fail("column %s: width %d", d.cb.s.Columns[c].Name, w)
			}
			raw, err := r.next(w*b.rows, d.scratch)
			if err != nil {
				return err
			}
			decodeNarrow(v.Ints[row:row+b.rows], raw, lo, w)
			continue
		}
		n, err := r.uvarint()
		if err != nil {
			return err
		}
		if n != uint64(b.ents[c]) {
			return fail("column %s: %d entries, the index says %d", d.cb.s.Columns[c].Name, n, b.ents[c])
		}
		w, err := r.uvarint()
		if err != nil {
			return err
		}
		if w != uint64(b.w[c]) {
			return fail("column %s: w %d, the index says %d", d.cb.s.Columns[c].Name, w, b.w[c])
		}
		ents := int(b.ents[c])
		e0, b0 := d.entryBase[c]+int64(b.entBase[c]), d.byteBase[c]+b.byteOff[c]
		end := b0 + b.nbytes[c]
		// The offsets, unless the column keeps none (its entries all of
		// the width extend checked).
		switch offs := v.Dict.Offs; {
		case w > 0 && offs != nil:
			for j := range ents {
				offs[e0+1+int64(j)] = b0 + int64(j+1)*int64(w-1)
			}
		case w == 0:
			lens, err := r.next(4*ents, d.scratch)
			if err != nil {
				return err
			}
			at := b0
			for j := range ents {
				at += int64(binary.LittleEndian.Uint32(lens[4*j:]))
				offs[e0+1+int64(j)] = at
			}
			if at != end {
				return fail("column %s: entries of %d bytes, the index says %d", d.cb.s.Columns[c].Name, at-b0, b.nbytes[c])
			}
		}
		if err := r.full(v.Dict.Bytes[b0:end]); err != nil {
			return err
		}
		if ents == b.rows {
			if v.Codes != nil {
				codes := v.Codes[row : row+b.rows]
				for j := range codes {
					codes[j] = int32(e0) + int32(j)
				}
			}
			continue
		}
		codes := v.Codes[row : row+b.rows]
		cw := 1
		if ents > 1<<8 {
			cw = 2
		}
		raw, err := r.next(cw*b.rows, d.scratch)
		if err != nil {
			return err
		}
		if next := decodeCodes(codes, raw, cw, int32(e0)); next != ents {
			return fail("column %s: codes out of order or not using all %d entries", d.cb.s.Columns[c].Name, ents)
		}
	}
	if r.offset() != b.off+b.bytes {
		return fail("ends at %d, the index says %d", r.offset(), b.off+b.bytes)
	}
	return nil
}

// decodeNarrow sets out[j] to lo plus the j-th w-byte little-endian
// number of raw.
func decodeNarrow(out []int64, raw []byte, lo int64, w int) {
	switch w {
	case 1:
		for j := range out {
			out[j] = lo + int64(raw[j])
		}
	case 2:
		for j := range out {
			out[j] = lo + int64(binary.LittleEndian.Uint16(raw[2*j:]))
		}
	case 4:
		for j := range out {
			out[j] = lo + int64(binary.LittleEndian.Uint32(raw[4*j:]))
		}
	case 8:
		for j := range out {
			out[j] = lo + int64(binary.LittleEndian.Uint64(raw[8*j:]))
		}
	default:
		var b [8]byte
		for j := range out {
			copy(b[:w], raw[w*j:])
			out[j] = lo + int64(binary.LittleEndian.Uint64(b[:]))
		}
	}
}

// decodeCodes sets codes[j] to base plus the j-th code of raw (cw bytes
// each), and returns how many entries the codes use in order of first
// use, or -1 if a code skips ahead of that order.
func decodeCodes(codes []int32, raw []byte, cw int, base int32) int {
	next := int32(0)
	for j := range codes {
		var c int32
		if cw == 1 {
			c = int32(raw[j])
		} else {
			c = int32(binary.LittleEndian.Uint16(raw[2*j:]))
		}
		if c >= next {
			if c > next {
				return -1
			}
			next++
		}
		codes[j] = base + c
	}
	return int(next)
}

// sectionReader reads the bytes of a ReaderAt from an offset on, in
// order, through a buffer whose refills start at multiples of ageChunk
// and end at one (or at the end of the file): over age's
// DecryptReaderAt each refill decrypts whole chunks, and none is
// decrypted twice (but the one a section starts in, which the section
// before ends in). It reads no further than the chunk holding end, the
// section's end.
type sectionReader struct {
	ra     io.ReaderAt
	buf    []byte
	start  int64 // the file offset of buf[0]
	pos, n int   // the next byte, and the bytes, in buf
	limit  int64 // where reading stops: end rounded up to a chunk, or the size
	size   int64
	err    error
}

// sectionBuf is the size of a sectionReader's buffer: 16 age chunks.
const sectionBuf = 16 * ageChunk

func newSectionReader(ra io.ReaderAt, off, end, size int64) *sectionReader {
	start := off / ageChunk * ageChunk
	limit := min(size, (end+ageChunk-1)/ageChunk*ageChunk)
	return &sectionReader{ra: ra, buf: make([]byte, sectionBuf), start: start, pos: int(off - start), limit: limit, size: size}
}

// offset returns the file offset of the next byte.
func (r *sectionReader) offset() int64 { return r.start + int64(r.pos) }

// fill reads the next window, after the bytes read so far.
func (r *sectionReader) fill() error {
	if r.err != nil {
		return r.err
	}
	skip := r.pos - r.n // past the buffer: the section's start, at first
	r.start += int64(r.n)
	r.pos, r.n = 0, 0
	want := min(int64(len(r.buf)), r.limit-r.start)
	switch {
	case want <= 0 && r.start >= r.size && skip == 0:
		r.err = io.EOF
		return r.err
	case want <= 0:
		r.err = fmt.Errorf("enclave: %w: truncated at %d", errColFormat, r.start)
		return r.err
	}
	if err := readAt(r.ra, r.buf[:want], r.start); err != nil {
		r.err = err
		return err
	}
	r.n = int(want)
	if skip > r.n {
		r.err = fmt.Errorf("enclave: %w: truncated at %d", errColFormat, r.start+int64(r.n))
		return r.err
	}
	r.pos = skip
	return nil
}

// full reads exactly len(p) bytes, or fails: with errColFormat at the
// end of the file.
func (r *sectionReader) full(p []byte) error {
	for len(p) > 0 {
		if r.pos >= r.n {
			if err := r.fill(); err != nil {
				return truncated(err, r.start)
			}
		}
		k := copy(p, r.buf[r.pos:r.n])
		r.pos += k
		p = p[k:]
	}
	return nil
}

// next returns the next n bytes: in the buffer when they are there in
// one piece (valid until the next read), else copied into scratch.
func (r *sectionReader) next(n int, scratch []byte) ([]byte, error) {
	if r.n-r.pos >= n {
		p := r.buf[r.pos : r.pos+n]
		r.pos += n
		return p, nil
	}
	p := scratch[:n]
	return p, r.full(p)
}

// Read reads up to len(p) bytes, and returns io.EOF at the end of the
// file (and errColFormat past the section's limit).
func (r *sectionReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.pos >= r.n {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	k := copy(p, r.buf[r.pos:r.n])
	r.pos += k
	return k, nil
}

// ReadByte reads one byte.
func (r *sectionReader) ReadByte() (byte, error) {
	if r.pos >= r.n {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	c := r.buf[r.pos]
	r.pos++
	return c, nil
}

// uvarint reads a uvarint, or fails: with errColFormat at the end of the
// file.
func (r *sectionReader) uvarint() (uint64, error) {
	x, err := readUvarint(r)
	return x, truncated(err, r.offset())
}

// readUvarint reads a uvarint from r. A read error is returned as it is
// (io.EOF included); an overflow fails with errColFormat.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	for s := uint(0); s < 64; s += 7 {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		if c < 0x80 {
			if s == 63 && c > 1 {
				break
			}
			return x | uint64(c)<<s, nil
		}
		x |= uint64(c&0x7f) << s
	}
	return 0, fmt.Errorf("enclave: %w: a uvarint overflows", errColFormat)
}

// truncated turns io.EOF, which ends the file too early, into
// errColFormat.
func truncated(err error, off int64) error {
	if err == io.EOF {
		return fmt.Errorf("enclave: %w: truncated at %d", errColFormat, off)
	}
	return err
}

// wipe zeroes the buffer's plaintext.
func (r *sectionReader) wipe() { clear(r.buf) }
