package node_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/internal/api"
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

// interrupt uploads the loans file at path in parts of about 1 KiB, and
// cuts the upload off once parts have landed, as a dropped connection
// would.
func (r *room) interrupt(path string) *client.ResumableError {
	r.t.Helper()
	s := schemas["loans"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := r.c.UploadFrom(ctx, r.parties["bank"].signer, "loans", &s, from.Spec{Kind: "csv", Path: path}, from.Options{BatchSize: 16},
		client.UploadOptions{PartBytes: 1024, Progress: func(p client.UploadProgress) {
			if p.Parts >= 3 {
				cancel()
			}
		}})
	var re *client.ResumableError
	require.ErrorAs(r.t, err, &re)
	require.ErrorIs(r.t, err, context.Canceled)
	require.ErrorContains(r.t, err, "resume it with --resume "+re.Set)
	require.GreaterOrEqual(r.t, re.Landed, 3)
	r.settle()
	require.GreaterOrEqual(r.t, len(r.pending()), re.Landed)
	return re
}

// settle waits for the node to finish with a part that was in flight when
// the client stopped: it lands, or its temporary file is removed.
func (r *room) settle() {
	r.t.Helper()
	require.Eventually(r.t, func() bool {
		tmp, _ := filepath.Glob(filepath.Join(r.dir, "sealed", "loans", ".ingest-*"))
		return len(tmp) == 0
	}, time.Minute, time.Millisecond)
}

func (r *room) pending() []api.PendingPart {
	r.t.Helper()
	cat, err := r.c.Catalog(context.Background())
	require.NoError(r.t, err)
	for _, d := range cat {
		if d.Name == "loans" {
			return d.Pending
		}
	}
	return nil
}

// An upload in many parts that is cut off leaves its landed parts pending:
// queries do not read them. Resuming sends only the parts the node lacks,
// after checking the others against the source, and the dataset takes
// every row.
func TestMultipartUploadResumes(t *testing.T) {
	const n, base = 4000, 20
	r := newRoom(t, base, func(c *node.Config) { c.Noise = dptest.InsecureNoNoise{} })
	s := schemas["loans"]
	bank := r.parties["bank"].signer
	upload := func(path string, opts client.UploadOptions) (*client.UploadResult, error) {
		return r.c.UploadFrom(context.Background(), bank, "loans", &s, from.Spec{Kind: "csv", Path: path}, from.Options{BatchSize: 16}, opts)
	}

	file := loansFile(t, n, nil)
	re := r.interrupt(file)
	require.Equal(t, fmt.Sprint(base), r.countLoans(), "pending parts are not read")
	landed := len(r.pending())

	// The source changed before the first part: resuming refuses.
	changed := loansFile(t, n, map[int]string{0: "5"})
	opts := client.UploadOptions{PartBytes: 1024, Resume: re.Set}
	_, err := upload(changed, opts)
	require.ErrorContains(t, err, "resume: part 0 of upload "+re.Set+" on the node")
	require.ErrorContains(t, err, "the source changed since the upload began")
	require.Equal(t, fmt.Sprint(base), r.countLoans())

	res, err := upload(file, opts)
	require.NoError(t, err)
	require.Equal(t, re.Set, res.Set)
	require.Equal(t, landed, res.Skipped)
	require.EqualValues(t, n, res.Rows)
	require.Equal(t, fmt.Sprint(base+n), r.countLoans())
	require.Empty(t, r.pending())

	// The set is complete: it takes no more parts.
	_, err = upload(file, opts)
	require.ErrorContains(t, err, "is complete: it takes no more parts")
}

// A source with a bad row stops the upload, and the parts sent before it
// are abandoned: nothing of the upload stays on the node.
func TestBadRowLeavesNothing(t *testing.T) {
	r := newRoom(t, 10, func(c *node.Config) { c.Noise = dptest.InsecureNoNoise{} })
	s := schemas["loans"]
	before := r.sealedFiles()
	bad := loansFile(t, 4000, map[int]string{3000: "-7"})
	_, err := r.c.UploadFrom(context.Background(), r.parties["bank"].signer, "loans", &s, from.Spec{Kind: "csv", Path: bad}, from.Options{BatchSize: 16}, client.UploadOptions{PartBytes: 1024})
	require.ErrorContains(t, err, "more-loans.csv:3002:3: column amount: -7 is outside the declared bounds [0, 1000000000]")
	require.ErrorContains(t, err, "the parts sent were abandoned: nothing of this upload stays on the node")
	var re *client.ResumableError
	require.False(t, errors.As(err, &re))
	require.Empty(t, r.pending())
	r.settle()
	require.Equal(t, before, r.sealedFiles())
	require.Equal(t, "10", r.countLoans())
}

func (r *room) sealedFiles() []string {
	r.t.Helper()
	m, err := filepath.Glob(filepath.Join(r.dir, "sealed", "loans", "*"))
	require.NoError(r.t, err)
	return m
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
	before := r.sealedFiles()
	file := loansFile(t, 2000, nil)
	re := r.interrupt(file)
	// A part in flight may be stored but not yet logged: wait for its
	// entry (or its removal).
	require.Eventually(t, func() bool { return len(r.sealedFiles()) == len(before)+len(r.pending()) }, time.Minute, time.Millisecond)

	abandon := policy.Abandon{Dataset: "loans", Set: re.Set, Reason: "wrong extract"}
	require.Contains(t, r.refused(statement.KindAbandon, abandon, "msb"), "can be abandoned only by its holder bank")
	require.Contains(t, r.refused(statement.KindAbandon, policy.Abandon{Dataset: "loans", Set: re.Set}, "bank"), "a reason is required")
	require.Contains(t, r.refused(statement.KindAbandon, policy.Abandon{Dataset: "loans", Set: strings.Repeat("0", 32), Reason: "x"}, "bank"), "no pending parts")
	r.submit(statement.KindAbandon, abandon, bank)
	require.Equal(t, before, r.sealedFiles(), "the abandoned parts are deleted")
	require.Equal(t, "10", r.countLoans())

	_, err := r.c.UploadFrom(context.Background(), bank, "loans", &s, from.Spec{Kind: "csv", Path: file}, from.Options{}, client.UploadOptions{Resume: re.Set})
	require.ErrorContains(t, err, "was abandoned: it takes no more parts")

	// The node restarts to the same state.
	r.stop()
	r.start()
	require.Equal(t, before, r.sealedFiles())
	require.Equal(t, "10", r.countLoans())
}
