package mhe

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// ChunkSize is the number of values one ciphertext carries: the ring
// degree N. Value k of a chunk is coefficient k of the plaintext polynomial.
const ChunkSize = 1 << 13

// CiphertextSize is the exact size of an encoded Ciphertext (and of a
// key-switch share): the 10-byte header and 2 polynomials × 2 moduli ×
// 8192 coefficients × 60 bits, 245,770 bytes. That is 30.0012 bytes per
// value of a full chunk.
const CiphertextSize = 10 + 2*2*ChunkSize*60/8

// Ciphertext is a BGV ciphertext of degree 1 at the maximal level, in the
// NTT domain, whose plaintext is a polynomial with coefficients modulo T
// (coefficient packing, never slots).
//
// Methods and functions that modify a Ciphertext do so in place; a
// Ciphertext must not be modified concurrently with any other use.
type Ciphertext struct {
	ct *rlwe.Ciphertext
}

// newCiphertext allocates a zero ciphertext with the package's metadata.
func newCiphertext(params bgv.Parameters) *rlwe.Ciphertext {
	ct := rlwe.NewCiphertext(params, 1, params.MaxLevel())
	setMetaData(params, ct.MetaData)
	return ct
}

// setMetaData sets the metadata every plaintext and ciphertext of the
// package carries: NTT domain, coefficient (not slot) encoding, scale 1.
func setMetaData(params bgv.Parameters, m *rlwe.MetaData) {
	m.IsNTT = true
	m.IsMontgomery = false
	m.IsBatched = false
	m.Scale = params.DefaultScale()
	m.LogDimensions = params.LogMaxDimensions()
}

// MarshalBinary returns the canonical encoding, CiphertextSize bytes.
func (c *Ciphertext) MarshalBinary() ([]byte, error) {
	if c == nil || c.ct == nil {
		return nil, errors.New("mhe: empty ciphertext")
	}
	params, err := canonical()
	if err != nil {
		return nil, err
	}
	return layoutCiphertext.encodePolys(params, c.ct.Value[0].Coeffs, c.ct.Value[1].Coeffs), nil
}

// ParseCiphertext strictly decodes a ciphertext: the header must announce
// N = 2^13, level 1 (2 Q moduli), no P modulus, degree 1, NTT form; the
// length must be exactly CiphertextSize and every coefficient reduced. The
// error names the first mismatch.
func ParseCiphertext(params bgv.Parameters, b []byte) (*Ciphertext, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	ct := newCiphertext(params)
	if err := layoutCiphertext.decodePolys(params, b, ct.Value[0].Coeffs, ct.Value[1].Coeffs); err != nil {
		return nil, err
	}
	return &Ciphertext{ct: ct}, nil
}

// Hash returns the SHA-256 of the canonical encoding, or the zero array for
// an empty ciphertext. It identifies the ciphertext; the "one key-switch
// share per ciphertext" rule must be keyed on KeySwitchID instead.
func (c *Ciphertext) Hash() [32]byte {
	b, err := c.MarshalBinary()
	if err != nil {
		return [32]byte{}
	}
	return digest(b)
}

// KeySwitchID identifies the public polynomial c1 a key-switch share is
// computed on: the SHA-256 of a domain-separation label and the canonical
// encoding of c1. A key-switch share depends on ct only through c1, so
// ciphertexts that differ only in c0 (for example one derived from another
// by AddConstant) have the same KeySwitchID, and two shares for them are a
// retry of the protocol on the same input. Agents must produce at most one
// share per KeySwitchID; Hash is not enough.
func (c *Ciphertext) KeySwitchID() [32]byte {
	if c == nil || c.ct == nil {
		return [32]byte{}
	}
	params, err := canonical()
	if err != nil {
		return [32]byte{}
	}
	b := []byte(keySwitchLabel)
	for j, q := range params.Q() {
		b = packResidue(b, c.ct.Value[1].Coeffs[j], q)
	}
	return digest(b)
}

// keySwitchLabel separates KeySwitchID from other hashes.
const keySwitchLabel = "mhe key-switch c1 v1\x00"

// ParseCiphertextID is ParseCiphertext that also returns the ciphertext's
// KeySwitchID, hashed from b itself: once b parses, its last half holds c1
// in the canonical encoding KeySwitchID hashes, so c1 need not be encoded
// again.
func ParseCiphertextID(params bgv.Parameters, b []byte) (*Ciphertext, [32]byte, error) {
	ct, err := ParseCiphertext(params, b)
	if err != nil {
		return nil, [32]byte{}, err
	}
	h := sha256.New()
	h.Write([]byte(keySwitchLabel))
	h.Write(b[headerSize+(len(b)-headerSize)/2:]) // c0 then c1, equal sizes
	var id [32]byte
	h.Sum(id[:0])
	return ct, id, nil
}

