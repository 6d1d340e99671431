package mhe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// MaxWeightSquareSum bounds Σ W[k]² of one group: the noise envelope of a
// WeightedSums result that the flooding budget of the package documentation
// is computed for. 2^40 covers, for example, 268 million rows of weight 64.
const MaxWeightSquareSum = 1 << 40

// Weights selects rows of an encrypted column and weighs them: a group's
// result is Σ_k W[k]·x[Rows[k]]. Rows must be ascending and unique, and
// every weight positive. Row r is coefficient r mod ChunkSize of chunk
// r / ChunkSize. Weights are at most 2^20 and Σ W[k]² at most
// MaxWeightSquareSum.
type Weights struct {
	Rows []int32
	W    []int64
}

// span is the part of a group that falls in one chunk: Rows[lo:hi].
type span struct {
	chunk, lo, hi int
}

// workItem is a run of consecutive spans of one group, or (group < 0) the
// correction polynomial of one chunk when a group is derived from a
// ColumnTotal.
type workItem struct {
	group int
	spans []span
	chunk int // of a correction
}

// check validates g against a column of nChunks chunks and returns its
// spans.
func (g Weights) check(nChunks int) ([]span, error) {
	if len(g.Rows) != len(g.W) {
		return nil, fmt.Errorf("%d rows but %d weights", len(g.Rows), len(g.W))
	}
	limit := int64(nChunks) * ChunkSize
	var spans []span
	var sq uint64
	for k, r := range g.Rows {
		if r < 0 || int64(r) >= limit {
			return nil, fmt.Errorf("row %d (index %d) outside the column's %d chunks", r, k, nChunks)
		}
		if k > 0 && r <= g.Rows[k-1] {
			return nil, fmt.Errorf("rows not ascending and unique at index %d (%d after %d)", k, r, g.Rows[k-1])
		}
		w := g.W[k]
		if w <= 0 || w > 1<<20 {
			return nil, fmt.Errorf("weight %d (index %d) outside [1, 2^20]", w, k)
		}
		if sq += uint64(w * w); sq > MaxWeightSquareSum {
			return nil, fmt.Errorf("sum of squared weights exceeds MaxWeightSquareSum (2^40) at index %d", k)
		}
		c := int(r) / ChunkSize
		if len(spans) == 0 || spans[len(spans)-1].chunk != c {
			spans = append(spans, span{chunk: c, lo: k, hi: k})
		}
		spans[len(spans)-1].hi = k + 1
	}
	return spans, nil
}

// WeightedSums computes, for every group, a ciphertext whose plaintext
// coefficient 0 is the group's weighted sum over the encrypted column
// chunks (chunk i holds rows i·ChunkSize ...). The other coefficients hold
// other linear combinations of the column (garbage that must be masked at
// key switching, see MaskAddend).
//
// For each chunk c a group touches, the chunk's ciphertext is multiplied
// by the small integer polynomial q_c(X) = Σ_i w_i·X^{-i} (coefficient w_0
// at 0 and -w_i at N-i, since X^{-i} = -X^{N-i}), built directly in the
// ring mod Q and moved to the NTT domain, and the products are summed.
// Chunks a group does not touch are skipped.
//
// The (group, chunk) products are spread over workers goroutines
// (GOMAXPROCS if workers <= 0); each worker reuses its buffers. The
// context is checked between products. Inputs are not modified.
//
// The caller must ensure |Σ W[k]·x[Rows[k]]| <= MaxExactSum, or the sum
// wraps modulo T.
func WeightedSums(ctx context.Context, params bgv.Parameters, chunks []*Ciphertext, groups []Weights, workers int) ([]*Ciphertext, error) {
	return WeightedSumsWithTotal(ctx, params, chunks, nil, groups, workers)
}

// WeightedSumsWithTotal is WeightedSums given the chunks' ColumnTotal
// (nil for none), from which it derives one group's result rather than
// computing it: the results are the same, bit for bit, for one product
// fewer per chunk that the groups cover exactly.
//
// Let F_c be the polynomial of all the rows chunk c holds, each of weight
// 1 (the total is Σ_c ct_c·F_c), K_c the sum of the groups' polynomials
// for chunk c, and D_c = F_c - K_c. Then, for any group d,
//
//	result_d = total - Σ_c ct_c·D_c - Σ_{g≠d} result_g
//
// exactly, in the ring mod Q. D_c is zero where the groups take each row
// of the chunk once with weight 1 (a GROUP BY over all the rows of a
// column, for example); elsewhere it costs one product. The derived group
// is the one that touches the most chunks, and the total is used only if
// that saves products.
func WeightedSumsWithTotal(ctx context.Context, params bgv.Parameters, chunks []*Ciphertext, total *ColumnTotal, groups []Weights, workers int) ([]*Ciphertext, error) {
	out, _, err := weightedSums(ctx, params, chunks, total, groups, workers)
	return out, err
}

