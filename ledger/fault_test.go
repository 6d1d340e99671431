package ledger

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

var errInjected = errors.New("injected I/O error")

// faultyFile is a func-field fake over a real file: a nil field passes the
// call through.
type faultyFile struct {
	file
	writeAt  func(f file, b []byte, off int64) (int, error)
	sync     func(f file) error
	truncate func(f file, size int64) error
}

func (f *faultyFile) WriteAt(b []byte, off int64) (int, error) {
	if f.writeAt != nil {
		return f.writeAt(f.file, b, off)
	}
	return f.file.WriteAt(b, off)
}

func (f *faultyFile) Sync() error {
	if f.sync != nil {
		return f.sync(f.file)
	}
	return f.file.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if f.truncate != nil {
		return f.truncate(f.file, size)
	}
	return f.file.Truncate(size)
}

// fault is one way for an append to fail.
type fault struct {
	name string
	// wrap installs the fault, active once armed, into a file system.
	wrap func(fsys *fileSystem, armed *atomic.Bool)
	// kept is whether the failed entry is in the log when it is reopened.
	kept bool
}

func onFile(base string, configure func(f *faultyFile, armed *atomic.Bool)) func(*fileSystem, *atomic.Bool) {
	return func(fsys *fileSystem, armed *atomic.Bool) {
		open := fsys.openFile
		fsys.openFile = func(name string, flag int, perm fs.FileMode) (file, error) {
			f, err := open(name, flag, perm)
			if err != nil || filepath.Base(name) != base {
				return f, err
			}
			ff := &faultyFile{file: f}
			configure(ff, armed)
			return ff, nil
		}
	}
}

var faults = []fault{
	{name: "record write fails halfway", wrap: onFile(entriesName, func(f *faultyFile, armed *atomic.Bool) {
		f.writeAt = func(f file, b []byte, off int64) (int, error) {
			if armed.Load() {
				n, _ := f.WriteAt(b[:len(b)/2], off)
				return n, errInjected
			}
			return f.WriteAt(b, off)
		}
	})},
	{name: "record sync fails", wrap: onFile(entriesName, func(f *faultyFile, armed *atomic.Bool) {
		f.sync = func(f file) error {
			if armed.Load() {
				return errInjected
			}
			return f.Sync()
		}
	})},
	{name: "checkpoint create fails", wrap: func(fsys *fileSystem, armed *atomic.Bool) {
		open := fsys.openFile
		fsys.openFile = func(name string, flag int, perm fs.FileMode) (file, error) {
			if armed.Load() && strings.HasPrefix(filepath.Base(name), checkpointName) {
				return nil, errInjected
			}
			return open(name, flag, perm)
		}
	}},
	{name: "checkpoint write fails", wrap: onFile(checkpointName+".tmp", func(f *faultyFile, armed *atomic.Bool) {
		f.writeAt = func(f file, b []byte, off int64) (int, error) {
			if armed.Load() {
				return 0, errInjected
			}
			return f.WriteAt(b, off)
		}
	})},
	{name: "checkpoint sync fails", wrap: onFile(checkpointName+".tmp", func(f *faultyFile, armed *atomic.Bool) {
		f.sync = func(f file) error {
			if armed.Load() {
				return errInjected
			}
			return f.Sync()
		}
	})},
	{name: "checkpoint rename fails", wrap: func(fsys *fileSystem, armed *atomic.Bool) {
		rename := fsys.rename
		fsys.rename = func(a, b string) error {
			if armed.Load() {
				return errInjected
			}
			return rename(a, b)
		}
	}},
	{name: "directory sync fails after rename", kept: true, wrap: func(fsys *fileSystem, armed *atomic.Bool) {
		sync := fsys.syncDir
		fsys.syncDir = func(dir string) error {
			if armed.Load() {
				return errInjected
			}
			return sync(dir)
		}
	}},
	{name: "record sync and truncation fail", kept: true, wrap: onFile(entriesName, func(f *faultyFile, armed *atomic.Bool) {
		f.sync = func(f file) error {
			if armed.Load() {
				return errInjected
			}
			return f.Sync()
		}
		f.truncate = func(f file, size int64) error {
			if armed.Load() {
				return errInjected
			}
			return f.Truncate(size)
		}
	})},
	{name: "record write and truncation fail", wrap: onFile(entriesName, func(f *faultyFile, armed *atomic.Bool) {
		// The half-written record stays behind, torn; Open removes it.
		f.writeAt = func(f file, b []byte, off int64) (int, error) {
			if armed.Load() {
				n, _ := f.WriteAt(b[:len(b)/2], off)
				return n, errInjected
			}
			return f.WriteAt(b, off)
		}
		f.truncate = func(f file, size int64) error {
			if armed.Load() {
				return errInjected
			}
			return f.Truncate(size)
		}
	})},
}

func TestAppendFailureMakesLogUnavailable(t *testing.T) {
	for _, fl := range faults {
		t.Run(fl.name, func(t *testing.T) {
			dir := t.TempDir()
			var armed atomic.Bool
			fsys := osFS
			fl.wrap(&fsys, &armed)
			l, err := openLog(dir, testSigner(t), testOrigin, fsys)
			require.NoError(t, err)
			t.Cleanup(func() { l.Close() })
			appendN(t, l, 5)
			entries, checkpoint := saveLog(t, dir)

			armed.Store(true)
			_, err = l.Append([]byte("doomed"))
			require.ErrorIs(t, err, ErrUnavailable)
			require.ErrorIs(t, err, errInjected)
			require.EqualValues(t, 5, l.Size(), "a failed append is not visible")
			require.Equal(t, checkpoint, l.Checkpoint())

			armed.Store(false)
			_, err = l.Append([]byte("after"))
			require.ErrorIs(t, err, ErrUnavailable, "no appends after a failure, even once the fault is gone")
			e, err := l.Entry(4)
			require.NoError(t, err, "reads still work")
			require.Equal(t, testEntry(4), e)
			require.NoError(t, l.Close())

			if !fl.kept && !strings.Contains(fl.name, "truncation fail") {
				require.Equal(t, entries, readFile(t, dir, entriesName), "failed record truncated away")
			}
			l = openTest(t, dir)
			want := uint64(5)
			if fl.kept {
				want = 6
			}
			require.Equal(t, want, l.Size())
			require.NoError(t, l.Close())
			require.Equal(t, entries, readFile(t, dir, entriesName)[:len(entries)])
			_, err = Verify(dir, testVerifier(t), nil)
			require.NoError(t, err)

			l = openTest(t, dir)
			appendN(t, l, want+2)
		})
	}
}

func TestFailingSignerIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	s := &flakySigner{Signer: testSigner(t)}
	l, err := Open(dir, s, testOrigin)
	require.NoError(t, err)
	defer l.Close()
	appendN(t, l, 3)
	entries := readFile(t, dir, entriesName)
	s.fail = true
	_, err = l.Append([]byte("x"))
	require.ErrorIs(t, err, ErrUnavailable)
	require.Equal(t, entries, readFile(t, dir, entriesName), "nothing written")
	s.fail = false
	i, err := l.Append([]byte("x"))
	require.NoError(t, err, "nothing was written, so the log stays usable")
	require.EqualValues(t, 3, i)
}

func TestRandomisedSignerRefused(t *testing.T) {
	_, err := Open(t.TempDir(), &randomSigner{Signer: testSigner(t)}, testOrigin)
	require.Error(t, err)
}
