package enclave

import (
	"context"
	"slices"
	"sync"
)

// maxCachedJoins bounds the joins one table's cache keeps: the most
// recently used are kept.
const maxCachedJoins = 4

// joinStep is one join of a plan as a cache key: the joined table's
// cache (its identity: the same rows as long as it lives) and the columns
// joined.
type joinStep struct {
	right        *tableCache
	rightC       int
	leftT, leftC int
}

// joinEntry is the joined rows of one chain of joins without filters.
type joinEntry struct {
	steps []joinStep
	once  sync.Once
	rows  [][]int32
	err   error
}

// joinedRows returns the rows of the tables' join (rows[t][k] is the row
// of table t in joined row k), before filters: from the first table's
// cache when every table has one and no table is filtered, since repeated
// queries over the same tables mostly join them the same way; computed
// per query otherwise. The cached rows are shared: read-only.
func (e *exec) joinedRows(ctx context.Context, sels [][]int32) ([][]int32, error) {
	cacheable := len(e.tabs) > 1
	for t, tab := range e.tabs {
		cacheable = cacheable && tab.cache != nil && sels[t] == nil
	}
	if !cacheable {
		return e.joinAll(ctx, sels)
	}
	steps := make([]joinStep, len(e.joins))
	for i, j := range e.joins {
		steps[i] = joinStep{right: e.tabs[i+1].cache, rightC: j.right.c, leftT: j.left.t, leftC: j.left.c}
	}
	je := e.tabs[0].cache.join(steps)
	// Run to completion once started, whatever ctx (as the other
	// derivations): a cancelled query leaves no partial entry.
	je.once.Do(func() { je.rows, je.err = e.joinAll(context.Background(), sels) })
	if je.err != nil {
		return nil, je.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return slices.Clone(je.rows), nil
}

// joinAll joins the tables in plan order: rows[0] are the rows of the
// first table that pass its filters, each later table joins the rows so
// far (see join).
func (e *exec) joinAll(ctx context.Context, sels [][]int32) ([][]int32, error) {
	rows := make([][]int32, len(e.tabs))
	rows[0] = sels[0]
	if rows[0] == nil {
		rows[0] = allRows(e.tabs[0].Rows.Len)
	}
	for t := 1; t < len(e.tabs); t++ {
		out, err := e.join(ctx, rows, sels, t)
		if err != nil {
			return nil, err
		}
		copy(rows, out)
	}
	return rows, nil
}

// join returns the entry of the chain of joins steps, new (and not yet
// computed) if the cache has none, and marks it the most recently used.
func (tc *tableCache) join(steps []joinStep) *joinEntry {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for i, je := range tc.joins {
		if slices.Equal(je.steps, steps) {
			tc.joins = append(slices.Delete(tc.joins, i, i+1), je)
			return je
		}
	}
	if len(tc.joins) >= maxCachedJoins {
		tc.joins = slices.Delete(tc.joins, 0, 1)
	}
	je := &joinEntry{steps: steps}
	tc.joins = append(tc.joins, je)
	return je
}
