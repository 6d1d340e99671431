package jsonl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// plain[c] is true for the bytes that stand for themselves in a JSON string:
// all but the quote, the backslash and control characters.
var plain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// isWS reports whether c is JSON whitespace other than \n, which ends lines.
func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

func skipWS(line []byte, i int) int {
	for i < len(line) && isWS(line[i]) {
		i++
	}
	return i
}

// parseRow reads line, which must be one JSON object holding a key for
// every column, into r.ints and r.strs. It reports the problem that comes
// first in the line, if any.
func (r *Reader) parseRow(line []byte) *Error {
	r.gen++
	r.arena = r.arena[:0]
	r.pend = r.pend[:0]
	err := r.parseObject(line)
	// String and date values are checked last, once the row's text is one
	// string, but they come before the problem that stopped the parse.
	if verr := r.checkPending(); verr != nil {
		return verr
	}
	return err
}

// parseObject parses line, converting int and bool values and setting
// aside string and date values in r.pend, and returns the first problem.
func (r *Reader) parseObject(line []byte) *Error {
	i := skipWS(line, 0)
	if i == len(line) {
		return r.errAt(0, "", "blank line (every line must hold an object)")
	}
	if line[i] != '{' {
		return r.errAt(i, "", "want a JSON object, got %s", describe(line, i))
	}
	i = skipWS(line, i+1)
	keys := 0
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			if i == len(line) {
				return r.errAt(i, "", "line ends inside the object (an object must be on one line)")
			}
			if line[i] != '"' {
				return r.errAt(i, "", "want a key (a JSON string), got %s", describe(line, i))
			}
			keyAt := i
			key, j, err := r.key(line, i)
			if err != nil {
				return err
			}
			c := r.lookup(key, keys)
			if c < 0 {
				return r.errAt(keyAt, "", "unknown key %s (not a column of the schema)", connectors.Quote(string(key)))
			}
			if r.seen[c] == r.gen {
				return r.errAt(keyAt, r.cols[c].Name, "key repeated (first at column %d)", r.seenAt[c]+1)
			}
			r.seen[c], r.seenAt[c] = r.gen, keyAt
			if keys < len(r.order) {
				r.order[keys] = c
			} else {
				r.order = append(r.order, c)
			}
			keys++

			i = skipWS(line, j)
			if i == len(line) || line[i] != ':' {
				return r.errAt(i, "", "want ':' after the key, got %s", describe(line, i))
			}
			i = skipWS(line, i+1)
			if i, err = r.value(line, i, c); err != nil {
				return err
			}
			i = skipWS(line, i)
			if i == len(line) {
				return r.errAt(i, "", "line ends inside the object (an object must be on one line)")
			}
			if line[i] == '}' {
				i++
				break
			}
			if line[i] != ',' {
				return r.errAt(i, "", "want ',' or '}' after a value, got %s", describe(line, i))
			}
			i = skipWS(line, i+1)
			if i < len(line) && line[i] == '}' {
				return r.errAt(i, "", "want a key after ',', got '}' (no trailing commas)")
			}
		}
	}
	if i = skipWS(line, i); i < len(line) {
		return r.errAt(i, "", "want the end of the line after the object, got %s (one object per line)", describe(line, i))
	}
	if keys < len(r.cols) {
		var missing []string
		for c := range r.cols {
			if r.seen[c] != r.gen {
				missing = append(missing, strconv.Quote(r.cols[c].Name))
			}
		}
		if len(missing) == 1 {
			return r.errAt(0, "", "missing key %s", missing[0])
		}
		return r.errAt(0, "", "missing keys %s", strings.Join(missing, ", "))
	}
	return nil
}

// lookup returns the column named key, or -1. It tries first the column of
// the k-th key of the last row, as rows tend to list keys in one order.
func (r *Reader) lookup(key []byte, k int) int {
	if k < len(r.order) {
		if c := r.order[k]; r.cols[c].Name == string(key) {
			return c
		}
	}
	if c, ok := r.index[string(key)]; ok {
		return c
	}
	return -1
}

