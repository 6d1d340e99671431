package query

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a query that cannot be compiled: a syntax error, a construct
// outside the supported subset, or a name or type that does not match the
// catalog. Compile returns only errors of this type (use errors.As).
//
// Line and Column locate the problem in the SQL text, both 1-based, with
// Column counted in characters (runes), not bytes. Both are 0 when the
// position is not known. Msg never includes catalog contents beyond the
// names the query itself used.
type Error struct {
	Line, Column int
	Msg          string
}

// Error renders the error, for example
// "query: line 1, column 8: unknown column l.foo", or
// `query: unknown dataset "x"` when the position is not known.
func (e *Error) Error() string {
	if e.Line <= 0 {
		return "query: " + e.Msg
	}
	return fmt.Sprintf("query: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// errorAt returns an Error at byte offset off of sql, or without a position
// when off is negative.
func errorAt(sql string, off int, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if off >= 0 {
		e.Line, e.Column = position(sql, off)
	}
	return e
}

// position converts byte offset off of sql into a 1-based line and a
// 1-based column counted in runes.
func position(sql string, off int) (line, col int) {
	off = min(max(off, 0), len(sql))
	before := sql[:off]
	line = strings.Count(before, "\n") + 1
	start := strings.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCountInString(before[start:]) + 1
}

// tidbSyntax matches the start of the TiDB parser's positioned errors:
// `line L column C near "<rest of the SQL, at most 2048 bytes>"<detail> <(total length N)>`.
var (
	tidbSyntax = regexp.MustCompile(`^line (\d+) column (\d+) near "`)
	tidbTotal  = regexp.MustCompile(`\(total length (\d+)\)\s*$`)
	tidbCode   = regexp.MustCompile(`^\[[a-z]+:\d+\]`)
	// tidbComment matches the error of an unterminated comment.
	tidbComment = regexp.MustCompile(`(?s)^near '(.*)' at line \d+$`)
)

// maxNear is how much of the text at a syntax error the message quotes, in
// runes.
const maxNear = 40

// syntaxError converts an error of the TiDB parser into an Error.
//
// TiDB reports the scanner's position after the offending token (0-based
// on the first line, 1-based on later ones) and quotes the text from the
// start of that token to the end of the input. The quoted text pins the
// token down exactly, so the Error points at its first character.
func syntaxError(sql string, err error) *Error {
	msg := err.Error()
	if m := tidbComment.FindStringSubmatch(msg); m != nil {
		// An unterminated comment: TiDB quotes its first 80 bytes.
		text := fmt.Sprintf("syntax error near %q", clip(m[1], maxNear))
		if strings.HasPrefix(m[1], "/*") {
			text += ": unterminated comment"
		}
		return errorAt(sql, strings.Index(sql, m[1]), "%s", text)
	}
	m := tidbSyntax.FindStringSubmatchIndex(msg)
	if m == nil {
		msg = strings.TrimSpace(tidbCode.ReplaceAllString(msg, ""))
		return &Error{Msg: "syntax error: " + msg}
	}
	line, _ := strconv.Atoi(msg[m[2]:m[3]])
	col, _ := strconv.Atoi(msg[m[4]:m[5]])
	rest := msg[m[1]:]

	off := -1
	if t := tidbTotal.FindStringSubmatch(rest); t != nil {
		if n, err := strconv.Atoi(t[1]); err == nil && n <= len(sql) {
			off = len(sql) - n
		}
	}
	if off < 0 {
		// The quoted text is sql[off:] followed by a closing quote: find the
		// latest such off at or before the scanner's position.
		for o := min(tidbOffset(sql, line, col), len(sql)); o >= 0; o-- {
			if strings.HasPrefix(rest, sql[o:]) && strings.HasPrefix(rest[len(sql)-o:], `"`) {
				off = o
				break
			}
		}
	}
	if off < 0 {
		return &Error{Line: line, Column: max(col, 1), Msg: "syntax error"}
	}
	near := sql[off:]
	detail := rest[min(len(near), 2048, len(rest)):]
	detail = strings.TrimPrefix(detail, `"`)
	detail = strings.TrimSpace(tidbTotal.ReplaceAllString(detail, ""))

	var text string
	if strings.TrimSpace(near) == "" {
		text = "syntax error at end of input"
	} else {
		text = fmt.Sprintf("syntax error near %q", clip(near, maxNear))
	}
	if detail != "" {
		text += ": " + detail
	}
	return errorAt(sql, off, "%s", text)
}

// tidbOffset converts TiDB's scanner position into a byte offset of sql.
func tidbOffset(sql string, line, col int) int {
	start := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(sql[start:], '\n')
		if i < 0 {
			return len(sql)
		}
		start += i + 1
	}
	if line > 1 {
		col-- // TiDB counts from 1 after a newline, from 0 before the first
	}
	return min(start+max(col, 0), len(sql))
}

// clip shortens s to at most n runes, marking a cut with "...".
func clip(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "..."
		}
		i++
	}
	return s
}

