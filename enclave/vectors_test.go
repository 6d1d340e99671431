package enclave

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	agetest "c2sp.org/CCTV/age"
	"filippo.io/age"

	"github.com/xjdata/cleanroom/connectors/csv"
)

// cctvVector is one C2SP CCTV age test vector (c2sp.org/CCTV/age).
type cctvVector struct {
	name       string
	expect     string
	payload    string // hex SHA-256 of the plaintext, for "success"
	identities []string
	passphrase bool
	armored    bool
	file       []byte // the age file, decompressed
}

func readCCTVVectors(t *testing.T) []cctvVector {
	t.Helper()
	des, err := fs.ReadDir(agetest.Vectors, ".")
	if err != nil {
		t.Fatal(err)
	}
	var out []cctvVector
	for _, de := range des {
		b, err := fs.ReadFile(agetest.Vectors, de.Name())
		if err != nil {
			t.Fatal(err)
		}
		v := cctvVector{name: de.Name()}
		r := bufio.NewReader(bytes.NewReader(b))
		compressed := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", de.Name(), err)
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				break
			}
			k, val, _ := strings.Cut(line, ": ")
			switch k {
			case "expect":
				v.expect = val
			case "payload":
				v.payload = val
			case "identity":
				v.identities = append(v.identities, val)
			case "passphrase":
				v.passphrase = true
			case "armored":
				v.armored = val == "yes"
			case "compressed":
				compressed = val == "zlib"
			}
		}
		rest, _ := io.ReadAll(r)
		if compressed {
			zr, err := zlib.NewReader(bytes.NewReader(rest))
			if err != nil {
				t.Fatal(err)
			}
			if rest, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		v.file = rest
		out = append(out, v)
	}
	return out
}

