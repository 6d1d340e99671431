package release_test

import (
	"fmt"

	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/release"
	"github.com/xjdata/cleanroom/schema"
)

// ExampleNewLayout lays out SELECT green, COUNT(*), SUM(amount),
// AVG(amount) GROUP BY green over two released groups, with amount
// encrypted: each group's SUM and AVG sum get their own ciphertext, the
// rest goes into the clear vector.
func ExampleNewLayout() {
	amount := query.Column{Table: "loans", Name: "amount", Type: schema.Int}
	aggs := []release.Agg{
		{Func: query.Count},
		{Func: query.Sum, Column: &amount, Encrypted: true, Min: 0, Max: 1000},
		{Func: query.Avg, Column: &amount, Encrypted: true, Min: 0, Max: 1000},
	}
	l := release.NewLayout(aggs, 2)
	for _, v := range l.Values {
		where := fmt.Sprintf("clear[%d]", v.Pos)
		if v.Cipher >= 0 {
			where = fmt.Sprintf("cipher %d", v.Cipher)
		}
		fmt.Printf("group %d %-8s %s\n", v.Group, v.Kind, where)
	}
	fmt.Println(l.Ciphers(), "ciphertexts and a clear vector of", l.ClearLen())
	// Output:
	// group 0 count    clear[0]
	// group 0 sum      cipher 0
	// group 0 avgsum2  cipher 1
	// group 0 avgcount clear[1]
	// group 1 count    clear[2]
	// group 1 sum      cipher 2
	// group 1 avgsum2  cipher 3
	// group 1 avgcount clear[3]
	// 4 ciphertexts and a clear vector of 4
}
