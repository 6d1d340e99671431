// Package pgtest starts throwaway PostgreSQL servers for tests.
//
// [Start] gives a test a server of its own; [Shared] gives every test of a
// test binary one server, started on first use and stopped by [Main]. A
// server is a new cluster (initdb) in a fresh temporary directory, with
// fsync off, listening on 127.0.0.1 only, at a free port, with its Unix
// socket in that directory, and trust authentication for the superuser
// postgres. The URL returned is for the database "postgres".
//
// # Binaries
//
// initdb and postgres are looked for in $PG_BIN if it is set, else in
// `pg_config --bindir`, else in the newest /usr/lib/postgresql/*/bin (where
// Debian's postgresql package puts them), else on $PATH. When there are
// none, the test is skipped, or fails if the environment variable CI is
// set, so that CI cannot pass by skipping.
//
// # Root
//
// PostgreSQL refuses to run as root. When the test runs as root, initdb
// and the server run as the system user postgres (which Debian's package
// creates), as setpriv would run them: the process's user and group are
// set before the binary starts. The temporary directory is given to that
// user, and every directory above it must be searchable by others (/tmp
// is); otherwise set TMPDIR to one that is.
//
// # Lifetime
//
// The server is the test process's child, not daemonized by pg_ctl: it is
// started with a parent-death signal (SIGKILL), so it dies with the test
// process even when that is killed or times out, and no server outlives a
// test run. It is stopped as `pg_ctl stop -m immediate` stops one, by
// SIGQUIT, and its directory is then removed.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// notFound is the message for a machine without PostgreSQL.
const notFound = "PostgreSQL binaries not found; .ci/run installs them from Debian's postgresql package"

// Time limits.
const (
	initdbTimeout = 2 * time.Minute
	readyTimeout  = time.Minute
	stopTimeout   = 10 * time.Second
)

// errUnavailable is a reason the machine cannot run PostgreSQL at all (the
// test is skipped outside CI), as opposed to a server that fails to start.
type errUnavailable struct{ msg string }

func (e *errUnavailable) Error() string { return e.msg }

// Start starts a PostgreSQL server for t and returns a URL to connect to
// its database "postgres" as the superuser postgres, such as
// postgres://postgres@127.0.0.1:38211/postgres?sslmode=disable. The
// server is stopped and its files removed in t.Cleanup. It skips t (fails
// it when CI is set) if there is no PostgreSQL, and fails it, with the
// server's log, if the server does not start.
func Start(t testing.TB) string {
	t.Helper()
	c, err := start()
	if err != nil {
		fail(t, err)
	}
	t.Cleanup(c.stop)
	return c.url
}

var shared struct {
	mu      sync.Mutex
	main    bool // Main is running the tests
	started bool
	c       *cluster
	err     error
}

// Shared is Start for a server shared by all the tests of the test binary:
// the first call starts it, later calls return the same URL (or skip or
// fail as the first did). Tests sharing it must not get in each other's
// way, for example by using tables of their own. It needs TestMain to be
// pgtest.Main, which stops the server after the tests; without it, Shared
// fails t.
func Shared(t testing.TB) string {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.main {
		t.Fatal("pgtest.Shared needs the package's TestMain to call pgtest.Main(m)")
	}
	if !shared.started {
		shared.started = true
		shared.c, shared.err = start()
	}
	if shared.err != nil {
		fail(t, shared.err)
	}
	return shared.c.url
}

// Main runs the tests of m, stops the server Shared started, if any, and
// exits with m's code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	if shared.c != nil {
		shared.c.stop()
	}
	shared.mu.Unlock()
	os.Exit(code)
}

func fail(t testing.TB, err error) {
	t.Helper()
	var u *errUnavailable
	if errors.As(err, &u) && os.Getenv("CI") == "" {
		t.Skip("pgtest: " + err.Error())
	}
	t.Fatal("pgtest: " + err.Error())
}

// cluster is a running server.
type cluster struct {
	dir  string // the temporary directory: data/, the socket, the log
	url  string
	proc *os.Process
	done chan struct{} // closed when the server has exited
	once sync.Once
}

// start makes a cluster and starts its server.
func start() (*cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := searchable(dir); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}

	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), initdbTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb failed: %v\n%s", err, out)
	}

	// A free port can be taken by someone else before the server binds
	// it: try a few.
	for attempt := 1; ; attempt++ {
		c, err := run(bin, dir, data, cred)
		if err == nil {
			ok = true
			return c, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return nil, err
		}
	}
}

var errPortTaken = errors.New("port taken")

// run starts the server of the cluster in data and waits until it
// accepts connections.
func run(bin, dir, data string, cred *syscall.Credential) (*cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_permissions=0700",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}

	c := &cluster{dir: dir, done: make(chan struct{}),
		url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	// The parent-death signal is sent when the thread that started the
	// server exits, not the process: start it from a locked thread that
	// lives as long as the server.
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		started <- nil
		cmd.Wait()
		close(c.done)
		runtime.UnlockOSThread()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	c.proc = cmd.Process

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-c.done:
			log := readLog(logPath)
			if strings.Contains(log, "could not bind") || strings.Contains(log, "already in use") {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("postgres exited before accepting connections; its log:\n%s", log)
		default:
		}
		if ready(c.url) {
			return c, nil
		}
		if time.Now().After(deadline) {
			c.kill()
			return nil, fmt.Errorf("postgres did not accept connections within %v; its log:\n%s", readyTimeout, readLog(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready reports whether the server at url accepts a connection.
func ready(url string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

// stop shuts the server down at once (SIGQUIT, as pg_ctl stop -m
// immediate) and removes its directory.
func (c *cluster) stop() {
	c.once.Do(func() {
		c.proc.Signal(syscall.SIGQUIT)
		select {
		case <-c.done:
		case <-time.After(stopTimeout):
			c.kill()
		}
		os.RemoveAll(c.dir)
	})
}

func (c *cluster) kill() {
	c.proc.Kill()
	<-c.done
}

// readLog returns the end of the server's log.
func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	const max = 8 << 10
	if len(b) > max {
		b = append([]byte("…"), b[len(b)-max:]...)
	}
	return string(bytes.TrimSpace(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// credential returns the user and group to run PostgreSQL as: nil (this
// process's) unless it runs as root, then the postgres user's.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, &errUnavailable{"running as root, which PostgreSQL refuses, and there is no postgres user to run it as (" +
			err.Error() + "); .ci/run installs Debian's postgresql package, which creates it"}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user postgres has uid %q and gid %q, want numbers", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// searchable checks that every directory above dir can be searched by
// users other than its owner, so that the postgres user can reach dir.
func searchable(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postgres user cannot reach %s: %s is not searchable by others (mode %v); set TMPDIR to a directory that is", dir, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// findBinaries returns the directory holding initdb and postgres.
func findBinaries() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("PG_BIN"); dir != "" {
		if !has(dir) {
			// Set on purpose: not a reason to skip.
			return "", fmt.Errorf("PG_BIN is %s, which does not hold initdb and postgres", dir)
		}
		return dir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		// Newest first: compare the version numbers, not the text.
		version := func(d string) float64 {
			v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
			return v
		}
		sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		for _, dir := range dirs {
			if has(dir) {
				return dir, nil
			}
		}
	}
	for _, name := range []string{"initdb", "postgres"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	return "", &errUnavailable{notFound}
}