// key reads the string at line[i], a quote, and returns its value, which is
// line's own bytes when the key has no escapes, and the offset after it.
func (r *Reader) key(line []byte, i int) ([]byte, int, *Error) {
	j := i + 1
	for j < len(line) && plain[line[j]] {
		j++
	}
	if j < len(line) && line[j] == '"' {
		return line[i+1 : j], j + 1, nil
	}
	var err *Error
	r.scratch, j, err = r.str(line, i, r.scratch[:0])
	return r.scratch, j, err
}

// str reads the string at line[i], a quote, appends its value to dst and
// returns dst and the offset after the string.
func (r *Reader) str(line []byte, i int, dst []byte) ([]byte, int, *Error) {
	j := i + 1
	for {
		start := j
		for j < len(line) && plain[line[j]] {
			j++
		}
		dst = append(dst, line[start:j]...)
		if j == len(line) {
			return dst, j, r.errAt(j, "", "line ends inside the string that starts at column %d", i+1)
		}
		switch c := line[j]; c {
		case '"':
			return dst, j + 1, nil
		case '\\':
			var err *Error
			if dst, j, err = r.escape(line, j, dst); err != nil {
				return dst, j, err
			}
		default:
			return dst, j, r.errAt(j, "", "control character %U in a string (write it as an escape)", rune(c))
		}
	}
}

// escape reads the escape at line[j], a backslash, appends what it stands
// for to dst, and returns dst and the offset after the escape.
func (r *Reader) escape(line []byte, j int, dst []byte) ([]byte, int, *Error) {
	if j+1 == len(line) {
		return dst, j, r.errAt(j+1, "", "line ends inside an escape")
	}
	var c byte
	switch line[j+1] {
	case '"', '\\', '/':
		c = line[j+1]
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		u, ok := hex4(line, j+2)
		if !ok {
			k := j + 2 // show the escape up to its first bad byte
			for k < min(j+6, len(line)) {
				k++
				if hexVal(line[k-1]) < 0 {
					break
				}
			}
			return dst, j, r.errAt(j, "", "invalid escape %s (want \\u and four hex digits)", connectors.Quote(string(line[j:k])))
		}
		switch {
		case u >= 0xdc00 && u < 0xe000:
			return dst, j, r.errAt(j, "", "invalid escape %s: a low surrogate with no high surrogate before it", line[j:j+6])
		case u >= 0xd800 && u < 0xdc00:
			lo, ok := rune(0), j+8 <= len(line) && line[j+6] == '\\' && line[j+7] == 'u'
			if ok {
				lo, ok = hex4(line, j+8)
			}
			if !ok || lo < 0xdc00 || lo >= 0xe000 {
				return dst, j, r.errAt(j, "", "invalid escape %s: a high surrogate with no low surrogate after it", line[j:j+6])
			}
			return utf8.AppendRune(dst, 0x10000+(u-0xd800)<<10+(lo-0xdc00)), j + 12, nil
		}
		return utf8.AppendRune(dst, u), j + 6, nil
	default:
		return dst, j, r.errAt(j, "", "invalid escape %s in a string", connectors.Quote(string(line[j:j+1+utf8Len(line[j+1:])])))
	}
	return append(dst, c), j + 2, nil
}

// utf8Len returns the length of the first rune of p, 1 if it is not UTF-8.
func utf8Len(p []byte) int {
	_, n := utf8.DecodeRune(p)
	return max(n, 1)
}

// hex4 returns the value of the four hex digits at line[i:].
func hex4(line []byte, i int) (rune, bool) {
	if i+4 > len(line) {
		return 0, false
	}
	var v rune
	for _, c := range line[i : i+4] {
		d := hexVal(c)
		if d < 0 {
			return 0, false
		}
		v = v<<4 | d
	}
	return v, true
}

