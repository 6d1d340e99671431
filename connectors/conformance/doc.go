// Package conformance holds the test every connector passes: the same
// logical table, written in each source's own form (CSV in UTF-8 and in
// GB18030 with its columns in another order and every string quoted, JSON
// Lines with keys shuffled and escapes, Parquet in several row groups, a
// PostgreSQL table), read through connectors/from, gives the same
// canonical CSV and the same columnar upload part (internal/columnar),
// byte for byte, at every batch size. It has no code of its own.
package conformance
