// Package dp is the clean room's thin layer over Google's differential
// privacy library (github.com/google/differential-privacy/go/v3, packages
// dpagg and noise). It never samples noise itself: every noisy value comes
// from the library's mechanisms.
//
// # Budget accounting
//
// Privacy budgets are kept as exact integers: an [Epsilon] counts millionths
// of ε, so that adding and subtracting the cost of many queries never drifts
// the way float64 sums do, and an auditor replaying the ledger gets the same
// balance to the last unit. [ParseEpsilon] accepts plain decimals with at
// most six fractional digits ("3", "0.5", "0.000001"); [Epsilon.String]
// prints them back in canonical form. [Epsilon.Add] and [Epsilon.Sub] refuse
// to overflow or to go below zero ([ErrOverspent]).
//
// # Aggregations
//
// [NewCount], [NewBoundedSumInt64], [NewBoundedMean] and [NewSelection] wrap
// the library's aggregations with validated options. The privacy parameters
// keep the library's names: Epsilon, Delta, MaxPartitionsContributed (the L0
// sensitivity: how many partitions one privacy unit may contribute to) and
// MaxContributionsPerPartition (how many rows one unit may contribute to a
// single partition). Bounding a unit's contributions to these limits is the
// caller's job; these types only scale the noise to them and, where the
// library does, clamp values to the declared bounds.
//
// Noise defaults to the library's Laplace mechanism. A nil Noise always
// becomes noise.Laplace() explicitly, so the library's noise-kind
// bookkeeping sees a known mechanism.
//
// A noisy value that this process cannot see (an encrypted sum, in
// multiparty HE mode) gets the library's noise for a given calibration as
// the result of an aggregation to which nothing was added.
// [BoundedMean.ResultParts] gives the two noisy parts a mean is computed
// from (count and normalised sum) and [MeanFromParts] computes the mean
// from them exactly as the library does. [NoiseGranularity] tells the
// lattice the library draws noise on: when it is coarser than the hidden
// value's integer step, adding a sample drawn for 0 would reveal the value
// modulo the granularity, so such calibrations must be refused.
//
// Every aggregation spends its budget when its result is produced, and so
// produces a result once only: a second call fails with an error wrapping
// [ErrSpent] (the library refuses as well; its message is kept).
//
// # Post-processing
//
// Results are returned as the library gives them: a noisy count may be
// negative, a noisy bounded sum may lie outside [n·Lower, n·Upper]. Callers
// may clamp them; that is post-processing and costs no budget, but adds
// bias.
package dp
