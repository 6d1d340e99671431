package enclave

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
)

// HEPrep is the node's part of a release in multiparty HE mode: everything
// computed in the clear, and what the crypto layer must compute under
// encryption. See the package doc and package release.
type HEPrep struct {
	// Columns are the output names, in select-list order.
	Columns []string
	// Aggs are the plan's aggregates, in output order.
	Aggs []release.Agg
	// Privacy are the privacy parameters as applied (L0 is 1 without
	// GROUP BY).
	Privacy release.Privacy
	// Layout places the values of the released groups (Layout.Groups =
	// len(Groups)).
	Layout release.Layout
	// Groups are the released groups, in the order of Execute's rows.
	Groups []HEGroup
	// Suppressed is the number of groups present in the data but withheld,
	// as Result.Suppressed; NOT differentially private.
	Suppressed int
}

// HEGroup is one released group.
type HEGroup struct {
	// Values are the group's grouping values in GROUP BY order, rendered
	// as Execute renders them (release.Layout.Finish's groupValues).
	Values []string
	// Rows is the number of the group's kept joined rows (after
	// contribution bounding).
	Rows int64
	// Clear are the exact values of the group's layout Values that go
	// into the clear vector, in layout order: concatenated over Groups,
	// they are the clear vector. Encrypted values are not in it.
	Clear []int64
	// Encrypted are the group's values that have their own ciphertext, in
	// layout (cipher) order.
	Encrypted []HEValue
}

// HEValue is one value to compute under encryption: Scale·S + Offset,
// where S = Σ Weights.W[i]·x[Weights.Rows[i]] over the aggregate's
// encrypted column x (see release.Agg.Affine).
type HEValue struct {
	// Agg is the aggregate's index in HEPrep.Aggs.
	Agg int
	// Weights are rows of the aggregate's table and their multiplicities
	// among the group's kept joined rows. Aggregates over the same table
	// share the same slices: treat them as read-only.
	Weights release.Weights
	// Scale and Offset turn S into the value: 1 and 0 for SUM, 2 and
	// −(Min+Max)·Rows for AVG (its AvgSum2).
	Scale, Offset int64
}

// PrepareHE runs plan p in multiparty HE mode over tables, whose columns
// marked in encrypted (dataset → column → true) hold placeholders (the
// node does not have their values): it scans, filters, joins, groups,
// bounds contributions and selects groups exactly as Execute (with
// params.Noise and params.MinGroupSize), and returns, per released group,
// the exact clear values and the weights of the encrypted sums. It
// releases nothing itself: the values still need noise
// (release.Layout.Noise), decryption and release.Layout.Finish. Group
// selection spends its share of params.Epsilon (and Delta), and the
// rest is spent when the values are noised.
//
// It refuses, besides what Execute refuses, a filter, a join key, a
// GROUP BY column or a unit column that is encrypted, an encrypted
// column that does not exist, and parameters whose noise cannot be added
// to encrypted values (release.Check with params.Noise). COUNT(col) of an
// encrypted column is fine. It is safe for concurrent use.
func PrepareHE(ctx context.Context, p *query.Plan, tables map[string]*Table, params Params, encrypted map[string]map[string]bool) (*HEPrep, error) {
	if encrypted == nil {
		encrypted = map[string]map[string]bool{}
	}
	e, err := resolve(p, tables, params, encrypted)
	if err != nil {
		return nil, err
	}
	prep := &HEPrep{Columns: e.columns(), Aggs: make([]release.Agg, len(e.aggs))}
	for i, a := range e.aggs {
		prep.Aggs[i] = a.rel
	}
	maxRows := make([]int64, len(e.tabs))
	for i, t := range e.tabs {
		maxRows[i] = t.MaxRowsPerUnit
	}
	if prep.Privacy, err = release.NewPrivacy(p, e.params.Epsilon, e.params.Delta, e.params.MinGroupSize, e.params.MaxGroupsPerUnit, maxRows); err != nil {
		return nil, fmt.Errorf("enclave: %w", err)
	}
	if prep.Privacy.MaxGroupsPerUnit != e.l0 || prep.Privacy.LInf != e.linf {
		return nil, errors.New("enclave: internal error: release.Privacy disagrees with the execution's L0 or L∞")
	}
	if err := release.Check(prep.Aggs, prep.Privacy, e.params.Noise); err != nil {
		return nil, fmt.Errorf("enclave: %w", err)
	}

	b, err := e.bound(ctx)
	if err != nil {
		return nil, err
	}
	rel, _, suppressed, err := e.selectGroups(b)
	if err != nil {
		return nil, err
	}
	prep.Suppressed = suppressed
	prep.Layout = release.NewLayout(prep.Aggs, len(rel))
	prep.Groups = make([]HEGroup, len(rel))
	if err := e.fillHE(ctx, b, rel, prep); err != nil {
		return nil, err
	}
	return prep, nil
}

