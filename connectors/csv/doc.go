// Package csv reads a provider's CSV file into column batches of a declared
// schema ([schema.Batch]). It is the first check an upload passes, so it is
// strict: it reports the first problem it finds, with the file, line and
// column, and stops. It never skips a row, guesses a type or repairs a value;
// a caller that gets an error stores nothing of the upload.
//
// # Format
//
// The input is CSV as RFC 4180 defines it (https://www.rfc-editor.org/rfc/rfc4180),
// read exactly as the standard library's encoding/csv reads it with its
// strict settings (UTF-8 input is split by a faster reader of the same
// rules, which hands any record it finds invalid to encoding/csv for the
// error; a fuzz test holds the two to the same rows and errors):
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
// Other dialects, through [Options]: another delimiter (Comma: ';', '|',
// a tab, ...; encoding/csv's rules with that delimiter); no quoting at all
// (NoQuotes: a record is one line and '"' is an ordinary character, as in
// the tab-separated files many databases export); no header line
// (NoHeader: the fields are the schema's columns in schema order); and
// null markers (Nulls: texts such as NULL or \N that the input uses for a
// missing value, reported as a null, which the schema does not allow,
// rather than read as a value).
//
// # Encoding
//
// The input is UTF-8 unless Options.Encoding says otherwise: [GB18030], the
// Chinese national standard, which Chinese public bodies still export, or
// its subset [GBK] (code page 936). Such input is decoded to UTF-8 as it is
// read, by golang.org/x/text/encoding/simplifiedchinese, before the CSV
// parser sees it, and everything else applies to the decoded text: a
// GB18030 byte order mark is dropped like a UTF-8 one, and values are
// UTF-8 in the batches.
//
// Decoding is strict: bytes that are not a character of the declared
// encoding stop the read with an [*Error] wrapping [ErrEncoding] that names
// their line and character column (where golang.org/x/text would write
// U+FFFD and go on). So do GB18030's user-defined codes, which stand for
// characters only in the font of the system that made them, and a UTF-8
// byte order mark at the start of the file, which says the file is UTF-8.
// Most UTF-8 files with Chinese text declared GB18030 fail so, but not all:
// UTF-8 bytes can happen to be valid GB18030, and decode to other
// characters. GB18030 text read as UTF-8 is rejected as invalid UTF-8 in
// a string column, or as a value that does not parse in another.
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
// String values in a batch share memory with the rows they were read from
// (an allocation holds the text of many rows, not one per value), so a
// kept string keeps those rows' bytes alive.
//
// # Limits
//
// A record may be at most [MaxRecordBytes] bytes long, not counting the
// newline that ends it; a record is one line, or several when a quoted field
// holds newlines. For input in GB18030 or GBK, the bytes are those of the
// decoded UTF-8 text, in which a Chinese character takes three bytes, not
// two. A longer record is an error that names its line, and
// reading stops there, so an endless line or a quote left open costs no
// more than about MaxRecordBytes of memory. The number of rows is not
// limited here: bound the input's size before it reaches the reader.
//
// # Errors
//
// Every problem with the input's content is an [*Error] (use errors.As),
// carrying the file name, the 1-based line, a column and, for values, the
// schema column's name. The column is the field's number for value and
// header errors; for syntax errors it is the byte in the line for UTF-8
// input and, for GB18030 or GBK input, the character in the decoded line
// (what an editor shows), as it is for bytes not in the encoding. Error messages never hold more than the first 64
// bytes of a value. An error returned by the underlying io.Reader is passed
// on wrapped, not as an *Error, so that a caller can tell a bad upload
// (reject it, show the message to the provider) from a failed read (retry).
package csv
