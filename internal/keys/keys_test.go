package keys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// TestCCTVEd25519Keys runs every public key of the C2SP CCTV Ed25519
// vectors (testdata/cctv-ed25519) through CheckPublicKey: a key flagged
// low_order_A, non_canonical_A or low_order_component_A is refused, every
// other is taken.
func TestCCTVEd25519Keys(t *testing.T) {
	b, err := os.ReadFile("testdata/cctv-ed25519/ed25519vectors.json")
	require.NoError(t, err)
	var vectors []struct {
		Number int      `json:"number"`
		Key    string   `json:"key"`
		Flags  []string `json:"flags"`
	}
	require.NoError(t, json.Unmarshal(b, &vectors))
	require.Greater(t, len(vectors), 100)
	refused, taken := 0, 0
	for _, v := range vectors {
		pub, err := hex.DecodeString(v.Key)
		require.NoError(t, err)
		weak := slices.Contains(v.Flags, "low_order_A") || slices.Contains(v.Flags, "non_canonical_A") || slices.Contains(v.Flags, "low_order_component_A")
		err = CheckPublicKey(pub)
		if weak {
			require.ErrorIs(t, err, ErrWeakKey, "vector %d %v", v.Number, v.Flags)
			refused++
		} else {
			require.NoError(t, err, "vector %d %v", v.Number, v.Flags)
			taken++
		}
		vkey, err := note.NewEd25519VerifierKey("k", ed25519.PublicKey(pub))
		require.NoError(t, err)
		require.Equal(t, !weak, CheckVerifierKey(vkey) == nil, "vector %d", v.Number)
	}
	require.Positive(t, refused)
	require.Positive(t, taken)
	t.Logf("%d vectors: %d keys refused, %d taken", len(vectors), refused, taken)
	// The file is the one SOURCE names, unchanged.
	sum := sha256.Sum256(b)
	require.Equal(t, "b38e84caf3e7e89170ff520292dbeae421b0a794c27408ce5ce973018fe3d7f9", hex.EncodeToString(sum[:]))
}

// TestGeneratedKeysPass: keys this package makes are never refused.
func TestGeneratedKeysPass(t *testing.T) {
	for range 200 {
		_, vkey, err := Generate("x")
		require.NoError(t, err)
		require.NoError(t, CheckVerifierKey(vkey))
	}
	for _, bad := range []string{"", "x", "x+1234", "x+00000000+AAAA", "x+00000000+Ag==" /* not Ed25519 */} {
		err := CheckVerifierKey(bad)
		require.Error(t, err, bad)
		require.False(t, errors.Is(err, ErrWeakKey), bad)
	}
}

// TestSecretFiles: secret files are written 0600 whatever the umask, and
// a signer key file that group or others may read is refused.
func TestSecretFiles(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "bank.key")
	s, _, err := LoadOrCreateSigner(p, "bank")
	require.NoError(t, err)
	require.Equal(t, "bank", s.Name())
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.Error(t, WriteSecret(p, []byte("x")), "never overwrites")

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		require.NoError(t, os.Chmod(p, mode))
		_, _, err := LoadSigner(p)
		require.ErrorContains(t, err, "chmod 600", "%#o", mode)
		_, _, err = LoadOrCreateSigner(p, "bank")
		require.ErrorContains(t, err, "chmod 600", "%#o", mode)
	}
	require.NoError(t, os.Chmod(p, 0o600))
	_, _, err = LoadSigner(p)
	require.NoError(t, err)

	_, _, err = LoadOrCreateTLS(dir, "t")
	require.NoError(t, err)
	fi, err = os.Stat(filepath.Join(dir, "tls.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NoError(t, os.Chmod(filepath.Join(dir, "tls.key"), 0o644))
	_, _, err = LoadOrCreateTLS(dir, "t")
	require.ErrorContains(t, err, "chmod 600")
}
