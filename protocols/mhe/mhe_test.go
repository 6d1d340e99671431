package mhe

import (
	"context"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
)

// TestEndToEnd runs the whole protocol with 3 agents: key generation, a
// provider encrypting 20,000 values, the node computing 5 weighted sums
// and adding constants, the agents key-switching with masks (one adding
// DP noise), the node combining and the operator decrypting.
func TestEndToEnd(t *testing.T) {
	s := newSetup(t, 3)
	rng := mrand.New(mrand.NewPCG(1, 2))

	values := make([]int64, 20000)
	for i := range values {
		values[i] = rng.Int64N(2e9+1) - 1e9
	}
	chunks := s.encryptColumn(t, values)
	require.Len(t, chunks, 3)

	// 5 groups: each row goes to one group, weights 1..3.
	groups := make([]Weights, 5)
	want := make([]int64, 5)
	for r, v := range values {
		g := rng.IntN(5)
		w := int64(1 + rng.IntN(3))
		groups[g].Rows = append(groups[g].Rows, int32(r))
		groups[g].W = append(groups[g].W, w)
		want[g] += w * v
	}
	results, err := WeightedSums(context.Background(), s.params, chunks, groups, 0)
	require.NoError(t, err)
	require.Len(t, results, 5)

	// The operator reloads its key from its file.
	b, err := s.opSK.MarshalBinary()
	require.NoError(t, err)
	var opSK ResultSecretKey
	require.NoError(t, opSK.UnmarshalBinary(b))
	s.opSK = &opSK

	for g, ct := range results {
		constant := int64(1000*g - 2000)
		require.NoError(t, AddConstant(s.params, ct, 0, constant))

		dp := rng.Int64N(2e6+1) - 1e6
		addends := make([][]uint64, len(s.agents))
		for i := range s.agents {
			noise := int64(0)
			if i == 1 {
				noise = dp
			}
			addends[i], err = MaskAddend(map[int]int64{0: noise})
			require.NoError(t, err)
		}
		got := s.reveal(t, ct, addends)
		require.Equal(t, want[g]+constant+dp, got[0], "group %d", g)

		// Every other coefficient is masked: it matches the unmasked
		// garbage only by chance, and looks uniform mod T.
		clear := garbage(values, groups[g])
		equal := 0
		var bins [8]int
		for j := 1; j < ChunkSize; j++ {
			if got[j] == centredModT(clear[j]) {
				equal++
			}
			bins[uint64(got[j]+MaxExactSum)/(PlaintextModulus/8+1)]++
		}
		require.LessOrEqual(t, equal, 2, "group %d: masked coefficients equal to the garbage", g)
		for k, n := range bins {
			require.InDelta(t, (ChunkSize-1)/8, n, 200, "group %d: bin %d of the masked coefficients", g, k)
		}
	}
}

// TestGarbageIsRevealedWithoutMask shows what the mask hides: without
// addends the operator decrypts, at every coefficient but 0, another linear
// combination of the column.
func TestGarbageIsRevealedWithoutMask(t *testing.T) {
	s := newSetup(t, 3)
	rng := mrand.New(mrand.NewPCG(3, 4))
	values := make([]int64, 9000)
	for i := range values {
		values[i] = rng.Int64N(2e9+1) - 1e9
	}
	chunks := s.encryptColumn(t, values)
	g := Weights{Rows: []int32{0, 5, 8191, 8192, 8999}, W: []int64{1, 2, 3, 4, 5}}
	results, err := WeightedSums(context.Background(), s.params, chunks, []Weights{g}, 2)
	require.NoError(t, err)
	got := s.reveal(t, results[0], nil)
	clear := garbage(values, g)
	for j := range got {
		require.Equal(t, centredModT(clear[j]), got[j], "coefficient %d", j)
	}
}

