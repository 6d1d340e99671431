package gen_test

import (
	"fmt"

	"github.com/xjdata/cleanroom/examples/greencredit/gen"
)

func ExampleValidUSCC() {
	// The example code of GB 32100-2015, then the same with its last
	// character changed.
	fmt.Println(gen.ValidUSCC("91350100M000100Y43"))
	fmt.Println(gen.ValidUSCC("91350100M000100Y44"))
	// An enterprise (91) of 乌鲁木齐 (650100) with organisation code
	// 00000000-0: 9·1 + 1·3 + 6·9 + 5·27 + 1·26 = 227 ≡ 10 (mod 31), and
	// 31 − 10 = 21 is M in the alphabet 0123456789ABCDEFGHJKLMNPQRTUWXY.
	fmt.Println(gen.ValidUSCC("91650100000000000M"))
	// Output:
	// true
	// false
	// true
}
