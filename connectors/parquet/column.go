package parquet

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/xjdata/cleanroom/schema"
)

// maxWindow is the most rows of each column read and checked at a time,
// whatever the batch size, so that the rows read before an error do not
// depend on it.
const maxWindow = 8192

// windowBytes bounds the values a window can hold, in bytes: strings as
// long as their max_len, 8 bytes for other values.
const windowBytes = 64 << 20

// windowRows returns the rows of a window of s: maxWindow, or fewer when
// rows of s can be so long that maxWindow of them may hold more than
// windowBytes; at least one.
func windowRows(s *schema.Schema) int {
	row := 0
	for _, c := range s.Columns {
		switch {
		case c.Type != schema.String:
			row += 8
		case c.MaxLen == 0:
			row += schema.DefaultMaxLen
		default:
			row += min(c.MaxLen, windowBytes)
		}
	}
	return max(1, min(maxWindow, windowBytes/row))
}

// column reads the values of one schema column from its file column, a
// window of rows at a time.
type column struct {
	col    *schema.Column // the schema column
	idx    int            // its index in the schema
	f      *field         // the file column
	lo, hi int64          // the declared bounds of an int or date column
	maxLen int            // the longest string of a string column

	rd file.ColumnChunkReader // for the row group being read
	// The column's pages from row stop of the row group on are not to be
	// read, for stopFault (see scanChunk); stop is the row group's rows
	// when all are to be.
	stop      int64
	stopFault *fault

	// Buffers for a window.
	defs  []int16
	i32   []int32
	i64   []int64
	bools []bool
	bas   []pq.ByteArray
	ints  []int64  // the values of an int, bool or date column
	strs  []string // the values of a string column
	ends  []int    // ends[i] is the end of string i in arena
	arena strings.Builder
	hint  int // the bytes of the last window's strings
}

func newColumn(col *schema.Column, idx int, f *field, window int) *column {
	c := &column{col: col, idx: idx, f: f}
	switch col.Type {
	case schema.Int, schema.Date:
		c.lo, c.hi = *col.Min, *col.Max
	case schema.String:
		c.maxLen = col.MaxLen
		if c.maxLen == 0 {
			c.maxLen = schema.DefaultMaxLen
		}
	}
	if f.maxDef > 0 {
		c.defs = make([]int16, window)
	}
	switch f.kind {
	case kInt64, kUint64:
		c.i64 = make([]int64, window)
	case kBool:
		c.bools = make([]bool, window)
	case kString:
		c.bas = make([]pq.ByteArray, window)
		c.strs = make([]string, window)
		c.ends = make([]int, window)
	default:
		c.i32 = make([]int32, window)
	}
	if f.kind != kString {
		c.ints = make([]int64, window)
	}
	return c
}

// fault is the first problem in a column's window: at row (0-based in the
// window) the value does not fit (err is a *schema.ValueError), is null, or
// cannot be read (err is the Parquet library's error, if any).
type fault struct {
	row int
	msg string
	err error
}

// pageReader is what the typed column chunk readers of the Parquet library
// have in common.
type pageReader[T any] interface {
	HasNext() bool
	Err() error
	ReadBatchInPage(batchSize int64, values []T, defLvls, repLvls []int16) (int64, int, error)
}

// readPages reads the next n rows of rd, a page at a time, into buf and
// hands each run of values to take, with the window row of its first
// value, until take or the reading finds a problem. maxDef is the column's
// definition level of a value that is not null; defs, with room for n
// levels, is nil for a required column.
func readPages[T any](rd pageReader[T], buf []T, defs []int16, maxDef int16, n int, take func(vals []T, row int) *fault) *fault {
	got := 0
	for got < n {
		if !rd.HasNext() {
			if err := rd.Err(); err != nil {
				return &fault{row: got, msg: "corrupt column chunk: " + libMsg(err), err: err}
			}
			return &fault{row: got, msg: "column chunk ends before the end of the row group"}
		}
		var d []int16
		if defs != nil {
			d = defs[:n-got]
		}
		lvls, nvals, err := rd.ReadBatchInPage(int64(n-got), buf[:n-got], d, nil)
		if err != nil {
			return &fault{row: got, msg: "corrupt column chunk: " + libMsg(err), err: err}
		}
		k := int(lvls)
		if k <= 0 || k > n-got || nvals < 0 || nvals > k {
			return &fault{row: got, msg: fmt.Sprintf("corrupt column chunk: a page gives %d values for %d rows", nvals, lvls)}
		}
		if d != nil {
			for j, l := range d[:k] {
				if l == maxDef {
					continue
				}
				if f := take(buf[:j], got); f != nil {
					return f
				}
				if l < maxDef {
					return &fault{row: got + j, msg: "null value; the schema has no nulls"}
				}
				return &fault{row: got + j, msg: "corrupt column chunk: definition level out of range"}
			}
		}
		if nvals != k {
			return &fault{row: got, msg: fmt.Sprintf("corrupt column chunk: a page gives %d values for %d rows", nvals, k)}
		}
		if f := take(buf[:k], got); f != nil {
			return f
		}
		got += k
	}
	return nil
}

