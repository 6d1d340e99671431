package enclave

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/xjdata/cleanroom/schema"
)

// The stored rows in memory: what Load gathers from the blocks of one or
// more uploads (see colfile.go for the stored form).

// columns are rows loaded from stored uploads: ints as they are, strings
// dictionary-coded.
type columns struct {
	batch *schema.Batch
}

// wipe zeroes every value, dictionary and code, so that the plaintext
// does not outlive its use in memory.
func (c *columns) wipe() {
	for i := range c.batch.Cols {
		v := &c.batch.Cols[i]
		clear(v.Ints)
		clear(v.Int32s)
		clear(v.Codes)
		if v.Dict != nil {
			clear(v.Dict.Bytes)
			clear(v.Dict.Offs)
		}
	}
}

// size returns the bytes the rows take in memory: 8 per int, bool or
// date (4 in Int32s), 4 per code, and each dictionary's bytes and
// offsets.
func (c *columns) size() int64 {
	var n int64
	for i := range c.batch.Cols {
		v := &c.batch.Cols[i]
		n += 8*int64(len(v.Ints)) + 4*int64(len(v.Int32s)) + 4*int64(len(v.Codes))
		if v.Dict != nil {
			n += int64(len(v.Dict.Bytes)) + 8*int64(len(v.Dict.Offs))
		}
	}
	return n
}

// colBlocks gathers the rows of one or more stored files (or batches) of
// a schema into columns: ints as they are, strings dictionary-coded, each
// file's (or block's) dictionary after the previous ones. Columnar files
// say their sizes before their rows (extend), so that each column is
// allocated once at its final size; the older forms grow the columns as
// they fill, from the size grow announced. Planned (plan) before any row,
// a string column keeps no offsets when every entry of every file is of
// one width, and no codes when every block of every file holds distinct
// values; a file that breaks either writes them out (materialize).
//
// An int or date column whose declared bounds fit in 32 bits, and every
// bool column, is gathered in Int32s (narrow32), in half the memory; a
// value outside 32 bits there (outside the declared bounds, which
// uploads are checked against) is refused.
//
// A column left out (skip) stays empty: its vector has its type and no
// values, and the columnar form's reader passes over its bytes.
type colBlocks struct {
	s    *schema.Schema
	cols []schema.Vector
	skip []bool
	rows int
}

// newColBlocks returns columns of s to gather, all of them.
func newColBlocks(s *schema.Schema) *colBlocks { return newColBlocksOf(s, nil) }

// newColBlocksOf returns columns of s to gather: those need says, or all
// when need is nil. Only the columnar form (extend) can leave columns
// out.
func newColBlocksOf(s *schema.Schema, need []bool) *colBlocks {
	cb := &colBlocks{s: s, cols: make([]schema.Vector, len(s.Columns)), skip: make([]bool, len(s.Columns))}
	for i, c := range s.Columns {
		cb.cols[i].Type = c.Type
		if need != nil && !need[i] {
			cb.skip[i] = true
			continue
		}
		switch {
		case c.Type == schema.String:
			cb.cols[i].Dict = &schema.Dict{Offs: []int64{0}}
			cb.cols[i].Codes = []int32{}
		case narrow32(c):
			cb.cols[i].Int32s = []int32{}
		}
	}
	return cb
}

// narrow32 reports whether every value column c may hold fits in 32
// bits: a bool (checked 0 or 1 at upload), or an int or date with
// declared bounds that do (a date without bounds is checked against none
// in a columnar upload).
func narrow32(c schema.Column) bool {
	switch c.Type {
	case schema.Bool:
		return true
	case schema.Int, schema.Date:
		return c.Min != nil && c.Max != nil && *c.Min >= math.MinInt32 && *c.Max <= math.MaxInt32
	}
	return false
}

// appendInts appends xs to int column c, and reports the first that does
// not fit its form (Int32s), if any.
func (cb *colBlocks) appendInts(c int, xs []int64) (bad int64, ok bool) {
	v := &cb.cols[c]
	if v.Int32s == nil {
		v.Ints = append(v.Ints, xs...)
		return 0, true
	}
	for _, x := range xs {
		if int64(int32(x)) != x {
			return x, false
		}
		v.Int32s = append(v.Int32s, int32(x))
	}
	return 0, true
}

