package ledger

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// TestProofFormatPinned pins the tlog-proof text of one proof, written out
// by hand from https://c2sp.org/tlog-proof.
func TestProofFormatPinned(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for _, e := range []string{"a", "hello", "{\"kind\":\"decision\"}"} {
		_, err := l.Append([]byte(e))
		require.NoError(t, err)
	}
	got, err := l.Proof(2, []byte("release 7"))
	require.NoError(t, err)
	const want = "c2sp.org/tlog-proof@v1\n" +
		"extra cmVsZWFzZSA3\n" +
		"index 2\n" +
		// SHA-256(0x01 || leaf("a") || leaf("hello")), the only sibling of
		// leaf 2 in a tree of 3 (computed with Python's hashlib).
		"RWvrH80WHaz8IznCS8XZtyqOf372hT29fS5+0JLqXUI=\n" +
		"\n" +
		"cleanroom.example/test\n" +
		"3\n" +
		"LEGMXhkpWhDcHnthjpQDyE2H16NZONY/JXqvjAQy6rc=\n" +
		"\n" +
		"— cleanroom-test-node UY6+k8LGAP5rFt0VrG6pBvzPVo0RMHhzFk1R56NWoXVZkRbU3sYG+LO1hlpQvrmqh/t7sk/WJNK16RdzTKJMcxo9swA=\n"
	require.Equal(t, want, string(got))
	sibling := hasher.HashChildren(hasher.HashLeaf([]byte("a")), hasher.HashLeaf([]byte("hello")))
	require.Equal(t, "RWvrH80WHaz8IznCS8XZtyqOf372hT29fS5+0JLqXUI=", base64.StdEncoding.EncodeToString(sibling))

	p, err := ParseProof(got)
	require.NoError(t, err)
	require.Equal(t, &Proof{Index: 2, Hashes: [][]byte{sibling}, Checkpoint: l.Checkpoint(), Extra: []byte("release 7")}, p)
	require.Equal(t, got, p.Format())
	cp, err := p.Verify([]byte("{\"kind\":\"decision\"}"), testVerifier(t))
	require.NoError(t, err)
	require.EqualValues(t, 3, cp.Size)

	got, err = l.Proof(0, nil)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(got), "c2sp.org/tlog-proof@v1\nindex 0\n"), "no extra line")
	_, err = l.Proof(3, nil)
	require.Error(t, err)
}

// TestEveryProofVerifies checks the proofs of every entry of a log against
// every checkpoint that covers it, with Proof.Verify and with merkle's
// proof.VerifyInclusion.
func TestEveryProofVerifies(t *testing.T) {
	const n = 40
	src := newSource(t, n, testEntry)
	l := openTest(t, src.dir)
	v := testVerifier(t)
	for size := uint64(1); size <= n; size++ {
		cp := mustParse(t, src.checkpoints[size])
		for i := range size {
			hashes, err := l.InclusionProof(i, size)
			require.NoError(t, err)
			text := FormatProof(i, hashes, src.checkpoints[size], nil)
			p, err := ParseProof(text)
			require.NoError(t, err)
			require.Equal(t, text, p.Format())
			got, err := p.Verify(testEntry(i), v)
			require.NoError(t, err, "entry %d in size %d", i, size)
			require.Equal(t, cp, got)
			require.NoError(t, proof.VerifyInclusion(hasher, p.Index, cp.Size, hasher.HashLeaf(testEntry(i)), p.Hashes, cp.Root))

			_, err = p.Verify(testEntry(i+1), v)
			require.ErrorIs(t, err, ErrSecurity, "another entry")
			if len(p.Hashes) > 0 {
				bad := *p
				bad.Hashes = append([][]byte(nil), p.Hashes...)
				bad.Hashes[0] = bytes.Repeat([]byte{1}, 32)
				_, err = bad.Verify(testEntry(i), v)
				require.ErrorIs(t, err, ErrSecurity, "another hash")
			}
		}
	}
	for i := range uint64(n) {
		text, err := l.Proof(i, nil)
		require.NoError(t, err)
		p, err := ParseProof(text)
		require.NoError(t, err)
		_, err = p.Verify(testEntry(i), v)
		require.NoError(t, err)
	}

	text, err := l.Proof(5, nil)
	require.NoError(t, err)
	p, err := ParseProof(text)
	require.NoError(t, err)
	other, err := noteVerifier(insecureOtherVKey)
	require.NoError(t, err)
	_, err = p.Verify(testEntry(5), other)
	require.Error(t, err, "not signed by that key")
}

