package mhe

import (
	"context"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The benchmarks share one setup: 3 agents, their key, and a 1M-row column
// encrypted under it.
var (
	benchOnce   sync.Once
	benchS      *setup
	benchChunks []*Ciphertext
)

func benchSetup(b *testing.B) (*setup, []*Ciphertext) {
	benchOnce.Do(func() {
		benchS = newSetup(b, 3)
		values := make([]int64, 1_000_000)
		rng := mrand.New(mrand.NewPCG(9, 10))
		for i := range values {
			values[i] = rng.Int64N(2e9+1) - 1e9
		}
		benchChunks = benchS.encryptColumn(b, values)
	})
	if benchS == nil {
		b.Fatal("benchmark setup failed")
	}
	return benchS, benchChunks
}

func BenchmarkEncryptChunk(b *testing.B) {
	s, _ := benchSetup(b)
	enc, err := NewEncryptor(s.params, s.cpk)
	require.NoError(b, err)
	values := make([]int64, ChunkSize)
	for i := range values {
		values[i] = int64(i) * 1_000_003
	}
	for b.Loop() {
		if _, err := enc.EncryptChunk(values); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*ChunkSize)/b.Elapsed().Seconds(), "values/s")
	b.ReportMetric(float64(CiphertextSize)/ChunkSize, "ct-bytes/value")
}

// BenchmarkEncryptColumn encrypts 1M values on GOMAXPROCS workers.
func BenchmarkEncryptColumn(b *testing.B) {
	s, _ := benchSetup(b)
	enc, err := NewEncryptor(s.params, s.cpk)
	require.NoError(b, err)
	values := make([]int64, 1_000_000)
	for b.Loop() {
		if err := enc.EncryptColumn(context.Background(), values, 0, func(int, *Ciphertext) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(values))/b.Elapsed().Seconds(), "values/s")
}

// BenchmarkWeightedSums: 1M rows, 10 groups (every row in one group),
// random weights 1..64, GOMAXPROCS workers.
func BenchmarkWeightedSums(b *testing.B) {
	s, chunks := benchSetup(b)
	rng := mrand.New(mrand.NewPCG(11, 12))
	groups := make([]Weights, 10)
	for r := range int32(1_000_000) {
		g := &groups[rng.IntN(10)]
		g.Rows = append(g.Rows, r)
		g.W = append(g.W, 1+rng.Int64N(64))
	}
	workers := runtime.GOMAXPROCS(0)
	products := 0
	for _, g := range groups {
		spans, err := g.check(len(chunks))
		require.NoError(b, err)
		products += len(spans)
	}
	for b.Loop() {
		if _, err := WeightedSums(context.Background(), s.params, chunks, groups, workers); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*products)/b.Elapsed().Seconds(), "products/s")
	b.ReportMetric(float64(b.N*1_000_000)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkMulAdd compares ways to multiply a chunk by the polynomial q of
// a group (every 10th row, weights 1..64): what WeightedSums does (q built
// in Montgomery form, lazy NTT, Montgomery products), q plain with Barrett
// products, and q plain with an MForm pass then Montgomery products.
func BenchmarkMulAdd(b *testing.B) {
	s, chunks := benchSetup(b)
	rng := mrand.New(mrand.NewPCG(13, 14))
	g := Weights{}
	for r := range int32(ChunkSize) {
		if rng.IntN(10) == 0 {
			g.Rows = append(g.Rows, r)
			g.W = append(g.W, 1+rng.Int64N(64))
		}
	}
	spans, err := g.check(1)
	require.NoError(b, err)
	m := newMultiplier(s.params)
	acc := newCiphertext(s.params)
	ct := chunks[0].ct
	plain := func() {
		for j, sr := range m.ringQ.SubRings {
			c := m.q.Coeffs[j]
			clear(c)
			for k := spans[0].lo; k < spans[0].hi; k++ {
				if i := int(g.Rows[k]); i == 0 {
					c[0] = uint64(g.W[k])
				} else {
					c[ChunkSize-i] = sr.Modulus - uint64(g.W[k])
				}
			}
		}
		m.ringQ.NTT(m.q, m.q)
	}
	b.Run("mform-folded", func(b *testing.B) {
		for b.Loop() {
			m.weights(g, spans[0])
			m.mulAdd(ct, acc, false)
		}
	})
	b.Run("barrett", func(b *testing.B) {
		for b.Loop() {
			plain()
			for d := range ct.Value {
				m.ringQ.MulCoeffsBarrettThenAdd(ct.Value[d], m.q, acc.Value[d])
			}
		}
	})
	b.Run("mform-pass", func(b *testing.B) {
		for b.Loop() {
			plain()
			m.ringQ.MForm(m.q, m.q)
			for d := range ct.Value {
				m.ringQ.MulCoeffsMontgomeryThenAdd(ct.Value[d], m.q, acc.Value[d])
			}
		}
	})
}

func BenchmarkKeySwitchShare(b *testing.B) {
	s, chunks := benchSetup(b)
	addend, err := MaskAddend(map[int]int64{0: 0})
	require.NoError(b, err)
	for b.Loop() {
		// Benchmark only: an agent never makes two shares for one c1.
		if _, err := s.agents[0].KeySwitchShare(s.params, chunks[0], s.opPK, addend); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCombineKeySwitch(b *testing.B) {
	s, chunks := benchSetup(b)
	shares := s.shares(b, chunks[1], nil)
	for b.Loop() {
		if _, err := CombineKeySwitch(s.params, chunks[1], shares); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	s, chunks := benchSetup(b)
	out, err := CombineKeySwitch(s.params, chunks[2], s.shares(b, chunks[2], nil))
	require.NoError(b, err)
	for b.Loop() {
		if _, err := s.opSK.Decrypt(s.params, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMaskAddend(b *testing.B) {
	for b.Loop() {
		if _, err := MaskAddend(map[int]int64{0: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCiphertext(b *testing.B) {
	f := fixture()
	for b.Loop() {
		if _, err := ParseCiphertext(f.params, f.ct); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(f.ct)))
}
