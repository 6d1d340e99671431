package mhe

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
)

// MaxParties is the largest number of agents the noise budget covers: the
// flooding noise of every agent's key-switch share adds up (see the package
// documentation). AggregatePublicKey and CombineKeySwitch refuse more shares.
const MaxParties = 8

// SeedSize is the size of the public seed of the collective public key.
const SeedSize = 32

// NewCRS returns the common reference string of the collective public-key
// generation: a deterministic PRNG (BLAKE2b XOF) keyed with a public
// 32-byte seed, so that every agent and the aggregator sample the same
// common random polynomial. The seed must be fresh for every key generation.
func NewCRS(seed []byte) (multiparty.CRS, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("mhe: CRS seed is %d bytes, want %d", len(seed), SeedSize)
	}
	prng, err := sampling.NewKeyedPRNG(bytes.Clone(seed))
	if err != nil {
		return nil, fmt.Errorf("mhe: CRS: %w", err)
	}
	return prng, nil
}

// secret is the key material behind SecretShare and ResultSecretKey.
type secret struct {
	seed [seedSize]byte
	sk   *rlwe.SecretKey
}

// sealed hides a secret from reflection. The secret types implement
// fmt.Formatter, but fmt cannot call methods on unexported struct fields
// and prints them by reflection instead, following pointers for some verbs
// (a bad verb such as %s on a pointer prints the pointee). A func value is
// only ever printed as an address.
type sealed func() *secret

func seal(s *secret) sealed { return func() *secret { return s } }

// open returns the secret, or nil for a zero value.
func (f sealed) open() *secret {
	if f == nil {
		return nil
	}
	return f()
}

// newSecret derives a ternary secret key from a 32-byte seed, exactly as
// lattigo's key generator does from its own randomness: the seed keys a
// BLAKE2b XOF that drives the ternary sampler of params.Xs().
func newSecret(params bgv.Parameters, seed [seedSize]byte) (*secret, error) {
	prng, err := sampling.NewKeyedPRNG(seed[:])
	if err != nil {
		return nil, fmt.Errorf("mhe: secret key: %w", err)
	}
	sampler, err := ring.NewSampler(prng, params.RingQ(), params.Xs(), false)
	if err != nil {
		return nil, fmt.Errorf("mhe: secret key: %w", err)
	}
	sk := rlwe.NewSecretKey(params)
	ringQP := params.RingQP()
	sampler.Read(sk.Value.Q)
	ringQP.ExtendBasisSmallNormAndCenter(sk.Value.Q, params.MaxLevelP(), sk.Value.Q, sk.Value.P)
	ringQP.NTT(sk.Value, sk.Value)
	ringQP.MForm(sk.Value, sk.Value)
	return &secret{seed: seed, sk: sk}, nil
}

// generateSecret draws a seed from crypto/rand and derives its key.
func generateSecret(params bgv.Parameters) (*secret, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	var seed [seedSize]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("mhe: secret key: %w", err)
	}
	return newSecret(params, seed)
}

func (s *secret) marshal(l layout) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("mhe: %s: empty key", l.kind)
	}
	params, err := canonical()
	if err != nil {
		return nil, err
	}
	return append(l.header(params), s.seed[:]...), nil
}

func unmarshalSecret(l layout, b []byte) (*secret, error) {
	params, err := canonical()
	if err != nil {
		return nil, err
	}
	payload, err := l.check(params, b)
	if err != nil {
		return nil, err
	}
	return newSecret(params, [seedSize]byte(payload))
}

// redacted is what every fmt verb prints for secret types.
const redacted = "[REDACTED]"

// SecretShare is an agent's share of the collective secret key: the
// collective key is the sum of all agents' shares, so decrypting or
// key-switching needs every agent.
//
// The share is derived from a 32-byte seed drawn from crypto/rand; its
// binary form (for a 0600 file) is the 10-byte header and that seed.
// Printing a SecretShare with any fmt verb shows no key material.
//
// A SecretShare is safe for concurrent use.
type SecretShare struct {
	s sealed
}

// GenerateSecretShare draws a fresh secret-key share.
func GenerateSecretShare(params bgv.Parameters) (*SecretShare, error) {
	s, err := generateSecret(params)
	if err != nil {
		return nil, err
	}
	return &SecretShare{s: seal(s)}, nil
}

