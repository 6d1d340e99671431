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

// funcFS is a func-field fake FS over the operating system's: a nil field
// passes the call through.
type funcFS struct {
	openFile func(name string, flag int, perm fs.FileMode) (File, error)
	rename   func(oldpath, newpath string) error
	syncDir  func(dir string) error
}

func (f *funcFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if f.openFile != nil {
		return f.openFile(name, flag, perm)
	}
	return osFS{}.OpenFile(name, flag, perm)
}

func (f *funcFS) Rename(oldpath, newpath string) error {
	if f.rename != nil {
		return f.rename(oldpath, newpath)
	}
	return osFS{}.Rename(oldpath, newpath)
}

func (f *funcFS) SyncDir(dir string) error {
	if f.syncDir != nil {
		return f.syncDir(dir)
	}
	return osFS{}.SyncDir(dir)
}

// prevOpenFile, prevRename and prevSyncDir return the current behaviour,
// for a fault to wrap.
func (f *funcFS) prevOpenFile() func(string, int, fs.FileMode) (File, error) {
	if prev := f.openFile; prev != nil {
		return prev
	}
	return osFS{}.OpenFile
}

func (f *funcFS) prevRename() func(string, string) error {
	if prev := f.rename; prev != nil {
		return prev
	}
	return osFS{}.Rename
}

func (f *funcFS) prevSyncDir() func(string) error {
	if prev := f.syncDir; prev != nil {
		return prev
	}
	return osFS{}.SyncDir
}

// faultyFile is a func-field fake over a real file: a nil field passes the
// call through.
type faultyFile struct {
	File
	writeAt  func(f File, b []byte, off int64) (int, error)
	sync     func(f File) error
	truncate func(f File, size int64) error
}

func (f *faultyFile) WriteAt(b []byte, off int64) (int, error) {
	if f.writeAt != nil {
		return f.writeAt(f.File, b, off)
	}
	return f.File.WriteAt(b, off)
}