// Clone returns a deep copy.
func (c *Ciphertext) Clone() *Ciphertext {
	if c == nil || c.ct == nil {
		return nil
	}
	return &Ciphertext{ct: c.ct.CopyNew()}
}

func (c *Ciphertext) valid(what string) error {
	if c == nil || c.ct == nil {
		return fmt.Errorf("mhe: %s: empty ciphertext", what)
	}
	return nil
}

// plainEmbedder maps plaintext coefficients to the NTT-domain polynomial
// T^{-1}·m mod Q that BGV adds to c0, as lattigo's Encoder does with
// IsBatched = false; but it lifts negative values centred (v < 0 becomes
// q_j - |v| in every residue), so the integer the plaintext stands for is
// the value itself, not v + T. That keeps the plaintext term of the
// decryption noise (see the package documentation) at the size of the
// true sums.
type plainEmbedder struct {
	ringQ   *ring.Ring
	tInvMon []uint64 // T^{-1} mod q_j, Montgomery form
}

func newPlainEmbedder(params bgv.Parameters) plainEmbedder {
	ringQ := params.RingQ()
	e := plainEmbedder{ringQ: ringQ, tInvMon: make([]uint64, len(ringQ.SubRings))}
	t := new(big.Int).SetUint64(params.PlaintextModulus())
	for j, s := range ringQ.SubRings {
		q := new(big.Int).SetUint64(s.Modulus)
		inv := new(big.Int).ModInverse(t, q).Uint64()
		e.tInvMon[j] = ring.MForm(inv, s.Modulus, s.BRedConstant)
	}
	return e
}

// liftSigned writes v (|v| < every q_j) centred into residue j of p at
// coefficient i.
func liftSigned(p ring.Poly, s []*ring.SubRing, i int, v int64) {
	for j, sr := range s {
		if v >= 0 {
			p.Coeffs[j][i] = uint64(v)
		} else {
			p.Coeffs[j][i] = sr.Modulus - uint64(-v)
		}
	}
}

// finish scales p (coefficient domain, integers lifted in every residue) by
// T^{-1} and moves it to the NTT domain.
func (e plainEmbedder) finish(p ring.Poly) {
	for j, s := range e.ringQ.SubRings {
		s.MulScalarMontgomery(p.Coeffs[j], e.tInvMon[j], p.Coeffs[j])
	}
	e.ringQ.NTT(p, p)
}

// embedInt64 writes the plaintext of values (coefficients 0..len-1, zeros
// after) into p. The caller has checked |v| <= MaxExactSum.
func (e plainEmbedder) embedInt64(values []int64, p ring.Poly) {
	for j := range p.Coeffs {
		clear(p.Coeffs[j][len(values):])
	}
	for i, v := range values {
		liftSigned(p, e.ringQ.SubRings, i, v)
	}
	e.finish(p)
}

// checkValues returns an error naming the first value outside
// [-MaxExactSum, MaxExactSum]; offset is added to the reported index.
func checkValues(values []int64, offset int) error {
	for i, v := range values {
		if v > MaxExactSum || v < -MaxExactSum {
			return fmt.Errorf("mhe: value %d is %d, outside ±MaxExactSum (%d)", offset+i, v, int64(MaxExactSum))
		}
	}
	return nil
}

// Encryptor encrypts chunks of values under a public key. An Encryptor is
// not safe for concurrent use: use one per goroutine (Clone), as
// EncryptColumn does.
type Encryptor struct {
	params bgv.Parameters
	pk     *PublicKey
	enc    *rlwe.Encryptor
	emb    plainEmbedder
	pt     *rlwe.Plaintext
}

// NewEncryptor returns an Encryptor for pk (normally the collective key).
func NewEncryptor(params bgv.Parameters, pk *PublicKey) (*Encryptor, error) {
	if err := checkParams(params); err != nil {
		return nil, err
	}
	if pk == nil || pk.pk == nil {
		return nil, errors.New("mhe: encryptor: empty public key")
	}
	pt := rlwe.NewPlaintext(params, params.MaxLevel())
	setMetaData(params, pt.MetaData)
	return &Encryptor{
		params: params,
		pk:     pk,
		enc:    rlwe.NewEncryptor(params, pk.pk),
		emb:    newPlainEmbedder(params),
		pt:     pt,
	}, nil
}

