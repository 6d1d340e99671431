package bench

import (
	"math"
	"strings"
	"testing"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkHandLoop-2   	       1	3827348018 ns/op	       691.4 base-MiB	         1.304 cpu-s	  10006795 loans	       744.8 peak-MiB
BenchmarkCleanroom/cached-2         	       1	 36184070 ns/op	       161.0 base-MiB	        29.58 columns-MiB	       166.6 peak-MiB
BenchmarkCleanroom/cached-2         	       1	 35165864 ns/op	       162.7 base-MiB	        29.58 columns-MiB	       168.2 peak-MiB
BenchmarkCleanroom/cached-2         	       1	 40000000 ns/op	       162.7 base-MiB	        29.58 columns-MiB	       170.0 peak-MiB
PASS
`
	rs, err := parseBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 || rs[0].name != "HandLoop" || rs[1].name != "Cleanroom/cached" {
		t.Fatalf("parsed %+v", rs)
	}
	if rs[0].metrics["ns/op"] != 3827348018 || rs[0].metrics["cpu-s"] != 1.304 || rs[0].metrics["loans"] != 10006795 {
		t.Errorf("metrics %v", rs[0].metrics)
	}
	med, lo, hi, ok := stats(rs[1:], "ns/op")
	if !ok || med != 36184070 || lo != 35165864 || hi != 40000000 {
		t.Errorf("stats: %v %v %v %v", med, lo, hi, ok)
	}
	if med, _, _, _ := stats(rs[1:3], "peak-MiB"); math.Abs(med-167.4) > 1e-9 {
		t.Errorf("median of two: %v", med)
	}
	if _, _, _, ok := stats(rs, "no-such-unit"); ok {
		t.Error("stats of a missing metric")
	}
}
