package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	"github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/xjdata/cleanroom/schema"
)

// Limits of an aggregate's argument: how deep an expression nests and how
// many nodes it has.
const (
	maxExprDepth = 32
	maxExprNodes = 256
)

// aggFuncs maps the parser's aggregate names (lower-case; it normalises
// STD and STDDEV to stddev_pop, VARIANCE to var_pop) to ours.
var aggFuncs = map[string]Func{
	ast.AggFuncCount:     Count,
	ast.AggFuncSum:       Sum,
	ast.AggFuncAvg:       Avg,
	ast.AggFuncMin:       Min,
	ast.AggFuncMax:       Max,
	ast.AggFuncStddevPop: Stddev,
	ast.AggFuncVarPop:    Variance,
}

const supportedAggs = "COUNT, COUNT(DISTINCT), SUM, AVG, MIN, MAX, MEDIAN, PERCENTILE, APPROX_PERCENTILE, STDDEV, VARIANCE"

// aggregate compiles an aggregate the parser knows: COUNT, SUM, AVG, MIN,
// MAX, STDDEV, VARIANCE and APPROX_PERCENTILE.
func (c *compiler) aggregate(a *ast.AggregateFuncExpr) (Output, error) {
	off := exprOff(a)
	name := funcName(c.sql, a)
	lower := strings.ToLower(a.F)
	fn, ok := aggFuncs[lower]
	switch {
	case lower == ast.AggFuncApproxPercentile:
		fn, ok = Percentile, true
	case lower == ast.AggFuncStddevSamp || lower == ast.AggFuncVarSamp:
		return Output{}, c.errAt(off, "unsupported aggregate %s: the sample statistics are not supported; use %s (population)",
			name, map[bool]string{true: "STDDEV", false: "VARIANCE"}[lower == ast.AggFuncStddevSamp])
	}
	if !ok {
		return Output{}, c.errAt(off, "unsupported aggregate %s (supported: %s)", name, supportedAggs)
	}
	if a.Distinct {
		if fn != Count {
			return Output{}, c.errAt(off, "unsupported %s(DISTINCT ...): only COUNT takes DISTINCT", fn)
		}
		fn = CountDistinct
	}
	if a.Order != nil {
		return Output{}, c.errAt(off, "unsupported ORDER BY in %s", name)
	}
	if fn == Percentile {
		if len(a.Args) != 2 {
			return Output{}, c.errAt(off, "%s takes a column and a percentage, got %d arguments", name, len(a.Args))
		}
		rank, err := c.rank(a.Args[1], name, true)
		if err != nil {
			return Output{}, err
		}
		return c.aggOutput(fn, name, a.Args[0], off, rank)
	}
	if len(a.Args) != 1 {
		return Output{}, c.errAt(off, "%s takes one argument, got %d", name, len(a.Args))
	}
	arg := a.Args[0]
	if v, ok := arg.(ast.ValueExpr); ok && fn == Count && v.OriginTextPosition() == 0 {
		// The parser writes COUNT(*) as COUNT(1), with no position.
		return Output{Name: "COUNT(*)", Func: Count}, nil
	}
	return c.aggOutput(fn, name, arg, off, 0)
}

// funcAggregate compiles MEDIAN(x) and PERCENTILE(x, p), which the parser
// reads as plain function calls; other functions are refused.
func (c *compiler) funcAggregate(f *ast.FuncCallExpr) (Output, bool, error) {
	off := exprOff(f)
	name := strings.ToUpper(f.FnName.L)
	switch f.FnName.L {
	case "median":
		if len(f.Args) != 1 {
			return Output{}, true, c.errAt(off, "MEDIAN takes one argument, got %d", len(f.Args))
		}
		o, err := c.aggOutput(Median, name, f.Args[0], off, 0)
		return o, true, err
	case "percentile":
		if len(f.Args) != 2 {
			return Output{}, true, c.errAt(off, "PERCENTILE takes a column and a rank in [0, 1], got %d arguments", len(f.Args))
		}
		rank, err := c.rank(f.Args[1], name, false)
		if err != nil {
			return Output{}, true, err
		}
		o, err := c.aggOutput(Percentile, name, f.Args[0], off, rank)
		return o, true, err
	}
	return Output{}, false, nil
}