// weightedSums is WeightedSumsWithTotal; it also returns the number of
// products computed.
func weightedSums(ctx context.Context, params bgv.Parameters, chunks []*Ciphertext, total *ColumnTotal, groups []Weights, workers int) ([]*Ciphertext, int, error) {
	if err := checkParams(params); err != nil {
		return nil, 0, err
	}
	for i, c := range chunks {
		if err := c.valid(fmt.Sprintf("weighted sums: chunk %d", i)); err != nil {
			return nil, 0, err
		}
	}
	if err := total.matches(chunks); err != nil {
		return nil, 0, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	spans := make([][]span, len(groups))
	products := 0
	for g, w := range groups {
		s, err := w.check(len(chunks))
		if err != nil {
			return nil, 0, fmt.Errorf("mhe: weighted sums: group %d: %w", g, err)
		}
		spans[g] = s
		products += len(s)
	}
	derived, corrections := -1, []int(nil)
	if total != nil {
		derived, corrections = total.plan(groups, spans)
	}
	if derived >= 0 {
		products += len(corrections) - len(spans[derived])
	}

	// Cut every group's spans into runs so that there are several items
	// per worker (load balance) yet each run amortises its accumulator.
	run := max(1, products/(32*workers))
	var items []workItem
	for g, s := range spans {
		if g == derived {
			continue
		}
		for lo := 0; lo < len(s); lo += run {
			items = append(items, workItem{group: g, spans: s[lo:min(lo+run, len(s))]})
		}
	}
	var byChunk [][]groupSpan
	if len(corrections) > 0 {
		byChunk = spansByChunk(spans, len(chunks))
	}
	for _, c := range corrections {
		items = append(items, workItem{group: -1, chunk: c})
	}
	workers = max(1, min(workers, len(items)))

	// results[len(groups)] accumulates the corrections Σ_c ct_c·D_c.
	results := make([]*rlwe.Ciphertext, len(groups)+1)
	locks := make([]sync.Mutex, len(groups)+1)
	var next atomic.Int64
	var failed atomic.Bool
	errs := make([]error, workers)

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m := newMultiplier(params)
			var acc *rlwe.Ciphertext
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					failed.Store(true)
					return
				}
				it := items[i]
				if acc == nil {
					acc = newCiphertext(params)
				}
				slot := it.group
				if it.group < 0 {
					slot = len(groups)
					m.correction(total, it.chunk, groups, byChunk[it.chunk])
					m.mulAdd(chunks[it.chunk].ct, acc, true)
				}
				for k, sp := range it.spans {
					if k > 0 {
						if err := ctx.Err(); err != nil {
							errs[w] = err
							failed.Store(true)
							return
						}
					}
					m.weights(groups[it.group], sp)
					m.mulAdd(chunks[sp.chunk].ct, acc, k == 0)
				}
				m.settle(acc)
				locks[slot].Lock()
				if r := results[slot]; r == nil {
					results[slot], acc = acc, nil
				} else {
					for d := range r.Value {
						m.ringQ.Add(r.Value[d], acc.Value[d], r.Value[d])
					}
				}
				locks[slot].Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, 0, fmt.Errorf("mhe: weighted sums: %w", err)
	}

	if derived >= 0 {
		ringQ := params.RingQ()
		r := total.ct.CopyNew()
		for g, o := range results {
			if g == derived || o == nil {
				continue
			}
			for d := range r.Value {
				ringQ.Sub(r.Value[d], o.Value[d], r.Value[d])
			}
		}
		results[derived] = r
	}
	out := make([]*Ciphertext, len(groups))
	for g, r := range results[:len(groups)] {
		if r == nil { // empty group: a zero ciphertext, plaintext 0
			r = newCiphertext(params)
		}
		out[g] = &Ciphertext{ct: r}
	}
	return out, products, nil
}

// ColumnTotal is the sum over the chunks of a column of each chunk times
// the polynomial of all the rows it holds, each of weight 1: the
// WeightedSums result of one group that takes every row once. It depends
// on the column alone, so it is computed once (NewColumnTotal) and kept
// with the chunks; WeightedSumsWithTotal derives a group's result from it.
// A ColumnTotal is immutable and safe for concurrent use.
type ColumnTotal struct {
	ct     *rlwe.Ciphertext
	rows   int
	chunks []*Ciphertext // by identity: the column it is the total of
}

