// Package ledgertest helps callers of package ledger test how they react
// when the ledger cannot write.
//
// [FaultFS] is a [ledger.FS] over the operating system's files with
// switches that make the ledger's writes fail, and succeed again, while
// the Log is open:
//
//	fsys := &ledgertest.FaultFS{}
//	l, err := ledger.OpenWithOptions(dir, signer, origin, ledger.Options{FS: fsys})
//	…
//	fsys.FailWrites.Store(true)  // the next batch fails: Wait returns ledger.ErrUnavailable
//	fsys.FailWrites.Store(false) // the next Add succeeds again
package ledgertest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/xjdata/cleanroom/ledger"
)

// ErrInjected is the error FaultFS's switches inject.
var ErrInjected = errors.New("ledgertest: injected fault")

// The ledger's file names, from its package doc ("Files").
const (
	entriesName       = "entries"
	checkpointTmpName = "checkpoint.tmp"
)

// FaultFS is a ledger.FS that passes every call to the operating system
// unless a switch or a func field says otherwise. Flip the switches at any
// time, from any goroutine; the func fields must be set before the Log is
// opened. Use it by pointer; the zero value passes everything through.
type FaultFS struct {
	// FailWrites makes every write to the entries file write half of its
	// bytes and fail with ErrInjected, as a full disk does: the batch
	// being committed fails and the Log truncates the half-written
	// records away.
	FailWrites atomic.Bool
	// FailSync makes every fsync of the entries file fail with
	// ErrInjected: the batch fails after its records were written, and
	// the truncation that removes them cannot be synced either.
	FailSync atomic.Bool
	// FailTruncate makes truncating the entries file fail with
	// ErrInjected. Together with FailWrites or FailSync, a failed batch
	// cannot be removed and the Log refuses Adds until it is reopened.
	FailTruncate atomic.Bool
	// FailCheckpoint makes storing a checkpoint fail (creating its
	// temporary file fails with ErrInjected): the batch's records are
	// durable, its Waits fail all the same.
	FailCheckpoint atomic.Bool

	// OpenFileFunc, RenameFunc and SyncDirFunc, when set, replace the
	// operating system's calls for anything the switches let through.
	OpenFileFunc func(name string, flag int, perm fs.FileMode) (ledger.File, error)
	RenameFunc   func(oldpath, newpath string) error
	SyncDirFunc  func(dir string) error

	// Writes and Syncs count the successful writes and fsyncs of the
	// entries file: with one of each per batch, Entries/Syncs is the
	// mean batch size.
	Writes atomic.Int64
	Syncs  atomic.Int64
}

var _ ledger.FS = (*FaultFS)(nil)

// OpenFile opens name; the entries file comes wrapped so that the
// switches reach its writes, fsyncs and truncations.
func (f *FaultFS) OpenFile(name string, flag int, perm fs.FileMode) (ledger.File, error) {
	base := filepath.Base(name)
	if base == checkpointTmpName && flag&os.O_CREATE != 0 && f.FailCheckpoint.Load() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrInjected}
	}
	var (
		file ledger.File
		err  error
	)
	if f.OpenFileFunc != nil {
		file, err = f.OpenFileFunc(name, flag, perm)
	} else {
		file, err = os.OpenFile(name, flag, perm)
	}
	if err != nil {
		return nil, err
	}
	if base != entriesName {
		return file, nil
	}
	return &faultFile{File: file, fsys: f, name: name}, nil
}

// Rename renames oldpath to newpath.
func (f *FaultFS) Rename(oldpath, newpath string) error {
	if f.RenameFunc != nil {
		return f.RenameFunc(oldpath, newpath)
	}
	return os.Rename(oldpath, newpath)
}

// SyncDir fsyncs dir.
func (f *FaultFS) SyncDir(dir string) error {
	if f.SyncDirFunc != nil {
		return f.SyncDirFunc(dir)
	}
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

// faultFile is the entries file under FaultFS's switches.
type faultFile struct {
	ledger.File
	fsys *FaultFS
	name string
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fsys.FailWrites.Load() {
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, f.err("write", fmt.Errorf("wrote %d of %d bytes: %w", n, len(b), ErrInjected))
	}
	n, err := f.File.WriteAt(b, off)
	if err == nil {
		f.fsys.Writes.Add(1)
	}
	return n, err
}

func (f *faultFile) Sync() error {
	if f.fsys.FailSync.Load() {
		return f.err("sync", ErrInjected)
	}
	err := f.File.Sync()
	if err == nil {
		f.fsys.Syncs.Add(1)
	}
	return err
}

func (f *faultFile) Truncate(size int64) error {
	if f.fsys.FailTruncate.Load() {
		return f.err("truncate", ErrInjected)
	}
	return f.File.Truncate(size)
}

func (f *faultFile) err(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}