// rank reads the rank of a percentile: a number in [0, 1], or with
// percent a percentage in [0, 100] (APPROX_PERCENTILE's form).
func (c *compiler) rank(e ast.ExprNode, name string, percent bool) (float64, error) {
	d, ok := c.number(e)
	want := "a rank in [0, 1], such as 0.9"
	scale := 1.0
	if percent {
		want, scale = "a percentage in [0, 100], such as 90", 100
	}
	if !ok {
		return 0, c.errAt(exprOff(e), "the second argument of %s must be %s", name, want)
	}
	r := d.Float64() / scale
	if r < 0 || r > 1 || math.IsNaN(r) {
		return 0, c.errAt(exprOff(e), "the second argument of %s must be %s, got %s", name, want, d)
	}
	return r, nil
}

// aggOutput compiles the argument of aggregate fn and returns its output.
func (c *compiler) aggOutput(fn Func, name string, arg ast.ExprNode, off int, rank float64) (Output, error) {
	if cn, ok := unparen(arg).(*ast.ColumnNameExpr); ok {
		col, _, err := c.resolve(cn, len(c.tables))
		if err != nil {
			return Output{}, err
		}
		switch fn {
		case Count, CountDistinct:
		default:
			if col.Type != schema.Int && col.Type != schema.Bool {
				return Output{}, c.errAt(exprOff(cn), "%s needs an int or bool column: %s is %s", name, col, col.Type)
			}
		}
		o := Output{Func: fn, Column: &col, Rank: rank}
		o.Name = outName(fn, name, render(cn), rank)
		return o, nil
	}
	if fn == CountDistinct {
		return Output{}, c.errAt(exprOff(arg), "unsupported %s in COUNT(DISTINCT ...): count the distinct values of a plain column", construct(c.sql, unparen(arg)))
	}
	budget := maxExprNodes
	x, text, err := c.expr(arg, 0, &budget)
	if err != nil {
		return Output{}, err
	}
	if x.Kind == ExprLiteral {
		return Output{}, c.errAt(exprOff(arg), "unsupported literal argument of %s: aggregate a column or an expression of columns", name)
	}
	o := Output{Func: fn, Arg: x, Rank: rank}
	o.Name = outName(fn, name, text, rank)
	return o, nil
}

// outName is an aggregate's output name: its function as written, upper
// case, and its argument normalised.
func outName(fn Func, name, arg string, rank float64) string {
	switch fn {
	case CountDistinct:
		return "COUNT(DISTINCT " + arg + ")"
	case Percentile:
		if name == "APPROX_PERCENTILE" {
			return fmt.Sprintf("%s(%s, %s)", name, arg, strconv.FormatFloat(rank*100, 'g', -1, 64))
		}
		return fmt.Sprintf("%s(%s, %s)", name, arg, strconv.FormatFloat(rank, 'g', -1, 64))
	}
	return name + "(" + arg + ")"
}