// TestWrongSharesGiveWrongResults: a missing share, a share from a key
// outside the collective key, or a share computed for another ciphertext
// does not fail loudly but decrypts to noise.
func TestWrongSharesGiveWrongResults(t *testing.T) {
	s := newSetup(t, 3)
	values := []int64{5, 7, 11, 13}
	want := int64(5 + 2*7 + 3*11)
	chunks := s.encryptColumn(t, values)
	g := Weights{Rows: []int32{0, 1, 2}, W: []int64{1, 2, 3}}
	outsider, err := GenerateSecretShare(s.params)
	require.NoError(t, err)

	// One fresh result ciphertext (a fresh c1) per scenario: an agent
	// never makes two shares for one c1.
	fresh := func(k int64) *Ciphertext {
		res, err := WeightedSums(context.Background(), s.params, chunks, []Weights{g}, 1)
		require.NoError(t, err)
		r, err := EncryptVector(s.params, s.cpk, []int64{0, k})
		require.NoError(t, err)
		require.NoError(t, Add(s.params, res[0], r))
		return res[0]
	}
	share := func(a *SecretShare, ct *Ciphertext) []byte {
		b, err := a.KeySwitchShare(s.params, ct, s.opPK, nil)
		require.NoError(t, err)
		return b
	}

	ct := fresh(1)
	got := s.combineAndDecrypt(t, ct, [][]byte{share(s.agents[0], ct), share(s.agents[1], ct)})
	require.NotEqual(t, want, got[0], "missing share")

	ct = fresh(2)
	got = s.combineAndDecrypt(t, ct, [][]byte{share(s.agents[0], ct), share(s.agents[1], ct), share(outsider, ct)})
	require.NotEqual(t, want, got[0], "share from a wrong key")

	ct, other := fresh(3), fresh(4)
	require.NotEqual(t, ct.KeySwitchID(), other.KeySwitchID())
	got = s.combineAndDecrypt(t, ct, [][]byte{share(s.agents[0], ct), share(s.agents[1], ct), share(s.agents[2], other)})
	require.NotEqual(t, want, got[0], "share for another ciphertext")

	// But a share only depends on c1: a ciphertext derived by a plaintext
	// addition keeps its c1, so its KeySwitchID, and accepts the share.
	// That is why agents must refuse a second share per KeySwitchID, not
	// per Hash.
	ct = fresh(6)
	derived := ct.Clone()
	require.NoError(t, AddConstant(s.params, derived, 0, 1))
	require.NotEqual(t, ct.Hash(), derived.Hash())
	require.Equal(t, ct.KeySwitchID(), derived.KeySwitchID())
	got = s.combineAndDecrypt(t, derived, s.shares(t, ct, nil))
	require.Equal(t, want+1, got[0])

	// Control: the right shares.
	ct = fresh(5)
	got = s.combineAndDecrypt(t, ct, s.shares(t, ct, nil))
	require.Equal(t, want, got[0])
	require.Equal(t, centredModT(garbage(values, g)[1]+5), got[1]) // unmasked: garbage plus the constant
}

// TestExtremeSums: values and sums at ±MaxExactSum decrypt exactly, and
// MaxExactSum+1 wraps to -MaxExactSum (the node must prevent that).
func TestExtremeSums(t *testing.T) {
	s := newSetup(t, 3)
	const M = MaxExactSum
	values := []int64{M, -M, M - 1, 1, M / 64, -(M / 64), 0}
	chunks := s.encryptColumn(t, values)
	groups := []Weights{
		{Rows: []int32{0}, W: []int64{1}},
		{Rows: []int32{1}, W: []int64{1}},
		{Rows: []int32{2, 3}, W: []int64{1, 1}},
		{Rows: []int32{4}, W: []int64{64}},
		{Rows: []int32{5}, W: []int64{64}},
		{Rows: []int32{0, 1}, W: []int64{1, 1}},
		{Rows: []int32{0}, W: []int64{1}},
	}
	want := []int64{M, -M, M, 64 * (M / 64), -64 * (M / 64), 0, -M}
	results, err := WeightedSums(context.Background(), s.params, chunks, groups, 0)
	require.NoError(t, err)
	require.NoError(t, AddConstant(s.params, results[6], 0, 1)) // M + 1 wraps
	for g, ct := range results {
		addends := make([][]uint64, len(s.agents))
		for i := range addends {
			addends[i], err = MaskAddend(map[int]int64{0: 0})
			require.NoError(t, err)
		}
		require.Equal(t, want[g], s.reveal(t, ct, addends)[0], "group %d", g)
	}

	// A clear vector at the extremes.
	vec := []int64{M, -M, 0, 1, -1}
	ct, err := EncryptVector(s.params, s.cpk, vec)
	require.NoError(t, err)
	got := s.reveal(t, ct, nil)
	require.Equal(t, vec, got[:len(vec)])
	require.Equal(t, make([]int64, ChunkSize-len(vec)), got[len(vec):])
}