// Clone returns an independent Encryptor for the same key, for use in
// another goroutine.
func (e *Encryptor) Clone() *Encryptor {
	c, err := NewEncryptor(e.params, e.pk)
	if err != nil {
		panic(err) // unreachable: e was built from the same arguments
	}
	return c
}

// EncryptChunk encrypts up to ChunkSize values as coefficients 0..len-1 of
// one plaintext (zeros after). Every |v| must be at most MaxExactSum; the
// error names the first offending index.
func (e *Encryptor) EncryptChunk(values []int64) (*Ciphertext, error) {
	if len(values) > ChunkSize {
		return nil, fmt.Errorf("mhe: chunk of %d values, at most %d", len(values), ChunkSize)
	}
	if err := checkValues(values, 0); err != nil {
		return nil, err
	}
	return e.encrypt(values)
}

// EncryptZero returns a fresh encryption of the zero plaintext, for
// re-randomising a result (Add) or for a clear vector (AddVector). It is
// the same as EncryptChunk(nil), without the work of encoding zeros.
func (e *Encryptor) EncryptZero() (*Ciphertext, error) {
	ct := newCiphertext(e.params)
	if err := e.enc.EncryptZero(ct); err != nil {
		return nil, fmt.Errorf("mhe: encrypt: %w", err)
	}
	return &Ciphertext{ct: ct}, nil
}

func (e *Encryptor) encrypt(values []int64) (*Ciphertext, error) {
	e.emb.embedInt64(values, e.pt.Value)
	ct := newCiphertext(e.params)
	if err := e.enc.Encrypt(e.pt, ct); err != nil {
		return nil, fmt.Errorf("mhe: encrypt: %w", err)
	}
	return &Ciphertext{ct: ct}, nil
}

// EncryptColumn splits values into chunks of ChunkSize (the last one may
// be shorter), encrypts them on workers goroutines (GOMAXPROCS if workers
// <= 0) and calls emit(i, ct) for chunk i = 0, 1, ... in order, from the
// calling goroutine. At most 2·workers chunks are in flight, so a column
// streams in constant memory. It stops at the first error (a value outside
// ±MaxExactSum, named by its index in values; an error from emit; or the
// context's) and returns it, after all goroutines have finished.
func (e *Encryptor) EncryptColumn(ctx context.Context, values []int64, workers int, emit func(i int, ct *Ciphertext) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nChunks := (len(values) + ChunkSize - 1) / ChunkSize
	workers = max(1, min(workers, nChunks))

	parent := ctx
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	type result struct {
		ct  *Ciphertext
		err error
	}
	type job struct {
		i   int
		out chan result
	}
	jobs := make(chan job)
	pending := make(chan chan result, 2*workers)

	var wg sync.WaitGroup
	wg.Go(func() { // producer: hands out chunks in order
		defer close(jobs)
		defer close(pending)
		for i := range nChunks {
			if ctx.Err() != nil {
				return
			}
			out := make(chan result, 1)
			select {
			case pending <- out:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{i: i, out: out}:
			case <-ctx.Done():
				out <- result{err: ctx.Err()}
				return
			}
		}
	})
	for w := range workers {
		enc := e
		if w > 0 {
			enc = e.Clone()
		}
		wg.Go(func() {
			for j := range jobs {
				if err := ctx.Err(); err != nil {
					j.out <- result{err: err}
					continue
				}
				lo := j.i * ChunkSize
				chunk := values[lo:min(lo+ChunkSize, len(values))]
				if err := checkValues(chunk, lo); err != nil {
					j.out <- result{err: err}
					continue
				}
				ct, err := enc.encrypt(chunk)
				j.out <- result{ct: ct, err: err}
			}
		})
	}

	var err error
	i := 0
	for out := range pending {
		r := <-out
		if r.err != nil {
			err = r.err
			break
		}
		if err = emit(i, r.ct); err != nil {
			break
		}
		i++
	}
	cancel()
	for range pending { // unblock the producer
	}
	wg.Wait()
	if err == nil && i < nChunks {
		err = parent.Err() // the producer stopped early: the caller cancelled
	}
	return err
}

