package pgtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFindBinaries(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PG_BIN", dir)
	_, err := findBinaries()
	require.EqualError(t, err, "PG_BIN is "+dir+", which does not hold initdb and postgres")
	var u *errUnavailable
	require.False(t, errors.As(err, &u), "a PG_BIN set wrong fails even outside CI")

	for _, name := range []string{"initdb", "postgres"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o755))
	}
	got, err := findBinaries()
	require.NoError(t, err)
	require.Equal(t, dir, got)
}

func TestSearchable(t *testing.T) {
	dir := t.TempDir()
	closed := filepath.Join(dir, "closed")
	require.NoError(t, os.Mkdir(closed, 0o700))
	require.NoError(t, os.Mkdir(filepath.Join(closed, "x"), 0o700))
	err := searchable(filepath.Join(closed, "x"))
	require.ErrorContains(t, err, "is not searchable by others (mode -rwx------); set TMPDIR to a directory that is")
	if searchable(dir) == nil {
		require.NoError(t, os.Chmod(closed, 0o711))
		require.NoError(t, os.Chmod(dir, 0o711))
		require.NoError(t, searchable(filepath.Join(closed, "x")))
	}
}
