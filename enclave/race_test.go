//go:build race

package enclave

// raceEnabled is set when the race detector is on: the statistical tests
// then take fewer samples (the full counts run without it, in make test's
// second step), since they are single-threaded and many times slower
// under the detector.
const raceEnabled = true
