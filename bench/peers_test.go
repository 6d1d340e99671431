package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// TestPeers runs each engine's benchmark in a process of its own (so that
// its peak resident set is its alone), CLEANROOM_BENCH_COUNT times
// (default 3; -test.count), passes their output through, and prints a
// summary: each engine's median time per query with the range of the
// runs, its ratio to the hand loop's median, and its peak resident set.
// It runs only when CLEANROOM_BENCH_PEERS is set (make bench-peers sets
// it). CLEANROOM_BENCH_ENGINES (comma-separated, default all) chooses the
// engines, CLEANROOM_BENCH_TIME the -test.benchtime (default 1x).
func TestPeers(t *testing.T) {
	if os.Getenv("CLEANROOM_BENCH_PEERS") == "" {
		t.Skip("set CLEANROOM_BENCH_PEERS=1 (make bench-peers) to run the peer benchmarks")
	}
	engines := []string{"HandLoop", "DuckDB", "Cleanroom/cached", "Cleanroom/cold", "Cleanroom/decrypt", "PrivacyOnBeam"}
	if s := os.Getenv("CLEANROOM_BENCH_ENGINES"); s != "" {
		engines = strings.Split(s, ",")
	}
	count := envInt(t, "CLEANROOM_BENCH_COUNT", 3)
	benchtime := os.Getenv("CLEANROOM_BENCH_TIME")
	if benchtime == "" {
		benchtime = "1x"
	}
	d := workload(t) // generate here, once, not in a child
	fmt.Printf("workload: %d enterprises, loans of up to %d each, in %s\n", d.Enterprises, d.MaxLoans, d.Dir)

	runs := map[string][]result{}
	loads := map[string]string{}
	for _, e := range engines {
		name, sub, _ := strings.Cut(e, "/")
		pattern := "^Benchmark" + name + "$"
		if sub != "" {
			pattern += "/^" + sub + "$"
		}
		start := time.Now()
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$", "-test.bench="+pattern,
			"-test.benchtime="+benchtime, "-test.count="+strconv.Itoa(count), "-test.timeout=0")
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		rs, perr := parseBench(io.TeeReader(out, os.Stdout))
		if err := cmd.Wait(); err != nil {
			t.Errorf("%s: %v", e, err)
			continue
		}
		if perr != nil {
			t.Fatalf("%s: %v", e, perr)
		}
		for _, r := range rs {
			runs[r.name] = append(runs[r.name], r)
		}
		loads[e] = loadAverage()
		fmt.Printf("(%s: %v in all; load average %s)\n", e, time.Since(start).Round(time.Second), loads[e])
	}
	summary(os.Stdout, engines, runs, loads)
}

// loadAverage returns the 1-minute load average of the machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// result is one line of benchmark output: the name without the
// Benchmark prefix and the -GOMAXPROCS suffix, and its metrics by unit.
type result struct {
	name    string
	metrics map[string]float64
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func parseBench(r io.Reader) ([]result, error) {
	var rs []result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		res := result{name: m[1], metrics: map[string]float64{}}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", sc.Text(), err)
			}
			res.metrics[f[i+1]] = v
		}
		rs = append(rs, res)
	}
	return rs, sc.Err()
}

// stats returns the median, least and greatest of a metric over runs.
func stats(rs []result, unit string) (med, lo, hi float64, ok bool) {
	var v []float64
	for _, r := range rs {
		if x, ok := r.metrics[unit]; ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, 0, 0, false
	}
	slices.Sort(v)
	med = v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return med, v[0], v[len(v)-1], true
}

// summary prints a table of the runs: per engine the median elapsed time
// per query and its range, its ratio to the hand loop's, the same for the
// processor time, the peak resident set, the base, the decrypted columns
// (the sealed engine) and the load average when its runs ended.
func summary(w io.Writer, engines []string, runs map[string][]result, loads map[string]string) {
	hand, _, _, haveHand := stats(runs["HandLoop"], "ns/op")
	handCPU, _, _, haveHandCPU := stats(runs["HandLoop"], "cpu-s")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "engine\truns\ttime s\trange\tx hand\tcpu s\trange\tx hand\tpeak MiB\trange\tbase MiB\tcolumns MiB\tload\t")
	ratio := func(v, by float64, ok bool) string {
		if !ok {
			return "-"
		}
		return strconv.FormatFloat(v/by, 'f', 1, 64)
	}
	for _, e := range engines {
		rs := runs[e]
		med, lo, hi, ok := stats(rs, "ns/op")
		if !ok {
			fmt.Fprintf(tw, "%s\t0\t\t\t\t\t\t\t\t\t\t\t%s\t\n", e, loads[e])
			continue
		}
		cm, clo, chi, _ := stats(rs, "cpu-s")
		pm, plo, phi, _ := stats(rs, "peak-MiB")
		bm, _, _, _ := stats(rs, "base-MiB")
		cols := "-"
		if v, _, _, ok := stats(rs, "columns-MiB"); ok {
			cols = strconv.FormatFloat(v, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f–%.3f\t%s\t%.3f\t%.3f–%.3f\t%s\t%.0f\t%.0f–%.0f\t%.0f\t%s\t%s\t\n",
			e, len(rs), med/1e9, lo/1e9, hi/1e9, ratio(med, hand, haveHand),
			cm, clo, chi, ratio(cm, handCPU, haveHandCPU),
			pm, plo, phi, bm, cols, loads[e])
	}
	tw.Flush()
}
