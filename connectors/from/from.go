// Package from opens a provider's data where it lives, named the way
// `cleanroom dataset upload --from` names it, as a connectors.Reader:
//
//	csv:PATH          a CSV file (connectors/csv)
//	jsonl:PATH        a JSON Lines file (connectors/jsonl)
//	PATH              by its extension: .csv, .jsonl or .ndjson
//
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

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/connectors/jsonl"
	"github.com/xjdata/cleanroom/schema"
)

// Spec names a source.
type Spec struct {
	Kind string // "csv", "jsonl"
	Path string // the file
}

// Kinds lists the source kinds, for help texts.
var Kinds = []string{"csv", "jsonl"}

// Parse parses a source name (see the package doc).
func Parse(arg string) (Spec, error) {
	if arg == "" {
		return Spec{}, errors.New("empty source: want csv:FILE, jsonl:FILE or a file ending in .csv, .jsonl or .ndjson")
	}
	if kind, path, ok := strings.Cut(arg, ":"); ok && isKind(kind) {
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

// Open opens the source sp as a reader of rows of s.
func Open(ctx context.Context, sp Spec, s *schema.Schema, opts Options) (*Source, error) {
	if opts.Loose {
		s = connectors.Loosen(s)
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
	case "csv":
		r, err = csv.NewReader(cr, s, csv.Options{File: name, Encoding: opts.Encoding, BatchSize: opts.BatchSize})
	case "jsonl":
		if opts.Encoding != "" && !strings.EqualFold(opts.Encoding, "utf-8") {
			err = fmt.Errorf("%s: JSON Lines are UTF-8; --encoding %s is for CSV", name, opts.Encoding)
		} else {
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
func Discover(ctx context.Context, sp Spec, opts Options, maxRows int64) (*schema.Schema, error) {
	f, err := os.Open(sp.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	name := filepath.Base(sp.Path)
	switch sp.Kind {
	case "csv":
		return csv.Discover(f, csv.Options{File: name, Encoding: opts.Encoding}, maxRows)
	case "jsonl":
		return jsonl.Discover(f, jsonl.Options{File: name}, maxRows)
	}
	return nil, fmt.Errorf("unknown source kind %q", sp.Kind)
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
