package query

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"

	"github.com/xjdata/cleanroom/schema"
)

// MaxSQLBytes is the longest query text Compile accepts, in bytes.
const MaxSQLBytes = 64 << 10

// Catalog looks up a dataset's schema by name. Names are passed lower-case
// and are valid schema names (see schema.ValidName); Compile never asks for
// anything else. Implementations used by concurrent Compile calls must be
// safe for concurrent use.
type Catalog interface {
	// Schema returns the schema of the named dataset and whether the
	// dataset exists.
	Schema(dataset string) (*schema.Schema, bool)
}

// CatalogFunc adapts a function to the Catalog interface.
type CatalogFunc func(dataset string) (*schema.Schema, bool)

// Schema calls f(dataset).
func (f CatalogFunc) Schema(dataset string) (*schema.Schema, bool) { return f(dataset) }

// parsers holds TiDB parsers for reuse: a parser is not safe for concurrent
// use and costs some allocation to create.
var parsers = sync.Pool{New: func() any { return parser.New() }}

// Compile parses sql, which must be a single SELECT in the subset described
// in the package documentation, and resolves it against cat into a Plan.
//
// Every error is an *Error with the position of the problem where known.
// Compile does not judge whether the query is allowed: a plan that outputs
// rows (Plan.RowLevel) is returned for the policy engine to refuse.
//
// Compile is safe for concurrent use if cat is.
func Compile(sql string, cat Catalog) (plan *Plan, err error) {
	if len(sql) > MaxSQLBytes {
		return nil, &Error{Msg: fmt.Sprintf("query of %d bytes is longer than the limit of %d bytes", len(sql), MaxSQLBytes)}
	}
	if !utf8.ValidString(sql) {
		off := 0
		for off < len(sql) {
			r, size := utf8.DecodeRuneInString(sql[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return nil, errorAt(sql, off, "query is not valid UTF-8")
	}
	if cat == nil {
		return nil, &Error{Msg: "no catalog to resolve datasets against"}
	}
	defer func() {
		// Last line of defence: a bug here or in the parser must not take
		// the node down, nor leak a stack trace to the client.
		if r := recover(); r != nil {
			plan, err = nil, &Error{Msg: fmt.Sprintf("internal error compiling the query (please report it): %v", r)}
		}
	}()

	p := parsers.Get().(*parser.Parser)
	stmts, _, perr := p.ParseSQL(sql)
	if perr != nil {
		parsers.Put(p)
		return nil, syntaxError(sql, perr)
	}
	c := &compiler{sql: sql, cat: cat, plan: &Plan{SQL: sql}}
	err = c.statements(stmts)
	// The statements share memory with the parser: put it back only when
	// done with them, and only if it did not panic (deferred recover).
	parsers.Put(p)
	if err != nil {
		return nil, err
	}
	return c.plan, nil
}

// compiler holds the state of one Compile call.
type compiler struct {
	sql    string
	cat    Catalog
	plan   *Plan
	tables []table
	// fieldsEnd is the byte offset just past the select list, or 0.
	fieldsEnd int
	// aliases maps a select alias (lower-case) to its output.
	aliases map[string]Output
}

// table is a dataset of the FROM clause.
type table struct {
	name   string // dataset name
	alias  string // alias, lower-case, or ""
	schema *schema.Schema
	off    int // offset of the name in the SQL, or -1
	end    int // offset just past the name or alias in the SQL, or -1
}

// ref is the name the query refers to the table by.
func (t *table) ref() string {
	if t.alias != "" {
		return t.alias
	}
	return t.name
}

func (c *compiler) errAt(off int, format string, args ...any) *Error {
	return errorAt(c.sql, off, format, args...)
}

// exprOff returns the offset of e in the SQL, or -1 when unknown. No
// expression can start at offset 0, where the statement's keyword is.
func exprOff(e ast.ExprNode) int {
	if e == nil {
		return -1
	}
	if off := e.OriginTextPosition(); off > 0 {
		return off
	}
	return -1
}

func (c *compiler) statements(stmts []ast.StmtNode) error {
	switch len(stmts) {
	case 0:
		return &Error{Msg: "empty query: want one SELECT statement"}
	case 1:
	default:
		// Point at the second statement: find the first one's text, then
		// the second's after it.
		off := -1
		t0, t1 := strings.TrimSpace(stmts[0].Text()), strings.TrimSpace(stmts[1].Text())
		if i := strings.Index(c.sql, t0); i >= 0 && t0 != "" && t1 != "" {
			if j := strings.Index(c.sql[i+len(t0):], t1); j >= 0 {
				off = i + len(t0) + j
			}
		}
		return c.errAt(off, "%d statements: want exactly one SELECT statement", len(stmts))
	}
	switch s := stmts[0].(type) {
	case *ast.SelectStmt:
		return c.selectStmt(s)
	case *ast.SetOprStmt:
		return c.setOpr(s)
	default:
		word := strings.ToUpper(firstToken(stmts[0].Text()))
		if word == "" {
			word = strings.TrimPrefix(fmt.Sprintf("%T", s), "*ast.")
		}
		return c.errAt(c.leadingOff(), "unsupported statement %s: only SELECT is supported", word)
	}
}

// leadingOff returns the offset of the first token of the SQL.
func (c *compiler) leadingOff() int {
	for i := 0; i < len(c.sql); i++ {
		if isIdentByte(c.sql[i]) {
			return i
		}
	}
	return -1
}

// firstToken returns the leading identifier-like word of s.
func firstToken(s string) string {
	s = strings.TrimLeft(s, " \t\r\n(")
	i := 0
	for i < len(s) && isIdentByte(s[i]) && s[i] < 0x80 {
		i++
	}
	return s[:i]
}

func (c *compiler) setOpr(s *ast.SetOprStmt) error {
	if s.With != nil {
		return c.errAt(firstWord(c.sql, "with", 0), "unsupported WITH (common table expressions)")
	}
	op := "UNION"
	if s.SelectList != nil {
		for _, n := range s.SelectList.Selects {
			var t *ast.SetOprType
			switch n := n.(type) {
			case *ast.SelectStmt:
				t = n.AfterSetOperator
			case *ast.SetOprSelectList:
				t = n.AfterSetOperator
			}
			if t != nil {
				op = t.String()
				break
			}
		}
	}
	word, _, _ := strings.Cut(op, " ")
	return c.errAt(firstWord(c.sql, word, 0), "unsupported %s: only a single SELECT is supported", op)
}

// selectStmt compiles a SELECT: clauses outside the subset first, then FROM,
// the select list, WHERE and GROUP BY.
func (c *compiler) selectStmt(s *ast.SelectStmt) error {
	switch s.Kind {
	case ast.SelectStmtKindSelect:
	case ast.SelectStmtKindTable:
		return c.errAt(c.leadingOff(), "unsupported TABLE statement: only SELECT is supported")
	case ast.SelectStmtKindValues:
		return c.errAt(c.leadingOff(), "unsupported VALUES statement: only SELECT is supported")
	default:
		return c.errAt(c.leadingOff(), "unsupported statement: only SELECT is supported")
	}
	if s.With != nil {
		return c.errAt(firstWord(c.sql, "with", 0), "unsupported WITH (common table expressions)")
	}
	if s.Fields == nil || len(s.Fields.Fields) == 0 {
		return c.errAt(c.leadingOff(), "empty select list")
	}
	if last := s.Fields.Fields[len(s.Fields.Fields)-1]; last.Offset > 0 {
		c.fieldsEnd = last.Offset + len(last.Text())
	}
	if err := c.options(s); err != nil {
		return err
	}
	if err := c.clauses(s); err != nil {
		return err
	}
	if s.From == nil || s.From.TableRefs == nil {
		return c.errAt(-1, "missing FROM clause: a query reads at least one dataset")
	}
	if err := c.from(s.From.TableRefs); err != nil {
		return err
	}
	if err := c.fields(s.Fields.Fields); err != nil {
		return err
	}
	if s.Where != nil {
		if err := c.where(s.Where); err != nil {
			return err
		}
	}
	if s.GroupBy != nil {
		if err := c.groupBy(s.GroupBy); err != nil {
			return err
		}
	}
	return c.post(s)
}

// options rejects SELECT modifiers: everything but ALL.
func (c *compiler) options(s *ast.SelectStmt) error {
	o := s.SelectStmtOpts
	firstField := -1
	if f := s.Fields.Fields[0]; f.Offset > 0 {
		firstField = f.Offset
	}
	mod := func(word string) error {
		return c.errAt(lastWord(c.sql, word, firstField), "unsupported %s", strings.ToUpper(word))
	}
	if s.Distinct || (o != nil && o.Distinct) {
		off := lastWord(c.sql, "distinct", firstField)
		if off < 0 {
			off = lastWord(c.sql, "distinctrow", firstField)
		}
		return c.errAt(off, "unsupported DISTINCT")
	}
	if o == nil {
		return nil
	}
	switch {
	case len(o.TableHints) > 0 || len(s.TableHints) > 0:
		off := strings.Index(c.sql, "/*+")
		return c.errAt(off, "unsupported optimizer hint /*+ ... */")
	case o.Priority != mysql.NoPriority:
		word, ok := mysql.Priority2Str[o.Priority]
		if !ok {
			word = "priority"
		}
		return mod(strings.ToLower(word))
	case o.SQLSmallResult:
		return mod("sql_small_result")
	case o.SQLBigResult:
		return mod("sql_big_result")
	case o.SQLBufferResult:
		return mod("sql_buffer_result")
	case !o.SQLCache:
		return mod("sql_no_cache")
	case o.CalcFoundRows:
		return mod("sql_calc_found_rows")
	case o.StraightJoin:
		return mod("straight_join")
	}
	return nil
}

// clauses rejects clauses outside the subset, each by name.
func (c *compiler) clauses(s *ast.SelectStmt) error {
	if s.SelectIntoOpt != nil {
		return c.errAt(firstWord(c.sql, "into", c.fieldsEnd), "unsupported INTO")
	}
	if s.GroupBy != nil && s.GroupBy.Rollup {
		return c.errAt(firstWord(c.sql, "rollup", c.fieldsEnd), "unsupported WITH ROLLUP")
	}
	if len(s.WindowSpecs) > 0 {
		return c.errAt(firstWord(c.sql, "window", c.fieldsEnd), "unsupported WINDOW clause")
	}
	if s.LockInfo != nil && s.LockInfo.LockType != ast.SelectLockNone {
		if off := lastWord(c.sql, "lock", -1); off >= c.fieldsEnd && off > lastWord(c.sql, "for", -1) {
			return c.errAt(off, "unsupported LOCK IN SHARE MODE (row locking)")
		}
		return c.errAt(lastWord(c.sql, "for", -1), "unsupported %s (row locking)", strings.ToUpper(s.LockInfo.LockType.String()))
	}
	return nil
}

// from flattens the FROM clause into Tables and Joins. Only a left-deep
// chain of inner joins, each with ON and a single equality, is accepted.
func (c *compiler) from(j *ast.Join) error {
	if j.Right == nil {
		return c.fromItem(j.Left)
	}
	if err := c.fromItem(j.Left); err != nil {
		return err
	}
	right, ok := j.Right.(*ast.TableSource)
	if !ok {
		return c.nested(j.Right)
	}
	// Check the kind of join before the joined table, so that the message
	// is about the join.
	prevEnd := max(c.fromEnd(), c.fieldsEnd, 0)
	name, off := "t", -1
	if tn, ok := right.Source.(*ast.TableName); ok {
		name = ident(tn.Name.L)
		off = firstWord(c.sql, tn.Name.L, prevEnd)
	}
	kw := func(word string) int { return firstWord(c.sql, word, prevEnd) }
	switch {
	case j.NaturalJoin:
		return c.errAt(kw("natural"), "unsupported NATURAL JOIN: write JOIN ... ON a.x = b.y")
	case j.StraightJoin:
		return c.errAt(kw("straight_join"), "unsupported STRAIGHT_JOIN: write JOIN ... ON a.x = b.y")
	case j.Tp == ast.LeftJoin:
		return c.errAt(kw("left"), "unsupported LEFT JOIN: only inner joins (JOIN ... ON) are supported")
	case j.Tp == ast.RightJoin:
		return c.errAt(kw("right"), "unsupported RIGHT JOIN: only inner joins (JOIN ... ON) are supported")
	case len(j.Using) > 0:
		return c.errAt(kw("using"), "unsupported JOIN ... USING: write JOIN ... ON a.x = b.y")
	case j.On == nil:
		between := ""
		if off > prevEnd {
			between = strings.ToLower(c.sql[prevEnd:off])
		}
		var what string
		switch {
		case strings.Contains(between, ","):
			what = "comma join (implicit cross join)"
		case strings.Contains(between, "cross"):
			what = "CROSS JOIN"
		case between != "":
			what = "JOIN without ON"
		default:
			what = "join without ON (comma, CROSS JOIN or JOIN without ON)"
		}
		return c.errAt(off, "unsupported %s: write JOIN %s ON a.x = b.y", what, name)
	}
	if err := c.addTable(right); err != nil {
		return err
	}
	return c.join(j.On.Expr)
}

// fromEnd returns the offset just past the last located table name, or -1.
func (c *compiler) fromEnd() int {
	if len(c.tables) == 0 {
		return -1
	}
	return c.tables[len(c.tables)-1].end
}

func (c *compiler) fromItem(n ast.ResultSetNode) error {
	switch n := n.(type) {
	case *ast.Join:
		return c.from(n)
	case *ast.TableSource:
		return c.addTable(n)
	}
	return c.errAt(-1, "unsupported FROM item")
}

// addTable resolves a table of the FROM clause against the catalog.
func (c *compiler) addTable(ts *ast.TableSource) error {
	switch src := ts.Source.(type) {
	case *ast.TableName:
		return c.addTableName(ts, src)
	case *ast.SelectStmt, *ast.SetOprStmt:
		return c.errAt(firstWord(c.sql, "select", c.fieldsEnd), "unsupported subquery in FROM")
	case *ast.Join:
		return c.nested(src)
	}
	return c.errAt(-1, "unsupported FROM item")
}

// nested rejects a join nested on the right of another, pointing at its
// first table.
func (c *compiler) nested(n ast.ResultSetNode) error {
	for {
		j, ok := n.(*ast.Join)
		if !ok {
			break
		}
		n = j.Left
	}
	off := -1
	if ts, ok := n.(*ast.TableSource); ok {
		if tn, ok := ts.Source.(*ast.TableName); ok {
			from := max(c.fromEnd(), c.fieldsEnd, 0)
			if off = firstWord(c.sql, tn.Name.L, from); off >= 0 {
				if p := strings.LastIndexByte(c.sql[from:off], '('); p >= 0 {
					off = from + p
				}
			}
		}
	}
	return c.errAt(off, "unsupported nested join in parentheses: write a chain t1 JOIN t2 ON ... JOIN t3 ON ...")
}

func (c *compiler) addTableName(ts *ast.TableSource, tn *ast.TableName) error {
	name := tn.Name.L
	// Locate the name after the previous table (or the select list).
	from := c.fieldsEnd
	if e := c.fromEnd(); e >= 0 {
		from = e
	}
	off := -1
	if tn.Schema.L != "" {
		off = firstWord(c.sql, tn.Schema.L, from)
		return c.errAt(off, "unsupported schema-qualified table %s.%s: name the dataset alone", ident(tn.Schema.L), ident(name))
	}
	off = firstWord(c.sql, name, from)
	switch {
	case ts.Lateral:
		return c.errAt(off, "unsupported LATERAL")
	case len(ts.ColumnNames) > 0:
		return c.errAt(off, "unsupported column alias list on %s", ident(name))
	case len(tn.IndexHints) > 0:
		return c.errAt(off, "unsupported index hint on %s", ident(name))
	case len(tn.PartitionNames) > 0:
		return c.errAt(off, "unsupported PARTITION on %s", ident(name))
	case tn.TableSample != nil:
		return c.errAt(off, "unsupported TABLESAMPLE on %s", ident(name))
	case tn.AsOf != nil:
		return c.errAt(off, "unsupported AS OF on %s", ident(name))
	}
	var sch *schema.Schema
	if schema.ValidName(name) {
		if s, ok := c.cat.Schema(name); ok && s != nil {
			sch = s
		}
	}
	if sch == nil {
		return c.errAt(off, "unknown dataset %q", name)
	}
	t := table{name: name, alias: ts.AsName.L, schema: sch, off: off, end: -1}
	if off >= 0 {
		t.end = off + len(name)
		if t.alias != "" {
			if a := firstWord(c.sql, t.alias, t.end); a >= 0 {
				t.end = a + len(t.alias)
			}
		}
	}
	for _, u := range c.tables {
		if u.name == t.name {
			return c.errAt(off, "dataset %s appears twice in FROM: a query may read a dataset only once", name)
		}
		if u.ref() == t.ref() {
			return c.errAt(off, "duplicate table name or alias %q in FROM", t.ref())
		}
	}
	c.tables = append(c.tables, t)
	c.plan.Tables = append(c.plan.Tables, Table{Name: t.name, Alias: t.alias})
	return nil
}

// join compiles the ON condition of the join of the last table.
func (c *compiler) join(e ast.ExprNode) error {
	e = unparen(e)
	k := len(c.tables) - 1
	joined := c.tables[k].name
	b, ok := e.(*ast.BinaryOperationExpr)
	if !ok || b.Op != opcode.EQ {
		if ok && (b.Op == opcode.LogicAnd || b.Op == opcode.LogicOr) {
			return c.errAt(exprOff(e), "unsupported %s in join condition: join on a single equality a.x = b.y", opText(b.Op))
		}
		return c.errAt(exprOff(e), "unsupported %s in join condition: want a single equality a.x = b.y", construct(c.sql, e))
	}
	var cols [2]Column
	var idx [2]int
	for i, side := range []ast.ExprNode{b.L, b.R} {
		side = unparen(side)
		cn, ok := side.(*ast.ColumnNameExpr)
		if !ok {
			return c.errAt(exprOff(side), "unsupported %s in join condition: both sides must be columns", construct(c.sql, side))
		}
		col, ti, err := c.resolve(cn, k+1)
		if err != nil {
			return err
		}
		cols[i], idx[i] = col, ti
	}
	switch {
	case idx[0] == k && idx[1] < k:
		cols[0], cols[1] = cols[1], cols[0]
	case idx[1] == k && idx[0] < k:
	default:
		return c.errAt(exprOff(b), "join condition %s = %s must compare a column of %s with a column of a table before it", cols[0], cols[1], joined)
	}
	if cols[0].Type != cols[1].Type {
		return c.errAt(exprOff(b), "join columns %s (%s) and %s (%s) have different types", cols[0], cols[0].Type, cols[1], cols[1].Type)
	}
	c.plan.Joins = append(c.plan.Joins, Join{Left: cols[0], Right: cols[1]})
	return nil
}

// resolve finds the column cn names among the first scope tables. It
// returns the column and the index of its table.
func (c *compiler) resolve(cn *ast.ColumnNameExpr, scope int) (Column, int, error) {
	n := cn.Name
	off := exprOff(cn)
	name := n.Name.L
	if n.Schema.L != "" {
		return Column{}, -1, c.errAt(off, "unsupported schema-qualified column %s.%s.%s", ident(n.Schema.L), ident(n.Table.L), ident(name))
	}
	if q := n.Table.L; q != "" {
		for i := range c.tables[:scope] {
			t := &c.tables[i]
			if t.ref() != q {
				continue
			}
			sc, ok := t.schema.Column(name)
			if !ok {
				return Column{}, -1, c.errAt(off, "unknown column %s.%s", ident(q), ident(name))
			}
			return Column{Table: t.name, Name: sc.Name, Type: sc.Type}, i, nil
		}
		for i := range c.tables[:scope] {
			if t := &c.tables[i]; t.name == q && t.alias != "" {
				return Column{}, -1, c.errAt(off, "unknown table %q in %s.%s: %s is aliased as %s", q, ident(q), ident(name), t.name, ident(t.alias))
			}
		}
		return Column{}, -1, c.errAt(off, "unknown table %q in %s.%s", q, ident(q), ident(name))
	}
	found, at := Column{}, -1
	var in []string
	for i := range c.tables[:scope] {
		t := &c.tables[i]
		if sc, ok := t.schema.Column(name); ok {
			found, at = Column{Table: t.name, Name: sc.Name, Type: sc.Type}, i
			in = append(in, t.name)
		}
	}
	switch len(in) {
	case 0:
		if scope == 1 {
			return Column{}, -1, c.errAt(off, "unknown column %s.%s", c.tables[0].name, ident(name))
		}
		return Column{}, -1, c.errAt(off, "unknown column %q (in none of %s)", name, c.tableList(scope))
	case 1:
		return found, at, nil
	}
	return Column{}, -1, c.errAt(off, "ambiguous column %q (in %s)", name, strings.Join(in, ", "))
}

func (c *compiler) tableList(scope int) string {
	names := make([]string, scope)
	for i := range names {
		names[i] = c.tables[i].name
	}
	return strings.Join(names, ", ")
}

// render returns the normalised text of a column reference as written:
// "r.industry", or "industry" when written bare.
func render(cn *ast.ColumnNameExpr) string {
	if q := cn.Name.Table.L; q != "" {
		return q + "." + cn.Name.Name.L
	}
	return cn.Name.Name.L
}

// renderMsg is render for messages (see ident).
func renderMsg(cn *ast.ColumnNameExpr) string {
	if q := cn.Name.Table.L; q != "" {
		return ident(q) + "." + ident(cn.Name.Name.L)
	}
	return ident(cn.Name.Name.L)
}

// fields compiles the select list.
func (c *compiler) fields(fields []*ast.SelectField) error {
	for _, f := range fields {
		if f.WildCard != nil {
			if err := c.wildcard(f); err != nil {
				return err
			}
			continue
		}
		o, err := c.field(f)
		if err != nil {
			return err
		}
		if f.AsName.O != "" {
			o.Name = f.AsName.O
			if c.aliases == nil {
				c.aliases = make(map[string]Output)
			}
			if _, dup := c.aliases[f.AsName.L]; !dup {
				c.aliases[f.AsName.L] = o
			}
		}
		c.plan.Outputs = append(c.plan.Outputs, o)
	}
	return nil
}

func (c *compiler) wildcard(f *ast.SelectField) error {
	w := f.WildCard
	off := -1
	if f.Offset > 0 {
		off = f.Offset
	}
	switch {
	case w.Schema.L != "":
		return c.errAt(off, "unsupported schema-qualified %s.%s.*", ident(w.Schema.L), ident(w.Table.L))
	case w.Table.L != "":
		found := false
		for i := range c.tables {
			found = found || c.tables[i].ref() == w.Table.L
		}
		if !found {
			for i := range c.tables {
				if t := &c.tables[i]; t.name == w.Table.L && t.alias != "" {
					return c.errAt(off, "unknown table %q in %s.*: %s is aliased as %s", w.Table.L, ident(w.Table.L), t.name, ident(t.alias))
				}
			}
			return c.errAt(off, "unknown table %q in %s.*", w.Table.L, ident(w.Table.L))
		}
	}
	c.plan.Star = true
	return nil
}

// field compiles one expression of the select list.
func (c *compiler) field(f *ast.SelectField) (Output, error) {
	e := unparen(f.Expr)
	switch e := e.(type) {
	case *ast.ColumnNameExpr:
		col, _, err := c.resolve(e, len(c.tables))
		if err != nil {
			return Output{}, err
		}
		return Output{Name: render(e), Column: &col}, nil
	case *ast.AggregateFuncExpr:
		return c.aggregate(e)
	case *ast.FuncCallExpr:
		if o, ok, err := c.funcAggregate(e); ok {
			return o, err
		}
	}
	return Output{}, c.errAt(exprOff(e), "unsupported %s in select list (want grouping columns and aggregates such as COUNT(*), SUM(col), AVG(col) or MEDIAN(col))", construct(c.sql, e))
}

// where compiles the WHERE clause: comparisons joined by AND.
func (c *compiler) where(e ast.ExprNode) error {
	// Walk the AND tree without recursion: a long chain of conditions
	// must not cost stack.
	stack := []ast.ExprNode{e}
	for len(stack) > 0 {
		e := unparen(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		if b, ok := e.(*ast.BinaryOperationExpr); ok && b.Op == opcode.LogicAnd {
			stack = append(stack, b.R, b.L) // L first: keep the written order
			continue
		}
		if err := c.condition(e); err != nil {
			return err
		}
	}
	return nil
}

// condition compiles one comparison of a column with a literal.
func (c *compiler) condition(e ast.ExprNode) error {
	const want = "only comparisons of a column with a literal, joined by AND"
	b, ok := e.(*ast.BinaryOperationExpr)
	if !ok {
		if cn, ok := e.(*ast.ColumnNameExpr); ok {
			return c.errAt(exprOff(e), "unsupported bare column %s in WHERE: compare it, for example %s = TRUE", renderMsg(cn), renderMsg(cn))
		}
		return c.errAt(exprOff(e), "unsupported %s in WHERE: %s", construct(c.sql, e), want)
	}
	if _, ok := compareOps[b.Op]; !ok {
		return c.errAt(exprOff(e), "unsupported %s in WHERE: %s", construct(c.sql, e), want)
	}
	f, err := c.comparison(b, "WHERE")
	if err != nil {
		return err
	}
	c.plan.Filters = append(c.plan.Filters, f)
	return nil
}

// comparison compiles a comparison of a column with a literal, in either
// order, found in the clause where ("WHERE", "CASE WHEN").
func (c *compiler) comparison(b *ast.BinaryOperationExpr, where string) (Filter, error) {
	want := "only comparisons of a column with a literal"
	if where == "WHERE" {
		want += ", joined by AND"
	}
	l, r := unparen(b.L), unparen(b.R)
	lc, lIsCol := l.(*ast.ColumnNameExpr)
	rc, rIsCol := r.(*ast.ColumnNameExpr)
	switch {
	case lIsCol && rIsCol:
		return Filter{}, c.errAt(exprOff(b), "unsupported comparison of two columns (%s %s %s) in %s: compare a column with a literal", renderMsg(lc), compareOps[b.Op], renderMsg(rc), where)
	case lIsCol:
		return c.compare(lc, b.Op, r)
	case rIsCol:
		f, err := c.compare(rc, b.Op, l)
		f.Op = flip[f.Op]
		return f, err
	case isLiteral(l) && isLiteral(r):
		return Filter{}, c.errAt(exprOff(b), "unsupported comparison of two literals in %s: %s", where, want)
	}
	other := l
	if isLiteral(l) {
		other = r
	}
	return Filter{}, c.errAt(exprOff(other), "unsupported %s in %s comparison: %s", construct(c.sql, other), where, want)
}

// compare compiles "column op literal".
func (c *compiler) compare(cn *ast.ColumnNameExpr, op opcode.Op, lit ast.ExprNode) (Filter, error) {
	col, _, err := c.resolve(cn, len(c.tables))
	if err != nil {
		return Filter{}, err
	}
	v, err := c.value(col, lit)
	if err != nil {
		return Filter{}, err
	}
	return Filter{Column: col, Op: compareOps[op], Value: v}, nil
}

// groupBy compiles GROUP BY: plain columns, or aliases of plain columns of
// the select list.
func (c *compiler) groupBy(g *ast.GroupByClause) error {
	for _, item := range g.Items {
		e := unparen(item.Expr)
		if !item.NullOrder {
			return c.errAt(exprOff(e), "unsupported ASC or DESC in GROUP BY")
		}
		cn, ok := e.(*ast.ColumnNameExpr)
		if !ok {
			if p, ok := e.(*ast.PositionExpr); ok {
				return c.errAt(lastWord(c.sql, "by", -1), "unsupported GROUP BY position %d: name the column", p.N)
			}
			return c.errAt(exprOff(e), "unsupported %s in GROUP BY: group by plain columns", construct(c.sql, e))
		}
		// As in MySQL, a name in GROUP BY is a column of the FROM tables
		// first, then an alias of the select list.
		name := cn.Name.Name.L
		if o, ok := c.aliases[name]; ok && cn.Name.Table.L == "" && cn.Name.Schema.L == "" && !c.anyHas(name) {
			if o.Func != "" {
				return c.errAt(exprOff(cn), "cannot GROUP BY %s: it is the aggregate %s", ident(name), aggText(o))
			}
			if !containsColumn(c.plan.GroupBy, *o.Column) {
				c.plan.GroupBy = append(c.plan.GroupBy, *o.Column)
			}
			continue
		}
		col, _, err := c.resolve(cn, len(c.tables))
		if err != nil {
			return err
		}
		if !containsColumn(c.plan.GroupBy, col) {
			c.plan.GroupBy = append(c.plan.GroupBy, col)
		}
	}
	return nil
}

// anyHas reports whether a table of the FROM clause has the named column.
func (c *compiler) anyHas(name string) bool {
	for i := range c.tables {
		if c.tables[i].schema.Index(name) >= 0 {
			return true
		}
	}
	return false
}

func aggText(o Output) string {
	if o.Column == nil {
		return "COUNT(*)"
	}
	return fmt.Sprintf("%s(%s)", o.Func, o.Column)
}

func containsColumn(cols []Column, c Column) bool {
	for _, x := range cols {
		if x.Table == c.Table && x.Name == c.Name {
			return true
		}
	}
	return false
}

// unparen strips parentheses around an expression.
func unparen(e ast.ExprNode) ast.ExprNode {
	for {
		p, ok := e.(*ast.ParenthesesExpr)
		if !ok || p.Expr == nil {
			return e
		}
		e = p.Expr
	}
}
