package ledger

import (
	"bytes"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// source is a log as an auditor fetches it: entries and checkpoints.
type source struct {
	dir         string
	entries     [][]byte
	checkpoints map[uint64][]byte // signed checkpoint at each size reached
}

// newSource appends entry(0) … entry(n-1) one at a time to a new log,
// keeping every checkpoint.
func newSource(t *testing.T, n uint64, entry func(uint64) []byte) *source {
	t.Helper()
	s := &source{dir: t.TempDir(), checkpoints: map[uint64][]byte{}}
	l := openTest(t, s.dir)
	s.checkpoints[0] = l.Checkpoint()
	for i := range n {
		e := entry(i)
		_, err := l.Append(e)
		require.NoError(t, err)
		s.entries = append(s.entries, e)
		s.checkpoints[i+1] = l.Checkpoint()
	}
	require.NoError(t, l.Close())
	return s
}

// seq yields the first n entries.
func (s *source) seq(n uint64) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for _, e := range s.entries[:n] {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func (s *source) importInto(t *testing.T, dir string, n uint64) (*Checkpoint, error) {
	t.Helper()
	return Import(dir, testVerifier(t), s.checkpoints[n], s.seq(n))
}

// forkedEntry is testEntry except at index 3.
func forkedEntry(i uint64) []byte {
	if i == 3 {
		return []byte("another entry 3")
	}
	return testEntry(i)
}

func requireUnchanged(t *testing.T, dir string, entries, checkpoint []byte) {
	t.Helper()
	require.Equal(t, entries, readFile(t, dir, entriesName))
	require.Equal(t, checkpoint, readFile(t, dir, checkpointName))
}

func TestImport(t *testing.T) {
	src := newSource(t, 30, testEntry)
	v := testVerifier(t)

	t.Run("fresh", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "copy")
		cp, err := src.importInto(t, dir, 30)
		require.NoError(t, err)
		require.EqualValues(t, 30, cp.Size)
		got, err := Verify(dir, v, nil)
		require.NoError(t, err)
		require.Equal(t, cp, got)
		requireUnchanged(t, dir, readFile(t, src.dir, entriesName), readFile(t, src.dir, checkpointName))
		_, err = os.Stat(filepath.Join(dir, entriesName+".tmp"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
	t.Run("extends a prefix", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []uint64{0, 1, 10, 10, 17, 30} {
			cp, err := src.importInto(t, dir, n)
			require.NoError(t, err, "size %d", n)
			require.Equal(t, n, cp.Size)
			_, err = Verify(dir, v, nil)
			require.NoError(t, err)
		}
		requireUnchanged(t, dir, readFile(t, src.dir, entriesName), readFile(t, src.dir, checkpointName))
	})
	t.Run("refuses a rollback", func(t *testing.T) {
		dir := t.TempDir()
		_, err := src.importInto(t, dir, 20)
		require.NoError(t, err)
		entries, checkpoint := saveLog(t, dir)
		_, err = src.importInto(t, dir, 12)
		var re *RollbackError
		require.ErrorAs(t, err, &re)
		require.ErrorIs(t, err, ErrSecurity)
		require.Equal(t, src.checkpoints[20], re.Trusted)
		require.Equal(t, src.checkpoints[12], re.Current)
		requireUnchanged(t, dir, entries, checkpoint)
	})
	t.Run("refuses a fork", func(t *testing.T) {
		forked := newSource(t, 25, forkedEntry)
		for _, n := range []uint64{4, 20} {
			dir := t.TempDir()
			_, err := src.importInto(t, dir, n)
			require.NoError(t, err)
			entries, checkpoint := saveLog(t, dir)
			_, err = forked.importInto(t, dir, 25)
			var fe *ForkError
			require.ErrorAs(t, err, &fe)
			require.ErrorIs(t, err, ErrSecurity)
			require.Equal(t, src.checkpoints[n], fe.Trusted)
			require.Equal(t, forked.checkpoints[25], fe.Current)
			require.Equal(t, n, fe.Size)
			requireUnchanged(t, dir, entries, checkpoint)
		}
	})
	t.Run("same size, another root", func(t *testing.T) {
		forked := newSource(t, 10, forkedEntry)
		dir := t.TempDir()
		_, err := src.importInto(t, dir, 10)
		require.NoError(t, err)
		_, err = forked.importInto(t, dir, 10)
		var fe *ForkError
		require.ErrorAs(t, err, &fe)
	})
	t.Run("refuses bad copies", func(t *testing.T) {
		other, err := note.NewSigner(insecureOtherSKey)
		require.NoError(t, err)
		otherCP, err := note.Sign(&note.Note{Text: string(src.checkpoints[5][:bytes.Index(src.checkpoints[5], []byte("\n\n"))+1])}, other)
		require.NoError(t, err)
		errFetch := errors.New("connection reset")
		for _, tc := range []struct {
			desc       string
			checkpoint []byte
			entries    iter.Seq2[[]byte, error]
			security   bool
		}{
			{"too few entries", src.checkpoints[5], src.seq(4), true},
			{"too many entries", src.checkpoints[5], src.seq(6), true},
			{"other entries", src.checkpoints[5], newSource(t, 5, forkedEntry).seq(5), true},
			{"empty entry", src.checkpoints[1], func(yield func([]byte, error) bool) { yield(nil, nil) }, true},
			{"other key", otherCP, src.seq(5), false},
			{"fetch fails", src.checkpoints[5], func(yield func([]byte, error) bool) {
				if yield(src.entries[0], nil) {
					yield(nil, errFetch)
				}
			}, false},
		} {
			t.Run(tc.desc, func(t *testing.T) {
				// Into a fresh directory, and into a copy of 2 entries.
				dir := t.TempDir()
				_, err := Import(dir, v, tc.checkpoint, tc.entries)
				require.Error(t, err)
				require.Equal(t, tc.security, errors.Is(err, ErrSecurity), "%v", err)
				_, err = os.Stat(filepath.Join(dir, entriesName))
				require.ErrorIs(t, err, os.ErrNotExist)
				_, err = os.Stat(filepath.Join(dir, entriesName+".tmp"))
				require.ErrorIs(t, err, os.ErrNotExist)

				_, err = src.importInto(t, dir, 2)
				require.NoError(t, err)
				entries, checkpoint := saveLog(t, dir)
				_, err = Import(dir, v, tc.checkpoint, tc.entries)
				require.Error(t, err)
				requireUnchanged(t, dir, entries, checkpoint)
			})
		}
		t.Run("fetch fails at once", func(t *testing.T) {
			_, err := Import(t.TempDir(), v, src.checkpoints[2], func(yield func([]byte, error) bool) { yield(nil, errFetch) })
			require.ErrorIs(t, err, errFetch)
		})
	})
	t.Run("other origin", func(t *testing.T) {
		dir := t.TempDir()
		_, err := src.importInto(t, dir, 3)
		require.NoError(t, err)
		text := "elsewhere\n0\n" + testRootB64 + "\n"
		_, err = Import(dir, v, signText(t, text), src.seq(0))
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrSecurity)
	})
	t.Run("removes what an interrupted import left", func(t *testing.T) {
		dir := t.TempDir()
		_, err := src.importInto(t, dir, 10)
		require.NoError(t, err)
		// An import of 20 that stopped after writing its records.
		b := readFile(t, src.dir, entriesName)
		writeFile(t, dir, entriesName, b[:recordBounds(t, b)[20]])
		_, err = Verify(dir, v, nil)
		require.ErrorIs(t, err, ErrSecurity)
		_, err = src.importInto(t, dir, 15)
		require.NoError(t, err)
		cp, err := Verify(dir, v, nil)
		require.NoError(t, err)
		require.EqualValues(t, 15, cp.Size)
	})
	t.Run("refuses a damaged existing copy", func(t *testing.T) {
		dir := t.TempDir()
		_, err := src.importInto(t, dir, 10)
		require.NoError(t, err)
		flipByte(t, dir, entriesName, 100, 1)
		_, err = src.importInto(t, dir, 20)
		require.ErrorIs(t, err, ErrSecurity)
	})
	t.Run("not while a Log has it open", func(t *testing.T) {
		dir := t.TempDir()
		openTest(t, dir)
		_, err := src.importInto(t, dir, 3)
		require.Error(t, err)
	})
}

func TestCheckTrusted(t *testing.T) {
	src := newSource(t, 30, testEntry)
	v := testVerifier(t)
	for size, cp := range src.checkpoints {
		require.NoError(t, CheckTrusted(src.dir, v, cp), "trusted size %d", size)
	}

	t.Run("fork", func(t *testing.T) {
		forked := newSource(t, 30, forkedEntry)
		for _, size := range []uint64{4, 17, 30} {
			err := CheckTrusted(forked.dir, v, src.checkpoints[size])
			var fe *ForkError
			require.ErrorAs(t, err, &fe, "size %d", size)
			require.ErrorIs(t, err, ErrSecurity)
			require.Equal(t, src.checkpoints[size], fe.Trusted)
			require.Equal(t, forked.checkpoints[30], fe.Current)
			require.Equal(t, size, fe.Size)
			require.NotEqual(t, fe.Root, mustParse(t, src.checkpoints[size]).Root)
			require.Contains(t, err.Error(), "fork")
		}
		for _, size := range []uint64{0, 1, 3} {
			require.NoError(t, CheckTrusted(forked.dir, v, src.checkpoints[size]), "before the fork, size %d", size)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		dir := t.TempDir()
		_, err := src.importInto(t, dir, 12)
		require.NoError(t, err)
		err = CheckTrusted(dir, v, src.checkpoints[13])
		var re *RollbackError
		require.ErrorAs(t, err, &re)
		require.ErrorIs(t, err, ErrSecurity)
		require.Equal(t, src.checkpoints[13], re.Trusted)
		require.Equal(t, src.checkpoints[12], re.Current)
		require.EqualValues(t, 13, re.TrustedSize)
		require.EqualValues(t, 12, re.CurrentSize)
	})
	t.Run("damaged directory", func(t *testing.T) {
		dir := copyLog(t, src.dir)
		flipByte(t, dir, entriesName, 200, 0x10)
		err := CheckTrusted(dir, v, src.checkpoints[2])
		var ee *EntryError
		require.ErrorAs(t, err, &ee)
		require.ErrorIs(t, err, ErrSecurity)
	})
	t.Run("not trusted", func(t *testing.T) {
		other, err := note.NewSigner(insecureOtherSKey)
		require.NoError(t, err)
		cp, err := note.Sign(&note.Note{Text: "cleanroom.example/test\n1\n" + testRootB64 + "\n"}, other)
		require.NoError(t, err)
		require.Error(t, CheckTrusted(src.dir, v, cp))
		err = CheckTrusted(src.dir, v, signText(t, "elsewhere\n1\n"+testRootB64+"\n"))
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrSecurity, "another log's checkpoint is no evidence against this one")
		require.Error(t, CheckTrusted(src.dir, nil, src.checkpoints[1]))
	})
}

func mustParse(t *testing.T, signed []byte) *Checkpoint {
	t.Helper()
	cp, err := ParseCheckpoint(signed, testVerifier(t))
	require.NoError(t, err)
	return cp
}
