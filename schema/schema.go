// Package schema is the shared vocabulary of datasets: column names, types
// and declared bounds, and the in-memory columnar form of rows.
//
// It imports nothing of the project's, so that every other package (query,
// connectors, enclave, policy, node) can speak of a dataset's shape without
// depending on one another.
//
// # Types
//
// A column is one of four types. Values of every non-string type are held
// as int64 in a Vector: an int as itself, a bool as 0 or 1, a date as the
// number of days since 1970-01-01 (UTC). Strings are held as strings, or
// dictionary-coded: a code per row into a [Dict] (see [Vector]).
//
// # Bounds
//
// Every int and date column declares an inclusive range [Min, Max]. The
// bounds are part of the dataset's contract: values outside are rejected at
// upload, and differential privacy takes its contribution bounds from them,
// so a loose bound costs accuracy and a missing one is an error.
package schema

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// Type is a column type.
type Type string

// The column types.
const (
	Int    Type = "int"
	String Type = "string"
	Bool   Type = "bool"
	Date   Type = "date"
)

// DateLayout is the text form of a date value.
const DateLayout = "2006-01-02"

// MaxColumns is the largest number of columns a schema may declare.
const MaxColumns = 256

// DefaultMaxLen is the longest string value accepted when a string column
// declares no MaxLen, in bytes.
const DefaultMaxLen = 1024

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ValidName reports whether s is a valid dataset or column name: a lower-case
// letter, then up to 62 lower-case letters, digits or underscores. Such a name
// is safe as a path element and as an SQL identifier.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Column declares one column of a dataset.
type Column struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	// Min and Max bound int and date values, inclusive. Required for int
	// and date columns, not allowed for others. Dates are given in days
	// since 1970-01-01 (see ParseValue to convert).
	Min *int64 `json:"min,omitempty"`
	Max *int64 `json:"max,omitempty"`
	// MaxLen bounds a string value's length in bytes. Defaults to
	// DefaultMaxLen.
	MaxLen int `json:"max_len,omitempty"`
}

// Schema is the ordered list of a dataset's columns.
type Schema struct {
	Columns []Column `json:"columns"`
}

