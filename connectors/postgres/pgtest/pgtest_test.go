package pgtest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func show(t *testing.T, conn *pgx.Conn, name string) string {
	t.Helper()
	var v string
	require.NoError(t, conn.QueryRow(context.Background(), "SHOW "+name).Scan(&v))
	return v
}

// TestStart checks the server's settings, and that it is stopped and its
// files removed when the test that started it ends.
func TestStart(t *testing.T) {
	ctx := context.Background()
	var url, dir string
	t.Run("server", func(t *testing.T) {
		url = pgtest.Start(t)
		require.True(t, strings.HasPrefix(url, "postgres://postgres@127.0.0.1:"), url)
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer conn.Close(ctx)
		require.Equal(t, "127.0.0.1", show(t, conn, "listen_addresses"))
		require.Equal(t, "off", show(t, conn, "fsync"))
		require.Equal(t, "UTF8", show(t, conn, "server_encoding"))
		require.Equal(t, "postgres", show(t, conn, "session_authorization"))
		dir = filepath.Dir(show(t, conn, "data_directory"))
		require.Equal(t, dir, show(t, conn, "unix_socket_directories"))
		require.Equal(t, filepath.Clean(os.TempDir()), filepath.Dir(dir))
		_, err = os.Stat(filepath.Join(dir, "data", "PG_VERSION"))
		require.NoError(t, err)
	})
	if url == "" {
		t.Skip("no server")
	}
	_, err := pgx.Connect(ctx, url)
	require.Error(t, err, "stopped")
	_, err = os.Stat(dir)
	require.True(t, os.IsNotExist(err), "removed: %v", err)
}

func TestShared(t *testing.T) {
	url := pgtest.Shared(t)
	require.Equal(t, url, pgtest.Shared(t))
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	require.Equal(t, "127.0.0.1", show(t, conn, "listen_addresses"))
}

// TestDiesWithProcess checks that a server does not outlive its test
// process, even one killed with SIGKILL, which runs no cleanup.
func TestDiesWithProcess(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		url := pgtest.Start(t)
		conn, err := pgx.Connect(context.Background(), url)
		require.NoError(t, err)
		fmt.Printf("server %s %s\n", url, filepath.Dir(show(t, conn, "data_directory")))
		time.Sleep(time.Minute)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiesWithProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	var url, dir string
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "server" {
			url, dir = f[1], f[2]
			break
		}
		if strings.Contains(sc.Text(), "SKIP") {
			cmd.Wait()
			t.Skip("the child skipped: no PostgreSQL")
		}
	}
	require.NotEmpty(t, url, "the child started no server")
	defer os.RemoveAll(dir) // the child could not
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err, "the child's server runs")
	conn.Close(ctx)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			break
		}
		conn.Close(ctx)
		require.True(t, time.Now().Before(deadline), "the server outlived its test process")
		time.Sleep(50 * time.Millisecond)
	}
}