// NewColumnTotal computes the ColumnTotal of a column of rows values held
// in chunks, as WeightedSums does (workers goroutines, GOMAXPROCS if
// workers <= 0). The chunks must not be modified while the total is used.
func NewColumnTotal(ctx context.Context, params bgv.Parameters, chunks []*Ciphertext, rows int, workers int) (*ColumnTotal, error) {
	if rows <= (len(chunks)-1)*ChunkSize || rows > len(chunks)*ChunkSize {
		return nil, fmt.Errorf("mhe: column total: %d rows cannot fill %d chunks", rows, len(chunks))
	}
	all := Weights{Rows: make([]int32, rows), W: make([]int64, rows)}
	for i := range rows {
		all.Rows[i], all.W[i] = int32(i), 1
	}
	out, err := WeightedSums(ctx, params, chunks, []Weights{all}, workers)
	if err != nil {
		return nil, err
	}
	return &ColumnTotal{ct: out[0].ct, rows: rows, chunks: append([]*Ciphertext(nil), chunks...)}, nil
}

// matches checks that t (if any) is the total of chunks.
func (t *ColumnTotal) matches(chunks []*Ciphertext) error {
	if t == nil {
		return nil
	}
	if len(t.chunks) != len(chunks) {
		return fmt.Errorf("mhe: weighted sums: a column total of %d chunks for %d", len(t.chunks), len(chunks))
	}
	for i, c := range chunks {
		if t.chunks[i] != c {
			return fmt.Errorf("mhe: weighted sums: the column total is not of these chunks (chunk %d differs)", i)
		}
	}
	return nil
}

// rowsIn returns the number of rows chunk c holds.
func (t *ColumnTotal) rowsIn(c int) int {
	return min(ChunkSize, max(0, t.rows-c*ChunkSize))
}

// plan picks the group to derive and the chunks whose correction D_c is
// not zero; it returns -1 when deriving would not save products. D_c is
// zero exactly when the groups take every row of chunk c once, with weight
// 1, and no row past the column's end.
func (t *ColumnTotal) plan(groups []Weights, spans [][]span) (int, []int) {
	derived := -1
	for g, s := range spans {
		if len(s) > 0 && (derived < 0 || len(s) > len(spans[derived])) {
			derived = g
		}
	}
	if derived < 0 {
		return -1, nil
	}
	n := len(t.chunks)
	count := make([]int, n)
	exact := make([]bool, n)
	for c := range exact {
		exact[c] = true
	}
	seen := make([]uint64, n*ChunkSize/64)
	for g, s := range spans {
		rows, w := groups[g].Rows, groups[g].W
		for _, sp := range s {
			c := sp.chunk
			if !exact[c] {
				continue
			}
			base, limit := int32(c*ChunkSize), int32(t.rowsIn(c))
			for k := sp.lo; k < sp.hi; k++ {
				i := rows[k] - base
				bit := uint64(1) << (uint(rows[k]) % 64)
				word := &seen[rows[k]/64]
				if w[k] != 1 || i >= limit || *word&bit != 0 {
					exact[c] = false
					break
				}
				*word |= bit
			}
			count[c] += sp.hi - sp.lo
		}
	}
	var corrections []int
	for c := range n {
		if !exact[c] || count[c] != t.rowsIn(c) {
			corrections = append(corrections, c)
		}
	}
	if len(corrections) >= len(spans[derived]) {
		return -1, nil
	}
	return derived, corrections
}

// groupSpan is a group's span in one chunk.
type groupSpan struct {
	group int
	span
}

// spansByChunk indexes the groups' spans by chunk.
func spansByChunk(spans [][]span, nChunks int) [][]groupSpan {
	out := make([][]groupSpan, nChunks)
	for g, s := range spans {
		for _, sp := range s {
			out[sp.chunk] = append(out[sp.chunk], groupSpan{group: g, span: sp})
		}
	}
	return out
}

// multiplier holds one worker's buffers for the polynomial q.
type multiplier struct {
	ringQ *ring.Ring
	q     ring.Poly
	mform [][smallWeights]uint64 // mform[j][w] = w·2^64 mod q_j
	coef  []int64                // a correction's coefficients
	// lazy counts the unreduced products in the accumulator, at most
	// maxLazy (see mulAdd).
	lazy, maxLazy int
}

// smallWeights is the number of weights whose Montgomery form is cached.
const smallWeights = 256

func newMultiplier(params bgv.Parameters) *multiplier {
	ringQ := params.RingQ()
	m := &multiplier{ringQ: ringQ, q: ringQ.NewPoly(), mform: make([][smallWeights]uint64, len(ringQ.SubRings)), maxLazy: math.MaxInt}
	for j, s := range ringQ.SubRings {
		// An accumulator of k lazy products is below (2k+1)·q_j.
		m.maxLazy = min(m.maxLazy, int((math.MaxUint64/s.Modulus-1)/2))
		for w := range uint64(smallWeights) {
			m.mform[j][w] = ring.MForm(w, s.Modulus, s.BRedConstant)
		}
	}
	return m
}

