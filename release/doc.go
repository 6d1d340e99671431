// Package release is the public contract of a release in multiparty HE
// mode: what each value of the result is, where it travels (which
// ciphertext, which coefficient), how it is noised, and how the noisy
// values become the result rows. The node, each provider's agent and the
// operator's client compute it identically from the approved plan, the
// datasets' schemas and the privacy parameters; an agent re-derives the
// noise calibration itself and trusts the node for nothing but the number
// of released groups. The package is pure: no I/O, no randomness of its
// own (noise comes from protocols/dp, that is from Google's DP library).
//
// # Values
//
// A plan's aggregates ([Agg], from [NewAggs]) are computed per released
// group as integer values ([Value], of a [Kind]):
//
//   - COUNT(*) and COUNT(col): the group's kept rows (there are no nulls).
//   - SUM(col): the sum of the column over the group's kept rows.
//   - AVG(col): two values, AvgSum2 = 2·S − (Min+Max)·C and AvgCount = C,
//     where S is the sum and C the number of kept rows. AvgSum2 is twice
//     the DP library's normalised sum Σ(x − (Min+Max)/2), an integer.
//
// Each SUM and each AVG's AvgSum2 over an encrypted column has its own
// ciphertext, holding the value at coefficient 0: one per group and such
// aggregate, numbered in (group, aggregate) order. All other values
// (counts, sums over clear columns, both AVG parts over clear columns, and
// the AvgCount of encrypted AVGs) go, in (group, aggregate) order, into
// one "clear vector" at positions 0, 1, 2, …, which the crypto layer
// encrypts as one more ciphertext. See [NewLayout].
//
// # Semantics and noise
//
// Sealed execution (enclave.Execute) and HE mode release the same thing.
// A unit keeps rows in at most L0 groups and at most L∞ rows per group
// (L∞ = [Privacy].LInf, the product of MaxRowsPerUnit over the plan's
// tables). Each aggregate and the group selection get ε/(k+1) of the
// query's ε, for k aggregates. Declared bounds [Min, Max] bound a row's
// value, so a unit's total in one group lies in the hull
// H = [min(Min, L∞·Min), max(Max, L∞·Max)] ([Hull]), which is the sum's
// bounds: no value is ever clamped. The noise of each value
// ([Layout.Noise]) is drawn through protocols/dp with the calibration of
// the sealed aggregation it stands for:
//
//   - Count: dp.Count with L0 and L∞.
//   - Sum: dp.BoundedSumInt64 over H with L0.
//   - AvgSum2 and AvgCount: the parts of dp.BoundedMean over [Min, Max]
//     with L0 and L∞ (the library splits the mean's ε between a count and
//     a normalised sum); AvgSum2 gets twice the normalised sum's noise,
//     rounded to an integer.
//
// Each sample is the result of an aggregation to which nothing was added,
// so it is the library's noise for that calibration exactly. Added to the
// hidden exact value, it gives the value the sealed aggregation would
// release, up to the library's rounding of that value to its noise
// granularity. The library draws noise on a lattice (multiples of a power
// of two g); when g exceeds the value's integer step the noisy value would
// reveal the hidden value modulo g, so [Check] and [Layout.Noise] refuse
// such calibrations (for Laplace noise, a noise scale above 2⁴⁰, or 2³⁹
// for AVG).
//
// # Result rows
//
// [Layout.Finish] turns the noisy values into rows exactly as the sealed
// execution formats them: a COUNT below zero shows as 0, a SUM is kept on
// the side of zero H allows, an AVG is computed from its noisy parts with
// the library's BoundedMean arithmetic (dp.MeanFromParts), clamped to
// [Min, Max] and shown with two decimals; grouping values are interleaved
// as the plan's outputs order them.
//
// # Overflow
//
// Encrypted arithmetic is exact only below a limit (the crypto layer's
// MaxExactSum). [MaxAbs] gives the largest absolute value of a kind over a
// given number of kept rows, for a static pre-check by the policy engine;
// [Layout.CheckOverflow] checks every encrypted value of a release against
// a limit from the groups' actual kept-row counts.
package release
