package csv

import (
	"strconv"
	"strings"
)

// Error is a problem with the content of the input: bad syntax, a header
// that does not match the schema, a row with the wrong number of fields, a
// value that does not fit its column, a record over [MaxRecordBytes], or
// bytes that are not in the declared Options.Encoding.
//
// Its message has the form file:line:column: text, for example
//
//	loans.csv:12:3: column amount: "12x" is not an integer
//	loans.csv:7:15: bare " in non-quoted-field
//	loans.csv:9: wrong number of fields: got 5, want 6
//	loans.csv:4:17: byte 0xff is not a GB18030 character (is the file in another encoding?)
//
// Err is a [*schema.ValueError] when a value does not fit its column, and
// wraps encoding/csv's ErrBareQuote, ErrQuote or ErrFieldCount for syntax
// errors and rows of the wrong length, and [ErrEncoding] for bytes not in
// the encoding, so errors.Is and errors.As see them.
type Error struct {
	File string // the name given in Options.File
	Line int    // 1-based line in the file
	// Column is 1-based and 0 when the error concerns a whole line. For
	// value and header errors it is the field number (the third field is
	// 3); for syntax errors it is the byte offset in the line (the 15th
	// byte is 15), as encoding/csv reports it, except that for input in
	// GB18030 or GBK it is the character offset in the decoded line, as
	// it is for bytes not in the encoding.
	Column int
	Field  string // for value errors, the name of the schema column
	Err    error
}

// Error returns the message: file:line:column: text.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(e.Line))
	if e.Column > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Column))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString("column ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }
