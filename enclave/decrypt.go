package enclave

import (
	"fmt"
	"io"

	"filippo.io/age"
)

// Decrypt returns the plaintext of an age stream encrypted to the node's
// recipient, as it is read. It is for the containers of HE-mode uploads,
// whose clear and fingerprint columns the node may read; their encrypted
// columns stay ciphertexts under the collective key. Callers must read the
// plaintext to its end: only then has age checked all of it.
func (c *Custody) Decrypt(r io.Reader) (io.Reader, error) {
	pr, err := age.Decrypt(r, c.identity)
	if err != nil {
		return nil, fmt.Errorf("enclave: decrypting: %w", err)
	}
	return pr, nil
}
