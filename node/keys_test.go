package node_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
)

// forgingSigner signs every message with one fixed signature: for a
// low-order public key such as the identity point, the signature (R =
// identity, S = 0) verifies on any message, so "proof of possession"
// proves nothing.
type forgingSigner struct {
	name string
	hash uint32
	sig  []byte
}

func (s forgingSigner) Name() string                    { return s.name }
func (s forgingSigner) KeyHash() uint32                 { return s.hash }
func (s forgingSigner) Sign(msg []byte) ([]byte, error) { return s.sig, nil }

// TestWeakKeysRefusedAtRegistration: the authority registers a party
// whose key is a low-order point (its proof of possession forged), or a
// non-canonical encoding of a valid key: both are refused and logged.
func TestWeakKeysRefusedAtRegistration(t *testing.T) {
	r := newRoom(t, 10)
	identity := make([]byte, 32)
	identity[0] = 1 // the identity point, canonical
	sig, _ := hex.DecodeString("0100000000000000000000000000000000000000000000000000000000000000" + "0000000000000000000000000000000000000000000000000000000000000000")
	vkey, err := note.NewEd25519VerifierKey("mallory", ed25519.PublicKey(identity))
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	require.True(t, v.Verify([]byte("any message at all"), sig), "the identity key verifies the forged signature")
	forger := forgingSigner{name: "mallory", hash: v.KeyHash(), sig: sig}

	msg, err := statement.NewAt(r.now, statement.KindParty, policy.Party{Name: "mallory", Kind: policy.Enterprise, Jurisdiction: "CN", Key: vkey},
		r.parties["bureau"].signer, forger)
	require.NoError(t, err)
	rej := r.refusedRaw(msg, http.StatusUnprocessableEntity, api.CodeRejected)
	require.Contains(t, rej.Rejection.Reason, "weak Ed25519 public key: a point of low order")

	// A real key written the other way: y + p instead of y. Such
	// encodings exist only for y < 19, so take a low-order point's.
	// 0x01 + p = ee ff … ff 7f is the non-canonical identity.
	nonCanonical, _ := hex.DecodeString("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	vkey2, err := note.NewEd25519VerifierKey("mallory", ed25519.PublicKey(nonCanonical))
	require.NoError(t, err)
	v2, err := note.NewVerifier(vkey2)
	require.NoError(t, err)
	msg, err = statement.NewAt(r.now, statement.KindParty, policy.Party{Name: "mallory", Kind: policy.Enterprise, Jurisdiction: "CN", Key: vkey2},
		r.parties["bureau"].signer, forgingSigner{name: "mallory", hash: v2.KeyHash(), sig: sig})
	require.NoError(t, err)
	rej = r.refusedRaw(msg, http.StatusUnprocessableEntity, api.CodeRejected)
	require.Contains(t, rej.Rejection.Reason, "weak Ed25519 public key")
}

// TestKeyFilesAre0600: every secret file the node makes is mode 0600,
// whatever the umask lets through.
func TestKeyFilesAre0600(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	r := newRoom(t, 5)
	secrets := []string{"node.key", "node.age", "tls.key"}
	keys, err := filepath.Glob(filepath.Join(r.dir, "datakeys", "*.age"))
	require.NoError(t, err)
	require.Len(t, keys, 3, "one key per dataset with uploads")
	for _, k := range keys {
		secrets = append(secrets, filepath.Join("datakeys", filepath.Base(k)))
	}
	for _, s := range secrets {
		fi, err := os.Stat(filepath.Join(r.dir, s))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), s)
	}
}

// TestNodeRefusesReadableKeys: the node does not start when any of its
// secret files may be read by group or others.
func TestNodeRefusesReadableKeys(t *testing.T) {
	r := newRoom(t, 5)
	r.stop()
	open := func() error {
		n, err := node.Open(node.Config{Dir: r.dir, Now: func() time.Time { return r.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil {
			n.Close()
		}
		return err
	}
	require.NoError(t, open())
	keys, err := filepath.Glob(filepath.Join(r.dir, "datakeys", "*.age"))
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, f := range []string{filepath.Join(r.dir, "node.key"), filepath.Join(r.dir, "node.age"), filepath.Join(r.dir, "tls.key"), keys[0]} {
		for _, mode := range []os.FileMode{0o644, 0o604, 0o640} {
			require.NoError(t, os.Chmod(f, mode))
			err := open()
			require.Error(t, err, "%s at %#o", f, mode)
			require.Contains(t, err.Error(), "chmod 600", "%s: the error says how to fix it", f)
			require.NoError(t, os.Chmod(f, 0o600))
		}
	}
	require.NoError(t, open())
}
