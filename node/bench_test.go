package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkUploadEndToEnd uploads a loans CSV as a provider does: the
// client checks and hashes it, seals it with age to the node and streams
// it over TLS; the node decrypts in memory, checks every row, stores the
// ciphertext durably and logs the upload. Reported in plaintext MB/s.
func BenchmarkUploadEndToEnd(b *testing.B) {
	r := newRoom(b, 10)
	var sb strings.Builder
	sb.WriteString("loan_id,uscc,amount,green\n")
	for i := range 400_000 {
		fmt.Fprintf(&sb, "L%07d,91650100MA%08d,%d,%t\n", i, i/3, 10000+i*7, i%3 == 0)
	}
	path := filepath.Join(b.TempDir(), "loans.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s := schemas["loans"]
	b.SetBytes(int64(sb.Len()))
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.c.UploadCSV(context.Background(), r.parties["bank"].signer, "loans", &s, path, nil); err != nil {
			b.Fatal(err)
		}
	}
}
