package mhe

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// The package's objects share one canonical binary layout:
//
//	offset size  field
//	0      3     magic "MHE"
//	3      1     format version (1)
//	4      1     kind (ciphertext, public key, shares, secrets)
//	5      1     log2 of the ring degree N (13)
//	6      1     number of Q moduli (2 at the maximal level)
//	7      1     number of P moduli (0 or 1)
//	8      1     number of polynomials (2 for a degree-1 ciphertext)
//	9      1     flags: bit 0 NTT domain, bit 1 Montgomery form
//	10     ...   payload
//
// For polynomial objects the payload is, polynomial after polynomial and
// modulus after modulus (the Q moduli, then the P moduli), the N
// coefficients of that residue, each packed little-endian on exactly
// bits.Len64(modulus) bits (60 for the Q moduli, 61 for P). Every
// coefficient must be reduced modulo its modulus, so each object has exactly
// one encoding and Hash is well defined. For secrets the payload is a 32-byte
// seed (see SecretShare).

const (
	headerSize    = 10
	formatVersion = 1
	seedSize      = SeedSize
)

var magic = [3]byte{'M', 'H', 'E'}

// kind identifies what an encoding holds.
type kind byte

const (
	kindCiphertext     kind = 1
	kindPublicKey      kind = 2
	kindPublicKeyShare kind = 3
	kindKeySwitchShare kind = 4
	kindSecretShare    kind = 5
	kindResultKey      kind = 6
)

func (k kind) String() string {
	switch k {
	case kindCiphertext:
		return "ciphertext"
	case kindPublicKey:
		return "public key"
	case kindPublicKeyShare:
		return "public-key share"
	case kindKeySwitchShare:
		return "key-switch share"
	case kindSecretShare:
		return "secret-key share"
	case kindResultKey:
		return "result secret key"
	default:
		return fmt.Sprintf("kind %d", byte(k))
	}
}

const (
	flagNTT        = 1 << 0
	flagMontgomery = 1 << 1
)

// layout describes the expected shape of one encoding.
type layout struct {
	kind   kind
	nQ     int // Q moduli per polynomial
	nP     int // P moduli per polynomial
	polys  int
	flags  byte
	secret bool // payload is a seed, not polynomials
}

var (
	layoutCiphertext     = layout{kind: kindCiphertext, nQ: 2, polys: 2, flags: flagNTT}
	layoutKeySwitchShare = layout{kind: kindKeySwitchShare, nQ: 2, polys: 2, flags: flagNTT}
	layoutPublicKey      = layout{kind: kindPublicKey, nQ: 2, nP: 1, polys: 2, flags: flagNTT | flagMontgomery}
	layoutPublicKeyShare = layout{kind: kindPublicKeyShare, nQ: 2, nP: 1, polys: 1, flags: flagNTT | flagMontgomery}
	layoutSecretShare    = layout{kind: kindSecretShare, secret: true}
	layoutResultKey      = layout{kind: kindResultKey, secret: true}
)

// checkParams returns an error unless params is the package's parameter set:
// the noise analysis, the encodings and the packing all assume it.
func checkParams(params bgv.Parameters) error {
	want, err := canonical()
	if err != nil {
		return err
	}
	if !params.Equal(&want) {
		return errors.New("mhe: parameters differ from mhe.NewParameters()")
	}
	return nil
}

// moduli returns the moduli of one polynomial of layout l: Q then P.
func (l layout) moduli(params bgv.Parameters) []uint64 {
	m := make([]uint64, 0, l.nQ+l.nP)
	m = append(m, params.Q()[:l.nQ]...)
	return append(m, params.P()[:l.nP]...)
}

// size returns the exact encoded size of layout l.
func (l layout) size(params bgv.Parameters) int {
	if l.secret {
		return headerSize + seedSize
	}
	total := 0
	for _, q := range l.moduli(params) {
		total += params.N() * bits.Len64(q) / 8
	}
	return headerSize + l.polys*total
}

// header writes the header of layout l.
func (l layout) header(params bgv.Parameters) []byte {
	b := make([]byte, headerSize, l.size(params))
	copy(b, magic[:])
	b[3] = formatVersion
	b[4] = byte(l.kind)
	b[5] = byte(params.LogN())
	b[6] = byte(l.nQ)
	b[7] = byte(l.nP)
	b[8] = byte(l.polys)
	b[9] = l.flags
	return b
}