// Validate checks that the schema is well formed: at least one column, valid
// unique names, known types, and bounds where (and only where) required.
func (s *Schema) Validate() error {
	if len(s.Columns) == 0 {
		return errors.New("schema: no columns")
	}
	if len(s.Columns) > MaxColumns {
		return fmt.Errorf("schema: %d columns, at most %d allowed", len(s.Columns), MaxColumns)
	}
	seen := make(map[string]bool, len(s.Columns))
	for i, c := range s.Columns {
		if !ValidName(c.Name) {
			return fmt.Errorf("schema: column %d: invalid name %q (want a lower-case letter, then letters, digits or _)", i+1, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("schema: column %q declared twice", c.Name)
		}
		seen[c.Name] = true
		switch c.Type {
		case Int, Date:
			if c.Min == nil || c.Max == nil {
				return fmt.Errorf("schema: column %q: %s columns need min and max bounds", c.Name, c.Type)
			}
			if *c.Min > *c.Max {
				return fmt.Errorf("schema: column %q: min %d is above max %d", c.Name, *c.Min, *c.Max)
			}
		case String, Bool:
			if c.Min != nil || c.Max != nil {
				return fmt.Errorf("schema: column %q: %s columns take no min or max", c.Name, c.Type)
			}
		default:
			return fmt.Errorf("schema: column %q: unknown type %q (want int, string, bool or date)", c.Name, c.Type)
		}
		if c.MaxLen < 0 || (c.MaxLen > 0 && c.Type != String) {
			return fmt.Errorf("schema: column %q: max_len applies to string columns only and must be positive", c.Name)
		}
	}
	return nil
}

// Index returns the position of the named column, or -1.
func (s *Schema) Index(name string) int {
	for i, c := range s.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Column returns the named column and whether it exists.
func (s *Schema) Column(name string) (Column, bool) {
	if i := s.Index(name); i >= 0 {
		return s.Columns[i], true
	}
	return Column{}, false
}

// ValueError says why a text value does not fit its column.
type ValueError struct {
	Column string
	Reason string
}

func (e *ValueError) Error() string { return e.Reason }

// ParseValue converts the text form of a value of column c into its Vector
// form (see the package doc) and checks it against the column's bounds. The
// returned string is the value itself for string columns and empty
// otherwise.
func (c *Column) ParseValue(text string) (int64, string, error) {
	fail := func(format string, args ...any) (int64, string, error) {
		return 0, "", &ValueError{Column: c.Name, Reason: fmt.Sprintf(format, args...)}
	}
	switch c.Type {
	case String:
		max := c.MaxLen
		if max == 0 {
			max = DefaultMaxLen
		}
		if len(text) > max {
			return fail("string of %d bytes is longer than max_len %d", len(text), max)
		}
		if !utf8.ValidString(text) {
			return fail("string is not valid UTF-8")
		}
		return 0, text, nil
	case Bool:
		switch text {
		case "true":
			return 1, "", nil
		case "false":
			return 0, "", nil
		}
		return fail("%q is not a bool (want true or false)", text)
	case Int:
		v, ok := fastInt(text)
		if !ok {
			var err error
			if v, err = strconv.ParseInt(text, 10, 64); err != nil {
				return fail("%q is not an integer", text)
			}
		}
		if v < *c.Min || v > *c.Max {
			return fail("%d is outside the declared bounds [%d, %d]", v, *c.Min, *c.Max)
		}
		return v, "", nil
	case Date:
		d, ok := ParseDate(text)
		if !ok {
			return fail("%q is not a date (want YYYY-MM-DD)", text)
		}
		if d < *c.Min || d > *c.Max {
			return fail("%s is outside the declared bounds [%s, %s]", text, FormatDate(*c.Min), FormatDate(*c.Max))
		}
		return d, "", nil
	}
	return fail("unknown type %q", c.Type)
}

// MinDate and MaxDate are the first and last dates a date column can hold,
// 0000-01-01 and 9999-12-31, in days since 1970-01-01.
const (
	MinDate int64 = -719528
	MaxDate int64 = 2932896
)

// fastInt parses the common form of an integer, an optional minus and 1
// to 18 digits, as strconv.ParseInt does; ok is false for anything else
// (a plus sign, more digits, no digits), which ParseInt then decides.
func fastInt(s string) (int64, bool) {
	neg := len(s) > 0 && s[0] == '-'
	d := s
	if neg {
		d = s[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(d); i++ {
		c := d[i] - '0'
		if c > 9 {
			return 0, false
		}
		v = v*10 + int64(c)
	}
	if neg {
		v = -v
	}
	return v, true
}

// ParseDate parses a YYYY-MM-DD date into days since 1970-01-01, exactly
// as time.Parse with DateLayout reads it.
func ParseDate(s string) (int64, bool) {
	if d, ok := fastDate(s); ok {
		return d, true
	}
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return 0, false
	}
	return t.Unix() / 86400, true
}

func fastDate(s string) (int64, bool) { return ParseDigitsDate(s) }

// ParseDigitsDate parses a valid date written as ten ASCII characters
// YYYY-MM-DD, from text or bytes without copying; anything else (an
// invalid date included) is refused, and ParseDate then leaves it to
// time.Parse, whose answer it never changes.
func ParseDigitsDate[T string | []byte](s T) (int64, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	num := func(lo, hi int) (int, bool) {
		n := 0
		for i := lo; i < hi; i++ {
			c := s[i] - '0'
			if c > 9 {
				return 0, false
			}
			n = n*10 + int(c)
		}
		return n, true
	}
	y, ok1 := num(0, 4)
	m, ok2 := num(5, 7)
	d, ok3 := num(8, 10)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 {
		return 0, false
	}
	mdays := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		mdays = 29
	}
	if d > mdays {
		return 0, false
	}
	// Days from civil (proleptic Gregorian), after Howard Hinnant's
	// algorithm.
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468), true
}

// FormatDate formats days since 1970-01-01 as YYYY-MM-DD.
func FormatDate(days int64) string {
	return string(AppendDate(nil, days))
}

// AppendDate appends days since 1970-01-01 as YYYY-MM-DD, as FormatDate
// writes it: the years 0000 to 9999 by arithmetic, others through time.
func AppendDate(buf []byte, days int64) []byte {
	if days < MinDate || days > MaxDate {
		return time.Unix(days*86400, 0).UTC().AppendFormat(buf, DateLayout)
	}
	// Civil from days, after Howard Hinnant's algorithm.
	z := days + 719468
	era := z / 146097
	if z < 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return append(buf, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}

// FormatValue renders a non-string Vector value of type t as text.
func FormatValue(t Type, v int64) string {
	switch t {
	case Bool:
		return strconv.FormatBool(v != 0)
	case Date:
		return FormatDate(v)
	}
	return strconv.FormatInt(v, 10)
}

// Vector holds one column's values: Ints for int, bool and date columns
// (or Int32s, Ints nil, when every value fits in 32 bits); for string
// columns either Strs (plain), or Dict and Codes (dictionary-coded, Strs
// nil): row r's value is then Dict.At(int(Codes[r])), or Dict.At(r) when
// Codes is nil (each row its own entry). Int and Str read either form.
// Connectors produce plain vectors with Ints; the enclave keeps loaded
// rows dictionary-coded, which holds each distinct value of a block once
// and no pointer per row, and the ints of a column whose declared bounds
// fit in 32 bits (and bools and dates) in Int32s, in half the memory.
type Vector struct {
	Type   Type
	Ints   []int64
	Int32s []int32
	Strs   []string
	// Dict and Codes: a dictionary-coded string column. Every code is in
	// [0, Dict.Len()).
	Codes []int32
	Dict  *Dict
}

// Len returns the number of values.
func (v *Vector) Len() int {
	switch {
	case v.Type != String && v.Int32s != nil:
		return len(v.Int32s)
	case v.Type != String:
		return len(v.Ints)
	case v.Dict != nil && v.Codes == nil:
		return v.Dict.Len()
	case v.Dict != nil:
		return len(v.Codes)
	}
	return len(v.Strs)
}

// Int returns row r's value of an int, bool or date column, from Ints or
// Int32s.
func (v *Vector) Int(r int) int64 {
	if v.Int32s != nil {
		return int64(v.Int32s[r])
	}
	return v.Ints[r]
}

// Str returns row r's value of a string column, plain or
// dictionary-coded.
func (v *Vector) Str(r int) string {
	switch {
	case v.Dict != nil && v.Codes == nil:
		return v.Dict.At(r)
	case v.Dict != nil:
		return v.Dict.At(int(v.Codes[r]))
	}
	return v.Strs[r]
}

// Dict is a dictionary of strings without a pointer per entry: entry i is
// Bytes[Offs[i]:Offs[i+1]], so Offs has one element more than there are
// entries, and Offs[0] is 0; or, when Offs is nil and Width above 0,
// every entry is Width bytes long: entry i is
// Bytes[i·Width:(i+1)·Width]. Entries need not be distinct.
type Dict struct {
	Bytes []byte
	Offs  []int64
	Width int
}

// Len returns the number of entries.
func (d *Dict) Len() int {
	if d.Offs == nil {
		if d.Width > 0 {
			return len(d.Bytes) / d.Width
		}
		return 0
	}
	return max(len(d.Offs)-1, 0)
}

// At returns entry i. It shares d.Bytes' memory, without a copy: it
// changes when they do (zeroing Bytes zeroes it).
func (d *Dict) At(i int) string {
	if d.Offs == nil {
		return unsafe.String(&d.Bytes[i*d.Width], d.Width)
	}
	lo, hi := d.Offs[i], d.Offs[i+1]
	if lo == hi {
		return ""
	}
	return unsafe.String(&d.Bytes[lo], int(hi-lo))
}

// Batch is a set of rows in columnar form: Cols[i] holds the values of
// Schema.Columns[i], and every vector has Len values.
type Batch struct {
	Schema *Schema
	Cols   []Vector
	Len    int
}

// NewBatch returns an empty batch for s with room for capacity rows.
func NewBatch(s *Schema, capacity int) *Batch {
	b := &Batch{Schema: s, Cols: make([]Vector, len(s.Columns))}
	for i, c := range s.Columns {
		b.Cols[i].Type = c.Type
		if c.Type == String {
			b.Cols[i].Strs = make([]string, 0, capacity)
		} else {
			b.Cols[i].Ints = make([]int64, 0, capacity)
		}
	}
	return b
}

// Append adds the rows of o, which must have the same schema, to b. The
// vectors of b must be plain (Ints, Strs); o's may be dictionary-coded
// (their values are appended as strings that share o's dictionary) or
// hold Int32s.
func (b *Batch) Append(o *Batch) {
	for i := range b.Cols {
		v, ov := &b.Cols[i], &o.Cols[i]
		v.Ints = append(v.Ints, ov.Ints...)
		for _, x := range ov.Int32s {
			v.Ints = append(v.Ints, int64(x))
		}
		if ov.Dict == nil {
			v.Strs = append(v.Strs, ov.Strs...)
			continue
		}
		for r := range ov.Len() {
			v.Strs = append(v.Strs, ov.Str(r))
		}
	}
	b.Len += o.Len
}
