package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// flipMasks are the byte flips tried at every position: all bits, and
// either every single bit or (with few set) the lowest and the highest bit.
// Under -short only all bits.
func flipMasks(everyBit bool) []byte {
	switch {
	case testing.Short():
		return []byte{0xff}
	case everyBit:
		return []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}
	}
	return []byte{0x01, 0x80, 0xff}
}

// smallLog builds a 50-entry log with durable appends and returns its dir.
func smallLog(t *testing.T) string {
	dir := t.TempDir()
	buildLog(t, dir, 50, testEntry)
	_, err := Verify(dir, testVerifier(t), nil)
	require.NoError(t, err)
	return dir
}

func TestVerifyDetectsEveryEntriesFlip(t *testing.T) {
	dir := smallLog(t)
	orig := readFile(t, dir, entriesName)
	offs := recordBounds(t, orig)
	v := testVerifier(t)
	rec := 0 // record holding position p
	for p := range orig {
		for rec+1 < len(offs) && int64(p) >= offs[rec+1] {
			rec++
		}
		// Every bit of the header and of each record's length field; a
		// few bits elsewhere, where any change changes a SHA-256 input.
		everyBit := int64(p) < offs[0] || int64(p) < offs[rec]+lenSize
		for _, mask := range flipMasks(everyBit) {
			restore := flipByte(t, dir, entriesName, p, mask)
			_, err := Verify(dir, v, nil)
			restore()
			require.ErrorIs(t, err, ErrSecurity, "flip %#x at %d", mask, p)
			var ee *EntryError
			if int64(p) < headerSize {
				require.False(t, errors.As(err, &ee), "header flip at %d: %v", p, err)
				continue
			}
			require.ErrorAs(t, err, &ee, "flip %#x at %d", mask, p)
			require.EqualValues(t, rec, ee.Index, "flip %#x at %d: %v", mask, p, err)
			require.Equal(t, offs[rec], ee.Offset)
		}
	}
}

func TestVerifyDetectsEveryCheckpointFlip(t *testing.T) {
	dir := smallLog(t)
	orig := readFile(t, dir, checkpointName)
	v := testVerifier(t)
	for p := range orig {
		for _, mask := range flipMasks(true) {
			restore := flipByte(t, dir, checkpointName, p, mask)
			_, err := Verify(dir, v, nil)
			restore()
			require.Error(t, err, "flip %#x at %d", mask, p)
		}
	}
}

func TestOpenRefusesEveryFlip(t *testing.T) {
	dir := smallLog(t)
	s := testSigner(t)
	for _, name := range []string{entriesName, checkpointName} {
		for p := range readFile(t, dir, name) {
			restore := flipByte(t, dir, name, p, 0xff)
			l, err := Open(dir, s, testOrigin)
			if err == nil {
				l.Close()
			}
			restore()
			require.Error(t, err, "%s: flip at %d", name, p)
		}
	}
	openTest(t, dir)
}

func TestVerifyDetectsTruncation(t *testing.T) {
	dir := smallLog(t)
	orig := readFile(t, dir, entriesName)
	v := testVerifier(t)
	for n := len(orig) - 1; n >= 0; n-- {
		// Truncating in place, shorter each time, is much faster on ext4
		// than rewriting the file (see flipByte).
		require.NoError(t, os.Truncate(filepath.Join(dir, entriesName), int64(n)))
		_, err := Verify(dir, v, nil)
		require.ErrorIs(t, err, ErrSecurity, "truncated to %d bytes", n)

		l, err := Open(dir, testSigner(t), testOrigin)
		if err == nil {
			l.Close()
		}
		require.ErrorIs(t, err, ErrSecurity, "Open of a log truncated to %d bytes", n)
	}
	writeFile(t, dir, entriesName, orig)
	cp := readFile(t, dir, checkpointName)
	for n := 0; n < len(cp); n++ {
		writeFile(t, dir, checkpointName, cp[:n])
		_, err := Verify(dir, v, nil)
		require.Error(t, err, "checkpoint truncated to %d bytes", n)
	}
}

