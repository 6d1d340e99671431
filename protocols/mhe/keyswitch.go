package mhe

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// FloodingLogSigma is log2 of the standard deviation of the flooding noise
// every agent adds to its key-switch share. 2^54 is the largest power of
// two for which MaxParties shares, each bounded by 6σ, stay within the
// decryption budget whatever the samples (see the package documentation).
const FloodingLogSigma = 54

// FloodingSigma is the standard deviation of the flooding noise.
const FloodingSigma = 1 << FloodingLogSigma

// FloodingBound is the truncation bound of the flooding noise: 6σ.
const FloodingBound = 6 * FloodingSigma

// Flooding returns the flooding (smudging) distribution of key-switch
// shares: a discrete Gaussian of standard deviation FloodingSigma truncated
// at FloodingBound.
//
// The package samples it itself rather than through lattigo's Gaussian
// sampler: that sampler scales a ziggurat normal built from a 31-bit
// integer, so at σ = 2^54 its support is about 2^31 values spread over
// 2^57 (measured: dozens of repeated values among 2^19 draws, where a
// true Gaussian of that width has none; TestLattigoGaussianIsCoarse). Such a sparse flooding hides the
// secret-dependent noise far less well than its width suggests. This
// package uses Box–Muller on 53-bit uniforms from a ChaCha8 generator
// seeded by crypto/rand, rounded, plus a uniform dither in [-32, 32) that
// fills the gaps left by float64 resolution.
func Flooding() ring.DiscreteGaussian {
	return ring.DiscreteGaussian{Sigma: FloodingSigma, Bound: FloodingBound}
}

// noiseSource fills out with flooding noise. Tests substitute worst cases.
type noiseSource func(out []int64)

// gaussianFlooding draws from Flooding().
func gaussianFlooding(out []int64) {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never returns an error
	rng := mrand.NewChaCha8(seed)
	const sigma = float64(FloodingSigma)
	for i := 0; i < len(out); {
		u1 := (float64(rng.Uint64()>>11) + 1) * 0x1p-53 // (0, 1]
		u2 := float64(rng.Uint64()>>11) * 0x1p-53       // [0, 1)
		r := math.Sqrt(-2 * math.Log(u1))
		sin, cos := math.Sincos(2 * math.Pi * u2)
		for _, z := range [2]float64{r * cos, r * sin} {
			v := int64(math.Round(z*sigma)) + int64(rng.Uint64()>>58) - 32
			if i < len(out) && v <= FloodingBound && v >= -FloodingBound {
				out[i] = v
				i++
			}
		}
	}
}

// KeySwitchShare returns the agent's share of the public-key switch
// (lattigo's PublicKeySwitchProtocol, PCKS) of ct from the collective key
// to target, the operator's result key:
//
//	( s_i·c1 + u_i·target0 + e0_i + flood_i + T^{-1}·addend ,  u_i·target1 + e1_i )
//
// (in the NTT domain, mod Q), where flood_i is drawn from Flooding() and
// T^{-1}·addend is the plaintext addend (length ChunkSize, values mod T;
// nil for zero) encoded the way BGV adds a plaintext to a ciphertext. The
// combined ciphertext decrypts to the plaintext of ct plus the sum of all
// agents' addends; see MaskAddend.
//
// The encryption of zero (u_i·target + e_i) is drawn directly mod Q, as
// lattigo does for a parameter set without the special modulus P, not in
// QP and divided by P: that division only makes its noise smaller, which
// the flooding makes irrelevant (see the package documentation), and it
// takes more than half the work of a share.
//
// An agent must produce at most one share per ct.KeySwitchID(), ever: the
// share depends on ct only through c1, and two shares for the same c1 with
// the same secret are a retry, which lattigo's SECURITY.md ("On the
// insecurity of retries") warns may leak the secret. ct.Hash() is not the
// right key: AddConstant changes c0 and keeps c1. A lost share means a new
// computation with a new ciphertext, not a retry. This package does not
// remember ciphertexts; the agent must.
func (s *SecretShare) KeySwitchShare(params bgv.Parameters, ct *Ciphertext, target *PublicKey, addend []uint64) ([]byte, error) {
	return s.keySwitchShare(params, ct, target, addend, gaussianFlooding)
}

// KeySwitchShares returns the agent's shares of several ciphertexts, with
// addends[i] (nil for none) for cts[i]; addends may be nil. It is
// KeySwitchShare for each, on workers goroutines (GOMAXPROCS if workers
// <= 0), and the same rule holds: at most one share per KeySwitchID, ever.
func (s *SecretShare) KeySwitchShares(params bgv.Parameters, cts []*Ciphertext, target *PublicKey, addends [][]uint64, workers int) ([][]byte, error) {
	return s.keySwitchShares(params, cts, target, addends, workers, gaussianFlooding)
}

