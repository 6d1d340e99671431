package query

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/xjdata/cleanroom/schema"
)

// Select applies the plan's post-processing (HAVING, ORDER BY, OFFSET and
// LIMIT) to released rows, each rendered as executors render them (one
// text per output: aggregates as decimal numbers, grouping values as
// schema.FormatValue, an empty text for a value that is withheld), in
// their default order, and groups[i], row i's grouping values rendered the
// same way in GroupBy order (needed only to sort by a grouping column that
// is not output). It returns the indices of the rows kept, in their new
// order. It reads only the released values, so it costs no privacy
// budget, and both execution modes give the same answer for the same
// rows. A withheld value satisfies no comparison and sorts first in
// ascending order, as NULL does in MySQL.
func (p *Plan) Select(rows, groups [][]string) ([]int, error) {
	keep := make([]int, 0, len(rows))
	for i, r := range rows {
		if len(r) != len(p.Outputs) {
			return nil, fmt.Errorf("query: row %d has %d values for %d outputs", i, len(r), len(p.Outputs))
		}
		ok := true
		for _, h := range p.Having {
			holds, err := p.holds(h, r[h.Output])
			if err != nil {
				return nil, err
			}
			if !holds {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, i)
		}
	}
	if len(p.OrderBy) > 0 {
		var err error
		slices.SortStableFunc(keep, func(a, b int) int {
			for _, o := range p.OrderBy {
				c, e := p.compareRows(o, rows, groups, a, b)
				if e != nil && err == nil {
					err = e
				}
				if o.Desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
		if err != nil {
			return nil, err
		}
	}
	off := min(p.Offset, int64(len(keep)))
	keep = keep[off:]
	if p.Limit != nil && *p.Limit < int64(len(keep)) {
		keep = keep[:*p.Limit]
	}
	return keep, nil
}

// holds reports whether comparison h holds for the released text v.
func (p *Plan) holds(h Cmp, v string) (bool, error) {
	if v == "" {
		return false, nil // withheld: NULL compares as unknown
	}
	o := p.Outputs[h.Output]
	var c int
	if o.Func != "" {
		d, err := ParseDecimal(v)
		if err != nil {
			return false, fmt.Errorf("query: released value %q of %s: %w", v, o.Name, err)
		}
		c = d.Cmp(h.Num)
	} else {
		x, err := groupValue(o.Column.Type, v)
		if err != nil {
			return false, fmt.Errorf("query: released value %q of %s: %w", v, o.Name, err)
		}
		c = compareValues(o.Column.Type, x, h.Value)
	}
	switch h.Op {
	case OpEQ:
		return c == 0, nil
	case OpNE:
		return c != 0, nil
	case OpLT:
		return c < 0, nil
	case OpLE:
		return c <= 0, nil
	case OpGT:
		return c > 0, nil
	case OpGE:
		return c >= 0, nil
	}
	return false, fmt.Errorf("query: unknown operator %q in HAVING", h.Op)
}

// compareRows orders rows i and j by one ORDER BY key, ascending.
func (p *Plan) compareRows(o Order, rows, groups [][]string, i, j int) (int, error) {
	var typ schema.Type
	var x, y string
	numeric := false
	if o.Output >= 0 {
		out := p.Outputs[o.Output]
		x, y = rows[i][o.Output], rows[j][o.Output]
		if out.Func != "" {
			numeric = true
		} else {
			typ = out.Column.Type
		}
	} else {
		if i >= len(groups) || j >= len(groups) || o.Group >= len(groups[i]) || o.Group >= len(groups[j]) {
			return 0, fmt.Errorf("query: no grouping values to order rows by %s", p.GroupBy[o.Group])
		}
		x, y, typ = groups[i][o.Group], groups[j][o.Group], p.GroupBy[o.Group].Type
	}
	switch {
	case x == "" || y == "":
		return cmpBool(x != "", y != ""), nil
	case numeric:
		dx, err1 := ParseDecimal(x)
		dy, err2 := ParseDecimal(y)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("query: released values %q and %q are not numbers", x, y)
		}
		return dx.Cmp(dy), nil
	}
	vx, err1 := groupValue(typ, x)
	vy, err2 := groupValue(typ, y)
	if err1 != nil || err2 != nil {
		return strings.Compare(x, y), nil
	}
	return compareValues(typ, vx, vy), nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// groupValue parses a rendered grouping value back into its Vector form.
func groupValue(t schema.Type, s string) (Value, error) {
	switch t {
	case schema.String:
		return Value{Str: s}, nil
	case schema.Bool:
		switch s {
		case "true":
			return Value{Int: 1}, nil
		case "false":
			return Value{Int: 0}, nil
		}
		return Value{}, fmt.Errorf("%q is not a bool", s)
	case schema.Date:
		d, ok := schema.ParseDate(s)
		if !ok {
			return Value{}, fmt.Errorf("%q is not a date", s)
		}
		return Value{Int: d}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return Value{Int: n}, err
}

// compareValues compares two values of a column of type t.
func compareValues(t schema.Type, a, b Value) int {
	if t == schema.String {
		return strings.Compare(a.Str, b.Str)
	}
	switch {
	case a.Int < b.Int:
		return -1
	case a.Int > b.Int:
		return 1
	}
	return 0
}
