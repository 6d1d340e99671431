package bench

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// hand holds the columns the query reads as plain slices.
type hand struct {
	loanUSCC []string
	amount   []int64
	regUSCC  []string
	industry []string
	region   []string
}

func loadHand(d *Data) (*hand, error) {
	lc, err := readColumns(d.Files.Loans, "uscc", "amount")
	if err != nil {
		return nil, err
	}
	h := &hand{loanUSCC: lc[0], amount: make([]int64, len(lc[1]))}
	for i, s := range lc[1] {
		if h.amount[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, fmt.Errorf("loans.csv row %d: %w", i+1, err)
		}
	}
	rc, err := readColumns(d.Files.Registry, "uscc", "industry", "region")
	if err != nil {
		return nil, err
	}
	h.regUSCC, h.industry, h.region = rc[0], rc[1], rc[2]
	return h, nil
}

// handResult is the exact aggregate: per group, the sum and the number of
// joined loans.
type handResult struct {
	groups []group
	sum    []int64
	count  []int64
}

// run is the query by hand: a hash join (a map from the registry's uscc to
// its group) and, over the loans in GOMAXPROCS contiguous parts, each
// part's own sums and counts per group, added up at the end. No DP.
func (h *hand) run() handResult {
	ids := make(map[group]int32)
	var groups []group
	index := make(map[string]int32, len(h.regUSCC))
	for i, u := range h.regUSCC {
		g := group{h.industry[i], h.region[i]}
		id, ok := ids[g]
		if !ok {
			id = int32(len(groups))
			ids[g] = id
			groups = append(groups, g)
		}
		index[u] = id
	}
	workers := runtime.GOMAXPROCS(0)
	sums := make([][]int64, workers)
	counts := make([][]int64, workers)
	var wg sync.WaitGroup
	n := len(h.amount)
	for w := range workers {
		wg.Go(func() {
			sum, count := make([]int64, len(groups)), make([]int64, len(groups))
			for i := w * n / workers; i < (w+1)*n/workers; i++ {
				if g, ok := index[h.loanUSCC[i]]; ok {
					sum[g] += h.amount[i]
					count[g]++
				}
			}
			sums[w], counts[w] = sum, count
		})
	}
	wg.Wait()
	r := handResult{groups: groups, sum: sums[0], count: counts[0]}
	for w := 1; w < workers; w++ {
		for g := range groups {
			r.sum[g] += sums[w][g]
			r.count[g] += counts[w][g]
		}
	}
	return r
}

// answer returns the averages of the groups with loans, and their loans.
func (h *hand) answer(r handResult) (answer, map[group]int) {
	a, n := answer{}, map[group]int{}
	for g, grp := range r.groups {
		if r.count[g] > 0 {
			a[grp] = float64(r.sum[g]) / float64(r.count[g])
			n[grp] = int(r.count[g])
		}
	}
	return a, n
}

// BenchmarkHandLoop is the hardware limit: the query's join and
// aggregation written by hand over plain slices (no DP, no bounding).
func BenchmarkHandLoop(b *testing.B) {
	h, err := loadHand(workload(b))
	if err != nil {
		b.Fatal(err)
	}
	base := startPeak(b)
	var r handResult
	for b.Loop() {
		r = h.run()
	}
	reportPeak(b, base)
	b.ReportMetric(float64(len(h.amount)), "loans")
	b.ReportMetric(float64(len(h.regUSCC)), "enterprises")
	if a, _ := h.answer(r); len(a) == 0 {
		b.Fatal("no group")
	}
}