func (s *SecretShare) keySwitchShare(params bgv.Parameters, ct *Ciphertext, target *PublicKey, addend []uint64, flood noiseSource) ([]byte, error) {
	out, err := s.keySwitchShares(params, []*Ciphertext{ct}, target, [][]uint64{addend}, 1, flood)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func (s *SecretShare) keySwitchShares(params bgv.Parameters, cts []*Ciphertext, target *PublicKey, addends [][]uint64, workers int, flood noiseSource) ([][]byte, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	sk, err := s.key()
	if err != nil {
		return nil, err
	}
	if target == nil || target.pk == nil {
		return nil, errors.New("mhe: key-switch share: empty target key")
	}
	if addends != nil && len(addends) != len(cts) {
		return nil, fmt.Errorf("mhe: key-switch shares: %d addends for %d ciphertexts", len(addends), len(cts))
	}
	for k, ct := range cts {
		if err := ct.valid("key-switch share"); err != nil {
			return nil, err
		}
		if addends == nil || addends[k] == nil {
			continue
		}
		if len(addends[k]) != ChunkSize {
			return nil, fmt.Errorf("mhe: key-switch share: addend of length %d, want %d", len(addends[k]), ChunkSize)
		}
		for i, a := range addends[k] {
			if a >= PlaintextModulus {
				return nil, fmt.Errorf("mhe: key-switch share: addend %d is %d, not reduced mod T", i, a)
			}
		}
	}
	sp, err := switchParams()
	if err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(cts)))

	out := make([][]byte, len(cts))
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Lattigo's own noise (params.Xe(), σ = 3.2) comes on top of
			// the flooding added below.
			pcks, err := multiparty.NewPublicKeySwitchProtocol(sp, params.Xe())
			if err != nil {
				errs[w] = fmt.Errorf("mhe: key-switch share: %w", err)
				return
			}
			emb := newPlainEmbedder(params)
			ringQ := emb.ringQ
			p, f := ringQ.NewPoly(), ringQ.NewPoly()
			noise := make([]int64, ChunkSize)
			defer func() { // the shares' secrets do not outlive them
				clear(noise)
				p.Zero()
				f.Zero()
			}()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(cts) {
					return
				}
				ct := cts[k]
				share := pcks.AllocateShare(ct.ct.Level())
				pcks.GenShare(sk, target.pk, ct.ct, &share)

				// flood_i + T^{-1}·addend in the coefficient domain, then
				// one NTT for both.
				p.Zero()
				if addends != nil && addends[k] != nil {
					for j, sr := range ringQ.SubRings {
						copy(p.Coeffs[j], addends[k]) // T < q_j: already reduced
						sr.MulScalarMontgomery(p.Coeffs[j], emb.tInvMon[j], p.Coeffs[j])
					}
				}
				flood(noise)
				for i, v := range noise {
					liftSigned(f, ringQ.SubRings, i, v)
				}
				ringQ.Add(p, f, p)
				ringQ.NTT(p, p)
				ringQ.Add(share.Value[0], p, share.Value[0])
				out[k] = layoutKeySwitchShare.encodePolys(params, share.Value[0].Coeffs, share.Value[1].Coeffs)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// switchParams is the parameter set key-switch shares are made with: the
// package's, without the special modulus P (see KeySwitchShare). Its ring
// mod Q is the package's: the same moduli, the same NTT.
var switchParams = sync.OnceValues(func() (bgv.Parameters, error) {
	p, err := canonical()
	if err != nil {
		return bgv.Parameters{}, err
	}
	sp, err := bgv.NewParametersFromLiteral(bgv.ParametersLiteral{LogN: p.LogN(), Q: p.Q(), PlaintextModulus: p.PlaintextModulus()})
	if err != nil {
		return bgv.Parameters{}, fmt.Errorf("mhe: key-switch parameters: %w", err)
	}
	return sp, nil
})

// parseKeySwitchShare strictly decodes a key-switch share.
func parseKeySwitchShare(params bgv.Parameters, b []byte) (multiparty.PublicKeySwitchShare, error) {
	share := multiparty.PublicKeySwitchShare{Element: *rlwe.NewElement(params, 1, params.MaxLevel())}
	err := layoutKeySwitchShare.decodePolys(params, b, share.Value[0].Coeffs, share.Value[1].Coeffs)
	return share, err
}