// colTotals is what gathered columns will hold: rows, and per column the
// entries and bytes of its dictionary, the width of every entry (0 if
// they differ) and whether each row is its own entry (string columns).
type colTotals struct {
	rows           int
	entries, bytes []int64
	width          []int
	identity       []bool
}

// init makes t's per-column counts for cols columns, once.
func (t *colTotals) init(cols int) {
	if t.entries == nil {
		t.entries, t.bytes = make([]int64, cols), make([]int64, cols)
		t.width, t.identity = make([]int, cols), make([]bool, cols)
		for i := range t.identity {
			t.width[i], t.identity[i] = -1, true // nothing seen yet
		}
	}
}

// add counts a columnar file's rows and dictionaries.
func (t *colTotals) add(f *colFile) {
	t.init(len(f.entries))
	t.rows += f.rows
	for i := range f.entries {
		t.entries[i] += f.entries[i]
		t.bytes[i] += f.bytes[i]
		if f.rows > 0 {
			if t.width[i] == -1 {
				t.width[i] = f.width[i]
			} else if t.width[i] != f.width[i] {
				t.width[i] = 0
			}
			t.identity[i] = t.identity[i] && f.identity[i]
		}
	}
}

// addRows counts n rows of an older form, an entry each (with offsets
// and codes).
func (t *colTotals) addRows(n int, cols int) {
	t.init(cols)
	t.rows += n
	for i := range t.entries {
		t.entries[i] += int64(n)
		t.width[i], t.identity[i] = 0, false
	}
}

// plan sets, before any row, which string columns keep no offsets (their
// entries' width) and which no codes, from what t says all files hold.
func (cb *colBlocks) plan(t colTotals) {
	if cb.rows > 0 || t.entries == nil {
		return
	}
	for i := range cb.cols {
		v := &cb.cols[i]
		if v.Dict == nil || cb.skip[i] {
			continue
		}
		if t.width[i] > 0 {
			v.Dict = &schema.Dict{Width: t.width[i]}
		}
		if t.identity[i] {
			v.Codes = nil
		}
	}
}

// materializeOffs gives string column c offsets, if it has none.
func (cb *colBlocks) materializeOffs(c int) {
	d := cb.cols[c].Dict
	if d.Offs != nil {
		return
	}
	offs := make([]int64, d.Len()+1)
	for i := range offs {
		offs[i] = int64(i * d.Width)
	}
	d.Offs, d.Width = offs, 0
}

// materializeCodes gives string column c codes, if it has none (each row
// its own entry).
func (cb *colBlocks) materializeCodes(c int) {
	v := &cb.cols[c]
	if v.Codes != nil {
		return
	}
	v.Codes = make([]int32, cb.rows)
	for r := range v.Codes {
		v.Codes[r] = int32(r)
	}
}

// grow makes room for t in every column, so that filling them does not
// reallocate. Past the most a table holds, it does nothing: the rows are
// refused as they come. The columns are allocated on every core, the
// largest first: a fresh allocation's cost is mostly the kernel's, paging
// in (and zeroing) the memory.
func (cb *colBlocks) grow(t colTotals) {
	if t.rows <= 0 || t.rows > maxRows-cb.rows {
		return
	}
	type job struct {
		bytes int64
		alloc func()
	}
	var jobs []job
	for i := range cb.cols {
		v := &cb.cols[i]
		if cb.skip[i] {
			continue
		}
		if v.Int32s != nil {
			jobs = append(jobs, job{4 * int64(t.rows), func() { v.Int32s = slices.Grow(v.Int32s, t.rows) }})
			continue
		}
		if v.Dict == nil {
			jobs = append(jobs, job{8 * int64(t.rows), func() { v.Ints = slices.Grow(v.Ints, t.rows) }})
			continue
		}
		entries, bytes := int(min(t.entries[i], maxRows)), int(min(t.bytes[i], 1<<40))
		if v.Codes != nil {
			jobs = append(jobs, job{4 * int64(t.rows), func() { v.Codes = slices.Grow(v.Codes, t.rows) }})
		}
		if v.Dict.Offs != nil {
			jobs = append(jobs, job{8 * int64(entries), func() { v.Dict.Offs = slices.Grow(v.Dict.Offs, entries) }})
		}
		jobs = append(jobs, job{int64(bytes), func() { v.Dict.Bytes = slices.Grow(v.Dict.Bytes, bytes) }})
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return cmp.Compare(b.bytes, a.bytes) })
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(jobs), runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := next.Add(1) - 1; j < int64(len(jobs)); j = next.Add(1) - 1 {
				jobs[j].alloc()
			}
		}()
	}
	wg.Wait()
}

