// Package query compiles the SQL an operator sends into a Plan: the tables
// read, the joins between them, the filters, the groups and the outputs,
// each column resolved against the catalog and typed, and for each column
// how it is used (see Plan.Uses). The policy engine judges the plan; an
// executor runs it. Nothing here decides whether a query is allowed.
//
// Parsing is done by TiDB's maintained MySQL-dialect parser
// (github.com/pingcap/tidb/pkg/parser); this package accepts a small subset
// of what it parses and rejects everything else with an error that names
// the construct.
//
// # Supported subset
//
// A query is exactly one SELECT statement, at most MaxSQLBytes long, in
// valid UTF-8, optionally ended by a semicolon and optionally enclosed in
// parentheses:
//
//	SELECT item [, item ...]
//	FROM dataset [[AS] alias]
//	    [[INNER] JOIN dataset [[AS] alias] ON a.x = b.y ...]
//	[WHERE condition [AND condition ...]]
//	[GROUP BY column [, column ...]]
//	[HAVING comparison [AND comparison ...]]
//	[ORDER BY key [ASC|DESC] [, key ...]]
//	[LIMIT [offset,] count | LIMIT count OFFSET offset]
//
// Select list. Each item is one of:
//
//   - * or t.*: every column, row by row (Plan.Star). The rest of the
//     list is still compiled.
//   - a column, qualified (l.amount) or bare (amount) when exactly one
//     table of the FROM clause has it;
//   - an aggregate: COUNT(*), COUNT(arg), COUNT(DISTINCT column), SUM(arg),
//     AVG(arg), MIN(arg), MAX(arg), MEDIAN(arg), PERCENTILE(arg, rank)
//     with rank in [0, 1], APPROX_PERCENTILE(arg, percent) with percent in
//     [0, 100], STDDEV(arg) (also STD, STDDEV_POP) and VARIANCE(arg) (also
//     VAR_POP), the population statistics. MIN, MAX, MEDIAN and the
//     percentiles are quantiles (their output is differentially private
//     and approximate, see the executor). The argument is a column (int or
//     bool for all but the COUNTs) or an expression (Expr): int and bool
//     columns, numbers (integers and decimals, at most MaxScale digits
//     after the point), + - * and / by a number, unary minus, parentheses,
//     and CASE WHEN cond THEN x [WHEN ...] [ELSE y] END or CASE column
//     WHEN literal THEN x ... END, whose conditions compare a column with
//     a literal (as in WHERE), or are a bool column, joined by AND, OR and
//     NOT. A CASE without ELSE has no value where no WHEN holds, and
//     aggregates skip such rows. Arithmetic is exact fixed point (see
//     Expr); Expr.Bounds refuses an expression that could overflow.
//
// and may be followed by [AS] alias. Plain columns outside GROUP BY are
// compiled too, as row-level outputs (Plan.RowLevel reports them), and so is
// a query with no aggregate and no group at all: refusing those is the
// policy engine's call, with a reason it logs.
//
// FROM. One dataset, or a chain of inner joins, each joining one more
// dataset with ON and a single equality between two columns of the same
// type: one of the dataset being joined, one of a dataset before it, in
// either order. A dataset may appear only once. Tables[0] is the first
// dataset; Joins[i] joins Tables[i+1], and Joins[i].Right is always the
// column of Tables[i+1]. Parentheses around the whole chain are accepted;
// a join nested on the right is not.
//
// WHERE. Comparisons of a column with a literal, column op literal or
// literal op column (the operator is then flipped), with op one of
// = <> != < <= > >=, joined by AND; parentheses are accepted. The literal
// must fit the column's type:
//
//   - int: an integer, optionally signed, in the int64 range;
//   - string: a string in single or double quotes (MySQL's default mode:
//     double quotes delimit strings, backquotes identifiers);
//   - bool: TRUE, FALSE, 1 or 0;
//   - date: a string 'YYYY-MM-DD', or DATE 'YYYY-MM-DD', stored as days
//     since 1970-01-01 (schema.ParseDate).
//
// Declared column bounds are not applied to literals.
//
// GROUP BY. Plain columns. An unqualified name that is no column of the
// FROM tables may name a select-list alias of a plain column, as in MySQL.
// Repeated columns are kept once.
//
// HAVING, ORDER BY and LIMIT post-process the released rows and cost no
// privacy budget; so they may use only what the select list releases.
// HAVING compares items of the select list with literals, joined by AND:
// an item named by its alias, by its grouping column, or by its aggregate
// written again (an aggregate that is not in the select list is an error,
// since it would cost budget). ORDER BY keys are items of the select list
// (alias, 1-based position, column or aggregate) or grouping columns. The
// default order of the rows is by grouping values; ORDER BY sorts stably
// after it. LIMIT and OFFSET are whole numbers up to MaxLimit.
//
// Names. Keywords and identifiers are case-insensitive; identifiers may be
// backquoted. Dataset and column names are looked up in lower case, and a
// dataset name that is not a valid schema name (schema.ValidName) is
// unknown without asking the catalog. When a table has an alias, columns
// are qualified by the alias, not the dataset name, as in MySQL. Resolved
// columns always carry the dataset name and the schema type.
//
// Output names. The alias if given, else the item normalised: identifiers
// in lower case, functions in upper case, the qualifier as written:
// "r.industry", "amount", "COUNT(*)", "AVG(l.amount)".
//
// # Not supported
//
// Everything else, with an error naming it: other statements (INSERT,
// EXPLAIN, ...) and several statements; UNION, EXCEPT, INTERSECT; WITH;
// DISTINCT and other SELECT modifiers; optimizer hints; INTO;
// WINDOW and window functions; FOR UPDATE and LOCK IN
// SHARE MODE; WITH ROLLUP; GROUP BY positions and ASC/DESC; LEFT, RIGHT,
// CROSS, NATURAL and comma joins, JOIN without ON, USING, STRAIGHT_JOIN,
// nested joins; subqueries anywhere; schema-qualified names; index hints,
// PARTITION, TABLESAMPLE, AS OF; other aggregates (GROUP_CONCAT,
// BIT_AND, the sample statistics STDDEV_SAMP and VAR_SAMP, ...), DISTINCT
// in other aggregates and COUNT(DISTINCT) of several columns or of an
// expression; functions, CAST, COLLATE, division by a column, % and DIV;
// in HAVING: OR and comparisons of two items; in WHERE: OR, XOR, NOT, IN, LIKE,
// REGEXP, BETWEEN, IS [NOT] NULL, IS [NOT] TRUE, <=>, comparisons of two
// columns or two literals, comparisons with NULL, parameter markers (?),
// variables, and floating-point, decimal, hexadecimal and bit literals.
//
// # Errors
//
// Compile returns *Error for every failure. Its position is 1-based, with
// the column counted in characters. Syntax errors point at the token the
// parser stopped at and quote the text there. Names the parser keeps no
// position for (datasets, clause keywords) are located in the text on a
// best-effort basis; when that fails the position is 0. Messages name only
// what the query itself wrote and the types of the columns it used: no
// listing of a dataset's other columns.
//
// Compile never panics: a panic in the parser or here is recovered and
// returned as an Error (and is a bug to report).
//
// # Concurrency
//
// Compile is safe for concurrent use if the Catalog is. Plans are plain
// values; Plan methods do not modify the plan.
package query
