package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// DefaultBatchSize is the number of rows in a batch, and in a FETCH, when
// Options.BatchSize is zero.
const DefaultBatchSize = 8192

// Options configures a Reader.
type Options struct {
	// BatchSize is the most rows Next returns at once, and the number of
	// rows each FETCH asks the server for. Defaults to DefaultBatchSize;
	// must be from 0 to math.MaxInt32.
	BatchSize int
}

var _ connectors.Reader = (*Reader)(nil)

// Reader reads a table or query into batches of a schema, through a
// cursor in a read-only transaction of its own. Create one with NewReader
// and end it with Close. Not thread-safe, and the connection is the
// Reader's until Close: use no other on it meanwhile.
type Reader struct {
	cur     *cursor
	schema  *schema.Schema
	batch   int
	fetch   string  // FETCH FORWARD batch FROM c
	fields  []field // the result's columns, in its order
	key     int     // the index in fields of the key column, or -1
	rows    int64
	fetches int  // FETCH statements run
	eof     bool // the cursor is at its end
	closed  bool
	// arena holds the bytes of the string values of a FETCH, which are
	// its substrings; text is the size of the last FETCH's.
	arena   *strings.Builder
	text    int
	batches *connectors.Batches // made by the first Next
}

// field is a column of the result.
type field struct {
	name     string
	col      int // its index in the schema's columns
	kind     kind
	min, max int64 // the declared bounds, for int and date columns
}

// NewReader begins a read-only transaction on conn, declares a cursor
// for src, and checks its result's columns against s: the result must
// have exactly the schema's columns, by name, in any order, each of a
// PostgreSQL type read as the schema column's type (see the package
// doc). An error about the columns is an *Error; an error the server
// returns, such as for a table that does not exist, is wrapped. No row is
// read yet.
//
// ctx governs the whole read: NewReader and the FETCH of every Next.
// Canceling it makes the read fail; a FETCH under way is cut short, and
// pgx then closes the connection. conn must not be in a transaction. The Reader keeps s, which the caller must
// not change while it is in use. Call Close when done, also after an
// error from Next, to end the transaction.
func NewReader(ctx context.Context, conn *pgx.Conn, src Source, s *schema.Schema, opts Options) (*Reader, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.BatchSize < 0 || opts.BatchSize > math.MaxInt32 {
		return nil, fmt.Errorf("postgres: BatchSize is %d, want 0 (the default) to %d", opts.BatchSize, math.MaxInt32)
	}
	r := &Reader{schema: s, batch: opts.BatchSize, key: -1}
	if r.batch == 0 {
		r.batch = DefaultBatchSize
	}
	r.fetch = "FETCH FORWARD " + strconv.Itoa(r.batch) + " FROM c"
	cur, err := openCursor(ctx, conn, src, r.fetch)
	if err != nil {
		return nil, err
	}
	r.cur = cur
	if err := r.match(src); err != nil {
		cur.rollback()
		return nil, err
	}
	// A row can be no larger than the schema allows; refuse a longer one
	// before pgx buffers it (see rowLimit).
	cur.pg.Frontend().SetMaxBodyLen(rowLimit(s))
	return r, nil
}