// TestArithmetic checks Add, MulScalar and AddConstant on a clear vector,
// with DP noise from two agents at the result positions.
func TestArithmetic(t *testing.T) {
	s := newSetup(t, 3)
	a, err := EncryptVector(s.params, s.cpk, []int64{1, 2, 3, -4})
	require.NoError(t, err)
	b, err := EncryptVector(s.params, s.cpk, []int64{10, 20, 30, 40})
	require.NoError(t, err)
	require.NoError(t, Add(s.params, a, b))        // 11 22 33 36
	require.NoError(t, MulScalar(s.params, a, -3)) // -33 -66 -99 -108
	require.NoError(t, AddConstant(s.params, a, 2, 100))
	require.NoError(t, AddConstant(s.params, a, ChunkSize-1, -5))
	noise := map[int]int64{0: 7, 1: -7, 2: 0, 3: 1, ChunkSize - 1: 0}
	addends := make([][]uint64, len(s.agents))
	for i := range addends {
		n := map[int]int64{0: 0, 1: 0, 2: 0, 3: 0, ChunkSize - 1: 0}
		if i < 2 {
			n = noise
		}
		addends[i], err = MaskAddend(n)
		require.NoError(t, err)
	}
	got := s.reveal(t, a, addends)
	require.Equal(t, []int64{-33 + 14, -66 - 14, -99 + 100, -108 + 2}, got[:4])
	require.Equal(t, int64(-5), got[ChunkSize-1])

	require.Error(t, AddConstant(s.params, a, ChunkSize, 1))
	require.Error(t, AddConstant(s.params, a, -1, 1))
	require.Error(t, AddConstant(s.params, a, 0, MaxExactSum+1))
	require.Error(t, Add(s.params, a, nil))
	require.Error(t, MulScalar(s.params, &Ciphertext{}, 2))

	// A fresh zero plus a vector is the vector; plus a result, the result.
	enc, err := NewEncryptor(s.params, s.cpk)
	require.NoError(t, err)
	z, err := enc.EncryptZero()
	require.NoError(t, err)
	require.NoError(t, AddVector(s.params, z, []int64{5, -6, MaxExactSum}))
	got = s.reveal(t, z, nil)
	require.Equal(t, []int64{5, -6, MaxExactSum}, got[:3])
	require.Equal(t, make([]int64, ChunkSize-3), got[3:])
	z2, err := enc.EncryptZero()
	require.NoError(t, err)
	require.NotEqual(t, z.KeySwitchID(), z2.KeySwitchID(), "fresh randomness")
	require.NoError(t, Add(s.params, z2, b))
	require.Equal(t, []int64{10, 20, 30, 40, 0}, s.reveal(t, z2, nil)[:5])
	// AddConstant at position 0 skips the NTT: the same ciphertext as
	// the transform gives.
	for _, v := range []int64{0, 1, -1, 123456789, -987654321, MaxExactSum, -MaxExactSum} {
		x, y := b.Clone(), b.Clone()
		require.NoError(t, AddConstant(s.params, x, 0, v))
		require.NoError(t, AddVector(s.params, y, []int64{v}))
		require.Equal(t, y.Hash(), x.Hash(), "v = %d", v)
	}
	require.ErrorContains(t, AddVector(s.params, z, make([]int64, ChunkSize+1)), "at most")
	require.ErrorContains(t, AddVector(s.params, z, []int64{0, -MaxExactSum - 1}), "value 1")
	require.Error(t, AddVector(s.params, &Ciphertext{}, nil))
}

// TestEncryptValidation: the encryptor names the offending index.
func TestEncryptValidation(t *testing.T) {
	s := newSetup(t, 3)
	enc, err := NewEncryptor(s.params, s.cpk)
	require.NoError(t, err)
	_, err = enc.EncryptChunk(make([]int64, ChunkSize+1))
	require.ErrorContains(t, err, "chunk of 8193 values")
	bad := make([]int64, 100)
	bad[42] = MaxExactSum + 1
	_, err = enc.EncryptChunk(bad)
	require.ErrorContains(t, err, "value 42 is")
	bad[42] = -MaxExactSum - 1
	_, err = enc.EncryptChunk(bad)
	require.ErrorContains(t, err, "value 42 is")
	bad[42] = -1 << 63
	_, err = enc.EncryptChunk(bad)
	require.ErrorContains(t, err, "value 42 is")
	_, err = NewEncryptor(s.params, nil)
	require.Error(t, err)
}

