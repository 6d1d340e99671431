package columnar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/xjdata/cleanroom/schema"
)

// ErrFormat is wrapped by the errors of a part that is not well formed.
var ErrFormat = errors.New("not a well-formed columnar part")

// RowError is a value of a part that its column does not allow.
type RowError struct {
	Row    int64 // 1-based, in the part
	Column string
	Reason string
}

func (e *RowError) Error() string {
	return fmt.Sprintf("row %d of the part, column %s: %s", e.Row, e.Column, e.Reason)
}

// PartReader reads a part (CRPART2) of a schema block by block, as it
// arrives, and checks every block: its structure, and every value
// against its column (bounds, bools, UTF-8, max_len). A block it returns
// can be added to a FileWriter as it is, and the stored file then loads.
// Its memory is one block's. Not safe for concurrent use.
type PartReader struct {
	r        io.Reader // read unbuffered: a frame's few bytes, then a block at once
	one      [1]byte
	s        *schema.Schema
	rows     int64
	done     bool
	blk      Block
	ints     []int64 // scratch: one int column's values
	ents     []uint64
	dbs, ws  []uint64
	maxLen   []int
	maxBytes uint64 // the most bytes of strings a block holds
}

// NewPartReader reads and checks the magic and header of a part of s
// from r.
func NewPartReader(r io.Reader, s *schema.Schema) (*PartReader, error) {
	want, err := Header(PartMagic, s)
	if err != nil {
		return nil, err
	}
	p := &PartReader{r: r, s: s,
		ents: make([]uint64, len(s.Columns)), dbs: make([]uint64, len(s.Columns)), ws: make([]uint64, len(s.Columns)),
		maxLen: make([]int, len(s.Columns)), maxBytes: BlockBytes}
	for i, c := range s.Columns {
		if c.Type == schema.String {
			p.maxLen[i] = c.MaxLen
			if p.maxLen[i] == 0 {
				p.maxLen[i] = schema.DefaultMaxLen
			}
			// The block's last row may take its strings past BlockBytes
			// (by at most MaxArena a column: more is refused anyway).
			p.maxBytes += uint64(min(p.maxLen[i], MaxArena))
		}
	}
	head := make([]byte, len(want))
	if _, err := io.ReadFull(p.r, head); err != nil {
		return nil, p.short(err)
	}
	if string(head[:len(PartMagic)]) != PartMagic {
		return nil, fmt.Errorf("columnar: %w: no magic", ErrFormat)
	}
	if string(head) != string(want) {
		return nil, fmt.Errorf("columnar: %w: its header does not match the dataset's %d columns and their types", ErrFormat, len(s.Columns))
	}
	return p, nil
}

// Rows returns the rows of the blocks read.
func (p *PartReader) Rows() int64 { return p.rows }

// short turns an early end of the input into an error of the format.
func (p *PartReader) short(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("columnar: %w: truncated after %d rows", ErrFormat, p.rows)
	}
	return err
}

// ReadByte reads one byte: the bytes of a frame's uvarints.
func (p *PartReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(p.r, p.one[:]); err != nil {
		return 0, err
	}
	return p.one[0], nil
}

func (p *PartReader) uvarint() (uint64, error) {
	x, err := binary.ReadUvarint(p)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, p.short(err)
		}
		return 0, fmt.Errorf("columnar: %w: %w", ErrFormat, err)
	}
	return x, nil
}

// Next returns the next block, checked, and io.EOF after the part's end
// (once its count of rows and that nothing follows are checked). The
// block is valid until the next call.
func (p *PartReader) Next() (*Block, error) {
	if p.done {
		return nil, io.EOF
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("columnar: %w: block after row %d: "+format, append([]any{ErrFormat, p.rows}, args...)...)
	}
	nbytes, err := p.uvarint()
	if err != nil {
		return nil, err
	}
	if nbytes == 0 {
		total, err := p.uvarint()
		if err != nil {
			return nil, err
		}
		if total != uint64(p.rows) {
			return nil, fmt.Errorf("columnar: %w: the part says %d rows, its blocks hold %d", ErrFormat, total, p.rows)
		}
		if _, err := p.ReadByte(); err != io.EOF {
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("columnar: %w: data after the part's end", ErrFormat)
		}
		p.done = true
		return nil, io.EOF
	}
	rows, err := p.uvarint()
	if err != nil {
		return nil, err
	}
	if rows < 1 || rows > BlockRows {
		return nil, fail("%d rows (1 to %d)", rows, BlockRows)
	}
	if p.rows+int64(rows) > MaxRows {
		return nil, fail("more than %d rows in the part", MaxRows)
	}
	entry := binary.AppendUvarint(p.blk.Entry[:0], nbytes)
	entry = binary.AppendUvarint(entry, rows)
	// The most bytes the block can take: 9 and 8 a row per int column;
	// per string column two uvarints, a length per entry, its entries'
	// bytes and 2 bytes a row of codes.
	most, strBytes := uint64(0), uint64(0)
	for i, c := range p.s.Columns {
		if c.Type != schema.String {
			most += 9 + 8*rows
			continue
		}
		var vals [3]uint64
		for k := range vals {
			if vals[k], err = p.uvarint(); err != nil {
				return nil, err
			}
			entry = binary.AppendUvarint(entry, vals[k])
		}
		d, db, w := vals[0], vals[1], vals[2]
		if err := CheckDict(d, db, w, rows); err != nil {
			return nil, fail("column %s: %v", c.Name, err)
		}
		p.ents[i], p.dbs[i], p.ws[i] = d, db, w
		strBytes += db
		most += 20 + 4*d + db + 2*rows
	}
	if strBytes > p.maxBytes {
		return nil, fail("%d bytes of strings, a block holds at most %d", strBytes, p.maxBytes)
	}
	if nbytes > most {
		return nil, fail("%d bytes for %d rows, at most %d", nbytes, rows, most)
	}
	data, err := p.read(int(nbytes))
	if err != nil {
		return nil, err
	}
	p.blk = Block{Rows: int(rows), Data: data, Entry: entry}
	if err := p.check(data, int(rows)); err != nil {
		return nil, err
	}
	p.rows += int64(rows)
	return &p.blk, nil
}

