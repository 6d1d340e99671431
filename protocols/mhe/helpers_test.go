package mhe

import (
	"context"
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// setup is a complete key ceremony: n agents' secret shares, the
// collective key, and the operator's result key pair.
type setup struct {
	params bgv.Parameters
	agents []*SecretShare
	cpk    *PublicKey
	opSK   *ResultSecretKey
	opPK   *PublicKey
}

func testParams(t testing.TB) bgv.Parameters {
	t.Helper()
	params, err := NewParameters()
	require.NoError(t, err)
	return params
}

func newSeed() []byte {
	seed := make([]byte, SeedSize)
	rand.Read(seed)
	return seed
}

func newSetup(t testing.TB, n int) *setup {
	t.Helper()
	s := &setup{params: testParams(t)}
	seed := newSeed()
	var shares [][]byte
	for range n {
		sh, err := GenerateSecretShare(s.params)
		require.NoError(t, err)
		b, err := sh.PublicKeyShare(s.params, seed)
		require.NoError(t, err)
		shares = append(shares, b)
		s.agents = append(s.agents, sh)
	}
	var err error
	s.cpk, err = AggregatePublicKey(s.params, seed, shares)
	require.NoError(t, err)
	s.opSK, s.opPK, err = GenerateResultKey(s.params)
	require.NoError(t, err)
	return s
}

// shares returns every agent's key-switch share of ct with the given
// addends (nil: no addends).
func (s *setup) shares(t testing.TB, ct *Ciphertext, addends [][]uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for i, a := range s.agents {
		var add []uint64
		if addends != nil {
			add = addends[i]
		}
		b, err := a.KeySwitchShare(s.params, ct, s.opPK, add)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

// reveal key-switches ct to the operator and decrypts it.
func (s *setup) reveal(t testing.TB, ct *Ciphertext, addends [][]uint64) []int64 {
	t.Helper()
	return s.combineAndDecrypt(t, ct, s.shares(t, ct, addends))
}

func (s *setup) combineAndDecrypt(t testing.TB, ct *Ciphertext, shares [][]byte) []int64 {
	t.Helper()
	out, err := CombineKeySwitch(s.params, ct, shares)
	require.NoError(t, err)
	got, err := s.opSK.Decrypt(s.params, out)
	require.NoError(t, err)
	return got
}

// encryptColumn encrypts values under the collective key.
func (s *setup) encryptColumn(t testing.TB, values []int64) []*Ciphertext {
	t.Helper()
	enc, err := NewEncryptor(s.params, s.cpk)
	require.NoError(t, err)
	var chunks []*Ciphertext
	require.NoError(t, enc.EncryptColumn(context.Background(), values, 0, func(i int, ct *Ciphertext) error {
		require.Equal(t, len(chunks), i, "chunks emitted in order")
		chunks = append(chunks, ct)
		return nil
	}))
	return chunks
}

// collectiveKey returns Σ s_i, the key no one holds, for noise measurement.
func (s *setup) collectiveKey() *rlwe.SecretKey {
	sk := rlwe.NewSecretKey(s.params)
	for _, a := range s.agents {
		s.params.RingQP().Add(sk.Value, a.s.open().sk.Value, sk.Value)
	}
	return sk
}

// noise returns e_j = (T·(c0 + c1·s) mod Q, centred, minus m_j) / T for
// every coefficient j of ct under sk, where m is the integer the plaintext
// stands for (nil: m_j = 0 except where given). It fails the test if the
// difference is not a multiple of T, i.e. if m is wrong.
func noise(t testing.TB, params bgv.Parameters, sk *rlwe.SecretKey, ct *Ciphertext, m map[int]*big.Int) []*big.Int {
	t.Helper()
	ringQ := params.RingQ()
	pt := rlwe.NewDecryptor(params, sk).DecryptNew(ct.ct)
	ringQ.INTT(pt.Value, pt.Value)
	ys := make([]*big.Int, ChunkSize)
	for j := range ys {
		ys[j] = new(big.Int)
	}
	ringQ.PolyToBigintCentered(pt.Value, 1, ys)
	Q := ringQ.ModulusAtLevel[params.MaxLevel()]
	halfQ := new(big.Int).Rsh(Q, 1)
	T := new(big.Int).SetUint64(PlaintextModulus)
	out := make([]*big.Int, 0, len(m))
	for j, want := range m {
		y := new(big.Int).Mul(ys[j], T)
		y.Mod(y, Q)
		if y.Cmp(halfQ) > 0 {
			y.Sub(y, Q)
		}
		y.Sub(y, want)
		r := new(big.Int)
		y.QuoRem(y, T, r)
		require.Zero(t, r.Sign(), "coefficient %d: plaintext is not %s", j, want)
		out = append(out, y)
	}
	return out
}

// maxBits returns log2 of the largest |e|.
func maxBits(es []*big.Int) int {
	m := 0
	for _, e := range es {
		m = max(m, new(big.Int).Abs(e).BitLen())
	}
	return m
}

// garbage returns, in the clear, the integer plaintext of the WeightedSums
// result of g over values: coefficient j is Σ_k W[k]·(x_c·X^{-i_k})_j.
func garbage(values []int64, g Weights) []int64 {
	out := make([]int64, ChunkSize)
	for k, r := range g.Rows {
		c, i := int(r)/ChunkSize, int(r)%ChunkSize
		x := make([]int64, ChunkSize)
		copy(x, values[c*ChunkSize:min((c+1)*ChunkSize, len(values))])
		w := g.W[k]
		// (x·X^{-i})_j = x_{j+i} if j+i < N, else -x_{j+i-N}.
		for j := 0; j < ChunkSize-i; j++ {
			out[j] += w * x[j+i]
		}
		for j := ChunkSize - i; j < ChunkSize; j++ {
			out[j] -= w * x[j+i-ChunkSize]
		}
	}
	return out
}

// centredModT reduces v into (-T/2, T/2].
func centredModT(v int64) int64 {
	v %= PlaintextModulus
	if v > MaxExactSum {
		v -= PlaintextModulus
	} else if v < -MaxExactSum {
		v += PlaintextModulus
	}
	return v
}
