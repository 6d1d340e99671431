package enclave

import (
	"sync"
	"time"
)

// Defaults of the cache of decrypted rows (see Store.SetCache).
const (
	DefaultCacheTTL   = 10 * time.Minute
	DefaultCacheBytes = 4 << 30
)

// SetCache sets how long a dataset's decrypted rows stay in memory with no
// query using them (ttl; defaults to DefaultCacheTTL) and how many bytes of
// decrypted rows the store keeps in all (bytes; defaults to
// DefaultCacheBytes): past either, the rows are wiped (zeroed) and
// dropped, the least recently used first, as soon as no query uses them.
// Rows in use are never wiped; the budget may be exceeded while they are.
func (s *Store) SetCache(ttl time.Duration, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cacheTTL, s.cacheBytes = ttl, bytes
	s.trimLocked()
}

// acquire counts one more user of e. Called with s.mu held.
func (e *cacheEntry) acquire() {
	e.refs++
	if e.timer != nil {
		e.timer.Stop()
	}
}

// releaser returns the function that ends one use of e: once the last
// user is gone, e is wiped if it was dropped meanwhile, or else expires
// after the cache's TTL unless used again.
func (s *Store) releaser(e *cacheEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			e.refs--
			e.last = time.Now()
			if e.refs > 0 {
				return
			}
			if e.dropped {
				e.wipe()
				return
			}
			e.timer = time.AfterFunc(s.ttl(), func() { s.expire(e) })
			s.trimLocked()
		})
	}
}

func (s *Store) ttl() time.Duration {
	if s.cacheTTL > 0 {
		return s.cacheTTL
	}
	return DefaultCacheTTL
}

// expire drops e if nobody has used it for the TTL.
func (s *Store) expire(e *cacheEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.refs == 0 && time.Since(e.last) >= s.ttl() {
		s.dropLocked(e)
	}
}

// dropLocked removes e from the cache and wipes it now if nobody uses it,
// or else when its last user is done. Called with s.mu held.
func (s *Store) dropLocked(e *cacheEntry) {
	if s.cache[e.dataset] == e {
		delete(s.cache, e.dataset)
	}
	if e.dropped {
		return
	}
	e.dropped = true
	if e.timer != nil {
		e.timer.Stop()
	}
	if e.refs == 0 {
		e.wipe()
	}
}

// dropDataset drops a dataset's cached rows (Remove, Destroy).
func (s *Store) dropDataset(dataset string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.cache[dataset]; e != nil {
		s.dropLocked(e)
	}
}

// trimLocked drops the least recently used entries nobody uses while the
// cache holds more than its budget. Called with s.mu held.
func (s *Store) trimLocked() {
	budget := s.cacheBytes
	if budget <= 0 {
		budget = DefaultCacheBytes
	}
	for {
		var total int64
		var lru *cacheEntry
		for _, e := range s.cache {
			total += e.size
			if e.refs == 0 && e.size > 0 && (lru == nil || e.last.Before(lru.last)) {
				lru = e
			}
		}
		if total <= budget || lru == nil {
			return
		}
		s.dropLocked(lru)
	}
}

// wipe zeroes the entry's decrypted rows and what was derived from them.
// Nobody uses it.
func (e *cacheEntry) wipe() {
	if e.wiped {
		return
	}
	e.wiped = true
	if e.cols != nil {
		e.cols.wipe()
	}
	if e.tc != nil {
		e.tc.wipe()
	}
}

// wipe zeroes what codes keep (the codes, the dictionary of an int
// column, a string column's hash table; its values share the rows'
// bytes, which columns.wipe zeroes) and drops the maps that hold values
// as keys.
func (tc *tableCache) wipe() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, cc := range tc.cols {
		if c := cc.codes; c != nil {
			clear(c.rows)
			clear(c.keys)
			clear(c.ints)
			if c.str != nil {
				c.str.wipe()
			}
			c.str, c.byInt = nil, nil
		}
	}
	tc.cols = map[int]*colCache{}
	for _, je := range tc.joins {
		for _, r := range je.rows {
			clear(r)
		}
	}
	tc.joins = nil
}