// match checks the result's columns against the schema and finds the key
// column.
func (r *Reader) match(src Source) error {
	cur, s := r.cur, r.schema
	fail := func(column, format string, args ...any) error {
		return &Error{Source: cur.source, Column: column, Msg: fmt.Sprintf(format, args...)}
	}
	seen := make([]bool, len(s.Columns))
	names := make(map[string]bool, len(cur.fields))
	var extra []string
	for _, fd := range cur.fields {
		if names[fd.Name] {
			return fail("", "column %s appears twice in the result", connectors.Quote(fd.Name))
		}
		names[fd.Name] = true
		if i := s.Index(fd.Name); i >= 0 {
			seen[i] = true
		} else {
			extra = append(extra, connectors.Quote(fd.Name))
		}
	}
	switch len(extra) {
	case 0:
	case 1:
		return fail("", "result column %s is not in the schema", extra[0])
	default:
		return fail("", "result columns %s are not in the schema", strings.Join(extra, ", "))
	}
	var missing []string
	for i, ok := range seen {
		if !ok {
			missing = append(missing, strconv.Quote(s.Columns[i].Name))
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return fail("", "missing column %s in the result", missing[0])
	default:
		return fail("", "missing columns %s in the result", strings.Join(missing, ", "))
	}

	r.fields = make([]field, len(cur.fields))
	for j, fd := range cur.fields {
		i := s.Index(fd.Name)
		c := &s.Columns[i]
		k, t := kindOf(fd.DataTypeOID)
		if t != c.Type {
			return fail(c.Name, "type %s cannot be read as %s (want %s%s)",
				cur.typeName(fd), c.Type, accepts[c.Type], castHint(c, fd.DataTypeOID))
		}
		f := field{name: c.Name, col: i, kind: k}
		if c.Min != nil && c.Max != nil {
			f.min, f.max = *c.Min, *c.Max
		}
		r.fields[j] = f
	}

	key := src.Key
	if key == "" && src.Table != "" {
		var err error
		if key, err = cur.primaryKey(src.Table); err != nil {
			return err
		}
	}
	if key != "" {
		for j := range r.fields {
			if r.fields[j].name == key {
				r.key = j
			}
		}
		if r.key < 0 {
			return fmt.Errorf("postgres %s: key column %s is not a column of the result", cur.source, connectors.Quote(key))
		}
	}
	return nil
}

// castHint is advice for a column of the type oid, which cannot be read
// as c's type.
func castHint(c *schema.Column, oid uint32) string {
	switch {
	case c.Type == schema.Int && oid == pgtype.NumericOID:
		return "; numeric is refused even with scale 0: cast it in a Query if its values are whole, e.g. " + c.Name + "::bigint, which rounds"
	case c.Type == schema.Date && (oid == pgtype.TimestampOID || oid == pgtype.TimestamptzOID):
		return "; cast it in a Query, e.g. " + c.Name + "::date"
	case c.Type == schema.String:
		return "; cast it in a Query, e.g. " + c.Name + "::text"
	}
	return ""
}

// Next returns the next batch of at most Options.BatchSize rows, and io.EOF
// after the last. Each batch is newly allocated; the caller may keep it.
// Each Next runs one FETCH (and the Next that returns io.EOF may run
// one more, when the rows divide into full batches). After an error,
// Next returns the same error again.
func (r *Reader) Next() (*schema.Batch, error) {
	if r.batches == nil {
		r.batches = connectors.NewBatches(connectors.FillFunc(r.fill), r.schema, r.batch)
	}
	return r.batches.Next()
}

// Rows returns the number of rows read and converted so far. After an
// error it counts every good row before the one in error, including those
// of the batch that the error discarded.
func (r *Reader) Rows() int64 { return r.rows }

// Close ends the transaction (ROLLBACK), which closes the cursor and
// gives the connection its client_encoding back, and sets the
// connection's limit on message size back to pgx's default (see the
// package doc). It is safe to call twice; the second call
// does nothing and returns nil. It rolls back even when the context given
// to NewReader is done, waiting at most 10 seconds for the server. When
// the connection is closed (by a failed read or a canceled context),
// there is nothing to end and Close returns nil.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.cur.pg.Frontend().SetMaxBodyLen(pgxMaxBodyLen)
	return r.cur.rollback()
}

var errClosed = errors.New("postgres: Next after Close")

// fill appends rows to b until it holds upTo rows (then it returns nil), the
// cursor is at its end (io.EOF) or an error.
func (r *Reader) fill(b *schema.Batch, upTo int) error {
	if r.closed {
		return errClosed
	}
	for b.Len < upTo {
		if r.eof {
			return io.EOF
		}
		want := b.Len + min(upTo-b.Len, r.batch)
		if err := r.fetchInto(b, want); err != nil {
			return err
		}
		if b.Len < want {
			r.eof = true
		}
	}
	return nil
}

// binaryResults asks for every result column in binary format.
var binaryResults = []int16{pgtype.BinaryFormatCode}

