package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testCalendar = `# 2026, in part
2026-10-01 holiday 国庆节
2026-10-02 holiday 国庆节
2026-09-27 workday 国庆节调休

2026-06-19 holiday 端午节
`

func TestCalendar(t *testing.T) {
	c, err := ParseCalendar([]byte(testCalendar))
	require.NoError(t, err)
	require.Len(t, c.Days, 4)
	require.Equal(t, "2026-06-19", c.Days[0].Date, "sorted")
	require.NoError(t, c.Validate())

	day := func(s string) time.Time {
		d, err := time.ParseInLocation(time.DateOnly, s, China)
		require.NoError(t, err)
		return d.Add(10 * time.Hour)
	}
	require.False(t, c.WorkingDay(day("2026-10-01")), "a holiday")
	require.True(t, c.WorkingDay(day("2026-09-27")), "a make-up Sunday")
	require.False(t, c.WorkingDay(day("2026-09-26")), "a Saturday")
	require.True(t, c.WorkingDay(day("2026-09-30")), "a Wednesday")
	// Late on a Sunday evening in UTC is Monday in China.
	require.True(t, c.WorkingDay(time.Date(2026, 9, 20, 20, 0, 0, 0, time.UTC)))

	// Filed on Friday 2026-06-12: the next ten working days skip the
	// weekends and the Dragon Boat holiday (Friday 19th), ending Monday
	// 2026-06-29.
	require.Equal(t, "2026-06-30T00:00:00+08:00", c.Deadline(day("2026-06-12"), 10).Format(time.RFC3339))
	// Filed on Friday 2026-09-25: the make-up Sunday counts, the two
	// holidays do not.
	require.Equal(t, "2026-10-13T00:00:00+08:00", c.Deadline(day("2026-09-25"), 10).Format(time.RFC3339))
	// Without a calendar, weekends only.
	require.Equal(t, "2026-06-27T00:00:00+08:00", (&Calendar{}).Deadline(day("2026-06-13"), 10).Format(time.RFC3339))
}

func TestParseCalendarErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2026-13-01 holiday x", "line 1, column 1: \"2026-13-01\" is not a date"},
		{"# ok\n2026-10-01 feast x", "line 2, column 12: want holiday or workday"},
		{"2026-10-01 holiday\n2026-10-01 holiday", "line 2, column 1: 2026-10-01 is already given on line 1"},
		{"2026-10-03 holiday", "is a Saturday: a holiday on a weekend changes nothing"},
		{"2026-10-05 workday", "is a Monday: it is a working day already"},
		{"2026-10-01  holiday", "want holiday or workday"},
		{"\xff", "not valid UTF-8"},
	} {
		_, err := ParseCalendar([]byte(tc.in))
		require.ErrorContains(t, err, tc.want, tc.in)
	}
	_, err := ParseCalendar([]byte(strings.Repeat("#", maxCalendar+1)))
	require.Error(t, err)
}

func FuzzParseCalendar(f *testing.F) {
	f.Add([]byte(testCalendar))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCalendar(b)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a parsed calendar does not validate: %v", err)
		}
		c.Deadline(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10)
	})
}
