package ledger

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is the file system a Log reads and writes its files through: exactly
// the operations it uses. Names are operating-system paths inside the log's
// directory; the directory itself and its lock file are always created
// and locked through the operating system, so an FS is a wrapper around
// the operating system's files (for fault injection: see package
// ledger/ledgertest), not an alternative storage.
//
// OpenFile of a missing file without os.O_CREATE must return an error
// wrapping fs.ErrNotExist. Any other error makes the operation fail as it
// would on a failing disk. Implementations must be safe for concurrent use.
type FS interface {
	// OpenFile opens name as os.OpenFile does. The Log uses the flags
	// os.O_RDONLY, os.O_RDWR, and os.O_WRONLY|os.O_CREATE|os.O_TRUNC.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Rename renames oldpath to newpath, replacing newpath, as os.Rename.
	Rename(oldpath, newpath string) error
	// SyncDir makes the creations and renames in dir durable (fsync of the
	// directory).
	SyncDir(dir string) error
}

// File is the part of *os.File a Log uses.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
}

// Options configure OpenWithOptions. The zero value is what Open uses.
type Options struct {
	// FS is the file system the Log's files are read and written through.
	// Defaults to the operating system's.
	FS FS
}

// osFS is the operating system's file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil *os.File in a non-nil File
	}
	return f, nil
}

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// SyncDir fsyncs a directory so that renames and creations in it are durable.
func (osFS) SyncDir(dir string) error {
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

// rootFS reaches the files of dir through an os.Root of dir: the Log's
// default. Names are operating-system paths inside dir, as FS says.
type rootFS struct {
	root *os.Root
	dir  string
}

// rel returns name relative to the root.
func (r rootFS) rel(name string) (string, error) {
	rel, err := filepath.Rel(r.dir, name)
	if err != nil {
		return "", fmt.Errorf("ledger: %s is not inside %s", name, r.dir)
	}
	return rel, nil
}

func (r rootFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	rel, err := r.rel(name)
	if err != nil {
		return nil, err
	}
	f, err := r.root.OpenFile(rel, flag, perm)
	if err != nil {
		return nil, err // not a typed nil *os.File in a non-nil File
	}
	return f, nil
}

func (r rootFS) Rename(oldpath, newpath string) error {
	o, err := r.rel(oldpath)
	if err != nil {
		return err
	}
	n, err := r.rel(newpath)
	if err != nil {
		return err
	}
	return r.root.Rename(o, n)
}

func (r rootFS) SyncDir(dir string) error {
	rel, err := r.rel(dir)
	if err != nil {
		return err
	}
	d, err := r.root.Open(rel)
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
func replaceFile(fsys FS, dir, name string, data []byte) (renamed bool, err error) {
	if err := writeTemp(fsys, dir, name, data); err != nil {
		return false, err
	}
	return installTemp(fsys, dir, name)
}

// writeTemp writes data to dir/name.tmp and fsyncs it: the first half of
// replaceFile.
func writeTemp(fsys FS, dir, name string, data []byte) error {
	f, err := fsys.OpenFile(filepath.Join(dir, name+".tmp"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// installTemp renames dir/name.tmp over dir/name and fsyncs dir: the
// second half of replaceFile.
func installTemp(fsys FS, dir, name string) (renamed bool, err error) {
	path := filepath.Join(dir, name)
	if err := fsys.Rename(path+".tmp", path); err != nil {
		return false, err
	}
	return true, fsys.SyncDir(dir)
}

// readCheckpointFile reads dir/checkpoint, refusing one too large to be a
// checkpoint. A missing file gives an error wrapping fs.ErrNotExist.
func readCheckpointFile(fsys FS, dir string) ([]byte, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, checkpointName), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxCheckpointSize {
		return nil, fmt.Errorf("%w: checkpoint file larger than %d bytes", ErrSecurity, maxCheckpointSize)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	return b, nil
}
