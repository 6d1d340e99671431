package state_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/state"
)

func genesis(t *testing.T) (*state.Entry, func(kind statement.Kind, body any) *state.Entry) {
	g, _, signed := genesisAuthority(t)
	return g, signed
}

// genesisAuthority returns a genesis entry, the authority's signer, and a
// function that makes statement entries signed by the authority.
func genesisAuthority(t *testing.T) (*state.Entry, note.Signer, func(kind statement.Kind, body any) *state.Entry) {
	auth, avkey, err := keys.New("authority")
	require.NoError(t, err)
	_, nvkey, err := keys.Generate("node")
	require.NoError(t, err)
	g := &state.Entry{Kind: state.KindGenesis, Time: time.Now(), Genesis: &state.Genesis{Origin: "test", NodeKey: nvkey, AuthorityKey: avkey}}
	signed := func(kind statement.Kind, body any) *state.Entry {
		msg, err := statement.New(kind, body, auth)
		require.NoError(t, err)
		return &state.Entry{Kind: state.KindStatement, Time: time.Now(), Statement: string(msg)}
	}
	return g, auth, signed
}

func TestApplyOrder(t *testing.T) {
	g, signed := genesis(t)
	s := state.New()
	party := signed(statement.KindParty, policy.Party{Name: "authority", Kind: policy.PublicBody, Jurisdiction: "CN", Key: g.Genesis.AuthorityKey})

	require.ErrorContains(t, s.Apply(0, party), "the first entry must be the genesis")
	require.ErrorContains(t, s.Apply(1, g), "out of order")
	require.NoError(t, s.Apply(0, g))
	require.ErrorContains(t, s.Apply(1, g), "genesis entry out of place")
	require.NoError(t, s.Check(party))
	require.NoError(t, s.Apply(1, party))
	require.ErrorIs(t, s.Apply(2, party), state.ErrConflict)

	snap := s.Snapshot()
	require.Equal(t, uint64(2), snap.Entries())
	p, ok := snap.Party("authority")
	require.True(t, ok)
	require.Equal(t, policy.PublicBody, p.Kind)
}

func TestCheckChangesNothing(t *testing.T) {
	g, signed := genesis(t)
	s := state.New()
	require.NoError(t, s.Apply(0, g))
	party := signed(statement.KindParty, policy.Party{Name: "authority", Kind: policy.PublicBody, Jurisdiction: "CN", Key: g.Genesis.AuthorityKey})
	require.NoError(t, s.Check(party))
	require.NoError(t, s.Check(party), "checking twice is fine: Check never applies")
	_, ok := s.Snapshot().Party("authority")
	require.False(t, ok)
}

func TestEntryRoundTrip(t *testing.T) {
	g, _ := genesis(t)
	b, err := g.Encode()
	require.NoError(t, err)
	e, err := state.DecodeEntry(b)
	require.NoError(t, err)
	require.Equal(t, g.Genesis, e.Genesis)

	_, err = state.DecodeEntry([]byte(`{"v":1,"kind":"genesis","surprise":1}`))
	require.Error(t, err, "unknown fields are refused")
	_, err = state.DecodeEntry([]byte(`{"v":2,"kind":"genesis"}`))
	require.ErrorContains(t, err, "version 2")
}