// check validates the header and the length of b against layout l and
// returns the payload. The error names the first mismatch.
func (l layout) check(params bgv.Parameters, b []byte) ([]byte, error) {
	name := l.kind.String()
	if len(b) < headerSize {
		return nil, fmt.Errorf("mhe: %s: %d bytes, too short for the %d-byte header", name, len(b), headerSize)
	}
	if [3]byte(b[:3]) != magic {
		return nil, fmt.Errorf("mhe: %s: bad magic %q, not an mhe encoding", name, b[:3])
	}
	if b[3] != formatVersion {
		return nil, fmt.Errorf("mhe: %s: format version %d, want %d", name, b[3], formatVersion)
	}
	if got := kind(b[4]); got != l.kind {
		return nil, fmt.Errorf("mhe: %s: encoding holds a %s", name, got)
	}
	if int(b[5]) != params.LogN() {
		return nil, fmt.Errorf("mhe: %s: ring degree N = 2^%d, want 2^%d", name, b[5], params.LogN())
	}
	if int(b[6]) != l.nQ {
		return nil, fmt.Errorf("mhe: %s: %d Q moduli (level %d), want %d (level %d)", name, b[6], int(b[6])-1, l.nQ, l.nQ-1)
	}
	if int(b[7]) != l.nP {
		return nil, fmt.Errorf("mhe: %s: %d P moduli, want %d", name, b[7], l.nP)
	}
	if int(b[8]) != l.polys {
		if l.kind == kindCiphertext || l.kind == kindKeySwitchShare {
			return nil, fmt.Errorf("mhe: %s: degree %d, want %d", name, int(b[8])-1, l.polys-1)
		}
		return nil, fmt.Errorf("mhe: %s: %d polynomials, want %d", name, b[8], l.polys)
	}
	if b[9] != l.flags {
		switch {
		case l.flags&flagNTT != 0 && b[9]&flagNTT == 0:
			return nil, fmt.Errorf("mhe: %s: not in NTT form", name)
		case l.flags&flagNTT == 0 && b[9]&flagNTT != 0:
			return nil, fmt.Errorf("mhe: %s: unexpected NTT form", name)
		case l.flags&flagMontgomery != 0 && b[9]&flagMontgomery == 0:
			return nil, fmt.Errorf("mhe: %s: not in Montgomery form", name)
		case l.flags&flagMontgomery == 0 && b[9]&flagMontgomery != 0:
			return nil, fmt.Errorf("mhe: %s: unexpected Montgomery form", name)
		default:
			return nil, fmt.Errorf("mhe: %s: unknown flags %#02x", name, b[9])
		}
	}
	if want := l.size(params); len(b) != want {
		return nil, fmt.Errorf("mhe: %s: %d bytes, want %d", name, len(b), want)
	}
	return b[headerSize:], nil
}

// encodePolys appends the packed residues of polys (each holding the moduli
// of layout l) to the header of l.
func (l layout) encodePolys(params bgv.Parameters, polys ...[][]uint64) []byte {
	b := l.header(params)
	moduli := l.moduli(params)
	for _, p := range polys {
		for j, q := range moduli {
			b = packResidue(b, p[j], q)
		}
	}
	return b
}

// decodePolys checks b against layout l and unpacks its polynomials into
// polys, which must have the shape of l. Every coefficient must be reduced.
func (l layout) decodePolys(params bgv.Parameters, b []byte, polys ...[][]uint64) error {
	payload, err := l.check(params, b)
	if err != nil {
		return err
	}
	moduli := l.moduli(params)
	for i, p := range polys {
		for j, q := range moduli {
			var bad int
			if payload, bad = unpackResidue(payload, p[j], q); bad >= 0 {
				return fmt.Errorf("mhe: %s: polynomial %d, modulus %d, coefficient %d is not reduced", l.kind, i, j, bad)
			}
		}
	}
	return nil
}

// packResidue appends coeffs reduced mod modulus to b, each on width =
// bits.Len64(modulus) bits, little-endian. Lattigo's operations used here
// return reduced values, so the reduction is only a safeguard that keeps
// every encoding parseable. The caller guarantees len(coeffs)*width is a
// multiple of 64 (N >= 64).
func packResidue(b []byte, coeffs []uint64, modulus uint64) []byte {
	width := uint(bits.Len64(modulus))
	var acc uint64
	var n uint // bits pending in acc
	for _, c := range coeffs {
		if c >= modulus {
			c %= modulus
		}
		acc |= c << n
		if n+width >= 64 {
			b = binary.LittleEndian.AppendUint64(b, acc)
			used := 64 - n // bits of c written; 1 <= used <= width
			acc = c >> used
			n = n + width - 64
		} else {
			n += width
		}
	}
	return b
}

// unpackResidue reads len(coeffs) values of bits.Len64(modulus) bits from b
// into coeffs and returns the rest of b. It returns the index of the first
// value not below modulus, or -1. The caller has checked that b is long
// enough.
func unpackResidue(b []byte, coeffs []uint64, modulus uint64) ([]byte, int) {
	width := uint(bits.Len64(modulus))
	mask := uint64(1)<<width - 1
	var acc uint64
	var n uint // unread bits in acc
	for i := range coeffs {
		var c uint64
		if n >= width {
			c = acc & mask
			acc >>= width
			n -= width
		} else {
			next := binary.LittleEndian.Uint64(b)
			b = b[8:]
			c = (acc | next<<n) & mask
			taken := width - n // bits of next used; 1 <= taken <= width
			acc = next >> taken
			n = 64 - taken
		}
		if c >= modulus {
			return b, i
		}
		coeffs[i] = c
	}
	return b, -1
}

// digest is the SHA-256 of a canonical encoding.
func digest(b []byte) [32]byte { return sha256.Sum256(b) }