// fetchInto runs one FETCH and appends its rows to b, which then holds at
// most want rows.
func (r *Reader) fetchInto(b *schema.Batch, want int) error {
	sql := r.fetch
	if n := want - b.Len; n != r.batch {
		sql = "FETCH FORWARD " + strconv.Itoa(n) + " FROM c"
	}
	r.fetches++
	// One allocation for the strings of a FETCH (or a few while the first
	// finds their size), not one for each.
	r.arena = new(strings.Builder)
	r.arena.Grow(r.text + r.text/8)
	defer func() { r.text = r.arena.Len() }()
	rr := r.cur.pg.ExecParams(r.cur.ctx, sql, nil, nil, nil, binaryResults)
	var bad error
	for rr.NextRow() {
		if bad = r.appendRow(b, rr.Values()); bad != nil {
			break
		}
	}
	// Close reads what is left of the FETCH's rows (at most a batch).
	_, err := rr.Close()
	if bad != nil {
		return bad
	}
	if err != nil {
		var big *pgproto3.ExceededMaxBodyLenErr
		if errors.As(err, &big) {
			return &Error{Source: r.cur.source, Row: r.rows + 1, Msg: fmt.Sprintf(
				"row of %d bytes is larger than the schema allows (%d): a string is longer than its max_len (pgx closed the connection)",
				big.ActualBodyLen, big.MaxExpectedBodyLen)}
		}
		return fmt.Errorf("postgres %s: reading from row %d: %w", r.cur.source, r.rows+1, err)
	}
	return nil
}

// pgEpoch is 2000-01-01, the day PostgreSQL counts dates from, in days
// since 1970-01-01.
const pgEpoch = 10957

// appendRow checks the values of the next row and appends them to b.
func (r *Reader) appendRow(b *schema.Batch, vals [][]byte) error {
	if len(vals) != len(r.fields) {
		return fmt.Errorf("postgres %s: row %d has %d values, want %d", r.cur.source, r.rows+1, len(vals), len(r.fields))
	}
	cols := r.schema.Columns
	for j := range r.fields {
		f := &r.fields[j]
		raw := vals[j]
		if raw == nil {
			return r.rowError(vals, j, nil, "null value; the schema has no nulls")
		}
		vec := &b.Cols[f.col]
		switch f.kind {
		case kText:
			start := r.arena.Len()
			r.arena.Write(raw)
			_, s, err := cols[f.col].ParseValue(r.arena.String()[start:])
			if err != nil {
				return r.rowError(vals, j, err, err.Error())
			}
			vec.Strs = append(vec.Strs, s)
			continue
		case kBool:
			if len(raw) != 1 {
				return r.badBinary(j, raw)
			}
			var v int64
			if raw[0] != 0 {
				v = 1
			}
			vec.Ints = append(vec.Ints, v)
			continue
		case kDate:
			if len(raw) != 4 {
				return r.badBinary(j, raw)
			}
			d := int32(binary.BigEndian.Uint32(raw))
			switch d {
			case math.MaxInt32:
				return r.rowError(vals, j, r.valueError(j, "infinity is not a date (want a finite one)"), "")
			case math.MinInt32:
				return r.rowError(vals, j, r.valueError(j, "-infinity is not a date (want a finite one)"), "")
			}
			v := int64(d) + pgEpoch
			if v < f.min || v > f.max {
				return r.rowError(vals, j, r.valueError(j, fmt.Sprintf("%s is outside the declared bounds [%s, %s]",
					schema.FormatDate(v), schema.FormatDate(f.min), schema.FormatDate(f.max))), "")
			}
			vec.Ints = append(vec.Ints, v)
			continue
		}
		var v int64
		switch {
		case f.kind == kInt8 && len(raw) == 8:
			v = int64(binary.BigEndian.Uint64(raw))
		case f.kind == kInt4 && len(raw) == 4:
			v = int64(int32(binary.BigEndian.Uint32(raw)))
		case f.kind == kInt2 && len(raw) == 2:
			v = int64(int16(binary.BigEndian.Uint16(raw)))
		default:
			return r.badBinary(j, raw)
		}
		if v < f.min || v > f.max {
			return r.rowError(vals, j, r.valueError(j, fmt.Sprintf("%d is outside the declared bounds [%d, %d]", v, f.min, f.max)), "")
		}
		vec.Ints = append(vec.Ints, v)
	}
	b.Len++
	r.rows++
	return nil
}

