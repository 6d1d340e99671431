package query

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCompileLargeInputs feeds Compile adversarial queries of the largest
// accepted size: long tokens, deep nesting, long chains. None may panic
// (Compile would report a recovered panic as an internal error) or take
// long: each takes tens of milliseconds (seconds under the race detector on
// a loaded machine); the bound is there to catch quadratic blow-ups.
func TestCompileLargeInputs(t *testing.T) {
	n := MaxSQLBytes - 100
	for name, sql := range map[string]string{
		"long identifier":       "SELECT " + strings.Repeat("a", n) + " FROM )",
		"unterminated string":   "SELECT a FROM loans WHERE a = '" + strings.Repeat(`"`, n),
		"unterminated comment":  "SELECT COUNT(*) FROM loans /*" + strings.Repeat("x", n),
		"long string":           "SELECT COUNT(*) FROM loans WHERE borrower_name = '" + strings.Repeat("x", n) + "'",
		"long number":           "SELECT COUNT(*) FROM loans WHERE amount = " + strings.Repeat("9", n),
		"long decimal":          "SELECT COUNT(*) FROM loans WHERE amount = 0." + strings.Repeat("9", n),
		"AND chain":             "SELECT COUNT(*) FROM loans WHERE amount = 1" + strings.Repeat(" AND amount = 1", n/15),
		"OR chain":              "SELECT COUNT(*) FROM loans WHERE amount = 1" + strings.Repeat(" OR amount = 1", n/14),
		"parentheses":           "SELECT COUNT(*) FROM loans WHERE " + strings.Repeat("(", n/2) + "amount = 1" + strings.Repeat(")", n/2),
		"signs":                 "SELECT COUNT(*) FROM loans WHERE amount = " + strings.Repeat("- ", n/2) + "1",
		"NOT chain":             "SELECT COUNT(*) FROM loans WHERE " + strings.Repeat("NOT ", n/4) + "amount = 1",
		"arithmetic":            "SELECT COUNT(*) FROM loans WHERE amount = " + strings.Repeat("1+", n/2) + "1",
		"joins":                 "SELECT COUNT(*) FROM loans" + strings.Repeat(" JOIN loans ON a = b", n/20),
		"comma joins":           "SELECT COUNT(*) FROM loans" + strings.Repeat(", loans", n/7),
		"select list":           "SELECT amount" + strings.Repeat(", amount", n/8) + " FROM loans",
		"group by":              "SELECT COUNT(*) FROM loans GROUP BY amount" + strings.Repeat(", amount", n/8),
		"statements":            strings.Repeat("SELECT 1;", n/9),
		"nested CASE":           "SELECT " + strings.Repeat("CASE WHEN 1 THEN ", n/17) + "1 FROM loans",
		"nested subqueries":     "SELECT COUNT(*) FROM loans WHERE amount = " + strings.Repeat("(SELECT ", n/8) + "1",
		"nested function calls": "SELECT " + strings.Repeat("upper(", n/7) + "1" + strings.Repeat(")", n/7) + " FROM loans",
	} {
		t.Run(name, func(t *testing.T) {
			require.LessOrEqual(t, len(sql), MaxSQLBytes)
			start := time.Now()
			_, err := Compile(sql, testCatalog)
			require.Less(t, time.Since(start), 20*time.Second)
			if err != nil {
				require.NotContains(t, err.Error(), "internal error")
			}
		})
	}
}
