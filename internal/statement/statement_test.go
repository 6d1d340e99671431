package statement

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

type body struct {
	A string `json:"a"`
	N int    `json:"n"`
}

func key(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(nil, name)
	require.NoError(t, err)
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	return s, v
}

func TestRoundTrip(t *testing.T) {
	s, v := key(t, "bank")
	at := time.Date(2026, 6, 1, 12, 0, 0, 5e6, time.FixedZone("XJT", 6*3600))
	msg, err := NewAt(at, KindQuery, body{A: "x", N: 3}, s)
	require.NoError(t, err)
	head, _, _ := strings.Cut(string(msg), "\n")
	f := strings.Fields(head)
	require.Len(t, f, 4)
	require.Equal(t, []string{"cleanroom/v2", "query", "2026-06-01T06:00:00.005Z"}, f[:3])
	require.Regexp(t, `^[0-9a-f]{32}$`, f[3])
	require.True(t, strings.HasPrefix(string(msg), head+"\n{\"a\":\"x\",\"n\":3}\n\n— bank "))

	st, err := Verify(msg, note.VerifierList(v))
	require.NoError(t, err)
	require.Equal(t, KindQuery, st.Kind)
	require.True(t, at.Equal(st.Time))
	require.Equal(t, f[3], st.Nonce)
	require.Equal(t, []string{"bank"}, st.Signers)
	var b body
	require.NoError(t, st.Decode(&b))
	require.Equal(t, body{A: "x", N: 3}, b)
}

func TestCountersign(t *testing.T) {
	s1, v1 := key(t, "bank")
	s2, v2 := key(t, "grid")
	msg, err := New(KindApproval, body{A: "L-7"}, s1)
	require.NoError(t, err)
	msg, err = Countersign(msg, s2)
	require.NoError(t, err)
	st, err := Verify(msg, note.VerifierList(v1, v2))
	require.NoError(t, err)
	require.Equal(t, []string{"bank", "grid"}, st.Signers)

	// Known to only one verifier: the other signature is ignored, not trusted.
	st, err = Verify(msg, note.VerifierList(v2))
	require.NoError(t, err)
	require.Equal(t, []string{"grid"}, st.Signers)
}

func TestVerifyErrors(t *testing.T) {
	s, v := key(t, "bank")
	_, other := key(t, "mallory")
	msg, err := New(KindQuery, body{A: "x"}, s)
	require.NoError(t, err)

	_, err = Verify(msg, note.VerifierList(other))
	var ue *UnsignedError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, []string{"bank"}, ue.Names)

	bad := []byte(strings.Replace(string(msg), `"a":"x"`, `"a":"y"`, 1))
	_, err = Verify(bad, note.VerifierList(v))
	var se *SignatureError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "signature by bank does not verify", err.Error())

	const stamp = " 2026-06-01T12:00:00Z 0123456789abcdef0123456789abcdef"
	for name, m := range map[string]string{
		"no header":              "hello\n{}\n",
		"unknown kind":           "cleanroom/v2 pizza" + stamp + "\n{}\n",
		"two body lines":         "cleanroom/v2 query" + stamp + "\n{}\n{}\n",
		"not json":               "cleanroom/v2 query" + stamp + "\n{x\n",
		"old version":            "cleanroom/v0 query\n{}\n",
		"version 1":              "cleanroom/v1 query\n{}\n",
		"version 1 stamped":      "cleanroom/v1 query" + stamp + "\n{}\n",
		"no nonce":               "cleanroom/v2 query 2026-06-01T12:00:00Z\n{}\n",
		"no time":                "cleanroom/v2 query 0123456789abcdef0123456789abcdef\n{}\n",
		"short nonce":            "cleanroom/v2 query 2026-06-01T12:00:00Z 0123456789abcdef\n{}\n",
		"upper-case nonce":       "cleanroom/v2 query 2026-06-01T12:00:00Z 0123456789ABCDEF0123456789abcdef\n{}\n",
		"time zone not UTC":      "cleanroom/v2 query 2026-06-01T12:00:00+06:00 0123456789abcdef0123456789abcdef\n{}\n",
		"trailing zero fraction": "cleanroom/v2 query 2026-06-01T12:00:00.500Z 0123456789abcdef0123456789abcdef\n{}\n",
		"lower-case z":           "cleanroom/v2 query 2026-06-01T12:00:00z 0123456789abcdef0123456789abcdef\n{}\n",
		"two spaces":             "cleanroom/v2 query  2026-06-01T12:00:00Z 0123456789abcdef0123456789abcdef\n{}\n",
		"extra field":            "cleanroom/v2 query" + stamp + " x\n{}\n",
	} {
		signed, err := Sign([]byte(m), s)
		require.NoError(t, err, name)
		_, err = Verify(signed, note.VerifierList(v))
		require.ErrorIs(t, err, ErrMalformed, name)
	}
	_, err = Verify(make([]byte, MaxBytes+1), note.VerifierList(v))
	require.ErrorIs(t, err, ErrMalformed)
}

