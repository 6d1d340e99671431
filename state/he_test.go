package state_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// heLog applies entries one after another.
type heLog struct {
	t *testing.T
	s *state.State
	n uint64
}

func (l *heLog) apply(e *state.Entry) error {
	err := l.s.Apply(l.n, e)
	if err == nil {
		l.n++
	}
	return err
}

func stmt(t *testing.T, kind statement.Kind, body any, signers ...note.Signer) *state.Entry {
	msg, err := statement.New(kind, body, signers...)
	require.NoError(t, err)
	return &state.Entry{Kind: state.KindStatement, Time: time.Now(), Statement: string(msg)}
}

func TestHESetupAndUploads(t *testing.T) {
	g, auth, signed := genesisAuthority(t)
	l := &heLog{t: t, s: state.New()}
	require.NoError(t, l.apply(g))
	grid, gridKey, err := keys.New("grid")
	require.NoError(t, err)
	require.NoError(t, l.apply(stmt(t, statement.KindParty, policy.Party{Name: "grid", Kind: policy.PublicService, Jurisdiction: "CN", Key: gridKey}, auth, grid)))
	max := int64(100)
	zero := int64(0)
	ds := policy.Dataset{Name: "electricity", Holder: "grid", Source: "grid", Declaration: &policy.SourceDeclaration{Origin: "meters", LegalBasis: "电力法", CollectedFrom: "2025-01-01", CollectedTo: "2025-12-31"}, Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional,
		Level: policy.General, Unit: "uscc", Schema: schema.Schema{Columns: []schema.Column{{Name: "uscc", Type: schema.String}, {Name: "kwh", Type: schema.Int, Min: &zero, Max: &max}}}}
	require.NoError(t, l.apply(stmt(t, statement.KindDataset, ds, grid)))

	hash := strings.Repeat("ab", 32)
	setup := policy.HESetup{ID: "S1", Providers: []string{"grid"}, Seed: strings.Repeat("01", 32), PlaintextModulus: 65537}
	require.ErrorContains(t, l.apply(signed(statement.KindHESetup, setup)), "provider grid has not registered an agent")

	agent := policy.Agent{Party: "grid", URL: "https://127.0.0.1:7001", Pin: hash, Recipient: "age1xyz"}
	require.ErrorContains(t, l.apply(signed(statement.KindAgent, agent)), "must be registered by grid itself")
	require.NoError(t, l.apply(stmt(t, statement.KindAgent, agent, grid)))
	require.ErrorContains(t, l.apply(stmt(t, statement.KindHESetup, setup, grid)), "signed by the authority")
	require.NoError(t, l.apply(signed(statement.KindHESetup, setup)))
	require.ErrorIs(t, l.apply(signed(statement.KindHESetup, setup)), state.ErrConflict)

	upload := policy.Upload{Dataset: "electricity", UploadID: strings.Repeat("0", 32), File: "e.csv", Rows: 10, PlaintextSHA256: hash,
		HE: &policy.HEUpload{KeySHA256: hash, Columns: map[string]policy.Treatment{"uscc": policy.Fingerprint, "kwh": policy.Encrypted}}}
	receipt := &state.Receipt{CiphertextSHA256: hash, CiphertextBytes: 1, PlaintextBytes: 1}
	up := func(u policy.Upload) *state.Entry {
		e := stmt(t, statement.KindUpload, u, grid)
		e.Upload = receipt
		return e
	}
	require.ErrorContains(t, l.apply(up(upload)), "before HE mode is set up")

	share := stmt(t, statement.KindHEShare, policy.HEShare{Setup: "S1", Party: "grid", ShareSHA256: hash, FingerprintSHA256: hash}, grid).Statement
	noCommit := stmt(t, statement.KindHEShare, policy.HEShare{Setup: "S1", Party: "grid", ShareSHA256: hash}, grid).Statement
	key := func(k state.HEKeyEntry) *state.Entry {
		return &state.Entry{Kind: state.KindHEKey, Time: time.Now(), HEKey: &k}
	}
	require.ErrorContains(t, l.apply(key(state.HEKeyEntry{Setup: "S0", KeySHA256: hash, PlaintextModulus: 65537, Shares: []string{share}})), "not the pending setup")
	require.ErrorContains(t, l.apply(key(state.HEKeyEntry{Setup: "S1", KeySHA256: hash, PlaintextModulus: 65539, Shares: []string{share}})), "plaintext modulus")
	require.ErrorContains(t, l.apply(key(state.HEKeyEntry{Setup: "S1", KeySHA256: hash, PlaintextModulus: 65537})), "0 shares for 1 providers")
	require.ErrorContains(t, l.apply(key(state.HEKeyEntry{Setup: "S1", KeySHA256: hash, PlaintextModulus: 65537, Shares: []string{noCommit}})), "commits to the fingerprint key")
	forged := stmt(t, statement.KindHEShare, policy.HEShare{Setup: "S1", Party: "grid", ShareSHA256: hash}, auth).Statement
	require.ErrorContains(t, l.apply(key(state.HEKeyEntry{Setup: "S1", KeySHA256: hash, PlaintextModulus: 65537, Shares: []string{forged}})), "not grid's signed share")
	require.NoError(t, l.apply(key(state.HEKeyEntry{Setup: "S1", KeySHA256: hash, PlaintextModulus: 65537, Shares: []string{share}})))
	require.ErrorIs(t, l.apply(signed(statement.KindHESetup, policy.HESetup{ID: "S2", Providers: []string{"grid"}, Seed: setup.Seed, PlaintextModulus: 65537})), state.ErrConflict)

	k, ok := l.s.Snapshot().HEKey()
	require.True(t, ok)
	require.Equal(t, policy.HEKey{Setup: "S1", Providers: []string{"grid"}, PlaintextModulus: 65537, KeySHA256: hash}, *k)

	wrongKey := upload
	wrongKey.HE = &policy.HEUpload{KeySHA256: strings.Repeat("cd", 32), Columns: upload.HE.Columns}
	require.ErrorContains(t, l.apply(up(wrongKey)), "not the collective key")
	stringEnc := upload
	stringEnc.HE = &policy.HEUpload{KeySHA256: hash, Columns: map[string]policy.Treatment{"uscc": policy.Encrypted}}
	require.ErrorContains(t, l.apply(up(stringEnc)), "cannot be encrypted")
	require.NoError(t, l.apply(up(upload)))
	again := upload
	again.UploadID = strings.Repeat("1", 32)
	again.HE = &policy.HEUpload{KeySHA256: hash, Columns: map[string]policy.Treatment{"uscc": policy.Fingerprint, "kwh": policy.Clear}}
	require.ErrorContains(t, l.apply(up(again)), "otherwise than the uploads before it")
	again.HE = upload.HE
	again.Rows = 5
	require.NoError(t, l.apply(up(again)))

	snap := l.s.Snapshot()
	data, ok := snap.HEData("electricity")
	require.True(t, ok)
	require.Equal(t, int64(15), data.Rows)
	require.Equal(t, policy.Encrypted, data.Treatment("kwh"))
	require.Empty(t, snap.DatasetUploads("electricity"), "HE uploads are not sealed uploads")

	res := &state.Entry{Kind: state.KindHEResult, Time: time.Now(), HEResult: &state.HEResult{Decision: 3, Ciphers: []string{hash}, ResultKey: hash}}
	require.ErrorContains(t, l.apply(res), "not an allowed HE-mode decision")
}
