// Package connectors holds what every connector shares: the way a source's
// rows, read and checked against a declared schema, come out as column
// batches (schema.Batch). Each source is a subpackage (csv, jsonl); see
// README.md for what they guarantee.
package connectors

import (
	"io"
	"math"

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
