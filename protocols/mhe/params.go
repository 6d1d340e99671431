// Package mhe is the homomorphic-encryption side of the clean room's
// multiparty mode, built on lattigo's BGV scheme and multiparty package:
// the parameter set, the collective key, coefficient-packed encryption of
// columns, weighted sums over encrypted columns, and the key switch of
// results to the operator's own key, with masking and noise flooding.
//
// # Protocol
//
// Parties: the providers' agents (3 to MaxParties), each holding a share of
// the collective secret key; the providers, who encrypt columns; an
// untrusted node, which computes; the operator, who alone decrypts results.
//
//  1. Key generation. Each agent draws a SecretShare (GenerateSecretShare)
//     and keeps it in a 0600 file (MarshalBinary, 42 bytes). For a fresh,
//     public 32-byte seed, each agent sends PublicKeyShare(seed) once; the
//     aggregator sums them (AggregatePublicKey) into the collective public
//     key, published with its Hash. The collective secret key is the sum of
//     the shares and exists nowhere.
//  2. The operator draws its own key pair (GenerateResultKey); agents pin
//     the Hash of its public key.
//  3. A provider encrypts a column under the collective key
//     (NewEncryptor, EncryptColumn): chunks of ChunkSize = 8192 values,
//     one ciphertext per chunk, streamed in order.
//  4. The node computes, for each group of a query, one ciphertext whose
//     plaintext coefficient 0 is the group's weighted sum (WeightedSums),
//     and may add public constants (AddConstant), add results (Add) or
//     scale them (MulScalar). Node-known results (counts and the like) go
//     into a "clear vector": a fresh encryption, at coefficients 0..k-1,
//     zeros elsewhere (EncryptVector).
//  5. For each result ciphertext, every agent that approves it makes one
//     key-switch share towards the operator's key (KeySwitchShare), adding
//     a mask and its differential-privacy noise (MaskAddend). The node
//     combines the shares (CombineKeySwitch) and the operator decrypts
//     (ResultSecretKey.Decrypt) and reads the result positions.
//
// # Coefficient packing
//
// A chunk's values are the coefficients of the plaintext polynomial, not
// its slots (lattigo's Encoder with IsBatched = false, except that this
// package lifts negative values centred). Slot (batched) encoding does not
// work for masked sums with this T: multiplying a ciphertext by a 0/1 slot
// mask multiplies it by a plaintext polynomial with ~59-bit coefficients,
// the plaintext term of the noise overflows Q, and every slot decrypts
// wrong (measured).
//
// With coefficients, a weighted sum Σ_i w_i·x_i of a chunk is coefficient 0
// of the plaintext times q(X) = Σ_i w_i·X^{-i} = w_0 - Σ_{i>0} w_i·X^{N-i}
// (negacyclic: X^N = -1). q is a small integer polynomial: it is built
// directly in the ring mod Q, not through the Encoder, which would scale
// it by T^{-1} mod Q and make the noise explode. One product per chunk a
// group touches, summed over chunks, gives the group's result.
//
// # Garbage and masking
//
// The other coefficients of a WeightedSums result hold other linear
// combinations of the column: coefficient j is Σ_i w_i·x_{i+j} (with a sign
// change where i+j wraps past N). They must never reach the operator. So
// every agent adds to its key-switch share a plaintext addend: a value
// uniform mod T at every coefficient that is not a result position, and
// its DP noise (or 0) at result positions. The switched ciphertext then
// decrypts to m + Σ_i addend_i: if one agent is honest, the operator sees
// uniform values outside the result positions and the result plus the
// agents' noise at them. Different results cannot share a ciphertext (each
// one's garbage lands on the others' positions); a clear vector, which has
// no garbage, carries several.
//
// # Noise budget and flooding
//
// A BGV plaintext m is stored as T^{-1}·m mod Q, so c0 + c1·s = T^{-1}·M + e
// (mod Q), where M is the integer m stands for, and coefficient j decrypts
// exactly iff |M_j + T·e_j| < Q/2. At a result position |M_j| <= (P+1)·T
// (the value and P agents' addends, each lifted to [0, T)), so the
// condition is |e_j| <= B - P - 1 with
//
//	B = ⌊(Q/2 - T)/T⌋ = 1,152,921,504,607,158,271 ≈ 2^60.
//
// The noise of a switched result is e = e_ct + Σ_i (e_ks,i + f_i) over the
// P agents:
//
//   - f_i, the flooding of agent i: a discrete Gaussian of σ = 2^54,
//     truncated at 6σ, so |Σ f_i| <= 8·6·2^54 = 0.75·2^60.
//   - e_ks,i, the encryption of zero under the operator's key inside the
//     share, drawn mod Q (see KeySwitchShare): u_i·e_op + e0_i +
//     s_op·e1_i plus lattigo's own share noise, where u_i and s_op are
//     ternary and every e is bounded by 19.2 (σ 3.2, 6σ), so at most
//     2·N·19.2 + 2·19.2 < 2^18.3 each, 2^21.3 for 8 (measured: 2^12
//     for 8 agents, TestFloodingBudgetEdge). This assumes the operator's
//     result key was made honestly (GenerateResultKey, e_op <= 19.2): an
//     operator who crafts a noisier key spoils only its own decryption;
//     what a share reveals to it is s_i·c1 under the flooding either way.
//   - e_ct, the result's noise. A fresh encryption under the collective key
//     has |e| <= 1/2 + N·P/2 <= 2^15 + 1 (the collective secret has
//     coefficients up to P; measured standard deviation 21, 37 and 60 for
//     1, 3 and 8 agents, maximum below 2^8). WeightedSums multiplies chunk
//     noise by q, so |e_ct| <= Σ|w|·(2^15+1) <= Σw²·2^15.01 <= 2^55.01,
//     because integer weights w >= 1 give Σw <= Σw² <= MaxWeightSquareSum
//     = 2^40. Measured: 2^17 to 2^23 at 1M rows of weight 64 (Σw² ≈ 2^32).
//     AddConstant adds no noise, Add adds noises, MulScalar multiplies by
//     |k|.
//
// Total: |e| <= 0.75·2^60 + 2^55.01 + 2^21.3 < 0.782·2^60 < B, so a single
// result within the envelope decrypts exactly with certainty, not merely
// with high probability, for any 3 to 8 agents (up to about 7 maximal
// results can be added together). σ = 2^55 would allow 1.5·2^60 > B, so
// 2^54 is the largest power of two that keeps the guarantee.
// TestFloodingBudgetEdge checks it with 8 agents, 1M rows of weight 64 and
// every flooding sample at +6σ (then -6σ), and that 6·2^55 fails.
//
// # Security
//
// Parameters: LogN 13 and LogQP ≈ 181 give 128-bit security by the
// HomomorphicEncryption.org standard (bound 218 for ternary secrets).
//
// Flooding: the operator, knowing its key, learns M_j + T·e_j at every
// coefficient, hence e_j; flooding hides the part that depends on the
// collective secret (e_ct; e_ks is fresh randomness, independent of every
// key share, and only adds to the hiding) behind each agent's f_i. With
// one honest agent, the
// statistical distance per switched ciphertext is about
// √N·|e_ct|/(2σ): about 2^-26 for a 1M-row sum of weight 64 (typical
// |e_ct| ≈ 2^22), about 2^-22 at the envelope (typical 2^26), about 2^-40
// for a clear vector. That is much weaker than the 2^-λ (λ >= 40) of
// textbook noise flooding, which would need a larger Q: the parameter set
// trades it for speed and size. Lattigo's own Gaussian sampler is not used
// for flooding (see Flooding).
//
// Retries (lattigo SECURITY.md, "On the insecurity of retries"): an MHE
// protocol must never run twice on the same input. An agent must produce
// at most one public-key share per seed, and at most one key-switch share
// per Ciphertext.KeySwitchID, ever: a share depends on a ciphertext only
// through its c1, which AddConstant leaves unchanged. This package
// remembers nothing; the agents must.
//
// What agents approve: the node is untrusted and ciphertexts are malleable;
// an agent cannot see what a ciphertext holds. A node could ask to switch
// a data chunk multiplied by X^{-r}, revealing row r (plus noise) at
// coefficient 0. WeightedSums and AddConstant are deterministic (the same
// chunks and query give the same bytes, whatever the worker count), so an
// agent that obtains the chunks (checked against the providers' Hash
// values) and the query can recompute a result and compare its Hash before
// switching. Clear vectors are fresh encryptions and cannot be checked
// that way.
//
// Lattigo's SECURITY.md also warns that BGV is not IND-CPA-D secure and
// that decryption results must only go to the key owner; here only the
// operator decrypts, after flooding.
//
// # Exact sums
//
// Values are integers modulo T: sums up to MaxExactSum = (T-1)/2, about
// 2.9e17, are exact, and a larger one wraps silently (Decrypt returns
// values centred in (-T/2, T/2]). The node checks declared bounds times
// weights times row counts against MaxExactSum before it runs a query.
//
// # Sizes
//
// Every object has one canonical encoding: a 10-byte header, then each
// residue's coefficients packed on 60 bits (Q moduli) or 61 bits (P).
// A ciphertext (and a key-switch share) is CiphertextSize = 245,770
// bytes, 2 polynomials × 2 moduli × 8192 × 60 bits: 30.0012 bytes per
// value of a full chunk. A public key is 370,698 bytes, a public-key share
// 185,354, a secret share or result key 42 (a seed the key is derived
// from). Parsers are strict: the header must match (N, level, number of
// polynomials, NTT and Montgomery form), the length must be exact, every
// coefficient reduced; errors say which.
//
// # Parameters
//
// Aggregation needs depth zero: ciphertexts are added and multiplied by
// small integer polynomials, never by each other. The set is BGV with
//
//	LogN 13 (N = 8,192 coefficients), Q two 60-bit primes, P one 61-bit
//	prime, plaintext modulus T = 576460752303210497, the largest 59-bit
//	prime congruent to 1 mod 2N, LogQP about 181.
//
// By the HomomorphicEncryption.org security standard (ternary secrets), a
// ring of degree 2^13 gives 128-bit security up to LogQP 218; the test
// checks the set against that bound. Every function checks that it is
// given this parameter set.
//
// Lattigo's own example sets (LogN 14, LogQP 438, T 65537) are slower,
// larger, and overflow at 32,767: do not use them here.
package mhe

