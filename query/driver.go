package query

import (
	"errors"

	"github.com/pingcap/tidb/pkg/parser/ast"
	// The parser needs a driver for literal values; this is TiDB's own
	// minimal one, which also defines the literals' Go types.
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// errDecimal is the lexer's error for a decimal literal the driver cannot
// hold.
var errDecimal = errors.New("too many digits")

// init guards the driver's decimal literals. TiDB's test driver panics
// ("This branch is not implemented") on a decimal literal of more than 81
// digits, which any client could send; the parser calls ast.NewDecimal
// for every decimal literal and for integers too long for 64 bits. With
// this guard such a literal is a syntax error ("decimal literal: too many
// digits") rather than a recovered panic.
func init() {
	newDecimal := ast.NewDecimal
	ast.NewDecimal = func(s string) (any, error) {
		if !decimalFits(s) {
			return nil, errDecimal
		}
		return newDecimal(s)
	}
}

// decimalFits reports whether the test driver's MyDecimal.FromString
// accepts s without panicking: optional spaces and sign, digits with an
// optional fraction, at least one digit, no exponent, and at most nine
// 9-digit words in all.
func decimalFits(s string) bool {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	whole, frac := digits(), 0
	if i < len(s) && s[i] == '.' {
		i++
		frac = digits()
	}
	if whole+frac == 0 || (i < len(s) && (s[i] == 'e' || s[i] == 'E')) {
		return false
	}
	words := func(n int) int { return (n + 8) / 9 }
	return words(whole)+words(frac) <= 9
}