// MarshalBinary returns the share's 42-byte encoding. Store it like a
// private key.
func (s *SecretShare) MarshalBinary() ([]byte, error) {
	return s.s.open().marshal(layoutSecretShare)
}

// UnmarshalBinary restores a share from MarshalBinary's output; it rejects
// any other length, header or parameter set.
func (s *SecretShare) UnmarshalBinary(b []byte) error {
	k, err := unmarshalSecret(layoutSecretShare, b)
	if err != nil {
		return err
	}
	s.s = seal(k)
	return nil
}

// String returns a fixed text without key material.
func (SecretShare) String() string { return "mhe.SecretShare" + redacted }

// GoString returns a fixed text without key material.
func (SecretShare) GoString() string { return "mhe.SecretShare" + redacted }

// Format prints a fixed text without key material for every verb.
func (s SecretShare) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

func (s *SecretShare) key() (*rlwe.SecretKey, error) {
	if s == nil || s.s.open() == nil {
		return nil, errors.New("mhe: empty secret-key share")
	}
	return s.s.open().sk, nil
}

// PublicKeyShare returns the agent's share of the collective public key
// for the public seed: crp·s_i + e_i, where crp is the common random
// polynomial drawn from NewCRS(seed) (lattigo's PublicKeyGenProtocol).
//
// An agent must produce a share at most once per seed, and must never
// reuse a seed: two shares for the same crp and secret leak the secret
// (lattigo SECURITY.md, "On the insecurity of retries"). This package does
// not remember seeds; the agent must.
func (s *SecretShare) PublicKeyShare(params bgv.Parameters, seed []byte) ([]byte, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	sk, err := s.key()
	if err != nil {
		return nil, err
	}
	crs, err := NewCRS(seed)
	if err != nil {
		return nil, err
	}
	ckg := multiparty.NewPublicKeyGenProtocol(params)
	crp := ckg.SampleCRP(crs)
	share := ckg.AllocateShare()
	ckg.GenShare(sk, crp, &share)
	return layoutPublicKeyShare.encodePolys(params, joinQP(share.Value.Q, share.Value.P)), nil
}

// parsePublicKeyShare strictly decodes a public-key share.
func parsePublicKeyShare(params bgv.Parameters, b []byte) (multiparty.PublicKeyGenShare, error) {
	share := multiparty.PublicKeyGenShare{Value: params.RingQP().NewPoly()}
	err := layoutPublicKeyShare.decodePolys(params, b, joinQP(share.Value.Q, share.Value.P))
	return share, err
}

// ValidatePublicKeyShare checks that b is a well-formed public-key share,
// so that an aggregator can reject a malformed share on arrival.
func ValidatePublicKeyShare(params bgv.Parameters, b []byte) error {
	if err := checkParams(params); err != nil {
		return err
	}
	_, err := parsePublicKeyShare(params, b)
	return err
}

// joinQP returns the residues of a QP polynomial as one list: Q then P.
func joinQP(q, p ring.Poly) [][]uint64 {
	out := make([][]uint64, 0, len(q.Coeffs)+len(p.Coeffs))
	out = append(out, q.Coeffs...)
	return append(out, p.Coeffs...)
}

// AggregatePublicKey sums the agents' public-key shares for seed into the
// collective public key (Σ crp·s_i + e_i, crp). Every agent's share is
// needed: a missing share yields a key nobody can decrypt under. Shares
// are parsed strictly; identical shares are rejected.
func AggregatePublicKey(params bgv.Parameters, seed []byte, shares [][]byte) (*PublicKey, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	if err := checkShareCount(shares); err != nil {
		return nil, err
	}
	crs, err := NewCRS(seed)
	if err != nil {
		return nil, err
	}
	ckg := multiparty.NewPublicKeyGenProtocol(params)
	crp := ckg.SampleCRP(crs)
	sum := ckg.AllocateShare()
	for i, b := range shares {
		share, err := parsePublicKeyShare(params, b)
		if err != nil {
			return nil, fmt.Errorf("share %d: %w", i, err)
		}
		ckg.AggregateShares(sum, share, &sum)
	}
	pk := rlwe.NewPublicKey(params)
	ckg.GenPublicKey(sum, crp, pk)
	return &PublicKey{pk: pk}, nil
}

