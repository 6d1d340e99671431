// Package parquet reads a provider's Apache Parquet file
// (https://parquet.apache.org/docs/file-format/) into column batches of a
// declared schema ([schema.Batch]). Like the csv and jsonl connectors it is
// the first check an upload passes, so it is strict: it reports the first
// problem it finds, with the file, row group, row and column, and stops. It
// never skips a row, guesses a type or repairs a value; a caller that gets
// an error stores nothing of the upload.
//
// It reads with the low-level column chunk readers of Apache Arrow's Go
// Parquet library (github.com/apache/arrow-go/v18/parquet/file), through
// an [io.ReaderAt], a row group at a time and within a row group a window
// of rows at a time (see Limits): never the whole file, nor a whole row
// group.
//
// # Files
//
// The input is one Parquet file, starting and ending with "PAR1", with its
// footer: data pages V1 or V2, compressed with snappy, gzip, zstd, brotli
// or lz4_raw, or not at all. Values must be PLAIN or dictionary encoded
// (PLAIN_DICTIONARY or RLE_DICTIONARY; RLE for BOOLEAN), as writers make
// them by default; the DELTA encodings (DELTA_BINARY_PACKED,
// DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY) and BYTE_STREAM_SPLIT are
// refused at the first page that uses them, because the library's
// decoders of the former make room for as many values as a page claims.
// Not accepted either: encrypted files ("PARE"), column chunks in other
// files, the LZ4 (Hadoop) and LZO codecs, and files the library cannot
// decode. A file of no row groups, or of row groups of no rows, has no
// rows. The footer's row counts must agree: each column chunk holds as
// many values as its row group has rows, and the row groups as many rows
// as the footer says. Page checksums are not checked; statistics, page
// indexes and bloom filters are not used (but by [Discover]).
//
// Before the library reads the footer, the reader checks that its schema
// is a tree (no group claims more children than there are elements after
// it, none is nested more than 64 deep), and before the library reads a
// column chunk, it reads the chunk's page headers itself, as the library
// would, and checks their sizes, types and encodings, and that a
// dictionary page holds no more values than its bytes can: the library
// makes room for what these numbers say, so a file of a few bytes could
// otherwise exhaust the program's memory. For the same reason the package
// registers, for the whole program, decoders of snappy, gzip, zstd and
// brotli that decode no more than a page's header says: the library's
// decode a zstd page of a few kilobytes that claims a few bytes to
// gigabytes.
//
// # Columns
//
// The file's top-level columns must be the schema's columns, each exactly
// once, in any order, and no other: a file column not in the schema, one
// that appears twice, or a schema column not in the file, is an error that
// names it. Names are compared byte for byte (schema names are lower case,
// so "Amount" is an unknown column). Each column must be flat, one value
// per row: a group (a struct, LIST or MAP) or a repeated column (the
// legacy form of a list) is an error. A column may be required or
// optional, but a null is an error at its row: the schema has no nulls.
//
// Each schema type takes these Parquet types (physical type, and logical
// or converted type), and no other:
//
//   - int: INT32 or INT64 with no logical type or an INT one, signed or
//     unsigned: INT(8), INT(16), INT(32) in INT32, INT(64) in INT64 (the
//     converted types INT_8 to INT_64 and UINT_8 to UINT_64). Unsigned
//     values are read as unsigned, so an INT(64, unsigned) value over
//     2^63-1 is an error at its row. A value outside the range of its
//     logical type (300 in INT(8)) is an error too.
//   - date: INT32 with the DATE logical type (days since 1970-01-01). An
//     INT32 or INT64 of no logical type is not a date, nor is a TIMESTAMP.
//   - bool: BOOLEAN.
//   - string: BYTE_ARRAY with the STRING logical type (UTF8), or with none,
//     as older writers and Arrow's binary type write strings: values are
//     checked as UTF-8 either way. FIXED_LEN_BYTE_ARRAY, ENUM, JSON, BSON
//     and UUID are not strings here.
//
// FLOAT, DOUBLE, INT96, DECIMAL, TIME, TIMESTAMP, INTERVAL and the other
// logical types are errors that name the column and its Parquet type.
//
// # Values
//
// Every value is checked as [schema.Column.ParseValue] checks the values
// of the other connectors, and fails with the same message: ints and dates
// must be within the column's declared bounds, strings must be valid UTF-8
// and no longer than the column's max_len in bytes. A date must also be
// within 0000-01-01 to 9999-12-31, the dates a date column can hold, even
// if the declared bounds are wider.
//
// String values in a batch share memory with the other values of their
// column in the same window of rows (one allocation per column and window,
// not per value), so a kept string keeps its window's strings alive.
//
// # Order of errors
//
// The problems of the file's footer and schema (not a Parquet file,
// corrupt metadata of any row group, columns that do not match) are found
// by NewReader, before any row. Then rows are read in order, and the error
// is that of the first row with a problem; within a row, that of the first
// column in the file's order. A page the reader refuses (its header, size
// or encoding) is a problem at its first row; data the library cannot
// decode, at the first row of the read that failed, which may be some rows
// before the corrupt bytes. Reading stops there. The rows before the error
// are those any batch size gives: a window is read whole before its rows
// are handed out, and windows do not depend on the batch size.
//
// # Limits
//
// Memory does not grow with the file or the row group: each column chunk
// is read through a 64 KiB buffer, one page of each column at a time, and
// a page may be at most [MaxPageSize] bytes, compressed or not (writers
// make pages of about 1 MiB; a page header may be up to 4 MiB). A
// dictionary page of MaxPageSize bytes may decode to some times that (a
// string slice header for every 4 bytes). Rows are decoded and checked a
// window at a time: 8192 rows, or fewer when that many rows of the schema
// could hold more than 64 MiB of values (counting each string as long as
// its max_len), but at least one. On top of that are the batches the
// caller keeps.
//
// The number of rows is not limited here, and Parquet's encodings let a
// small file hold many rows: a run of a repeated value, or a dictionary
// entry used again and again, costs a few bits per row in the file and a
// whole value in a batch. Bound the input's size before it reaches the
// reader, and the rows too (the footer's count is known once NewReader
// returns: see [Reader.TotalRows]) before keeping them all, as ReadAll
// does.
//
// # Errors
//
// Every problem with the input's content is an [*Error] (use errors.As),
// carrying the file name, the 1-based row group, row in the row group and
// row in the file (Ordinal) when the problem is at a row, the column's
// position in the file, and the schema column's name. Error messages never
// hold more than the first 64 bytes of a name from the file, no value of a
// string, and at most 256 bytes of a message of the Parquet library (about
// a corrupt file), so a hostile file cannot fill a log. For a value that
// does not fit its column, Err is the [*schema.ValueError]. When the
// library panics on a corrupt file, the panic is recovered and reported as
// an *Error. An error returned by the underlying io.ReaderAt is passed on
// wrapped, not as an *Error, so that a caller can tell a bad upload
// (reject it, show the message to the provider) from a failed read
// (retry).
//
// # Writing
//
// [Write] writes batches as a Parquet file the reader takes, a row group
// at a time, for tests, the conformance suite and example data. [Discover]
// proposes a schema for a file.
package parquet
