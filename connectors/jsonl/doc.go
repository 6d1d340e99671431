// Package jsonl reads a provider's JSON Lines file (https://jsonlines.org)
// into column batches of a declared schema ([schema.Batch]). Like the csv
// connector it is the first check an upload passes, so it is strict: it
// reports the first problem it finds, with the file, line and byte column,
// and stops. It never skips a row, guesses a type or repairs a value; a
// caller that gets an error stores nothing of the upload.
//
// # Format
//
// The input is UTF-8 text of lines ending in \n or \r\n; the last line may
// end without one. A UTF-8 byte order mark at the start of the file is
// dropped (byte columns in errors do not count it). Every line holds one
// JSON object (RFC 8259), which may have JSON whitespace (space, tab, \r)
// around and inside it but cannot span lines. A blank line, or one of
// whitespace only, is an error, wherever it is; a file that ends with a
// newline has no blank line after it. An empty file has no rows.
//
// # Keys
//
// Each object has exactly one key for every column of the schema, in any
// order, and no other key. Keys are compared byte for byte after their
// escapes are undone (schema names are lower case, so "Amount" is an
// unknown key, and "\u0061mount" is amount). A repeated key is an error,
// even with the same value.
//
// # Values
//
// A value must be of the JSON type its column takes:
//
//   - string: a JSON string;
//   - date: a JSON string holding YYYY-MM-DD;
//   - int: a JSON number that is an integer: no fraction, no exponent (1.0
//     and 1e3 are errors), within int64;
//   - bool: true or false.
//
// null is an error (the schema has no nulls), and so is an object or an
// array. The value is then checked by [schema.Column.ParseValue], as the csv
// connector checks its fields: ints and dates must be in the column's
// declared bounds, dates must be real ones, strings must be valid UTF-8
// once their escapes are undone and no longer than the column's max_len
// in bytes. Escapes are checked too: \u escapes of UTF-16 surrogates must
// come in pairs, and control characters must be escaped.
//
// String values in a batch share memory with the other string values of
// their row (one allocation per row, not per value), so a kept string keeps
// its row's strings alive.
//
// # Order of errors
//
// The error reported for a line is the problem that comes first in it, by
// position, except that a missing key is found only at the end of the
// object, after every value is checked. Lines are read in order, so the
// first bad line is the one reported, after the rows before it.
//
// # Limits
//
// A line may be at most Options.MaxLine bytes long ([DefaultMaxLine], 1 MiB,
// by default), not counting the \n or \r\n that ends it. A longer line is
// an error that names it, and reading stops there, so an endless line costs
// no more than about MaxLine plus 64 KiB of memory. The number of rows is
// not limited here: bound the input's size before it reaches the reader.
//
// # Errors
//
// Every problem with the input's content is an [*Error] (use errors.As),
// carrying the file name, the 1-based line, the 1-based byte column and,
// for a value or a repeated key, the schema column's name. Error messages
// never hold more than the first 64 bytes of a value. An error returned by
// the underlying io.Reader is passed on wrapped, not as an *Error, so that
// a caller can tell a bad upload (reject it, show the message to the
// provider) from a failed read (retry).
package jsonl
