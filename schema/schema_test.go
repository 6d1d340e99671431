package schema

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestDateRange(t *testing.T) {
	for _, c := range []struct {
		text string
		days int64
	}{{"0000-01-01", MinDate}, {"9999-12-31", MaxDate}} {
		d, ok := ParseDate(c.text)
		if !ok || d != c.days {
			t.Errorf("ParseDate(%q) = %d, %t; want %d", c.text, d, ok, c.days)
		}
		if got := FormatDate(c.days); got != c.text {
			t.Errorf("FormatDate(%d) = %q, want %q", c.days, got, c.text)
		}
	}
}

// FuzzParseFast holds the fast integer and date parsers to strconv and
// time: the same answer for every input.
func FuzzParseFast(f *testing.F) {
	for _, s := range []string{"0", "-0", "+5", "007", "123456789012345678", "1234567890123456789", "-", "", "1a",
		"2024-02-29", "2023-02-29", "0000-01-01", "9999-12-31", "1970-01-01", "2020-13-01", "2020-1-01", "1900-02-29", "2000-02-29"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, ok := fastInt(s); ok {
			w, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v != w {
				t.Fatalf("fastInt(%q) = %d, strconv says %d, %v", s, v, w, err)
			}
		}
		if d, ok := fastDate(s); ok {
			tm, err := time.Parse(DateLayout, s)
			if err != nil || tm.Unix()/86400 != d {
				t.Fatalf("fastDate(%q) = %d, time says %v, %v", s, d, tm, err)
			}
		} else if len(s) == 10 {
			if tm, err := time.Parse(DateLayout, s); err == nil && s[0] != '+' && s[0] != '-' {
				// time.Parse takes some forms fastDate leaves to it; ParseDate
				// still agrees since it falls back.
				if d2, ok := ParseDate(s); !ok || d2 != tm.Unix()/86400 {
					t.Fatalf("ParseDate(%q) = %d, %v; time says %v", s, d2, ok, tm)
				}
			}
		}
	})
}

// TestParseDigitsDate checks the fast date parser against time.Parse on
// every day of 1900 to 2100, around every end of February of the years
// 0000 to 9999, and on strings that are nearly dates.
func TestParseDigitsDate(t *testing.T) {
	check := func(s string) {
		t.Helper()
		got, ok := ParseDigitsDate(s)
		tm, err := time.Parse(DateLayout, s)
		want, wantOK := tm.Unix()/86400, err == nil
		if ok && (!wantOK || got != want) {
			t.Fatalf("ParseDigitsDate(%q) = %d, true; time.Parse = %d, %v", s, got, want, err)
		}
		if !ok && wantOK && len(s) == 10 && s[0] >= '0' && s[0] <= '9' {
			t.Fatalf("ParseDigitsDate(%q) = false; time.Parse = %d", s, want)
		}
		if b, okb := ParseDigitsDate([]byte(s)); b != got || okb != ok {
			t.Fatalf("ParseDigitsDate differs on the bytes of %q", s)
		}
	}
	first, _ := ParseDate("1900-01-01")
	last, _ := ParseDate("2100-12-31")
	for d := first; d <= last; d++ {
		check(FormatDate(d))
	}
	for y := range 10000 {
		for _, md := range []string{"01-01", "02-28", "02-29", "02-30", "03-01", "12-31", "12-32", "00-10", "13-01", "04-31", "06-00"} {
			check(fmt.Sprintf("%04d-%s", y, md))
		}
	}
	for _, s := range []string{"", "2020-1-01", "2020-01-1", "20200101", "2020/01/01", "2020-01-01 ", " 2020-01-01",
		"+020-01-01", "-020-01-01", "2020-0a-01", "2020-01-0\x00", "２０２０-01-01", "2020-01-01T00:00:00Z"} {
		check(s)
	}
}

