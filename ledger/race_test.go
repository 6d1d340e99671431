//go:build race

package ledger

// raceEnabled is set when the race detector is on: the sampled-flip test
// then makes fewer flips (the full count runs without it, in make test's
// second step), since its verifications are many times slower under the
// detector.
const raceEnabled = true
