// Package connectors holds what every connector shares: the way a source's
// rows, read and checked against a declared schema, come out as column
// batches (schema.Batch). Each source is a subpackage (csv, jsonl); see
// README.md for what they guarantee.
package connectors

import (
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/xjdata/cleanroom/schema"
)

// MaxPrealloc caps the rows a batch is allocated for up front, so that a
// huge batch size costs memory only as rows actually arrive.
const MaxPrealloc = 1 << 16

// Filler is a source's reading step: Fill appends checked rows to b until
// it holds upTo rows, and returns io.EOF once the input ends (after
// appending what was left) or the error of the first bad row.
type Filler interface {
	Fill(b *schema.Batch, upTo int) error
}

// FillFunc is a Filler made of a function.
type FillFunc func(b *schema.Batch, upTo int) error

// Fill calls f.
func (f FillFunc) Fill(b *schema.Batch, upTo int) error { return f(b, upTo) }

// Batches turns a Filler into batches of a set size. The zero value is
// not usable; see NewBatches.
type Batches struct {
	f      Filler
	schema *schema.Schema
	size   int
	err    error // returned from now on: io.EOF at the end, or the first error
}

// NewBatches returns batches of at most size rows of s from f.
func NewBatches(f Filler, s *schema.Schema, size int) *Batches {
	return &Batches{f: f, schema: s, size: size}
}

// Next returns the next batch of at most the set size, and io.EOF after
// the last. Each batch is newly allocated; the caller may keep it. After
// an error, Next returns the same error again.
func (bs *Batches) Next() (*schema.Batch, error) {
	if bs.err != nil {
		return nil, bs.err
	}
	b := schema.NewBatch(bs.schema, min(bs.size, MaxPrealloc))
	err := bs.f.Fill(b, bs.size)
	switch {
	case err == nil:
		return b, nil
	case err == io.EOF && b.Len > 0:
		bs.err = err
		return b, nil
	}
	bs.err = err
	return nil, err
}

// ReadAll reads all of f's rows of s as one batch.
func ReadAll(f Filler, s *schema.Schema, size int) (*schema.Batch, error) {
	b := schema.NewBatch(s, min(size, MaxPrealloc))
	if err := f.Fill(b, math.MaxInt); err != io.EOF {
		return nil, err
	}
	return b, nil
}

// Reader is what every connector's reader does: Next returns the next
// batch of checked rows and io.EOF after the last, and Rows counts the rows
// returned so far. An error about the data names where it is (file, line or
// row, column) in the connector's own error type; after an error Next
// returns it again.
type Reader interface {
	Next() (*schema.Batch, error)
	Rows() int64
}

// Loosen returns a copy of s whose int and date columns accept any value a
// column of their type can hold, for reading a source whose out-of-bounds
// values are to be clamped (see Clamper) rather than refused.
func Loosen(s *schema.Schema) *schema.Schema {
	out := &schema.Schema{Columns: slices.Clone(s.Columns)}
	for i := range out.Columns {
		c := &out.Columns[i]
		switch c.Type {
		case schema.Int:
			c.Min, c.Max = ptr(int64(math.MinInt64)), ptr(int64(math.MaxInt64))
		case schema.Date:
			c.Min, c.Max = ptr(schema.MinDate), ptr(schema.MaxDate)
		}
	}
	return out
}

func ptr(v int64) *int64 { return &v }

// Clamper moves values outside their column's declared bounds to the
// nearest bound, and counts how many it moved in each column.
type Clamper struct {
	s       *schema.Schema
	clamped []int64
}

// NewClamper returns a Clamper to the bounds of s.
func NewClamper(s *schema.Schema) *Clamper {
	return &Clamper{s: s, clamped: make([]int64, len(s.Columns))}
}

// Clamp clamps the values of b, a batch of s's columns (read with Loosen's
// schema), in place.
func (c *Clamper) Clamp(b *schema.Batch) {
	for i, col := range c.s.Columns {
		if col.Min == nil || col.Max == nil {
			continue
		}
		lo, hi := *col.Min, *col.Max
		var n int64
		vs := b.Cols[i].Ints
		for k, v := range vs {
			if v < lo {
				vs[k], n = lo, n+1
			} else if v > hi {
				vs[k], n = hi, n+1
			}
		}
		c.clamped[i] += n
	}
}

// Clamped returns how many values have been clamped, by column name, with
// only the columns that had any.
func (c *Clamper) Clamped() map[string]int64 {
	out := map[string]int64{}
	for i, n := range c.clamped {
		if n > 0 {
			out[c.s.Columns[i].Name] = n
		}
	}
	return out
}

// Total returns how many values have been clamped in all.
func (c *Clamper) Total() int64 {
	var t int64
	for _, n := range c.clamped {
		t += n
	}
	return t
}

// MaxEcho is the longest part of a value, in bytes, that an error message
// repeats.
const MaxEcho = 64

// Quote returns s quoted as by %q, cut to its first MaxEcho bytes (at a
// rune boundary when s is UTF-8) and followed by … when it is longer: how
// every connector repeats a value in an error.
func Quote(s string) string {
	if len(s) <= MaxEcho {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:Cut(s, MaxEcho)]) + "…"
}

// Cut returns the length of s cut to at most max bytes, at a rune boundary
// when s is UTF-8.
func Cut(s string, max int) int {
	if len(s) <= max {
		return len(s)
	}
	n := max
	for i := 0; i < utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]); i++ {
		n--
	}
	return n
}
