//go:build !unix

package ledger

import (
	"os"
	"path/filepath"
)

// lockDir creates dir/lock; on this platform it does not lock, so callers
// must not open one directory twice.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
}
