// Package conformance holds the test every connector passes: the same
// logical table, written in each source's own form (CSV in UTF-8 and in
// GB18030 with its columns in another order and every string quoted, JSON
// Lines with keys shuffled and escapes, Parquet in several row groups, a
// PostgreSQL table), read through connectors/from and rendered as the
// sealed upload's canonical CSV, gives byte-identical uploads. It has no
// code of its own.
package conformance
