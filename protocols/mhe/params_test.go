package mhe

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

func TestParametersAreSecureAndExact(t *testing.T) {
	p, err := NewParameters()
	require.NoError(t, err)
	require.Equal(t, 1<<13, p.N())
	require.LessOrEqual(t, p.LogQP(), float64(SecurityBoundLogQP))
	require.InDelta(t, 181, p.LogQP(), 1)
	require.True(t, new(big.Int).SetUint64(PlaintextModulus).ProbablyPrime(40))
	require.Equal(t, uint64(1), uint64(PlaintextModulus)%uint64(2*p.N()), "T = 1 mod 2N: every slot usable")
	require.Equal(t, 8192, p.MaxSlots())
}

// TestAggregationIsExact encrypts values near the largest exact sum, adds
// ciphertexts, and decrypts the exact total in every slot.
func TestAggregationIsExact(t *testing.T) {
	p, err := NewParameters()
	require.NoError(t, err)
	kgen := rlwe.NewKeyGenerator(p)
	sk, pk := kgen.GenKeyPairNew()
	enc := rlwe.NewEncryptor(p, pk)
	dec := rlwe.NewDecryptor(p, sk)
	ecd := bgv.NewEncoder(p)
	eval := bgv.NewEvaluator(p, nil)

	const parts = 4
	values := make([]uint64, p.MaxSlots())
	var sum *rlwe.Ciphertext
	for k := range parts {
		for i := range values {
			values[i] = uint64(MaxExactSum/parts) - uint64(i*k)
		}
		pt := bgv.NewPlaintext(p, p.MaxLevel())
		require.NoError(t, ecd.Encode(values, pt))
		ct, err := enc.EncryptNew(pt)
		require.NoError(t, err)
		if sum == nil {
			sum = ct
		} else {
			require.NoError(t, eval.Add(sum, ct, sum))
		}
	}
	got := make([]uint64, p.MaxSlots())
	require.NoError(t, ecd.Decode(dec.DecryptNew(sum), got))
	for i, g := range got {
		want := uint64(parts)*uint64(MaxExactSum/parts) - uint64(i*(0+1+2+3))
		require.Equal(t, want, g, "slot %d", i)
	}
}

// TestSwitchParamsShareTheRing: key-switch shares are made with the
// parameter set without P; its ring mod Q must be the package's, moduli
// and NTT alike, or shares would not combine with ciphertexts.
func TestSwitchParamsShareTheRing(t *testing.T) {
	p, err := NewParameters()
	require.NoError(t, err)
	sp, err := switchParams()
	require.NoError(t, err)
	require.Equal(t, 0, sp.PCount())
	require.Equal(t, p.Q(), sp.Q())
	require.Equal(t, p.PlaintextModulus(), sp.PlaintextModulus())
	require.Equal(t, p.N(), sp.N())
	a, b := p.RingQ(), sp.RingQ()
	for j := range a.SubRings {
		require.Equal(t, a.SubRings[j].RootsForward, b.SubRings[j].RootsForward, "modulus %d", j)
		require.Equal(t, a.SubRings[j].RootsBackward, b.SubRings[j].RootsBackward, "modulus %d", j)
		require.Equal(t, a.SubRings[j].MRedConstant, b.SubRings[j].MRedConstant, "modulus %d", j)
	}
}
