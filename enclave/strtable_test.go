package enclave

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestStrTable: the table codes values in order of first appearance, as
// a map would, at sizes of one partition and many, on one core and
// several; lookup finds every value and no other.
func TestStrTable(t *testing.T) {
	for _, n := range []int{0, 1, 5, strPartEntries + 3, 3 * minChunk, 200_000} {
		rng := splitmix64(uint64(n))
		distinct := max(1, n/3)
		vals := make([]string, n)
		for i := range vals {
			if x := rng.intn(distinct); x != 0 {
				vals[i] = fmt.Sprintf("v%d", x)
			}
		}
		tab, codes, err := buildStrTable(context.Background(), strVals{plain: vals})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]int32, n)
		seen := map[string]int32{}
		var strs []string
		for i, v := range vals {
			c, ok := seen[v]
			if !ok {
				c = int32(len(strs))
				seen[v] = c
				strs = append(strs, v)
			}
			want[i] = c
		}
		var got []string
		for c := range tab.n() {
			got = append(got, tab.value(c))
		}
		if !slices.Equal(codes, want) || !slices.Equal(got, strs) {
			t.Fatalf("n=%d: codes or values differ from first appearance", n)
		}
		for v, c := range seen {
			if got := tab.lookup(v); got != c {
				t.Fatalf("n=%d: lookup(%q) = %d, want %d", n, v, got, c)
			}
		}
		for _, v := range []string{"absent", "v-1", fmt.Sprintf("v%d", distinct)} {
			if got := tab.lookup(v); got != -1 {
				t.Fatalf("n=%d: lookup(%q) = %d, want -1", n, v, got)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := buildStrTable(ctx, strVals{plain: []string{"a"}}); err == nil {
		t.Error("a cancelled build succeeded")
	}
}
