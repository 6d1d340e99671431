package ledger

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSymlinksDoNotLeadOut: a Log opened with the default file system
// reaches its files through an os.Root of its folder, so an entries or
// temporary file planted as a symbolic link to a file outside is not
// written through.
func TestSymlinksDoNotLeadOut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledger")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, entriesName+".tmp")); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(dir, testSigner(t), "example.com/log"); err == nil {
		l.Close()
		t.Error("the log opened an entries file outside its folder")
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "keep me" {
		t.Errorf("the file outside changed: %q, %v", b, err)
	}
}
