package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// China is the time zone of working days and deadlines: China Standard
// Time, UTC+8 all year.
var China = time.FixedZone("CST", 8*60*60)

// Calendar says which days are working days (Art. 34 counts its deadline
// in them): Monday to Friday, except the public holidays it lists, plus
// the weekend days it lists as working days (调休, the make-up days).
// The authority loads it; the zero Calendar has weekends only.
//
// # File format
//
// UTF-8 text, one entry per line; blank lines and lines starting with #
// are ignored. An entry is a date, a space, "holiday" or "workday", and
// optionally a space and a name:
//
//	# 2026
//	2026-10-01 holiday 国庆节
//	2026-09-27 workday 国庆节调休
//
// A date appears once. A holiday on a weekend and a workday on a weekday
// are refused: they would change nothing, and are likely mistakes.
type Calendar struct {
	Days []CalendarDay `json:"days"`
}

// CalendarDay is one exception to the Monday-to-Friday week.
type CalendarDay struct {
	Date string `json:"date"` // YYYY-MM-DD
	// Holiday is true for a public holiday on a weekday, false for a
	// working day on a weekend.
	Holiday bool   `json:"holiday"`
	Name    string `json:"name,omitempty"`
}

// CalendarError locates a problem in a calendar file.
type CalendarError struct {
	Line, Column int
	Msg          string
}

func (e *CalendarError) Error() string {
	return fmt.Sprintf("calendar: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// maxCalendar bounds a calendar file.
const maxCalendar = 1 << 20

// ParseCalendar reads a calendar file (see Calendar). Errors are
// *CalendarError naming the line and column.
func ParseCalendar(text []byte) (*Calendar, error) {
	if len(text) > maxCalendar {
		return nil, &CalendarError{Line: 1, Column: 1, Msg: fmt.Sprintf("%d bytes, more than %d", len(text), maxCalendar)}
	}
	c := &Calendar{}
	seen := map[string]int{}
	for i, line := range strings.Split(string(text), "\n") {
		ln := i + 1
		bad := func(col int, format string, args ...any) error {
			return &CalendarError{Line: ln, Column: col, Msg: fmt.Sprintf(format, args...)}
		}
		if !utf8.ValidString(line) {
			return nil, bad(1, "not valid UTF-8")
		}
		line = strings.TrimSuffix(line, "\r")
		if k := strings.IndexByte(line, '\r'); k >= 0 {
			return nil, bad(k+1, "a carriage return inside the line")
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		date, rest, _ := strings.Cut(line, " ")
		d, err := time.Parse(time.DateOnly, date)
		if err != nil || d.Format(time.DateOnly) != date {
			return nil, bad(1, "%q is not a date like 2026-10-01", date)
		}
		kind, name, _ := strings.Cut(rest, " ")
		day := CalendarDay{Date: date, Name: strings.TrimSpace(name)}
		switch kind {
		case "holiday":
			day.Holiday = true
		case "workday":
		default:
			return nil, bad(len(date)+2, "want holiday or workday after the date, got %q", kind)
		}
		if prev, ok := seen[date]; ok {
			return nil, bad(1, "%s is already given on line %d", date, prev)
		}
		seen[date] = ln
		weekend := d.Weekday() == time.Saturday || d.Weekday() == time.Sunday
		switch {
		case day.Holiday && weekend:
			return nil, bad(1, "%s is a %s: a holiday on a weekend changes nothing", date, d.Weekday())
		case !day.Holiday && !weekend:
			return nil, bad(1, "%s is a %s: it is a working day already", date, d.Weekday())
		}
		c.Days = append(c.Days, day)
	}
	sort.Slice(c.Days, func(i, j int) bool { return c.Days[i].Date < c.Days[j].Date })
	return c, nil
}

// Validate checks a calendar given as a document (not parsed from text).
func (c *Calendar) Validate() error {
	_, err := c.Normalized()
	return err
}

// Normalized checks a calendar given as a document and returns it as
// ParseCalendar would: each date exactly YYYY-MM-DD, sorted.
func (c *Calendar) Normalized() (*Calendar, error) {
	var b strings.Builder
	for _, d := range c.Days {
		kind := "workday"
		if d.Holiday {
			kind = "holiday"
		}
		if t, err := time.Parse(time.DateOnly, d.Date); err != nil || t.Format(time.DateOnly) != d.Date {
			return nil, fmt.Errorf("calendar: %q is not a date like 2026-10-01", d.Date)
		}
		if strings.ContainsAny(d.Name, "\n\r") {
			return nil, fmt.Errorf("calendar: the name of %s holds a line break", d.Date)
		}
		fmt.Fprintf(&b, "%s %s %s\n", d.Date, kind, d.Name)
	}
	return ParseCalendar([]byte(b.String()))
}

// WorkingDay reports whether the day of t (in China's time) is a working
// day.
func (c *Calendar) WorkingDay(t time.Time) bool {
	t = t.In(China)
	date := t.Format(time.DateOnly)
	i := sort.Search(len(c.Days), func(i int) bool { return c.Days[i].Date >= date })
	if i < len(c.Days) && c.Days[i].Date == date {
		return !c.Days[i].Holiday
	}
	return t.Weekday() != time.Saturday && t.Weekday() != time.Sunday
}

// Deadline returns the end of the n-th working day after the day of t (in
// China's time): the day of t itself does not count, and the deadline is
// midnight at the end of that working day.
func (c *Calendar) Deadline(t time.Time, n int) time.Time {
	t = t.In(China)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, China)
	for left := n; left > 0; {
		day = day.AddDate(0, 0, 1)
		if c.WorkingDay(day) {
			left--
		}
	}
	return day.AddDate(0, 0, 1)
}