// expr compiles an aggregate's argument and returns it with its
// normalised text.
func (c *compiler) expr(e ast.ExprNode, depth int, budget *int) (*Expr, string, error) {
	if depth > maxExprDepth {
		return nil, "", c.errAt(exprOff(e), "expression nested more than %d deep", maxExprDepth)
	}
	if *budget--; *budget < 0 {
		return nil, "", c.errAt(exprOff(e), "expression of more than %d parts", maxExprNodes)
	}
	switch x := e.(type) {
	case *ast.ParenthesesExpr:
		in, text, err := c.expr(x.Expr, depth+1, budget)
		return in, "(" + text + ")", err
	case *ast.ColumnNameExpr:
		col, _, err := c.resolve(x, len(c.tables))
		if err != nil {
			return nil, "", err
		}
		if col.Type != schema.Int && col.Type != schema.Bool {
			return nil, "", c.errAt(exprOff(x), "cannot compute with %s: it is %s (only int and bool columns take part in arithmetic)", col, col.Type)
		}
		return &Expr{Kind: ExprColumn, Column: &col}, render(x), nil
	case *ast.UnaryOperationExpr:
		switch x.Op {
		case opcode.Minus, opcode.Plus:
			if d, ok := c.number(x); ok {
				return &Expr{Kind: ExprLiteral, Value: &d}, d.String(), nil
			}
			in, text, err := c.expr(x.V, depth+1, budget)
			if err != nil || x.Op == opcode.Plus {
				return in, "+" + text, err
			}
			return &Expr{Kind: ExprNeg, Args: []*Expr{in}}, "-" + text, nil
		}
	case *ast.BinaryOperationExpr:
		kind, ok := map[opcode.Op]ExprKind{opcode.Plus: ExprAdd, opcode.Minus: ExprSub, opcode.Mul: ExprMul, opcode.Div: ExprDiv}[x.Op]
		if !ok {
			break
		}
		l, lt, err := c.expr(x.L, depth+1, budget)
		if err != nil {
			return nil, "", err
		}
		text := lt + " " + opText(x.Op) + " "
		if kind == ExprDiv {
			d, ok := c.number(x.R)
			if !ok {
				return nil, "", c.errAt(exprOff(x.R), "unsupported division by %s: divide by a number", construct(c.sql, unparen(x.R)))
			}
			if d.Units == 0 {
				return nil, "", c.errAt(exprOff(x.R), "division by zero")
			}
			return &Expr{Kind: ExprDiv, Args: []*Expr{l}, Value: &d}, text + d.String(), nil
		}
		r, rt, err := c.expr(x.R, depth+1, budget)
		if err != nil {
			return nil, "", err
		}
		out := &Expr{Kind: kind, Args: []*Expr{l, r}}
		if out.Scale() > MaxScale {
			return nil, "", c.errAt(exprOff(x), "product with %d digits after the point: at most %d are supported", out.Scale(), MaxScale)
		}
		return out, text + rt, nil
	case *ast.CaseExpr:
		return c.caseExpr(x, depth, budget)
	case *ast.FuncCallExpr:
		if kind, ok := map[string]ExprKind{"least": ExprLeast, "greatest": ExprGreat}[x.FnName.L]; ok {
			name := strings.ToUpper(x.FnName.L)
			if len(x.Args) < 2 {
				return nil, "", c.errAt(exprOff(x), "%s takes two or more arguments, got %d", name, len(x.Args))
			}
			out := &Expr{Kind: kind}
			texts := make([]string, len(x.Args))
			for i, a := range x.Args {
				in, t, err := c.expr(a, depth+1, budget)
				if err != nil {
					return nil, "", err
				}
				out.Args, texts[i] = append(out.Args, in), t
			}
			return out, name + "(" + strings.Join(texts, ", ") + ")", nil
		}
		if d, ok := c.number(x); ok {
			return &Expr{Kind: ExprLiteral, Value: &d}, d.String(), nil
		}
	case ast.ValueExpr:
		if d, ok := c.number(x); ok {
			return &Expr{Kind: ExprLiteral, Value: &d}, d.String(), nil
		}
		if v, ok := x.(ast.ValueExpr); ok && v.GetValue() == nil {
			return nil, "", c.errAt(exprOff(x), "unsupported NULL in an expression: leave out the ELSE of a CASE to have no value")
		}
	}
	return nil, "", c.errAt(exprOff(e), "unsupported %s in an aggregate's argument (want columns, numbers, + - * /, LEAST, GREATEST and CASE WHEN)", construct(c.sql, unparen(e)))
}