func TestEncryptColumn(t *testing.T) {
	s := newSetup(t, 3)
	enc, err := NewEncryptor(s.params, s.cpk)
	require.NoError(t, err)
	ctx := context.Background()

	// Order and count, with a short last chunk.
	values := make([]int64, 4*ChunkSize+17)
	for i := range values {
		values[i] = int64(i)
	}
	var order []int
	require.NoError(t, enc.EncryptColumn(ctx, values, 3, func(i int, ct *Ciphertext) error {
		order = append(order, i)
		return nil
	}))
	require.Equal(t, []int{0, 1, 2, 3, 4}, order)

	// An empty column emits nothing.
	require.NoError(t, enc.EncryptColumn(ctx, nil, 2, func(int, *Ciphertext) error {
		t.Fatal("emit on an empty column")
		return nil
	}))

	// A bad value is named by its index in the column; nothing after the
	// bad chunk is emitted.
	values[3*ChunkSize+5] = MaxExactSum + 1
	var emitted []int
	err = enc.EncryptColumn(ctx, values, 2, func(i int, ct *Ciphertext) error {
		emitted = append(emitted, i)
		return nil
	})
	require.ErrorContains(t, err, "value 24581 is")
	require.Equal(t, []int{0, 1, 2}, emitted)
	values[3*ChunkSize+5] = 0

	// An emit error stops the column.
	stop := errors.New("stop")
	err = enc.EncryptColumn(ctx, values, 2, func(i int, ct *Ciphertext) error {
		if i == 1 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)

	// A cancelled context stops it too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = enc.EncryptColumn(cctx, values, 2, func(int, *Ciphertext) error { return nil })
	require.ErrorIs(t, err, context.Canceled)
}

func TestWeightsValidation(t *testing.T) {
	s := newSetup(t, 3)
	chunks := s.encryptColumn(t, []int64{1, 2, 3})
	ctx := context.Background()
	for name, tc := range map[string]struct {
		g   Weights
		err string
	}{
		"lengths":    {Weights{Rows: []int32{0, 1}, W: []int64{1}}, "2 rows but 1 weights"},
		"descending": {Weights{Rows: []int32{1, 0}, W: []int64{1, 1}}, "rows not ascending"},
		"duplicate":  {Weights{Rows: []int32{1, 1}, W: []int64{1, 1}}, "rows not ascending"},
		"negative":   {Weights{Rows: []int32{-1}, W: []int64{1}}, "outside the column's"},
		"beyond":     {Weights{Rows: []int32{ChunkSize}, W: []int64{1}}, "outside the column's"},
		"zero":       {Weights{Rows: []int32{0}, W: []int64{0}}, "outside [1, 2^20]"},
		"huge":       {Weights{Rows: []int32{0}, W: []int64{1<<20 + 1}}, "outside [1, 2^20]"},
	} {
		_, err := WeightedSums(ctx, s.params, chunks, []Weights{{}, tc.g}, 1)
		require.ErrorContains(t, err, "group 1: ", name)
		require.ErrorContains(t, err, tc.err, name)
	}

	// The squared-weight envelope.
	many := Weights{}
	for r := range int32(ChunkSize) {
		many.Rows = append(many.Rows, r)
		many.W = append(many.W, 1<<14) // 2^13 · 2^28 = 2^41
	}
	_, err := WeightedSums(ctx, s.params, chunks, []Weights{many}, 1)
	require.ErrorContains(t, err, "MaxWeightSquareSum")

	// An empty group gives a zero result; a cancelled context an error.
	res, err := WeightedSums(ctx, s.params, chunks, []Weights{{}}, 1)
	require.NoError(t, err)
	require.Equal(t, int64(0), s.reveal(t, res[0], nil)[0])
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = WeightedSums(cctx, s.params, chunks, []Weights{{Rows: []int32{0}, W: []int64{1}}}, 1)
	require.ErrorIs(t, err, context.Canceled)
	_, err = WeightedSums(ctx, s.params, []*Ciphertext{nil}, nil, 1)
	require.ErrorContains(t, err, "chunk 0")
}

// TestWeightedSumsManyChunks checks sums across many chunks and parallel
// accumulation against the clear sums.
func TestWeightedSumsManyChunks(t *testing.T) {
	s := newSetup(t, 3)
	rng := mrand.New(mrand.NewPCG(5, 6))
	values := make([]int64, 40*ChunkSize-3)
	for i := range values {
		values[i] = rng.Int64N(1<<40) - 1<<39
	}
	chunks := s.encryptColumn(t, values)
	groups := make([]Weights, 4)
	want := make([]int64, 4)
	for r, v := range values {
		g := rng.IntN(6) // groups 4, 5 dropped: rows outside every group
		if g >= 4 || (g == 3 && r > 5*ChunkSize) {
			continue // group 3 touches only the first chunks
		}
		w := int64(1 + rng.IntN(64))
		groups[g].Rows = append(groups[g].Rows, int32(r))
		groups[g].W = append(groups[g].W, w)
		want[g] += w * v
	}
	results, err := WeightedSums(context.Background(), s.params, chunks, groups, 3)
	require.NoError(t, err)

	// Deterministic whatever the worker count: agents can recompute it.
	again, err := WeightedSums(context.Background(), s.params, chunks, groups, 1)
	require.NoError(t, err)
	for g := range results {
		require.Equal(t, results[g].Hash(), again[g].Hash(), "group %d", g)
	}

	for g, ct := range results {
		require.Equal(t, want[g], s.reveal(t, ct, nil)[0], "group %d", g)
	}
}

// TestWeightedSumsWithTotal checks that deriving a group from the column
// total gives the same ciphertexts, bit for bit, as computing it, with
// the products it should save, whether the groups take every row once
// with weight 1 or not.
func TestWeightedSumsWithTotal(t *testing.T) {
	s := newSetup(t, 3)
	rng := mrand.New(mrand.NewPCG(7, 8))
	const rows = 4*ChunkSize + 100 // 5 chunks, the last one short
	values := make([]int64, rows)
	for i := range values {
		values[i] = rng.Int64N(1<<40) - 1<<39
	}
	chunks := s.encryptColumn(t, values)
	ctx := context.Background()
	total, err := NewColumnTotal(ctx, s.params, chunks, rows, 2)
	require.NoError(t, err)

	// groupsOf puts row r in group of(r) (skipped if negative) with
	// weight w(r).
	groupsOf := func(n int, of func(r int) int, w func(r int) int64) []Weights {
		groups := make([]Weights, n)
		for r := range rows {
			if g := of(r); g >= 0 {
				groups[g].Rows = append(groups[g].Rows, int32(r))
				groups[g].W = append(groups[g].W, w(r))
			}
		}
		return groups
	}
	one := func(int) int64 { return 1 }
	mod := func(n int) func(int) int { return func(r int) int { return r % n } }
	cases := []struct {
		name   string
		groups []Weights
		saved  int // products saved
	}{
		{"every row once", groupsOf(10, mod(10), one), 5},
		{"one group", groupsOf(1, mod(1), one), 5},
		{"a row dropped in chunk 2", groupsOf(4, func(r int) int {
			if r == 2*ChunkSize+7 {
				return -1
			}
			return r % 4
		}, one), 4},
		{"a weight of 2 in chunk 0", groupsOf(3, mod(3), func(r int) int64 { return map[bool]int64{false: 1, true: 2}[r == 5] }), 4},
		{"chunk 4 untouched", groupsOf(3, func(r int) int {
			if r >= 4*ChunkSize {
				return -1
			}
			return r % 3
		}, one), 3}, // derived group in 4 chunks, one correction
		{"half the rows", groupsOf(3, func(r int) int {
			if r%2 == 0 {
				return -1
			}
			return r % 3
		}, one), 0}, // a correction per chunk: not worth it
		{"groups of uneven reach", groupsOf(3, func(r int) int {
			if r < ChunkSize {
				return r % 3
			}
			return r % 2
		}, one), 5},
	}
	// Rows past the end of the column, and a row in two groups.
	past := groupsOf(2, mod(2), one)
	past[0].Rows = append(past[0].Rows, rows+3)
	past[0].W = append(past[0].W, 1)
	cases = append(cases, struct {
		name   string
		groups []Weights
		saved  int
	}{"a row past the end", past, 4})
	cases = append(cases, struct {
		name   string
		groups []Weights
		saved  int
	}{"row 0 in both groups, row 2 in none", func() []Weights {
		g := groupsOf(2, mod(2), one)
		g[1].Rows = append([]int32{0}, g[1].Rows...)
		g[1].W = append([]int64{1}, g[1].W...)
		g[0].Rows, g[0].W = g[0].Rows[2:], g[0].W[2:] // drops rows 0 and 2
		g[0].Rows = append([]int32{0}, g[0].Rows...)
		g[0].W = append([]int64{1}, g[0].W...)
		return g
	}(), 4})

	for _, tc := range cases {
		want, direct, err := weightedSums(ctx, s.params, chunks, nil, tc.groups, 2)
		require.NoError(t, err, tc.name)
		got, derived, err := weightedSums(ctx, s.params, chunks, total, tc.groups, 2)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.saved, direct-derived, tc.name)
		for g := range want {
			require.Equal(t, want[g].Hash(), got[g].Hash(), "%s: group %d", tc.name, g)
		}
	}

	// A derived result decrypts to its sum.
	groups := groupsOf(3, mod(3), one)
	got, err := WeightedSumsWithTotal(ctx, s.params, chunks, total, groups, 2)
	require.NoError(t, err)
	for g := range groups {
		var sum int64
		for _, r := range groups[g].Rows {
			sum += values[r]
		}
		require.Equal(t, sum, s.reveal(t, got[g], nil)[0], "group %d", g)
	}

	// A total is for its own chunks only.
	_, err = WeightedSumsWithTotal(ctx, s.params, chunks[:4], total, nil, 1)
	require.ErrorContains(t, err, "a column total of 5 chunks for 4")
	other := append([]*Ciphertext(nil), chunks...)
	other[3] = chunks[3].Clone()
	_, err = WeightedSumsWithTotal(ctx, s.params, other, total, nil, 1)
	require.ErrorContains(t, err, "chunk 3 differs")
	_, err = NewColumnTotal(ctx, s.params, chunks, 4*ChunkSize, 1)
	require.ErrorContains(t, err, "cannot fill 5 chunks")
}

