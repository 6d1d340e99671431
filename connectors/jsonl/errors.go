package jsonl

import (
	"strconv"
	"strings"
)

// Error is a problem with the content of the input: a line that is not one
// well-formed JSON object, a key that is not a column of the schema, a
// missing or repeated key, a value of the wrong JSON type, a value that does
// not fit its column, a blank line, or a line over Options.MaxLine.
//
// Its message has the form file:line:column: text, with "column NAME: "
// before the text when the problem is with one column's value, for example
//
//	loans.jsonl:12:31: column amount: "12x" is not an integer
//	loans.jsonl:7:15: want ',' or '}' after a value, got ']'
//	loans.jsonl:9:1: missing key "opened"
//
// A failed read of the underlying io.Reader is not an *Error.
type Error struct {
	File string // the name given in Options.File
	Line int    // 1-based line in the file
	// Column is the 1-based byte offset in the line of the problem: the
	// first byte of the offending value or key, the byte where the syntax
	// goes wrong, one past the last byte when the line ends too soon, and
	// 1 when the problem is the whole line (blank, too long, missing
	// keys). A byte order mark at the start of the file is not counted.
	Column int
	// Field is the schema column whose key or value is in error (a value of
	// the wrong type or that does not fit, or a repeated key); empty
	// otherwise.
	Field string
	Msg   string // what is wrong, without the position
	// Err is the *schema.ValueError when a value does not fit its column
	// (so errors.As finds it), and nil otherwise.
	Err error
}

// Error returns the message: file:line:column: column NAME: text, without
// "column NAME: " when Field is empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(e.Line))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(e.Column))
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString("column ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }
