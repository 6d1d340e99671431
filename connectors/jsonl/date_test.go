package jsonl

import (
	"fmt"
	"testing"

	"github.com/xjdata/cleanroom/schema"
)

// TestFastDate checks fastDate against schema.ParseDate, which it stands in
// for: on every day of 1900 to 2100 and around every end of February, and
// on strings that are nearly dates.
func TestFastDate(t *testing.T) {
	check := func(s string) {
		t.Helper()
		got, ok := fastDate([]byte(s))
		want, wantOK := schema.ParseDate(s)
		if ok && (!wantOK || got != want) {
			t.Fatalf("fastDate(%q) = %d, true; ParseDate = %d, %v", s, got, want, wantOK)
		}
		if !ok && wantOK && len(s) == 10 {
			t.Fatalf("fastDate(%q) = false; ParseDate = %d, true", s, want)
		}
	}
	first, _ := schema.ParseDate("1900-01-01")
	last, _ := schema.ParseDate("2100-12-31")
	for d := first; d <= last; d++ {
		check(schema.FormatDate(d))
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
