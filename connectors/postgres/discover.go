package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// Discover returns a schema for what src holds: the result's columns, in
// its order, with the schema type each PostgreSQL type is read as (see the
// package doc), and bounds taken from the data. It is a draft for a person
// to review, not a contract: the bounds are the data's own, which may
// say more about it than the dataset should promise, and Discover does
// not look for NULLs (which NewReader refuses).
//
// In a read-only REPEATABLE READ transaction of its own, which it rolls
// back, Discover declares src's cursor as NewReader does (so the same
// queries are refused), describes the result's columns without reading
// a row, and then runs one query over the whole table or query result,
//
//	SELECT min(c), max(c), ..., max(octet_length(s)), ... FROM (src) AS q
//
// with min and max of every int and date column c and the longest value
// in bytes of every string column s (a character(n) value counts its
// trailing blanks, as the reader sees them). So Discover reads the whole
// table once, on the server; no row comes to the client.
//
// Each int and date column gets Min and Max from that query; a column
// with no value that is not NULL (an empty table) gets the range of its
// type instead: that of smallint, integer or bigint, or schema.MinDate
// to schema.MaxDate. A date column holding infinity or -infinity is an
// error. Each string column gets MaxLen from its longest value, or 0 (the
// default, schema.DefaultMaxLen) when it has no value longer than 0
// bytes. A result column whose name is not a valid schema column name
// (schema.ValidName: lower case, such as "amount") or whose type is not
// read is an *Error; a column that appears twice is too.
func Discover(ctx context.Context, conn *pgx.Conn, src Source) (*schema.Schema, error) {
	cur, err := openCursor(ctx, conn, src, "FETCH FORWARD 1 FROM c")
	if err != nil {
		return nil, err
	}
	defer cur.rollback()
	fail := func(column, format string, args ...any) error {
		return &Error{Source: cur.source, Column: column, Msg: fmt.Sprintf(format, args...)}
	}

	s := &schema.Schema{Columns: make([]schema.Column, len(cur.fields))}
	kinds := make([]kind, len(cur.fields))
	var aggs []string
	seen := map[string]bool{}
	for j, fd := range cur.fields {
		switch {
		case seen[fd.Name]:
			return nil, fail("", "column %s appears twice in the result", connectors.Quote(fd.Name))
		case !schema.ValidName(fd.Name):
			return nil, fail("", "result column %s is not a valid schema column name (want a lower-case letter, then letters, digits or _; rename it with AS in a Query)", connectors.Quote(fd.Name))
		}
		seen[fd.Name] = true
		k, t := kindOf(fd.DataTypeOID)
		if k == 0 {
			return nil, fail(fd.Name, "type %s is not read as any schema type (want smallint, integer, bigint, boolean, date, text, character varying or character)", cur.typeName(fd))
		}
		kinds[j] = k
		s.Columns[j] = schema.Column{Name: fd.Name, Type: t}
		id := pgx.Identifier{fd.Name}.Sanitize()
		switch t {
		case schema.Int, schema.Date:
			aggs = append(aggs, "min("+id+")", "max("+id+")")
		case schema.String:
			aggs = append(aggs, "max(octet_length("+id+"))")
		}
	}
	if len(aggs) > 0 {
		// The trailing semicolon that DECLARE allows ends no subquery.
		q := strings.TrimRight(cur.sql, " \t\r\n;")
		res := cur.pg.ExecParams(ctx, "SELECT "+strings.Join(aggs, ", ")+" FROM (\n"+q+"\n) AS q",
			nil, nil, nil, binaryResults).Read()
		if res.Err != nil {
			return nil, fmt.Errorf("postgres %s: %w", cur.source, res.Err)
		}
		if len(res.Rows) != 1 || len(res.Rows[0]) != len(aggs) {
			return nil, fmt.Errorf("postgres %s: the bounds query returned %d rows", cur.source, len(res.Rows))
		}
		vals := res.Rows[0]
		for j := range s.Columns {
			c := &s.Columns[j]
			switch c.Type {
			case schema.Int, schema.Date:
				lo, hi := typeRange(kinds[j])
				if vals[0] != nil && vals[1] != nil {
					var err error
					if lo, err = decodeBound(kinds[j], vals[0]); err != nil {
						return nil, fail(c.Name, "%v", err)
					}
					if hi, err = decodeBound(kinds[j], vals[1]); err != nil {
						return nil, fail(c.Name, "%v", err)
					}
				}
				c.Min, c.Max = &lo, &hi
				vals = vals[2:]
			case schema.String:
				if len(vals[0]) == 4 {
					c.MaxLen = int(int32(binary.BigEndian.Uint32(vals[0])))
				}
				vals = vals[1:]
			}
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("postgres %s: %w", cur.source, err)
	}
	return s, nil
}

// typeRange returns the least and greatest values of a column of kind k,
// in the schema's terms.
func typeRange(k kind) (int64, int64) {
	switch k {
	case kInt2:
		return math.MinInt16, math.MaxInt16
	case kInt4:
		return math.MinInt32, math.MaxInt32
	case kDate:
		return schema.MinDate, schema.MaxDate
	}
	return math.MinInt64, math.MaxInt64
}

// decodeBound decodes min or max of a column of kind k, in binary format
// (of the column's own type).
func decodeBound(k kind, raw []byte) (int64, error) {
	switch {
	case k == kInt2 && len(raw) == 2:
		return int64(int16(binary.BigEndian.Uint16(raw))), nil
	case k == kInt4 && len(raw) == 4:
		return int64(int32(binary.BigEndian.Uint32(raw))), nil
	case k == kInt8 && len(raw) == 8:
		return int64(binary.BigEndian.Uint64(raw)), nil
	case k == kDate && len(raw) == 4:
		switch d := int32(binary.BigEndian.Uint32(raw)); d {
		case math.MaxInt32:
			return 0, fmt.Errorf("holds infinity, which no date column can (the reader refuses it)")
		case math.MinInt32:
			return 0, fmt.Errorf("holds -infinity, which no date column can (the reader refuses it)")
		default:
			return int64(d) + pgEpoch, nil
		}
	}
	return 0, fmt.Errorf("the server sent a %d-byte bound, not a binary %s", len(raw), pgTypeName(k))
}

func pgTypeName(k kind) string {
	switch k {
	case kInt2:
		return "smallint"
	case kInt4:
		return "integer"
	case kInt8:
		return "bigint"
	case kDate:
		return "date"
	}
	return "value"
}
