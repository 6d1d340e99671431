package enclave

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// ErrInsecureKeyFile is returned (wrapped) by LoadCustody when the identity
// file can be read or written by group or others. Fix the mode (chmod 600)
// and, if others may have read it, rotate the identity.
var ErrInsecureKeyFile = errors.New("identity file is accessible to group or others")

// maxIdentityFile bounds the size of an identity file read by LoadCustody.
const maxIdentityFile = 64 << 10

// GenerateIdentity creates a new age identity for the node and writes it to
// path with mode 0600, in the format of age-keygen (comment lines with the
// creation time and the public key, then the secret key). The identity is
// age's post-quantum hybrid (ML-KEM-768 + X25519). It refuses to overwrite
// an existing file.
func GenerateIdentity(path string) error {
	return generateIdentity(path, func(flag int, perm os.FileMode) (*os.File, error) { return os.OpenFile(path, flag, perm) },
		func() error { return os.Remove(path) }, func() error { return syncDir(filepath.Dir(path)) })
}

// GenerateIdentityIn is GenerateIdentity for the file name of root.
func GenerateIdentityIn(root *os.Root, name string) error {
	return generateIdentity(filepath.Join(root.Name(), name), func(flag int, perm os.FileMode) (*os.File, error) { return root.OpenFile(name, flag, perm) },
		func() error { return root.Remove(name) }, func() error { return syncRootDir(root, filepath.Dir(name)) })
}

func generateIdentity(path string, open func(flag int, perm os.FileMode) (*os.File, error), remove, sync func() error) error {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return fmt.Errorf("enclave: generating identity: %w", err)
	}
	f, err := open(os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("enclave: %s exists; refusing to overwrite an identity", path)
		}
		return fmt.Errorf("enclave: creating identity file: %w", err)
	}
	content := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient().String(), id.String())
	_, err = io.WriteString(f, content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove()
		return fmt.Errorf("enclave: writing identity file %s: %w", path, err)
	}
	return sync()
}

// Custody holds the node's age identity: the only secret key of the node
// that decrypts uploads. Nothing outside this package can reach the
// identity; formatting a Custody prints only its public recipient.
//
// Safe for concurrent use.
type Custody struct {
	identity  age.Identity
	recipient string
}

// LoadCustody reads the age identity file at path (as GenerateIdentity or
// age-keygen writes it: one identity, comment lines allowed). It refuses a
// file that group or others can access ([ErrInsecureKeyFile]). Errors never
// quote the file's content.
func LoadCustody(path string) (*Custody, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("enclave: opening identity file: %w", err)
	}
	defer f.Close()
	return loadCustody(f, path)
}

// LoadCustodyIn is LoadCustody for the file name of root.
func LoadCustodyIn(root *os.Root, name string) (*Custody, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("enclave: opening identity file: %w", err)
	}
	defer f.Close()
	return loadCustody(f, filepath.Join(root.Name(), name))
}

func loadCustody(f *os.File, path string) (*Custody, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("enclave: identity file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("enclave: identity file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("enclave: %s has mode %#o: %w (run chmod 600 %s)", path, perm, ErrInsecureKeyFile, path)
	}
	var (
		id   age.Identity
		rcpt string
		line int
	)
	sc := bufio.NewScanner(io.LimitReader(f, maxIdentityFile))
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if id != nil {
			return nil, fmt.Errorf("enclave: identity file %s: line %d: more than one identity; the node uses exactly one", path, line)
		}
		switch {
		case strings.HasPrefix(text, "AGE-SECRET-KEY-PQ-1"):
			h, err := age.ParseHybridIdentity(text)
			if err != nil {
				// age's message may quote the key: do not pass it on.
				return nil, fmt.Errorf("enclave: identity file %s: line %d: malformed post-quantum age identity", path, line)
			}
			id, rcpt = h, h.Recipient().String()
		case strings.HasPrefix(text, "AGE-SECRET-KEY-1"):
			x, err := age.ParseX25519Identity(text)
			if err != nil {
				return nil, fmt.Errorf("enclave: identity file %s: line %d: malformed X25519 age identity", path, line)
			}
			id, rcpt = x, x.Recipient().String()
		default:
			return nil, fmt.Errorf("enclave: identity file %s: line %d: not an age identity", path, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("enclave: reading identity file %s: %w", path, err)
	}
	if id == nil {
		return nil, fmt.Errorf("enclave: identity file %s holds no identity", path)
	}
	return &Custody{identity: id, recipient: rcpt}, nil
}

// Recipient returns the public recipient string ("age1pq1…" for a hybrid
// identity) to which providers encrypt their uploads.
func (c *Custody) Recipient() string { return c.recipient }

// String returns a description naming only the public recipient.
func (c *Custody) String() string { return "enclave.Custody(" + c.recipient + ")" }

// GoString is String, so that %#v does not print the secret key either.
func (c *Custody) GoString() string { return c.String() }

// syncDir fsyncs the folder dir.
func syncDir(dir string) error { return syncOpened(os.Open, dir) }

// syncOpened fsyncs the folder dir, opened with open.
func syncOpened(open func(string) (*os.File, error), dir string) error {
	d, err := open(dir)
	if err != nil {
		return fmt.Errorf("enclave: syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("enclave: syncing %s: %w", dir, err)
	}
	return nil
}