// EncryptVector encrypts values (at most ChunkSize, each |v| <=
// MaxExactSum) as coefficients 0..len-1 under pk, zeros elsewhere: the
// node's "clear vector" of node-known results (counts and the like), which
// agents key-switch like any other result.
func EncryptVector(params bgv.Parameters, pk *PublicKey, values []int64) (*Ciphertext, error) {
	enc, err := NewEncryptor(params, pk)
	if err != nil {
		return nil, err
	}
	return enc.EncryptChunk(values)
}

// AddVector adds values (at most ChunkSize, each |v| <= MaxExactSum) to
// coefficients 0..len-1 of ct's plaintext, in place: a plaintext addition,
// exact, no noise. A fresh encryption of zero plus a vector is an
// encryption of the vector, as EncryptVector makes.
func AddVector(params bgv.Parameters, ct *Ciphertext, values []int64) error {
	if err := checkParams(params); err != nil {
		return err
	}
	if err := ct.valid("add vector"); err != nil {
		return err
	}
	if len(values) > ChunkSize {
		return fmt.Errorf("mhe: add vector: %d values, at most %d", len(values), ChunkSize)
	}
	if err := checkValues(values, 0); err != nil {
		return err
	}
	emb := newPlainEmbedder(params)
	p := emb.ringQ.NewPoly()
	emb.embedInt64(values, p)
	emb.ringQ.Add(ct.ct.Value[0], p, ct.ct.Value[0])
	return nil
}

// AddConstant adds v (|v| <= MaxExactSum) to coefficient pos of ct's
// plaintext, in place. It is a plaintext addition: exact, no noise.
func AddConstant(params bgv.Parameters, ct *Ciphertext, pos int, v int64) error {
	if err := checkParams(params); err != nil {
		return err
	}
	if err := ct.valid("add constant"); err != nil {
		return err
	}
	if pos < 0 || pos >= ChunkSize {
		return fmt.Errorf("mhe: add constant: position %d outside [0, %d)", pos, ChunkSize)
	}
	if err := checkValues([]int64{v}, 0); err != nil {
		return err
	}
	emb := newPlainEmbedder(params)
	if pos == 0 {
		// A constant polynomial is the same constant at every point of
		// the NTT: add T^{-1}·v mod q_j to every NTT coefficient, the
		// same sum as below without the transform.
		for j, s := range emb.ringQ.SubRings {
			var lift uint64
			if v >= 0 {
				lift = uint64(v)
			} else {
				lift = s.Modulus - uint64(-v)
			}
			s.AddScalar(ct.ct.Value[0].Coeffs[j], ring.MRed(lift, emb.tInvMon[j], s.Modulus, s.MRedConstant), ct.ct.Value[0].Coeffs[j])
		}
		return nil
	}
	p := emb.ringQ.NewPoly()
	liftSigned(p, emb.ringQ.SubRings, pos, v)
	emb.finish(p)
	emb.ringQ.Add(ct.ct.Value[0], p, ct.ct.Value[0])
	return nil
}

// MulScalar multiplies ct's plaintext by k, in place. The noise grows by
// the factor |k|: the worst-case budget of the package documentation
// allows |k| <= 7 on a result at the MaxWeightSquareSum envelope (typical
// noise leaves far more room, but without the guarantee).
func MulScalar(params bgv.Parameters, ct *Ciphertext, k int64) error {
	if err := checkParams(params); err != nil {
		return err
	}
	if err := ct.valid("multiply"); err != nil {
		return err
	}
	ringQ := params.RingQ()
	for j, s := range ringQ.SubRings {
		var kj uint64
		if k >= 0 {
			kj = uint64(k) % s.Modulus
		} else {
			kj = s.Modulus - uint64(-(k+1))%s.Modulus - 1 // -(k+1) avoids overflow at MinInt64
		}
		km := ring.MForm(kj, s.Modulus, s.BRedConstant)
		for _, v := range ct.ct.Value {
			s.MulScalarMontgomery(v.Coeffs[j], km, v.Coeffs[j])
		}
	}
	return nil
}

// Add adds b into a (a += b), in place; the plaintexts add modulo T and the
// noises add.
func Add(params bgv.Parameters, a, b *Ciphertext) error {
	if err := checkParams(params); err != nil {
		return err
	}
	if err := a.valid("add"); err != nil {
		return err
	}
	if err := b.valid("add"); err != nil {
		return err
	}
	ringQ := params.RingQ()
	for i := range a.ct.Value {
		ringQ.Add(a.ct.Value[i], b.ct.Value[i], a.ct.Value[i])
	}
	return nil
}