// TestFloodingBudgetEdge puts the noise budget at its edge: 8 agents, a
// weighted sum of 1M rows with weight 64, and every agent's flooding at its
// bound +6σ (then -6σ) on every coefficient. Decryption stays exact. With
// σ doubled it no longer does: 2^54 is the largest power of two.
func TestFloodingBudgetEdge(t *testing.T) {
	if testing.Short() {
		t.Skip("1M-row edge test")
	}
	s := newSetup(t, MaxParties)
	rng := mrand.New(mrand.NewPCG(7, 8))
	const rows = 1_000_000
	values := make([]int64, rows)
	g := Weights{Rows: make([]int32, rows), W: make([]int64, rows)}
	var want int64
	for r := range values {
		values[r] = rng.Int64N(2e9+1) - 1e9
		g.Rows[r], g.W[r] = int32(r), 64
		want += 64 * values[r]
	}
	chunks := s.encryptColumn(t, values)
	results, err := WeightedSums(context.Background(), s.params, chunks, []Weights{g}, 0)
	require.NoError(t, err)
	sum := results[0]

	sk := s.collectiveKey()
	e := noise(t, s.params, sk, sum, map[int]*big.Int{0: big.NewInt(want)})
	t.Logf("WeightedSums noise at coefficient 0 (1M rows × 64, 8 agents): %d bits", maxBits(e))
	require.Less(t, maxBits(e), 32)

	// Fresh encryption noise under the 8-agent key, over all coefficients.
	vec, err := EncryptVector(s.params, s.cpk, nil)
	require.NoError(t, err)
	m := make(map[int]*big.Int, ChunkSize)
	for j := range ChunkSize {
		m[j] = new(big.Int)
	}
	t.Logf("fresh encryption noise (8 agents): %d bits", maxBits(noise(t, s.params, sk, vec, m)))

	constant := func(v int64) noiseSource {
		return func(out []int64) {
			for i := range out {
				out[i] = v
			}
		}
	}
	reveal := func(ct *Ciphertext, flood noiseSource) int64 {
		var shares [][]byte
		for _, a := range s.agents {
			b, err := a.keySwitchShare(s.params, ct, s.opPK, nil, flood)
			require.NoError(t, err)
			shares = append(shares, b)
		}
		return s.combineAndDecrypt(t, ct, shares)[0]
	}
	for k, sign := range []int64{1, -1} {
		// Test only: these key switches share one c1, which an agent must
		// never allow (see KeySwitchID).
		ct := sum.Clone()
		require.NoError(t, AddConstant(s.params, ct, 1, int64(k)))
		require.Equal(t, want, reveal(ct, constant(sign*FloodingBound)), "flooding at %+d·6σ", sign)

		ct = sum.Clone()
		require.NoError(t, AddConstant(s.params, ct, 1, int64(10+k)))
		require.NotEqual(t, want, reveal(ct, constant(sign*2*FloodingBound)), "flooding at %+d·6·2σ must overflow", sign)
	}

	// And with real flooding.
	ct := sum.Clone()
	require.NoError(t, AddConstant(s.params, ct, 1, 99))
	require.Equal(t, want, reveal(ct, gaussianFlooding))

	// Without flooding, the noise of a switched fresh vector is its own
	// plus the 8 shares' e_ks, each at most 2^18.3 (see the package
	// documentation): below 2^21.3 + 2^15 + 1 < 2^22.
	var shares [][]byte
	for _, a := range s.agents {
		b, err := a.keySwitchShare(s.params, vec, s.opPK, nil, constant(0))
		require.NoError(t, err)
		shares = append(shares, b)
	}
	switched, err := CombineKeySwitch(s.params, vec, shares)
	require.NoError(t, err)
	opKey, err := s.opSK.key()
	require.NoError(t, err)
	bits := maxBits(noise(t, s.params, opKey, switched, m))
	t.Logf("switched without flooding (8 agents): %d bits", bits)
	require.Less(t, bits, 22)
}

