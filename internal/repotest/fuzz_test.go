// Package repotest checks facts about the repository as a whole.
package repotest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)

// TestFuzzTargetsInMakefile: make fuzz runs every fuzz target in the
// repository.
func TestFuzzTargetsInMakefile(t *testing.T) {
	root := filepath.Join("..", "..")
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(b), -1) {
			found++
			want := "./" + filepath.ToSlash(rel) + "/:" + m[1]
			if !strings.Contains(string(mk), want+" ") && !strings.Contains(string(mk), want+"\n") {
				t.Errorf("%s (%s) is not in the Makefile's FUZZ_TARGETS (want %q)", m[1], p, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 20 {
		t.Fatalf("found only %d fuzz targets", found)
	}
	t.Logf("%d fuzz targets, all in make fuzz", found)
}
