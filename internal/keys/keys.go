// Package keys reads and writes the parties' and the node's key files.
//
// A signing key file holds one note signer key (golang.org/x/mod/sumdb/note,
// Ed25519): "PRIVATE+KEY+<name>+<hash>+<base64>". It is written with mode
// 0600 and refused when group or others may read it. The matching .pub file
// holds the verifier key "<name>+<hash>+<base64>", which is public.
package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/edwards25519"
	"golang.org/x/mod/sumdb/note"
)

// Generate returns a new signer key and its verifier key for name.
func Generate(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// New returns a new signer named name and its verifier key, without
// writing anything.
func New(name string) (note.Signer, string, error) {
	skey, _, err := Generate(name)
	if err != nil {
		return nil, "", err
	}
	return ParseSigner(skey)
}

// ParseSigner parses a signer key and returns the signer and its verifier
// key. The error never contains the key.
func ParseSigner(skey string) (note.Signer, string, error) {
	skey = strings.TrimSpace(skey)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", errors.New("not a note signer key (PRIVATE+KEY+name+hash+key)")
	}
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, "", errors.New("not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return nil, "", err
	}
	return s, vkey, nil
}

// LoadSigner reads a signer key file, refusing one that group or others
// may read.
func LoadSigner(path string) (note.Signer, string, error) {
	if err := CheckSecretMode(path); err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	s, v, err := ParseSigner(string(b))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return s, v, nil
}

// LoadVerifier reads a verifier key file.
func LoadVerifier(path string) (note.Verifier, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	vkey := strings.TrimSpace(string(b))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", fmt.Errorf("%s: not a verifier key (name+hash+key)", path)
	}
	return v, vkey, nil
}

// WriteSecret writes a secret file with mode 0600, refusing to overwrite,
// and syncs it and its folder.
func WriteSecret(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeSync(f, b); err != nil {
		os.Remove(path)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WriteDurable replaces path with b atomically and durably: it writes a
// temporary file of the given mode, syncs it, renames it over path and
// syncs the folder, so that a crash leaves either the old or the new
// content.
func WriteDurable(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := writeSync(f, b); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// writeSync writes b to f, syncs and closes it.
func writeSync(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncDir fsyncs a folder, so that the entries created in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CheckSecretMode refuses a secret file that group or others may read.
func CheckSecretMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: secret key file has mode %v; want 0600 (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	return nil
}

// WriteSecretIn is WriteSecret for the file name of root.
func WriteSecretIn(root *os.Root, name string, b []byte) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeSync(f, b); err != nil {
		root.Remove(name)
		return err
	}
	d, err := root.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CheckSecretModeIn is CheckSecretMode for the file name of root.
func CheckSecretModeIn(root *os.Root, name string) error {
	fi, err := root.Stat(name)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		p := filepath.Join(root.Name(), name)
		return fmt.Errorf("%s: secret key file has mode %v; want 0600 (chmod 600 %s)", p, fi.Mode().Perm(), p)
	}
	return nil
}

// LoadOrCreateSignerIn is LoadOrCreateSigner for the file name of root.
func LoadOrCreateSignerIn(root *os.Root, file, name string) (note.Signer, string, error) {
	if _, err := root.Stat(file); errors.Is(err, os.ErrNotExist) {
		skey, _, err := Generate(name)
		if err != nil {
			return nil, "", err
		}
		if err := WriteSecretIn(root, file, []byte(skey+"\n")); err != nil {
			return nil, "", err
		}
	}
	if err := CheckSecretModeIn(root, file); err != nil {
		return nil, "", err
	}
	b, err := root.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	s, v, err := ParseSigner(string(b))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", filepath.Join(root.Name(), file), err)
	}
	return s, v, nil
}

// LoadOrCreateSigner reads the signer key at path, first creating a new
// one named name when the file does not exist.
func LoadOrCreateSigner(path, name string) (note.Signer, string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		skey, _, err := Generate(name)
		if err != nil {
			return nil, "", err
		}
		if err := WriteSecret(path, []byte(skey+"\n")); err != nil {
			return nil, "", err
		}
	}
	return LoadSigner(path)
}

// ErrWeakKey is wrapped by CheckVerifierKey's errors about the key itself:
// a low-order point, a point with a low-order component, or a
// non-canonical encoding. Generate a new key (cleanroom keygen).
var ErrWeakKey = errors.New("weak Ed25519 public key")

// CheckVerifierKey refuses a note verifier key ("name+hash+base64") whose
// Ed25519 public key is not the canonical encoding of a point of the
// prime-order subgroup. note.NewVerifier takes any 32 bytes; a key of low
// order (or with a low-order component) verifies signatures that say
// nothing about who made them, or verifies them differently under
// different verification formulas, and a non-canonical encoding gives
// one key two names. Keys made by Generate always pass.
func CheckVerifierKey(vkey string) error {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return errors.New("not a verifier key (name+hash+key)")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
		return errors.New("not an Ed25519 verifier key")
	}
	return CheckPublicKey(raw[1:])
}

// CheckPublicKey is CheckVerifierKey for a raw 32-byte Ed25519 public key.
func CheckPublicKey(pub []byte) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrWeakKey, len(pub), ed25519.PublicKeySize)
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return fmt.Errorf("%w: not a point of the curve", ErrWeakKey)
	}
	if !bytes.Equal(p.Bytes(), pub) {
		return fmt.Errorf("%w: not the canonical encoding of its point", ErrWeakKey)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return fmt.Errorf("%w: a point of low order", ErrWeakKey)
	}
	// [L]P is the identity exactly when P has no low-order component;
	// L - 1 is the scalar -1.
	minusOne := edwards25519.NewScalar().Negate(scalarOne)
	lp := new(edwards25519.Point).ScalarMult(minusOne, p)
	lp.Add(lp, p)
	if lp.Equal(edwards25519.NewIdentityPoint()) != 1 {
		return fmt.Errorf("%w: the point has a low-order component", ErrWeakKey)
	}
	return nil
}

var scalarOne, _ = edwards25519.NewScalar().SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
