package enclave

import "sync"

// tableCache keeps what Execute derives from a table's rows alone, so that
// repeated queries over the same loaded rows do not derive it again:
// dictionary codes of columns, join indexes, and join probes. Store.Load
// attaches one to the rows it caches; a Table built by hand has none, and
// Execute then derives what it needs per query, over the rows it uses.
//
// Derivations run to completion once started, whatever the query's ctx,
// so that a cancelled query leaves no partial entry.
//
// Safe for concurrent use.
type tableCache struct {
	mu   sync.Mutex
	cols map[int]*colCache
}

type colCache struct {
	codesOnce sync.Once
	codes     []int32 // per row: dense code of the value
	n         int32

	indexOnce sync.Once
	index     *joinIndex // over all rows

	mu     sync.Mutex
	probes map[*joinIndex]*probeCache // this column probing another's index
}

type probeCache struct {
	once  sync.Once
	first []int32 // per row: first row of the other table with the same key, or -1
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

func (cc *colCache) probe(ix *joinIndex) *probeCache {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.probes == nil {
		cc.probes = make(map[*joinIndex]*probeCache)
	}
	pc := cc.probes[ix]
	if pc == nil {
		pc = &probeCache{}
		cc.probes[ix] = pc
	}
	return pc
}

// Cached returns a copy of t that caches what Execute and PrepareHE derive
// from its rows (as Store.Load's tables do): keep it, and hand copies of
// it (with other Unit or MaxRowsPerUnit if need be) to later queries over
// the same rows, which must then not change.
func Cached(t Table) *Table {
	t.cache = newTableCache()
	return &t
}
