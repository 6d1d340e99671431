package query

import (
	"math"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/opcode"
)

// MaxLimit is the largest LIMIT or OFFSET accepted.
const MaxLimit = 1 << 40

// post compiles HAVING, ORDER BY and LIMIT: post-processing of the
// released rows, which may only use values of the select list (anything
// else would be a further aggregate, which costs budget).
func (c *compiler) post(s *ast.SelectStmt) error {
	if s.Having != nil && s.Having.Expr != nil {
		stack := []ast.ExprNode{s.Having.Expr}
		for len(stack) > 0 {
			e := unparen(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			if b, ok := e.(*ast.BinaryOperationExpr); ok && b.Op == opcode.LogicAnd {
				stack = append(stack, b.R, b.L)
				continue
			}
			if err := c.havingCmp(e); err != nil {
				return err
			}
		}
	}
	if s.OrderBy != nil {
		for _, item := range s.OrderBy.Items {
			o, err := c.orderItem(item)
			if err != nil {
				return err
			}
			c.plan.OrderBy = append(c.plan.OrderBy, o)
		}
	}
	if s.Limit != nil {
		n, err := c.limitValue(s.Limit.Count, "LIMIT")
		if err != nil {
			return err
		}
		c.plan.Limit = &n
		if s.Limit.Offset != nil {
			if c.plan.Offset, err = c.limitValue(s.Limit.Offset, "OFFSET"); err != nil {
				return err
			}
		}
	}
	return nil
}

// havingCmp compiles one comparison of HAVING: a value of the select list
// compared with a literal.
func (c *compiler) havingCmp(e ast.ExprNode) error {
	const want = "compare a value of the select list with a literal, joined by AND"
	b, ok := e.(*ast.BinaryOperationExpr)
	if !ok {
		return c.errAt(exprOff(e), "unsupported %s in HAVING: %s", construct(c.sql, e), want)
	}
	op, ok := compareOps[b.Op]
	if !ok {
		return c.errAt(exprOff(e), "unsupported %s in HAVING: %s", construct(c.sql, e), want)
	}
	l, r := unparen(b.L), unparen(b.R)
	side, lit := l, r
	if isLiteral(l) && !isLiteral(r) {
		side, lit, op = r, l, flip[op]
	}
	if !isLiteral(lit) {
		return c.errAt(exprOff(b), "unsupported %s in HAVING: %s", construct(c.sql, b), want)
	}
	i, err := c.outputRef(side, "HAVING")
	if err != nil {
		return err
	}
	if i < 0 {
		return c.errAt(exprOff(side), "HAVING on a grouping column that is not in the select list: filter it with WHERE")
	}
	o := c.plan.Outputs[i]
	cmp := Cmp{Output: i, Op: op}
	if o.Func == "" {
		if cmp.Value, err = c.value(*o.Column, lit); err != nil {
			return err
		}
	} else {
		d, ok := c.number(lit)
		if !ok {
			return c.errAt(exprOff(lit), "cannot compare %s with %s: want a number", o.Name, construct(c.sql, lit))
		}
		cmp.Num = d
	}
	c.plan.Having = append(c.plan.Having, cmp)
	return nil
}

// orderItem compiles one key of ORDER BY.
func (c *compiler) orderItem(item *ast.ByItem) (Order, error) {
	e := unparen(item.Expr)
	if p, ok := e.(*ast.PositionExpr); ok {
		if p.P != nil || p.N < 1 || p.N > len(c.plan.Outputs) {
			return Order{}, c.errAt(lastWord(c.sql, "order", -1), "ORDER BY position %d: the select list has %d items", p.N, len(c.plan.Outputs))
		}
		return Order{Output: p.N - 1, Desc: item.Desc}, nil
	}
	i, err := c.outputRef(e, "ORDER BY")
	if err != nil {
		return Order{}, err
	}
	if i >= 0 {
		return Order{Output: i, Desc: item.Desc}, nil
	}
	// A grouping column that is not in the select list.
	col, _, err := c.resolve(e.(*ast.ColumnNameExpr), len(c.tables))
	if err != nil {
		return Order{}, err
	}
	for gi, g := range c.plan.GroupBy {
		if g == col {
			return Order{Output: -1, Group: gi, Desc: item.Desc}, nil
		}
	}
	return Order{}, c.errAt(exprOff(e), "cannot ORDER BY %s: it is not a grouping column (rows are released per group)", col)
}

// outputRef finds the select-list item that e names: an alias, a
// grouping column, or an aggregate written as in the select list. It
// returns -1 for a grouping column that is not in the select list.
func (c *compiler) outputRef(e ast.ExprNode, clause string) (int, error) {
	find := func(o Output) int {
		for i, p := range c.plan.Outputs {
			if p.Same(o) {
				return i
			}
		}
		return -1
	}
	notListed := func(what string) error {
		return c.errAt(exprOff(e), "%s uses %s, which is not in the select list: add it there (each aggregate costs privacy budget)", clause, what)
	}
	switch x := e.(type) {
	case *ast.ColumnNameExpr:
		name := x.Name.Name.L
		if x.Name.Table.L == "" && x.Name.Schema.L == "" {
			for i, o := range c.plan.Outputs {
				if o.Name != "" && equalFoldASCII(o.Name, name) && (o.Func != "" || !c.anyHas(name)) {
					return i, nil
				}
			}
		}
		col, _, err := c.resolve(x, len(c.tables))
		if err != nil {
			return 0, err
		}
		if i := find(Output{Column: &col}); i >= 0 {
			return i, nil
		}
		if containsColumn(c.plan.GroupBy, col) {
			return -1, nil
		}
		return 0, c.errAt(exprOff(e), "%s uses %s, which is neither grouped nor in the select list", clause, col)
	case *ast.AggregateFuncExpr:
		o, err := c.aggregate(x)
		if err != nil {
			return 0, err
		}
		if i := find(o); i >= 0 {
			return i, nil
		}
		return 0, notListed(o.Name)
	case *ast.FuncCallExpr:
		o, ok, err := c.funcAggregate(x)
		if ok {
			if err != nil {
				return 0, err
			}
			if i := find(o); i >= 0 {
				return i, nil
			}
			return 0, notListed(o.Name)
		}
	}
	return 0, c.errAt(exprOff(e), "unsupported %s in %s: name an item of the select list (its alias, its position or the aggregate as written)", construct(c.sql, e), clause)
}

// equalFoldASCII compares an alias as written with a lower-case name.
func equalFoldASCII(a, lower string) bool {
	if len(a) != len(lower) {
		return false
	}
	for i := 0; i < len(a); i++ {
		b := a[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != lower[i] {
			return false
		}
	}
	return true
}

// limitValue reads the count of LIMIT or OFFSET.
func (c *compiler) limitValue(e ast.ExprNode, what string) (int64, error) {
	off := exprOff(e)
	if off < 0 {
		off = lastWord(c.sql, "limit", -1)
	}
	v, ok := e.(ast.ValueExpr)
	if !ok {
		return 0, c.errAt(off, "unsupported %s in %s: write a number", construct(c.sql, e), what)
	}
	var n uint64
	switch x := v.GetValue().(type) {
	case int64:
		if x < 0 {
			return 0, c.errAt(off, "%s must not be negative", what)
		}
		n = uint64(x)
	case uint64:
		n = x
	default:
		return 0, c.errAt(off, "%s must be a whole number", what)
	}
	if n > MaxLimit || n > math.MaxInt64 {
		return 0, c.errAt(off, "%s %d is too large", what, n)
	}
	return int64(n), nil
}
