package ledger

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// grow appends entries from..to-1 to l and returns the checkpoint and the
// entries.
func grow(t *testing.T, l *Log, from, to uint64) ([]byte, [][]byte) {
	t.Helper()
	var es [][]byte
	for i := from; i < to; i++ {
		_, err := l.Append(testEntry(i))
		require.NoError(t, err)
		es = append(es, testEntry(i))
	}
	return l.Checkpoint(), es
}

func TestFollowerExtends(t *testing.T) {
	l := openTest(t, t.TempDir())
	f := NewFollower(testVerifier(t))
	require.Equal(t, uint64(0), f.Size())

	cp, es := grow(t, l, 0, 5)
	got, err := f.Extend(cp, nil, es)
	require.NoError(t, err)
	require.Equal(t, uint64(5), got.Size)

	// Each later extension comes with a consistency proof.
	for _, to := range []uint64{5, 6, 17, 64} {
		cp2, es2 := grow(t, l, f.Size(), to)
		proof, err := l.ConsistencyProof(f.Size(), to)
		require.NoError(t, err)
		_, err = f.Extend(cp2, proof, es2)
		require.NoError(t, err, "to %d", to)
		require.Equal(t, to, f.Size())
	}
	c, signed := f.Checkpoint()
	require.Equal(t, uint64(64), c.Size)
	require.Equal(t, l.Checkpoint(), signed)
}

func TestFollowerRefuses(t *testing.T) {
	l := openTest(t, t.TempDir())
	cp5, es5 := grow(t, l, 0, 5)
	cp9, es9 := grow(t, l, 5, 9)
	proof, err := l.ConsistencyProof(5, 9)
	require.NoError(t, err)

	fresh := func() *Follower {
		f := NewFollower(testVerifier(t))
		_, err := f.Extend(cp5, nil, es5)
		require.NoError(t, err)
		return f
	}

	f := fresh()
	tampered := append([][]byte{}, es9...)
	tampered[2] = []byte("not the log's entry")
	_, err = f.Extend(cp9, proof, tampered)
	require.ErrorIs(t, err, ErrSecurity)
	require.Equal(t, uint64(5), f.Size(), "a refused extension changes nothing")

	_, err = f.Extend(cp9, proof, es9[:3])
	require.ErrorContains(t, err, "3 entries from 5 to a checkpoint of size 9")

	_, err = f.Extend(cp9, proof[1:], es9)
	require.Error(t, err, "a truncated consistency proof")
	bad := append([][]byte{}, proof...)
	bad[0] = make([]byte, 32)
	_, err = f.Extend(cp9, bad, es9)
	require.ErrorIs(t, err, ErrSecurity, "a wrong consistency proof")

	// A log that forgot an entry the follower saw.
	other := openTest(t, t.TempDir())
	for i := uint64(0); i < 9; i++ {
		e := testEntry(i)
		if i == 1 {
			e = []byte("rewritten")
		}
		_, err := other.Append(e)
		require.NoError(t, err)
	}
	forkProof, err := other.ConsistencyProof(5, 9)
	require.NoError(t, err)
	_, err = f.Extend(other.Checkpoint(), forkProof, es9)
	require.ErrorIs(t, err, ErrSecurity, "a fork")

	// A log that shrank.
	f = fresh()
	_, err = f.Extend(cp9, proof, es9)
	require.NoError(t, err)
	_, err = f.Extend(cp5, nil, nil)
	var rb *RollbackError
	require.True(t, errors.As(err, &rb), "%v", err)

	// A checkpoint the log's key did not sign.
	_, err = NewFollower(testVerifier(t)).Extend([]byte("x\n5\nAAAA\n"), nil, es5)
	require.Error(t, err)
}
