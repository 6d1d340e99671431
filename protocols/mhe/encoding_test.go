package mhe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// fixtures holds one valid encoding of every kind, built once.
type fixtures struct {
	params                                  bgv.Parameters
	ct, pk, pkShare, ksShare, secret, opKey []byte
}

var fixture = sync.OnceValue(func() *fixtures {
	params, err := NewParameters()
	if err != nil {
		panic(err)
	}
	must := func(b []byte, err error) []byte {
		if err != nil {
			panic(err)
		}
		return b
	}
	seed := make([]byte, SeedSize)
	a, err := GenerateSecretShare(params)
	if err != nil {
		panic(err)
	}
	f := &fixtures{params: params}
	f.pkShare = must(a.PublicKeyShare(params, seed))
	cpk, err := AggregatePublicKey(params, seed, [][]byte{f.pkShare})
	if err != nil {
		panic(err)
	}
	f.pk = must(cpk.MarshalBinary())
	ct, err := EncryptVector(params, cpk, []int64{1, 2, 3})
	if err != nil {
		panic(err)
	}
	f.ct = must(ct.MarshalBinary())
	op, opPK, err := GenerateResultKey(params)
	if err != nil {
		panic(err)
	}
	f.ksShare = must(a.KeySwitchShare(params, ct, opPK, nil))
	f.secret = must(a.MarshalBinary())
	f.opKey = must(op.MarshalBinary())
	return f
})

func TestEncodingSizes(t *testing.T) {
	f := fixture()
	require.Len(t, f.ct, CiphertextSize)
	require.Equal(t, 245770, CiphertextSize)
	require.Len(t, f.ksShare, CiphertextSize)
	require.Len(t, f.pk, 370698)
	require.Len(t, f.pkShare, 185354)
	require.Len(t, f.secret, 42)
	require.Len(t, f.opKey, 42)
	t.Logf("ciphertext %d bytes = %.4f bytes/value", CiphertextSize, float64(CiphertextSize)/ChunkSize)
}

// TestRoundTripsAndHashes: parsing and re-encoding gives the same bytes,
// and Hash is the SHA-256 of them.
func TestRoundTripsAndHashes(t *testing.T) {
	f := fixture()
	ct, err := ParseCiphertext(f.params, f.ct)
	require.NoError(t, err)
	b, err := ct.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, f.ct, b)
	require.Equal(t, sha256.Sum256(f.ct), ct.Hash())
	require.Equal(t, ct.Hash(), ct.Clone().Hash())
	require.NotEqual(t, ct.Hash(), ct.KeySwitchID())
	again, id, err := ParseCiphertextID(f.params, f.ct)
	require.NoError(t, err)
	require.Equal(t, ct.KeySwitchID(), id)
	require.Equal(t, ct.Hash(), again.Hash())
	_, _, err = ParseCiphertextID(f.params, f.ct[:100])
	require.Error(t, err)

	pk, err := ParsePublicKey(f.params, f.pk)
	require.NoError(t, err)
	b, err = pk.MarshalBinary()
	require.NoError(t, err)
	require.Equal(t, f.pk, b)
	require.Equal(t, sha256.Sum256(f.pk), pk.Hash())

	require.Equal(t, [32]byte{}, (*Ciphertext)(nil).Hash())
	require.Equal(t, [32]byte{}, (*PublicKey)(nil).Hash())
}