func TestParseProofStrict(t *testing.T) {
	cp := signText(t, "o\n12\n"+testRootB64+"\n")
	h := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 32))
	good := "c2sp.org/tlog-proof@v1\nextra AQI=\nindex 7\n" + h + "\n" + h + "\n\n" + string(cp)
	p, err := ParseProof([]byte(good))
	require.NoError(t, err)
	require.Equal(t, []byte{1, 2}, p.Extra)
	require.EqualValues(t, 7, p.Index)
	require.Len(t, p.Hashes, 2)
	require.Equal(t, good, string(p.Format()))

	for _, tc := range []struct{ desc, text string }{
		{"empty", ""},
		{"other version", "c2sp.org/tlog-proof@v2\nindex 7\n\n" + string(cp)},
		{"header with CR", "c2sp.org/tlog-proof@v1\r\nindex 7\n\n" + string(cp)},
		{"no index", "c2sp.org/tlog-proof@v1\n" + h + "\n\n" + string(cp)},
		{"extra after index", "c2sp.org/tlog-proof@v1\nindex 7\nextra AQI=\n\n" + string(cp)},
		{"empty extra", "c2sp.org/tlog-proof@v1\nextra \nindex 7\n\n" + string(cp)},
		{"unpadded extra", "c2sp.org/tlog-proof@v1\nextra AQI\nindex 7\n\n" + string(cp)},
		{"non-canonical extra", "c2sp.org/tlog-proof@v1\nextra AQJ=\nindex 7\n\n" + string(cp)},
		{"extra with CR", "c2sp.org/tlog-proof@v1\nextra AQI=\r\nindex 7\n\n" + string(cp)},
		{"index leading zero", "c2sp.org/tlog-proof@v1\nindex 07\n\n" + string(cp)},
		{"index sign", "c2sp.org/tlog-proof@v1\nindex +7\n\n" + string(cp)},
		{"index space", "c2sp.org/tlog-proof@v1\nindex  7\n\n" + string(cp)},
		{"index overflow", "c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\n" + string(cp)},
		{"short hash", "c2sp.org/tlog-proof@v1\nindex 7\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n\n" + string(cp)},
		{"long hash", "c2sp.org/tlog-proof@v1\nindex 7\n" + base64.StdEncoding.EncodeToString(make([]byte, 33)) + "\n\n" + string(cp)},
		{"url base64 hash", "c2sp.org/tlog-proof@v1\nindex 7\n" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n\n" + string(cp)},
		{"non-canonical hash", "c2sp.org/tlog-proof@v1\nindex 7\n" + testRootB64[:42] + "V=\n\n" + string(cp)},
		{"hash with CR", "c2sp.org/tlog-proof@v1\nindex 7\n" + h + "\r\n\n" + string(cp)},
		{"65 hashes", "c2sp.org/tlog-proof@v1\nindex 7\n" + strings.Repeat(h+"\n", 65) + "\n" + string(cp)},
		{"no empty line", "c2sp.org/tlog-proof@v1\nindex 7\n" + h + "\n" + string(cp)},
		{"no checkpoint", "c2sp.org/tlog-proof@v1\nindex 7\n\n"},
		{"unsigned checkpoint", "c2sp.org/tlog-proof@v1\nindex 7\n\no\n12\n" + testRootB64 + "\n"},
		{"trailing garbage", good + "x"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseProof([]byte(tc.text))
			require.Error(t, err)
		})
	}
	t.Run("64 hashes", func(t *testing.T) {
		_, err := ParseProof([]byte("c2sp.org/tlog-proof@v1\nindex 7\n" + strings.Repeat(h+"\n", 64) + "\n" + string(cp)))
		require.NoError(t, err)
	})
	t.Run("cosigned checkpoint", func(t *testing.T) {
		b, err := note.Sign(&note.Note{Text: "o\n12\n" + testRootB64 + "\n"}, testSigner(t), otherSigner(t))
		require.NoError(t, err)
		_, err = ParseProof(FormatProof(0, nil, b, nil))
		require.NoError(t, err)
	})
	t.Run("too large", func(t *testing.T) {
		_, err := ParseProof(FormatProof(0, nil, cp, make([]byte, maxProofSize)))
		require.Error(t, err)
	})
}

// FuzzParseProof checks that ParseProof never crashes and that whatever it
// accepts formats back to the same bytes.
func FuzzParseProof(f *testing.F) {
	cp := signText(f, "o\n12\n"+testRootB64+"\n")
	h := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xab}, 32))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nextra AQI=\nindex 7\n" + h + "\n" + h + "\n\n" + string(cp)))
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\n" + string(cp)))
	f.Add(FormatProof(1, [][]byte{make([]byte, 32)}, cp, []byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProof(b)
		if err != nil {
			return
		}
		require.Equal(t, b, p.Format())
		require.Equal(t, b, FormatProof(p.Index, p.Hashes, p.Checkpoint, p.Extra))
		q, err := ParseProof(p.Format())
		require.NoError(t, err)
		require.Equal(t, p, q)
	})
}
