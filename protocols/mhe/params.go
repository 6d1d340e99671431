// Package mhe holds the homomorphic-encryption side of the clean room's
// multiparty mode: the BGV parameter set, and (as the mode is built) the
// collective keys, encryption, aggregation and key switching of lattigo's
// multiparty package.
//
// # Parameters
//
// Aggregation needs depth zero: ciphertexts are added and multiplied by
// plaintext masks, never by each other. The set is BGV with
//
//	LogN 13 (8,192 slots), Q two 60-bit primes, P one 61-bit prime,
//	plaintext modulus T = 576460752303210497, the largest 59-bit prime
//	congruent to 1 mod 2N (so every slot is usable),
//	LogQP about 181.
//
// By the HomomorphicEncryption.org security standard (ternary secrets), a
// ring of degree 2^13 gives 128-bit security up to LogQP 218; the test
// checks the set against that bound. Values are exact integers modulo T:
// sums up to (T-1)/2, about 2.9e17, are exact, and a larger one wraps
// silently. The node therefore checks declared bounds times row counts
// against MaxExactSum before it runs a query.
//
// Lattigo's own example sets (LogN 14, LogQP 438, T 65537) are slower,
// larger, and overflow at 32,767: do not use them here.
package mhe

import (
	"fmt"

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

// NewParameters returns the validated parameter set.
func NewParameters() (bgv.Parameters, error) {
	p, err := bgv.NewParametersFromLiteral(Literal)
	if err != nil {
		return bgv.Parameters{}, fmt.Errorf("mhe: parameters: %w", err)
	}
	if p.LogQP() > SecurityBoundLogQP {
		return bgv.Parameters{}, fmt.Errorf("mhe: LogQP %.1f exceeds the 128-bit bound %d for LogN %d", p.LogQP(), SecurityBoundLogQP, p.LogN())
	}
	return p, nil
}
