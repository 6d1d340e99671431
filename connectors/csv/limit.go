package csv

import (
	"bytes"
	"fmt"
	"io"
)

// MaxRecordBytes is the longest record the reader accepts, in bytes, not
// counting the \n or \r\n that ends it. A record is one line, or several when a
// quoted field holds newlines; the newlines inside it count.
const MaxRecordBytes = 1 << 20

// limitReader passes the bytes of r through and stops with an *Error as soon
// as a record grows past MaxRecordBytes, before encoding/csv buffers it.
//
// It finds records the way RFC 4180 delimits them: a newline ends a record
// unless it is inside a quoted field, that is, unless an odd number of
// quotes precedes it in the record (an escaped quote "" counts twice). After
// a stray quote, which encoding/csv rejects, the count can be wrong; but
// encoding/csv reports that quote first, unless the record is already within
// a buffer's length of the limit, when the input is rejected as too long.
type limitReader struct {
	r       io.Reader
	file    string
	max     int  // MaxRecordBytes, but for tests
	line    int  // the line being read, 1-based
	recLine int  // the line the current record starts on
	recLen  int  // bytes of the current record so far
	inQuote bool // inside a quoted field
	// noQuotes is set when quotes are ordinary characters: every line
	// is a record.
	noQuotes bool
	// pendingCR is set when the last byte seen is a \r not yet counted.
	pendingCR bool
	err       *Error
}

func newLimitReader(r io.Reader, file string) *limitReader {
	return &limitReader{r: r, file: file, max: MaxRecordBytes, line: 1, recLine: 1}
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if !l.scan(p[:n]) {
		return 0, l.err
	}
	return n, err
}

// scan accounts for p and reports whether every record in it is within the
// limit; if not, it sets l.err.
func (l *limitReader) scan(p []byte) bool {
	// No record can pass the limit within p if even the current one,
	// with a \r held back and all of p, does not.
	if l.recLen+1+len(p) <= l.max && l.skip(p) {
		return true
	}
	return l.scanLines(p)
}

// skip accounts for p in a few passes over it, when its last newline ends a
// record, and reports whether it did. It leaves l as scanLines would.
func (l *limitReader) skip(p []byte) bool {
	last := bytes.LastIndexByte(p, '\n')
	if last < 0 || !l.noQuotes && l.inQuote != (bytes.Count(p[:last], quoteByte)&1 == 1) {
		return false // no newline, or the last one is inside a quoted field
	}
	l.line += bytes.Count(p, newline)
	l.recLine = l.line
	tail := p[last+1:]
	l.recLen = len(tail)
	l.pendingCR = false
	if len(tail) > 0 && tail[len(tail)-1] == '\r' {
		l.recLen--
		l.pendingCR = true
	}
	l.inQuote = !l.noQuotes && bytes.Count(tail, quoteByte)&1 == 1
	return true
}

// scanLines accounts for p line by line.
func (l *limitReader) scanLines(p []byte) bool {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		n := len(seg)
		if l.pendingCR && n > 0 {
			n++ // the \r held back was not part of a line end
		}
		l.pendingCR = false
		if len(seg) > 0 && seg[len(seg)-1] == '\r' {
			// A final \r is part of the line end if a \n follows: do not
			// count it, or hold it back until the next byte says.
			n--
			l.pendingCR = i < 0
		}
		if l.recLen+n > l.max {
			l.err = l.tooLong()
			return false
		}
		l.recLen += n
		if !l.noQuotes && bytes.Count(seg, quoteByte)&1 == 1 {
			l.inQuote = !l.inQuote
		}
		if i < 0 {
			return true
		}
		l.line++
		if l.inQuote {
			l.recLen++ // a newline inside a quoted field is part of the record
		} else {
			l.recLen = 0
			l.recLine = l.line
		}
		p = p[i+1:]
	}
	return true
}

var quoteByte, newline = []byte{'"'}, []byte{'\n'}

func (l *limitReader) tooLong() *Error {
	if l.recLine == l.line {
		return &Error{File: l.file, Line: l.line,
			Err: fmt.Errorf("line is longer than %d bytes", l.max)}
	}
	return &Error{File: l.file, Line: l.recLine,
		Err: fmt.Errorf("record is longer than %d bytes (lines %d to %d; is a quote left open?)", l.max, l.recLine, l.line)}
}
