package csv

import (
	"bufio"
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"strings"
	"unsafe"
)

// fastReader reads the records of UTF-8 CSV exactly as encoding/csv does
// (comma-separated, no comments, strict quotes, \r\n read as \n, blank
// lines skipped, a \r before the end of input dropped), but faster: a line
// with no quote, by far the most common, is split at its commas into
// substrings of one string, with no further copying; a record with quotes
// is gathered whole (its lines up to the first that ends with an even
// count of quotes, which is where an RFC 4180 record ends) and handed to
// encoding/csv, so that quoted fields and every error in them are
// encoding/csv's own. A test compares the two on fuzzed input.
type fastReader struct {
	br       *bufio.Reader
	comma    byte     // the delimiter
	noQuotes bool     // quotes are ordinary characters
	line     int      // the number of the last line read
	start    int      // the line the last record starts on
	rec      []string // the last record's fields
	long     []byte   // a line longer than br's buffer, gathered
	gather   []byte   // a quoted record's lines as they are
	norm     []byte   // and as encoding/csv reads them
	unq      []byte   // its fields, unquoted, one after another
	ends     []int    // where each field ends in unq
	onLines  []int    // for a quoted record, the line each field starts on
	// arena holds the text of the records read, which their fields are
	// strings of: one allocation for many records, never written again
	// where a string was made of it.
	arena []byte
}

// arenaSize is the size of a record arena: a batch's records share a few.
const arenaSize = 256 << 10

// keep copies b into the arena and returns it as a string that shares the
// arena's memory.
func (f *fastReader) keep(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > cap(f.arena)-len(f.arena) {
		f.arena = make([]byte, 0, max(arenaSize, len(b)))
	}
	start := len(f.arena)
	f.arena = append(f.arena, b...)
	return unsafe.String(&f.arena[start], len(b))
}

// readRaw returns the next line as it is, and whether it is the last
// with no \n, or io.EOF after the last. The line is valid until the next
// call.
func (f *fastReader) readRaw() ([]byte, bool, error) {
	line, err := f.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		f.long = append(f.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = f.br.ReadSlice('\n')
			f.long = append(f.long, line...)
		}
		line = f.long
	}
	if len(line) > 0 && err == io.EOF {
		f.line++
		return line, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	f.line++
	return line, false, nil
}

// normalize returns a line as encoding/csv reads it: a \r before the end
// of input dropped, \r\n made \n (in place).
func normalize(line []byte, last bool) []byte {
	if last && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		line[n-2] = '\n'
		line = line[:n-1]
	}
	return line
}

// read returns the next record's fields, valid until the next call, or
// io.EOF, or an error of the underlying reader, or a *stdcsv.ParseError
// with lines counted from the start of the input.
func (f *fastReader) read() ([]string, error) {
	for {
		raw, last, err := f.readRaw()
		if err != nil {
			return nil, err
		}
		f.start = f.line
		if !f.noQuotes && bytes.IndexByte(raw, '"') >= 0 {
			return f.readQuoted(raw, last)
		}
		line := normalize(raw, last)
		if len(line) == 0 || len(line) == 1 && line[0] == '\n' {
			continue // blank
		}
		f.onLines = f.onLines[:0]
		text := f.keep(bytes.TrimSuffix(line, []byte{'\n'}))
		f.rec = f.rec[:0]
		for {
			i := strings.IndexByte(text, f.comma)
			if i < 0 {
				break
			}
			f.rec = append(f.rec, text[:i])
			text = text[i+1:]
		}
		f.rec = append(f.rec, text)
		return f.rec, nil
	}
}

// readQuoted reads the rest of a record whose first line, holding a quote,
// is line (as it is; last if it is the input's last), and splits it into
// fields. A record that is not valid is parsed again, from its lines as
// they are, by encoding/csv, whose error is returned.
func (f *fastReader) readQuoted(line []byte, last bool) ([]string, error) {
	f.gather = append(f.gather[:0], line...)
	f.norm = append(f.norm[:0], normalize(line, last)...)
	quotes := bytes.Count(f.gather, []byte{'"'})
	for quotes%2 == 1 {
		next, last, err := f.readRaw()
		if err == io.EOF {
			break // encoding/csv says what is missing
		}
		if err != nil {
			return nil, err
		}
		f.gather = append(f.gather, next...)
		quotes += bytes.Count(next, []byte{'"'})
		f.norm = append(f.norm, normalize(next, last)...)
	}
	if f.split(f.norm) {
		return f.rec, nil
	}
	cr := stdcsv.NewReader(bytes.NewReader(f.gather))
	cr.Comma = rune(f.comma)
	cr.FieldsPerRecord = -1
	_, err := cr.Read()
	var pe *stdcsv.ParseError
	if errors.As(err, &pe) {
		pe.StartLine += f.start - 1
		pe.Line += f.start - 1
		return nil, pe
	}
	if err != nil {
		return nil, err
	}
	// Cannot happen: split accepts every record encoding/csv accepts.
	return nil, &stdcsv.ParseError{StartLine: f.start, Line: f.line, Column: 1, Err: errors.New("internal error: a quoted record was misread")}
}

// split splits rec, one whole record as encoding/csv reads its lines, into
// f.rec (one string, sliced) and f.onLines, and reports whether it is
// valid RFC 4180 with strict quotes.
func (f *fastReader) split(rec []byte) bool {
	n, i, line := len(rec), 0, f.start
	buf, ends := f.unq[:0], f.ends[:0]
	f.onLines = f.onLines[:0]
	for {
		f.onLines = append(f.onLines, line)
		if i < n && rec[i] == '"' {
			i++
			for {
				j := bytes.IndexByte(rec[i:], '"')
				if j < 0 {
					return false // no closing quote
				}
				seg := rec[i : i+j]
				line += bytes.Count(seg, []byte{'\n'})
				buf = append(buf, seg...)
				i += j + 1
				if i < n && rec[i] == '"' {
					buf = append(buf, '"')
					i++
					continue
				}
				break
			}
			if i < n && rec[i] != f.comma && rec[i] != '\n' {
				return false // text after the closing quote
			}
		} else {
			j := indexEither(rec[i:], f.comma, '\n')
			field := rec[i : i+j]
			if bytes.IndexByte(field, '"') >= 0 {
				return false // a quote in an unquoted field
			}
			buf = append(buf, field...)
			i += j
		}
		ends = append(ends, len(buf))
		if i >= n || rec[i] == '\n' {
			break
		}
		i++ // the comma
	}
	if i < n-1 {
		return false // more after the record's end
	}
	f.unq, f.ends = buf, ends
	text := f.keep(buf)
	f.rec = f.rec[:0]
	prev := 0
	for _, e := range ends {
		f.rec = append(f.rec, text[prev:e])
		prev = e
	}
	return true
}

// fieldLine returns the line field j of the last record starts on.
func (f *fastReader) fieldLine(j int) int {
	if j < len(f.onLines) {
		return f.onLines[j]
	}
	return f.start
}

// indexEither returns the index of the first a or b in p, or len(p).
func indexEither(p []byte, a, b byte) int {
	for i, c := range p {
		if c == a || c == b {
			return i
		}
	}
	return len(p)
}
