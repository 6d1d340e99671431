package enclave

import (
	"flag"
	"os"
	"testing"
)

// TestMain sends the DP library's glog output (it warns about the tests'
// unrecognised fake noise) to a temporary directory, not to /tmp.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "enclave-glog-")
	if err != nil {
		panic(err)
	}
	if f := flag.Lookup("log_dir"); f != nil {
		_ = f.Value.Set(dir)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
