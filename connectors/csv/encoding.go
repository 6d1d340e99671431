package csv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// The encodings Options.Encoding names. Names are compared without regard
// to case.
const (
	// UTF8 is the default: the input is UTF-8 and is read as it is.
	UTF8 = "utf-8"
	// GB18030 is China's national standard encoding (GB 18030), a
	// superset of GBK that encodes all of Unicode, as the WHATWG Encoding
	// Standard defines it: the byte 0x80 alone is the euro sign, as in
	// Windows' code page 936.
	GB18030 = "gb18030"
	// GBK is GB18030's one- and two-byte part, also known as code page
	// 936. GB18030's four-byte sequences are errors in it: declare
	// GB18030 to accept them.
	GBK = "gbk"
)

// ErrEncoding is wrapped by the *Error for input that is not valid in the
// declared encoding, for example a GB18030 file that holds UTF-8.
var ErrEncoding = errors.New("input is not in the declared encoding")

// decoding is what an Options.Encoding other than UTF-8 needs.
type decoding struct {
	name    string // as error messages give it: GB18030 or GBK
	gb18030 bool
}

// lookupEncoding returns the decoding of name, nil for UTF-8.
func lookupEncoding(name string) (*decoding, error) {
	switch strings.ToLower(name) {
	case "", UTF8:
		return nil, nil
	case GB18030:
		return &decoding{name: "GB18030", gb18030: true}, nil
	case GBK:
		return &decoding{name: "GBK"}, nil
	}
	return nil, fmt.Errorf("csv: unknown Encoding %q (want %s, %s or %s)", name, UTF8, GB18030, GBK)
}

// reader returns the UTF-8 text of r, which is in the encoding d.
func (d *decoding) reader(r io.Reader) io.Reader {
	t := &strictDecoder{d: d, start: true}
	if d.gb18030 {
		t.dec = simplifiedchinese.GB18030.NewDecoder()
	} else {
		t.dec = simplifiedchinese.GBK.NewDecoder()
	}
	return transform.NewReader(r, t)
}

// decodeError is a byte sequence that is not a character of the encoding.
// The lineTracker gives it its place in the file.
type decodeError struct {
	enc string
	seq []byte // the bytes; none for a UTF-8 byte order mark
	// unmapped is set for a lead and trail byte that golang.org/x/text
	// maps to no character: a user-defined code (GB18030 maps them to
	// the Private Use Area, which means nothing without the font that
	// drew them) or an unassigned one.
	unmapped bool
	off      int64 // the offset of seq in the input
}

func (e *decodeError) Error() string {
	if len(e.seq) == 0 {
		return fmt.Sprintf("the file starts with a UTF-8 byte order mark: it is UTF-8, not %s", e.enc)
	}
	var b strings.Builder
	b.WriteString("byte")
	if len(e.seq) > 1 {
		b.WriteString("s")
	}
	for _, c := range e.seq {
		fmt.Fprintf(&b, " 0x%02x", c)
	}
	if len(e.seq) > 1 {
		b.WriteString(" are")
	} else {
		b.WriteString(" is")
	}
	if e.unmapped {
		fmt.Fprintf(&b, " a user-defined or unassigned %s code, not a character (is the file in another encoding?)", e.enc)
		return b.String()
	}
	fmt.Fprintf(&b, " not a %s character (is the file in another encoding?)", e.enc)
	return b.String()
}

func (e *decodeError) Unwrap() error { return ErrEncoding }

// strictDecoder decodes as golang.org/x/text's GB18030 or GBK decoder does,
// but stops with a *decodeError at the first byte sequence that is not a
// character. The x/text decoder writes U+FFFD for most such sequences and
// goes on; and it takes a lead byte, a byte from 0x3a to 0x3f (: to ?) and
// two more for a four-byte character, which GB18030 has only with a digit
// in second place. So strictDecoder checks the structure of what x/text
// decodes, which is cheap, and whether a lead and a trail byte map to a
// character only when U+FFFD comes out, which text seldom holds.
type strictDecoder struct {
	d     *decoding
	dec   transform.Transformer
	start bool  // nothing has been decoded yet
	off   int64 // the input consumed so far
}

var replacement = []byte(string(utf8.RuneError))

// Reset implements transform.Transformer.
func (t *strictDecoder) Reset() {
	t.dec.Reset()
	t.start = true
	t.off = 0
}

// Transform implements transform.Transformer.
func (t *strictDecoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	if t.start {
		if !atEOF && len(src) < len(bom) && bytes.HasPrefix(bom, src) {
			return 0, 0, transform.ErrShortSrc
		}
		if bytes.HasPrefix(src, bom) {
			return 0, 0, &decodeError{enc: t.d.name}
		}
		t.start = false
	}
	nDst, nSrc, err = t.dec.Transform(dst, src, atEOF)
	if i, n, unmapped := t.firstInvalid(src, nSrc, bytes.Contains(dst[:nDst], replacement)); i >= 0 {
		// Decoding is the same for a prefix that ends between
		// characters, so dst holds what src[:i] decodes to.
		o, _, _ := t.dec.Transform(dst, src[:i], true)
		e := &decodeError{enc: t.d.name, seq: bytes.Clone(src[i : i+n]), unmapped: unmapped, off: t.off + int64(i)}
		t.off += int64(i)
		return o, i, e
	}
	t.off += int64(nSrc)
	return nDst, nSrc, err
}