// read reads the next n rows of the column into ints or strs, checking
// every value, and returns the first problem.
func (c *column) read(n int) *fault {
	if n == 0 {
		return nil
	}
	switch rd := c.rd.(type) {
	case *file.Int32ColumnChunkReader:
		return readPages(rd, c.i32, c.defs, c.f.maxDef, n, c.takeInt32)
	case *file.Int64ColumnChunkReader:
		return readPages(rd, c.i64, c.defs, c.f.maxDef, n, c.takeInt64)
	case *file.BooleanColumnChunkReader:
		return readPages(rd, c.bools, c.defs, c.f.maxDef, n, c.takeBool)
	case *file.ByteArrayColumnChunkReader:
		c.arena.Reset()
		c.arena.Grow(c.hint)
		f := readPages(rd, c.bas, c.defs, c.f.maxDef, n, c.takeBytes)
		s := c.arena.String()
		c.hint = len(s)
		start := 0
		good := n
		if f != nil {
			good = f.row
		}
		for i, end := range c.ends[:good] {
			c.strs[i] = s[start:end]
			start = end
		}
		return f
	}
	return &fault{msg: fmt.Sprintf("corrupt column chunk: no reader for %s", c.f.desc)}
}

func (c *column) takeInt32(vals []int32, row int) *fault {
	out := c.ints[row : row+len(vals)]
	lo, hi := c.lo, c.hi
	switch c.f.kind {
	case kInt32:
		for i, v := range vals {
			x := int64(v)
			if x < lo || x > hi {
				return c.outOfBounds(row+i, x)
			}
			out[i] = x
		}
	case kDate:
		for i, v := range vals {
			x := int64(v)
			if x < lo || x > hi || x < schema.MinDate || x > schema.MaxDate {
				return c.outOfBounds(row+i, x)
			}
			out[i] = x
		}
	default:
		var min, max int64
		switch c.f.kind {
		case kInt8:
			min, max = math.MinInt8, math.MaxInt8
		case kInt16:
			min, max = math.MinInt16, math.MaxInt16
		case kUint8:
			max = math.MaxUint8
		case kUint16:
			max = math.MaxUint16
		case kUint32:
			max = math.MaxUint32
		}
		unsigned := min == 0
		for i, v := range vals {
			x := int64(v)
			if unsigned {
				x = int64(uint32(v))
			}
			if x < min || x > max {
				return &fault{row: row + i, msg: fmt.Sprintf("%d does not fit the column's Parquet type %s", x, c.f.desc)}
			}
			if x < lo || x > hi {
				return c.outOfBounds(row+i, x)
			}
			out[i] = x
		}
	}
	return nil
}

func (c *column) takeInt64(vals []int64, row int) *fault {
	out := c.ints[row : row+len(vals)]
	lo, hi := c.lo, c.hi
	if c.f.kind == kUint64 {
		for i, v := range vals {
			if v < 0 {
				// Beyond int64, so outside any bounds.
				return c.valueError(row+i, fmt.Sprintf("%d is outside the declared bounds [%d, %d]", uint64(v), lo, hi))
			}
			if v < lo || v > hi {
				return c.outOfBounds(row+i, v)
			}
			out[i] = v
		}
		return nil
	}
	for i, v := range vals {
		if v < lo || v > hi {
			return c.outOfBounds(row+i, v)
		}
		out[i] = v
	}
	return nil
}

func (c *column) takeBool(vals []bool, row int) *fault {
	out := c.ints[row : row+len(vals)]
	for i, v := range vals {
		out[i] = 0
		if v {
			out[i] = 1
		}
	}
	return nil
}

func (c *column) takeBytes(vals []pq.ByteArray, row int) *fault {
	// The values point into the page, which the next read replaces: copy
	// them to the arena.
	size := 0
	for _, v := range vals {
		size += len(v)
	}
	c.arena.Grow(size)
	for i, v := range vals {
		if len(v) > c.maxLen || !utf8.Valid(v) {
			_, _, err := c.col.ParseValue(string(v))
			if err == nil { // cannot be: the checks are those of ParseValue
				err = &schema.ValueError{Column: c.col.Name, Reason: "string is not valid"}
			}
			return &fault{row: row + i, msg: err.Error(), err: err}
		}
		c.arena.Write(v)
		c.ends[row+i] = c.arena.Len()
	}
	return nil
}

// outOfBounds returns the fault of an int or date value v outside the
// column's bounds, with the message ParseValue gives, or outside the dates
// any date column can hold (when the declared bounds are wider).
func (c *column) outOfBounds(row int, v int64) *fault {
	if c.col.Type != schema.Date {
		return c.valueError(row, fmt.Sprintf("%d is outside the declared bounds [%d, %d]", v, c.lo, c.hi))
	}
	if v < c.lo || v > c.hi {
		return c.valueError(row, fmt.Sprintf("%s is outside the declared bounds [%s, %s]",
			schema.FormatDate(v), schema.FormatDate(c.lo), schema.FormatDate(c.hi)))
	}
	return c.valueError(row, fmt.Sprintf("%s is outside the dates a column can hold [%s, %s]",
		schema.FormatDate(v), schema.FormatDate(schema.MinDate), schema.FormatDate(schema.MaxDate)))
}

func (c *column) valueError(row int, reason string) *fault {
	return &fault{row: row, msg: reason, err: &schema.ValueError{Column: c.col.Name, Reason: reason}}
}
