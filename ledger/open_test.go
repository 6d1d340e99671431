package ledger

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// saveLog returns copies of dir's entries and checkpoint files.
func saveLog(t *testing.T, dir string) (entries, checkpoint []byte) {
	return readFile(t, dir, entriesName), readFile(t, dir, checkpointName)
}

func requireOpenRefuses(t *testing.T, dir string, msgAndArgs ...any) error {
	t.Helper()
	l, err := Open(dir, testSigner(t), testOrigin)
	if err == nil {
		l.Close()
	}
	require.Error(t, err, msgAndArgs...)
	return err
}

func TestOpenRefusesRollback(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	appendN(t, l, 10)
	oldEntries, oldCheckpoint := saveLog(t, dir)
	appendN(t, l, 11)
	_, oneCheckpoint := saveLog(t, dir)
	appendN(t, l, 20)
	require.NoError(t, l.Close())
	newEntries, newCheckpoint := saveLog(t, dir)

	t.Run("older entries, newer checkpoint", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, entriesName, oldEntries)
		writeFile(t, d, checkpointName, newCheckpoint)
		require.ErrorIs(t, requireOpenRefuses(t, d), ErrSecurity)
		_, err := Verify(d, testVerifier(t), nil)
		require.ErrorIs(t, err, ErrSecurity)
	})
	t.Run("newer entries, older checkpoint", func(t *testing.T) {
		// Indistinguishable from a batch of ten whose records were synced
		// but whose checkpoint was not stored: Open keeps them and signs
		// the checkpoint again; Verify refuses the copy as it stands.
		d := t.TempDir()
		writeFile(t, d, entriesName, newEntries)
		writeFile(t, d, checkpointName, oldCheckpoint)
		_, err := Verify(d, testVerifier(t), nil)
		require.ErrorIs(t, err, ErrSecurity)
		l := openTest(t, d)
		require.EqualValues(t, 20, l.Size())
		require.Equal(t, newCheckpoint, l.Checkpoint())
		require.NoError(t, l.Close())
		require.Equal(t, newCheckpoint, readFile(t, d, checkpointName))
		_, err = Verify(d, testVerifier(t), nil)
		require.NoError(t, err)
	})
	t.Run("older entries, newer checkpoint, one entry short", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, entriesName, newEntries[:recordBounds(t, newEntries)[19]])
		writeFile(t, d, checkpointName, newCheckpoint)
		require.ErrorIs(t, requireOpenRefuses(t, d), ErrSecurity)
	})
	t.Run("newer entries, checkpoint one append older", func(t *testing.T) {
		// Indistinguishable from a crash after writing entry 10 and before
		// storing its checkpoint: Open keeps the entry; Verify refuses the
		// copy as it stands.
		d := t.TempDir()
		writeFile(t, d, entriesName, newEntries[:recordBounds(t, newEntries)[11]])
		writeFile(t, d, checkpointName, oldCheckpoint)
		_, err := Verify(d, testVerifier(t), nil)
		require.ErrorIs(t, err, ErrSecurity)
		l := openTest(t, d)
		require.EqualValues(t, 11, l.Size())
		require.Equal(t, oneCheckpoint, l.Checkpoint())
		require.NoError(t, l.Close())
		_, err = Verify(d, testVerifier(t), nil)
		require.NoError(t, err)
	})
	t.Run("checkpoint without entries", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, checkpointName, newCheckpoint)
		require.ErrorIs(t, requireOpenRefuses(t, d), ErrSecurity)
	})
	t.Run("entries without checkpoint", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, entriesName, newEntries)
		require.ErrorIs(t, requireOpenRefuses(t, d), ErrSecurity)
		_, err := Verify(d, testVerifier(t), nil)
		require.Error(t, err)
	})
	t.Run("other origin", func(t *testing.T) {
		d := copyLog(t, dir)
		l, err := Open(d, testSigner(t), "cleanroom.example/other")
		if err == nil {
			l.Close()
		}
		require.ErrorIs(t, err, ErrSecurity)
		require.Contains(t, err.Error(), testOrigin)
	})
	t.Run("other signer", func(t *testing.T) {
		d := copyLog(t, dir)
		l, err := Open(d, otherSigner(t), testOrigin)
		if err == nil {
			l.Close()
		}
		require.Error(t, err)
	})
	t.Run("damaged checkpointed record", func(t *testing.T) {
		d := copyLog(t, dir)
		b := readFile(t, d, entriesName)
		b[recordBounds(t, b)[7]+6] ^= 0x20
		writeFile(t, d, entriesName, b)
		err := requireOpenRefuses(t, d)
		var ee *EntryError
		require.ErrorAs(t, err, &ee)
		require.EqualValues(t, 7, ee.Index)
		require.ErrorIs(t, err, ErrSecurity)
	})
}

