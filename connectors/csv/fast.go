package csv

import (
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// fastReader reads the records of UTF-8 CSV exactly as encoding/csv does
// (comma-separated, no comments, strict quotes, \r\n read as \n, blank
// lines skipped, a \r before the end of input dropped), but faster: a line
// with no quote, by far the most common, is split at its commas into
// substrings of the block it was read into, with no copying (and
// Reader.fill converts most such lines straight from the block, see
// appendLine); a record with quotes is gathered whole (its lines up to the
// first that ends with an even count of quotes, which is where an RFC 4180
// record ends) and handed to encoding/csv, so that quoted fields and every
// error in them are encoding/csv's own. A test compares the two on fuzzed
// input.
type fastReader struct {
	src      io.Reader
	comma    byte     // the delimiter
	noQuotes bool     // quotes are ordinary characters
	line     int      // the number of the last line read
	start    int      // the line the last record starts on
	rec      []string // the last record's fields
	gather   []byte   // a quoted record's lines as they are
	norm     []byte   // and as encoding/csv reads them
	unq      []byte   // its fields, unquoted, one after another
	ends     []int    // where each field ends in unq
	onLines  []int    // for a quoted record, the line each field starts on
	// buf is the block the input is read into: buf[pos:end] is read but
	// not yet taken as lines. A line with no quote is handed out as a
	// string of buf itself, so bytes before end are never written again
	// but for the line end of a quoted record (see normalize), which no
	// string holds; a block outgrown is left to the strings made of it.
	buf      []byte
	pos, end int
	rerr     error // an error of src not yet returned
	// What is known of buf[:checked], which ends with a line end: valid
	// says whether its lines from the one check last started at are
	// valid UTF-8; quote is where the first quote is in its lines from
	// the one check or findQuote last started at (checked if there is
	// none), and is behind the lines being read once they pass it.
	checked int
	valid   bool
	quote   int
	// arena holds the text of quoted records, which their fields are
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

// window is the most bytes fill reads at once, and the most it holds
// unread when it reads: the input is read in the same pieces as a
// bufio.Reader of this size would read it, so that the record limit
// (limit.go) stops the input at the same point.
const window = 64 << 10

// blockSize is the size of a block of buf: a batch's records share a few.
const blockSize = 256 << 10

// readRaw returns the next line as it is, and whether it is the last
// with no \n, or io.EOF after the last. The line is valid until the next
// call.
func (f *fastReader) readRaw() ([]byte, bool, error) {
	from := f.pos // where a \n may be; buf[f.pos:from] has none
	for {
		if i := bytes.IndexByte(f.buf[from:f.end], '\n'); i >= 0 {
			line := f.buf[f.pos : from+i+1]
			f.pos = from + i + 1
			f.line++
			return line, false, nil
		}
		if err := f.rerr; err != nil {
			// As bufio.Reader.ReadSlice: the unread bytes with the
			// error, which is returned once.
			f.rerr = nil
			line := f.buf[f.pos:f.end]
			f.pos = f.end
			if len(line) > 0 && err == io.EOF {
				f.line++
				return line, true, nil
			}
			return nil, false, err
		}
		from = f.end - f.pos
		f.fill()
		from += f.pos
	}
}

// fill reads more input after buf[pos:end], moving that to a new block
// when the rest of buf is too small, or sets rerr.
func (f *fastReader) fill() {
	unread := f.end - f.pos
	// A bufio.Reader slides its unread bytes to the front and reads into
	// the rest of its buffer; a line longer than the buffer is taken out
	// of it a buffer at a time.
	want := window - unread%window
	if len(f.buf)-f.end < want {
		b := make([]byte, max(blockSize, 2*unread+window))
		copy(b, f.buf[f.pos:f.end])
		f.buf, f.pos, f.end = b, 0, unread
		f.checked, f.quote = 0, 0
	}
	for range 100 {
		n, err := f.src.Read(f.buf[f.end : f.end+want])
		if n < 0 || n > want {
			f.rerr = errors.New("csv: invalid count from Read")
			return
		}
		f.end += n
		if err != nil {
			f.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	f.rerr = io.ErrNoProgress
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
	text, rec, _, err := f.next()
	if err != nil || rec != nil {
		return rec, err
	}
	return f.splitLine(text), nil
}

// next reads the next record. A record of one line with no quote (or
// whose quotes are ordinary characters) is returned as text, the line
// without its line end, a string of buf, with rec nil; valid says the
// line is known to be valid UTF-8 (if false, it may be valid or not).
// Any other record is returned as read returns it, with text empty.
// Errors are read's.
func (f *fastReader) next() (text string, rec []string, valid bool, err error) {
	for {
		var line []byte
		var last, quoted bool
		if i := bytes.IndexByte(f.buf[f.pos:f.end], '\n'); i >= 0 {
			// The common case: a whole line in buf, which check reads
			// with many others in a few passes.
			start, stop := f.pos, f.pos+i+1
			f.pos = stop
			f.line++
			line = f.buf[start:stop]
			if stop > f.checked {
				f.check(start)
			} else if f.quote < start {
				f.findQuote(start)
			}
			quoted, valid = f.quote < stop, f.valid
		} else {
			line, last, err = f.readRaw()
			if err != nil {
				return "", nil, false, err
			}
			quoted = !f.noQuotes && bytes.IndexByte(line, '"') >= 0
			valid = !quoted && utf8.Valid(line)
		}
		f.start = f.line
		if quoted {
			rec, err := f.readQuoted(line, last)
			return "", rec, false, err
		}
		// As normalize, then without the \n.
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			continue // blank
		}
		f.onLines = f.onLines[:0]
		// buf is not written again where line is.
		return unsafe.String(&line[0], len(line)), nil, valid, nil
	}
}

// check reads the whole lines in buf from start, which starts a line, to
// set checked, valid and quote.
func (f *fastReader) check(start int) {
	lines := f.buf[start:f.end]
	lines = lines[:bytes.LastIndexByte(lines, '\n')+1]
	f.checked = start + len(lines)
	f.valid = utf8.Valid(lines)
	f.findQuote(start)
}

// findQuote sets quote to the first quote in buf[start:checked], or to
// checked.
func (f *fastReader) findQuote(start int) {
	f.quote = f.checked
	if f.noQuotes {
		return
	}
	if i := bytes.IndexByte(f.buf[start:f.checked], '"'); i >= 0 {
		f.quote = start + i
	}
}

// splitLine splits text, a line with no quote and no line end, at its
// commas, into f.rec.
func (f *fastReader) splitLine(text string) []string {
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
	return f.rec
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
