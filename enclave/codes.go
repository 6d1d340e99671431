package enclave

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// colCodes are dense codes of one column's values. Codes of a column with
// a small declared range are its values minus the range's low end (bool:
// the value); others are given in order of first appearance. Joins,
// grouping, filters on strings, units and COUNT(DISTINCT) work on codes,
// never on the values themselves.
//
// A row's code is reached through its key, rows[r]: the code is keys[key],
// or the key itself when keys is nil. A dictionary-coded column's keys
// are its rows' dictionary entries and keys the entries' codes, so that
// no code per row is made: a table per code that the rows are looked up
// in is made a table per key (perKey) once instead.
//
// Read-only once built: safe for concurrent use.
type colCodes struct {
	rows []int32
	keys []int32
	n    int32 // number of codes
	// direct is set when codes are values minus lo.
	direct bool
	lo     int64
	// The value of each code (not for direct codes), and the code of each
	// value: a string column's table, an int column's values and map.
	str   *strTable
	ints  []int64
	byInt map[int64]int32
}

// code returns row r's code.
func (cc *colCodes) code(r int32) int32 {
	if cc.keys != nil {
		return cc.keys[cc.rows[r]]
	}
	return cc.rows[r]
}

// perKey returns byCode, a value per code, as a value per key: what row r
// looks up as out[cc.rows[r]]. It is byCode itself when keys are codes.
func perKey[T any](cc *colCodes, byCode []T) []T {
	if cc.keys == nil {
		return byCode
	}
	out := make([]T, len(cc.keys))
	for k, c := range cc.keys {
		out[k] = byCode[c]
	}
	return out
}

// directLimit is the widest declared range of an int or date column whose
// values are coded directly rather than through a dictionary.
const directLimit = 1 << 16

// directRange reports whether column c is coded directly from its value,
// and the smallest value and the number of values if so.
func directRange(col schema.Column) (min int64, n int, ok bool) {
	switch col.Type {
	case schema.Bool:
		return 0, 2, true
	case schema.Int, schema.Date:
		if col.Min != nil && col.Max != nil {
			if d := *col.Max - *col.Min; d >= 0 && d < directLimit {
				return *col.Min, int(d) + 1, true
			}
		}
	}
	return 0, 0, false
}

// buildCodes codes every row of column c of t. It runs to completion
// unless ctx is done.
func buildCodes(ctx context.Context, t *Table, c int) (*colCodes, error) {
	v := &t.Rows.Cols[c]
	n := t.Rows.Len
	cc := &colCodes{}
	switch {
	case v.Type == schema.String && v.Dict != nil:
		if err := dictCodes(ctx, t, c, cc); err != nil {
			return nil, err
		}
		return cc, nil
	case v.Type == schema.String:
		var err error
		if cc.str, cc.rows, err = buildStrTable(ctx, strVals{plain: v.Strs}); err != nil {
			return nil, err
		}
		cc.n = cc.str.n()
		return cc, nil
	}
	cc.rows = make([]int32, n)
	if lo, width, ok := directRange(t.Schema.Columns[c]); ok {
		cc.direct, cc.lo, cc.n = true, lo, int32(width)
		err := parallel(ctx, n, func(_, a, b int) error {
			if v.Int32s != nil {
				directCodes(cc.rows[a:b], v.Int32s[a:b], lo, width)
			} else {
				directCodes(cc.rows[a:b], v.Ints[a:b], lo, width)
			}
			return nil
		})
		return cc, err
	}
	vals := v.Ints
	if v.Int32s != nil {
		// The dictionary is of int64 values: a widened copy, wiped
		// after (the cache wipes only what it keeps).
		vals = make([]int64, len(v.Int32s))
		for r, x := range v.Int32s {
			vals[r] = int64(x)
		}
		defer clear(vals)
	}
	var err error
	if cc.byInt, cc.ints, err = dictionary(ctx, vals, cc.rows); err != nil {
		return nil, err
	}
	cc.n = int32(len(cc.ints))
	return cc, nil
}

// directCodes sets codes[r] to ints[r] − lo, for values in [lo, lo+width).
// Values are within the declared bounds (checked at upload); it clamps
// them defensively.
func directCodes[T int32 | int64](codes []int32, ints []T, lo int64, width int) {
	for r, x := range ints {
		codes[r] = int32(min(max(int64(x)-lo, 0), int64(width-1)))
	}
}

// dictCodes codes column c of t, a dictionary-coded string column: its
// dictionary's entries are coded (each hashed once: far fewer than the
// rows when its blocks repeat values, as a stored upload's do), and each
// row's code is its entry's: the rows' keys are the column's Codes (its
// entries), shared, and keys the entries' codes. With entries in order of
// first use (as loading makes them), the codes are those dictionary gives
// the rows' values. When the entries are distinct, the entries are the
// codes (no keys); a column without codes (each row its own entry) takes
// the entries' codes as its keys. It checks the dictionary's offsets or
// width and the rows' codes, which a Table built by hand might get wrong.
func dictCodes(ctx context.Context, t *Table, c int, cc *colCodes) error {
	v := &t.Rows.Cols[c]
	d := v.Dict
	name := t.Schema.Columns[c].Name
	switch {
	case d.Offs == nil && len(d.Bytes) > 0 && (d.Width <= 0 || len(d.Bytes)%d.Width != 0):
		return fmt.Errorf("enclave: table %s: column %s: a dictionary without offsets needs a width above 0 that divides its %d bytes, not %d", t.Name, name, len(d.Bytes), d.Width)
	case d.Offs != nil && (len(d.Offs) == 0 || d.Offs[0] != 0):
		return fmt.Errorf("enclave: table %s: column %s: a dictionary's offsets must start at 0", t.Name, name)
	}
	entries := d.Len()
	for i := range len(d.Offs) - 1 {
		if lo, hi := d.Offs[i], d.Offs[i+1]; hi < lo || hi > int64(len(d.Bytes)) {
			return fmt.Errorf("enclave: table %s: column %s: dictionary entry %d spans [%d, %d) of %d bytes", t.Name, name, i, lo, hi, len(d.Bytes))
		}
	}
	var remap []int32
	var err error
	if cc.str, remap, err = buildStrTable(ctx, strVals{dict: d}); err != nil {
		return err
	}
	cc.n = cc.str.n()
	if v.Codes == nil {
		cc.rows = remap // row r is entry r
		return nil
	}
	cc.rows = v.Codes
	if int(cc.n) != entries {
		cc.keys = remap
	}
	var bad atomic.Int64
	bad.Store(-1)
	err = parallel(ctx, len(v.Codes), func(_, lo, hi int) error {
		for r := lo; r < hi; r++ {
			if x := v.Codes[r]; x < 0 || int(x) >= len(remap) {
				bad.CompareAndSwap(-1, int64(r))
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r := bad.Load(); r >= 0 {
		return fmt.Errorf("enclave: table %s: column %s: row %d has code %d, the dictionary %d entries", t.Name, name, r, v.Codes[r], entries)
	}
	return nil
}

// dictionary codes vals densely in order of first appearance, into codes,
// and returns the code of each value and the value of each code. The rows
// are split in contiguous ranges, one per core, each coded by its own
// dictionary; the ranges' dictionaries are then merged into the first,
// in order, and their codes rewritten: the result is the sequential one.
func dictionary[K comparable](ctx context.Context, vals []K, codes []int32) (map[K]int32, []K, error) {
	n := len(vals)
	workers := workersFor(n)
	dicts := make([]map[K]int32, workers)
	keys := make([][]K, workers)
	err := parallel(ctx, n, func(w, lo, hi int) error {
		sample := make(map[K]bool)
		m := make(map[K]int32, distinctGuess(hi-lo, func(r int) bool {
			fresh := !sample[vals[lo+r]]
			sample[vals[lo+r]] = true
			return fresh
		}))
		var ks []K
		for r := lo; r < hi; r++ {
			if (r-lo)%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			x := vals[r]
			code, ok := m[x]
			if !ok {
				code = int32(len(ks))
				m[x] = code
				ks = append(ks, x)
			}
			codes[r] = code
		}
		dicts[w], keys[w] = m, ks
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	global, all := dicts[0], keys[0]
	for w := 1; w < workers; w++ {
		remap := make([]int32, len(keys[w]))
		for i, x := range keys[w] {
			code, ok := global[x]
			if !ok {
				code = int32(len(all))
				global[x] = code
				all = append(all, x)
			}
			remap[i] = code
		}
		lo, hi := w*n/workers, (w+1)*n/workers
		if err := parallel(ctx, hi-lo, func(_, a, b int) error {
			for r := lo + a; r < lo+b; r++ {
				codes[r] = remap[codes[r]]
			}
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	return global, all, nil
}

// distinctGuess estimates how many distinct values n rows hold, from the
// share of new ones among the first rows (seen reports whether row r's
// value is new, and remembers it), so that a dictionary is allocated near
// its final size instead of growing (and rehashing) step by step.
func distinctGuess(n int, seen func(r int) bool) int {
	sample := min(n, 1<<14)
	fresh := 0
	for r := range sample {
		if seen(r) {
			fresh++
		}
	}
	if sample == 0 {
		return 0
	}
	return min(n, fresh*(n/sample)+fresh)
}

// codeOf returns the code of a value (Str for string columns, Int for
// others), or -1 when no row holds it.
func (cc *colCodes) codeOf(v query.Value, str bool) int32 {
	switch {
	case cc.direct:
		if d := v.Int - cc.lo; d >= 0 && d < int64(cc.n) {
			return int32(d)
		}
		return -1
	case str:
		return cc.str.lookup(v.Str)
	default:
		if c, ok := cc.byInt[v.Int]; ok {
			return c
		}
	}
	return -1
}

// passCodes returns, per code, whether its value compares with x as op
// says: the vectorised form of a filter on a string column.
func (cc *colCodes) passCodes(op query.Op, x query.Value, str bool) []bool {
	pass := make([]bool, cc.n)
	for code := range pass {
		var c int
		switch {
		case str:
			c = strings.Compare(cc.str.value(int32(code)), x.Str)
		case cc.direct:
			c = cmpInt(cc.lo+int64(code), x.Int)
		default:
			c = cmpInt(cc.ints[code], x.Int)
		}
		pass[code] = cmpOK(op, c)
	}
	return pass
}

// keyIndex chains the rows of each code of a column, in ascending row
// order: first[c] is the first row of code c (or -1), next[r] the row
// after r with the same code (or -1). It is the hash side of a join,
// built once per column.
type keyIndex struct {
	first []int32
	next  []int32
}

func buildKeyIndex(cc *colCodes) *keyIndex {
	ix := &keyIndex{first: make([]int32, cc.n), next: make([]int32, len(cc.rows))}
	for i := range ix.first {
		ix.first[i] = -1
	}
	// Backwards, so that each chain lists its rows in ascending order.
	for r := len(cc.rows) - 1; r >= 0; r-- {
		c := cc.code(int32(r))
		ix.next[r] = ix.first[c]
		ix.first[c] = int32(r)
	}
	return ix
}

// probe returns, per key of the probing column (codes a, translated into
// the index's codes by tr), the first row of the index with the same
// value, or -1: a join's probes, which row r of a looks up as
// out[a.rows[r]]. They are as many as a's keys (or codes): as many as
// its distinct values, or its dictionary's entries, not its rows.
func probe(a *colCodes, tr []int32, ix *keyIndex) []int32 {
	byCode := make([]int32, a.n)
	for c := range byCode {
		byCode[c] = -1
		if t := tr[c]; t >= 0 {
			byCode[c] = ix.first[t]
		}
	}
	return perKey(a, byCode)
}

// translate maps each code of column a to the code of the same value in
// column b, or -1 when b has no such value: how a join probes b's index
// with a's codes. Both columns have the same type. The codes are split
// over the cores; it runs to completion.
func translate(a, b *colCodes, str bool) []int32 {
	out := make([]int32, a.n)
	parallel(context.Background(), len(out), func(_, lo, hi int) error {
		for code := lo; code < hi; code++ {
			var v query.Value
			switch {
			case a.direct:
				v.Int = a.lo + int64(code)
			case str:
				v.Str = a.str.value(int32(code))
			default:
				v.Int = a.ints[code]
			}
			out[code] = b.codeOf(v, str)
		}
		return nil
	})
	return out
}

// minChunk is the fewest rows a worker of parallel takes.
const minChunk = 1 << 15

// parallel runs f over [0, n) split into contiguous chunks, one per
// worker (at most GOMAXPROCS), and returns the first error. w numbers the
// chunks in order, from 0. ctx is checked between chunks of ctxEvery
// rows by the callers' loops, and here before starting.
func parallel(ctx context.Context, n int, f func(w, lo, hi int) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	workers := workersFor(n)
	if workers == 1 {
		return f(0, 0, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = f(w, lo, hi)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// workersFor returns how many workers parallel uses for n items.
func workersFor(n int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n/minChunk))
}
