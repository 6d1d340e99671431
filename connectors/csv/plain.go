package csv

import (
	"math/bits"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/xjdata/cleanroom/schema"
)

// The kinds of field a plain line is read into by appendLine.
const (
	plainString = iota
	plainInt
	plainBool
	plainDate
)

// plainField says how appendLine reads one field of a line: into which
// column and vector, and the column's type and bounds as ParseValue
// checks them.
type plainField struct {
	vec      *schema.Vector // in the batch being filled
	col      int
	kind     int
	maxLen   int   // for a string
	min, max int64 // for an int or a date
}

// planFields sets r.plain from the header's columns, for the fast path.
func (r *Reader) planFields() {
	r.plain = make([]plainField, len(r.cols))
	for j, i := range r.cols {
		c := &r.schema.Columns[i]
		p := &r.plain[j]
		p.col = i
		switch c.Type {
		case schema.String:
			p.kind, p.maxLen = plainString, c.MaxLen
			if p.maxLen == 0 {
				p.maxLen = schema.DefaultMaxLen
			}
		case schema.Int:
			p.kind, p.min, p.max = plainInt, *c.Min, *c.Max
		case schema.Bool:
			p.kind = plainBool
		case schema.Date:
			p.kind, p.min, p.max = plainDate, *c.Min, *c.Max
		default:
			r.plain = nil // ParseValue says what is wrong
			return
		}
	}
}

// fillFast is fill on the fast path: a line with no quote is split and
// converted in one pass by appendLine; anything it does not take, and any
// other record, is read as fill reads it.
func (r *Reader) fillFast(b *schema.Batch, upTo int) error {
	for j := range r.plain {
		r.plain[j].vec = &b.Cols[r.plain[j].col]
	}
	err := r.fillLines(b, upTo)
	for j := range r.plain {
		r.plain[j].vec = nil
	}
	return err
}

// fillLines is fillFast but for setting and clearing the vectors of
// r.plain.
func (r *Reader) fillLines(b *schema.Batch, upTo int) error {
	f := r.fast
	for b.Len < upTo {
		if r.lim.err == nil {
			r.takeLines(b, upTo)
			if b.Len == upTo {
				return nil
			}
		}
		// A line appendLine did not take, or one not whole in buf, or a
		// quoted record: one record, as fill reads it.
		text, rec, _, err := f.next()
		if err != nil {
			return r.check(err, nil)
		}
		if rec == nil {
			rec = f.splitLine(text)
		}
		if _, err := r.checkRecord(rec); err != nil {
			return err
		}
		if err := r.appendRecord(b, rec); err != nil {
			return err
		}
	}
	return nil
}

// takeLines appends to b the whole lines in buf from pos, as many as
// appendLine takes and b has room for.
func (r *Reader) takeLines(b *schema.Batch, upTo int) {
	f := r.fast
	if f.pos >= f.checked {
		f.check(f.pos)
	}
	lines, valid := f.buf[:f.checked], f.valid
	pos, first, rows := f.pos, b.Len, b.Len
	for rows < upTo && pos < len(lines) {
		if f.quote < pos {
			f.findQuote(pos)
		}
		n := r.appendLine(lines[pos:], valid)
		if n == 0 || f.quote < pos+n {
			b.Len = rows
			r.undo(b)
			break
		}
		pos += n
		rows++
	}
	if taken := rows - first; taken > 0 {
		b.Len = rows
		r.rows += int64(taken)
		f.pos = pos
		f.line += taken
		f.start = f.line // the last record is the last line taken
		f.onLines = f.onLines[:0]
	}
}

// undo drops what appendLine appended to b's vectors after its b.Len rows.
func (r *Reader) undo(b *schema.Batch) {
	for j := range r.plain {
		if v := r.plain[j].vec; r.plain[j].kind == plainString {
			v.Strs = v.Strs[:b.Len]
		} else {
			v.Ints = v.Ints[:b.Len]
		}
	}
}

// appendLine appends the fields of the first line of p, which ends with a
// \n, to the vectors of r.plain, and returns the length of the line with
// its line end; or it returns 0, having appended some of the line's fields
// or none. It takes a line only when it is not blank, it has the header's
// number of fields, and each is the common form of a valid value (as
// ParseValue takes it, and not a null marker); it does not look for
// quotes. valid says p is known to be valid UTF-8. p is not written again
// where a field is: the strings appended share its memory.
func (r *Reader) appendLine(p []byte, valid bool) int {
	line := unsafe.String(&p[0], len(p))
	if line[0] == '\n' || line[0] == '\r' && line[1] == '\n' {
		return 0 // blank
	}
	comma, plain, nulls := r.fast.comma, r.plain, r.nulls
	s := line // from the field being read to the end of p
	for j := range plain {
		c := &plain[j]
		end := comma // what must follow the field
		if j == len(plain)-1 {
			end = '\n'
		}
		var field string
		if c.kind == plainInt {
			// Digits: the form fastInt reads (a minus sign that is the
			// delimiter ends the field).
			k := 0
			neg := s[0] == '-' && comma != '-'
			if neg {
				k = 1
			}
			var v int64
			for {
				d := s[k] - '0'
				if d > 9 {
					break
				}
				v = v*10 + int64(d)
				k++
			}
			if n := k - b2i(neg); n == 0 || n > 18 {
				return 0
			}
			if neg {
				v = -v
			}
			if v < c.min || v > c.max {
				return 0
			}
			field = s[:k]
			if s[k] != end {
				if end != '\n' || s[k] != '\r' || s[k+1] != '\n' {
					return 0
				}
				k++ // \r\n
			}
			s = s[k+1:]
			c.vec.Ints = append(c.vec.Ints, v)
		} else {
			k := firstOf(s, comma, '\n')
			if k < 0 || s[k] != end {
				return 0
			}
			field = s[:k]
			if end == '\n' && k > 0 && s[k-1] == '\r' {
				field = field[:k-1]
			}
			s = s[k+1:]
			switch c.kind {
			case plainString:
				if len(field) > c.maxLen || !valid && !utf8.ValidString(field) {
					return 0
				}
				c.vec.Strs = append(c.vec.Strs, field)
			case plainBool:
				switch field {
				case "true":
					c.vec.Ints = append(c.vec.Ints, 1)
				case "false":
					c.vec.Ints = append(c.vec.Ints, 0)
				default:
					return 0
				}
			case plainDate:
				d, ok := schema.ParseDigitsDate(field)
				if !ok || d < c.min || d > c.max {
					return 0
				}
				c.vec.Ints = append(c.vec.Ints, d)
			}
		}
		if nulls != nil && slices.Contains(nulls, field) {
			return 0
		}
	}
	return len(line) - len(s)
}

// b2i returns 1 if b, else 0.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Masks for reading 8 bytes at a time.
const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// firstOf returns the index of the first a or b in s, or -1.
func firstOf(s string, a, b byte) int {
	ma, mb := uint64(a)*lows, uint64(b)*lows
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := load64(s[i : i+8])
		// A byte of x or y is zero where w has a or b; the lowest high
		// bit set in t marks the first such byte (a borrow can set
		// others, but only above a zero byte).
		x, y := w^ma, w^mb
		if t := ((x-lows)&^x | (y-lows)&^y) & highs; t != 0 {
			return i + bits.TrailingZeros64(t)>>3
		}
	}
	for ; i < len(s); i++ {
		if s[i] == a || s[i] == b {
			return i
		}
	}
	return -1
}

// load64 returns the first 8 bytes of s as a little-endian number.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
