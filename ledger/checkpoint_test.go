package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

// TestCheckpointIsC2SP parses a checkpoint by the C2SP tlog-checkpoint and
// signed-note specifications, without this package or x/mod/sumdb/note, and
// checks its Ed25519 signature with crypto/ed25519.
func TestCheckpointIsC2SP(t *testing.T) {
	l := openTest(t, t.TempDir())
	appendN(t, l, 5)
	signed := string(l.Checkpoint())

	text, sigs, ok := strings.Cut(signed, "\n\n")
	require.True(t, ok, "a blank line separates text and signatures")
	text += "\n"
	m := regexp.MustCompile(`^([^\n]+)\n(0|[1-9][0-9]*)\n([A-Za-z0-9+/]{43}=)\n$`).FindStringSubmatch(text)
	require.NotNil(t, m, "body is origin, size, base64 root: %q", text)
	require.Equal(t, testOrigin, m[1])
	size, err := strconv.ParseUint(m[2], 10, 64)
	require.NoError(t, err)
	require.EqualValues(t, 5, size)
	root, err := base64.StdEncoding.DecodeString(m[3])
	require.NoError(t, err)
	require.Equal(t, l.tree.root(), root)

	// Signature line: "— <key name> <base64(key hash (4) || signature)>".
	sm := regexp.MustCompile(`^\x{2014} (\S+) ([A-Za-z0-9+/=]+)\n$`).FindStringSubmatch(sigs)
	require.NotNil(t, sm, "one signature line: %q", sigs)
	require.Equal(t, "cleanroom-test-node", sm[1])
	raw, err := base64.StdEncoding.DecodeString(sm[2])
	require.NoError(t, err)
	require.Len(t, raw, 4+ed25519.SignatureSize)

	// The verifier key is "<name>+<hash hex>+base64(0x01 || public key)", and
	// the key hash is the first 4 bytes of SHA-256(name || "\n" || 0x01 || key).
	parts := strings.Split(insecureTestVKey, "+")
	pub, err := base64.StdEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	require.Equal(t, byte(1), pub[0], "Ed25519")
	kh := sha256.Sum256(append([]byte(parts[0]+"\n"), pub...))
	require.Equal(t, binary.BigEndian.Uint32(kh[:]), binary.BigEndian.Uint32(raw))
	require.True(t, ed25519.Verify(pub[1:], []byte(text), raw[4:]), "signature over the text")
}

func signText(tb testing.TB, text string) []byte {
	tb.Helper()
	b, err := note.Sign(&note.Note{Text: text}, testSigner(tb))
	require.NoError(tb, err)
	return b
}

const testRootB64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

func TestParseCheckpoint(t *testing.T) {
	good := signText(t, "o\n12\n"+testRootB64+"\n")
	cp, err := ParseCheckpoint(good, testVerifier(t))
	require.NoError(t, err)
	require.Equal(t, &Checkpoint{Origin: "o", Size: 12, Root: hasher.EmptyRoot()}, cp)

	for _, tc := range []struct {
		desc string
		text string
	}{
		{"extension line", "o\n12\n" + testRootB64 + "\nextra\n"},
		{"missing root", "o\n12\n"},
		{"empty origin", "\n12\n" + testRootB64 + "\n"},
		{"leading zero", "o\n012\n" + testRootB64 + "\n"},
		{"plus sign", "o\n+12\n" + testRootB64 + "\n"},
		{"negative", "o\n-1\n" + testRootB64 + "\n"},
		{"size overflow", "o\n18446744073709551616\n" + testRootB64 + "\n"},
		{"size with space", "o\n12 \n" + testRootB64 + "\n"},
		{"short root", "o\n12\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n"},
		{"long root", "o\n12\n" + base64.StdEncoding.EncodeToString(make([]byte, 33)) + "\n"},
		{"unpadded root", "o\n12\n" + strings.TrimSuffix(testRootB64, "=") + "\n"},
		{"url base64 root", "o\n12\n" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n"},
		{"non-canonical root", "o\n12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParseCheckpoint(signText(t, tc.text), testVerifier(t))
			require.Error(t, err)
		})
	}

	t.Run("max size", func(t *testing.T) {
		cp, err := ParseCheckpoint(signText(t, "o\n18446744073709551615\n"+testRootB64+"\n"), testVerifier(t))
		require.NoError(t, err)
		require.Equal(t, uint64(1<<64-1), cp.Size)
	})
	t.Run("other key", func(t *testing.T) {
		b, err := note.Sign(&note.Note{Text: "o\n12\n" + testRootB64 + "\n"}, otherSigner(t))
		require.NoError(t, err)
		_, err = ParseCheckpoint(b, testVerifier(t))
		require.Error(t, err)
	})
	t.Run("cosigned", func(t *testing.T) {
		b, err := note.Sign(&note.Note{Text: "o\n12\n" + testRootB64 + "\n"}, testSigner(t), otherSigner(t))
		require.NoError(t, err)
		_, err = ParseCheckpoint(b, testVerifier(t))
		require.NoError(t, err, "signatures by unknown keys (witnesses) are allowed")
	})
	t.Run("bad signature", func(t *testing.T) {
		b := bytes.Clone(good)
		i := bytes.LastIndexByte(b[:len(b)-2], '=') - 10
		b[i] ^= 1
		_, err := ParseCheckpoint(b, testVerifier(t))
		require.ErrorIs(t, err, ErrSecurity)
	})
	t.Run("non-canonical signature base64", func(t *testing.T) {
		// 68 signature bytes encode to 92 characters ending in "x=": the
		// last character's low 2 bits are padding, which note.Open ignores.
		b := bytes.Clone(good)
		last := len(b) - 3 // the character before "=\n"
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		b[last] = alphabet[strings.IndexByte(alphabet, b[last])|1]
		_, err := note.Open(b, note.VerifierList(testVerifier(t)))
		require.NoError(t, err, "note.Open accepts it")
		_, err = ParseCheckpoint(b, testVerifier(t))
		require.Error(t, err, "ParseCheckpoint does not")
	})
	t.Run("too large", func(t *testing.T) {
		_, err := ParseCheckpoint(signText(t, strings.Repeat("o", maxCheckpointSize)+"\n1\n"+testRootB64+"\n"), testVerifier(t))
		require.Error(t, err)
	})
	t.Run("nil verifier", func(t *testing.T) {
		_, err := ParseCheckpoint(good, nil)
		require.Error(t, err)
	})
}

// FuzzParseCheckpoint feeds ParseCheckpoint both raw notes and bodies
// signed with the test key. It never crashes, and whatever it accepts
// formats back to the very text that was signed.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add(signText(f, "o\n12\n"+testRootB64+"\n"))
	f.Add([]byte("o\n12\n" + testRootB64 + "\n"))
	f.Add([]byte("cleanroom.example/test\n0\n" + testRootB64 + "\n"))
	s, v := testSigner(f), testVerifier(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if cp, err := ParseCheckpoint(data, v); err == nil {
			text := string(data[:bytes.LastIndex(data, []byte("\n\n"))+1])
			require.Equal(t, text, cp.text())
		}
		signed, err := note.Sign(&note.Note{Text: string(data)}, s)
		if err != nil {
			return
		}
		cp, err := ParseCheckpoint(signed, v)
		if err != nil {
			return
		}
		require.Equal(t, string(data), cp.text())
		again, err := signCheckpoint(cp, s)
		require.NoError(t, err)
		require.Equal(t, signed, again)
	})
}
