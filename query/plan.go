package query

import (
	"fmt"
	"strings"

	"github.com/xjdata/cleanroom/schema"
)

// Plan is a compiled, schema-checked query: a plain value that any executor
// (the sealed enclave, the HE engine, or a distributed runner) can run.
//
// The shape it describes is fixed: Tables[0] is scanned, Tables[i+1] is
// joined to the tables before it by the inner equi-join Joins[i], rows are
// kept when every filter holds (filters are AND-ed), grouped by GroupBy, and
// each Output is either a grouping column or an aggregate of the group.
//
// A Plan can describe queries that policy must refuse, such as row-level
// output (Star, or an Output that is a column outside GROUP BY): Compile
// keeps them so that the refusal can be decided, explained and logged by
// the policy engine rather than lost as a syntax error.
type Plan struct {
	// SQL is the query text as given.
	SQL     string   `json:"sql"`
	Tables  []Table  `json:"tables"`
	Joins   []Join   `json:"joins,omitempty"`
	Filters []Filter `json:"filters,omitempty"`
	GroupBy []Column `json:"group_by,omitempty"`
	Outputs []Output `json:"outputs"`
	// Star is set when the select list contains * or t.*: row-level output.
	Star bool `json:"star,omitempty"`

	// Post-processing of the released rows, which costs no privacy
	// budget: Having keeps the rows where every comparison holds (on the
	// released, noisy values), OrderBy sorts them (after the default
	// order, by grouping values), and Offset and Limit keep a window of
	// them (Limit nil: all).
	Having  []Cmp   `json:"having,omitempty"`
	OrderBy []Order `json:"order_by,omitempty"`
	Limit   *int64  `json:"limit,omitempty"`
	Offset  int64   `json:"offset,omitempty"`
}

// Cmp compares a released value of one output with a literal, in HAVING.
type Cmp struct {
	// Output is the index in Outputs of the value compared.
	Output int `json:"output"`
	Op     Op  `json:"op"`
	// Num is the literal for an aggregate; Value, in the Vector form of
	// its column's type, for a grouping column.
	Num   Decimal `json:"num"`
	Value Value   `json:"value"`
}

// Order is one key of ORDER BY: an output, or a grouping column that is
// not in the select list.
type Order struct {
	// Output is the index in Outputs, or -1 when Group is used.
	Output int `json:"output"`
	// Group is the index in GroupBy when Output is -1.
	Group int  `json:"group,omitempty"`
	Desc  bool `json:"desc,omitempty"`
}

// Table is one dataset the query reads.
type Table struct {
	Name  string `json:"name"`            // dataset name
	Alias string `json:"alias,omitempty"` // alias used in the SQL, if any
}

// Column is a resolved column reference.
type Column struct {
	Table string      `json:"table"` // dataset name, never an alias
	Name  string      `json:"name"`
	Type  schema.Type `json:"type"`
}

// String returns "table.column".
func (c Column) String() string { return c.Table + "." + c.Name }

// Join is an inner equi-join: Right belongs to the table being joined
// (Tables[i+1] for Joins[i]), Left to one of the tables before it.
type Join struct {
	Left  Column `json:"left"`
	Right Column `json:"right"`
}

// Op is a comparison operator.
type Op string

// The comparison operators.
const (
	OpEQ Op = "="
	OpNE Op = "<>"
	OpLT Op = "<"
	OpLE Op = "<="
	OpGT Op = ">"
	OpGE Op = ">="
)

// Filter compares a column with a literal. Value is already converted to
// the column's type (see schema's Vector forms): for string columns Value.Str
// holds the literal, for all others Value.Int does.
type Filter struct {
	Column Column `json:"column"`
	Op     Op     `json:"op"`
	Value  Value  `json:"value"`
}

// Value is a literal in the Vector form of its column's type.
type Value struct {
	Int int64  `json:"int,omitempty"`
	Str string `json:"str,omitempty"`
}

// Func is an aggregate function.
type Func string

// The aggregate functions. MIN, MAX, MEDIAN and PERCENTILE are
// differentially private quantiles (MIN the 0th percentile, MAX the 100th,
// MEDIAN the 50th); STDDEV and VARIANCE are the population standard
// deviation and variance.
const (
	Count         Func = "COUNT"
	CountDistinct Func = "COUNT_DISTINCT" // COUNT(DISTINCT column)
	Sum           Func = "SUM"
	Avg           Func = "AVG"
	Min           Func = "MIN"
	Max           Func = "MAX"
	Median        Func = "MEDIAN"
	Percentile    Func = "PERCENTILE"
	Stddev        Func = "STDDEV"
	Variance      Func = "VARIANCE"
)

// Funcs lists the aggregate functions, in the order letters name them.
var Funcs = []Func{Count, CountDistinct, Sum, Avg, Min, Max, Median, Percentile, Stddev, Variance}

// Quantile reports whether f is a quantile (MIN, MAX, MEDIAN or
// PERCENTILE), and its rank for the fixed ones.
func (f Func) Quantile() bool {
	return f == Min || f == Max || f == Median || f == Percentile
}

