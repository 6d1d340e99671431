package parquet

import (
	"strconv"
	"strings"

	"github.com/xjdata/cleanroom/connectors"
)

// Error is a problem with the content of the input: bytes that are not a
// Parquet file or a corrupt one, a column that does not match the schema
// (unknown, missing, repeated, nested, or of a Parquet type its schema
// column cannot take), a null, or a value that does not fit its column.
//
// Its message names where the problem is, as precisely as it is known:
//
//	loans.parquet: row group 2, row 17 (row 8209 of the file): column amount: 12000000000 is outside the declared bounds [0, 1000000000]
//	loans.parquet: row group 1, row 5 (row 5 of the file): column uscc: null value; the schema has no nulls
//	loans.parquet: row group 3: column amount: column chunk holds 10 values, the row group 100 rows
//	loans.parquet: column amount: Parquet type BYTE_ARRAY (STRING) cannot hold an int column (want INT32 or INT64)
//	loans.parquet: missing column "opened" in the file
//	loans.parquet: not a Parquet file (it does not start and end with "PAR1")
//
// A failed read of the underlying io.ReaderAt is not an *Error.
type Error struct {
	File string // the name given in Options.File
	// RowGroup is the 1-based row group of the problem, and 0 when the
	// problem is with the file as a whole or its schema.
	RowGroup int
	// Row is the 1-based row within the row group, and 0 when the problem
	// is not with one row (a row group's metadata, a column chunk with
	// more values than rows). For data the Parquet library cannot decode,
	// it is the first row that could not be read, which may be some rows
	// before the corrupt bytes.
	Row int64
	// Ordinal is the 1-based row in the file (counting the rows of the row
	// groups before), and 0 when Row is.
	Ordinal int64
	// Column is the 1-based position of the column in the file's schema
	// (its top-level fields, in order), and 0 when the problem is not
	// with one column.
	Column int
	// Field is the schema column whose values, Parquet type or column
	// chunk are in error; empty otherwise (a file column not in the
	// schema is named in Msg).
	Field string
	Msg   string // what is wrong, without the position
	// Err is the *schema.ValueError when a value does not fit its column,
	// the Parquet library's error when it failed on the file (its message
	// is in Msg, cut to 256 bytes), and nil otherwise.
	Err error
}

// Error returns the message: file: row group G, row R (row O of the file):
// column NAME: text, leaving out what is not known.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.RowGroup > 0 {
		b.WriteString(": row group ")
		b.WriteString(strconv.Itoa(e.RowGroup))
		if e.Row > 0 {
			b.WriteString(", row ")
			b.WriteString(strconv.FormatInt(e.Row, 10))
			b.WriteString(" (row ")
			b.WriteString(strconv.FormatInt(e.Ordinal, 10))
			b.WriteString(" of the file)")
		}
	}
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

// maxLibMsg is the longest message of the Parquet library, in bytes, that
// an error message repeats.
const maxLibMsg = 256

// libMsg returns the message of an error of the Parquet library, valid
// UTF-8 and cut to maxLibMsg bytes: it may hold bytes of the file.
func libMsg(err error) string {
	s := strings.ToValidUTF8(err.Error(), "\uFFFD")
	if len(s) > maxLibMsg {
		s = s[:connectors.Cut(s, maxLibMsg)] + "…"
	}
	return s
}
