// Package dptest provides a deterministic stand-in for differential privacy
// noise, for tests only. It gives no privacy at all: never use it outside
// tests.
package dptest

import (
	"flag"
	"os"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
)

// InsecureNoNoise is a noise.Noise that adds no noise, so that tests can
// check exact aggregates. Its Threshold is the value of the field (0 keeps
// every partition with at least one unit). Confidence intervals are [x, x].
//
// Safe for concurrent use.
type InsecureNoNoise struct {
	// ThresholdValue is what Threshold returns. Defaults to 0.
	ThresholdValue float64
}

var _ noise.Noise = InsecureNoNoise{}

// AddNoiseInt64 returns x.
func (InsecureNoNoise) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error) { return x, nil }

// AddNoiseFloat64 returns x.
func (InsecureNoNoise) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) {
	return x, nil
}

// Threshold returns n.ThresholdValue.
func (n InsecureNoNoise) Threshold(_ int64, _, _, _, _ float64) (float64, error) {
	return n.ThresholdValue, nil
}

// ComputeConfidenceIntervalInt64 returns [noisedX, noisedX].
func (InsecureNoNoise) ComputeConfidenceIntervalInt64(noisedX, _, _ int64, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: float64(noisedX), UpperBound: float64(noisedX)}, nil
}

// ComputeConfidenceIntervalFloat64 returns [noisedX, noisedX].
func (InsecureNoNoise) ComputeConfidenceIntervalFloat64(noisedX float64, _ int64, _, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: noisedX, UpperBound: noisedX}, nil
}

// Main runs a package's tests with the DP library's glog output (it warns
// about unrecognised test noise) sent to a temporary directory instead of
// /tmp, and removes it afterwards. Call it from TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "dp-glog-")
	if err != nil {
		panic(err)
	}
	if f := flag.Lookup("log_dir"); f != nil {
		_ = f.Value.Set(dir)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
