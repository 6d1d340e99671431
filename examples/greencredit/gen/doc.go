// Package gen generates the synthetic data of the green-credit scenario
// (SCENARIO.md in the project's shared notes) and computes, independently
// of the clean room, the exact answers to the demo's two allowed queries,
// so that the demo can print each differentially private answer next to
// the truth.
//
// Everything here is synthetic: no row describes a real enterprise. The
// codes are well formed, so one may by chance equal a code issued to a
// real enterprise, but nothing else in its rows comes from that one.
//
// # Datasets
//
// Write writes three CSV files, each with a header line of the column
// names of Schemas:
//
//	registry.csv     uscc, name, industry, region, registered_capital, founded   one row per enterprise
//	electricity.csv  uscc, month, kwh                                            12 rows per enterprise, Year-01 … Year-12
//	loans.csv        loan_id, uscc, amount, rate_bp, green, borrower_name        0 to 5 rows per enterprise
//
// The rows of an enterprise are written together, enterprise after
// enterprise, so every file is in the order of the registry.
//
// # Identifiers
//
// uscc is an 18-character unified social credit code of GB 32100-2015
// (see ValidUSCC): department 9 (market regulation), category 1
// (enterprise) or, for some agricultural enterprises, 3 (farmers'
// cooperative), the real GB/T 2260 code of the enterprise's prefecture
// (650100 乌鲁木齐 … 654300 阿勒泰), a 9-character organisation code with
// its GB 11714 check character, and the final GB 32100 check character.
// Enterprises founded before 2015-10-01 have 8-digit organisation codes;
// later ones begin "MA", as codes issued since then do. The organisation
// codes are a permutation of the enterprise indices, so every uscc is
// unique; this caps Enterprises at MaxEnterprises (10^8).
//
// loan_id is "L" and 10 digits, a permutation of (enterprise, loan) and so
// unique. name is region + a three-character trade name (字号) + a business
// word of the industry + 有限公司 (or 有限责任公司, 股份有限公司,
// 农民专业合作社); the trade names are a permutation of the first 262,144
// enterprises, so names are unique up to that size and nearly unique
// beyond. borrower_name is the borrower's registry name.
//
// # Distributions
//
//   - industry: the GB/T 4754-2017 sections A–T, skewed: F (wholesale and
//     retail) 28%, L 13%, C, E and M 9% each, down to T (international
//     organisations) 0.02%, a group small enough to meet the minimum group
//     size only at large sizes.
//   - region: the 14 prefecture-level divisions of Xinjiang, 乌鲁木齐 30%,
//     昌吉 and 伊犁 10% each, down to 克孜勒苏 1%.
//   - registered_capital: log-normal, median 2,000,000 yuan times an
//     industry factor, in multiples of 10,000, within [10,000, 10^10].
//   - founded: 1990-01-01 to 2025-12-31, registrations growing 8% a year
//     (median around 2018).
//   - kwh: per enterprise a log-normal level (σ = 1.3) scaled by industry
//     (mining, power and manufacturing use the most) and mildly by capital;
//     per month a yearly cycle (winter heating peak for most industries, a
//     summer peak for agriculture) and ±8% noise; 0 before the enterprise
//     was founded, prorated in its founding month; clamped to [0, 10^8].
//     The median monthly use is about 200,000 kWh, the 99th percentile
//     about 50 times that.
//   - loans: 60% of enterprises borrow, 1 to 5 loans (45%, 25%, 15%, 10%,
//     5%), never more than MaxLoansPerEnterprise: 1.23 loans per
//     enterprise on average (DefaultLoans). Options.Loans sets another
//     mean: a borrower's 1 to 5 loans are multiplied by Loans/DefaultLoans
//     and rounded down or up at random, in proportion, so that the mean is
//     Loans; Options.MaxLoansPerEnterprise says the most. amount is
//     log-normal, median about 2,000,000 yuan, scaled by industry and
//     capital, in multiples of 1,000, within [10,000, 10^9]. green is true
//     for about 30% of loans, most often in D (power), N (environment) and
//     A (agriculture). rate_bp is 300 plus a log-normal spread (median
//     about 500 bp, lower for green loans), within [300, 1500].
//
// # Determinism
//
// The same Seed, Enterprises, Year and Loans give the same bytes, whatever
// the number of CPUs. Each enterprise draws from its own PCG stream
// (math/rand/v2) seeded by Seed and its index, so enterprise i is the same
// at every size: a smaller data set is a prefix of a larger one, file by
// file. Year changes only the month labels and which months precede an
// enterprise's founding; Loans changes only loans.csv. Values go through
// float64 arithmetic and math.Exp and math.Log, so bytes are only promised
// on one architecture; the golden test pins them on amd64.
//
// # Performance
//
// Write generates in parallel, in chunks of enterprises, and writes the
// chunks in order through buffered writers; memory does not grow with the
// size. On two cores 100,000 enterprises (about 60 MB) take about 0.3 s and
// 1,000,000 (about 600 MB, 12 million electricity rows) about 2.5 s,
// mostly writing.
//
// # Truth
//
// ComputeTruth reads the files back with encoding/csv and computes, with
// plain maps and SQL inner-join semantics, the answers of
//
//	Q1: SELECT r.industry, AVG(l.amount) FROM loans l JOIN registry r ON l.uscc = r.uscc GROUP BY r.industry
//	Q2: SELECT r.region, l.green, SUM(e.kwh) FROM loans l JOIN registry r ON l.uscc = r.uscc
//	    JOIN electricity e ON e.uscc = r.uscc WHERE e.month = '<Year>-06' GROUP BY r.region, l.green
//
// with the counts behind them (loans per industry, joined rows and distinct
// enterprises per region and flag). In Q2 an enterprise's June use is
// counted once per loan, as the join makes it, and an enterprise with both
// green and other loans is in two groups: the privacy unit contributes up
// to MaxLoansPerEnterprise times the kwh bound.
package gen