// TestFloodingSampler checks the flooding distribution: its width, its
// bound, and that it is dense (no repeated values, uniform low bits).
func TestFloodingSampler(t *testing.T) {
	const n = 1 << 17
	out := make([]int64, n)
	gaussianFlooding(out)
	var sum, sq float64
	seen := make(map[int64]bool, n)
	var low [256]int
	for _, v := range out {
		require.LessOrEqual(t, v, int64(FloodingBound))
		require.GreaterOrEqual(t, v, int64(-FloodingBound))
		require.False(t, seen[v], "repeated sample %d", v)
		seen[v] = true
		f := float64(v) / FloodingSigma
		sum += f
		sq += f * f
		low[uint64(v)&0xff]++
	}
	mean, std := sum/n, sq/n
	require.InDelta(t, 0, mean, 0.02)
	require.InDelta(t, 1, std, 0.02) // variance in units of σ²
	chi2 := 0.0
	for _, c := range low {
		d := float64(c) - n/256
		chi2 += d * d / (n / 256)
	}
	require.Less(t, chi2, 400.0, "low byte of the flooding noise not uniform (255 d.o.f.)")
}

// TestMaskAddend checks positions, lifting and the range of the mask.
func TestMaskAddend(t *testing.T) {
	a, err := MaskAddend(map[int]int64{0: -1, 5: 17, ChunkSize - 1: 0})
	require.NoError(t, err)
	require.Len(t, a, ChunkSize)
	require.Equal(t, uint64(PlaintextModulus-1), a[0])
	require.Equal(t, uint64(17), a[5])
	require.Equal(t, uint64(0), a[ChunkSize-1])
	high := 0
	for _, v := range a {
		require.Less(t, v, uint64(PlaintextModulus))
		if v > PlaintextModulus/2 {
			high++
		}
	}
	require.InDelta(t, ChunkSize/2, high, 300)
	_, err = MaskAddend(map[int]int64{ChunkSize: 0})
	require.ErrorContains(t, err, "position 8192")
	_, err = MaskAddend(map[int]int64{3: MaxExactSum + 1})
	require.ErrorContains(t, err, "value 3 is")
}

