package fingerprint

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xjdata/cleanroom/schema"
)

func testKey(t *testing.T) *Key {
	k, err := ParseKey([]byte("CLEANROOM-FINGERPRINT-KEY-1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"))
	require.NoError(t, err)
	return k
}

func TestTokenIsTheSpecifiedHMAC(t *testing.T) {
	k := testKey(t)
	z, err := NewTokenizer(k)
	require.NoError(t, err)
	mac := hmac.New(sha256.New, k.k[:])
	mac.Write([]byte("cleanroom/fingerprint/v1\x00string\x0091650100MA77XQ0L5T"))
	want := hex.EncodeToString(mac.Sum(nil)[:16])
	require.Equal(t, want, z.Token(schema.String, "91650100MA77XQ0L5T"))
	require.True(t, Valid(want))
}

func TestEqualValuesJoinOtherValuesDoNot(t *testing.T) {
	z, err := NewTokenizer(testKey(t))
	require.NoError(t, err)
	a := z.Token(schema.String, "x")
	require.Equal(t, a, z.Token(schema.String, "x"))
	require.NotEqual(t, a, z.Token(schema.String, "y"))
	require.NotEqual(t, z.Token(schema.Int, "1"), z.Token(schema.String, "1"), "types are separated")

	other, err := Generate()
	require.NoError(t, err)
	z2, err := NewTokenizer(other)
	require.NoError(t, err)
	require.NotEqual(t, a, z2.Token(schema.String, "x"), "another key gives other tokens")
}

func TestColumn(t *testing.T) {
	z, err := NewTokenizer(testKey(t))
	require.NoError(t, err)
	ints := z.Column(schema.Date, &schema.Vector{Type: schema.Date, Ints: []int64{0, 1}})
	require.Equal(t, schema.String, ints.Type)
	require.Equal(t, z.Token(schema.Date, "1970-01-02"), ints.Strs[1])
	strs := z.Column(schema.String, &schema.Vector{Type: schema.String, Strs: []string{"a", "a"}})
	require.Equal(t, strs.Strs[0], strs.Strs[1])
}

func TestKeyTextRoundTripAndSecrecy(t *testing.T) {
	k, err := Generate()
	require.NoError(t, err)
	text, err := k.MarshalText()
	require.NoError(t, err)
	back, err := ParseKey(text)
	require.NoError(t, err)
	require.Equal(t, k.k, back.k)
	secret := string(text[len(textPrefix):])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		require.NotContains(t, fmt.Sprintf(verb, k), secret[:16], verb)
	}
	for _, bad := range []string{"", "CLEANROOM-FINGERPRINT-KEY-1 ", textPrefix + strings.Repeat("A", 64), textPrefix + strings.Repeat("0", 63), textPrefix + strings.Repeat("g", 64), "x" + string(text)} {
		_, err := ParseKey([]byte(bad))
		require.Error(t, err, "%q", bad)
		if len(bad) > len(textPrefix) {
			require.NotContains(t, err.Error(), bad[len(textPrefix):])
		}
	}
	_, err = NewTokenizer(&Key{})
	require.Error(t, err)
}

func FuzzParseKey(f *testing.F) {
	f.Add([]byte("CLEANROOM-FINGERPRINT-KEY-1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKey(b)
		if err != nil {
			return
		}
		text, err := k.MarshalText()
		if err != nil || string(text) != strings.TrimSuffix(string(b), "\n") {
			t.Fatalf("round trip: %q -> %q, %v", b, text, err)
		}
	})
}

func BenchmarkToken(b *testing.B) {
	k, _ := Generate()
	z, _ := NewTokenizer(k)
	b.ReportAllocs()
	for b.Loop() {
		z.Token(schema.String, "91650100MA77XQ0L5T")
	}
}