// mutate returns a copy of b with b[i] = v.
func mutate(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestStrictParsing(t *testing.T) {
	f := fixture()
	unreduced := bytes.Clone(f.ct)
	copy(unreduced[headerSize:], bytes.Repeat([]byte{0xff}, 8)) // coefficient 0 = 2^60-1 > q_0
	lastUnreduced := bytes.Clone(f.ct)
	copy(lastUnreduced[len(lastUnreduced)-8:], bytes.Repeat([]byte{0xff}, 8))

	cases := []struct {
		name string
		b    []byte
		err  string
	}{
		{"empty", nil, "0 bytes, too short"},
		{"header only", f.ct[:headerSize], "10 bytes, want 245770"},
		{"truncated", f.ct[:len(f.ct)-1], "245769 bytes, want 245770"},
		{"extra byte", append(bytes.Clone(f.ct), 0), "245771 bytes, want 245770"},
		{"magic", mutate(f.ct, 0, 'X'), "bad magic"},
		{"version", mutate(f.ct, 3, 2), "format version 2, want 1"},
		{"kind", f.pk, "holds a public key"},
		{"share kind", f.ksShare, "holds a key-switch share"},
		{"N", mutate(f.ct, 5, 12), "N = 2^12, want 2^13"},
		{"level", mutate(f.ct, 6, 1), "1 Q moduli (level 0), want 2 (level 1)"},
		{"P", mutate(f.ct, 7, 1), "1 P moduli, want 0"},
		{"degree", mutate(f.ct, 8, 3), "degree 2, want 1"},
		{"not NTT", mutate(f.ct, 9, 0), "not in NTT form"},
		{"Montgomery", mutate(f.ct, 9, flagNTT|flagMontgomery), "unexpected Montgomery form"},
		{"flags", mutate(f.ct, 9, flagNTT|0x80), "unknown flags"},
		{"unreduced", unreduced, "polynomial 0, modulus 0, coefficient 0 is not reduced"},
		{"unreduced last", lastUnreduced, "polynomial 1, modulus 1, coefficient 8191 is not reduced"},
	}
	for _, tc := range cases {
		_, err := ParseCiphertext(f.params, tc.b)
		require.ErrorContains(t, err, tc.err, tc.name)
		require.ErrorContains(t, err, "mhe: ciphertext: ", tc.name)
	}

	pkCases := []struct {
		name string
		b    []byte
		err  string
	}{
		{"truncated", f.pk[:len(f.pk)-8], "370690 bytes, want 370698"},
		{"N", mutate(f.pk, 5, 14), "N = 2^14, want 2^13"},
		{"no P", mutate(f.pk, 7, 0), "0 P moduli, want 1"},
		{"polys", mutate(f.pk, 8, 1), "1 polynomials, want 2"},
		{"not Montgomery", mutate(f.pk, 9, flagNTT), "not in Montgomery form"},
		{"kind", f.ct, "holds a ciphertext"},
	}
	for _, tc := range pkCases {
		_, err := ParsePublicKey(f.params, tc.b)
		require.ErrorContains(t, err, tc.err, tc.name)
	}

	require.ErrorContains(t, ValidateKeySwitchShare(f.params, f.ct), "key-switch share: encoding holds a ciphertext")
	require.ErrorContains(t, ValidateKeySwitchShare(f.params, f.ksShare[:100]), "100 bytes, want 245770")
	require.ErrorContains(t, ValidatePublicKeyShare(f.params, f.pk), "holds a public key")
	require.ErrorContains(t, ValidatePublicKeyShare(f.params, append(bytes.Clone(f.pkShare), 1)), "185355 bytes, want 185354")
}

// TestSecretsNeverPrinted prints secret types every way fmt can and checks
// that no seed or key coefficient appears.
func TestSecretsNeverPrinted(t *testing.T) {
	params := testParams(t)
	share, err := GenerateSecretShare(params)
	require.NoError(t, err)
	op, _, err := GenerateResultKey(params)
	require.NoError(t, err)

	type holder struct {
		Share  SecretShare
		PShare *SecretShare
		share  SecretShare
		op     ResultSecretKey
		Op     *ResultSecretKey
	}
	h := holder{Share: *share, PShare: share, share: *share, op: *op, Op: op}
	values := []any{share, *share, op, *op, h, &h, []*SecretShare{share}, map[string]ResultSecretKey{"k": *op}}

	var forbidden []string
	for _, s := range []*secret{share.s.open(), op.s.open()} {
		forbidden = append(forbidden,
			hex.EncodeToString(s.seed[:4]), strings.ToUpper(hex.EncodeToString(s.seed[:4])),
			strings.Trim(fmt.Sprint(s.seed[:4]), "[]"), fmt.Sprintf("%q", s.seed[:4]),
			fmt.Sprint(s.sk.Value.Q.Coeffs[0][0]), fmt.Sprint(s.sk.Value.Q.Coeffs[0][1]))
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p", "%T", "%10.3f"} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				require.NotContains(t, out, f, "%s of %T printed key material: %s", verb, v, out)
			}
		}
	}
	require.Contains(t, fmt.Sprintf("%+v", share), "REDACTED")
	require.Contains(t, fmt.Sprintf("%#v", *op), "REDACTED")
	require.Contains(t, fmt.Sprint(share), "REDACTED")
	require.Contains(t, share.String(), "REDACTED")
	require.Contains(t, op.GoString(), "REDACTED")
}