// swapRecords returns the entries file with records i and j swapped.
func swapRecords(t *testing.T, b []byte, i, j int) []byte {
	offs := recordBounds(t, b)
	if i > j {
		i, j = j, i
	}
	var out []byte
	out = append(out, b[:offs[i]]...)
	out = append(out, b[offs[j]:offs[j+1]]...)
	out = append(out, b[offs[i+1]:offs[j]]...)
	out = append(out, b[offs[i]:offs[i+1]]...)
	return append(out, b[offs[j+1]:]...)
}

func TestSwapDetected(t *testing.T) {
	dir := smallLog(t)
	orig := readFile(t, dir, entriesName)
	for _, pair := range [][2]int{{0, 1}, {0, 49}, {17, 18}, {3, 30}, {48, 49}} {
		t.Run(fmt.Sprint(pair), func(t *testing.T) {
			writeFile(t, dir, entriesName, swapRecords(t, orig, pair[0], pair[1]))
			_, err := Verify(dir, testVerifier(t), nil)
			require.ErrorIs(t, err, ErrSecurity)
			_, err = Open(dir, testSigner(t), testOrigin)
			require.ErrorIs(t, err, ErrSecurity)
		})
	}
}

func TestVerifyCallback(t *testing.T) {
	dir := smallLog(t)
	var seen []uint64
	cp, err := Verify(dir, testVerifier(t), func(i uint64, e []byte) error {
		require.Equal(t, testEntry(i), e)
		seen = append(seen, i)
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 50, cp.Size)
	require.Len(t, seen, 50)
	for k, i := range seen {
		require.EqualValues(t, k, i)
	}

	bad := errors.New("statement signature does not verify")
	_, err = Verify(dir, testVerifier(t), func(i uint64, _ []byte) error {
		if i == 23 {
			return bad
		}
		return nil
	})
	var ee *EntryError
	require.ErrorAs(t, err, &ee)
	require.EqualValues(t, 23, ee.Index)
	require.ErrorIs(t, err, bad)
	require.NotErrorIs(t, err, ErrSecurity)

	// fn is not called at all on a log that fails verification.
	b := readFile(t, dir, entriesName)
	b[len(b)-1] ^= 1
	writeFile(t, dir, entriesName, b)
	_, err = Verify(dir, testVerifier(t), func(uint64, []byte) error { t.Fatal("called"); return nil })
	require.ErrorIs(t, err, ErrSecurity)
}

func TestVerifyRefusesDataBeyondCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	appendN(t, l, 5)
	require.NoError(t, l.Close())
	cp := readFile(t, dir, checkpointName)
	l = openTest(t, dir)
	appendN(t, l, 6)
	require.NoError(t, l.Close())
	writeFile(t, dir, checkpointName, cp)
	_, err := Verify(dir, testVerifier(t), nil)
	require.ErrorIs(t, err, ErrSecurity)
}

func TestVerifyWrongKey(t *testing.T) {
	dir := smallLog(t)
	v, err := noteVerifier(insecureOtherVKey)
	require.NoError(t, err)
	_, err = Verify(dir, v, nil)
	require.Error(t, err)
}

// flipByte XORs the byte at offset p of dir/name with mask, in place, and
// returns a func that restores it. Rewriting a file from scratch for every
// flip makes ext4 (auto_da_alloc) flush it to disk each time, which is
// slow; writing in place is not.
func flipByte(t *testing.T, dir, name string, p int, mask byte) (restore func()) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	var b [1]byte
	_, err = f.ReadAt(b[:], int64(p))
	require.NoError(t, err)
	orig := b[0]
	b[0] ^= mask
	_, err = f.WriteAt(b[:], int64(p))
	require.NoError(t, err)
	return func() {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
		require.NoError(t, err)
		defer f.Close()
		_, err = f.WriteAt([]byte{orig}, int64(p))
		require.NoError(t, err)
	}
}

