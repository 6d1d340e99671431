// Package from opens a provider's data where it lives, named the way
// `cleanroom dataset upload --from` names it, as a connectors.Reader:
//
//	csv:PATH          a CSV file (connectors/csv)
//	jsonl:PATH        a JSON Lines file (connectors/jsonl)
//	parquet:PATH      a Parquet file (connectors/parquet)
//	postgres://USER@HOST:PORT/DB?table=T[&key=K]
//	postgres://USER@HOST:PORT/DB?query=SELECT...[&key=K]
//	                  a PostgreSQL table or query (connectors/postgres);
//	                  postgresql:// too; any other parameters are pgx's
//	PATH              by its extension: .csv, .jsonl, .ndjson or .parquet
//
// A PostgreSQL password belongs in PGPASSWORD or ~/.pgpass, not in the
// URL; wherever it is, it is never named in errors or in the upload
// statement, which names the table or "query".
// It also suggests a schema for a source (Discover).
package from

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/connectors/jsonl"
	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/connectors/postgres"
	"github.com/xjdata/cleanroom/schema"
)

// Spec names a source.
type Spec struct {
	Kind string // "csv", "jsonl", "parquet" or "postgres"
	Path string // the file
	URL  string // for postgres: the URL as given
}

// Kinds lists the source kinds, for help texts.
var Kinds = []string{"csv", "jsonl", "parquet", "postgres"}

// Parse parses a source name (see the package doc).
func Parse(arg string) (Spec, error) {
	if arg == "" {
		return Spec{}, errors.New("empty source: want csv:FILE, jsonl:FILE, parquet:FILE, postgres://... or a file ending in .csv, .jsonl, .ndjson or .parquet")
	}
	if strings.HasPrefix(arg, "postgres://") || strings.HasPrefix(arg, "postgresql://") {
		if _, _, err := postgres.ParseURL(arg); err != nil {
			return Spec{}, err
		}
		return Spec{Kind: "postgres", URL: arg}, nil
	}
	if kind, path, ok := strings.Cut(arg, ":"); ok && isKind(kind) && kind != "postgres" {
		if path == "" {
			return Spec{}, fmt.Errorf("source %q names no file", arg)
		}
		return Spec{Kind: kind, Path: path}, nil
	}
	switch strings.ToLower(filepath.Ext(arg)) {
	case ".csv":
		return Spec{Kind: "csv", Path: arg}, nil
	case ".jsonl", ".ndjson":
		return Spec{Kind: "jsonl", Path: arg}, nil
	case ".parquet":
		return Spec{Kind: "parquet", Path: arg}, nil
	}
	return Spec{}, fmt.Errorf("source %q: cannot tell its kind from its name; write it as KIND:FILE, KIND one of %s", arg, strings.Join(Kinds, ", "))
}

func isKind(k string) bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// Options configures Open and Discover.
type Options struct {
	// Encoding is a CSV file's character encoding: utf-8 (the default),
	// gb18030 or gbk.
	Encoding string
	// CSV is a CSV source's dialect: its Comma, NoQuotes, NoHeader and
	// Nulls (see csv.Options; its other fields are set from these
	// Options). It is an error to give them for another kind of source.
	CSV csv.Options
	// BatchSize is the rows per batch read; 0 is the connector's default.
	BatchSize int
	// Loose reads values outside their column's declared bounds instead
	// of refusing them (see connectors.Loosen), to clamp them after.
	Loose bool
}

// Source is an open source.
type Source struct {
	connectors.Reader
	// Name names the source in statements and errors ("loans.csv").
	Name string
	// Size is the source's size in bytes, 0 if unknown; Read, if not nil,
	// returns how many have been read, from any goroutine.
	Size  int64
	Read  func() int64
	close func() error
}