// caseExpr compiles CASE WHEN cond THEN x ... [ELSE y] END, and the simple
// form CASE column WHEN literal THEN x ... END.
func (c *compiler) caseExpr(x *ast.CaseExpr, depth int, budget *int) (*Expr, string, error) {
	out := &Expr{Kind: ExprCase}
	var b strings.Builder
	b.WriteString("CASE")
	var subject *ast.ColumnNameExpr
	if x.Value != nil {
		cn, ok := unparen(x.Value).(*ast.ColumnNameExpr)
		if !ok {
			return nil, "", c.errAt(exprOff(x.Value), "unsupported %s after CASE: write CASE WHEN condition THEN ..., or CASE column WHEN literal THEN ...", construct(c.sql, unparen(x.Value)))
		}
		subject = cn
		b.WriteString(" " + render(cn))
	}
	for _, w := range x.WhenClauses {
		var cond *Cond
		var text string
		var err error
		if subject != nil {
			var f Filter
			f, err = c.compare(subject, opcode.EQ, w.Expr)
			cond, text = &Cond{Kind: CondCompare, Filter: &f}, literalOf(c.sql, w.Expr)
		} else {
			cond, text, err = c.cond(w.Expr, depth+1, budget)
		}
		if err != nil {
			return nil, "", err
		}
		then, tt, err := c.thenExpr(w.Result, depth, budget)
		if err != nil {
			return nil, "", err
		}
		out.When = append(out.When, When{If: cond, Then: then})
		b.WriteString(" WHEN " + text + " THEN " + tt)
	}
	if x.ElseClause != nil {
		if v, ok := unparen(x.ElseClause).(ast.ValueExpr); !ok || v.GetValue() != nil {
			e, et, err := c.thenExpr(x.ElseClause, depth, budget)
			if err != nil {
				return nil, "", err
			}
			out.Else = e
			b.WriteString(" ELSE " + et)
		}
	}
	b.WriteString(" END")
	if out.Scale() > MaxScale {
		return nil, "", c.errAt(exprOff(x), "CASE with %d digits after the point: at most %d are supported", out.Scale(), MaxScale)
	}
	return out, b.String(), nil
}

// thenExpr compiles a branch of a CASE: an expression, or NULL (no
// value), which only a WHEN may be written as since ELSE NULL is dropped.
func (c *compiler) thenExpr(e ast.ExprNode, depth int, budget *int) (*Expr, string, error) {
	return c.expr(e, depth+1, budget)
}

// literalOf returns the text of a literal for an output name.
func literalOf(sql string, e ast.ExprNode) string {
	if v, ok := unparen(e).(ast.ValueExpr); ok {
		return literalText(v)
	}
	return construct(sql, unparen(e))
}

