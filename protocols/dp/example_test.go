package dp_test

import (
	"errors"
	"fmt"

	"github.com/xjdata/cleanroom/protocols/dp"
)

func ExampleParseEpsilon() {
	budget, err := dp.ParseEpsilon("3")
	if err != nil {
		panic(err)
	}
	cost, _ := dp.ParseEpsilon("0.25")
	left, err := budget.Sub(cost)
	fmt.Println(left, int64(left), err)

	_, err = cost.Sub(budget)
	fmt.Println(errors.Is(err, dp.ErrOverspent))

	_, err = dp.ParseEpsilon("1e-3")
	fmt.Println(err)
	// Output:
	// 2.75 2750000 <nil>
	// true
	// dp: invalid epsilon "1e-3": want a plain decimal such as 0.5 (digits, one optional point, no sign or exponent)
}