func TestKeySwitchValidation(t *testing.T) {
	s := newSetup(t, 3)
	ct, err := EncryptVector(s.params, s.cpk, []int64{1})
	require.NoError(t, err)
	a := s.agents[0]
	_, err = a.KeySwitchShare(s.params, ct, s.opPK, make([]uint64, 10))
	require.ErrorContains(t, err, "addend of length 10")
	bad := make([]uint64, ChunkSize)
	bad[7] = PlaintextModulus
	_, err = a.KeySwitchShare(s.params, ct, s.opPK, bad)
	require.ErrorContains(t, err, "addend 7")
	_, err = a.KeySwitchShare(s.params, ct, nil, nil)
	require.ErrorContains(t, err, "target")
	_, err = a.KeySwitchShare(s.params, nil, s.opPK, nil)
	require.ErrorContains(t, err, "empty ciphertext")
	_, err = (&SecretShare{}).KeySwitchShare(s.params, ct, s.opPK, nil)
	require.ErrorContains(t, err, "empty secret-key share")

	share, err := a.KeySwitchShare(s.params, ct, s.opPK, nil)
	require.NoError(t, err)
	require.NoError(t, ValidateKeySwitchShare(s.params, share))
	_, err = CombineKeySwitch(s.params, ct, nil)
	require.ErrorContains(t, err, "no shares")
	_, err = CombineKeySwitch(s.params, ct, [][]byte{share, share})
	require.ErrorContains(t, err, "share 1 duplicates share 0")
	_, err = CombineKeySwitch(s.params, ct, make([][]byte, MaxParties+1))
	require.ErrorContains(t, err, "at most 8")
	_, err = CombineKeySwitch(s.params, ct, [][]byte{share, share[:100]})
	require.ErrorContains(t, err, "share 1: ")
}

