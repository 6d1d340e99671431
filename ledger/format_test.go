package ledger

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFormatPinned pins the on-disk format documented in doc.go: any change
// to the bytes written for this log is a format change (bump fileMagic and
// say so in the changelog).
func TestFormatPinned(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for _, e := range []string{"a", "hello", "{\"kind\":\"decision\"}"} {
		_, err := l.Append([]byte(e))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	wantEntries := strings.Join([]string{
		hex.EncodeToString([]byte("cleanroom ledger v1\n")),
		// length 1, "a", SHA-256(0x00 || "a")
		"00000001" + "61" + "022a6979e6dab7aa5ae4c3e5e45f7e977112a7e63593820dbec1ec738a24f93c",
		// length 5, "hello", SHA-256(0x00 || "hello")
		"00000005" + "68656c6c6f" + "8a2a5c9b768827de5a9552c38a044c66959c68f6d2f21b5260af54d2f87db827",
		// length 19, the JSON, its leaf hash
		"00000013" + hex.EncodeToString([]byte("{\"kind\":\"decision\"}")) + "1d1d14c127f5c3d1999a7d4b5db49e4af4d9c1136b758ed4d81b24dcc259de34",
	}, "")
	got := hex.EncodeToString(readFile(t, dir, entriesName))
	require.Equal(t, wantEntries, got)

	// The root is SHA-256(0x01 || SHA-256(0x01 || leaf0 || leaf1) || leaf2),
	// as computed independently; Ed25519 signatures are deterministic.
	const wantCheckpoint = "cleanroom.example/test\n" +
		"3\n" +
		"LEGMXhkpWhDcHnthjpQDyE2H16NZONY/JXqvjAQy6rc=\n" +
		"\n" +
		"— cleanroom-test-node UY6+k8LGAP5rFt0VrG6pBvzPVo0RMHhzFk1R56NWoXVZkRbU3sYG+LO1hlpQvrmqh/t7sk/WJNK16RdzTKJMcxo9swA=\n"
	require.Equal(t, wantCheckpoint, string(readFile(t, dir, checkpointName)))
}
