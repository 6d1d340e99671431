package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Peak memory is the kernel's high-water mark of the process's resident
// set (VmHWM in /proc/self/status), not a Go runtime figure: DuckDB
// allocates outside the Go heap, and the resident set is what the machine
// must have. Before the timed loop the benchmark collects garbage, returns
// free memory to the kernel and resets the mark (writing 5 to
// /proc/self/clear_refs), so that the peak covers the engine's resident
// data (its tables: the "base") and what its queries add, not the loading.
// Each engine runs in a process of its own (see TestPeers), so that no
// engine's leftovers count against another.
//
// The benchmarks also report cpu-s: the processor time (user and system,
// all threads, DuckDB's included) the process spent per query in the
// timed loop. On a machine that others share it moves less than the
// elapsed time, which grows with the load.

// procStatus returns a field of /proc/self/status in bytes.
func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// meter is what startPeak saw: the resident set and the processor time.
type meter struct {
	base int64
	cpu  time.Duration
}

func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startPeak frees what is garbage, resets the high-water mark and returns
// the resident set then (the base) and the processor time so far.
func startPeak(tb testing.TB) meter {
	tb.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Fatalf("resetting the peak resident set: %v", err)
	}
	base, err := procStatus("VmRSS")
	if err != nil {
		tb.Fatal(err)
	}
	return meter{base: base, cpu: cpuTime(tb)}
}

// reportPeak reports the peak resident set since startPeak and the base,
// in MiB, and the processor time per query since, in seconds.
func reportPeak(b *testing.B, m meter) {
	b.Helper()
	cpu := cpuTime(b) - m.cpu
	peak, err := procStatus("VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(m.base)/(1<<20), "base-MiB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
}
