// Package csv reads a provider's CSV file into column batches of a declared
// schema ([schema.Batch]). It is the first check an upload passes, so it is
// strict: it reports the first problem it finds, with the file, line and
// column, and stops. It never skips a row, guesses a type or repairs a value;
// a caller that gets an error stores nothing of the upload.
//
// # Format
//
// The input is CSV as RFC 4180 defines it (https://www.rfc-editor.org/rfc/rfc4180),
// parsed by the standard library's encoding/csv with its strict settings:
//
//   - fields are separated by commas; a field holding a comma, a quote or a
//     newline is enclosed in double quotes, and a quote inside it is doubled
//     ("say ""hi""");
//   - a quote anywhere else is an error (bare " in non-quoted-field,
//     extraneous or missing " in quoted-field); spaces are kept as they are;
//   - lines end with \n or \r\n, the last line may end without one, and a
//     \r\n inside a quoted field is read as \n;
//   - a UTF-8 byte order mark at the start of the file is dropped (byte
//     columns in errors do not count it);
//   - blank lines are skipped, wherever they are (encoding/csv does so; a
//     row of one empty value is written "" to be read at all);
//   - there are no comment lines.
//
// # Header
//
// The first line is a header that names every column of the schema exactly
// once, in any order, and no other column. Names are compared byte for byte
// (schema names are lower case, so "Amount" or " amount" is an unknown
// column). Every data row must have as many fields as the header.
//
// # Values
//
// Each value is converted by [schema.Column.ParseValue] for the column its
// header names: ints and dates must be in the column's declared bounds,
// bools are true or false, dates are YYYY-MM-DD, strings must be valid UTF-8
// and no longer than the column's max_len. An empty field is an empty string
// for a string column and an error for any other type: there are no nulls.
//
// String values in a batch share memory with the row they were read from
// (one allocation per row, not per value), so a kept string keeps its row's
// bytes alive.
//
// # Limits
//
// A record may be at most [MaxRecordBytes] bytes long, not counting the
// newline that ends it; a record is one line, or several when a quoted field
// holds newlines. A longer record is an error that names its line, and
// reading stops there, so an endless line or a quote left open costs no
// more than about MaxRecordBytes of memory. The number of rows is not
// limited here: bound the input's size before it reaches the reader.
//
// # Errors
//
// Every problem with the input's content is an [*Error] (use errors.As),
// carrying the file name, the 1-based line, a column and, for values, the
// schema column's name. Error messages never hold more than the first 64
// bytes of a value. An error returned by the underlying io.Reader is passed
// on wrapped, not as an *Error, so that a caller can tell a bad upload
// (reject it, show the message to the provider) from a failed read (retry).
package csv
