package enclave

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestIngestMemoryFlat streams an upload of CLEANROOM_INGEST_GIB GiB of
// ciphertext (make test skips it; make test-memory runs 10 GiB) through
// Ingest, generated and encrypted on the fly: the process's peak resident
// memory rises by less than 64 MiB over its level before the upload.
func TestIngestMemoryFlat(t *testing.T) {
	gib, _ := strconv.ParseFloat(os.Getenv("CLEANROOM_INGEST_GIB"), 64)
	if gib <= 0 {
		t.Skip("set CLEANROOM_INGEST_GIB (make test-memory)")
	}
	c := newCustody(t)
	dir := filepath.Join(t.TempDir(), "store")
	s, err := OpenStore(dir, c, mustKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.maxUpload = 1 << 40
	want := int64(gib * (1 << 30))

	pr, pw := io.Pipe()
	go func() {
		r, _ := age.ParseHybridRecipient(c.Recipient())
		bw := bufio.NewWriterSize(pw, 1<<20)
		w, err := age.Encrypt(bw, r)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		fmt.Fprintf(w, "loan_id,uscc,amount,green,borrower_name\n")
		var n int64
		row := make([]byte, 0, 128)
		for i := 0; n < want; i++ {
			row = row[:0]
			row = append(row, 'L')
			row = strconv.AppendInt(row, int64(i), 10)
			row = append(row, ",91650100MA00000001,"...)
			row = strconv.AppendInt(row, int64(i%1000000), 10)
			row = append(row, ",true,"...)
			row = append(row, strings.Repeat("x", 40)...)
			row = append(row, '\n')
			w.Write(row)
			n += int64(len(row))
		}
		if err := w.Close(); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(bw.Flush())
	}()
	runtime.GC()
	debug.FreeOSMemory()
	before := rssNow(t)
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak resident memory: %v", err)
	}
	rc, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "big.csv", pr)
	if err != nil {
		t.Fatal(err)
	}
	peak := peakNow(t)
	t.Logf("%d rows, %.2f GiB of plaintext, %.2f GiB of ciphertext; resident memory %d MiB before, peak %d MiB (+%d MiB)",
		rc.Rows, float64(rc.PlaintextBytes)/(1<<30), float64(rc.CiphertextBytes)/(1<<30), before>>20, peak>>20, (peak-before)>>20)
	if peak-before >= 64<<20 {
		t.Errorf("the upload raised resident memory by %d MiB (the limit is 64)", (peak-before)>>20)
	}
}

func procStatus(t *testing.T, key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", key)
	return 0
}

func rssNow(t *testing.T) int64  { return procStatus(t, "VmRSS") }
func peakNow(t *testing.T) int64 { return procStatus(t, "VmHWM") }