// weights sets q to the polynomial of the rows g.Rows[sp.lo:sp.hi] of
// chunk sp.chunk, Σ_k W[k]·X^{-i_k}, in Montgomery form (see mulAdd).
func (m *multiplier) weights(g Weights, sp span) {
	base := int32(sp.chunk * ChunkSize)
	for j, s := range m.ringQ.SubRings {
		c := m.q.Coeffs[j]
		clear(c)
		qj, cache := s.Modulus, &m.mform[j]
		for k := sp.lo; k < sp.hi; k++ {
			i := int(g.Rows[k] - base)
			w := uint64(g.W[k]) // 1 <= w <= 2^20 < q_j
			var wm uint64
			if w < smallWeights {
				wm = cache[w]
			} else {
				wm = ring.MForm(w, qj, s.BRedConstant)
			}
			if i == 0 {
				c[0] = wm
			} else {
				c[ChunkSize-i] = qj - wm // X^{-i} = -X^{N-i}; wm != 0
			}
		}
	}
}

// correction sets q to D_c = F_c - K_c for chunk c, in Montgomery form:
// coefficient 1 - Σ_g w_g,i at each row i the chunk holds, -Σ_g w_g,i at
// the others; here lists the groups' spans in the chunk.
func (m *multiplier) correction(t *ColumnTotal, c int, groups []Weights, here []groupSpan) {
	if m.coef == nil {
		m.coef = make([]int64, ChunkSize)
	}
	d := m.coef
	clear(d)
	for i := range t.rowsIn(c) {
		d[i] = 1
	}
	base := int32(c * ChunkSize)
	for _, gs := range here {
		g := groups[gs.group]
		for k := gs.lo; k < gs.hi; k++ {
			d[g.Rows[k]-base] -= g.W[k] // |Σ w| <= groups·2^20: no overflow
		}
	}
	for j, s := range m.ringQ.SubRings {
		out := m.q.Coeffs[j]
		qj, cache := s.Modulus, &m.mform[j]
		for i, v := range d {
			// v·X^{-i} is v at 0, -v at N-i.
			pos := 0
			if i > 0 {
				pos, v = ChunkSize-i, -v
			}
			a := uint64(v)
			if v < 0 {
				a = uint64(-v)
			}
			var am uint64 // |v|·2^64 mod q_j
			if a < smallWeights {
				am = cache[a]
			} else {
				am = ring.MForm(a%qj, qj, s.BRedConstant)
			}
			if v < 0 && am != 0 {
				am = qj - am
			}
			out[pos] = am
		}
	}
}

// mulAdd sets (first) or adds ct·q into acc, where q is the polynomial
// set by weights or correction; settle(acc) reduces acc once done.
//
// q is built in the coefficient domain, writing only its nonzero
// coefficients into a cleared buffer, and already in Montgomery form
// (w·2^64 mod q_j, cached for small w): the NTT is linear, so the NTT of
// that is the Montgomery form of NTT(q), and no MForm pass is needed. The
// lazy NTT leaves values below 6·q_j, which Montgomery multiplication
// accepts (6·q_j < 2^64). The products are added lazily: each is below
// 2·q_j, so the accumulator holds up to maxLazy of them (7 for 60-bit
// moduli) before it must be reduced. Measured on the 2-core test VM, for
// both moduli: lazy NTT of q ≈ 210 µs, a Montgomery product ≈ 35 µs, a
// Barrett product ≈ 90 µs, an MForm pass ≈ 30 µs. BenchmarkMulAdd, per
// (group, chunk): 220 µs with reduced products, 255 µs with a plain q and
// an MForm pass, 315 µs with a plain q and Barrett products; lazy products
// take 8% fewer instructions than reduced ones (callgrind). The NTT
// dominates.
func (m *multiplier) mulAdd(ct *rlwe.Ciphertext, acc *rlwe.Ciphertext, first bool) {
	m.ringQ.NTTLazy(m.q, m.q)
	if first {
		for d := range ct.Value {
			m.ringQ.MulCoeffsMontgomeryLazy(ct.Value[d], m.q, acc.Value[d])
		}
		m.lazy = 1
		return
	}
	if m.lazy == m.maxLazy {
		m.settle(acc)
	}
	for d := range ct.Value {
		m.ringQ.MulCoeffsMontgomeryLazyThenAddLazy(ct.Value[d], m.q, acc.Value[d])
	}
	m.lazy++
}

// settle reduces acc's coefficients mod q_j.
func (m *multiplier) settle(acc *rlwe.Ciphertext) {
	for d := range acc.Value {
		m.ringQ.Reduce(acc.Value[d], acc.Value[d])
	}
	m.lazy = 0
}