import (
	"fmt"
	"sync"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// PlaintextModulus is T, the modulus of the plaintext integers.
const PlaintextModulus = 576460752303210497

// MaxExactSum is the largest absolute sum that decrypts exactly.
const MaxExactSum = (PlaintextModulus - 1) / 2

// SecurityBoundLogQP is the largest LogQP that keeps 128-bit security at
// LogN 13 by the HomomorphicEncryption.org standard.
const SecurityBoundLogQP = 218

// Literal is the serialisable parameter set.
var Literal = bgv.ParametersLiteral{
	LogN:             13,
	LogQ:             []int{60, 60},
	LogP:             []int{61},
	PlaintextModulus: PlaintextModulus,
}

// NewParameters returns the validated parameter set. It is built once:
// every call returns the same immutable value, which may be used
// concurrently.
func NewParameters() (bgv.Parameters, error) {
	return canonical()
}

// canonical is the package's parameter set, built once.
var canonical = sync.OnceValues(newParameters)

func newParameters() (bgv.Parameters, error) {
	p, err := bgv.NewParametersFromLiteral(Literal)
	if err != nil {
		return bgv.Parameters{}, fmt.Errorf("mhe: parameters: %w", err)
	}
	if p.LogQP() > SecurityBoundLogQP {
		return bgv.Parameters{}, fmt.Errorf("mhe: LogQP %.1f exceeds the 128-bit bound %d for LogN %d", p.LogQP(), SecurityBoundLogQP, p.LogN())
	}
	return p, nil
}
