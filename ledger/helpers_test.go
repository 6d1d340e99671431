package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// Insecure test keys: published here, for tests only.
const (
	insecureTestSKey  = "PRIVATE+KEY+cleanroom-test-node+518ebe93+AVkwQp5NqO5W0cBxJ0kcHp2mjRMczr0HTdiT35q2c/JX"
	insecureTestVKey  = "cleanroom-test-node+518ebe93+AaCmtzRJ95PcLSrTFU2xO4Vb4x/ZW1G4maN0KQCl6rCi"
	insecureOtherSKey = "PRIVATE+KEY+cleanroom-other-node+d3ca4692+ARRYOQnwPjmr8/YFYAn4XTcGntMC5MfrC0JrPVsrnKv+"
	insecureOtherVKey = "cleanroom-other-node+d3ca4692+AcjJMArLnUET2uNsZusHMhY7kgO6oiVlXmFWHWNQByL8"

	testOrigin = "cleanroom.example/test"
)

func testSigner(tb testing.TB) note.Signer {
	tb.Helper()
	s, err := note.NewSigner(insecureTestSKey)
	require.NoError(tb, err)
	return s
}

func testVerifier(tb testing.TB) note.Verifier {
	tb.Helper()
	v, err := note.NewVerifier(insecureTestVKey)
	require.NoError(tb, err)
	return v
}

func otherSigner(tb testing.TB) note.Signer {
	tb.Helper()
	s, err := note.NewSigner(insecureOtherSKey)
	require.NoError(tb, err)
	return s
}

// testEntry is entry i of the test logs: distinct, of varying lengths.
func testEntry(i uint64) []byte {
	return []byte(fmt.Sprintf("entry %d%s", i, bytes.Repeat([]byte{'.'}, int(i%7))))
}

// openTest opens dir with the test key and closes it when the test ends.
func openTest(tb testing.TB, dir string) *Log {
	tb.Helper()
	l, err := Open(dir, testSigner(tb), testOrigin)
	require.NoError(tb, err)
	tb.Cleanup(func() { l.Close() })
	return l
}

// appendN appends testEntry(size) … up to n entries in total.
func appendN(tb testing.TB, l *Log, n uint64) {
	tb.Helper()
	for i := l.Size(); i < n; i++ {
		got, err := l.Append(testEntry(i))
		require.NoError(tb, err)
		require.Equal(tb, i, got)
	}
}

// buildLog writes a log of n entries straight into dir, with one
// checkpoint at the end, much faster than n durable appends. It uses the
// package's record encoding and tree; the tests compare both against
// independent implementations elsewhere.
func buildLog(tb testing.TB, dir string, n uint64, entry func(uint64) []byte) {
	tb.Helper()
	require.NoError(tb, os.MkdirAll(dir, 0o700))
	buf := []byte(fileMagic)
	t := newTree()
	for i := uint64(0); i < n; i++ {
		e := entry(i)
		leaf := hasher.HashLeaf(e)
		buf = appendRecord(buf, e, leaf)
		t.append(leaf)
	}
	require.NoError(tb, os.WriteFile(filepath.Join(dir, entriesName), buf, 0o600))
	signed, err := signCheckpoint(&Checkpoint{Origin: testOrigin, Size: n, Root: t.root()}, testSigner(tb))
	require.NoError(tb, err)
	require.NoError(tb, os.WriteFile(filepath.Join(dir, checkpointName), signed, 0o600))
}

// recordBounds returns the offsets at which each record of an entries file
// starts, and the file's end, parsed independently of recordReader.
func recordBounds(tb testing.TB, b []byte) []int64 {
	tb.Helper()
	require.Equal(tb, fileMagic, string(b[:len(fileMagic)]))
	var offs []int64
	off := int64(len(fileMagic))
	for off < int64(len(b)) {
		offs = append(offs, off)
		off += 4 + int64(binary.BigEndian.Uint32(b[off:])) + 32
	}
	require.Equal(tb, int64(len(b)), off)
	return append(offs, off)
}

func readFile(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(tb, err)
	return b
}

func writeFile(tb testing.TB, dir, name string, b []byte) {
	tb.Helper()
	require.NoError(tb, os.WriteFile(filepath.Join(dir, name), b, 0o600))
}

// copyLog copies the entries and checkpoint files of src into a new
// directory.
func copyLog(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	for _, name := range []string{entriesName, checkpointName} {
		writeFile(tb, dst, name, readFile(tb, src, name))
	}
	return dst
}

func noteVerifier(vkey string) (note.Verifier, error) { return note.NewVerifier(vkey) }

// flakySigner fails while fail is set.
type flakySigner struct {
	note.Signer
	fail atomic.Bool
}

func (s *flakySigner) Sign(msg []byte) ([]byte, error) {
	if s.fail.Load() {
		return nil, errors.New("signer unavailable")
	}
	return s.Signer.Sign(msg)
}

// randomSigner signs differently every time, like a randomised scheme.
type randomSigner struct {
	note.Signer
	n byte
}

func (s *randomSigner) Sign(msg []byte) ([]byte, error) {
	s.n++
	sig, err := s.Signer.Sign(msg)
	if err != nil {
		return nil, err
	}
	return append(sig, s.n), nil
}