func (r *Reader) valueError(j int, reason string) *schema.ValueError {
	return &schema.ValueError{Column: r.fields[j].name, Reason: reason}
}

// rowError returns the *Error for the value of field j of the row vals:
// err's message, or msg when err is nil.
func (r *Reader) rowError(vals [][]byte, j int, err error, msg string) *Error {
	if err != nil {
		msg = err.Error()
	}
	e := &Error{Source: r.cur.source, Row: r.rows + 1, Column: r.fields[j].name, Err: err, Msg: msg}
	if k := r.key; k >= 0 && k != j && vals[k] != nil {
		e.KeyColumn, e.Key = r.fields[k].name, r.fields[k].format(vals[k])
	}
	return e
}

// format returns the text of the value raw of f, as an error shows it.
func (f *field) format(raw []byte) string {
	switch f.kind {
	case kText:
		return connectors.Quote(string(raw))
	case kBool:
		if len(raw) == 1 {
			return strconv.FormatBool(raw[0] != 0)
		}
	case kDate:
		if len(raw) == 4 {
			switch d := int32(binary.BigEndian.Uint32(raw)); d {
			case math.MaxInt32:
				return "infinity"
			case math.MinInt32:
				return "-infinity"
			default:
				return schema.FormatDate(int64(d) + pgEpoch)
			}
		}
	case kInt2:
		if len(raw) == 2 {
			return strconv.Itoa(int(int16(binary.BigEndian.Uint16(raw))))
		}
	case kInt4:
		if len(raw) == 4 {
			return strconv.Itoa(int(int32(binary.BigEndian.Uint32(raw))))
		}
	case kInt8:
		if len(raw) == 8 {
			return strconv.FormatInt(int64(binary.BigEndian.Uint64(raw)), 10)
		}
	}
	return fmt.Sprintf("(%d bytes)", len(raw))
}

// badBinary reports a value whose binary form has the wrong length, which
// only a broken server or proxy sends.
func (r *Reader) badBinary(j int, raw []byte) error {
	return fmt.Errorf("postgres %s: row %d: column %s: the server sent a %d-byte value, not a binary %s",
		r.cur.source, r.rows+1, r.fields[j].name, len(raw), r.schema.Columns[r.fields[j].col].Type)
}

// pgxMaxBodyLen is pgx's default limit on the size of a message from the
// server (pgproto3's maxMessageBodyLen, PostgreSQL's PG_LARGE_MESSAGE_LIMIT).
const pgxMaxBodyLen = 0x3fffffff - 1

// rowLimit is the limit a Reader sets on the size of a message from the
// server: the largest row of s, as a DataRow message in binary format
// (a count of 2 bytes, then each value's length in 4 bytes and its bytes:
// at most 8 for int, date and bool, max_len for a string), but no less
// than 1 MiB, for the other messages, nor more than pgx's default.
func rowLimit(s *schema.Schema) int {
	n := 2
	for _, c := range s.Columns {
		size := 8
		if c.Type == schema.String {
			size = c.MaxLen
			if size == 0 {
				size = schema.DefaultMaxLen
			}
		}
		n += 4 + size
		if n >= pgxMaxBodyLen {
			return pgxMaxBodyLen
		}
	}
	return max(n, 1<<20)
}

// The reader's transaction.
const (
	beginSQL     = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL client_encoding TO 'UTF8'"
	closeTimeout = 10 * time.Second
)

// cursor is a transaction begun on a connection, with the cursor c
// declared for a source.
type cursor struct {
	ctx    context.Context
	pg     *pgconn.PgConn
	source string
	sql    string                    // the query of the cursor
	fields []pgconn.FieldDescription // its result's columns
}

