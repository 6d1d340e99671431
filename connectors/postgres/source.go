package postgres

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// Source says what to read: a table or a query, and the column that names
// a row in errors.
type Source struct {
	// Table is the name of a table (or view) to read whole, as SELECT *
	// does: "loans", or with its schema, "public.loans". The name is taken
	// as it is, not as SQL: it is quoted as an identifier, so case is kept
	// ("Loans 2025" is the table created as "Loans 2025") and nothing in
	// it is SQL. The part before the first dot, if any, is the schema, so
	// a name with a dot in it can only be read through Query. Each part
	// must be 1 to 63 bytes (PostgreSQL's limit, beyond which it would
	// cut the name) and have no NUL byte. A name without a schema is
	// looked up in the connection's search_path.
	Table string
	// Query is a single SELECT (or VALUES, or TABLE) statement, whose
	// result is read instead of a table: exactly one of Table and Query
	// must be set. It runs as DECLARE c NO SCROLL CURSOR FOR Query, in a
	// read-only transaction, so it cannot be several statements and
	// cannot write. It takes no parameters; a trailing semicolon is
	// allowed.
	Query string
	// Key is a column of the result whose value names a row in errors,
	// such as the primary key. Optional: for a Table without one, the
	// table's primary key is used if it is a single column.
	Key string
}

// name returns what errors call the source.
func (src Source) name() string {
	if src.Table != "" {
		return "table " + src.Table
	}
	return "query"
}

// sql returns the query that reads src, after checking src.
func (src Source) sql() (string, error) {
	switch {
	case src.Table == "" && src.Query == "":
		return "", errors.New("postgres: no Table or Query given (set one)")
	case src.Table != "" && src.Query != "":
		return "", errors.New("postgres: both Table and Query given (set one)")
	case src.Table != "":
		id, err := parseTable(src.Table)
		if err != nil {
			return "", err
		}
		return "SELECT * FROM " + id.Sanitize(), nil
	}
	if strings.TrimSpace(src.Query) == "" {
		return "", errors.New("postgres: Query is blank")
	}
	if strings.IndexByte(src.Query, 0) >= 0 {
		return "", errors.New("postgres: Query holds a NUL byte")
	}
	return src.Query, nil
}

// maxIdent is the longest identifier PostgreSQL keeps whole, in bytes
// (NAMEDATALEN - 1); it cuts longer ones.
const maxIdent = 63

// parseTable splits a Table name into its schema and table.
func parseTable(name string) (pgx.Identifier, error) {
	id := pgx.Identifier(strings.SplitN(name, ".", 2))
	for _, part := range id {
		switch {
		case part == "":
			return nil, fmt.Errorf("postgres: table name %s has an empty part (want NAME or SCHEMA.NAME)", connectors.Quote(name))
		case len(part) > maxIdent:
			return nil, fmt.Errorf("postgres: table name %s: %s is longer than %d bytes, PostgreSQL's limit", connectors.Quote(name), connectors.Quote(part), maxIdent)
		case strings.IndexByte(part, 0) >= 0:
			return nil, fmt.Errorf("postgres: table name %s holds a NUL byte", connectors.Quote(name))
		}
	}
	return id, nil
}

// ParseURL splits a URL naming a source into the connection string for
// pgx (pgx.Connect, pgx.ParseConfig) and the Source. The URL is a
// PostgreSQL connection URL (postgres:// or postgresql://) with, among
// its query parameters, either table=NAME or query=SELECT..., and
// optionally key=COLUMN, for example
//
//	postgres://reader@db.example:5432/bank?sslmode=verify-full&table=public.loans&key=loan_id
//	postgres://reader@db.example/bank?query=SELECT+loan_id,+amount+FROM+loans+WHERE+green
//
// Parameter values are URL-decoded (%20 or + for a space). The other
// parameters are left, in their order, in the connection string. Errors
// do not repeat the URL, which may hold a password.
func ParseURL(u string) (dsn string, src Source, err error) {
	pu, err := url.Parse(u)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return "", Source{}, fmt.Errorf("postgres: bad URL: %v", err)
	}
	if pu.Scheme != "postgres" && pu.Scheme != "postgresql" {
		return "", Source{}, fmt.Errorf("postgres: URL scheme is %s, want postgres or postgresql", connectors.Quote(pu.Scheme))
	}
	if pu.Opaque != "" {
		return "", Source{}, errors.New("postgres: bad URL: want postgres://[user@]host[:port]/database?table=NAME")
	}
	var keep []string
	seen := map[string]bool{}
	for _, part := range strings.Split(pu.RawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return "", Source{}, fmt.Errorf("postgres: bad URL query parameter: %v", err)
		}
		switch name {
		case "table", "query", "key":
		default:
			keep = append(keep, part)
			continue
		}
		if seen[name] {
			return "", Source{}, fmt.Errorf("postgres: URL gives %s twice", name)
		}
		seen[name] = true
		val, err := url.QueryUnescape(v)
		if err != nil {
			return "", Source{}, fmt.Errorf("postgres: bad URL parameter %s: %v", name, err)
		}
		if val == "" {
			return "", Source{}, fmt.Errorf("postgres: URL parameter %s is empty", name)
		}
		switch name {
		case "table":
			src.Table = val
		case "query":
			src.Query = val
		case "key":
			src.Key = val
		}
	}
	switch {
	case src.Table == "" && src.Query == "":
		return "", Source{}, errors.New("postgres: URL names no table or query (add ?table=NAME or ?query=SELECT+...)")
	case src.Table != "" && src.Query != "":
		return "", Source{}, errors.New("postgres: URL gives both table and query (give one)")
	}
	if _, err := src.sql(); err != nil {
		return "", Source{}, err
	}
	pu.RawQuery = strings.Join(keep, "&")
	pu.ForceQuery = false
	return pu.String(), src, nil
}

// kind is how a result column is decoded: its PostgreSQL type's binary
// format.
type kind uint8

const (
	kInt2 kind = iota + 1
	kInt4
	kInt8
	kBool
	kDate
	kText // text, varchar and bpchar: the bytes of the text, in UTF-8
)

// kindOf returns how a value of the type oid is read and the schema type
// it is read as, or 0 for a type that is not read.
func kindOf(oid uint32) (kind, schema.Type) {
	switch oid {
	case pgtype.Int2OID:
		return kInt2, schema.Int
	case pgtype.Int4OID:
		return kInt4, schema.Int
	case pgtype.Int8OID:
		return kInt8, schema.Int
	case pgtype.BoolOID:
		return kBool, schema.Bool
	case pgtype.DateOID:
		return kDate, schema.Date
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID:
		return kText, schema.String
	}
	return 0, ""
}

// accepts names the PostgreSQL types read as each schema type.
var accepts = map[schema.Type]string{
	schema.Int:    "smallint, integer or bigint",
	schema.Bool:   "boolean",
	schema.Date:   "date",
	schema.String: "text, character varying or character",
}