// isIdentByte reports whether b can be part of an unquoted identifier or
// keyword. Bytes of multi-byte characters count, as in MySQL.
func isIdentByte(b byte) bool {
	return b == '_' || b == '$' || b >= 0x80 ||
		('0' <= b && b <= '9') || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z')
}

// scanWord calls found with each byte offset of sql, from offset from on,
// at which word occurs as a whole word (case-insensitively) outside string
// literals and comments, or as a backquoted identifier, until found returns
// false. It only points error messages at names the parser gives no
// position for; from must not be inside a literal or comment.
func scanWord(sql, word string, from int, found func(off int) bool) {
	n := len(word)
	for i := max(from, 0); i < len(sql); {
		switch c := sql[i]; {
		case c == '\'' || c == '"':
			i = skipQuoted(sql, i, c)
		case c == '`':
			end := skipQuoted(sql, i, '`')
			if strings.EqualFold(strings.TrimSuffix(sql[i+1:end], "`"), word) && !found(i) {
				return
			}
			i = end
		case c == '#' || (c == '-' && strings.HasPrefix(sql[i:], "-- ")):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j + 1
			} else {
				i = len(sql)
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*") && !strings.HasPrefix(sql[i:], "/*!") && !strings.HasPrefix(sql[i:], "/*T!"):
			if j := strings.Index(sql[i+2:], "*/"); j >= 0 {
				i += j + 4
			} else {
				i = len(sql)
			}
		case isIdentByte(c):
			j := i
			for j < len(sql) && isIdentByte(sql[j]) {
				j++
			}
			if j-i == n && strings.EqualFold(sql[i:j], word) && !found(i) {
				return
			}
			i = j
		default:
			i++
		}
	}
}

// skipQuoted returns the offset just past the quoted text that starts at i
// with quote q, honouring doubled quotes and, outside backquotes, backslash
// escapes.
func skipQuoted(sql string, i int, q byte) int {
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(sql)
}

// firstWord returns the first offset of word in sql at or after from, or -1.
func firstWord(sql, word string, from int) int {
	off := -1
	scanWord(sql, word, from, func(h int) bool {
		off = h
		return false
	})
	return off
}

// lastWord returns the last offset of word in sql before the offset
// before (anywhere when before is negative), or -1.
func lastWord(sql, word string, before int) int {
	off := -1
	scanWord(sql, word, 0, func(h int) bool {
		if before >= 0 && h >= before {
			return false
		}
		off = h
		return true
	})
	return off
}

// ident renders an identifier for a message: as is when it is a plain
// lower-case name, quoted otherwise, so that odd characters in a
// backquoted identifier cannot garble the message.
func ident(s string) string {
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b == '_' || ('a' <= b && b <= 'z') || ('0' <= b && b <= '9')) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}