// readStep is how much more of a block read buffers at a time: a block
// claims its size before its bytes, and the memory follows the bytes that
// come, not the claim.
const readStep = 1 << 20

// read reads the next n bytes, a block's, into the block's buffer.
func (p *PartReader) read(n int) ([]byte, error) {
	data := p.blk.Data[:0]
	for len(data) < n {
		k := min(n-len(data), readStep)
		if cap(data)-len(data) < k {
			grown := make([]byte, len(data), max(2*cap(data), len(data)+k))
			copy(grown, data)
			clear(data[:cap(data)])
			data = grown
		}
		if _, err := io.ReadFull(p.r, data[len(data):len(data)+k]); err != nil {
			p.blk.Data = data
			return nil, p.short(err)
		}
		data = data[:len(data)+k]
	}
	p.blk.Data = data
	return data, nil
}

// check checks a block's bytes: that they hold, exactly, what its entry
// says, in the layout of the format, with every value allowed.
func (p *PartReader) check(data []byte, rows int) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("columnar: %w: block after row %d: "+format, append([]any{ErrFormat, p.rows}, args...)...)
	}
	bad := func(row int, c *schema.Column, format string, args ...any) error {
		return &RowError{Row: p.rows + int64(row) + 1, Column: c.Name, Reason: fmt.Sprintf(format, args...)}
	}
	take := func(n uint64) ([]byte, bool) {
		if n > uint64(len(data)) {
			return nil, false
		}
		out := data[:n]
		data = data[n:]
		return out, true
	}
	uv := func() (uint64, bool) {
		x, k := binary.Uvarint(data)
		if k <= 0 {
			return 0, false
		}
		data = data[k:]
		return x, true
	}
	if cap(p.ints) < rows {
		p.ints = make([]int64, BlockRows)
	}
	for i := range p.s.Columns {
		c := &p.s.Columns[i]
		if c.Type != schema.String {
			head, ok := take(9)
			if !ok {
				return fail("column %s: truncated", c.Name)
			}
			lo, w := int64(binary.LittleEndian.Uint64(head)), int(head[8])
			if w < 1 || w > 8 {
				return fail("column %s: width %d", c.Name, w)
			}
			raw, ok := take(uint64(w * rows))
			if !ok {
				return fail("column %s: truncated", c.Name)
			}
			xs := p.ints[:rows]
			DecodeNarrow(xs, raw, lo, w)
			if err := checkInts(xs, c, bad); err != nil {
				return err
			}
			continue
		}
		d, ok1 := uv()
		w, ok2 := uv()
		if !ok1 || !ok2 || d != p.ents[i] || w != p.ws[i] {
			return fail("column %s: a dictionary other than the entry says", c.Name)
		}
		ents, db := int(d), p.dbs[i]
		var lens []byte
		if w == 0 {
			if lens, ok1 = take(4 * d); !ok1 {
				return fail("column %s: truncated", c.Name)
			}
		}
		arena, ok := take(db)
		if !ok {
			return fail("column %s: truncated", c.Name)
		}
		// Each entry within max_len and valid UTF-8; rows are coded in
		// order of first use, so entry k is first used by a row no later
		// than the k-th, and an error names the row that first uses it.
		ascii := isASCII(arena)
		at := uint64(0)
		for k := range ents {
			l := w - 1
			if w == 0 {
				l = uint64(binary.LittleEndian.Uint32(lens[4*k:]))
			}
			if l > db-at {
				return fail("column %s: entries of more than %d bytes", c.Name, db)
			}
			e := arena[at : at+l]
			at += l
			if len(e) > p.maxLen[i] {
				return bad(firstUse(data, k, rows, ents), c, "string of %d bytes is longer than max_len %d", len(e), p.maxLen[i])
			}
			if !ascii && !utf8.Valid(e) {
				return bad(firstUse(data, k, rows, ents), c, "string is not valid UTF-8")
			}
		}
		if at != db {
			return fail("column %s: entries of %d bytes, the entry says %d", c.Name, at, db)
		}
		if ents == rows {
			continue
		}
		cw := 1
		if ents > 1<<8 {
			cw = 2
		}
		raw, ok := take(uint64(cw * rows))
		if !ok {
			return fail("column %s: truncated", c.Name)
		}
		if !codesInOrder(raw, cw, ents) {
			return fail("column %s: codes out of order or not using all %d entries", c.Name, ents)
		}
	}
	if len(data) != 0 {
		return fail("%d bytes more than its columns hold", len(data))
	}
	return nil
}

