package dp

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Epsilon is a privacy budget ε in millionths (micro-epsilon): Epsilon(500000)
// is ε = 0.5. Budgets are integers so that accounting is exact.
//
// The zero value is a budget of zero. Negative values are never produced by
// this package's functions and are refused by Add and Sub.
type Epsilon int64

// EpsilonUnit is the number of Epsilon units in ε = 1.
const EpsilonUnit Epsilon = 1_000_000

// epsilonDecimals is the number of fractional digits an Epsilon can hold.
const epsilonDecimals = 6

// ErrOverspent is returned (wrapped) by [Epsilon.Sub] when the result would be
// negative: the budget does not cover the cost. Check with errors.Is; the
// caller should refuse the spending, not retry it.
var ErrOverspent = errors.New("privacy budget exceeded")

// ErrEpsilonOverflow is returned (wrapped) when an Epsilon would not fit in
// int64. It signals a malformed document rather than a real budget.
var ErrEpsilonOverflow = errors.New("epsilon overflows")

// ParseEpsilon parses a plain decimal ε such as "3", "0.5" or "0.000001".
//
// The syntax is strict: one or more digits, without a sign or superfluous
// leading zeros, optionally followed by a dot and one to six digits.
// Exponents, signs, spaces, "NaN", "Inf" and more than six fractional digits
// are errors. Trailing fractional zeros are accepted ("0.50" is 0.5).
func ParseEpsilon(s string) (Epsilon, error) {
	fail := func(reason string) (Epsilon, error) {
		return 0, fmt.Errorf("dp: invalid epsilon %q: %s", s, reason)
	}
	if s == "" {
		return fail("empty")
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" {
		return fail("want digits before the decimal point")
	}
	if !allDigits(intPart) {
		return fail("want a plain decimal such as 0.5 (digits, one optional point, no sign or exponent)")
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return fail("leading zeros are not allowed")
	}
	if hasDot {
		if frac == "" {
			return fail("want digits after the decimal point")
		}
		if !allDigits(frac) {
			return fail("want a plain decimal such as 0.5 (digits, one optional point, no sign or exponent)")
		}
		if len(frac) > epsilonDecimals {
			return fail(fmt.Sprintf("more than %d decimal places", epsilonDecimals))
		}
	}
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || whole > math.MaxInt64/int64(EpsilonUnit) {
		return 0, fmt.Errorf("dp: invalid epsilon %q: %w", s, ErrEpsilonOverflow)
	}
	var micro int64
	if hasDot {
		padded := frac + strings.Repeat("0", epsilonDecimals-len(frac))
		micro, err = strconv.ParseInt(padded, 10, 64)
		if err != nil {
			return fail("bad fraction")
		}
	}
	v := whole * int64(EpsilonUnit)
	if v > math.MaxInt64-micro {
		return 0, fmt.Errorf("dp: invalid epsilon %q: %w", s, ErrEpsilonOverflow)
	}
	return Epsilon(v + micro), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// String formats e as a canonical decimal: no trailing fractional zeros and
// no point for whole numbers ("3", "0.5", "0.000001"). ParseEpsilon(e.String())
// returns e for every non-negative e.
func (e Epsilon) String() string {
	neg := e < 0
	u := uint64(e)
	if neg {
		u = -u // two's complement magnitude, exact even for math.MinInt64
	}
	whole, frac := u/uint64(EpsilonUnit), u%uint64(EpsilonUnit)
	s := strconv.FormatUint(whole, 10)
	if frac != 0 {
		f := strconv.FormatUint(frac, 10)
		f = strings.Repeat("0", epsilonDecimals-len(f)) + f
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Float64 returns e as ε, the nearest float64 to its exact decimal value.
func (e Epsilon) Float64() float64 { return float64(e) / float64(EpsilonUnit) }

// Add returns e + o. Both must be non-negative; the sum must fit in int64
// (else an error wrapping [ErrEpsilonOverflow]).
func (e Epsilon) Add(o Epsilon) (Epsilon, error) {
	if e < 0 || o < 0 {
		return 0, fmt.Errorf("dp: cannot add negative epsilon (%s + %s)", e, o)
	}
	if e > math.MaxInt64-o {
		return 0, fmt.Errorf("dp: %s + %s: %w", e, o, ErrEpsilonOverflow)
	}
	return e + o, nil
}

// Sub returns e - o, the budget left after spending o. Both must be
// non-negative; if o exceeds e it returns an error wrapping [ErrOverspent].
func (e Epsilon) Sub(o Epsilon) (Epsilon, error) {
	if e < 0 || o < 0 {
		return 0, fmt.Errorf("dp: cannot subtract negative epsilon (%s - %s)", e, o)
	}
	if o > e {
		return 0, fmt.Errorf("dp: spending ε=%s with ε=%s left: %w", o, e, ErrOverspent)
	}
	return e - o, nil
}

// MarshalText implements encoding.TextMarshaler with the String form, so
// that JSON documents carry budgets as exact decimals.
func (e Epsilon) MarshalText() ([]byte, error) {
	if e < 0 {
		return nil, fmt.Errorf("dp: negative epsilon %s", e)
	}
	return []byte(e.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseEpsilon.
func (e *Epsilon) UnmarshalText(b []byte) error {
	v, err := ParseEpsilon(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}