// custodyOf loads an identity as the node would: from a file of mode 0600.
func custodyOf(t *testing.T, identity string) *Custody {
	t.Helper()
	p := filepath.Join(t.TempDir(), "node.age")
	if err := os.WriteFile(p, []byte(identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCustody(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCCTVAgeVectors runs every C2SP CCTV age vector through the node's
// upload decoder, as an upload (Store.Ingest) and through Custody.Decrypt
// (the decoder of HE-mode containers), each with the vector's identity
// as the node's:
//
//   - success: the plaintext decrypts to its SHA-256 (Custody.Decrypt);
//     Ingest fails only as a CSV file would (the payloads are not CSV),
//     never as a ciphertext;
//   - no match: ErrWrongRecipient;
//   - header, HMAC, payload and armor failures: ErrBadCiphertext (a payload
//     failure may show first as the CSV error of the chunks before it);
//   - armored files and passphrase (scrypt) files, which the node does not
//     take, are refused whatever their expectation;
//
// and after every failed ingest nothing of the upload is on disk.
func TestCCTVAgeVectors(t *testing.T) {
	vectors := readCCTVVectors(t)
	if len(vectors) < 100 {
		t.Fatalf("%d vectors", len(vectors))
	}
	counts := map[string]int{}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			ids := v.identities
			if v.passphrase || len(ids) == 0 {
				// The node has no passphrase: its own identity stands in.
				id, _ := age.GenerateHybridIdentity()
				ids = []string{id.String()}
			}
			unsupported := v.armored || v.passphrase
			for _, id := range ids {
				c := custodyOf(t, id)
				outcome := decodeOutcome(t, c, v.file, v.payload)
				want := v.expect
				if unsupported {
					if outcome == "success" {
						t.Fatalf("an armored or passphrase file decrypted")
					}
				} else if want != "success" && outcome == "success" || want == "success" && outcome != "success" {
					t.Fatalf("expect %q, decoder gave %q", want, outcome)
				}
				ingestOutcome(t, c, v)
			}
			counts[v.expect]++
		})
	}
	t.Logf("vectors by expectation: %v", counts)
}

// decodeOutcome decrypts file with c and reads the plaintext to its end.
func decodeOutcome(t *testing.T, c *Custody, file []byte, payload string) string {
	r, err := c.Decrypt(bytes.NewReader(file))
	if err != nil {
		return "header: " + err.Error()
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return "payload: " + err.Error()
	}
	sum := sha256.Sum256(plain)
	if hex.EncodeToString(sum[:]) != payload {
		return "wrong plaintext"
	}
	return "success"
}

// ingestOutcome sends the vector as an upload and checks the store's
// classification, and that a failed upload leaves nothing.
func ingestOutcome(t *testing.T, c *Custody, v cctvVector) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	s, err := OpenStore(dir, c, mustKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Ingest(context.Background(), "loans", id1, uploadSchema, "v.csv", bytes.NewReader(v.file))
	if err == nil {
		t.Fatalf("the vector was stored as an upload")
	}
	var ce *csv.Error
	isCSV := errors.As(err, &ce)
	switch {
	case v.armored || v.passphrase:
		if isCSV {
			t.Fatalf("an armored or passphrase file decrypted: %v", err)
		}
	case v.expect == "success":
		if !isCSV {
			t.Fatalf("a valid age file was refused as a ciphertext: %v", err)
		}
	case v.expect == "no match":
		if !errors.Is(err, ErrWrongRecipient) {
			t.Fatalf("want ErrWrongRecipient, got %v", err)
		}
	case v.expect == "payload failure":
		if !errors.Is(err, ErrBadCiphertext) && !isCSV {
			t.Fatalf("want ErrBadCiphertext, got %v", err)
		}
	case len(v.identities) > 1:
		// The node holds one identity: with only one of the vector's,
		// a header another would have rejected may simply not match.
		if !errors.Is(err, ErrBadCiphertext) && !errors.Is(err, ErrWrongRecipient) {
			t.Fatalf("want ErrBadCiphertext or ErrWrongRecipient, got %v", err)
		}
	default:
		if !errors.Is(err, ErrBadCiphertext) {
			t.Fatalf("want ErrBadCiphertext, got %v", err)
		}
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("a failed upload left %v", got)
	}
}

// TestTruncatedAtEveryChunkBoundary: an upload cut at any of its 64 KiB
// chunk boundaries (where each prefix is a sequence of whole, valid
// chunks), or one byte either side of one, is refused as a bad ciphertext
// and leaves nothing; the whole upload is taken.
func TestTruncatedAtEveryChunkBoundary(t *testing.T) {
	s, c, dir := newStore(t)
	var plain bytes.Buffer
	plain.WriteString("loan_id,uscc,amount,green,borrower_name\n")
	for i := 0; plain.Len() < 5*64<<10+100; i++ {
		plain.WriteString("L" + strings.Repeat("0", 6) + hex.EncodeToString([]byte{byte(i >> 16), byte(i >> 8), byte(i)}) + ",91650100MA00000001,100000,true,name\n")
	}
	ct := encrypt(t, c.Recipient(), plain.Bytes())
	// The payload starts after the header line "---" and its MAC, and a
	// 16-byte nonce; each chunk is 64 KiB of plaintext and a 16-byte tag.
	start := bytes.Index(ct, []byte("\n--- "))
	start += bytes.IndexByte(ct[start+1:], '\n') + 2 + 16
	const chunk = 64<<10 + 16
	chunks := (len(ct) - start + chunk - 1) / chunk
	if chunks != 6 {
		t.Fatalf("%d chunks", chunks)
	}
	tried := 0
	for k := 0; k <= chunks; k++ {
		for _, d := range []int{-1, 0, 1} {
			n := start + k*chunk + d
			if n <= 0 || n >= len(ct) {
				continue
			}
			_, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(ct[:n]))
			if !errors.Is(err, ErrBadCiphertext) {
				t.Errorf("cut at %d (chunk boundary %d%+d): %v", n, k, d, err)
			}
			if got := files(t, dir); len(got) != 0 {
				t.Fatalf("cut at %d left %v", n, got)
			}
			tried++
		}
	}
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(ct)); err != nil {
		t.Fatalf("the whole upload: %v", err)
	}
	t.Logf("%d truncations refused", tried)
}