func TestDecodeStrict(t *testing.T) {
	s, v := key(t, "bank")
	msg, err := Sign([]byte("cleanroom/v2 query 2026-06-01T12:00:00Z 0123456789abcdef0123456789abcdef\n{\"a\":\"x\",\"extra\":1}\n"), s)
	require.NoError(t, err)
	st, err := Verify(msg, note.VerifierList(v))
	require.NoError(t, err)
	var b body
	require.ErrorIs(t, st.Decode(&b), ErrMalformed)
}

// FuzzStatement: parsing never panics, and whatever parses re-encodes to
// the same text.
func FuzzStatement(f *testing.F) {
	s, _ := key(f, "bank")
	good, _ := New(KindQuery, body{A: "x"}, s)
	f.Add(good)
	f.Add([]byte("cleanroom/v2 letter 2026-06-01T12:00:00Z 0123456789abcdef0123456789abcdef\nid: L-1\n\n— bank AAAA\n"))
	f.Add([]byte("cleanroom/v1 letter\nid: L-1\n\n— bank AAAA\n"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		st, err := Parse(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// Signed bytes are kept verbatim and never re-encoded; what must
		// hold is that re-encoding the body keeps its kind and meaning.
		if st.Kind == KindLetter {
			return // a letter's body is checked by policy.ParseLetter
		}
		text, err := Text(st.Kind, json.RawMessage(st.Body))
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(mustSign(t, text))
		if err != nil {
			t.Fatalf("re-encoded statement does not parse: %v", err)
		}
		var v1, v2 any
		json.Unmarshal(st.Body, &v1)
		json.Unmarshal(again.Body, &v2)
		if FormatTime(st.Time) != strings.Fields(string(st.Text))[2] || len(st.Nonce) != NonceLen {
			t.Fatalf("header fields do not round-trip: %q", strings.SplitN(string(st.Text), "\n", 2)[0])
		}
		if again.Kind != st.Kind || !reflect.DeepEqual(v1, v2) {
			t.Fatalf("re-encoding changed the statement:\n%s\n%s", st.Body, again.Body)
		}
	})
}

func mustSign(t *testing.T, text []byte) []byte {
	s, _ := key(t, "fuzz")
	b, err := Sign(text, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNonCanonicalSignatureIsMalformed flips a padding bit of a signature's
// last base64 character: the signature still decodes to the same bytes, but
// the statement's bytes changed, so it is refused.
func TestNonCanonicalSignatureIsMalformed(t *testing.T) {
	s, v := key(t, "bank")
	msg, err := New(KindQuery, body{A: "x"}, s)
	require.NoError(t, err)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := []byte(string(msg))
	k := strings.LastIndex(string(b), "=") - 1 // the character before the padding
	b[k] = alphabet[strings.IndexByte(alphabet, b[k])^1]
	_, err = note.Open(b, note.VerifierList(v))
	require.NoError(t, err, "note itself tolerates the padding bits")
	_, err = Verify(b, note.VerifierList(v))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = Parse(b)
	require.ErrorIs(t, err, ErrMalformed)
}

// reference is the plain note.Open view of a statement's signatures: the
// behaviour Verify and Check+Resolve must reproduce.
func reference(msg []byte, known note.Verifiers) ([]string, string) {
	n, err := note.Open(msg, known)
	var inv *note.InvalidSignatureError
	var unv *note.UnverifiedNoteError
	switch {
	case errors.As(err, &inv):
		return nil, "invalid:" + inv.Name
	case errors.As(err, &unv):
		return nil, "unsigned"
	case err != nil:
		return nil, "malformed"
	}
	var out []string
	for _, s := range n.Sigs {
		out = append(out, s.Name)
	}
	return out, ""
}

func outcome(st *Statement, err error) ([]string, string) {
	var se *SignatureError
	var ue *UnsignedError
	switch {
	case errors.As(err, &se):
		return nil, "invalid:" + se.Party
	case errors.As(err, &ue):
		return nil, "unsigned"
	case err != nil:
		return nil, "malformed"
	}
	return st.Signers, ""
}

// TestCheckResolveMatchesNoteOpen: over random signers, tampered
// signatures, duplicate signatures and random sets of known keys, Verify
// and Check (against every key) followed by Resolve (against the known
// ones) agree with note.Open.
func TestCheckResolveMatchesNoteOpen(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var signers []note.Signer
	var verifiers []note.Verifier
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		s, v := key(t, name)
		signers, verifiers = append(signers, s), append(verifiers, v)
	}
	all := note.VerifierList(verifiers...)
	for i := range 3000 {
		text, _ := Text(KindQuery, body{A: fmt.Sprint(i)})
		var ss []note.Signer
		for _, k := range r.Perm(5)[:1+r.IntN(4)] {
			ss = append(ss, signers[k])
		}
		msg, err := Sign(text, ss...)
		require.NoError(t, err)
		if r.IntN(3) == 0 { // a second, different signature by one signer
			other, _ := Sign([]byte(strings.Replace(string(text), `"a"`, `"a" `, 1)), ss[0])
			line := strings.SplitAfter(string(other), "\n\n")[1]
			msg = append(msg, line...)
		}
		if r.IntN(3) == 0 { // tamper with one signature, keeping it canonical
			lines := strings.Split(string(msg), "\n")
			sigLines := []int{}
			for j, l := range lines {
				if strings.HasPrefix(l, "— ") {
					sigLines = append(sigLines, j)
				}
			}
			j := sigLines[r.IntN(len(sigLines))]
			b := []byte(lines[j])
			k := len(b) - 10
			if b[k] == 'A' {
				b[k] = 'B'
			} else {
				b[k] = 'A'
			}
			lines[j] = string(b)
			msg = []byte(strings.Join(lines, "\n"))
		}
		var known []note.Verifier
		for _, v := range verifiers {
			if r.IntN(2) == 0 {
				known = append(known, v)
			}
		}
		kv := note.VerifierList(known...)
		wantSigners, wantErr := reference(msg, kv)
		if canonicalSignatures(msg) != nil {
			wantSigners, wantErr = nil, "malformed"
		}
		gotSigners, gotErr := outcome(Verify(msg, kv))
		require.Equal(t, wantErr, gotErr, "case %d: Verify", i)
		require.Equal(t, wantSigners, gotSigners, "case %d: Verify", i)
		c, err := Check(msg, all)
		if err != nil {
			require.Equal(t, "malformed", wantErr, "case %d", i)
			continue
		}
		gotSigners, gotErr = outcome(c.Resolve(kv))
		require.Equal(t, wantErr, gotErr, "case %d: Check(all)+Resolve(known)", i)
		require.Equal(t, wantSigners, gotSigners, "case %d: Check(all)+Resolve(known)", i)
	}
}
