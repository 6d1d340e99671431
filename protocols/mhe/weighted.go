package mhe

import (
	"context"
	"errors"
	"fmt"
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

// workItem is a run of consecutive spans of one group.
type workItem struct {
	group int
	spans []span
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
	if err := checkParams(params); err != nil {
		return nil, err
	}
	for i, c := range chunks {
		if err := c.valid(fmt.Sprintf("weighted sums: chunk %d", i)); err != nil {
			return nil, err
		}
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}

	spans := make([][]span, len(groups))
	total := 0
	for g, w := range groups {
		s, err := w.check(len(chunks))
		if err != nil {
			return nil, fmt.Errorf("mhe: weighted sums: group %d: %w", g, err)
		}
		spans[g] = s
		total += len(s)
	}

	// Cut every group's spans into runs so that there are several items
	// per worker (load balance) yet each run amortises its accumulator.
	run := max(1, total/(8*workers))
	var items []workItem
	for g, s := range spans {
		for lo := 0; lo < len(s); lo += run {
			items = append(items, workItem{group: g, spans: s[lo:min(lo+run, len(s))]})
		}
	}
	workers = max(1, min(workers, len(items)))

	results := make([]*rlwe.Ciphertext, len(groups))
	locks := make([]sync.Mutex, len(groups))
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
				it := items[i]
				if acc == nil {
					acc = newCiphertext(params)
				}
				for k, sp := range it.spans {
					if err := ctx.Err(); err != nil {
						errs[w] = err
						failed.Store(true)
						return
					}
					m.mulAdd(chunks[sp.chunk].ct, groups[it.group], sp, acc, k == 0)
				}
				locks[it.group].Lock()
				if r := results[it.group]; r == nil {
					results[it.group], acc = acc, nil
				} else {
					for d := range r.Value {
						m.ringQ.Add(r.Value[d], acc.Value[d], r.Value[d])
					}
				}
				locks[it.group].Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("mhe: weighted sums: %w", err)
	}

	out := make([]*Ciphertext, len(groups))
	for g, r := range results {
		if r == nil { // empty group: a zero ciphertext, plaintext 0
			r = newCiphertext(params)
		}
		out[g] = &Ciphertext{ct: r}
	}
	return out, nil
}

// multiplier holds one worker's buffer for the polynomial q.
type multiplier struct {
	ringQ *ring.Ring
	q     ring.Poly
	mform [][smallWeights]uint64 // mform[j][w] = w·2^64 mod q_j
}

// smallWeights is the number of weights whose Montgomery form is cached.
const smallWeights = 256

func newMultiplier(params bgv.Parameters) *multiplier {
	ringQ := params.RingQ()
	m := &multiplier{ringQ: ringQ, q: ringQ.NewPoly(), mform: make([][smallWeights]uint64, len(ringQ.SubRings))}
	for j, s := range ringQ.SubRings {
		for w := range uint64(smallWeights) {
			m.mform[j][w] = ring.MForm(w, s.Modulus, s.BRedConstant)
		}
	}
	return m
}

// mulAdd sets (first) or adds ct·q into acc, where q is the polynomial of
// the rows g.Rows[sp.lo:sp.hi] of chunk sp.chunk.
//
// q is built in the coefficient domain, writing only its nonzero
// coefficients into a cleared buffer, and already in Montgomery form
// (w·2^64 mod q_j, cached for small w): the NTT is linear, so the NTT of
// that is the Montgomery form of NTT(q), and no MForm pass is needed. The
// lazy NTT leaves values below 6·q_j, which Montgomery multiplication
// accepts (6·q_j < 2^64). Measured on the 2-core test VM, for both moduli:
// lazy NTT of q ≈ 210 µs, a Montgomery product ≈ 35 µs, a Barrett product
// ≈ 90 µs, an MForm pass ≈ 30 µs. BenchmarkMulAdd, per (group, chunk):
// 220 µs as here, 255 µs with a plain q and an MForm pass, 315 µs with a
// plain q and Barrett products. The NTT dominates.
func (m *multiplier) mulAdd(ct *rlwe.Ciphertext, g Weights, sp span, acc *rlwe.Ciphertext, first bool) {
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
	m.ringQ.NTTLazy(m.q, m.q)
	for d := range ct.Value {
		if first {
			m.ringQ.MulCoeffsMontgomery(ct.Value[d], m.q, acc.Value[d])
		} else {
			m.ringQ.MulCoeffsMontgomeryThenAdd(ct.Value[d], m.q, acc.Value[d])
		}
	}
}
