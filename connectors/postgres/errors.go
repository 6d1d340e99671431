package postgres

import (
	"strconv"
	"strings"
)

// Error is a problem with what the table or query holds: a result column
// that is not in the schema, a schema column missing from the result, a
// column of a type that cannot be read as its schema type, or a value
// that does not fit its column (NULL, out of bounds, infinity, a string
// too long or not UTF-8), or a row too large for the schema.
//
// Its message has the form
//
//	postgres SOURCE: row N (KEY VALUE): column NAME: text
//
// without "row N (KEY VALUE): " for problems with the result's columns,
// without " (KEY VALUE)" when the row's key is not known, and without
// "column NAME: " for problems not of one column, for example
//
//	postgres table public.loans: row 8209 (loan_id "L08208"): column amount: 12000000000 is outside the declared bounds [0, 1000000000]
//	postgres query: row 3: column issued: null value; the schema has no nulls
//	postgres table public.loans: column amount: type numeric(12,2) cannot be read as int (want smallint, integer or bigint)
//	postgres table public.loans: missing column "issued" in the result
//
// A failure of the connection or an error the server returns (a table
// that does not exist, a query that is not a SELECT or that writes) is
// not an *Error; it is returned wrapped, so that errors.As finds the
// *pgconn.PgError.
type Error struct {
	// Source is what was read: "table " and the table's name as given in
	// Source.Table, or "query".
	Source string
	// Row is the 1-based ordinal of the row in the result, in the order
	// the server returns rows, and 0 for a problem with the result's
	// columns.
	Row int64
	// KeyColumn and Key name the row: the key column (Source.Key, or the
	// table's primary key) and its value in the row as the message shows
	// it, a string quoted as by %q and cut to its first 64 bytes. Both are
	// empty when there is no key column, when the problem is with the key
	// column's own value, or when that value is NULL.
	KeyColumn string
	Key       string
	// Column is the schema column whose value or type is in error, and
	// empty for problems not of one column.
	Column string
	// Err is the *schema.ValueError when a value does not fit its column's
	// declared bounds, max_len or UTF-8 (so errors.As finds it), or is a
	// date at infinity; nil otherwise.
	Err error
	// Msg is what is wrong, without the position.
	Msg string
}

// Error returns the message: postgres SOURCE: row N (KEY VALUE): column
// NAME: text, without the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("postgres ")
	b.WriteString(e.Source)
	if e.Row > 0 {
		b.WriteString(": row ")
		b.WriteString(strconv.FormatInt(e.Row, 10))
		if e.KeyColumn != "" {
			b.WriteString(" (")
			b.WriteString(e.KeyColumn)
			b.WriteByte(' ')
			b.WriteString(e.Key)
			b.WriteByte(')')
		}
	}
	b.WriteString(": ")
	if e.Column != "" {
		b.WriteString("column ")
		b.WriteString(e.Column)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }
