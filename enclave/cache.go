package enclave

import (
	"context"
	"sync"
)

// tableCache keeps what Execute derives from a table's rows alone, so that
// repeated queries over the same loaded rows do not derive it again: the
// codes of columns, join indexes, translations of codes between the
// columns of two tables, and the joined rows of unfiltered joins. Store.Load attaches one to the rows it caches; a
// Table built by hand has none, and Execute then derives what it needs
// per query.
//
// Derivations run to completion once started, whatever the query's ctx,
// so that a cancelled query leaves no partial entry; a column that cannot
// be coded (a malformed dictionary) keeps its error.
//
// Safe for concurrent use.
type tableCache struct {
	mu   sync.Mutex
	cols map[int]*colCache
	// joins are the joined rows of the joins that start at this table,
	// most recently used last (see joinedRows).
	joins []*joinEntry
}

type colCache struct {
	codesOnce sync.Once
	codes     *colCodes
	codesErr  error // a malformed column (see dictCodes)

	indexOnce sync.Once
	index     *keyIndex

	mu     sync.Mutex
	probes map[*keyIndex]*probeCache // this column probing another's index
}

type probeCache struct {
	once  sync.Once
	first []int32
}

func newTableCache() *tableCache { return &tableCache{cols: make(map[int]*colCache)} }

func (tc *tableCache) col(c int) *colCache {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	cc := tc.cols[c]
	if cc == nil {
		cc = &colCache{}
		tc.cols[c] = cc
	}
	return cc
}

// Cached returns a copy of t that caches what Execute and PrepareHE derive
// from its rows (as Store.Load's tables do): keep it, and hand copies of
// it (with other Unit or MaxRowsPerUnit if need be) to later queries over
// the same rows, which must then not change.
func Cached(t Table) *Table {
	t.cache = newTableCache()
	return &t
}

// codesOf returns the codes of column c of t, from t's cache when it has
// one.
func codesOf(ctx context.Context, t *Table, c int) (*colCodes, error) {
	if t.cache == nil {
		return buildCodes(ctx, t, c)
	}
	cc := t.cache.col(c)
	cc.codesOnce.Do(func() { cc.codes, cc.codesErr = buildCodes(context.Background(), t, c) })
	return cc.codes, cc.codesErr
}

// indexOf returns the join index of column c of t, whose codes are codes.
func indexOf(t *Table, c int, codes *colCodes) *keyIndex {
	if t.cache == nil {
		return buildKeyIndex(codes)
	}
	cc := t.cache.col(c)
	cc.indexOnce.Do(func() { cc.index = buildKeyIndex(codes) })
	return cc.index
}

// probesOf returns the probes of column c of t (codes a) into the index
// ix of another column (codes b): per key of a (see probe), the first row
// of the other table with the same value, or -1.
func probesOf(t *Table, c int, a, b *colCodes, ix *keyIndex, str bool) []int32 {
	if t.cache == nil {
		return probe(a, translate(a, b, str), ix)
	}
	cc := t.cache.col(c)
	cc.mu.Lock()
	if cc.probes == nil {
		cc.probes = make(map[*keyIndex]*probeCache)
	}
	pc := cc.probes[ix]
	if pc == nil {
		pc = &probeCache{}
		cc.probes[ix] = pc
	}
	cc.mu.Unlock()
	pc.once.Do(func() { pc.first = probe(a, translate(a, b, str), ix) })
	return pc.first
}
