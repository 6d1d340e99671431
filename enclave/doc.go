// Package enclave is the only part of the clean room that sees plaintext
// rows or the node's secret key. It holds the key ([Custody]), keeps
// uploads sealed on disk ([Store]) and runs approved plans over the
// decrypted rows, releasing only differentially private aggregates
// ([Execute]). This is the sealed mode of DESIGN.md (Art. 19: trusted
// computing); the policy engine has approved the plan and the ledger has
// recorded the decision before Execute is called. For multiparty HE mode
// it prepares a release over rows whose sensitive columns it cannot read
// ([PrepareHE]).
//
// # Key custody
//
// The node has one age identity, preferably the post-quantum hybrid
// (ML-KEM-768 + X25519) that [GenerateIdentity] creates, in a file of mode
// 0600. [LoadCustody] refuses a file that group or others can access.
// Providers encrypt to [Custody.Recipient]. The secret key never appears in
// an error, a log line or a formatted Custody.
//
// # Sealed storage
//
// An upload is stored as dir/<dataset>/<uploadID>.age: the age ciphertext
// exactly as the provider sent it. Dataset names pass schema.ValidName and
// upload IDs are 32 lower-case hex digits, so no name can reach outside the
// store's directory. [Store.Ingest] streams the ciphertext to a temporary
// file while decrypting it in memory and checking every row (a CSV) or
// every block (a client's columnar part, kept as it is) against the
// schema; only a fully valid upload is kept (fsync, rename, fsync of the
// folder). Plaintext never touches the disk. The stored plaintext is the
// node's columnar form (internal/columnar: strings dictionary-coded per
// block, an index of the blocks at the end) inside the age stream.
// [Store.Load] decrypts uploads into memory, several parts of a file at
// once (age's random access), and caches the result; [Store.LoadColumns]
// loads only the columns a plan reads ([PlanColumns]), passing over the
// others' bytes. String columns stay dictionary-coded in memory; ints
// whose declared bounds fit in 32 bits, bools and dates are held in 32
// bits (schema.Vector's Int32s); [Store]'s cache wipes their
// dictionaries, codes and values with the rest.
//
// # Execution
//
// [Execute] runs a query.Plan over in-memory [Table]s. Columns are typed
// vectors; a column that is joined, grouped, filtered as a string, used
// as the unit or counted distinct is first given dense codes (strings
// through a hash table of their column's dictionary entries, which loaded
// tables keep per block, so that a column of ten million rows and a
// million values hashes about a million strings; wide ints through a
// dictionary; narrow ints and bools directly), once per loaded table and
// kept in its cache, so that no query hashes a string or a value per row.
// A dictionary-coded column keeps no code per row: its rows' dictionary
// entries lead to their codes, and what a query looks up per code (a
// join's probes, a filter's verdicts) is made per entry once.
// Scans, joins, grouping and aggregation are split over the cores;
// contribution bounding is one sequential pass. The joined rows of a join
// without filters are kept too, in the first table's cache (the last few
// joins it started, keyed by the joined tables' caches), since an
// analyst's queries mostly join the same tables the same way.
//
//  1. Tables[0] is scanned and its filters applied (strings compared
//     through their codes). For each following table, every row so far
//     probes the index of the joined column (per value of the probing
//     column, the first row of the other table with the same value, and
//     a chain to the next: inner equi-join; a row with no match is
//     dropped, a row with several matches is repeated, in the joined
//     table's row order; when each matches exactly one, the rows so far
//     are kept as they are). Filters are AND-ed; each applies to the
//     table of its column, before the join.
//  2. The privacy unit of a joined row is the value of Tables[0]'s unit
//     column (Table.Unit), or the row of Tables[0] itself when Unit is -1.
//     Only Tables[0] defines units: the other tables are treated as
//     attributes of it, and their MaxRowsPerUnit says how many of their
//     rows one row may join to.
//  3. Contribution bounding, in scan order. A unit keeps rows in at most
//     L0 = Params.MaxGroupsPerUnit groups: its first L0 groups in scan
//     order; its rows in other groups are dropped. Within one group a unit
//     keeps at most L∞ rows, its first ones, where L∞ is the product of
//     MaxRowsPerUnit over the plan's tables; the rest are dropped. Without
//     GROUP BY there is one group, and L0 is 1.
//  4. Aggregation. With k aggregates in the select list, each aggregate and
//     the group selection get ε/(k+1) of Params.Epsilon (basic
//     composition). Each aggregate's argument is a column or an exact
//     fixed-point expression (query.Expr); a row where it is NULL (a CASE
//     without ELSE) is skipped. The engine computes exact integers over
//     the kept rows of each released group, and adds noise drawn by the
//     DP library for the library aggregation each stands for (an
//     aggregation to which nothing was added; the exact value is first
//     rounded to the noise's lattice, as the library rounds the values it
//     noises), through package release, so that sealed and HE mode
//     release the same thing:
//     COUNT(*) and COUNT(arg): the rows (with a value), as a dp.Count with
//     MaxPartitionsContributed = L0 and MaxContributionsPerPartition = L∞.
//     COUNT(DISTINCT col): the distinct values, as a dp.Count with L∞, or
//     1 when col is the privacy unit of Tables[0].
//     SUM(arg): the bounds of a row's value (declared, or the expression's)
//     bound a unit's total of at most L∞ kept rows in one group to the
//     hull H = [min(Min, L∞·Min), max(Max, L∞·Max)], which the noise of a
//     dp.BoundedSumInt64 over H with L0 is calibrated to: nothing is ever
//     clamped. A bool sums as 0 and 1. Sums are exact int64 (an overflow is
//     an error, never a wrap).
//     AVG(arg): the count C and the normalised sum 2·S − (Min+Max)·C (twice
//     the DP library's), noised as the parts of a dp.BoundedMean over
//     [Min, Max] with L∞, and combined as the library does.
//     VARIANCE and STDDEV: the exact count, normalised sum and normalised
//     sum of squares (in 192 bits), noised as the three parts of the
//     library's BoundedVariance and combined as it does (STDDEV its
//     square root): no floating-point accumulation.
//     MIN, MAX, MEDIAN and PERCENTILE: the library's BoundedQuantiles over
//     the argument's bounds (MIN the 0th percentile, MAX the 100th), fed
//     row by row and merged across cores; approximate by nature.
//  5. Group selection. Each group counts its distinct units (each unit adds
//     1, MaxPartitionsContributed = L0, MaxContributionsPerPartition = 1)
//     with ε/(k+1). With GROUP BY a group is released only if the count's
//     thresholded result for Params.Delta (dp.Selection) exists and is at
//     least Params.MinGroupSize; groups that have no kept rows do not exist
//     and are never released. Without GROUP BY the single group always
//     exists, and is released if its noisy unit count is at least
//     MinGroupSize, even when no row matches.
//
// Results are post-processed without further privacy cost: a noisy COUNT
// below zero is shown as 0, a noisy SUM is kept on the side of zero H
// allows (that of Min and Max), AVG and VARIANCE are clamped as the
// library clamps them. Each COUNT, SUM and AVG carries the confidence
// interval at level 1 − Params.Alpha that the DP library computes for
// its mechanism (Result.Intervals); the quantiles and the variance have
// none, as the library gives none. Result.Stats names each output's
// mechanism, ε, δ and sensitivities. Rows are sorted by their grouping
// values, then the plan's HAVING, ORDER BY, OFFSET and LIMIT apply to the
// released values (query.Plan.Select). Result.Suppressed counts the groups
// withheld; it is not private and is meant for the log.
//
// Execute refuses, with an error, plans that output rows (SELECT *, or a
// column outside GROUP BY), read a table not given or twice, or refer to a
// column, join or filter that does not fit the tables; the policy engine
// refuses such plans first, this is defence in depth.
//
// # HE preparation
//
// In multiparty HE mode the numeric columns a provider wants hidden are
// encrypted: the node has placeholders for them (zeros in the Table's
// batch), while join-key and unit columns are keyed fingerprints (equality
// is kept, so joins and distinct units work the same) and filter and
// group-by columns are clear. [PrepareHE] shares steps 1 to 3 and group
// selection (step 5) with Execute, code for code, and then, per released
// group in Execute's order, computes what the clear columns allow and
// describes the rest, following the layout of package release:
//
//   - the grouping values, rendered as Execute renders them;
//   - the group's kept joined rows, which is every COUNT and every AVG's
//     count C;
//   - the exact sums of clear SUM and AVG columns over the kept rows (an
//     AVG as 2·S − (Min+Max)·C, twice the DP library's normalised sum);
//   - for each SUM or AVG of an encrypted column, the weights: the rows of
//     the column's table that the group's kept joined rows use, ascending,
//     each with how many kept joined rows use it, so that the crypto layer
//     computes Σ weight·value (and 2·Σ − (Min+Max)·C for an AVG).
//
// It refuses a plan that filters, joins or groups on an encrypted column
// (or whose unit column is encrypted), since the node cannot read it;
// COUNT of an encrypted column is fine. The values are noised with the
// calibration Execute uses (release.Layout.Noise), before decryption, and
// release.Layout.Finish formats them as Execute does: with the noise
// switched off both modes give identical rows.
//
// # Limits
//
// Tables hold at most 2³¹-1 rows. Execute keeps the joined rows as row
// indices (4 bytes per table per joined row) and, per joined row, its
// (unit, group) pair after bounding (4 bytes); a joined row's group is
// looked up through its row of the grouping table when the grouping
// columns are of one table, and is kept per joined row (4 bytes)
// otherwise. PrepareHE keeps as well, with encrypted aggregates, the
// kept joined rows of the released groups (4 bytes each) and one count per
// row of each table an encrypted aggregate reads. The unit's first groups
// and rows are kept in scan order, which is the order of the uploads: a
// unit that controls the order of its own rows chooses which are kept, but
// never how many. AVG results agree between the modes to the last bit as
// long as the DP library's floating-point sums are exact (|sums| below
// 2⁵², bounds below 2⁵⁰ in magnitude).
package enclave
