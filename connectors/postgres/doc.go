// Package postgres reads a PostgreSQL table, or the result of a query,
// into column batches of a declared schema ([schema.Batch]), with
// github.com/jackc/pgx/v5. Like the csv and jsonl connectors it is the
// first check an upload passes, so it is strict: it reports the first
// problem it finds, with the row and column, and stops. It never skips a
// row, guesses a type or repairs a value; a caller that gets an error
// stores nothing of the upload.
//
// # Reading
//
// [NewReader] begins a transaction of its own on the connection it is
// given,
//
//	BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL client_encoding TO 'UTF8'
//
// declares a cursor on the source ([Source]: a table, read as SELECT * FROM
// it, or a query),
//
//	DECLARE c NO SCROLL CURSOR FOR <query>
//
// and checks the result's columns against the schema without reading a
// row. Each [Reader.Next] then runs FETCH FORWARD n FROM c, with n the
// batch size ([DefaultBatchSize], 8192, by default), and returns those
// rows as one batch, io.EOF after the last. So the whole read sees one
// snapshot of the database, the table is never held whole by the server
// or the client, and the client's memory is about a batch. [Reader.Close]
// ends the transaction with ROLLBACK, which also closes the cursor.
// Values come in PostgreSQL's binary format and are decoded without
// going through text. The string values of a batch share one allocation
// (or a few, for the first batch), so a kept string keeps its batch's
// strings alive.
//
// The transaction being read only, a query cannot write, even through a
// function: PostgreSQL refuses INSERT, UPDATE, DELETE, nextval and the
// like with "cannot execute ... in a read-only transaction". A query is
// parsed by the extended protocol, which refuses several statements, and
// DECLARE accepts only SELECT, VALUES and TABLE (and no data-modifying
// WITH). A read-only transaction does not stop every side effect a
// function can have (pg_sleep, dblink, advisory locks, server files for a
// superuser): connect as a role with SELECT rights on what it reads only.
//
// A table name is quoted as an identifier (pgx.Identifier), never pasted
// into SQL, so it cannot inject any; see [Source] for how it is split into
// schema and table.
//
// # Columns
//
// The result must have exactly the schema's columns, by name, compared
// byte for byte, in any order: a result column not in the schema, a
// schema column not in the result, and a name that appears twice in the
// result are errors naming them. Each column's PostgreSQL type (that of
// the result, so a domain counts as its base type) must be one read as
// the schema column's type:
//
//   - int: smallint, integer, bigint (int2, int4, int8). Not numeric, even
//     with scale 0, nor real or double precision: cast them in a query if
//     their values are whole.
//   - bool: boolean.
//   - date: date. Not timestamp or timestamp with time zone: cast them
//     in a query (issued::date), choosing the time zone.
//   - string: text, character varying (varchar), character (char(n),
//     bpchar). A character(n) value is read as PostgreSQL sends it, with
//     the trailing blanks that pad it to n, and they count for max_len.
//     Not name, uuid, json or any other type: cast them to text in a
//     query.
//
// Any other type is an error that names the column and its type (as
// format_type writes it, such as numeric(12,2)), found before any row is
// read.
//
// # Values
//
// NULL is an error (the schema has no nulls), and so is a date at
// infinity or -infinity. Each value is then checked as the other
// connectors check theirs: ints and dates must be in the column's declared
// bounds (with the same message, "%d is outside the declared bounds
// [%d, %d]"), and strings, through [schema.Column.ParseValue], must be
// valid UTF-8 (which they are, client_encoding being UTF8 and the server
// checking what it converts) and no longer than the column's max_len in
// bytes. Rows are checked in the order the server returns them, which
// for a table is its physical order and for a query is what its ORDER BY
// says (or any order without one).
//
// # Limits
//
// While a Reader is open, the connection refuses a message from the
// server larger than the largest row the schema allows (a string is at
// most max_len bytes, each other value at most 8), but no smaller than
// 1 MiB, so a huge value is an error before it is buffered; pgx then
// closes the connection. The number of rows is not limited here. A batch
// holds at most Options.BatchSize rows.
//
// # Errors
//
// A problem with what the source holds (its columns or a value) is an
// [*Error] (use errors.As), with the row's 1-based ordinal, the value of
// the row's key column when there is one ([Source].Key, or the table's
// primary key when it is a single column), and the schema column. Error
// messages never hold more than the first 64 bytes of a value. A failed
// connection, a context canceled, or an error from the server (a table
// that does not exist, a query that is not a single SELECT or that tries
// to write, an encoding the server cannot convert) is returned wrapped,
// not as an *Error: errors.As finds the *pgconn.PgError.
//
// # Discover
//
// [Discover] drafts a schema from a table or query: its columns, their
// types, and bounds from SELECT min(), max() and max(octet_length())
// over the whole source. See its doc for exactly what it runs.
package postgres
