package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/schema"
)

// Discover reads the JSON Lines in r and suggests a schema for them (see
// connectors.Inferrer), for their holder to confirm: the columns are the
// first line's keys in their order; a JSON number column is an int (every
// value an integer), true/false a bool, a string column a date if every
// value is YYYY-MM-DD and a string otherwise. It reads at most maxRows
// lines, or all if maxRows is 0. A line that is not an object of such
// values, or whose keys or kinds differ from the first line's, is an
// *Error naming it.
func Discover(r io.Reader, opts Options, maxRows int64) (*schema.Schema, error) {
	file := opts.File
	if file == "" {
		file = "input"
	}
	maxLine := opts.MaxLine
	if maxLine == 0 {
		maxLine = DefaultMaxLine
	}
	br := bufio.NewReaderSize(r, bufSize)
	var (
		in    *connectors.Inferrer
		names []string
		kinds []byte // 's', 'n' or 'b' by column, from the first line
		index = map[string]int{}
	)
	fail := func(line int, field, format string, args ...any) error {
		return &Error{File: file, Line: line, Column: 1, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	for line := 1; maxRows == 0 || int64(line) <= maxRows; line++ {
		text, err := br.ReadSlice('\n')
		long := append([]byte(nil), text...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxLine+1 {
			text, err = br.ReadSlice('\n')
			long = append(long, text...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fail(line, "", "line longer than %d bytes", maxLine)
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("jsonl: reading %s at line %d: %w", file, line, err)
		}
		if line == 1 {
			long = bytes.TrimPrefix(long, []byte("\xef\xbb\xbf"))
		}
		body := bytes.TrimRight(long, "\r\n")
		if len(body) == 0 && err == io.EOF {
			break
		}
		seen := 0
		err2 := discoverLine(body, func(key string, v json.Token) error {
			if in == nil {
				if _, dup := index[key]; dup {
					return fmt.Errorf("repeated key %q", key)
				}
				index[key] = len(names)
				names = append(names, key)
				kinds = append(kinds, kindOf(v))
				return nil
			}
			c, ok := index[key]
			if !ok {
				return fmt.Errorf("key %q is not in the first line", key)
			}
			if k := kindOf(v); k != kinds[c] {
				return fmt.Errorf("column %s: a %s here, a %s on line 1", key, kindName(k), kindName(kinds[c]))
			}
			seen++
			return observe(in, c, v)
		})
		if err2 != nil {
			return nil, fail(line, "", "%v", err2)
		}
		if in == nil {
			if in, err2 = connectors.NewInferrer(names); err2 != nil {
				return nil, fail(line, "", "%v", err2)
			}
			// The first line's values, observed now that the columns
			// are known.
			if err2 := discoverLine(body, func(key string, v json.Token) error { return observe(in, index[key], v) }); err2 != nil {
				return nil, fail(line, "", "%v", err2)
			}
		} else if seen != len(names) {
			return nil, fail(line, "", "%d of the first line's %d keys", seen, len(names))
		}
		if err == io.EOF {
			break
		}
	}
	if in == nil {
		return nil, fail(1, "", "empty input: want one JSON object per line")
	}
	return in.Schema(), nil
}

func kindOf(v json.Token) byte {
	switch v.(type) {
	case string:
		return 's'
	case json.Number:
		return 'n'
	case bool:
		return 'b'
	}
	return 0
}

func kindName(k byte) string {
	switch k {
	case 's':
		return "string"
	case 'n':
		return "number"
	case 'b':
		return "bool"
	}
	return "null"
}

func observe(in *connectors.Inferrer, c int, v json.Token) error {
	switch v := v.(type) {
	case string:
		in.String(c, v)
	case bool:
		in.Bool(c)
	case json.Number:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%s is not an integer within int64: the clean room holds integers (scale the value first)", v)
		}
		in.Int(c, n)
	}
	return nil
}

// discoverLine calls f with each key and value of the object on a line.
func discoverLine(body []byte, f func(key string, v json.Token) error) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return errors.New("want a JSON object")
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		key := t.(string)
		v, err := d.Token()
		if err != nil {
			return err
		}
		switch v.(type) {
		case json.Delim:
			return fmt.Errorf("column %s: nested objects and arrays are not supported", key)
		case nil:
			return fmt.Errorf("column %s: null: the schema has no nulls", key)
		}
		if err := f(key, v); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("text after the object")
	}
	return nil
}
