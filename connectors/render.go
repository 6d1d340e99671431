package connectors

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xjdata/cleanroom/schema"
)

// ErrCarriageReturn is wrapped by CSVWriter's error for a string holding a
// carriage return.
var ErrCarriageReturn = errors.New("a carriage return, which the sealed CSV form cannot carry")

// CSVWriter renders batches as the canonical CSV of a schema: the form in
// which rows travel to the node and are sealed there, whatever source they
// came from. The same rows of the same schema always give the same bytes:
// a header naming the columns in schema order, then one line per row ending
// in \n; ints in decimal, bools as true or false, dates as YYYY-MM-DD;
// a string quoted (RFC 4180, quotes doubled) only when it is empty or holds
// a comma, a quote or a newline, or starts with a space or tab, so that
// encoding/csv and the csv connector read back exactly the string written.
// A string holding a carriage return cannot be carried (CSV readers fold
// \r\n to \n) and is an error.
type CSVWriter struct {
	w    io.Writer
	s    *schema.Schema
	buf  []byte
	rows int64
	base int64 // rows written before this writer, for errors
}

// NewCSVWriter returns a CSVWriter to w of rows of s, and writes the
// header.
func NewCSVWriter(w io.Writer, s *schema.Schema) (*CSVWriter, error) {
	c := &CSVWriter{w: w, s: s, buf: make([]byte, 0, 64<<10)}
	for i, col := range s.Columns {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = append(c.buf, col.Name...)
	}
	c.buf = append(c.buf, '\n')
	return c, c.flush()
}

// Write renders the rows of b, a batch of the writer's schema.
func (c *CSVWriter) Write(b *schema.Batch) error {
	for k := 0; k < b.Len; k++ {
		row := len(c.buf)
		for i, col := range c.s.Columns {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			v := &b.Cols[i]
			switch col.Type {
			case schema.String:
				s := v.Strs[k]
				switch scanField(s) {
				case fieldPlain:
					c.buf = append(c.buf, s...)
				case fieldQuoted:
					c.buf = appendQuoted(c.buf, s)
				default:
					c.buf = c.buf[:row]
					return fmt.Errorf("row %d: column %s holds %w", c.base+c.rows+1, col.Name, ErrCarriageReturn)
				}
			case schema.Int:
				c.buf = strconv.AppendInt(c.buf, v.Ints[k], 10)
			case schema.Bool:
				c.buf = strconv.AppendBool(c.buf, v.Ints[k] != 0)
			case schema.Date:
				c.buf = schema.AppendDate(c.buf, v.Ints[k])
			default:
				c.buf = append(c.buf, schema.FormatValue(col.Type, v.Ints[k])...)
			}
		}
		c.buf = append(c.buf, '\n')
		c.rows++
		if len(c.buf) >= 60<<10 {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Buffered returns the number of bytes written to the writer but not yet
// passed on.
func (c *CSVWriter) Buffered() int { return len(c.buf) }

// Flush writes what is buffered.
func (c *CSVWriter) Flush() error { return c.flush() }

// CountFrom makes the writer number rows in its errors as if n rows had
// been written before it, for a table rendered in several parts.
func (c *CSVWriter) CountFrom(n int64) { c.base = n }

// Rows returns the number of rows written.
func (c *CSVWriter) Rows() int64 { return c.rows }

func (c *CSVWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// How a string travels as a CSV field.
const (
	fieldPlain  = iota // as it is
	fieldQuoted        // in quotes, its quotes doubled
	fieldCR            // not at all: it holds a carriage return
)

// special marks the bytes that make a field need quotes (1) or make it
// impossible (2).
var special = [256]uint8{',': 1, '"': 1, '\n': 1, '\r': 2}

// scanField says, in one pass over s, how s travels: quoted when it is
// empty, holds a comma, a quote or a newline, starts with a space or a
// tab, or is \. (which some readers take for an end of data).
func scanField(s string) int {
	how := fieldPlain
	if s == "" || s[0] == ' ' || s[0] == '\t' || s == `\.` {
		how = fieldQuoted
	}
	for i := 0; i < len(s); i++ {
		switch special[s[i]] {
		case 1:
			how = fieldQuoted
		case 2:
			return fieldCR
		}
	}
	return how
}

// appendField appends s as a CSV field, quoted if it must be. s holds no
// carriage return.
func appendField(buf []byte, s string) []byte {
	if scanField(s) == fieldPlain {
		return append(buf, s...)
	}
	return appendQuoted(buf, s)
}

// appendQuoted appends s in quotes, its quotes doubled.
func appendQuoted(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		buf = append(buf, s[:i+1]...)
		buf = append(buf, '"')
		s = s[i+1:]
	}
	buf = append(buf, s...)
	return append(buf, '"')
}
