package postgres_test

import (
	"context"
	"io"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/postgres"
	"github.com/xjdata/cleanroom/connectors/postgres/pgtest"
	"github.com/xjdata/cleanroom/schema"
)

// Every test of the package shares one server (pgtest.Shared) and the
// fixture tables below, which no test changes.
func TestMain(m *testing.M) { pgtest.Main(m) }

// fixtures are the tables every test reads.
const fixtures = `
CREATE TABLE loans (
	loan_id  text PRIMARY KEY,
	uscc     char(18) NOT NULL,
	borrower varchar(100) NOT NULL,
	amount   bigint NOT NULL,
	rate_bp  integer NOT NULL,
	term     smallint NOT NULL,
	green    boolean NOT NULL,
	issued   date NOT NULL
);
INSERT INTO loans VALUES
	('L0001', '91350100M000100Y42', '福建省绿色能源科技有限公司', 1500000, 350, 36, true, '2021-03-15'),
	('L0002', '91110000600037341L', '北京物流 🚚 有限公司', 250000, 420, 12, false, '2020-01-01'),
	('L0003', '9144030071526726XG', '', 0, 0, 1, true, '2030-12-31'),
	('L0004', 'ABC', 'Zoë "quoted", e' || chr(769) || ' and a comma', 1000000000, 2000, 360, false, '2000-01-01');

CREATE TABLE extremes (id integer PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, b boolean, d date, s text);
INSERT INTO extremes VALUES
	(1, -32768, -2147483648, -9223372036854775808, false, '0001-01-01 BC', ''),
	(2, 32767, 2147483647, 9223372036854775807, true, '9999-12-31', 'ascii'),
	(3, 0, 0, 0, true, '1970-01-01', 'Ünïcödé 中文 🌱');

CREATE TABLE many AS SELECT i AS n, 'r' || i AS s FROM generate_series(1, 10007) AS i;
CREATE TABLE round AS SELECT i AS n FROM generate_series(1, 10000) AS i;
CREATE TABLE big AS SELECT i::bigint AS n FROM generate_series(1, 200000) AS i;

CREATE SCHEMA bank;
CREATE TABLE bank.loans (loan_id text PRIMARY KEY, amount bigint NOT NULL);
INSERT INTO bank.loans VALUES ('B1', 7), ('B2', 8);

CREATE TABLE "Loans 2025" (loan_id text, amount bigint);
INSERT INTO "Loans 2025" VALUES ('Q1', 11);

CREATE TABLE victim (x integer);
INSERT INTO victim VALUES (1);
CREATE SEQUENCE victim_seq;
CREATE FUNCTION write_victim() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN INSERT INTO victim VALUES (2); RETURN 2; END $$;

CREATE TABLE wrong_types (loan_id text PRIMARY KEY, amount numeric(12,0), issued timestamptz);
INSERT INTO wrong_types VALUES ('W1', 5, now());

CREATE TABLE nulls (loan_id text PRIMARY KEY, amount bigint, issued date);
INSERT INTO nulls VALUES ('N1', 5, '2020-01-01'), ('N2', NULL, '2020-01-01'), ('N3', 6, NULL);

CREATE TABLE overdrawn AS
	SELECT 'L' || lpad((i - 1)::text, 5, '0') AS loan_id,
		CASE WHEN i = 8209 THEN 12000000000 ELSE i * 1000 END::bigint AS amount
	FROM generate_series(1, 10000) AS i;
ALTER TABLE overdrawn ADD PRIMARY KEY (loan_id);

CREATE TABLE dates (id integer PRIMARY KEY, d date NOT NULL);
INSERT INTO dates VALUES (1, '2020-01-01'), (2, 'infinity'), (3, '-infinity');

CREATE TABLE pair (a text, b integer, n bigint, PRIMARY KEY (a, b));
INSERT INTO pair VALUES ('x', 1, 5), ('x', 2, -5);

CREATE TABLE empty (n integer, s text, d date, ok boolean);
`

var setup struct {
	once sync.Once
	err  error
}

// connect returns a connection to the shared server's database, with the
// fixtures, closed when t ends.
func connect(t testing.TB) *pgx.Conn {
	t.Helper()
	url := pgtest.Shared(t)
	ctx := context.Background()
	setup.once.Do(func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			setup.err = err
			return
		}
		defer conn.Close(ctx)
		_, setup.err = conn.Exec(ctx, fixtures)
	})
	require.NoError(t, setup.err, "creating the fixtures")
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// readAll reads r to its end and returns the rows as one batch and the
// size of each batch, checking that no batch is larger than size, that
// Rows keeps count, and that Next repeats io.EOF or its error.
func readAll(t *testing.T, r *postgres.Reader, s *schema.Schema, size int) (*schema.Batch, []int, error) {
	t.Helper()
	all := schema.NewBatch(s, 0)
	var sizes []int
	for {
		b, err := r.Next()
		if err == io.EOF {
			require.Equal(t, int64(all.Len), r.Rows())
			_, err = r.Next()
			require.Equal(t, io.EOF, err, "Next after io.EOF")
			return all, sizes, nil
		}
		if err != nil {
			require.Nil(t, b)
			require.GreaterOrEqual(t, r.Rows(), int64(all.Len))
			_, again := r.Next()
			require.Equal(t, err, again, "Next after an error")
			return nil, sizes, err
		}
		require.Positive(t, b.Len)
		require.LessOrEqual(t, b.Len, size)
		for i := range b.Cols {
			require.Equal(t, b.Len, b.Cols[i].Len())
		}
		sizes = append(sizes, b.Len)
		all.Append(b)
	}
}

// read opens src with s and reads it all, closing the reader.
func read(t *testing.T, conn *pgx.Conn, src postgres.Source, s *schema.Schema, opts postgres.Options) (*schema.Batch, []int, error) {
	t.Helper()
	r, err := postgres.NewReader(context.Background(), conn, src, s, opts)
	if err != nil {
		return nil, nil, err
	}
	defer func() { require.NoError(t, r.Close()) }()
	size := opts.BatchSize
	if size == 0 {
		size = postgres.DefaultBatchSize
	}
	return readAll(t, r, s, size)
}

func i64(v int64) *int64 { return &v }

func day(s string) int64 {
	d, ok := schema.ParseDate(s)
	if !ok {
		panic("bad date " + s)
	}
	return d
}