// firstUse returns the row of a block that first uses entry k, from the
// codes at the start of raw (the bytes after the column's entries): k
// itself when every row has its own entry; the block's first row if the
// codes are cut short or never use k.
func firstUse(raw []byte, k, rows, ents int) int {
	if ents == rows {
		return k
	}
	cw := 1
	if ents > 1<<8 {
		cw = 2
	}
	for j := 0; j < rows && cw*(j+1) <= len(raw); j++ {
		c := int(raw[cw*j])
		if cw == 2 {
			c = int(binary.LittleEndian.Uint16(raw[2*j:]))
		}
		if c == k {
			return j
		}
	}
	return 0
}

// checkInts checks an int, bool or date column's values.
func checkInts(xs []int64, c *schema.Column, bad func(int, *schema.Column, string, ...any) error) error {
	lo, hi := int64(0), int64(1)
	if c.Type != schema.Bool {
		lo, hi = *c.Min, *c.Max
	}
	for j, x := range xs {
		if x >= lo && x <= hi {
			continue
		}
		switch c.Type {
		case schema.Bool:
			return bad(j, c, "%d is not a bool", x)
		case schema.Date:
			return bad(j, c, "%s is outside the declared bounds [%s, %s]", schema.FormatDate(x), schema.FormatDate(lo), schema.FormatDate(hi))
		}
		return bad(j, c, "%d is outside the declared bounds [%d, %d]", x, lo, hi)
	}
	return nil
}

// codesInOrder reports whether the codes of raw (cw bytes each) use ents
// entries in order of first use, all of them.
func codesInOrder(raw []byte, cw, ents int) bool {
	next := 0
	n := len(raw) / cw
	for j := range n {
		var c int
		if cw == 1 {
			c = int(raw[j])
		} else {
			c = int(binary.LittleEndian.Uint16(raw[2*j:]))
		}
		if c >= next {
			if c > next {
				return false
			}
			next++
		}
	}
	return next == ents
}

// isASCII reports whether b is all ASCII.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// DecodeNarrow sets out[j] to lo plus the j-th w-byte little-endian
// number of raw.
func DecodeNarrow(out []int64, raw []byte, lo int64, w int) {
	decodeNarrow(out, raw, lo, w)
}

// DecodeNarrow32 is DecodeNarrow into 32-bit values. It reports false
// when a value does not fit in 32 bits (out is then partly set).
func DecodeNarrow32(out []int32, raw []byte, lo int64, w int) bool {
	return decodeNarrow(out, raw, lo, w)
}

// decodeNarrow decodes as DecodeNarrow does into values of type T, and
// reports whether each fits in T.
func decodeNarrow[T int32 | int64](out []T, raw []byte, lo int64, w int) bool {
	ok := true
	put := func(j int, v int64) {
		out[j] = T(v)
		ok = ok && int64(T(v)) == v
	}
	switch w {
	case 1:
		for j := range out {
			put(j, lo+int64(raw[j]))
		}
	case 2:
		for j := range out {
			put(j, lo+int64(binary.LittleEndian.Uint16(raw[2*j:])))
		}
	case 4:
		for j := range out {
			put(j, lo+int64(binary.LittleEndian.Uint32(raw[4*j:])))
		}
	case 8:
		for j := range out {
			put(j, lo+int64(binary.LittleEndian.Uint64(raw[8*j:])))
		}
	default:
		var b [8]byte
		for j := range out {
			copy(b[:w], raw[w*j:])
			put(j, lo+int64(binary.LittleEndian.Uint64(b[:])))
		}
	}
	return ok
}

// Wipe zeroes the reader's buffers of plaintext.
func (p *PartReader) Wipe() {
	p.blk.Wipe()
	clear(p.ints[:cap(p.ints)])
}
