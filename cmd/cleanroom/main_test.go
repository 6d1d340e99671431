package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestEveryVerbHasHelpAndAnExample(t *testing.T) {
	checked := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Runnable() {
			checked++
			require.NotEmpty(t, c.Short, c.CommandPath())
			require.Contains(t, c.Example, c.CommandPath(), "%s has no example of itself", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot())
	require.Equal(t, 41, checked, "every verb of the usage block is checked")
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	_, err := run(t, "keygen", "--name", "bank", "--out", dir)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, "bank.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	pub, err := os.ReadFile(filepath.Join(dir, "bank.pub"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(pub), "bank+"))

	_, err = run(t, "keygen", "--name", "bank", "--out", dir)
	require.ErrorContains(t, err, "refusing to overwrite")
	_, err = run(t, "keygen", "--name", "Bad Name", "--out", dir)
	require.ErrorContains(t, err, "invalid name")

	// A key file others can read is refused before it is used.
	require.NoError(t, os.Chmod(filepath.Join(dir, "bank.key"), 0o644))
	_, err = run(t, "query", "--key", filepath.Join(dir, "bank.key"), "--commitment", "L-1", "--node", "https://127.0.0.1:1", "--pin", "sha256:"+strings.Repeat("0", 64), "SELECT 1")
	require.ErrorContains(t, err, "want 0600")
}

func TestClientVerbsNeedANode(t *testing.T) {
	t.Setenv("CLEANROOM_NODE", "")
	t.Setenv("CLEANROOM_PIN", "")
	t.Setenv("CLEANROOM_NODE_INFO", "")
	_, err := run(t, "dataset", "list")
	var ee *exitError
	require.ErrorAs(t, err, &ee)
	require.Contains(t, ee.hints[0], "--node-info")
}
