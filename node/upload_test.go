package node_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/dp/dptest"
)

// loansFile writes n loans of enterprises F00000.. as CSV, amount i+1 each
// but where bad says otherwise.
func loansFile(t *testing.T, n int, bad map[int]string) string {
	var b strings.Builder
	b.WriteString("loan_id,uscc,amount,green\n")
	for i := range n {
		amount := fmt.Sprint(i + 1)
		if v, ok := bad[i]; ok {
			amount = v
		}
		fmt.Fprintf(&b, "M%05d,F%05d,%s,%t\n", i, i, amount, i%2 == 0)
	}
	p := filepath.Join(t.TempDir(), "more-loans.csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	return p
}

func (r *room) countLoans() string {
	r.t.Helper()
	out, err := r.query("bank", "L-1", "0.1", "", "SELECT COUNT(*) FROM loans l")
	require.NoError(r.t, err)
	return out.Result.Rows[0][0]
}

// An upload in many parts that stops at a bad row leaves its landed parts
// pending: queries do not read them. Once the row is fixed, resuming sends
// only the parts the node lacks, and the dataset takes every row.
func TestMultipartUploadResumes(t *testing.T) {
	const n, base = 400, 20
	r := newRoom(t, base, func(c *node.Config) { c.Noise = dptest.InsecureNoNoise{} })
	s := schemas["loans"]
	bank := r.parties["bank"].signer
	opts := client.UploadOptions{PartBytes: 1024} // about 40 rows a part
	upload := func(path string, opts client.UploadOptions) (*client.UploadResult, error) {
		return r.c.UploadFrom(context.Background(), bank, "loans", &s, from.Spec{Kind: "csv", Path: path}, from.Options{BatchSize: 16}, opts)
	}

	bad := loansFile(t, n, map[int]string{300: "-7"})
	_, err := upload(bad, opts)
	var re *client.ResumableError
	require.ErrorAs(t, err, &re)
	require.ErrorContains(t, err, "more-loans.csv:302:3: column amount: -7 is outside the declared bounds [0, 1000000000]")
	require.ErrorContains(t, err, "resume it with --resume "+re.Set)
	require.Greater(t, re.Landed, 3)
	require.Equal(t, fmt.Sprint(base), r.countLoans(), "pending parts are not read")

	cat, err := r.c.Catalog(context.Background())
	require.NoError(t, err)
	for _, d := range cat {
		if d.Name == "loans" {
			require.Len(t, d.Pending, re.Landed)
		}
	}

	// The source changed before the first part: resuming refuses.
	changed := loansFile(t, n, map[int]string{0: "5", 300: "7"})
	opts.Resume = re.Set
	_, err = upload(changed, opts)
	require.ErrorContains(t, err, "resume: part 0 of upload "+re.Set+" on the node")
	require.ErrorContains(t, err, "the source changed since the upload began")
	require.Equal(t, fmt.Sprint(base), r.countLoans())

	fixed := loansFile(t, n, map[int]string{300: "7"})
	res, err := upload(fixed, opts)
	require.NoError(t, err)
	require.Equal(t, re.Set, res.Set)
	require.Equal(t, re.Landed, res.Skipped)
	require.EqualValues(t, n, res.Rows)
	require.Equal(t, fmt.Sprint(base+n), r.countLoans())

	// The set is complete: it takes no more parts.
	_, err = upload(fixed, opts)
	require.ErrorContains(t, err, "is complete: it takes no more parts")
}

// --clamp moves out-of-bounds values to the bounds and counts them; without
// it they are refused and nothing is read.
func TestUploadClamp(t *testing.T) {
	const base = 10
	r := newRoom(t, base, func(c *node.Config) { c.Noise = dptest.InsecureNoNoise{} })
	s := schemas["loans"]
	bank := r.parties["bank"].signer
	p := loansFile(t, 5, map[int]string{1: "-3", 3: "2000000000", 4: "-1"})

	_, err := r.c.UploadCSV(context.Background(), bank, "loans", &s, p, client.UploadOptions{})
	require.ErrorContains(t, err, "more-loans.csv:3:3: column amount: -3 is outside the declared bounds")
	var re *client.ResumableError
	require.False(t, errors.As(err, &re), "nothing landed")

	res, err := r.c.UploadCSV(context.Background(), bank, "loans", &s, p, client.UploadOptions{Clamp: true})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"amount": 3}, res.Clamped)
	require.Equal(t, fmt.Sprint(base+5), r.countLoans())
	out, err := r.query("bank", "L-1", "0.1", "", "SELECT SUM(amount) FROM loans l")
	require.NoError(t, err)
	// The first upload's 10000 to 10009, then 1, 0, 3, 1e9 and 0.
	require.Equal(t, "1000100049", out.Result.Rows[0][0])
}

// The holder abandons an incomplete upload: its parts are deleted from
// disk, and the upload takes no more parts. Others may not.
func TestAbandonUpload(t *testing.T) {
	r := newRoom(t, 10, func(c *node.Config) { c.Noise = dptest.InsecureNoNoise{} })
	s := schemas["loans"]
	bank := r.parties["bank"].signer
	parts := func() []string {
		m, err := filepath.Glob(filepath.Join(r.dir, "sealed", "loans", "*.age"))
		require.NoError(t, err)
		return m
	}
	before := len(parts())
	bad := loansFile(t, 200, map[int]string{150: "x"})
	_, err := r.c.UploadFrom(context.Background(), bank, "loans", &s, from.Spec{Kind: "csv", Path: bad}, from.Options{BatchSize: 16}, client.UploadOptions{PartBytes: 1024})
	var re *client.ResumableError
	require.ErrorAs(t, err, &re)
	require.Len(t, parts(), before+re.Landed)

	abandon := policy.Abandon{Dataset: "loans", Set: re.Set, Reason: "wrong extract"}
	require.Contains(t, r.refused(statement.KindAbandon, abandon, "msb"), "can be abandoned only by its holder bank")
	require.Contains(t, r.refused(statement.KindAbandon, policy.Abandon{Dataset: "loans", Set: re.Set}, "bank"), "a reason is required")
	require.Contains(t, r.refused(statement.KindAbandon, policy.Abandon{Dataset: "loans", Set: strings.Repeat("0", 32), Reason: "x"}, "bank"), "no pending parts")
	r.submit(statement.KindAbandon, abandon, bank)
	require.Len(t, parts(), before, "the abandoned parts are deleted")
	require.Equal(t, "10", r.countLoans())

	fixed := loansFile(t, 200, nil)
	_, err = r.c.UploadFrom(context.Background(), bank, "loans", &s, from.Spec{Kind: "csv", Path: fixed}, from.Options{}, client.UploadOptions{Resume: re.Set})
	require.ErrorContains(t, err, "was abandoned: it takes no more parts")

	// The node restarts to the same state.
	r.stop()
	r.start()
	require.Len(t, parts(), before)
	require.Equal(t, "10", r.countLoans())
}