// openCursor begins the transaction and declares the cursor for src; the
// result's columns are described by preparing (not running) fetch.
func openCursor(ctx context.Context, conn *pgx.Conn, src Source, fetch string) (*cursor, error) {
	sql, err := src.sql()
	if err != nil {
		return nil, err
	}
	pg := conn.PgConn()
	c := &cursor{ctx: ctx, pg: pg, source: src.name(), sql: sql}
	if pg.IsClosed() {
		return nil, fmt.Errorf("postgres %s: the connection is closed", c.source)
	}
	if st := pg.TxStatus(); st != 'I' {
		return nil, fmt.Errorf("postgres %s: the connection is in a transaction (status %q); the reader needs one of its own", c.source, st)
	}
	if _, err := pg.Exec(ctx, beginSQL).ReadAll(); err != nil {
		c.rollback()
		return nil, fmt.Errorf("postgres %s: beginning the transaction: %w", c.source, err)
	}
	// The extended protocol parses one statement only (it refuses more),
	// whatever src.Query holds; preparing it first tells its parameters.
	declare := "DECLARE c NO SCROLL CURSOR FOR " + sql
	sd, err := pg.Prepare(ctx, "", declare, nil)
	if err == nil && len(sd.ParamOIDs) > 0 {
		c.rollback()
		params := make([]string, len(sd.ParamOIDs))
		for i := range params {
			params[i] = "$" + strconv.Itoa(i+1)
		}
		return nil, fmt.Errorf("postgres query: takes parameters (%s), which a Source cannot give", strings.Join(params, ", "))
	}
	if err == nil {
		_, err = pg.ExecPrepared(ctx, "", nil, nil, nil).Close()
	}
	if err != nil {
		c.rollback()
		var pe *pgconn.PgError
		if src.Query != "" && errors.As(err, &pe) && pe.Code == "42601" {
			// A syntax error, such as a statement other than SELECT.
			return nil, fmt.Errorf("postgres query: want a single SELECT, VALUES or TABLE statement: %w", err)
		}
		return nil, fmt.Errorf("postgres %s: %w", c.source, err)
	}
	sd, err = pg.Prepare(ctx, "", fetch, nil)
	if err != nil {
		c.rollback()
		return nil, fmt.Errorf("postgres %s: describing the result: %w", c.source, err)
	}
	c.fields = sd.Fields
	return c, nil
}

// rollback ends the transaction, even when c.ctx is done.
func (c *cursor) rollback() error {
	if c.pg.IsClosed() || c.pg.TxStatus() == 'I' {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), closeTimeout)
	defer cancel()
	if _, err := c.pg.Exec(ctx, "ROLLBACK").ReadAll(); err != nil {
		return fmt.Errorf("postgres %s: rolling back: %w", c.source, err)
	}
	return nil
}

// typeName returns the SQL name of fd's type, such as numeric(12,2).
func (c *cursor) typeName(fd pgconn.FieldDescription) string {
	res := c.pg.ExecParams(c.ctx, "SELECT pg_catalog.format_type($1, $2)",
		[][]byte{[]byte(strconv.FormatUint(uint64(fd.DataTypeOID), 10)), []byte(strconv.FormatInt(int64(fd.TypeModifier), 10))},
		[]uint32{pgtype.OIDOID, pgtype.Int4OID}, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || res.Rows[0][0] == nil {
		return fmt.Sprintf("with OID %d", fd.DataTypeOID)
	}
	return string(res.Rows[0][0])
}

// primaryKey returns the column of the primary key of table, or "" when it
// has none or one of several columns.
func (c *cursor) primaryKey(table string) (string, error) {
	id, err := parseTable(table)
	if err != nil {
		return "", err
	}
	res := c.pg.ExecParams(c.ctx, `SELECT a.attname FROM pg_catalog.pg_index i
		JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary`,
		[][]byte{[]byte(id.Sanitize())}, []uint32{pgtype.TextOID}, nil, nil).Read()
	if res.Err != nil {
		return "", fmt.Errorf("postgres %s: looking up the primary key: %w", c.source, res.Err)
	}
	if len(res.Rows) != 1 {
		return "", nil
	}
	return string(res.Rows[0][0]), nil
}