// The fuzz targets check that strict parsers never panic and that whatever
// they accept re-encodes to the same bytes (one encoding per object).

func FuzzParseCiphertext(f *testing.F) {
	fx := fixture()
	f.Add(fx.ct)
	f.Add(fx.ct[:headerSize])
	f.Add(fx.pk)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, err := ParseCiphertext(fx.params, b)
		_, id, idErr := ParseCiphertextID(fx.params, b)
		require.Equal(t, err == nil, idErr == nil)
		if err != nil {
			return
		}
		out, err := ct.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, b, out)
		require.Equal(t, ct.KeySwitchID(), id)
	})
}

func FuzzParsePublicKey(f *testing.F) {
	fx := fixture()
	f.Add(fx.pk)
	f.Add(fx.pk[:headerSize+3])
	f.Add(fx.ct)
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := ParsePublicKey(fx.params, b)
		if err != nil {
			return
		}
		out, err := pk.MarshalBinary()
		require.NoError(t, err)
		require.Equal(t, b, out)
	})
}

func FuzzParseShares(f *testing.F) {
	fx := fixture()
	f.Add(fx.ksShare)
	f.Add(fx.pkShare)
	f.Add(fx.pkShare[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		if ks, err := parseKeySwitchShare(fx.params, b); err == nil {
			out := layoutKeySwitchShare.encodePolys(fx.params, ks.Value[0].Coeffs, ks.Value[1].Coeffs)
			require.Equal(t, b, out)
		}
		if ps, err := parsePublicKeyShare(fx.params, b); err == nil {
			out := layoutPublicKeyShare.encodePolys(fx.params, joinQP(ps.Value.Q, ps.Value.P))
			require.Equal(t, b, out)
		}
	})
}

func FuzzUnmarshalSecrets(f *testing.F) {
	fx := fixture()
	f.Add(fx.secret)
	f.Add(fx.opKey)
	f.Add(fx.secret[:41])
	f.Fuzz(func(t *testing.T, b []byte) {
		var s SecretShare
		if s.UnmarshalBinary(b) == nil {
			out, err := s.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, b, out)
		}
		var k ResultSecretKey
		if k.UnmarshalBinary(b) == nil {
			out, err := k.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, b, out)
		}
	})
}

// TestPackingRoundTrip checks the bit packing on extreme values of every
// width used.
func TestPackingRoundTrip(t *testing.T) {
	for _, q := range []uint64{1<<60 - 93, 1<<61 - 1} {
		width := bits.Len64(q)
		in := make([]uint64, 256)
		for i := range in {
			in[i] = (q - 1 - uint64(i)*0x123456789) % q
		}
		in[0], in[1] = 0, q-1
		b := packResidue(nil, in, q)
		require.Len(t, b, 256*width/8)
		out := make([]uint64, len(in))
		rest, bad := unpackResidue(b, out, q)
		require.Equal(t, -1, bad)
		require.Empty(t, rest)
		require.Equal(t, in, out)

		// An unreduced input is reduced, never packed as is.
		b = packResidue(nil, append([]uint64{q, q + 5}, in[2:]...), q)
		_, bad = unpackResidue(b, out, q)
		require.Equal(t, -1, bad)
		require.Equal(t, []uint64{0, 5}, out[:2])
	}
}