// checkShareCount rejects an empty list, more than MaxParties shares, and
// duplicates (the same agent's share counted twice is a bug, and a repeated
// share cannot be a fresh one).
func checkShareCount(shares [][]byte) error {
	if len(shares) == 0 {
		return errors.New("mhe: no shares")
	}
	if len(shares) > MaxParties {
		return fmt.Errorf("mhe: %d shares, at most %d parties are supported", len(shares), MaxParties)
	}
	// At most MaxParties² comparisons, most ending at the first bytes
	// after the header: cheaper than hashing every share.
	for i, b := range shares {
		for j := range i {
			if bytes.Equal(shares[j], b) {
				return fmt.Errorf("mhe: share %d duplicates share %d", i, j)
			}
		}
	}
	return nil
}

// PublicKey is an RLWE public key: the collective key the providers encrypt
// under, or an operator's result key that key-switching targets.
type PublicKey struct {
	pk *rlwe.PublicKey
}

// MarshalBinary returns the key's canonical encoding (370,698 bytes).
func (k *PublicKey) MarshalBinary() ([]byte, error) {
	if k == nil || k.pk == nil {
		return nil, errors.New("mhe: empty public key")
	}
	params, err := canonical()
	if err != nil {
		return nil, err
	}
	v := k.pk.Value
	return layoutPublicKey.encodePolys(params, joinQP(v[0].Q, v[0].P), joinQP(v[1].Q, v[1].P)), nil
}

// ParsePublicKey strictly decodes a public key: the header must announce
// N = 2^13, 2 Q moduli, 1 P modulus, 2 polynomials in NTT and Montgomery
// form, the length must be exact and every coefficient reduced. The error
// names the first mismatch.
func ParsePublicKey(params bgv.Parameters, b []byte) (*PublicKey, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	pk := rlwe.NewPublicKey(params)
	v := pk.Value
	if err := layoutPublicKey.decodePolys(params, b, joinQP(v[0].Q, v[0].P), joinQP(v[1].Q, v[1].P)); err != nil {
		return nil, err
	}
	return &PublicKey{pk: pk}, nil
}

// Hash returns the SHA-256 of the key's canonical encoding, or the zero
// array for an empty key.
func (k *PublicKey) Hash() [32]byte {
	b, err := k.MarshalBinary()
	if err != nil {
		return [32]byte{}
	}
	return digest(b)
}

// ResultSecretKey is the operator's own (non-collective) secret key, the
// target of key switching. Like SecretShare it is stored as a 32-byte seed
// and never printed.
//
// A ResultSecretKey is safe for concurrent use.
type ResultSecretKey struct {
	s sealed
}

// GenerateResultKey draws the operator's key pair. The agents key-switch
// results to the public half; only the holder of the secret half decrypts.
func GenerateResultKey(params bgv.Parameters) (*ResultSecretKey, *PublicKey, error) {
	s, err := generateSecret(params)
	if err != nil {
		return nil, nil, err
	}
	pk := rlwe.NewKeyGenerator(params).GenPublicKeyNew(s.sk)
	return &ResultSecretKey{s: seal(s)}, &PublicKey{pk: pk}, nil
}

// MarshalBinary returns the key's 42-byte encoding. Store it like a private
// key.
func (k *ResultSecretKey) MarshalBinary() ([]byte, error) {
	return k.s.open().marshal(layoutResultKey)
}

// UnmarshalBinary restores a key from MarshalBinary's output; it rejects
// any other length, header or parameter set.
func (k *ResultSecretKey) UnmarshalBinary(b []byte) error {
	s, err := unmarshalSecret(layoutResultKey, b)
	if err != nil {
		return err
	}
	k.s = seal(s)
	return nil
}

// String returns a fixed text without key material.
func (ResultSecretKey) String() string { return "mhe.ResultSecretKey" + redacted }

// GoString returns a fixed text without key material.
func (ResultSecretKey) GoString() string { return "mhe.ResultSecretKey" + redacted }

// Format prints a fixed text without key material for every verb.
func (k ResultSecretKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

func (k *ResultSecretKey) key() (*rlwe.SecretKey, error) {
	if k == nil || k.s.open() == nil {
		return nil, errors.New("mhe: empty result secret key")
	}
	return k.s.open().sk, nil
}
