package query

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// MaxScale is the most digits after the point that a Decimal, and so an
// expression's value, may have.
const MaxScale = 9

// Decimal is an exact fixed-point number: Units × 10^-Scale. Expressions
// compute in it, so that sums stay exact integers (no floating-point
// accumulation).
type Decimal struct {
	Units int64 `json:"units"`
	Scale int   `json:"scale,omitempty"`
}

// pow10 holds 10^0 … 10^18.
var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// Pow10 returns 10^n for n in [0, 18].
func Pow10(n int) int64 { return pow10[n] }

// ParseDecimal parses a plain decimal ("12", "-0.05", "3.250") of at most
// MaxScale fraction digits whose units fit int64. Trailing zeros of the
// fraction are kept in the scale.
func ParseDecimal(s string) (Decimal, error) {
	text := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" && frac == "" || hasPoint && frac == "" && intPart == "" {
		return Decimal{}, fmt.Errorf("%q is not a decimal number", text)
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return Decimal{}, fmt.Errorf("%q is not a decimal number", text)
			}
		}
	}
	if len(frac) > MaxScale {
		return Decimal{}, fmt.Errorf("%s has %d digits after the point, at most %d are supported", text, len(frac), MaxScale)
	}
	u, err := strconv.ParseUint(intPart+frac, 10, 64)
	if intPart+frac == "" {
		u, err = 0, nil
	}
	if err != nil || u > math.MaxInt64 {
		return Decimal{}, fmt.Errorf("%s is out of range", text)
	}
	d := Decimal{Units: int64(u), Scale: len(frac)}
	if neg {
		d.Units = -d.Units
	}
	return d, nil
}

// String renders d with exactly Scale digits after the point.
func (d Decimal) String() string {
	return FormatUnits(d.Units, d.Scale)
}

