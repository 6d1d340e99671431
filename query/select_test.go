package query

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSelect(t *testing.T) {
	rows := [][]string{
		{"A", "120", "5000.50"},
		{"B", "98", ""}, // withheld
		{"C", "300", "-12.00"},
		{"D", "98", "7000.00"},
	}
	for _, tc := range []struct {
		sql  string
		want []int
	}{
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry", []int{0, 1, 2, 3}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry HAVING n >= 100", []int{0, 2}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry HAVING a > 0", []int{0, 3}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry HAVING a <> 5000.5", []int{2, 3}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry HAVING r.industry >= 'B' AND n < 200", []int{1, 3}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry ORDER BY n", []int{1, 3, 0, 2}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry ORDER BY n DESC, r.industry DESC", []int{2, 0, 3, 1}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry ORDER BY a", []int{1, 2, 0, 3}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry ORDER BY 3 DESC LIMIT 2", []int{3, 0}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry LIMIT 1, 2", []int{1, 2}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry LIMIT 10 OFFSET 9", []int{}},
		{"SELECT r.industry, COUNT(*) AS n, AVG(r.registered_capital) AS a FROM registry r GROUP BY r.industry LIMIT 0", []int{}},
	} {
		p, err := Compile(tc.sql, testCatalog)
		require.NoError(t, err, tc.sql)
		got, err := p.Select(rows, nil)
		require.NoError(t, err, tc.sql)
		require.Equal(t, tc.want, got, tc.sql)
	}

	// By a grouping column that is not output: from the grouping values.
	p, err := Compile("SELECT COUNT(*) FROM registry r GROUP BY r.region, r.industry ORDER BY r.industry DESC", testCatalog)
	require.NoError(t, err)
	got, err := p.Select([][]string{{"1"}, {"2"}, {"3"}}, [][]string{{"x", "A"}, {"x", "C"}, {"y", "B"}})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 0}, got)
	_, err = p.Select([][]string{{"1"}, {"2"}}, nil)
	require.ErrorContains(t, err, "no grouping values")

	// A value that is not a number is an error, not a silent mismatch.
	p, err = Compile("SELECT COUNT(*) AS n FROM registry HAVING n > 1", testCatalog)
	require.NoError(t, err)
	_, err = p.Select([][]string{{"x"}}, nil)
	require.ErrorContains(t, err, `released value "x" of n`)
	_, err = p.Select([][]string{{"1", "2"}}, nil)
	require.ErrorContains(t, err, "row 0 has 2 values for 1 outputs")
}