// Close releases the source.
func (s *Source) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// Open opens the source sp as a reader of rows of s. A PostgreSQL source
// reads through ctx's connection until Close.
func Open(ctx context.Context, sp Spec, s *schema.Schema, opts Options) (*Source, error) {
	if opts.Loose {
		s = connectors.Loosen(s)
	}
	if sp.Kind == "postgres" {
		if err := opts.onlyCSV("postgres source"); err != nil {
			return nil, err
		}
		return openPostgres(ctx, sp, s, opts)
	}
	f, err := os.Open(sp.Path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory, not a %s file", sp.Path, sp.Kind)
	}
	cr := &counter{r: f}
	name := filepath.Base(sp.Path)
	var r connectors.Reader
	switch sp.Kind {
	case "parquet":
		if err = opts.onlyCSV(name); err != nil {
			break
		}
		r, err = parquet.NewReader(&atCounter{r: f, n: &cr.n}, fi.Size(), s, parquet.Options{File: name, BatchSize: opts.BatchSize})
	case "csv":
		r, err = csv.NewReader(cr, s, opts.csv(name))
	case "jsonl":
		if opts.Encoding != "" && !strings.EqualFold(opts.Encoding, "utf-8") {
			err = fmt.Errorf("%s: JSON Lines are UTF-8; --encoding %s is for CSV", name, opts.Encoding)
		} else if err = opts.onlyCSV(name); err == nil {
			r, err = jsonl.NewReader(cr, s, jsonl.Options{File: name, BatchSize: opts.BatchSize})
		}
	default:
		err = fmt.Errorf("unknown source kind %q", sp.Kind)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Source{Reader: r, Name: name, Size: fi.Size(), Read: cr.n.Load, close: f.Close}, nil
}

// Discover suggests a schema for the source sp from its columns and the
// values of its first maxRows rows (all if 0); see connectors.Inferrer.
//
// A Parquet file's whole columns are read (or their statistics); a
// PostgreSQL source's bounds come from one aggregate query over it all.
func Discover(ctx context.Context, sp Spec, opts Options, maxRows int64) (*schema.Schema, error) {
	if sp.Kind == "postgres" {
		if err := opts.onlyCSV("postgres source"); err != nil {
			return nil, err
		}
		dsn, src, err := postgres.ParseURL(sp.URL)
		if err != nil {
			return nil, err
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
		}
		defer conn.Close(context.Background())
		return postgres.Discover(ctx, conn, src)
	}
	f, err := os.Open(sp.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	name := filepath.Base(sp.Path)
	switch sp.Kind {
	case "csv":
		o := opts.csv(name)
		o.BatchSize = 0
		return csv.Discover(f, o, maxRows)
	case "parquet":
		if err := opts.onlyCSV(name); err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		return parquet.Discover(f, fi.Size(), name)
	case "jsonl":
		if err := opts.onlyCSV(name); err != nil {
			return nil, err
		}
		return jsonl.Discover(f, jsonl.Options{File: name}, maxRows)
	}
	return nil, fmt.Errorf("unknown source kind %q", sp.Kind)
}

// csv returns the csv.Options of a CSV source named name.
func (o *Options) csv(name string) csv.Options {
	c := o.CSV
	c.File, c.Encoding, c.BatchSize = name, o.Encoding, o.BatchSize
	return c
}

// onlyCSV refuses a CSV dialect for the source named name, of another kind.
func (o *Options) onlyCSV(name string) error {
	c := o.CSV
	if c.Comma != 0 || c.NoQuotes || c.NoHeader || len(c.Nulls) > 0 {
		return fmt.Errorf("%s: a delimiter, quoting, header or null markers are for CSV sources", name)
	}
	return nil
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n atomic.Int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// openPostgres connects and opens a PostgreSQL table or query.
func openPostgres(ctx context.Context, sp Spec, s *schema.Schema, opts Options) (*Source, error) {
	dsn, src, err := postgres.ParseURL(sp.URL)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	r, err := postgres.NewReader(ctx, conn, src, s, postgres.Options{BatchSize: opts.BatchSize})
	if err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	name := "postgres query"
	if src.Table != "" {
		name = "postgres table " + src.Table
	}
	return &Source{Reader: r, Name: name, close: func() error {
		err := r.Close()
		if cerr := conn.Close(context.Background()); err == nil {
			err = cerr
		}
		return err
	}}, nil
}

// atCounter counts the bytes read through ReadAt into n.
type atCounter struct {
	r io.ReaderAt
	n *atomic.Int64
}

func (a *atCounter) ReadAt(p []byte, off int64) (int, error) {
	n, err := a.r.ReadAt(p, off)
	a.n.Add(int64(n))
	return n, err
}

// IsBadData reports whether err, from a source's reader, is about the data
// it holds (a row or value that does not fit the schema, a malformed file)
// rather than a failure to read it (input or output, the network, a
// cancelled context): an upload that fails for bad data is given up, one
// that fails to read can go on later.
func IsBadData(err error) bool {
	var (
		ce *csv.Error
		je *jsonl.Error
		pe *parquet.Error
		ge *postgres.Error
	)
	return errors.As(err, &ce) || errors.As(err, &je) || errors.As(err, &pe) || errors.As(err, &ge) ||
		errors.Is(err, connectors.ErrCarriageReturn)
}