// FormatUnits renders units × 10^-scale with exactly scale digits after
// the point.
func FormatUnits(units int64, scale int) string {
	if scale == 0 {
		return strconv.FormatInt(units, 10)
	}
	neg := units < 0
	mag := new(big.Int).SetInt64(units)
	mag.Abs(mag)
	digits := mag.String()
	for len(digits) <= scale {
		digits = "0" + digits
	}
	s := digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

// Float64 returns d as the nearest float64.
func (d Decimal) Float64() float64 {
	return float64(d.Units) / float64(pow10[d.Scale])
}

// Rescale returns d's units at scale s (s ≥ d.Scale), and whether they fit
// int64.
func (d Decimal) Rescale(s int) (int64, bool) {
	return mulOK(d.Units, pow10[s-d.Scale])
}

// Cmp compares d and e exactly: -1, 0 or +1.
func (d Decimal) Cmp(e Decimal) int {
	a := new(big.Int).Mul(big.NewInt(d.Units), big.NewInt(pow10[e.Scale]))
	b := new(big.Int).Mul(big.NewInt(e.Units), big.NewInt(pow10[d.Scale]))
	return a.Cmp(b)
}

// mulOK returns a·b and whether it did not overflow int64.
func mulOK(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	return p, true
}

// ExprKind is the kind of an Expr node.
type ExprKind string

// The kinds of expression nodes.
const (
	ExprColumn  ExprKind = "column"   // Column's value (int, or bool as 0 and 1)
	ExprLiteral ExprKind = "literal"  // Value
	ExprAdd     ExprKind = "+"        // Args[0] + Args[1]
	ExprSub     ExprKind = "-"        // Args[0] - Args[1]
	ExprMul     ExprKind = "*"        // Args[0] × Args[1]
	ExprDiv     ExprKind = "/"        // Args[0] ÷ Value (a literal, not 0), rounded
	ExprNeg     ExprKind = "neg"      // -Args[0]
	ExprCase    ExprKind = "case"     // When…, Else (NULL when absent)
	ExprLeast   ExprKind = "least"    // the least of Args (clamps from above)
	ExprGreat   ExprKind = "greatest" // the greatest of Args (clamps from below)
)

// Expr is a numeric expression over the columns of one joined row: the
// argument of an aggregate that is not a plain column, such as
// l.amount * l.rate_bp / 10000 or CASE WHEN l.green THEN l.amount END.
//
// Values are exact Decimals. Every node has a fixed scale (Scale): a column
// has scale 0, a literal its own, + and - the larger of their operands',
// × the sum of its operands', and ÷ by a literal its dividend's plus
// DivDigits (at most MaxScale), rounded half away from zero, and LEAST and
// GREATEST the largest of their arguments'. LEAST and GREATEST clamp a
// value (LEAST(l.amount, 20000000)), and so narrow the bounds that the
// noise is calibrated to. A CASE
// without ELSE is NULL when no WHEN holds; aggregates skip NULLs, as SQL
// does (COUNT counts the rows where it is not NULL, AVG averages the
// others). Arithmetic on NULL is NULL.
type Expr struct {
	Kind   ExprKind `json:"kind"`
	Column *Column  `json:"column,omitempty"`
	Value  *Decimal `json:"value,omitempty"`
	Args   []*Expr  `json:"args,omitempty"`
	When   []When   `json:"when,omitempty"`
	Else   *Expr    `json:"else,omitempty"`
}

// When is one WHEN … THEN … of a CASE.
type When struct {
	If   *Cond `json:"if"`
	Then *Expr `json:"then"`
}

// CondKind is the kind of a Cond node.
type CondKind string

// The kinds of condition nodes.
const (
	CondCompare CondKind = "compare" // Filter holds
	CondAnd     CondKind = "and"     // every Arg holds
	CondOr      CondKind = "or"      // some Arg holds
	CondNot     CondKind = "not"     // Args[0] does not hold
)

// Cond is a condition on the columns of one joined row, in a CASE WHEN.
type Cond struct {
	Kind   CondKind `json:"kind"`
	Filter *Filter  `json:"filter,omitempty"`
	Args   []*Cond  `json:"args,omitempty"`
}

// DivDigits is how many digits a division by a literal adds to the
// dividend's scale.
const DivDigits = 4

// Scale returns the scale of e's values.
func (e *Expr) Scale() int {
	switch e.Kind {
	case ExprColumn:
		return 0
	case ExprLiteral:
		return e.Value.Scale
	case ExprAdd, ExprSub:
		return max(e.Args[0].Scale(), e.Args[1].Scale())
	case ExprLeast, ExprGreat:
		s := 0
		for _, a := range e.Args {
			s = max(s, a.Scale())
		}
		return s
	case ExprMul:
		return e.Args[0].Scale() + e.Args[1].Scale()
	case ExprDiv:
		return min(e.Args[0].Scale()+DivDigits, MaxScale)
	case ExprNeg:
		return e.Args[0].Scale()
	case ExprCase:
		s := 0
		for _, w := range e.When {
			s = max(s, w.Then.Scale())
		}
		if e.Else != nil {
			s = max(s, e.Else.Scale())
		}
		return s
	}
	return 0
}

// Nullable reports whether e can be NULL.
func (e *Expr) Nullable() bool {
	switch e.Kind {
	case ExprCase:
		if e.Else == nil {
			return true
		}
		for _, w := range e.When {
			if w.Then.Nullable() {
				return true
			}
		}
		return e.Else.Nullable()
	case ExprColumn, ExprLiteral:
		return false
	}
	for _, a := range e.Args {
		if a.Nullable() {
			return true
		}
	}
	return false
}

// Walk calls value for every column whose value e computes with, and cond
// for every column a CASE condition of e compares.
func (e *Expr) Walk(value, cond func(Column)) {
	switch e.Kind {
	case ExprColumn:
		value(*e.Column)
	case ExprCase:
		for _, w := range e.When {
			w.If.Walk(cond)
			w.Then.Walk(value, cond)
		}
		if e.Else != nil {
			e.Else.Walk(value, cond)
		}
	}
	for _, a := range e.Args {
		a.Walk(value, cond)
	}
}

// Walk calls f for every column c compares.
func (c *Cond) Walk(f func(Column)) {
	if c.Filter != nil {
		f(c.Filter.Column)
	}
	for _, a := range c.Args {
		a.Walk(f)
	}
}

// Bounds are the declared bounds of a column, in its units.
type Bounds func(Column) (min, max int64, ok bool)

// Bounds returns the least and greatest value e can take, at e's scale,
// from the columns' bounds, or an error when some intermediate value could
// overflow int64 (the expression is then refused: no value is ever
// wrapped or saturated). NULL is not a value: it is not in the bounds.
func (e *Expr) Bounds(col Bounds) (lo, hi int64, err error) {
	return e.bounds(col)
}

var errOverflow = fmt.Errorf("it could overflow 64-bit integers with the columns' declared bounds")

func (e *Expr) bounds(col Bounds) (int64, int64, error) {
	switch e.Kind {
	case ExprColumn:
		lo, hi, ok := col(*e.Column)
		if !ok {
			return 0, 0, fmt.Errorf("column %s has no declared bounds", e.Column)
		}
		return lo, hi, nil
	case ExprLiteral:
		return e.Value.Units, e.Value.Units, nil
	case ExprNeg:
		lo, hi, err := e.Args[0].bounds(col)
		if err != nil {
			return 0, 0, err
		}
		if lo == math.MinInt64 {
			return 0, 0, errOverflow
		}
		return -hi, -lo, nil
	case ExprAdd, ExprSub, ExprMul:
		s := e.Scale()
		var iv [2][2]int64
		for i, a := range e.Args {
			lo, hi, err := a.bounds(col)
			if err != nil {
				return 0, 0, err
			}
			if e.Kind != ExprMul {
				f := pow10[s-a.Scale()]
				var ok1, ok2 bool
				if lo, ok1 = mulOK(lo, f); !ok1 {
					return 0, 0, errOverflow
				}
				if hi, ok2 = mulOK(hi, f); !ok2 {
					return 0, 0, errOverflow
				}
			}
			iv[i] = [2]int64{lo, hi}
		}
		switch e.Kind {
		case ExprAdd:
			lo, ok1 := addOK(iv[0][0], iv[1][0])
			hi, ok2 := addOK(iv[0][1], iv[1][1])
			if !ok1 || !ok2 {
				return 0, 0, errOverflow
			}
			return lo, hi, nil
		case ExprSub:
			lo, ok1 := subOK(iv[0][0], iv[1][1])
			hi, ok2 := subOK(iv[0][1], iv[1][0])
			if !ok1 || !ok2 {
				return 0, 0, errOverflow
			}
			return lo, hi, nil
		}
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for _, a := range iv[0] {
			for _, b := range iv[1] {
				p, ok := mulOK(a, b)
				if !ok {
					return 0, 0, errOverflow
				}
				lo, hi = min(lo, p), max(hi, p)
			}
		}
		return lo, hi, nil
	case ExprDiv:
		lo, hi, err := e.Args[0].bounds(col)
		if err != nil {
			return 0, 0, err
		}
		a, b := Divide(lo, e.Args[0].Scale(), *e.Value, e.Scale())
		c, d := Divide(hi, e.Args[0].Scale(), *e.Value, e.Scale())
		if !b || !d {
			return 0, 0, errOverflow
		}
		return min(a, c), max(a, c), nil
	case ExprLeast, ExprGreat:
		s := e.Scale()
		var lo, hi int64
		for i, a := range e.Args {
			l, h, err := a.bounds(col)
			if err != nil {
				return 0, 0, err
			}
			f := pow10[s-a.Scale()]
			l, ok1 := mulOK(l, f)
			h, ok2 := mulOK(h, f)
			if !ok1 || !ok2 {
				return 0, 0, errOverflow
			}
			switch {
			case i == 0:
				lo, hi = l, h
			case e.Kind == ExprLeast:
				lo, hi = min(lo, l), min(hi, h)
			default:
				lo, hi = max(lo, l), max(hi, h)
			}
		}
		return lo, hi, nil
	case ExprCase:
		s := e.Scale()
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		branches := make([]*Expr, 0, len(e.When)+1)
		for _, w := range e.When {
			branches = append(branches, w.Then)
		}
		if e.Else != nil {
			branches = append(branches, e.Else)
		}
		for _, b := range branches {
			l, h, err := b.bounds(col)
			if err != nil {
				return 0, 0, err
			}
			f := pow10[s-b.Scale()]
			l, ok1 := mulOK(l, f)
			h, ok2 := mulOK(h, f)
			if !ok1 || !ok2 {
				return 0, 0, errOverflow
			}
			lo, hi = min(lo, l), max(hi, h)
		}
		return lo, hi, nil
	}
	return 0, 0, fmt.Errorf("unknown expression kind %q", e.Kind)
}

// Divide returns x × 10^-xs ÷ d in units of scale s, rounded half away
// from zero, and whether it fits int64. d must not be 0; s must be at
// least xs.
func Divide(x int64, xs int, d Decimal, s int) (int64, bool) {
	// x·10^-xs / (D·10^-ds) = x·10^(ds-xs) / D; in units of 10^-s:
	// x·10^(s+ds-xs) / D.
	num := new(big.Int).Mul(big.NewInt(x), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s+d.Scale-xs)), nil))
	den := big.NewInt(d.Units)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	// Round half away from zero: |2r| ≥ |den|.
	r2 := new(big.Int).Abs(r)
	r2.Lsh(r2, 1)
	if r2.Cmp(new(big.Int).Abs(den)) >= 0 {
		if (num.Sign() < 0) != (den.Sign() < 0) {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// addOK returns a+b and whether it did not overflow.
func addOK(a, b int64) (int64, bool) {
	s := a + b
	return s, (s > a) == (b > 0)
}

// subOK returns a-b and whether it did not overflow.
func subOK(a, b int64) (int64, bool) {
	s := a - b
	return s, (s < a) == (b > 0)
}

// equalExpr reports whether a and b are the same expression.
func equalExpr(a, b *Expr) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Kind != b.Kind || len(a.Args) != len(b.Args) || len(a.When) != len(b.When) ||
		(a.Column == nil) != (b.Column == nil) || (a.Value == nil) != (b.Value == nil) {
		return false
	}
	if a.Column != nil && *a.Column != *b.Column || a.Value != nil && *a.Value != *b.Value {
		return false
	}
	for i := range a.Args {
		if !equalExpr(a.Args[i], b.Args[i]) {
			return false
		}
	}
	for i := range a.When {
		if !equalCond(a.When[i].If, b.When[i].If) || !equalExpr(a.When[i].Then, b.When[i].Then) {
			return false
		}
	}
	return equalExpr(a.Else, b.Else)
}

func equalCond(a, b *Cond) bool {
	if a.Kind != b.Kind || len(a.Args) != len(b.Args) || (a.Filter == nil) != (b.Filter == nil) {
		return false
	}
	if a.Filter != nil && *a.Filter != *b.Filter {
		return false
	}
	for i := range a.Args {
		if !equalCond(a.Args[i], b.Args[i]) {
			return false
		}
	}
	return true
}
