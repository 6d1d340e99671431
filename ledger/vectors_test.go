package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The JSON proof vectors of github.com/transparency-dev/merkle, in the
// shape its proof/verify_test.go reads them (testdata/inclusion/**.json,
// testdata/consistency/**.json).
type inclusionVector struct {
	LeafIdx   uint64   `json:"leafIdx"`
	TreeSize  uint64   `json:"treeSize"`
	Root      []byte   `json:"root"`
	LeafHash  []byte   `json:"leafHash"`
	Proof     [][]byte `json:"proof"`
	Desc      string   `json:"desc"`
	WantError bool     `json:"wantErr"`
}

type consistencyVector struct {
	Size1     uint64   `json:"size1"`
	Size2     uint64   `json:"size2"`
	Root1     []byte   `json:"root1"`
	Root2     []byte   `json:"root2"`
	Proof     [][]byte `json:"proof"`
	Desc      string   `json:"desc"`
	WantError bool     `json:"wantErr"`
}

// merkleTestdata returns the testdata directory of the merkle module this
// module builds with, found at run time, or skips the test. MERKLE_TESTDATA
// overrides it: the merkle release pinned in go.mod (v0.0.2) predates the
// vectors, which are on merkle's main branch, so point it at a checkout's
// testdata to run them:
//
//	git clone https://github.com/transparency-dev/merkle /tmp/merkle
//	MERKLE_TESTDATA=/tmp/merkle/testdata go test -run Vectors ./ledger
func merkleTestdata(t *testing.T) string {
	if dir := os.Getenv("MERKLE_TESTDATA"); dir != "" {
		return dir
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is unavailable (%v), so merkle's module directory cannot be found; set MERKLE_TESTDATA to merkle's testdata directory", err)
	}
	cmd := exec.Command(goCmd, "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/transparency-dev/merkle")
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = errors.New(strings.TrimSpace(string(ee.Stderr)))
		}
		t.Skipf("go list -m github.com/transparency-dev/merkle: %v", err)
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if dir == "" {
		t.Skipf("github.com/transparency-dev/merkle %s is not in the module cache (go mod download it)", version)
	}
	testdata := filepath.Join(dir, "testdata")
	if _, err := os.Stat(filepath.Join(testdata, "inclusion")); err != nil {
		t.Skipf("github.com/transparency-dev/merkle %s (%s) ships no proof vectors (they are on its main branch, after the last release); set MERKLE_TESTDATA to a checkout's testdata directory to run them", version, dir)
	}
	return testdata
}

// readVectors decodes every .json file under dir into a T.
func readVectors[T any](t *testing.T, dir string) map[string]T {
	vs := map[string]T{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		vs[rel] = v
		return nil
	})
	require.NoError(t, err)
	return vs
}

// TestMerkleVectors runs merkle's proof vectors through VerifyInclusion
// (for a leaf hash) and VerifyConsistency, with checkpoints built from the
// vectors' sizes and roots.
func TestMerkleVectors(t *testing.T) {
	testdata := merkleTestdata(t)
	const origin = "merkle vectors"
	t.Run("inclusion", func(t *testing.T) {
		vs := readVectors[inclusionVector](t, filepath.Join(testdata, "inclusion"))
		require.NotEmpty(t, vs)
		wantErrs := 0
		for name, v := range vs {
			cp := &Checkpoint{Origin: origin, Size: v.TreeSize, Root: v.Root}
			err := verifyInclusionHash(v.LeafHash, v.LeafIdx, v.Proof, cp)
			if v.WantError {
				wantErrs++
				require.Error(t, err, "%s: %s", name, v.Desc)
			} else {
				require.NoError(t, err, "%s: %s", name, v.Desc)
			}
		}
		t.Logf("%d inclusion vectors, %d of them invalid proofs", len(vs), wantErrs)
	})
	t.Run("consistency", func(t *testing.T) {
		vs := readVectors[consistencyVector](t, filepath.Join(testdata, "consistency"))
		require.NotEmpty(t, vs)
		wantErrs := 0
		for name, v := range vs {
			old := &Checkpoint{Origin: origin, Size: v.Size1, Root: v.Root1}
			newer := &Checkpoint{Origin: origin, Size: v.Size2, Root: v.Root2}
			err := VerifyConsistency(old, newer, v.Proof)
			if v.WantError && v.Size1 == 0 && v.Size2 > 0 && len(v.Proof) == 0 && bytes.Equal(v.Root1, hasher.EmptyRoot()) {
				// Deliberately accepted: every log extends the empty one
				// (see VerifyConsistency). merkle's main branch refuses
				// it; v0.0.2 accepts it too.
				require.NoError(t, err, "%s: %s", name, v.Desc)
				t.Logf("%s: accepted on purpose (%s)", name, v.Desc)
				continue
			}
			if v.WantError {
				wantErrs++
				require.Error(t, err, "%s: %s", name, v.Desc)
			} else {
				require.NoError(t, err, "%s: %s", name, v.Desc)
			}
		}
		t.Logf("%d consistency vectors, %d of them invalid proofs", len(vs), wantErrs)
	})
}
