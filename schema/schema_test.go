package schema

import "testing"

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