func TestOpenRepairsTornTail(t *testing.T) {
	dir := t.TempDir()
	buildLog(t, dir, 12, testEntry)
	entries, checkpoint := saveLog(t, dir)
	next := appendRecord(nil, testEntry(12), hasher.HashLeaf(testEntry(12)))
	// Every prefix of the next record, as a crash mid-write leaves it.
	for n := 1; n < len(next); n++ {
		d := t.TempDir()
		writeFile(t, d, entriesName, append(bytes.Clone(entries), next[:n]...))
		writeFile(t, d, checkpointName, checkpoint)
		_, err := Verify(d, testVerifier(t), nil)
		require.ErrorIs(t, err, ErrSecurity, "Verify refuses a torn tail")

		l, err := Open(d, testSigner(t), testOrigin)
		require.NoError(t, err, "torn after %d bytes", n)
		require.EqualValues(t, 12, l.Size())
		require.Equal(t, checkpoint, l.Checkpoint())
		require.NoError(t, l.Close())
		require.Equal(t, entries, readFile(t, d, entriesName), "torn record truncated away")
		_, err = Verify(d, testVerifier(t), nil)
		require.NoError(t, err)
	}

	t.Run("every prefix of a batch", func(t *testing.T) {
		// A crash while a batch of five was being written, after any
		// number of its bytes reached the disk: Open keeps its complete
		// records and truncates the torn one.
		var batch []byte
		var ends []int
		for i := uint64(12); i < 17; i++ {
			batch = appendRecord(batch, testEntry(i), hasher.HashLeaf(testEntry(i)))
			ends = append(ends, len(batch))
		}
		for n := 1; n <= len(batch); n++ {
			complete := 0
			for complete < len(ends) && ends[complete] <= n {
				complete++
			}
			d := t.TempDir()
			writeFile(t, d, entriesName, append(bytes.Clone(entries), batch[:n]...))
			writeFile(t, d, checkpointName, checkpoint)
			l, err := Open(d, testSigner(t), testOrigin)
			require.NoError(t, err, "%d bytes of the batch", n)
			require.EqualValues(t, 12+complete, l.Size(), "%d bytes of the batch", n)
			require.NoError(t, l.Close())
			_, err = Verify(d, testVerifier(t), nil)
			require.NoError(t, err)
		}
	})
	t.Run("complete record, bytes lost", func(t *testing.T) {
		// The file was extended to its full length but part of the data
		// never reached the disk.
		for _, tail := range [][]byte{
			make([]byte, len(next)),
			append(bytes.Clone(next[:len(next)-5]), 0, 0, 0, 0, 0),
			append(bytes.Clone(next[:10]), make([]byte, len(next)-10)...),
		} {
			d := t.TempDir()
			writeFile(t, d, entriesName, append(bytes.Clone(entries), tail...))
			writeFile(t, d, checkpointName, checkpoint)
			l := openTest(t, d)
			require.EqualValues(t, 12, l.Size())
			require.NoError(t, l.Close())
			require.Equal(t, entries, readFile(t, d, entriesName))
		}
	})
	t.Run("complete record, no checkpoint yet", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, entriesName, append(bytes.Clone(entries), next...))
		writeFile(t, d, checkpointName, checkpoint)
		l := openTest(t, d)
		require.EqualValues(t, 13, l.Size())
		c, err := ParseCheckpoint(l.Checkpoint(), testVerifier(t))
		require.NoError(t, err)
		require.EqualValues(t, 13, c.Size)
		require.NoError(t, l.Close())
		_, err = Verify(d, testVerifier(t), nil)
		require.NoError(t, err)
	})
	t.Run("garbage followed by more data", func(t *testing.T) {
		d := t.TempDir()
		bad := bytes.Clone(next)
		bad[6] ^= 1
		writeFile(t, d, entriesName, append(append(bytes.Clone(entries), bad...), next...))
		writeFile(t, d, checkpointName, checkpoint)
		err := requireOpenRefuses(t, d)
		var ee *EntryError
		require.ErrorAs(t, err, &ee)
		require.EqualValues(t, 12, ee.Index)
	})
	t.Run("complete records then torn record", func(t *testing.T) {
		// A batch of three interrupted in its last record.
		d := t.TempDir()
		more := appendRecord(bytes.Clone(next), testEntry(13), hasher.HashLeaf(testEntry(13)))
		writeFile(t, d, entriesName, append(append(bytes.Clone(entries), more...), next[:9]...))
		writeFile(t, d, checkpointName, checkpoint)
		l := openTest(t, d)
		require.EqualValues(t, 14, l.Size())
		require.NoError(t, l.Close())
		require.Equal(t, append(bytes.Clone(entries), more...), readFile(t, d, entriesName), "torn record truncated away")
		_, err := Verify(d, testVerifier(t), nil)
		require.NoError(t, err)
	})
	t.Run("complete records then a zero-filled tail", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, entriesName, append(append(bytes.Clone(entries), next...), make([]byte, 3*len(next))...))
		writeFile(t, d, checkpointName, checkpoint)
		l := openTest(t, d)
		require.EqualValues(t, 13, l.Size())
		require.NoError(t, l.Close())
	})
	t.Run("torn record followed by a complete one", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, entriesName, append(append(bytes.Clone(entries), next[:len(next)-1]...), next...))
		writeFile(t, d, checkpointName, checkpoint)
		require.ErrorIs(t, requireOpenRefuses(t, d), ErrSecurity)
	})
	t.Run("fresh log interrupted before its first checkpoint", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, entriesName, []byte(fileMagic))
		l := openTest(t, d)
		require.EqualValues(t, 0, l.Size())
		require.NoError(t, l.Close())
		_, err := Verify(d, testVerifier(t), nil)
		require.NoError(t, err)
	})
	t.Run("stale temporary files", func(t *testing.T) {
		d := copyLog(t, dir)
		writeFile(t, d, checkpointName+".tmp", []byte("half a checkpoi"))
		writeFile(t, d, entriesName+".tmp", []byte("clean"))
		l := openTest(t, d)
		appendN(t, l, 3)
		require.NoError(t, l.Close())
		_, err := Verify(d, testVerifier(t), nil)
		require.NoError(t, err)
	})
	t.Run("not a ledger", func(t *testing.T) {
		d := t.TempDir()
		writeFile(t, d, entriesName, []byte("hello, world\n"))
		require.ErrorIs(t, requireOpenRefuses(t, d), ErrSecurity)
		require.NoError(t, os.Remove(filepath.Join(d, entriesName)))
		openTest(t, d)
	})
}
