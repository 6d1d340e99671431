package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/pingcap/tidb/pkg/parser/test_driver"

	"github.com/xjdata/cleanroom/schema"
)

// compareOps maps the parser's comparison operators to ours. <=> (NULL-safe
// equality) is deliberately absent.
var compareOps = map[opcode.Op]Op{
	opcode.EQ: OpEQ,
	opcode.NE: OpNE,
	opcode.LT: OpLT,
	opcode.LE: OpLE,
	opcode.GT: OpGT,
	opcode.GE: OpGE,
}

// flip turns "literal op column" into "column flip[op] literal".
var flip = map[Op]Op{
	OpEQ: OpEQ,
	OpNE: OpNE,
	OpLT: OpGT,
	OpLE: OpGE,
	OpGT: OpLT,
	OpGE: OpLE,
}

// opText renders an operator as written in SQL, for example "OR" or "+".
func opText(op opcode.Op) string {
	if op < opcode.LogicAnd || op > opcode.IsFalsity {
		return "operator"
	}
	var b strings.Builder
	op.Format(&b)
	return strings.ToUpper(strings.TrimSpace(b.String()))
}

// identAt returns the identifier that starts at byte offset off of sql.
func identAt(sql string, off int) string {
	if off <= 0 || off >= len(sql) {
		return ""
	}
	end := off
	for end < len(sql) && isIdentByte(sql[end]) && sql[end] < 0x80 {
		end++
	}
	return sql[off:end]
}

// funcName returns the name of an aggregate as written, upper-case: the
// parser normalises some names (STD becomes stddev_pop).
func funcName(sql string, a *ast.AggregateFuncExpr) string {
	if n := identAt(sql, a.OriginTextPosition()); n != "" {
		return strings.ToUpper(n)
	}
	return strings.ToUpper(a.F)
}

// construct names the SQL construct e is, for error messages: "CASE
// expression", "function UPPER", "operator +", "IN list" and so on.
func construct(sql string, e ast.ExprNode) string {
	switch e := e.(type) {
	case *ast.ColumnNameExpr:
		return "column " + renderMsg(e)
	case *ast.AggregateFuncExpr:
		return "aggregate " + funcName(sql, e)
	case *ast.WindowFuncExpr:
		return "window function " + strings.ToUpper(e.Name) + "(...) OVER"
	case *ast.FuncCallExpr:
		switch e.FnName.L {
		case ast.DateLiteral:
			return "DATE literal"
		case ast.TimeLiteral:
			return "TIME literal"
		case ast.TimestampLiteral:
			return "TIMESTAMP literal"
		}
		name := strings.ToUpper(e.FnName.O)
		if strings.ContainsFunc(name, func(r rune) bool { return !(r == '_' || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) }) {
			name = strconv.Quote(name)
		}
		return "function " + name
	case *ast.FuncCastExpr:
		return "type conversion (CAST or CONVERT)"
	case *ast.CaseExpr:
		return "CASE expression"
	case *ast.SubqueryExpr:
		return "subquery"
	case *ast.ExistsSubqueryExpr:
		return "EXISTS subquery"
	case *ast.CompareSubqueryExpr:
		return "comparison with a subquery"
	case *ast.PatternInExpr:
		if e.Sel != nil {
			return "IN subquery"
		}
		return not(e.Not) + "IN list"
	case *ast.PatternLikeOrIlikeExpr:
		if e.IsLike {
			return not(e.Not) + "LIKE"
		}
		return not(e.Not) + "ILIKE"
	case *ast.PatternRegexpExpr:
		return not(e.Not) + "REGEXP"
	case *ast.BetweenExpr:
		return not(e.Not) + "BETWEEN"
	case *ast.IsNullExpr:
		if e.Not {
			return "IS NOT NULL"
		}
		return "IS NULL"
	case *ast.IsTruthExpr:
		is := "IS "
		if e.Not {
			is = "IS NOT "
		}
		if e.True != 0 {
			return is + "TRUE"
		}
		return is + "FALSE"
	case *ast.UnaryOperationExpr:
		switch e.Op {
		case opcode.Not, opcode.Not2:
			return "NOT"
		case opcode.Minus:
			return "unary minus"
		case opcode.Plus:
			return "unary plus"
		}
		return "operator " + opText(e.Op)
	case *ast.BinaryOperationExpr:
		switch e.Op {
		case opcode.LogicAnd, opcode.LogicOr, opcode.LogicXor:
			return opText(e.Op)
		case opcode.EQ, opcode.NE, opcode.LT, opcode.LE, opcode.GT, opcode.GE, opcode.NullEQ:
			return "comparison " + opText(e.Op)
		}
		return "operator " + opText(e.Op)
	case ast.ParamMarkerExpr:
		return "parameter marker ?"
	case ast.ValueExpr:
		return "literal " + literalText(e)
	case *ast.VariableExpr:
		if e.IsSystem {
			return "variable @@" + e.Name
		}
		return "variable @" + e.Name
	case *ast.RowExpr:
		return "row constructor"
	case *ast.DefaultExpr:
		return "DEFAULT"
	case *ast.ValuesExpr:
		return "VALUES()"
	case *ast.MatchAgainst:
		return "MATCH ... AGAINST"
	case *ast.SetCollationExpr:
		return "COLLATE"
	case *ast.PositionExpr:
		return "position"
	case *ast.MaxValueExpr:
		return "MAXVALUE"
	case *ast.ParenthesesExpr:
		return construct(sql, unparen(e))
	}
	return "expression"
}

func not(b bool) string {
	if b {
		return "NOT "
	}
	return ""
}