func (f *faultyFile) Sync() error {
	if f.sync != nil {
		return f.sync(f.File)
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if f.truncate != nil {
		return f.truncate(f.File, size)
	}
	return f.File.Truncate(size)
}

// fault is one way for a commit to fail.
type fault struct {
	name string
	// wrap installs the fault, active once armed, into a file system.
	wrap func(fsys *funcFS, armed *atomic.Bool)
	// kept is whether the failed entry is in the log anyway: its records
	// were synced, its checkpoint was not stored.
	kept bool
	// broken is whether the log refuses appends until reopened (the
	// failed write could not be truncated away); reopened says whether
	// the failed entry is then in the log.
	broken, reopened bool
}

func onFile(base string, configure func(f *faultyFile, armed *atomic.Bool)) func(*funcFS, *atomic.Bool) {
	return func(fsys *funcFS, armed *atomic.Bool) {
		open := fsys.prevOpenFile()
		fsys.openFile = func(name string, flag int, perm fs.FileMode) (File, error) {
			f, err := open(name, flag, perm)
			if err != nil || filepath.Base(name) != base {
				return f, err
			}
			ff := &faultyFile{File: f}
			configure(ff, armed)
			return ff, nil
		}
	}
}

var faults = []fault{
	{name: "record write fails halfway", wrap: onFile(entriesName, func(f *faultyFile, armed *atomic.Bool) {
		f.writeAt = func(f File, b []byte, off int64) (int, error) {
			if armed.Load() {
				n, _ := f.WriteAt(b[:len(b)/2], off)
				return n, errInjected
			}
			return f.WriteAt(b, off)
		}
	})},
	{name: "record sync fails", wrap: onFile(entriesName, func(f *faultyFile, armed *atomic.Bool) {
		f.sync = func(f File) error {
			if armed.Load() {
				return errInjected
			}
			return f.Sync()
		}
	})},
	{name: "checkpoint create fails", kept: true, wrap: func(fsys *funcFS, armed *atomic.Bool) {
		open := fsys.prevOpenFile()
		fsys.openFile = func(name string, flag int, perm fs.FileMode) (File, error) {
			if armed.Load() && strings.HasPrefix(filepath.Base(name), checkpointName) {
				return nil, errInjected
			}
			return open(name, flag, perm)
		}
	}},
	{name: "checkpoint write fails", kept: true, wrap: onFile(checkpointName+".tmp", func(f *faultyFile, armed *atomic.Bool) {
		f.writeAt = func(f File, b []byte, off int64) (int, error) {
			if armed.Load() {
				return 0, errInjected
			}
			return f.WriteAt(b, off)
		}
	})},
	{name: "checkpoint sync fails", kept: true, wrap: onFile(checkpointName+".tmp", func(f *faultyFile, armed *atomic.Bool) {
		f.sync = func(f File) error {
			if armed.Load() {
				return errInjected
			}
			return f.Sync()
		}
	})},
	{name: "checkpoint rename fails", kept: true, wrap: func(fsys *funcFS, armed *atomic.Bool) {
		rename := fsys.prevRename()
		fsys.rename = func(a, b string) error {
			if armed.Load() {
				return errInjected
			}
			return rename(a, b)
		}
	}},
	{name: "directory sync fails after rename", kept: true, wrap: func(fsys *funcFS, armed *atomic.Bool) {
		sync := fsys.prevSyncDir()
		fsys.syncDir = func(dir string) error {
			if armed.Load() {
				return errInjected
			}
			return sync(dir)
		}
	}},
	{name: "record sync and truncation fail", broken: true, reopened: true, wrap: onFile(entriesName, func(f *faultyFile, armed *atomic.Bool) {
		f.sync = func(f File) error {
			if armed.Load() {
				return errInjected
			}
			return f.Sync()
		}
		f.truncate = func(f File, size int64) error {
			if armed.Load() {
				return errInjected
			}
			return f.Truncate(size)
		}
	})},
	{name: "record write and truncation fail", broken: true, wrap: onFile(entriesName, func(f *faultyFile, armed *atomic.Bool) {
		// The half-written record stays behind, torn; Open removes it.
		f.writeAt = func(f File, b []byte, off int64) (int, error) {
			if armed.Load() {
				n, _ := f.WriteAt(b[:len(b)/2], off)
				return n, errInjected
			}
			return f.WriteAt(b, off)
		}
		f.truncate = func(f File, size int64) error {
			if armed.Load() {
				return errInjected
			}
			return f.Truncate(size)
		}
	})},
}

func TestCommitFailureThenResume(t *testing.T) {
	for _, fl := range faults {
		t.Run(fl.name, func(t *testing.T) {
			dir := t.TempDir()
			var armed atomic.Bool
			fsys := &funcFS{}
			fl.wrap(fsys, &armed)
			l, err := OpenWithOptions(dir, testSigner(t), testOrigin, Options{FS: fsys})
			require.NoError(t, err)
			t.Cleanup(func() { l.Close() })
			appendN(t, l, 5)
			entries, checkpoint := saveLog(t, dir)

			armed.Store(true)
			_, err = l.Append([]byte("doomed"))
			require.ErrorIs(t, err, ErrUnavailable)
			require.ErrorIs(t, err, errInjected)
			want := uint64(5)
			if fl.kept {
				want = 6
			}
			require.Equal(t, want, l.Size(), "a failed append is visible only if its records were synced")
			if !fl.kept {
				require.Equal(t, checkpoint, l.Checkpoint())
				require.Equal(t, checkpoint, readFile(t, dir, checkpointName))
			}
			if !fl.kept && !fl.broken {
				require.Equal(t, entries, readFile(t, dir, entriesName), "failed records truncated away")
			}

			armed.Store(false)
			i, err := l.Append([]byte("after"))
			if fl.broken {
				require.ErrorIs(t, err, ErrUnavailable, "no appends until reopened when the failed write could not be truncated away")
			} else {
				require.NoError(t, err, "the log resumes once the fault is gone")
				require.Equal(t, want, i)
				want++
			}
			e, err := l.Entry(4)
			require.NoError(t, err, "reads still work")
			require.Equal(t, testEntry(4), e)
			require.NoError(t, l.Close())
			if fl.broken {
				_, err = Verify(dir, testVerifier(t), nil)
				require.Error(t, err, "the failed write is still in the entries file")
				if fl.reopened {
					want++
				}
			} else {
				_, err = Verify(dir, testVerifier(t), nil)
				require.NoError(t, err)
			}

			l = openTest(t, dir)
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
	s.fail.Store(true)
	_, err = l.Append([]byte("x"))
	require.ErrorIs(t, err, ErrUnavailable)
	require.Equal(t, entries, readFile(t, dir, entriesName), "nothing written")
	s.fail.Store(false)
	i, err := l.Append([]byte("x"))
	require.NoError(t, err, "nothing was written, so the log stays usable")
	require.EqualValues(t, 3, i)
}

func TestRandomisedSignerRefused(t *testing.T) {
	_, err := Open(t.TempDir(), &randomSigner{Signer: testSigner(t)}, testOrigin)
	require.Error(t, err)
}
