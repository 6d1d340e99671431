package enclave

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSymlinksDoNotLeadOut: the store and the data keys reach their files
// through an os.Root, so a symbolic link planted in their folders (by an
// insider with write access, or a restored backup) does not make the node
// write, read or delete anything outside them.
func TestSymlinksDoNotLeadOut(t *testing.T) {
	s, c, dir := newStore(t)
	outside := t.TempDir()
	// sealed/loans -> a folder outside the store.
	if err := os.Symlink(outside, filepath.Join(dir, "loans")); err != nil {
		t.Fatal(err)
	}
	ct := encrypt(t, c.Recipient(), []byte(goodCSV))
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(ct)); err == nil {
		t.Error("an ingest through a symbolic link leading out of the store succeeded")
	}
	// A file outside, linked as an upload, is neither read nor removed.
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "registry"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "registry", id2+".age")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("registry", uploadSchema, []string{id2}); err == nil {
		t.Error("Load read a file outside the store")
	}
	if h, err := s.Evidence("registry"); err != nil || len(h) != 0 {
		t.Errorf("Evidence = %v, %v: it hashes only regular files inside", h, err)
	}
	s.Remove("registry", id2)
	if err := s.Destroy("loans"); err != nil {
		t.Logf("Destroy: %v", err)
	}
	if got := files(t, outside); len(got) != 1 || got[0] != "victim" {
		t.Errorf("files outside the store: %v", got)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Errorf("the file outside changed: %q, %v", b, err)
	}

	// datakeys/loans.age -> a key file outside: not used, not erased.
	kdir := filepath.Join(t.TempDir(), "keys")
	k, err := OpenDataKeys(kdir)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	foreign := filepath.Join(outside, "foreign.age")
	if err := os.WriteFile(foreign, []byte("AGE-SECRET-KEY-PQ-1X\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(foreign, filepath.Join(kdir, "loans.age")); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Encrypt("loans", &bytes.Buffer{}); err == nil {
		t.Error("a data key was read through a symbolic link leading out")
	}
	k.Erase("loans")
	if b, err := os.ReadFile(foreign); err != nil || string(b) != "AGE-SECRET-KEY-PQ-1X\n" {
		t.Errorf("the key file outside was erased or changed: %q, %v", b, err)
	}
}
