package ledger

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// file is the part of *os.File the Log uses to write; tests substitute a
// failing one.
type file interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
}

// fileSystem is how the Log opens, renames and syncs its files. The zero
// value is not usable; see osFS.
type fileSystem struct {
	openFile func(name string, flag int, perm fs.FileMode) (file, error)
	rename   func(oldpath, newpath string) error
	syncDir  func(dir string) error
}

var osFS = fileSystem{
	openFile: func(name string, flag int, perm fs.FileMode) (file, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return f, nil
	},
	rename:  os.Rename,
	syncDir: syncDir,
}

// syncDir fsyncs a directory so that renames and creations in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// replaceFile atomically replaces dir/name with data: it writes
// dir/name.tmp, fsyncs it, renames it over dir/name and fsyncs dir.
// renamed reports whether the rename happened, after which the new content
// is in place even if the error says the directory sync failed.
func (fsys fileSystem) replaceFile(dir, name string, data []byte) (renamed bool, err error) {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := fsys.openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	if err := fsys.rename(tmp, path); err != nil {
		return false, err
	}
	return true, fsys.syncDir(dir)
}
