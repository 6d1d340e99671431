// Package bench measures the clean room's sealed-mode engine against the
// tools a user would pick instead, on the workload of issue 8: the
// green-credit generator's loans joined to its registry on uscc, and
//
//	SELECT r.industry, r.region, AVG(l.amount)
//	FROM loans l JOIN registry r ON l.uscc = r.uscc
//	GROUP BY r.industry, r.region
//
// It is a module of its own, so that the product never imports the peers
// (DuckDB, Apache Beam, Privacy on Beam) and `go test ./...` at the root
// of the repository never builds them. Everything is in its tests; see
// README.md for what each benchmark measures, how to run them and the
// figures measured.
package bench