// Output is one item of the select list.
type Output struct {
	// Name is the alias given with AS, or else the item as written,
	// normalised (for example "AVG(l.amount)").
	Name string `json:"name"`
	// Func is the aggregate, or empty for a plain column.
	Func Func `json:"func,omitempty"`
	// Column is the column read when it is a plain column; nil for
	// COUNT(*) and when Arg is set.
	Column *Column `json:"column,omitempty"`
	// Arg is the aggregate's argument when it is an expression (arithmetic
	// or CASE) rather than a plain column.
	Arg *Expr `json:"arg,omitempty"`
	// Rank is the quantile a PERCENTILE asks for, in [0, 1]; MIN, MAX and
	// MEDIAN have 0, 1 and 0.5 (see RankOf).
	Rank float64 `json:"rank,omitempty"`
}

// RankOf returns the quantile rank of a quantile aggregate.
func (o Output) RankOf() float64 {
	switch o.Func {
	case Min:
		return 0
	case Max:
		return 1
	case Median:
		return 0.5
	}
	return o.Rank
}

// ArgExpr returns the aggregate's argument as an expression: Arg, or a
// column expression for a plain column, or nil for COUNT(*).
func (o Output) ArgExpr() *Expr {
	if o.Arg != nil {
		return o.Arg
	}
	if o.Column != nil {
		return &Expr{Kind: ExprColumn, Column: o.Column}
	}
	return nil
}

// Same reports whether o and p compute the same value (their names
// aside).
func (o Output) Same(p Output) bool {
	if o.Func != p.Func || o.Rank != p.Rank || (o.Column == nil) != (p.Column == nil) {
		return false
	}
	if o.Column != nil && *o.Column != *p.Column {
		return false
	}
	return equalExpr(o.Arg, p.Arg)
}

// Grouped reports whether a plain-column output is one of the plan's
// grouping columns. Aggregates always report false.
func (p *Plan) Grouped(o Output) bool {
	if o.Func != "" || o.Column == nil {
		return false
	}
	for _, g := range p.GroupBy {
		if g.Table == o.Column.Table && g.Name == o.Column.Name {
			return true
		}
	}
	return false
}

// Use says how a query uses a column.
type Use string

// The column uses.
const (
	UseJoinKey   Use = "join-key"
	UseGroupBy   Use = "group-by"
	UseFilter    Use = "filter"
	UseAggregate Use = "aggregate"
	// UseOutput is a column output row by row: a plain column in the select
	// list that is not a grouping column.
	UseOutput Use = "output"
)

// ColumnUse is one use of one column. Func is set for UseAggregate.
type ColumnUse struct {
	Column Column `json:"column"`
	Use    Use    `json:"use"`
	Func   Func   `json:"func,omitempty"`
}

// String renders the use for messages, for example "loans.amount (SUM)".
func (u ColumnUse) String() string {
	if u.Func != "" {
		return fmt.Sprintf("%s (%s)", u.Column, u.Func)
	}
	return fmt.Sprintf("%s (%s)", u.Column, u.Use)
}

// Uses lists every use of every column in the plan, in a stable order:
// joins, filters, groups, then outputs. A column used twice the same way is
// listed once.
func (p *Plan) Uses() []ColumnUse {
	var out []ColumnUse
	seen := make(map[ColumnUse]bool)
	add := func(u ColumnUse) {
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	for _, j := range p.Joins {
		add(ColumnUse{Column: j.Left, Use: UseJoinKey})
		add(ColumnUse{Column: j.Right, Use: UseJoinKey})
	}
	for _, f := range p.Filters {
		add(ColumnUse{Column: f.Column, Use: UseFilter})
	}
	for _, g := range p.GroupBy {
		add(ColumnUse{Column: g, Use: UseGroupBy})
	}
	for _, o := range p.Outputs {
		switch {
		case o.Func != "" && o.Column != nil:
			add(ColumnUse{Column: *o.Column, Use: UseAggregate, Func: o.Func})
		case o.Func != "" && o.Arg != nil:
			// A derived value needs every column it is computed from to
			// allow the aggregate (the strictest rule wins), and every
			// column its conditions compare to allow filtering.
			o.Arg.Walk(func(c Column) {
				add(ColumnUse{Column: c, Use: UseAggregate, Func: o.Func})
			}, func(c Column) {
				add(ColumnUse{Column: c, Use: UseFilter})
			})
		case o.Func == "" && !p.Grouped(o):
			add(ColumnUse{Column: *o.Column, Use: UseOutput})
		}
	}
	return out
}

// Aggregates returns how many aggregates the select list has.
func (p *Plan) Aggregates() int {
	n := 0
	for _, o := range p.Outputs {
		if o.Func != "" {
			n++
		}
	}
	return n
}

// TableNames returns the names of the datasets the plan reads, in order.
func (p *Plan) TableNames() []string {
	names := make([]string, len(p.Tables))
	for i, t := range p.Tables {
		names[i] = t.Name
	}
	return names
}

// RowLevel reports whether the plan would output individual rows, and if so
// describes how, for example "SELECT *" or "column loans.borrower_name
// outside GROUP BY".
func (p *Plan) RowLevel() (string, bool) {
	if p.Star {
		return "SELECT *", true
	}
	var cols []string
	for _, o := range p.Outputs {
		if o.Func == "" && !p.Grouped(o) {
			cols = append(cols, o.Column.String())
		}
	}
	if len(cols) > 0 {
		return "column " + strings.Join(cols, ", ") + " outside GROUP BY", true
	}
	return "", false
}