// fillHE computes the released groups' values and weights.
func (e *exec) fillHE(ctx context.Context, b *bounded, rel []int32, prep *HEPrep) error {
	nrel := len(rel)
	relIdx := relIndex(b.ngroups, rel)

	// Kept rows per released group.
	for ri, g := range rel {
		prep.Groups[ri].Rows = b.groupRows[g]
	}

	// Exact sums of the clear SUM and AVG columns, in one pass in scan
	// order; and whether weights are needed.
	var clearAggs []int // indices in e.aggs
	var clearSrc []valueFn
	hidden := false
	for i := range e.aggs {
		a := &e.aggs[i]
		if a.fn() == query.Count {
			continue
		}
		if prep.Aggs[i].Hidden() {
			hidden = true
			continue
		}
		f, err := e.argument(b, a)
		if err != nil {
			return err
		}
		clearAggs = append(clearAggs, i)
		clearSrc = append(clearSrc, f)
	}
	nc := len(clearAggs)
	sums := make([]int64, nrel*nc)
	if nrel > 0 && nc > 0 {
		for k := 0; k < b.n; k++ {
			if k%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			g := b.keptGroup(k)
			if g < 0 {
				continue
			}
			ri := relIdx[g]
			if ri < 0 {
				continue
			}
			row := sums[int(ri)*nc : int(ri)*nc+nc]
			for j := range clearSrc {
				v, _ := clearSrc[j](k)
				s, ok := addOK(row[j], v)
				if !ok {
					return fmt.Errorf("enclave: %s: a group's sum overflows int64", e.aggs[clearAggs[j]].out.Name)
				}
				row[j] = s
			}
		}
	}

	// Per released group: its kept joined rows, in scan order (only when
	// weights are needed).
	var start, order []int32
	if hidden && nrel > 0 {
		start = make([]int32, nrel+1)
		for ri := range nrel {
			start[ri+1] = start[ri] + int32(prep.Groups[ri].Rows)
		}
		order = make([]int32, start[nrel])
		next := slices.Clone(start[:nrel])
		for k := 0; k < b.n; k++ {
			if k%ctxEvery == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if g := b.keptGroup(k); g >= 0 {
				if ri := relIdx[g]; ri >= 0 {
					order[next[ri]] = int32(k)
					next[ri]++
				}
			}
		}
	}
	weights, err := e.groupWeights(ctx, b, prep, start, order)
	if err != nil {
		return err
	}

	perGroup := prep.Layout.PerGroup()
	for ri, g := range rel {
		if err := ctx.Err(); err != nil {
			return err
		}
		hg := &prep.Groups[ri]
		hg.Values = e.groupValues(b, g)
		vals := prep.Layout.Values[ri*perGroup : (ri+1)*perGroup]
		hg.Clear = make([]int64, 0, perGroup)
		j := 0 // index in clearAggs
		for _, v := range vals {
			a := e.aggs[v.Agg]
			if v.Cipher >= 0 {
				scale, offset, err := prep.Aggs[v.Agg].Affine(hg.Rows)
				if err != nil {
					return fmt.Errorf("enclave: %w", err)
				}
				hg.Encrypted = append(hg.Encrypted, HEValue{Agg: v.Agg, Weights: weights[ri][a.col.t], Scale: scale, Offset: offset})
				continue
			}
			switch v.Kind {
			case release.Count, release.AvgCount:
				hg.Clear = append(hg.Clear, hg.Rows)
			case release.Sum:
				hg.Clear = append(hg.Clear, sums[ri*nc+j])
				j++
			case release.AvgSum2:
				x, err := release.AvgSum2Of(sums[ri*nc+j], hg.Rows, a.rel.Min, a.rel.Max)
				if err != nil {
					return fmt.Errorf("enclave: %s: %w", a.out.Name, err)
				}
				hg.Clear = append(hg.Clear, x)
				j++
			}
		}
	}
	return nil
}

// groupWeights returns, per released group (kept joined rows
// order[start[ri]:start[ri+1]]) and per table that an encrypted value
// reads, the group's weights over the table; nil without encrypted
// values. The groups are spread over the cores, each worker with its own
// scratch.
func (e *exec) groupWeights(ctx context.Context, b *bounded, prep *HEPrep, start, order []int32) ([][]release.Weights, error) {
	if start == nil {
		return nil, nil
	}
	nrel := len(start) - 1
	read := make([]bool, len(e.tabs)) // tables an encrypted value reads
	for _, v := range prep.Layout.Values {
		if v.Cipher >= 0 {
			read[e.aggs[v.Agg].col.t] = true
		}
	}
	weights := make([][]release.Weights, nrel)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(nrel, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			ws := make([]weightScratch, len(e.tabs))
			for ctx.Err() == nil {
				ri := int(next.Add(1) - 1)
				if ri >= nrel {
					return
				}
				kept := order[start[ri]:start[ri+1]]
				weights[ri] = make([]release.Weights, len(e.tabs))
				for t, r := range read {
					if r {
						weights[ri][t] = ws[t].weights(e.tabs[t].Rows.Len, b.rows[t], kept)
					}
				}
			}
		})
	}
	wg.Wait()
	return weights, ctx.Err()
}

// weightScratch counts how often each row of one table is used, reused
// across groups: cnt is all zero between calls.
type weightScratch struct {
	cnt     []int32
	touched []int32
}

// weights returns the distinct rows rows[k] over k in kept, ascending,
// with their multiplicities.
func (s *weightScratch) weights(tableLen int, rows []int32, kept []int32) release.Weights {
	if s.cnt == nil {
		s.cnt = make([]int32, tableLen)
	}
	s.touched = s.touched[:0]
	for _, k := range kept {
		r := rows[k]
		if s.cnt[r] == 0 {
			s.touched = append(s.touched, r)
		}
		s.cnt[r]++
	}
	w := release.Weights{Rows: make([]int32, len(s.touched)), W: make([]int64, len(s.touched))}
	if len(s.touched) > tableLen/16 {
		// Dense: a walk over the table is cheaper than a sort.
		i := 0
		for r, c := range s.cnt {
			if c != 0 {
				w.Rows[i], w.W[i] = int32(r), int64(c)
				s.cnt[r] = 0
				i++
			}
		}
		return w
	}
	slices.Sort(s.touched)
	for i, r := range s.touched {
		w.Rows[i], w.W[i] = r, int64(s.cnt[r])
		s.cnt[r] = 0
	}
	return w
}
