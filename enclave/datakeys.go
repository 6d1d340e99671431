package enclave

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"filippo.io/age"
)

// DataKeys holds one age identity per dataset: what the node encrypts a
// dataset's stored uploads to, in both modes. The node's own identity
// only carries uploads in transit; at rest each dataset is under its own
// key, kept in a folder apart from the data. Erasing a dataset's key
// (crypto-shredding, Art. 31) makes its stored files unreadable, also in
// copies or disk images of the data taken before, as long as the key
// file itself was not copied with them.
//
// Key files are dir/<dataset>.age, mode 0600, made on first use. Safe for
// concurrent use.
type DataKeys struct {
	dir string
	// root is dir: every key file is reached through it.
	root *os.Root
	mu   sync.Mutex
}

// OpenDataKeys opens (creating it with mode 0700) the key folder dir. It
// refuses a folder that holds a key file group or others may access
// ([ErrInsecureKeyFile]): fix the mode (chmod 600) and consider the
// dataset's key exposed.
func OpenDataKeys(dir string) (*DataKeys, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("enclave: data keys: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("enclave: data keys: %w", err)
	}
	des, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("enclave: data keys: %w", err)
	}
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			root.Close()
			return nil, fmt.Errorf("enclave: data keys: %w", err)
		}
		if strings.HasSuffix(de.Name(), ".age") && fi.Mode().Perm()&0o077 != 0 {
			root.Close()
			p := filepath.Join(dir, de.Name())
			return nil, fmt.Errorf("enclave: data key %s has mode %#o: %w (run chmod 600 %s)", p, fi.Mode().Perm(), ErrInsecureKeyFile, p)
		}
	}
	return &DataKeys{dir: dir, root: root}, nil
}

// Close releases the key folder. The DataKeys is not used after.
func (k *DataKeys) Close() error { return k.root.Close() }

// name is the dataset's key file's name in k.root.
func (k *DataKeys) name(dataset string) string { return dataset + ".age" }

// identity returns the dataset's identity, making it first if create is
// set; nil (and no error) if it has none and create is not set.
func (k *DataKeys) identity(dataset string, create bool) (*age.HybridIdentity, error) {
	if err := checkDataset(dataset); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.name(dataset)
	b, err := k.root.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		if !create {
			return nil, nil
		}
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return nil, fmt.Errorf("enclave: data key of %s: %w", dataset, err)
		}
		if err := writeSecretIn(k.root, p, []byte(id.String()+"\n")); err != nil {
			return nil, fmt.Errorf("enclave: data key of %s: %w", dataset, err)
		}
		return id, nil
	}
	if err != nil {
		return nil, fmt.Errorf("enclave: data key of %s: %w", dataset, err)
	}
	if fi, err := k.root.Stat(p); err != nil || fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("enclave: data key of %s: %s must have mode 0600: %w", dataset, filepath.Join(k.dir, p), ErrInsecureKeyFile)
	}
	id, err := age.ParseHybridIdentity(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("enclave: data key of %s does not parse", dataset)
	}
	return id, nil
}

// Encrypt returns a writer that encrypts to the dataset's key (made on
// first use). Close it to finish the age file.
func (k *DataKeys) Encrypt(dataset string, w io.Writer) (io.WriteCloser, error) {
	id, err := k.identity(dataset, true)
	if err != nil {
		return nil, err
	}
	return age.Encrypt(w, id.Recipient())
}

// Decrypt decrypts a stored file of the dataset. Files stored before
// datasets had their own keys, under the node's identity c, still read.
func (k *DataKeys) Decrypt(dataset string, r io.Reader, c *Custody) (io.Reader, error) {
	id, err := k.identity(dataset, false)
	if err != nil {
		return nil, err
	}
	ids := []age.Identity{c.identity}
	if id != nil {
		ids = append([]age.Identity{id}, ids...)
	}
	return age.Decrypt(r, ids...)
}

// DecryptAt opens a stored file of the dataset, size bytes read through
// r, for reading at any offset, from several goroutines at once (age's
// DecryptReaderAt: each chunk is authenticated as it is read, the last
// one, and with it the plaintext's size, before DecryptAt returns). It
// returns the plaintext's reader and size. Files stored before datasets
// had their own keys, under the node's identity c, still read.
func (k *DataKeys) DecryptAt(dataset string, r io.ReaderAt, size int64, c *Custody) (io.ReaderAt, int64, error) {
	id, err := k.identity(dataset, false)
	if err != nil {
		return nil, 0, err
	}
	ids := []age.Identity{c.identity}
	if id != nil {
		ids = append([]age.Identity{id}, ids...)
	}
	return age.DecryptReaderAt(r, size, ids...)
}

// Erase overwrites the dataset's key file, syncs it and removes it, and
// returns the hex SHA-256 of the key's public recipient (evidence of which
// key was erased), or "" if the dataset had none. Overwriting is a best
// effort on journaling and copy-on-write file systems; what makes the
// data unreadable is that no copy of the key is left.
func (k *DataKeys) Erase(dataset string) (string, error) {
	if err := checkDataset(dataset); err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	p := k.name(dataset)
	b, err := k.root.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("enclave: erasing the data key of %s: %w", dataset, err)
	}
	// A key file that does not parse is erased all the same.
	var hash string
	if id, err := age.ParseHybridIdentity(strings.TrimSpace(string(b))); err == nil {
		sum := sha256.Sum256([]byte(id.Recipient().String()))
		hash = hex.EncodeToString(sum[:])
	}
	if f, err := k.root.OpenFile(p, os.O_WRONLY, 0); err == nil {
		f.Write(make([]byte, len(b)))
		f.Sync()
		f.Close()
	}
	if err := k.root.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("enclave: erasing the data key of %s: %w", dataset, err)
	}
	if err := syncRootDir(k.root, "."); err != nil {
		return "", err
	}
	return hash, nil
}

// KeyHash returns what Erase would return for the dataset's key, without
// erasing it.
func (k *DataKeys) KeyHash(dataset string) (string, error) {
	id, err := k.identity(dataset, false)
	if err != nil || id == nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(id.Recipient().String()))
	return hex.EncodeToString(sum[:]), nil
}

// writeSecretIn writes a secret file name in root with mode 0600, refusing
// to overwrite, and syncs it and its folder.
func writeSecretIn(root *os.Root, name string, b []byte) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		root.Remove(name)
		return err
	}
	return syncRootDir(root, path.Dir(name))
}
