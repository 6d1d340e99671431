package enclave

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/schema"
)

// Reading a CRCOLS2 file (see colfile.go): its index first, then its
// blocks, on several cores, through age's DecryptReaderAt.

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
			if err := columnar.CheckDict(d, db, w, rows); err != nil {
				return nil, fail("block %d, column %s: %v", bi, col.Name, err)
			}
			if db > nbytes {
				return nil, fail("block %d, column %s: %d bytes of entries in a block of %d", bi, col.Name, db, nbytes)
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
		if d.cb.skip[c] {
			if err := d.pass(b, c); err != nil {
				return err
			}
			continue
		}
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
			if v.Int32s == nil {
				columnar.DecodeNarrow(v.Ints[row:row+b.rows], raw, lo, w)
			} else if !columnar.DecodeNarrow32(v.Int32s[row:row+b.rows], raw, lo, w) {
				return fail("column %s: a value outside 32 bits, outside its declared bounds", d.cb.s.Columns[c].Name)
			}
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

// pass passes over column c of block b, a column left out, reading only
// what says how long it is: an int column's head, a string column's
// dictionary sizes (which its index entry repeats).
func (d *colDecoder) pass(b *colBlock, c int) error {
	r := d.r
	col := d.cb.s.Columns[c]
	if col.Type != schema.String {
		var head [9]byte
		if err := r.full(head[:]); err != nil {
			return err
		}
		w := int64(head[8])
		if w < 1 || w > 8 {
			return fmt.Errorf("enclave: %w: block at %d: column %s: width %d", errColFormat, b.off, col.Name, w)
		}
		return r.skip(w * int64(b.rows))
	}
	n, err := r.uvarint()
	if err != nil {
		return err
	}
	w, err := r.uvarint()
	if err != nil {
		return err
	}
	if n != uint64(b.ents[c]) || w != uint64(b.w[c]) {
		return fmt.Errorf("enclave: %w: block at %d: column %s: a dictionary other than the index says", errColFormat, b.off, col.Name)
	}
	k := b.nbytes[c]
	if w == 0 {
		k += 4 * int64(b.ents[c])
	}
	switch {
	case int(b.ents[c]) == b.rows:
	case b.ents[c] <= 1<<8:
		k += int64(b.rows)
	default:
		k += 2 * int64(b.rows)
	}
	return r.skip(k)
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

// skip passes over the next k bytes. Whole chunks past the buffer are
// neither read nor decrypted: the next refill starts at the chunk that
// holds the byte after them.
func (r *sectionReader) skip(k int64) error {
	if k <= int64(r.n-r.pos) {
		r.pos += int(k)
		return nil
	}
	to := r.offset() + k
	if to > r.limit {
		return fmt.Errorf("enclave: %w: truncated at %d", errColFormat, r.limit)
	}
	r.start = to / ageChunk * ageChunk
	r.pos, r.n = int(to-r.start), 0
	return nil
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
