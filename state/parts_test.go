package state_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// A multipart upload's parts are kept but not read until every part, up
// to the last, has landed; then the dataset takes them in part order.
func TestMultipartUpload(t *testing.T) {
	g, auth, _ := genesisAuthority(t)
	l := &heLog{t: t, s: state.New()}
	require.NoError(t, l.apply(g))
	bank, bankKey, err := keys.New("bank")
	require.NoError(t, err)
	require.NoError(t, l.apply(stmt(t, statement.KindParty, policy.Party{Name: "bank", Kind: policy.Enterprise, Jurisdiction: "CN", Key: bankKey}, auth, bank)))
	ds := policy.Dataset{Name: "loans", Holder: "bank", Source: "bank", Declaration: &policy.SourceDeclaration{Origin: "ledger", LegalBasis: "contract", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"},
		Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General, Unit: "id",
		Schema: schema.Schema{Columns: []schema.Column{{Name: "id", Type: schema.String}}}}
	require.NoError(t, l.apply(stmt(t, statement.KindDataset, ds, bank)))

	hash := strings.Repeat("ab", 32)
	set, other := strings.Repeat("5", 32), strings.Repeat("6", 32)
	n := 0
	part := func(set string, index int, last bool, rows int64) *state.Entry {
		n++
		e := stmt(t, statement.KindUpload, policy.Upload{Dataset: "loans", UploadID: fmt.Sprintf("%032x", n), File: "loans.csv", Rows: rows, PlaintextSHA256: hash,
			Part: &policy.UploadPart{Set: set, Index: index, Last: last}}, bank)
		e.Upload = &state.Receipt{CiphertextSHA256: hash, CiphertextBytes: 1, PlaintextBytes: 1}
		return e
	}
	snap := func() ([]string, []string, int64) {
		s := l.s.Snapshot()
		var rows int64
		for _, d := range s.Datasets() {
			rows = d.Rows
		}
		return s.DatasetUploads("loans"), s.PendingUploads("loans"), rows
	}

	require.NoError(t, l.apply(part(set, 1, false, 20)))
	require.NoError(t, l.apply(part(other, 0, true, 7))) // a one-part set completes at once
	require.NoError(t, l.apply(part(set, 3, true, 40)))
	up, pend, rows := snap()
	require.Equal(t, []string{fmt.Sprintf("%032x", 2)}, up)
	require.Equal(t, []string{fmt.Sprintf("%032x", 1), fmt.Sprintf("%032x", 3)}, pend)
	require.EqualValues(t, 7, rows)

	require.ErrorIs(t, l.apply(part(set, 1, false, 20)), state.ErrConflict)
	require.ErrorContains(t, l.apply(part(set, 4, false, 1)), "part 4 of multipart upload "+set+" comes after its last part, 3")
	require.ErrorContains(t, l.apply(part(set, 2, true, 1)), "cannot be its last: part 3 has landed")
	require.ErrorContains(t, l.apply(part(set, -1, false, 1)), "part index -1 is outside")
	require.ErrorContains(t, l.apply(part("XYZ", 0, false, 1)), "invalid multipart upload id")
	require.ErrorIs(t, l.apply(part(other, 1, false, 1)), state.ErrConflict)

	require.NoError(t, l.apply(part(set, 0, false, 10)))
	_, pend, rows = snap()
	require.Len(t, pend, 3, "part 2 is missing: the set is not complete")
	require.EqualValues(t, 7, rows)

	require.NoError(t, l.apply(part(set, 2, false, 30)))
	up, pend, rows = snap()
	require.Empty(t, pend)
	require.EqualValues(t, 107, rows)
	// Part order, not ledger order.
	id := func(k int) string { return fmt.Sprintf("%032x", k) }
	require.Equal(t, []string{id(2), id(n - 1), id(1), id(n), id(3)}, up)
	require.ErrorContains(t, l.apply(part(set, 5, false, 1)), "is complete: it takes no more parts")
}