// literalText renders a literal for messages.
func literalText(v ast.ValueExpr) string {
	switch x := v.GetValue().(type) {
	case nil:
		return "NULL"
	case int64:
		if isBool(v) {
			if x != 0 {
				return "TRUE"
			}
			return "FALSE"
		}
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case string:
		return quote(x)
	case fmt.Stringer:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return "value"
}

// quote renders s as an SQL string literal, shortened for messages.
func quote(s string) string {
	return "'" + strings.ReplaceAll(clip(s, 64), "'", "''") + "'"
}

func isBool(v ast.ValueExpr) bool {
	tp := v.GetType()
	return tp != nil && mysql.HasIsBooleanFlag(tp.GetFlag())
}

// value converts the literal e, compared with col, into col's Vector form.
// Declared bounds are not applied: a filter outside them simply matches
// nothing (or everything).
func (c *compiler) value(col Column, e ast.ExprNode) (Value, error) {
	off := exprOff(e)
	mismatch := func(what string) error {
		return c.errAt(off, "cannot compare %s (%s) with %s", col, col.Type, what)
	}

	// Signs: -5, - -5, +5.
	neg, signed := false, false
	for {
		u, ok := unparen(e).(*ast.UnaryOperationExpr)
		if !ok || (u.Op != opcode.Minus && u.Op != opcode.Plus) {
			break
		}
		signed = true
		if u.Op == opcode.Minus {
			neg = !neg
		}
		e = u.V
	}
	e = unparen(e)

	if f, ok := e.(*ast.FuncCallExpr); ok && f.FnName.L == ast.DateLiteral && len(f.Args) == 1 && !signed {
		v, ok := f.Args[0].(ast.ValueExpr)
		s, isStr := "", false
		if ok {
			s, isStr = v.GetValue().(string)
		}
		if !isStr {
			return Value{}, mismatch("DATE literal")
		}
		if col.Type != schema.Date {
			return Value{}, mismatch("DATE " + quote(s))
		}
		return c.date(col, s, off)
	}
	if _, ok := e.(ast.ParamMarkerExpr); ok {
		return Value{}, c.errAt(off, "unsupported parameter marker ? in comparison with %s: write the literal", col)
	}
	v, ok := e.(ast.ValueExpr)
	if !ok {
		return Value{}, c.errAt(exprOff(e), "unsupported %s in comparison with %s: compare with a literal", construct(c.sql, e), col)
	}

	sign := ""
	if neg {
		sign = "-"
	}
	switch x := v.GetValue().(type) {
	case nil:
		return Value{}, c.errAt(off, "unsupported comparison of %s with NULL (never true)", col)
	case int64, uint64:
		var mag uint64
		if i, ok := x.(int64); ok {
			mag = uint64(i) // the parser makes only non-negative literals
		} else {
			mag = x.(uint64)
		}
		text := sign + strconv.FormatUint(mag, 10)
		if isBool(v) {
			if signed {
				return Value{}, mismatch(sign + literalText(v))
			}
			if col.Type != schema.Bool {
				return Value{}, mismatch("boolean " + literalText(v))
			}
			return Value{Int: int64(mag)}, nil
		}
		switch col.Type {
		case schema.Int:
			switch {
			case !neg && mag <= math.MaxInt64:
				return Value{Int: int64(mag)}, nil
			case neg && mag <= 1<<63:
				return Value{Int: int64(-mag)}, nil // wraps to MinInt64 for 1<<63
			}
			return Value{}, c.errAt(off, "integer %s compared with %s is out of the int64 range", text, col)
		case schema.Bool:
			if !signed && mag <= 1 {
				return Value{Int: int64(mag)}, nil
			}
			return Value{}, mismatch("integer " + text + " (want TRUE, FALSE, 1 or 0)")
		}
		return Value{}, mismatch("integer " + text)
	case string:
		if signed {
			return Value{}, mismatch(sign + quote(x))
		}
		switch col.Type {
		case schema.String:
			if !utf8.ValidString(x) {
				return Value{}, c.errAt(off, "cannot compare %s (%s) with a string that is not valid UTF-8", col, col.Type)
			}
			return Value{Str: x}, nil
		case schema.Date:
			return c.date(col, x, off)
		}
		return Value{}, mismatch("string " + quote(x))
	case *test_driver.MyDecimal:
		text := sign + x.String()
		if !strings.ContainsAny(text, ".eE") {
			// An integer too long for int64: the lexer makes it a decimal.
			if col.Type == schema.Int {
				return Value{}, c.errAt(off, "integer %s compared with %s is out of the int64 range", text, col)
			}
			return Value{}, mismatch("integer " + text)
		}
		return Value{}, mismatch("decimal number " + text)
	case float32, float64:
		return Value{}, mismatch("floating-point number " + sign + literalText(v))
	case test_driver.BinaryLiteral:
		return Value{}, mismatch("hexadecimal or bit literal " + x.String())
	case []byte:
		return Value{}, mismatch("binary string")
	}
	return Value{}, mismatch("literal " + sign + literalText(v))
}

// isLiteral reports whether e is a literal, possibly signed.
func isLiteral(e ast.ExprNode) bool {
	for {
		switch x := unparen(e).(type) {
		case *ast.UnaryOperationExpr:
			if x.Op != opcode.Minus && x.Op != opcode.Plus {
				return false
			}
			e = x.V
		case *ast.FuncCallExpr:
			return x.FnName.L == ast.DateLiteral
		case ast.ParamMarkerExpr:
			return false
		case ast.ValueExpr:
			return true
		default:
			return false
		}
	}
}

// date converts a date literal compared with the date column col.
func (c *compiler) date(col Column, s string, off int) (Value, error) {
	d, ok := schema.ParseDate(s)
	if !ok {
		return Value{}, c.errAt(off, "cannot compare %s (%s) with %s: not a date (want 'YYYY-MM-DD')", col, col.Type, quote(s))
	}
	return Value{Int: d}, nil
}