// TestVerifyDetectsSampledFlips flips single bytes, at seeded random
// positions of both files of a 2,000-entry log, with random non-zero
// masks, and requires Verify to refuse every one; an entries-file flip
// must be named as the entry holding the byte. The 20,000 flips (2,000
// under -short or the race detector; make test runs the full count
// without it) are shared by one worker per CPU (up to 4), each on its own
// copy of the log and with its own seed, so the sample does not depend on
// timing.
func TestVerifyDetectsSampledFlips(t *testing.T) {
	const n = 2000
	flips := 20_000
	if testing.Short() || raceEnabled {
		flips = 2_000
	}
	src := t.TempDir()
	buildLog(t, src, n, testEntry)
	_, err := Verify(src, testVerifier(t), nil)
	require.NoError(t, err)
	offs := recordBounds(t, readFile(t, src, entriesName))

	workers := min(max(runtime.GOMAXPROCS(0), 1), 4)
	counts := make([]map[string]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		dir := copyLog(t, src)
		counts[w] = map[string]int{}
		wg.Go(func() {
			flipSample(t, dir, offs, rand.New(rand.NewPCG(20260601, uint64(w))), flips/workers, counts[w])
		})
	}
	wg.Wait()
	total := map[string]int{}
	for _, c := range counts {
		for name, k := range c {
			total[name] += k
		}
	}
	t.Logf("%d workers, flips detected: %v", workers, total)
	require.Equal(t, flips/workers*workers, total[entriesName]+total[checkpointName])
}

// flipSample makes k flips in dir (see TestVerifyDetectsSampledFlips) and
// counts them per file in counts. It reports failures with t.Errorf, as
// it runs in its own goroutine, and stops at the first.
func flipSample(t *testing.T, dir string, offs []int64, rng *rand.Rand, k int, counts map[string]int) {
	v := testVerifier(t)
	type target struct {
		name string
		f    *os.File
		size int
	}
	var files []target
	for _, name := range []string{entriesName, checkpointName} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			t.Error(err)
			return
		}
		files = append(files, target{name, f, int(fi.Size())})
	}
	flip := func(tg target, p int64, mask byte) error {
		var b [1]byte
		if _, err := tg.f.ReadAt(b[:], p); err != nil {
			return err
		}
		b[0] ^= mask
		_, err := tg.f.WriteAt(b[:], p)
		return err
	}
	for range k {
		// One flip in ten goes to the checkpoint, whatever its size.
		tg := files[0]
		if rng.IntN(10) == 0 {
			tg = files[1]
		}
		p := int64(rng.IntN(tg.size))
		mask := byte(1 + rng.IntN(255))
		if err := flip(tg, p, mask); err != nil {
			t.Error(err)
			return
		}
		_, verr := Verify(dir, v, nil)
		if err := flip(tg, p, mask); err != nil {
			t.Error(err)
			return
		}
		if verr == nil {
			t.Errorf("%s: flip %#x at %d not detected", tg.name, mask, p)
			return
		}
		counts[tg.name]++
		if tg.name != entriesName {
			continue
		}
		var ee *EntryError
		switch {
		case !errors.Is(verr, ErrSecurity):
			t.Errorf("flip %#x at %d: not ErrSecurity: %v", mask, p, verr)
			return
		case p < headerSize:
			if errors.As(verr, &ee) {
				t.Errorf("header flip at %d names an entry: %v", p, verr)
				return
			}
		case !errors.As(verr, &ee):
			t.Errorf("flip %#x at %d names no entry: %v", mask, p, verr)
			return
		default:
			rec := sort.Search(len(offs), func(i int) bool { return offs[i] > p }) - 1
			if ee.Index != uint64(rec) {
				t.Errorf("flip %#x at %d names entry %d, not %d: %v", mask, p, ee.Index, rec, verr)
				return
			}
		}
	}
	if _, err := Verify(dir, v, nil); err != nil {
		t.Errorf("a flip was not undone: %v", err)
	}
}
