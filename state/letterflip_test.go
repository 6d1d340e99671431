package state_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/query"
)

// TestEveryBitFlipOfALetterIsDenied flips every bit of a letter signed by
// its applicant and two providers. A flipped letter must never enter the
// state as one signed by all three: it is refused at submission (malformed
// or a signature that does not verify), or it enters without one of the
// signatures, and then every query under it is denied (Art. 43).
func TestEveryBitFlipOfALetterIsDenied(t *testing.T) {
	var signers []note.Signer
	var verifiers []note.Verifier
	for _, name := range []string{"bank", "msb", "grid"} {
		s, vkey, err := keys.New(name)
		require.NoError(t, err)
		v, err := note.NewVerifier(vkey)
		require.NoError(t, err)
		signers, verifiers = append(signers, s), append(verifiers, v)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := policy.Letter{ID: "L-7", Applicant: "bank", Scenario: policy.Scenario{ID: "GC-1", Text: "绿色信贷风险评估"},
		Purposes: []string{"绿色信贷定价"}, Safeguards: []string{"不得重新识别"}, NotBefore: t0, NotAfter: t0.AddDate(0, 3, 0),
		MinGroupSize: 10, MaxGroupsPerUnit: 2, Recipients: []string{"bank"}, Prohibitions: policy.Prohibitions,
		Datasets: []policy.LetterDataset{
			{Name: "registry", Epsilon: 3_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{{Column: "uscc", Uses: []policy.Use{query.UseJoinKey}}}},
			{Name: "electricity", Epsilon: 3_000_000, Delta: 1e-6, Columns: []policy.ColumnRule{{Column: "kwh", Uses: []policy.Use{query.UseAggregate}, Funcs: []query.Func{query.Sum}}}},
		}}
	msg, err := statement.New(statement.KindLetter, &l, signers...)
	require.NoError(t, err)
	known := note.VerifierList(verifiers...)
	st, err := statement.Verify(msg, known)
	require.NoError(t, err)
	require.Equal(t, []string{"bank", "msb", "grid"}, st.Signers)

	accepted := 0
	for i := range msg {
		for bit := range 8 {
			b := slices.Clone(msg)
			b[i] ^= 1 << bit
			st, err := statement.Verify(b, known)
			if err != nil {
				continue // refused at submission
			}
			if _, err := policy.ParseLetter(st.Body); err != nil {
				continue // refused at submission
			}
			accepted++
			require.False(t, slices.Contains(st.Signers, "bank") && slices.Contains(st.Signers, "msb") && slices.Contains(st.Signers, "grid"),
				"flip of bit %d of byte %d kept all three signatures", bit, i)
		}
	}
	t.Logf("%d flips of %d bits entered with a signature missing; all others were refused", accepted, 8*len(msg))
}