// firstInvalid returns the offset i of the first byte sequence of
// src[:end] that is not a character and its length n, and whether it is a
// lead and a trail byte that x/text maps to no character (a user-defined
// or unassigned code); i is -1 if there is none. Lead and trail bytes are
// looked up only if lookup is set. src[:end] is what the decoder consumed:
// whole characters, then bytes it could tell were not, which may be the
// first bytes of a longer sequence in src.
func (t *strictDecoder) firstInvalid(src []byte, end int, lookup bool) (i, n int, unmapped bool) {
	for i < end {
		c := src[i]
		if c <= 0x80 { // ASCII, or 0x80 for the euro sign as Windows has it
			i++
			continue
		}
		if c == 0xff || i+1 == len(src) {
			return i, 1, false
		}
		switch c1 := src[i+1]; {
		case 0x40 <= c1 && c1 <= 0xfe && c1 != 0x7f:
			if lookup && t.unmapped(src[i:i+2]) {
				return i, 2, true
			}
			i += 2
		case t.d.gb18030 && '0' <= c1 && c1 <= '9':
			if i+4 > len(src) {
				return i, len(src) - i, false
			}
			c2, c3 := src[i+2], src[i+3]
			if c2 < 0x81 || c2 == 0xff || c3 < '0' || c3 > '9' {
				return i, 4, false
			}
			// Four-byte codes from 39420 to 188999 are unassigned;
			// those from 189000 are U+10000 on.
			r := ((int(c-0x81)*10+int(c1-'0'))*126+int(c2-0x81))*10 + int(c3-'0')
			if r >= 39420 && (r < 189000 || r-189000 >= 0x100000) {
				return i, 4, false
			}
			i += 4
		default:
			return i, 1, false // not a trail byte: leave it to be read alone
		}
	}
	return -1, 0, false
}

// unmapped reports whether x/text decodes the lead and trail byte p to
// U+FFFD, which no two bytes encode.
func (t *strictDecoder) unmapped(p []byte) bool {
	var buf [8]byte
	n, _, _ := t.dec.Transform(buf[:], p, true)
	return bytes.Equal(buf[:n], replacement)
}

// lineTracker passes on the decoded text a line at a time and keeps the
// line it last passed on, so that a byte column that encoding/csv reports
// can be turned into a character column, and a decodeError placed in the
// file. As it hands on at most one line per Read, the bufio.Reader that
// encoding/csv reads from never holds more than the line being parsed, and
// that line is the one kept here.
type lineTracker struct {
	r      io.Reader
	file   string
	buf    []byte
	b0, b1 int
	err    error  // from r, returned once buf is drained
	line   int    // the number of the line in cur, 0 before the first
	cur    []byte // the bytes of that line passed on so far
	ended  bool   // cur holds the whole line and its \n
}

func newLineTracker(r io.Reader, file string) *lineTracker {
	return &lineTracker{r: r, file: file, buf: make([]byte, 64<<10), ended: true}
}

func (t *lineTracker) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if t.b0 == t.b1 {
		if t.err == nil {
			n, err := t.r.Read(t.buf)
			t.b0, t.b1, t.err = 0, n, err
		}
		if t.b0 == t.b1 {
			t.err = t.place(t.err)
			return 0, t.err
		}
	}
	if t.ended {
		t.line++
		t.cur = t.cur[:0]
		t.ended = false
	}
	chunk := t.buf[t.b0:t.b1]
	if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
		chunk = chunk[:i+1]
	}
	n := copy(p, chunk)
	t.b0 += n
	t.cur = append(t.cur, p[:n]...)
	t.ended = p[n-1] == '\n'
	return n, nil
}

// place returns err, or for a decodeError, an *Error that says where it
// is: after all that was passed on.
func (t *lineTracker) place(err error) error {
	de, ok := err.(*decodeError)
	if !ok {
		return err
	}
	e := &Error{File: t.file, Line: t.line, Column: utf8.RuneCount(t.cur) + 1, Err: de}
	if t.ended {
		e.Line, e.Column = t.line+1, 1
	}
	return e
}

// charColumn returns the character column of the byte column col of line,
// or 0 if line is not the one kept.
func (t *lineTracker) charColumn(line, col int) int {
	cur := t.cur
	switch {
	case line == t.line+1 && t.ended:
		cur = nil
	case line != t.line:
		return 0
	}
	k := col - 1
	if k > len(cur) {
		return utf8.RuneCount(cur) + 1 + k - len(cur)
	}
	return utf8.RuneCount(cur[:k]) + 1
}
