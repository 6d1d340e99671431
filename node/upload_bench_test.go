package node_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/examples/greencredit/gen"
	"github.com/xjdata/cleanroom/policy"
)

// BenchmarkUploadLarge uploads the example generator's electricity table at
// the sizes CLEANROOM_UPLOAD_GIB lists (for example "1,4"; skipped when
// unset; CLEANROOM_UPLOAD_PART_MIB sets the part size), client and node
// in this process, as a provider does: read and checked, encoded in the
// columnar form, sealed in parts, sent over TLS, decrypted, its blocks
// checked again, re-sealed under the dataset's key and fsynced. It reports the
// plaintext rate and the process's peak resident memory (VmHWM, reset
// before each size), which covers client and node together.
func BenchmarkUploadLarge(b *testing.B) {
	sizes := os.Getenv("CLEANROOM_UPLOAD_GIB")
	if sizes == "" {
		b.Skip("set CLEANROOM_UPLOAD_GIB, for example to 1,4 (the sizes in GiB)")
	}
	dir := os.Getenv("CLEANROOM_UPLOAD_DIR") // default: a temporary folder
	if dir == "" {
		dir = b.TempDir()
	}
	for _, f := range strings.Split(sizes, ",") {
		gib, err := strconv.ParseFloat(f, 64)
		if err != nil || gib <= 0 {
			b.Fatalf("CLEANROOM_UPLOAD_GIB: %q is not a size in GiB", f)
		}
		b.Run(fmt.Sprintf("%gGiB", gib), func(b *testing.B) {
			// About 385 bytes of electricity rows per enterprise.
			files, err := gen.Write(filepath.Join(dir, f), gen.Options{Enterprises: int(gib * (1 << 30) / 385)})
			if err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(files.Electricity)
			if err != nil {
				b.Fatal(err)
			}
			s := gen.Schemas()["electricity"]
			schemas["power"] = s
			r := newRoom(b, 1)
			r.registerDataset("power", "grid", policy.General, 12)
			resetPeak(b)
			b.SetBytes(fi.Size())
			b.ResetTimer()
			var opts client.UploadOptions
			if mib, err := strconv.Atoi(os.Getenv("CLEANROOM_UPLOAD_PART_MIB")); err == nil {
				opts.PartBytes = mib << 20
			}
			for b.Loop() {
				if _, err := r.c.UploadCSV(context.Background(), r.parties["grid"].signer, "power", &s, files.Electricity, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(peakRSS(b))/(1<<20), "peak-MiB")
			os.RemoveAll(filepath.Join(dir, f))
		})
	}
}

// resetPeak resets the process's peak resident memory (Linux 4.0+).
func resetPeak(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak resident memory: %v", err)
	}
}

// peakRSS returns the process's peak resident memory in bytes.
func peakRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