// ValidateKeySwitchShare checks that b is a well-formed key-switch share
// (header, length, reduced coefficients), so that the node can reject a
// malformed share on arrival. It cannot tell whether the share is for the
// right ciphertext or from the right key: only decryption shows that.
func ValidateKeySwitchShare(params bgv.Parameters, b []byte) error {
	if err := checkParams(params); err != nil {
		return err
	}
	_, err := parseKeySwitchShare(params, b)
	return err
}

// CombineKeySwitch aggregates the agents' key-switch shares of ct and
// returns ct switched to the shares' target key. Every agent's share is
// needed; a missing share, one for another ciphertext, or one from a wrong
// key yields a ciphertext that decrypts to noise, not an error. Shares are
// parsed strictly; more than MaxParties shares and duplicates are rejected.
func CombineKeySwitch(params bgv.Parameters, ct *Ciphertext, shares [][]byte) (*Ciphertext, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	if err := ct.valid("combine key switch"); err != nil {
		return nil, err
	}
	if err := checkShareCount(shares); err != nil {
		return nil, err
	}
	pcks, err := multiparty.NewPublicKeySwitchProtocol(params, params.Xe())
	if err != nil {
		return nil, fmt.Errorf("mhe: combine key switch: %w", err)
	}
	sum := pcks.AllocateShare(ct.ct.Level())
	for i, b := range shares {
		share, err := parseKeySwitchShare(params, b)
		if err != nil {
			return nil, fmt.Errorf("share %d: %w", i, err)
		}
		if err := pcks.AggregateShares(sum, share, &sum); err != nil {
			return nil, fmt.Errorf("mhe: combine key switch: %w", err)
		}
	}
	out := newCiphertext(params)
	pcks.KeySwitch(ct.ct, sum, out)
	return &Ciphertext{ct: out}, nil
}

// MaskAddend returns the addend an agent adds to its key-switch share of a
// result ciphertext: at every position of results, the given value (the
// agent's differential-privacy noise, or 0), lifted mod T; at every other
// coefficient a value uniform mod T from crypto/rand (rejection-sampled, no
// modulo bias). With one honest agent the operator sees, outside the result
// positions, only uniform values: the garbage of WeightedSums is masked.
// Positions must be in [0, ChunkSize) and values within ±MaxExactSum.
func MaskAddend(results map[int]int64) ([]uint64, error) {
	for pos, v := range results {
		if pos < 0 || pos >= ChunkSize {
			return nil, fmt.Errorf("mhe: mask addend: position %d outside [0, %d)", pos, ChunkSize)
		}
		if err := checkValues([]int64{v}, pos); err != nil {
			return nil, err
		}
	}
	out := make([]uint64, ChunkSize)
	buf := make([]byte, 8*ChunkSize)
	_, _ = rand.Read(buf) // crypto/rand.Read never returns an error
	for i := range out {
		v := binary.LittleEndian.Uint64(buf[8*i:]) >> 5 // uniform on 59 bits
		for v >= PlaintextModulus {                     // T = 2^59 - 212991: p(reject) < 2^-41
			var b [8]byte
			_, _ = rand.Read(b[:])
			v = binary.LittleEndian.Uint64(b[:]) >> 5
		}
		out[i] = v
	}
	for pos, v := range results {
		if v >= 0 {
			out[pos] = uint64(v)
		} else {
			out[pos] = PlaintextModulus - uint64(-v)
		}
	}
	return out, nil
}

// Decrypt decrypts a ciphertext switched to this key and returns its N
// plaintext coefficients, centred in (-T/2, T/2], i.e. within
// ±MaxExactSum.
func (k *ResultSecretKey) Decrypt(params bgv.Parameters, ct *Ciphertext) ([]int64, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	sk, err := k.key()
	if err != nil {
		return nil, err
	}
	if err := ct.valid("decrypt"); err != nil {
		return nil, err
	}
	ecd, err := decoder()
	if err != nil {
		return nil, err
	}
	pt := rlwe.NewDecryptor(params, sk).DecryptNew(ct.ct)
	setMetaData(params, pt.MetaData)
	raw := make([]uint64, ChunkSize)
	if err := ecd.Decode(pt, raw); err != nil {
		return nil, fmt.Errorf("mhe: decrypt: %w", err)
	}
	out := make([]int64, ChunkSize)
	for i, v := range raw {
		if v > MaxExactSum {
			out[i] = int64(v) - PlaintextModulus
		} else {
			out[i] = int64(v)
		}
	}
	return out, nil
}

// decoder is the package's BGV encoder, built once (building one factors
// T-1 and makes NTT tables) and used concurrently, as lattigo allows.
var decoder = sync.OnceValues(func() (*bgv.Encoder, error) {
	p, err := canonical()
	if err != nil {
		return nil, err
	}
	return bgv.NewEncoder(p), nil
})