// TestAppendDate: every day of 0000 to 9999 (and a few outside) is written
// as time writes it.
func TestAppendDate(t *testing.T) {
	for d := MinDate - 3; d <= MaxDate+3; d++ {
		want := time.Unix(d*86400, 0).UTC().Format(DateLayout)
		if got := FormatDate(d); got != want {
			t.Fatalf("FormatDate(%d) = %q, want %q", d, got, want)
		}
	}
}

// TestDictVector: a dictionary-coded string vector reads (Str, Len) as
// the plain one it stands for, and appends to a plain batch as one.
func TestDictVector(t *testing.T) {
	s := &Schema{Columns: []Column{{Name: "s", Type: String}, {Name: "n", Type: Int}}}
	d := &Dict{Bytes: []byte("ab字"), Offs: []int64{0, 2, 2, 5}}
	coded := &Batch{Schema: s, Len: 4, Cols: []Vector{
		{Type: String, Codes: []int32{2, 0, 1, 2}, Dict: d},
		{Type: Int, Ints: []int64{1, 2, 3, 4}},
	}}
	want := []string{"字", "ab", "", "字"}
	if d.Len() != 3 || coded.Cols[0].Len() != 4 {
		t.Fatalf("Len: dictionary %d, vector %d", d.Len(), coded.Cols[0].Len())
	}
	for r, w := range want {
		if got := coded.Cols[0].Str(r); got != w {
			t.Errorf("Str(%d) = %q, want %q", r, got, w)
		}
	}
	plain := NewBatch(s, 0)
	plain.Append(coded)
	plain.Append(coded)
	if plain.Len != 8 || fmt.Sprint(plain.Cols[0].Strs) != fmt.Sprint(append(want, want...)) || plain.Cols[1].Ints[5] != 2 {
		t.Errorf("Append: %d rows, %q, %v", plain.Len, plain.Cols[0].Strs, plain.Cols[1].Ints)
	}
	if got := plain.Cols[0].Str(4); got != "字" {
		t.Errorf("plain Str(4) = %q", got)
	}
	if (&Dict{}).Len() != 0 {
		t.Error("an empty dictionary has entries")
	}

	// Fixed-width entries, each row its own entry.
	fixed := &Vector{Type: String, Dict: &Dict{Bytes: []byte("L1L2L3"), Width: 2}}
	if fixed.Len() != 3 || fixed.Str(0) != "L1" || fixed.Str(2) != "L3" {
		t.Errorf("fixed width: %d values, %q, %q", fixed.Len(), fixed.Str(0), fixed.Str(2))
	}
	fixed.Codes = []int32{2, 2}
	if fixed.Len() != 2 || fixed.Str(1) != "L3" {
		t.Errorf("fixed width with codes: %d values, %q", fixed.Len(), fixed.Str(1))
	}
}

func TestInt32Vector(t *testing.T) {
	s := &Schema{Columns: []Column{{Name: "n", Type: Int}}}
	narrow := &Batch{Schema: s, Len: 3, Cols: []Vector{{Type: Int, Int32s: []int32{-7, 0, 1 << 30}}}}
	v := &narrow.Cols[0]
	if v.Len() != 3 || v.Int(0) != -7 || v.Int(2) != 1<<30 {
		t.Errorf("Int32s: %d values, %d, %d", v.Len(), v.Int(0), v.Int(2))
	}
	if (&Vector{Type: Int, Int32s: []int32{}}).Len() != 0 {
		t.Error("an empty Int32s vector has values")
	}
	plain := NewBatch(s, 0)
	plain.Append(narrow)
	plain.Append(&Batch{Schema: s, Len: 1, Cols: []Vector{{Type: Int, Ints: []int64{1 << 40}}}})
	if fmt.Sprint(plain.Cols[0].Ints) != "[-7 0 1073741824 1099511627776]" || plain.Cols[0].Int32s != nil || plain.Len != 4 {
		t.Errorf("Append: %v (%v), %d rows", plain.Cols[0].Ints, plain.Cols[0].Int32s, plain.Len)
	}
	if plain.Cols[0].Int(3) != 1<<40 {
		t.Errorf("Int(3) = %d", plain.Cols[0].Int(3))
	}
}