// checkRows refuses n more rows past the most a table holds.
func (cb *colBlocks) checkRows(n int) error {
	if n < 0 || n > maxRows-cb.rows {
		return fmt.Errorf("enclave: %w: %d rows after %d, a table holds at most %d", errColFormat, n, cb.rows, maxRows)
	}
	return nil
}

// extend lengthens every column by f's rows, and each string column's
// dictionary by f's entries and bytes, each allocated at once at its
// final length (a column whose plan f breaks first gets its offsets or
// codes), and returns where the new rows, entries and bytes start. The
// caller fills them.
func (cb *colBlocks) extend(f *colFile) (rowBase int, entryBase, byteBase []int64, err error) {
	if err := cb.checkRows(f.rows); err != nil {
		return 0, nil, nil, err
	}
	entryBase, byteBase = make([]int64, len(cb.cols)), make([]int64, len(cb.cols))
	for i := range cb.cols {
		if d := cb.cols[i].Dict; d != nil {
			entryBase[i], byteBase[i] = int64(d.Len()), int64(len(d.Bytes))
			if f.entries[i] > int64(maxRows)-entryBase[i] {
				return 0, nil, nil, fmt.Errorf("enclave: %w: column %s: more than %d dictionary entries", errColFormat, cb.s.Columns[i].Name, maxRows)
			}
		}
	}
	for i := range cb.cols {
		v := &cb.cols[i]
		if cb.skip[i] {
			continue
		}
		if v.Int32s != nil {
			v.Int32s = lengthen(v.Int32s, f.rows)
			continue
		}
		if v.Dict == nil {
			v.Ints = lengthen(v.Ints, f.rows)
			continue
		}
		if f.rows > 0 && v.Dict.Offs == nil && f.width[i] != v.Dict.Width {
			cb.materializeOffs(i)
		}
		if f.rows > 0 && v.Codes == nil && !f.identity[i] {
			cb.materializeCodes(i)
		}
		d := v.Dict
		if v.Codes != nil {
			v.Codes = lengthen(v.Codes, f.rows)
		}
		if d.Offs != nil {
			d.Offs = lengthen(d.Offs, int(f.entries[i]))
		}
		d.Bytes = lengthen(d.Bytes, int(f.bytes[i]))
	}
	rowBase = cb.rows
	cb.rows += f.rows
	return rowBase, entryBase, byteBase, nil
}

// lengthen returns s with n more elements, reallocated (once) only if
// its capacity is short. The new elements are for the caller to set.
func lengthen[T any](s []T, n int) []T {
	s = slices.Grow(s, n)
	return s[:len(s)+n]
}

// addStrings appends plain strings to string column c, each its own
// dictionary entry (the older forms: Execute's coding merges equal
// entries).
func (cb *colBlocks) addStrings(c int, strs []string) {
	cb.materializeOffs(c)
	cb.materializeCodes(c)
	v := &cb.cols[c]
	d := v.Dict
	for _, s := range strs {
		v.Codes = append(v.Codes, int32(d.Len()))
		d.Bytes = append(d.Bytes, s...)
		d.Offs = append(d.Offs, int64(len(d.Bytes)))
	}
}

// add appends a batch's rows (a stored CSV upload's). It gathers every
// column: cb leaves none out.
func (cb *colBlocks) add(b *schema.Batch) error {
	if err := cb.checkRows(b.Len); err != nil {
		return err
	}
	if slices.Contains(cb.skip, true) {
		return errors.New("enclave: internal error: rows of an older form gathered with columns left out")
	}
	for i := range b.Cols {
		if cb.cols[i].Dict != nil {
			cb.addStrings(i, b.Cols[i].Strs)
		} else if x, ok := cb.appendInts(i, b.Cols[i].Ints); !ok {
			return fmt.Errorf("enclave: %w: column %s: value %d is outside its declared bounds", errColFormat, cb.s.Columns[i].Name, x)
		}
	}
	cb.rows += b.Len
	return nil
}

// columns returns the rows gathered.
func (cb *colBlocks) columns() *columns {
	return &columns{batch: &schema.Batch{Schema: cb.s, Cols: cb.cols, Len: cb.rows}}
}

// wipe zeroes what has been gathered, when it is given up.
func (cb *colBlocks) wipe() { cb.columns().wipe() }
