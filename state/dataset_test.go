package state_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// TestDatasetRegistration covers the source declaration (Art. 42(1)) and
// one source per data item (Art. 23).
func TestDatasetRegistration(t *testing.T) {
	g, auth, _ := genesisAuthority(t)
	l := &heLog{t: t, s: state.New()}
	require.NoError(t, l.apply(g))
	msb, msbKey, err := keys.New("msb")
	require.NoError(t, err)
	grid, gridKey, err := keys.New("grid")
	require.NoError(t, err)
	require.NoError(t, l.apply(stmt(t, statement.KindParty, policy.Party{Name: "msb", Kind: policy.PublicBody, Jurisdiction: "CN", Key: msbKey}, auth, msb)))
	require.NoError(t, l.apply(stmt(t, statement.KindParty, policy.Party{Name: "grid", Kind: policy.PublicService, Jurisdiction: "CN", Key: gridKey}, auth, grid)))

	decl := &policy.SourceDeclaration{Origin: "enterprise registration filings", LegalBasis: "市场主体登记管理条例", CollectedFrom: "2015-01-01", CollectedTo: "2025-12-31"}
	zero, max := int64(0), int64(1e10)
	sch := schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "capital", Type: schema.Int, Min: &zero, Max: &max}}}
	ds := func(name, source string, d *policy.SourceDeclaration, items ...policy.DataItem) policy.Dataset {
		return policy.Dataset{Name: name, Holder: "msb", Source: source, Declaration: d, Schema: sch, Items: items,
			Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General}
	}
	capital := policy.DataItem{Column: "capital", Item: "enterprise.registered_capital"}

	for _, tc := range []struct {
		d    policy.Dataset
		want string
	}{
		{ds("a", "登记注册处", nil), "a data-source statement is required"},
		{ds("a", "登记注册处", &policy.SourceDeclaration{Origin: "x", LegalBasis: " ", CollectedFrom: "2025-01-01", CollectedTo: "2025-01-02"}), "needs the origin of the data and its legal basis (Art. 42(1))"},
		{ds("a", "登记注册处", &policy.SourceDeclaration{Origin: "x", LegalBasis: "y", CollectedFrom: "2025-13-01", CollectedTo: "2025-01-02"}), "must be YYYY-MM-DD"},
		{ds("a", "登记注册处", &policy.SourceDeclaration{Origin: "x", LegalBasis: "y", CollectedFrom: "2025-02-01", CollectedTo: "2025-01-02"}), "ends (2025-01-02) before it starts"},
		{ds("a", "登记注册处", decl, policy.DataItem{Column: "nope", Item: "enterprise.x"}), `names column "nope"`},
		{ds("a", "登记注册处", decl, policy.DataItem{Column: "capital", Item: "Capital"}), "want dotted lower-case words"},
		{ds("a", "登记注册处", decl, capital, capital), "listed twice"},
	} {
		require.ErrorContains(t, l.apply(stmt(t, statement.KindDataset, tc.d, msb)), tc.want)
	}

	require.NoError(t, l.apply(stmt(t, statement.KindDataset, ds("registry", "登记注册处", decl, capital), msb)))
	// The same department may publish the item again, in another dataset.
	require.NoError(t, l.apply(stmt(t, statement.KindDataset, ds("registry_2025", "登记注册处", decl, capital), msb)))
	// Another department may not.
	other := ds("capital_copy", "国网新疆电力 营销部", decl, capital)
	other.Holder = "grid"
	err = l.apply(stmt(t, statement.KindDataset, other, grid))
	require.ErrorIs(t, err, state.ErrConflict)
	require.ErrorContains(t, err, "data item enterprise.registered_capital already has its source: 登记注册处 (dataset registry of msb)")
	require.True(t, strings.HasSuffix(err.Error(), "(Art. 23)"))

	got, ok := l.s.Snapshot().Dataset("registry")
	require.True(t, ok)
	require.Equal(t, decl, got.Declaration, "the declaration is part of the catalogue entry")
}
