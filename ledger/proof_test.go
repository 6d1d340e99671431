package ledger

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/tlog"
)

// tlogReader reads our in-memory tree through tlog's storage numbering, so
// that golang.org/x/mod/sumdb/tlog can compute its own proofs and roots
// from our hashes.
func tlogReader(tr *tree) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for k, x := range indexes {
			level, n := tlog.SplitStoredHashIndex(x)
			copy(out[k][:], tr.levels[level].at(uint64(n)))
		}
		return out, nil
	})
}

func toTlog(hs [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(hs))
	for i, h := range hs {
		copy(out[i][:], h)
	}
	return out
}

func TestProofs(t *testing.T) {
	const n = 37
	dir := t.TempDir()
	l := openTest(t, dir)
	v := testVerifier(t)
	cps := make([]*Checkpoint, n+1) // cps[s] is the checkpoint at size s
	var err error
	cps[0], err = ParseCheckpoint(l.Checkpoint(), v)
	require.NoError(t, err)
	for i := uint64(0); i < n; i++ {
		_, err := l.Append(testEntry(i))
		require.NoError(t, err)
		cps[i+1], err = ParseCheckpoint(l.Checkpoint(), v)
		require.NoError(t, err)
	}
	r := tlogReader(l.tree)

	for size := uint64(1); size <= n; size++ {
		cp := cps[size]
		th, err := tlog.TreeHash(int64(size), r)
		require.NoError(t, err)
		require.Equal(t, cp.Root, th[:], "tlog computes the same root from our stored hashes")

		for index := uint64(0); index < size; index++ {
			p, err := l.InclusionProof(index, size)
			require.NoError(t, err)
			leaf := hasher.HashLeaf(testEntry(index))
			require.NoError(t, proof.VerifyInclusion(hasher, index, size, leaf, p, cp.Root))
			require.NoError(t, VerifyInclusion(testEntry(index), index, p, cp))

			require.Equal(t, tlog.RecordHash(testEntry(index)), tlog.Hash(leaf))
			require.NoError(t, tlog.CheckRecord(toTlog(p), int64(size), th, int64(index), tlog.Hash(leaf)))
			tp, err := tlog.ProveRecord(int64(size), int64(index), r)
			require.NoError(t, err)
			require.Equal(t, tlog.RecordProof(toTlog(p)), tp, "same proof as tlog's")

			err = VerifyInclusion(testEntry(index+1), index, p, cp)
			require.ErrorIs(t, err, ErrSecurity, "another entry is not proven")
			if size > 1 {
				require.Error(t, VerifyInclusion(testEntry(index), (index+1)%size, p, cp), "not at another index")
			}
		}

		for size1 := uint64(0); size1 <= size; size1++ {
			p, err := l.ConsistencyProof(size1, size)
			require.NoError(t, err)
			require.NoError(t, proof.VerifyConsistency(hasher, size1, size, p, cps[size1].Root, cp.Root))
			require.NoError(t, VerifyConsistency(cps[size1], cp, p))
			if size1 == 0 {
				require.Empty(t, p)
				continue
			}
			require.NoError(t, tlog.CheckTree(toTlog(p), int64(size), th, int64(size1), tlog.Hash(cps[size1].Root)))
			tp, err := tlog.ProveTree(int64(size), int64(size1), r)
			require.NoError(t, err)
			require.Equal(t, tlog.TreeProof(toTlog(p)), tp, "same proof as tlog's")

			// A fork: same size1, another root.
			forked := *cps[size1]
			forked.Root = bytes.Repeat([]byte{7}, 32)
			require.Error(t, VerifyConsistency(&forked, cp, p))
		}
	}

	_, err = l.InclusionProof(n, n)
	require.Error(t, err)
	_, err = l.InclusionProof(0, n+1)
	require.Error(t, err)
	_, err = l.ConsistencyProof(3, 2)
	require.Error(t, err)
	_, err = l.ConsistencyProof(1, n+1)
	require.Error(t, err)

	other := *cps[n]
	other.Origin = "elsewhere"
	require.Error(t, VerifyConsistency(cps[3], &other, nil))
	require.Error(t, VerifyConsistency(cps[4], cps[3], nil))
	require.Error(t, VerifyInclusion(testEntry(0), 0, nil, nil))

	// Equal sizes, different roots: a fork the empty proof exposes.
	forked := *cps[n]
	forked.Root = cps[n-1].Root
	require.ErrorIs(t, VerifyConsistency(cps[n], &forked, nil), ErrSecurity)
}

// TestProofsReturnCopies checks that a caller modifying a proof does not
// modify the log.
func TestProofsReturnCopies(t *testing.T) {
	l := openTest(t, t.TempDir())
	appendN(t, l, 8)
	p, err := l.InclusionProof(0, 8)
	require.NoError(t, err)
	for _, h := range p {
		for i := range h {
			h[i] = 0
		}
	}
	p, err = l.InclusionProof(0, 8)
	require.NoError(t, err)
	cp, err := ParseCheckpoint(l.Checkpoint(), testVerifier(t))
	require.NoError(t, err)
	require.NoError(t, VerifyInclusion(testEntry(0), 0, p, cp))
}
