package enclave

import (
	"context"
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync"

	"github.com/xjdata/cleanroom/schema"
)

// strSeed hashes the strings of every strTable of the process: a random
// key, so that no provider can choose values that collide, and one key,
// so that a value looked up in another column's table hashes alike.
var strSeed = maphash.MakeSeed()

// strTable is the code of each distinct string of a column: an
// open-addressing hash table (linear probing, at most half full) split
// into partitions by the top bits of a value's hash, each small enough to
// stay in a core's cache while it is built, and built on its own core. A
// slot holds a fragment of the value's hash and its code; the values
// themselves are compared only when fragments agree.
//
// It holds no pointer per value (the values are read where they are: a
// dictionary's bytes, or the column's strings), so that the garbage
// collector has nothing to scan in it.
//
// Read-only once built: safe for concurrent use.
type strTable struct {
	shift uint      // a hash's partition is hash >> shift
	slots []strSlot // the partitions, one after the other
	off   []int     // partition p is slots[off[p]:off[p+1]], a power of two long
	vals  strVals   // the values coded
	first []int32   // per code, the index in vals of its first occurrence
}

// strVals are the strings a strTable codes: a dictionary's entries, or
// plain strings.
type strVals struct {
	dict  *schema.Dict
	plain []string
}

// len returns the number of values.
func (v strVals) len() int {
	if v.dict != nil {
		return v.dict.Len()
	}
	return len(v.plain)
}

// at returns value i.
func (v strVals) at(i int) string {
	if v.dict != nil {
		return v.dict.At(i)
	}
	return v.plain[i]
}

// value returns the value of a code.
func (t *strTable) value(code int32) string { return t.vals.at(int(t.first[code])) }

// n returns the number of codes.
func (t *strTable) n() int32 { return int32(len(t.first)) }

// strSlot is one slot: a fragment of the value's hash and its code plus
// one (0: empty).
type strSlot struct {
	frag uint32
	code int32
}

// strPartEntries is about how many values a partition holds: its slots
// (8 bytes each, at most half full) then fit in a core's cache.
const strPartEntries = 1 << 14

// strFrag is the part of a hash a slot keeps: bits 24 to 55, apart from
// those that pick the slot (the lowest) and most of those that pick the
// partition (the highest).
func strFrag(h uint64) uint32 { return uint32(h >> 24) }

// buildStrTable codes vals densely in order of first appearance: it
// returns the table of distinct values and the code of each of vals. It
// hashes every value once (on every core), sorts the values into
// partitions by hash, finds each partition's first occurrences on the
// core that owns it, and numbers the values in one pass in order. It
// runs to completion unless ctx is done.
func buildStrTable(ctx context.Context, vals strVals) (*strTable, []int32, error) {
	n := vals.len()
	parts := 1
	for parts*strPartEntries < n {
		parts *= 2
	}
	t := &strTable{shift: uint(64 - bits.TrailingZeros(uint(parts))), vals: vals}
	if parts == 1 {
		t.shift = 64 // every hash in partition 0 (a shift by 64 gives 0)
	}
	workers := workersFor(n)
	hashes := make([]uint64, n)
	// counts[w][p]: the values of worker w's range that fall in
	// partition p.
	counts := make([][]int, workers)
	err := parallel(ctx, n, func(w, lo, hi int) error {
		c := make([]int, parts)
		for r := lo; r < hi; r++ {
			if (r-lo)%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			h := maphash.String(strSeed, vals.at(r))
			hashes[r] = h
			c[h>>t.shift]++
		}
		counts[w] = c
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// Each partition's values in ascending order (each worker's range in
	// turn), and each partition's slots.
	starts := make([][]int, workers)
	partStart := make([]int, parts+1)
	t.off = make([]int, parts+1)
	pos := 0
	for p := range parts {
		partStart[p] = pos
		size := 0
		for w := range workers {
			if starts[w] == nil {
				starts[w] = make([]int, parts)
			}
			starts[w][p] = pos
			pos += counts[w][p]
			size += counts[w][p]
		}
		t.off[p+1] = t.off[p] + max(8, 1<<bits.Len(uint(2*size)))
	}
	partStart[parts] = n
	// order and ordHash: each partition's values and their hashes, read
	// in turn as the partition is built.
	order, ordHash := make([]int32, n), make([]uint64, n)
	if err := parallel(ctx, n, func(w, lo, hi int) error {
		next := starts[w]
		for r := lo; r < hi; r++ {
			h := hashes[r]
			p := h >> t.shift
			order[next[p]], ordHash[next[p]] = int32(r), h
			next[p]++
		}
		return nil
	}); err != nil {
		return nil, nil, err
	}
	// In each partition, each value's first occurrence (rep, a row
	// index): the slot keeps its row plus one until the codes are known.
	t.slots = make([]strSlot, t.off[parts])
	rep := make([]int32, n)
	distinct := make([]int, parts)
	err = parallelParts(ctx, n, parts, func(p int) {
		slots := t.slots[t.off[p]:t.off[p+1]]
		mask := uint64(len(slots) - 1)
		hs := ordHash[partStart[p]:partStart[p+1]]
		for k, r := range order[partStart[p]:partStart[p+1]] {
			h := hs[k]
			frag := strFrag(h)
			for i := h & mask; ; i = (i + 1) & mask {
				s := &slots[i]
				if s.code == 0 {
					*s = strSlot{frag: frag, code: r + 1}
					rep[r] = r
					distinct[p]++
					break
				}
				if s.frag == frag && vals.at(int(s.code-1)) == vals.at(int(r)) {
					rep[r] = s.code - 1
					break
				}
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	// Codes in order of first appearance, in place of rep: a value's
	// first occurrence comes before every other, whose code is then known.
	total := 0
	for _, d := range distinct {
		total += d
	}
	t.first = make([]int32, 0, total)
	codes := rep
	for r, first := range rep {
		if int(first) == r {
			codes[r] = int32(len(t.first))
			t.first = append(t.first, int32(r))
		} else {
			codes[r] = codes[first]
		}
	}
	err = parallelParts(ctx, n, parts, func(p int) {
		slots := t.slots[t.off[p]:t.off[p+1]]
		for i, s := range slots {
			if s.code != 0 {
				slots[i].code = codes[s.code-1] + 1
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return t, codes, nil
}

// parallelParts runs f on every partition, the partitions dealt out to
// the cores (one core when n, the values they hold, is small).
func parallelParts(ctx context.Context, n, parts int, f func(p int)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	workers := min(parts, max(1, min(runtime.GOMAXPROCS(0), n/minChunk)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := w; p < parts; p += workers {
				if ctx.Err() != nil {
					return
				}
				f(p)
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// lookup returns the code of s, or -1 when the column has no such value.
func (t *strTable) lookup(s string) int32 {
	h := maphash.String(strSeed, s)
	p := h >> t.shift
	slots := t.slots[t.off[p]:t.off[p+1]]
	mask := uint64(len(slots) - 1)
	frag := strFrag(h)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := slots[i]
		if sl.code == 0 {
			return -1
		}
		if sl.frag == frag && t.value(sl.code-1) == s {
			return sl.code - 1
		}
	}
}

// wipe zeroes the table (hash fragments are of plaintext values) and
// drops its values.
func (t *strTable) wipe() {
	clear(t.slots)
	clear(t.first)
	t.vals = strVals{}
}