// cond compiles a condition of CASE WHEN: comparisons of a column with a
// literal, a bare bool column (true when TRUE), AND, OR, NOT.
func (c *compiler) cond(e ast.ExprNode, depth int, budget *int) (*Cond, string, error) {
	if depth > maxExprDepth {
		return nil, "", c.errAt(exprOff(e), "condition nested more than %d deep", maxExprDepth)
	}
	if *budget--; *budget < 0 {
		return nil, "", c.errAt(exprOff(e), "expression of more than %d parts", maxExprNodes)
	}
	switch x := e.(type) {
	case *ast.ParenthesesExpr:
		in, text, err := c.cond(x.Expr, depth+1, budget)
		return in, "(" + text + ")", err
	case *ast.ColumnNameExpr:
		col, _, err := c.resolve(x, len(c.tables))
		if err != nil {
			return nil, "", err
		}
		if col.Type != schema.Bool {
			return nil, "", c.errAt(exprOff(x), "cannot use %s (%s) as a condition: compare it with a literal", col, col.Type)
		}
		return &Cond{Kind: CondCompare, Filter: &Filter{Column: col, Op: OpEQ, Value: Value{Int: 1}}}, render(x), nil
	case *ast.UnaryOperationExpr:
		if x.Op == opcode.Not || x.Op == opcode.Not2 {
			in, text, err := c.cond(x.V, depth+1, budget)
			if err != nil {
				return nil, "", err
			}
			return &Cond{Kind: CondNot, Args: []*Cond{in}}, "NOT " + text, nil
		}
	case *ast.BinaryOperationExpr:
		switch x.Op {
		case opcode.LogicAnd, opcode.LogicOr:
			l, lt, err := c.cond(x.L, depth+1, budget)
			if err != nil {
				return nil, "", err
			}
			r, rt, err := c.cond(x.R, depth+1, budget)
			if err != nil {
				return nil, "", err
			}
			kind := CondAnd
			if x.Op == opcode.LogicOr {
				kind = CondOr
			}
			return &Cond{Kind: kind, Args: []*Cond{l, r}}, lt + " " + opText(x.Op) + " " + rt, nil
		}
		if _, ok := compareOps[x.Op]; ok {
			f, err := c.comparison(x, "CASE WHEN")
			if err != nil {
				return nil, "", err
			}
			return &Cond{Kind: CondCompare, Filter: &f}, filterText(f, x), nil
		}
	}
	return nil, "", c.errAt(exprOff(e), "unsupported %s in CASE WHEN: compare columns with literals, joined by AND, OR and NOT", construct(c.sql, unparen(e)))
}

// filterText renders a comparison for an output name.
func filterText(f Filter, b *ast.BinaryOperationExpr) string {
	l, r := unparen(b.L), unparen(b.R)
	side := func(e ast.ExprNode) string {
		switch x := e.(type) {
		case *ast.ColumnNameExpr:
			return render(x)
		case ast.ValueExpr:
			return literalText(x)
		}
		return "?"
	}
	if _, ok := l.(*ast.ColumnNameExpr); ok {
		return side(l) + " " + string(f.Op) + " " + valueText(f, r)
	}
	return valueText(f, l) + " " + string(flip[f.Op]) + " " + side(r)
}

// valueText renders a comparison's literal as its column reads it.
func valueText(f Filter, lit ast.ExprNode) string {
	switch f.Column.Type {
	case schema.String:
		return quote(f.Value.Str)
	case schema.Bool:
		if f.Value.Int != 0 {
			return "TRUE"
		}
		return "FALSE"
	case schema.Date:
		return "'" + schema.FormatDate(f.Value.Int) + "'"
	}
	return strconv.FormatInt(f.Value.Int, 10)
}

// number reads e as a numeric literal, possibly signed: an integer, a
// decimal, TRUE or FALSE.
func (c *compiler) number(e ast.ExprNode) (Decimal, bool) {
	neg := false
	for {
		u, ok := unparen(e).(*ast.UnaryOperationExpr)
		if !ok || (u.Op != opcode.Minus && u.Op != opcode.Plus) {
			break
		}
		if u.Op == opcode.Minus {
			neg = !neg
		}
		e = u.V
	}
	v, ok := unparen(e).(ast.ValueExpr)
	if !ok {
		return Decimal{}, false
	}
	var d Decimal
	switch x := v.GetValue().(type) {
	case int64:
		d = Decimal{Units: x}
	case uint64:
		if x > math.MaxInt64 {
			return Decimal{}, false
		}
		d = Decimal{Units: int64(x)}
	case *test_driver.MyDecimal:
		text := x.String()
		if strings.ContainsAny(text, "eE") {
			return Decimal{}, false
		}
		var err error
		if d, err = ParseDecimal(text); err != nil {
			return Decimal{}, false
		}
	default:
		return Decimal{}, false
	}
	if neg {
		if d.Units == math.MinInt64 {
			return Decimal{}, false
		}
		d.Units = -d.Units
	}
	return d, true
}
