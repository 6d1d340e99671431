package connectors

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/xjdata/cleanroom/schema"
)

// Inferrer suggests a schema from the values of a source's columns, for
// its holder to confirm or correct before registering the dataset: the
// narrowest type that every value of a column parses as (bool, then int,
// then date, else string) and bounds that hold every value seen.
//
// The bounds it suggests are rounded out, not the exact extremes, because
// declared bounds are published in the catalogue: an int column's to 0 or
// minus a power of ten below and a power of ten above, a date column's to
// the first and last day of the years of its extremes, a string column's
// max_len to a power of two. A column with no values is a string.
type Inferrer struct {
	cols []inferred
}

type inferred struct {
	name                     string
	notInt, notBool, notDate bool // a value seen is not of the type
	n                        int64
	minInt, maxInt           int64
	minDate, maxDate         int64
	maxLen                   int
	intSeen, dateSeen        bool
}

// NewInferrer returns an Inferrer of columns with these names, which must
// be valid column names (schema.ValidName), all different.
func NewInferrer(names []string) (*Inferrer, error) {
	in := &Inferrer{}
	seen := map[string]bool{}
	for _, n := range names {
		if !schema.ValidName(n) {
			return nil, fmt.Errorf("column name %q is not valid: want a lower-case letter, then up to 62 lower-case letters, digits or underscores (rename it in the source)", n)
		}
		if seen[n] {
			return nil, fmt.Errorf("duplicate column %q", n)
		}
		seen[n] = true
		in.cols = append(in.cols, inferred{name: n})
	}
	if len(in.cols) > schema.MaxColumns {
		return nil, fmt.Errorf("%d columns, more than the %d a schema may have", len(in.cols), schema.MaxColumns)
	}
	return in, nil
}

// Text observes a value of column col given as text (CSV), which may turn
// out to be of any type.
func (in *Inferrer) Text(col int, v string) { in.cols[col].text(v) }

func (c *inferred) text(v string) {
	c.n++
	c.maxLen = max(c.maxLen, len(v))
	if !c.notBool && v != "true" && v != "false" {
		c.notBool = true
	}
	if !c.notInt {
		if n, ok := parseInt(v); ok {
			c.seeInt(n)
		} else {
			c.notInt = true
		}
	}
	if !c.notDate {
		if d, ok := schema.ParseDate(v); ok && len(v) == len(schema.DateLayout) {
			c.seeDate(d)
		} else {
			c.notDate = true
		}
	}
}

// String observes a value given as a string (a JSON string): a string or
// a date.
func (in *Inferrer) String(col int, v string) {
	c := &in.cols[col]
	c.notInt, c.notBool = true, true
	c.text(v)
}

// Int observes a value given as an integer (a JSON number).
func (in *Inferrer) Int(col int, v int64) {
	c := &in.cols[col]
	c.n++
	c.notBool, c.notDate = true, true
	c.seeInt(v)
}

// Bool observes a value given as a bool (a JSON true or false).
func (in *Inferrer) Bool(col int) {
	c := &in.cols[col]
	c.n++
	c.notInt, c.notDate = true, true
}

func (c *inferred) seeInt(n int64) {
	if !c.intSeen {
		c.minInt, c.maxInt, c.intSeen = n, n, true
	}
	c.minInt, c.maxInt = min(c.minInt, n), max(c.maxInt, n)
}

func (c *inferred) seeDate(d int64) {
	if !c.dateSeen {
		c.minDate, c.maxDate, c.dateSeen = d, d, true
	}
	c.minDate, c.maxDate = min(c.minDate, d), max(c.maxDate, d)
}

// Rows returns the number of values observed in the first column.
func (in *Inferrer) Rows() int64 {
	if len(in.cols) == 0 {
		return 0
	}
	return in.cols[0].n
}

// Schema returns the suggested schema.
func (in *Inferrer) Schema() *schema.Schema {
	s := &schema.Schema{}
	for _, c := range in.cols {
		col := schema.Column{Name: c.name, Type: schema.String}
		switch {
		case c.n == 0:
		case !c.notBool:
			col.Type = schema.Bool
		case !c.notInt:
			col.Type = schema.Int
			lo, hi := roundOut(c.minInt), roundOut(c.maxInt)
			if c.minInt >= 0 {
				lo = 0
			}
			col.Min, col.Max = &lo, &hi
		case !c.notDate:
			col.Type = schema.Date
			lo, hi := yearStart(c.minDate), yearEnd(c.maxDate)
			col.Min, col.Max = &lo, &hi
		}
		if col.Type == schema.String && c.maxLen > schema.DefaultMaxLen {
			col.MaxLen = 1 << bits.Len(uint(c.maxLen-1))
		}
		s.Columns = append(s.Columns, col)
	}
	return s
}

// roundOut returns the power of ten at or beyond v, away from zero (0 for
// 0), within int64.
func roundOut(v int64) int64 {
	if v == 0 {
		return 0
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u
	}
	p := uint64(1)
	for p < u && p <= math.MaxInt64/10 {
		p *= 10
	}
	if p < u { // beyond the largest power of ten: the extreme itself
		if neg {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	if neg {
		return -int64(p)
	}
	return int64(p)
}

func yearStart(d int64) int64 {
	t := time.Unix(d*86400, 0).UTC()
	return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func yearEnd(d int64) int64 {
	t := time.Unix(d*86400, 0).UTC()
	return time.Date(t.Year(), 12, 31, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// parseInt parses a decimal int64 the way schema.Column.ParseValue does.
func parseInt(s string) (int64, bool) {
	c := schema.Column{Name: "x", Type: schema.Int, Min: ptr(math.MinInt64), Max: ptr(math.MaxInt64)}
	v, _, err := c.ParseValue(s)
	return v, err == nil
}