// hexVal returns the value of the hex digit c, or -1.
func hexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// value reads the value at line[i] for column c and returns the offset
// after it. It converts an int or a bool; it sets a string or a date aside
// in r.pend, its text in r.arena.
func (r *Reader) value(line []byte, i, c int) (int, *Error) {
	col := &r.cols[c]
	if i == len(line) {
		return i, r.errAt(i, "", "want a value after ':', got the end of the line")
	}
	switch b := line[i]; {
	case b == '"':
		a0 := len(r.arena)
		var err *Error
		var end int
		r.arena, end, err = r.str(line, i, r.arena)
		if err != nil {
			return end, err
		}
		if col.Type != schema.String && col.Type != schema.Date {
			text := string(r.arena[a0:])
			r.arena = r.arena[:a0]
			return end, r.typeError(i, col, "string "+connectors.Quote(text))
		}
		if col.Type == schema.Date {
			if d, ok := schema.ParseDigitsDate(r.arena[a0:]); ok && d >= *col.Min && d <= *col.Max {
				r.ints[c] = d
				r.arena = r.arena[:a0]
				return end, nil
			}
		}
		r.pend = append(r.pend, pending{col: c, pos: i, a0: a0, a1: len(r.arena)})
		return end, nil
	case b == '-' || '0' <= b && b <= '9':
		return r.number(line, i, c)
	case b == '{':
		return i, r.typeError(i, col, "an object")
	case b == '[':
		return i, r.typeError(i, col, "an array")
	case 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z':
		j := i
		for j < len(line) && isWordByte(line[j]) {
			j++
		}
		word := line[i:j]
		switch {
		case string(word) == "true" || string(word) == "false":
			if col.Type != schema.Bool {
				return j, r.typeError(i, col, string(word))
			}
			r.ints[c] = 0
			if word[0] == 't' {
				r.ints[c] = 1
			}
			return j, nil
		case string(word) == "null":
			return j, r.errAt(i, col.Name, "null is not allowed (the schema has no nulls)")
		}
		return j, r.errAt(i, "", "invalid value %s (want a string, a number, true or false)", connectors.Quote(string(word)))
	}
	return i, r.errAt(i, "", "want a value after ':', got %s", describe(line, i))
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// number reads the number at line[i] for column c and returns the offset
// after it.
func (r *Reader) number(line []byte, i, c int) (int, *Error) {
	col := &r.cols[c]
	j := i
	if line[j] == '-' {
		j++
	}
	digits := j
	ok := j < len(line) && '0' <= line[j] && line[j] <= '9'
	if ok && line[j] == '0' {
		j++
	} else {
		for j < len(line) && '0' <= line[j] && line[j] <= '9' {
			j++
		}
	}
	intEnd := j
	if ok && j < len(line) && line[j] == '.' {
		j++
		ok = j < len(line) && '0' <= line[j] && line[j] <= '9'
		for j < len(line) && '0' <= line[j] && line[j] <= '9' {
			j++
		}
	}
	if ok && j < len(line) && (line[j] == 'e' || line[j] == 'E') {
		j++
		if j < len(line) && (line[j] == '+' || line[j] == '-') {
			j++
		}
		ok = j < len(line) && '0' <= line[j] && line[j] <= '9'
		for j < len(line) && '0' <= line[j] && line[j] <= '9' {
			j++
		}
	}
	// What looks like part of the number must be part of it: 01, 1.,
	// 1e+, -x and 12abc are not numbers.
	end := j
	for end < len(line) && (isWordByte(line[end]) || line[end] == '.' || line[end] == '+' || line[end] == '-') {
		end++
	}
	if !ok || end != j {
		return end, r.errAt(i, "", "invalid number %s", connectors.Quote(string(line[i:end])))
	}
	text := line[i:j]
	if col.Type != schema.Int {
		return j, r.typeError(i, col, "number "+echo(text))
	}
	if intEnd != j {
		return j, r.errAt(i, col.Name, "%s is not an integer (want no fraction or exponent)", echo(text))
	}
	// Convert here, and leave it to ParseValue to say what is wrong.
	var u uint64
	over := intEnd-digits > 19
	for _, d := range line[digits:intEnd] {
		u = u*10 + uint64(d-'0')
	}
	var v int64
	switch {
	case over || u > 1<<63 || u == 1<<63 && digits == i:
		over = true
	case digits > i:
		v = -int64(u)
	default:
		v = int64(u)
	}
	if over || v < *col.Min || v > *col.Max {
		s := string(text)
		_, _, err := col.ParseValue(s)
		if err == nil { // cannot happen: ParseInt agrees with the above
			err = &schema.ValueError{Column: col.Name, Reason: fmt.Sprintf("%s is not a valid %s", connectors.Quote(s), col.Type)}
		}
		return j, r.valueError(i, col, s, err)
	}
	r.ints[c] = v
	return j, nil
}

// echo returns the bytes of a number as they are, cut to connectors.MaxEcho bytes.
func echo(text []byte) string {
	if len(text) <= connectors.MaxEcho {
		return string(text)
	}
	return string(text[:connectors.MaxEcho]) + "…"
}

// typeError says that the value at offset i is got, of a JSON type that
// column col does not take.
func (r *Reader) typeError(i int, col *schema.Column, got string) *Error {
	var want string
	switch col.Type {
	case schema.String:
		want = "a JSON string"
	case schema.Date:
		want = "a date as a JSON string \"YYYY-MM-DD\""
	case schema.Int:
		want = "an integer (a JSON number)"
	case schema.Bool:
		want = "true or false"
	}
	return r.errAt(i, col.Name, "want %s, got %s", want, got)
}

// checkPending converts the string and date values set aside, in the order
// they came, and returns the first that does not fit its column.
func (r *Reader) checkPending() *Error {
	if len(r.pend) == 0 {
		return nil
	}
	row := string(r.arena) // one allocation for the row's strings
	for _, p := range r.pend {
		col := &r.cols[p.col]
		text := row[p.a0:p.a1]
		v, s, err := col.ParseValue(text)
		if err != nil {
			return r.valueError(p.pos, col, text, err)
		}
		if col.Type == schema.String {
			r.strs[p.col] = s
		} else {
			r.ints[p.col] = v
		}
	}
	return nil
}

// valueError reports err, from ParseValue, for the value text at offset i.
func (r *Reader) valueError(i int, col *schema.Column, text string, err error) *Error {
	var ve *schema.ValueError
	if len(text) > connectors.MaxEcho && errors.As(err, &ve) {
		// ParseValue quotes the whole value; keep its first bytes only.
		reason := strings.Replace(ve.Reason, strconv.Quote(text), connectors.Quote(text), 1)
		if len(reason) > 4*connectors.MaxEcho+64 {
			reason = fmt.Sprintf("value of %d bytes is not a valid %s", len(text), col.Type)
		}
		err = &schema.ValueError{Column: ve.Column, Reason: reason}
	}
	e := r.errAt(i, col.Name, "%s", err.Error())
	e.Err = err
	return e
}

// errAt returns an *Error at offset i of the current line.
func (r *Reader) errAt(i int, field, format string, args ...any) *Error {
	return &Error{File: r.file, Line: r.line, Column: i + 1, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// describe names what is at line[i] for an error message.
func describe(line []byte, i int) string {
	if i >= len(line) {
		return "the end of the line"
	}
	c, n := utf8.DecodeRune(line[i:])
	if c == utf8.RuneError && n <= 1 {
		return fmt.Sprintf("byte 0x%02x (not UTF-8)", line[i])
	}
	return strconv.QuoteRune(c)
}
