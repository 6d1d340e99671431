package csv

import (
	"encoding/binary"
	"math/bits"
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

func (r *Reader) fillLines(b *schema.Batch, upTo int) error {
	f := r.fast
	for b.Len < upTo {
		if r.lim.err == nil {
			// The lines in buf up to checked, as many as appendLine takes.
			if f.pos >= f.checked {
				f.check(f.pos)
			}
			f.onLines = f.onLines[:0]
			for b.Len < upTo && f.pos < f.checked {
				if f.quote < f.pos {
					f.findQuote(f.pos)
				}
				n := r.appendLine(f.buf[f.pos:f.checked], f.valid)
				if n == 0 || f.quote < f.pos+n {
					r.undo(b)
					break
				}
				f.pos += n
				f.line++
				f.start = f.line
				b.Len++
				r.rows++
			}
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
// quotes. valid says p is known to be valid UTF-8.
func (r *Reader) appendLine(p []byte, valid bool) int {
	if p[0] == '\n' || p[0] == '\r' && p[1] == '\n' {
		return 0 // blank
	}
	comma := r.fast.comma
	last := len(r.plain) - 1
	i := 0 // where the field starts in p
	for j := range r.plain {
		c := &r.plain[j]
		s := p[i:]
		end := comma // what must follow the field
		if j == last {
			end = '\n'
		}
		var k int // the field is s[:k], followed by end at s[k]
		if c.kind == plainInt {
			// Digits: the form fastInt reads (a minus sign that is the
			// delimiter ends the field).
			neg := s[0] == '-' && comma != '-'
			if neg {
				k = 1
			}
			from := k
			var v int64
			for {
				d := s[k] - '0'
				if d > 9 {
					break
				}
				v = v*10 + int64(d)
				k++
			}
			if k == from || k-from > 18 {
				return 0
			}
			if neg {
				v = -v
			}
			if v < c.min || v > c.max {
				return 0
			}
			c.vec.Ints = append(c.vec.Ints, v)
		} else {
			k = firstOf(s, comma, '\n')
			if k < 0 {
				return 0
			}
		}
		field := s[:k]
		if s[k] != end {
			if end != '\n' || s[k] != '\r' || s[k+1] != '\n' || c.kind != plainInt {
				return 0
			}
			k++ // \r\n after an int
		} else if end == '\n' && k > 0 && s[k-1] == '\r' {
			field = field[:k-1]
		}
		// p is not written again where field is.
		text := unsafe.String(unsafe.SliceData(field), len(field))
		switch c.kind {
		case plainString:
			if len(text) > c.maxLen || !valid && !utf8.ValidString(text) {
				return 0
			}
			c.vec.Strs = append(c.vec.Strs, text)
		case plainBool:
			switch text {
			case "true":
				c.vec.Ints = append(c.vec.Ints, 1)
			case "false":
				c.vec.Ints = append(c.vec.Ints, 0)
			default:
				return 0
			}
		case plainDate:
			d, ok := schema.ParseDigitsDate(text)
			if !ok || d < c.min || d > c.max {
				return 0
			}
			c.vec.Ints = append(c.vec.Ints, d)
		}
		if r.nulls != nil && r.isNull(text) {
			return 0
		}
		i += k + 1
	}
	return i
}

// Masks for reading 8 bytes at a time.
const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// firstOf returns the index of the first a or b in p, or -1.
func firstOf(p []byte, a, b byte) int {
	ma, mb := uint64(a)*lows, uint64(b)*lows
	i := 0
	for ; i+8 <= len(p); i += 8 {
		w := binary.LittleEndian.Uint64(p[i:])
		// A byte of x or y is zero where w has a or b; the lowest high
		// bit set in t marks the first such byte (a borrow can set
		// others, but only above a zero byte).
		x, y := w^ma, w^mb
		if t := ((x-lows)&^x | (y-lows)&^y) & highs; t != 0 {
			return i + bits.TrailingZeros64(t)>>3
		}
	}
	for ; i < len(p); i++ {
		if p[i] == a || p[i] == b {
			return i
		}
	}
	return -1
}
