package node_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/protocols/dp/dptest"
	"github.com/xjdata/cleanroom/schema"
)

// TestHEUploadFromSources uploads more loans in HE mode from a Parquet
// file and from a tab-separated file without a header, and the same rows
// sealed: both modes answer alike over them. A value out of bounds is
// refused, or clamped and counted with clamping.
func TestHEUploadFromSources(t *testing.T) {
	r := newHERoom(t, 30, dptest.InsecureNoNoise{})
	ctx := context.Background()
	dir := t.TempDir()
	s := schemas["loans"]
	rows, err := csv.ReadAll(strings.NewReader(readFile(t, csvFor(t, dir, "loans", 30))), &s, csv.Options{})
	require.NoError(t, err)

	var pq bytes.Buffer
	require.NoError(t, parquet.Write(&pq, &s, func(yield func(*schema.Batch) bool) { yield(rows) }, parquet.WriteOptions{}))
	pqPath := filepath.Join(dir, "loans.parquet")
	require.NoError(t, os.WriteFile(pqPath, pq.Bytes(), 0o644))
	tsv := strings.ReplaceAll(strings.SplitN(readFile(t, csvFor(t, dir, "loans", 30)), "\n", 2)[1], ",", "\t")
	tsvPath := filepath.Join(dir, "loans.tsv")
	require.NoError(t, os.WriteFile(tsvPath, []byte(tsv), 0o644))
	tsvOpts := from.Options{CSV: csv.Options{Comma: '\t', NoHeader: true, NoQuotes: true}}

	hk, err := client.LoadHEKeys(r.agents["bank"].dir)
	require.NoError(t, err)
	d := r.dataset("loans")
	letter := r.defaultLetter("L-1")
	ld, _ := letter.Dataset("loans")
	treat := client.Treatments(d, ld.Columns)
	bank := r.parties["bank"].signer
	for _, up := range []struct {
		sp   from.Spec
		opts from.Options
	}{{from.Spec{Kind: "parquet", Path: pqPath}, from.Options{}}, {from.Spec{Kind: "csv", Path: tsvPath}, tsvOpts}} {
		res, err := r.c.UploadHEFrom(ctx, bank, d, treat, hk, up.sp, up.opts, false, nil)
		require.NoError(t, err, up.sp.Path)
		require.EqualValues(t, 30, res.Rows)
		_, err = r.c.UploadFrom(ctx, bank, "loans", &s, up.sp, up.opts, client.UploadOptions{})
		require.NoError(t, err, up.sp.Path)
	}
	for _, sql := range []string{
		"SELECT l.green, COUNT(*), SUM(l.amount) FROM loans l GROUP BY l.green",
		"SELECT r.industry, AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry",
	} {
		sealed, err := r.query("bank", "L-1", "0.01", "", sql)
		require.NoError(t, err, sql)
		he, _, err := r.queryHE("L-1", "0.01", sql)
		require.NoError(t, err, sql)
		require.Equal(t, sealed.Result.Rows, he.Rows, sql)
	}

	// An amount above the declared bound: refused, naming where; clamped
	// and counted with clamping.
	over := strings.Replace(tsv, "\t10000\t", "\t99999999999999\t", 1)
	require.NoError(t, os.WriteFile(tsvPath, []byte(over), 0o644))
	_, err = r.c.UploadHEFrom(ctx, bank, d, treat, hk, from.Spec{Kind: "csv", Path: tsvPath}, tsvOpts, false, nil)
	require.ErrorContains(t, err, "loans.tsv:1:3: column amount: 99999999999999 is outside the declared bounds")
	res, err := r.c.UploadHEFrom(ctx, bank, d, treat, hk, from.Spec{Kind: "csv", Path: tsvPath}, tsvOpts, true, nil)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"amount": 1}, res.Clamped)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestHEPostProcessingIsExact: HAVING, ORDER BY and LIMIT apply to the
// released values in HE mode (after decryption, by the operator's client)
// as in sealed mode.
func TestHEPostProcessingIsExact(t *testing.T) {
	r := newHERoom(t, 300, dptest.InsecureNoNoise{})
	for _, sql := range []string{
		"SELECT r.industry, COUNT(*) AS n, AVG(r.capital) FROM registry r GROUP BY r.industry HAVING n > 40 ORDER BY n DESC",
		"SELECT e.month, SUM(e.kwh) AS s FROM electricity e GROUP BY e.month ORDER BY s DESC LIMIT 3",
		"SELECT SUM(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry ORDER BY r.industry DESC LIMIT 2 OFFSET 1",
	} {
		sealed, err := r.query("bank", "L-1", "0.01", "", sql)
		require.NoError(t, err, sql)
		he, _, err := r.queryHE("L-1", "0.01", sql)
		require.NoError(t, err, sql)
		require.NotEmpty(t, he.Rows, sql)
		require.Equal(t, sealed.Result.Rows, he.Rows, sql)
	}
}
