// Package fingerprint turns join-key values into keyed join tokens for the
// multiparty HE mode: HMAC-SHA256 under a key that the providers share and
// the node does not have. Equal values give equal tokens, so the node joins
// and counts distinct units on tokens exactly as it would on the values;
// without the key it cannot compute the token of a value it guesses, so a
// join key of low entropy (a unified social credit code, an ID number)
// stays hidden.
//
// A token is the first 16 bytes of
//
//	HMAC-SHA256(key, "cleanroom/fingerprint/v1" || 0x00 || type || 0x00 || value)
//
// written as 32 lower-case hex digits, where type is the column's schema
// type name (int, string, bool, date) and value the value's canonical text
// (schema.FormatValue for int, bool and date, the string itself for
// string). 128 bits keep the chance that two of a billion distinct values
// collide below 2⁻⁶⁷. The type is part of the input so that the integer 1
// and the string "1" never join.
//
// The key is 32 random bytes. Its text form, for the 0600 file an agent
// keeps, is "CLEANROOM-FINGERPRINT-KEY-1" followed by a space and 64 hex
// digits; it never appears in an error or a formatted value.
package fingerprint

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/xjdata/cleanroom/schema"
)

// Size is the length of a token in hex digits.
const Size = 32

const (
	domain     = "cleanroom/fingerprint/v1"
	textPrefix = "CLEANROOM-FINGERPRINT-KEY-1 "
)

// Key is a fingerprint key. The zero Key is not usable.
type Key struct {
	k [32]byte
	// set distinguishes a real key from the zero value.
	set bool
}

// Generate returns a fresh random key.
func Generate() (*Key, error) {
	var k Key
	if _, err := rand.Read(k.k[:]); err != nil {
		return nil, fmt.Errorf("fingerprint: generating a key: %w", err)
	}
	k.set = true
	return &k, nil
}

// MarshalText returns the key's text form.
func (k *Key) MarshalText() ([]byte, error) {
	if k == nil || !k.set {
		return nil, errors.New("fingerprint: no key")
	}
	return []byte(textPrefix + hex.EncodeToString(k.k[:])), nil
}

// ParseKey reads a key's text form, with or without one trailing newline.
// Its errors never repeat the input.
func ParseKey(text []byte) (*Key, error) {
	s := strings.TrimSuffix(string(text), "\n")
	if !strings.HasPrefix(s, textPrefix) {
		return nil, errors.New("fingerprint: not a fingerprint key (want CLEANROOM-FINGERPRINT-KEY-1 and 64 hex digits)")
	}
	h := s[len(textPrefix):]
	if len(h) != 64 || strings.ToLower(h) != h {
		return nil, errors.New("fingerprint: a key has exactly 64 lower-case hex digits")
	}
	var k Key
	if _, err := hex.Decode(k.k[:], []byte(h)); err != nil {
		return nil, errors.New("fingerprint: a key has exactly 64 lower-case hex digits")
	}
	k.set = true
	return &k, nil
}

// String hides the key.
func (k *Key) String() string { return "fingerprint.Key(REDACTED)" }

// GoString hides the key.
func (k *Key) GoString() string { return k.String() }

// Format hides the key from every fmt verb.
func (k *Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// Tokenizer computes tokens under one key. It is not safe for concurrent
// use; make one per goroutine.
type Tokenizer struct {
	mac hash.Hash
	buf []byte
	sum []byte
}

// NewTokenizer returns a Tokenizer for k.
func NewTokenizer(k *Key) (*Tokenizer, error) {
	if k == nil || !k.set {
		return nil, errors.New("fingerprint: no key")
	}
	return &Tokenizer{mac: hmac.New(sha256.New, k.k[:])}, nil
}

// Token returns the token of a value of type t given by its canonical text.
func (z *Tokenizer) Token(t schema.Type, text string) string {
	z.buf = append(z.buf[:0], domain...)
	z.buf = append(z.buf, 0)
	z.buf = append(z.buf, t...)
	z.buf = append(z.buf, 0)
	z.buf = append(z.buf, text...)
	z.mac.Reset()
	z.mac.Write(z.buf)
	z.sum = z.mac.Sum(z.sum[:0])
	return hex.EncodeToString(z.sum[:Size/2])
}

// Column replaces the values of v, a column of type t, by their tokens, and
// returns the tokens as a string vector.
func (z *Tokenizer) Column(t schema.Type, v *schema.Vector) schema.Vector {
	out := schema.Vector{Type: schema.String}
	if t == schema.String {
		out.Strs = make([]string, len(v.Strs))
		for i, s := range v.Strs {
			out.Strs[i] = z.Token(t, s)
		}
		return out
	}
	out.Strs = make([]string, len(v.Ints))
	for i, x := range v.Ints {
		out.Strs[i] = z.Token(t, schema.FormatValue(t, x))
	}
	return out
}

// Valid reports whether s has the form of a token.
func Valid(s string) bool {
	if len(s) != Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
