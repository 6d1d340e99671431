package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDemo runs the whole green-credit story against a freshly built
// binary, at a size small enough for CI: every step must behave as
// expected (run fails otherwise).
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a node")
	}
	bin := filepath.Join(t.TempDir(), "cleanroom")
	build := exec.Command("go", "build", "-o", bin, "github.com/xjdata/cleanroom/cmd/cleanroom")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("building cleanroom: %v", err)
	}
	if err := run(bin, 20_000, t.TempDir()); err != nil {
		t.Fatal(err)
	}
}