func TestPublicKeyGeneration(t *testing.T) {
	params := testParams(t)
	seed := newSeed()
	a, err := GenerateSecretShare(params)
	require.NoError(t, err)
	share, err := a.PublicKeyShare(params, seed)
	require.NoError(t, err)
	require.NoError(t, ValidatePublicKeyShare(params, share))
	_, err = a.PublicKeyShare(params, seed[:31])
	require.ErrorContains(t, err, "seed is 31 bytes")
	_, err = AggregatePublicKey(params, seed, [][]byte{share, share})
	require.ErrorContains(t, err, "duplicates")
	_, err = AggregatePublicKey(params, seed, nil)
	require.ErrorContains(t, err, "no shares")
	_, err = AggregatePublicKey(params, seed, [][]byte{share[1:]})
	require.ErrorContains(t, err, "share 0: ")
	_, err = NewCRS(make([]byte, 33))
	require.Error(t, err)

	// A key aggregated from one share under another seed is a different
	// key: the CRS is bound to the seed.
	pk1, err := AggregatePublicKey(params, seed, [][]byte{share})
	require.NoError(t, err)
	pk2, err := AggregatePublicKey(params, newSeed(), [][]byte{share})
	require.NoError(t, err)
	require.NotEqual(t, pk1.Hash(), pk2.Hash())
}

func TestSecretRoundTrip(t *testing.T) {
	params := testParams(t)
	a, err := GenerateSecretShare(params)
	require.NoError(t, err)
	b, err := a.MarshalBinary()
	require.NoError(t, err)
	require.Len(t, b, headerSize+SeedSize)
	var c SecretShare
	require.NoError(t, c.UnmarshalBinary(b))
	require.True(t, a.s.open().sk.Equal(c.s.open().sk))

	k, _, err := GenerateResultKey(params)
	require.NoError(t, err)
	kb, err := k.MarshalBinary()
	require.NoError(t, err)
	var k2 ResultSecretKey
	require.NoError(t, k2.UnmarshalBinary(kb))
	require.True(t, k.s.open().sk.Equal(k2.s.open().sk))

	require.ErrorContains(t, c.UnmarshalBinary(kb), "holds a result secret key")
	require.ErrorContains(t, c.UnmarshalBinary(b[:len(b)-1]), "41 bytes, want 42")
	require.ErrorContains(t, c.UnmarshalBinary(append(b, 0)), "43 bytes, want 42")
	require.ErrorContains(t, c.UnmarshalBinary(nil), "too short")
	_, err = (&SecretShare{}).MarshalBinary()
	require.Error(t, err)
}

func TestParametersMustMatch(t *testing.T) {
	other, err := NewParameters()
	require.NoError(t, err)
	lit := Literal
	lit.LogN = 12
	small, err := bgv.NewParametersFromLiteral(lit)
	require.NoError(t, err)
	_, err = GenerateSecretShare(small)
	require.ErrorContains(t, err, "parameters differ")
	_, _, err = GenerateResultKey(small)
	require.Error(t, err)
	_, err = ParseCiphertext(small, nil)
	require.Error(t, err)
	require.NoError(t, checkParams(other))
}

// TestLattigoGaussianIsCoarse documents why flooding is not sampled with
// lattigo's Gaussian sampler: at σ = 2^54 its samples repeat (its support
// is about 2^31 values), where a true Gaussian that wide essentially never
// repeats in 2^19 draws (expected repeats ≈ 2^37/(2·√π·2^54) ≈ 2^-19), and
// neither does this package's sampler (TestFloodingSampler).
func TestLattigoGaussianIsCoarse(t *testing.T) {
	params := testParams(t)
	prng, err := sampling.NewPRNG()
	require.NoError(t, err)
	sampler, err := ring.NewSampler(prng, params.RingQ(), Flooding(), false)
	require.NoError(t, err)
	poly := params.RingQ().NewPoly()
	seen := make(map[uint64]bool, 1<<19)
	repeats := 0
	for range (1 << 19) / ChunkSize {
		sampler.Read(poly)
		for _, c := range poly.Coeffs[0] {
			if seen[c] {
				repeats++
			}
			seen[c] = true
		}
	}
	t.Logf("lattigo Gaussian σ=2^54: %d repeated values in 2^19 samples", repeats)
	require.Positive(t, repeats, "lattigo's sampler got finer: reconsider using it for flooding")
}
