package postgres_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/connectors/postgres"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in  string
		dsn string
		src postgres.Source
	}{
		{"postgres://u:secret@db:5432/bank?sslmode=disable&table=public.loans&key=loan_id&application_name=x",
			"postgres://u:secret@db:5432/bank?sslmode=disable&application_name=x", postgres.Source{Table: "public.loans", Key: "loan_id"}},
		{"postgresql://db/bank?query=SELECT+loan_id%2C+amount+FROM+loans+WHERE+green",
			"postgresql://db/bank", postgres.Source{Query: "SELECT loan_id, amount FROM loans WHERE green"}},
		{"postgres://db/bank?table=Loans%202025", "postgres://db/bank", postgres.Source{Table: "Loans 2025"}},
		{"postgres:///bank?host=%2Fvar%2Frun%2Fpostgresql&table=loans", "postgres:///bank?host=%2Fvar%2Frun%2Fpostgresql", postgres.Source{Table: "loans"}},
		{"postgres://db/bank?&table=loans&", "postgres://db/bank", postgres.Source{Table: "loans"}},
		{"postgres://db/bank?query=SELECT+%27a%26b%3D1%27+AS+s", "postgres://db/bank", postgres.Source{Query: "SELECT 'a&b=1' AS s"}},
	} {
		dsn, src, err := postgres.ParseURL(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.dsn, dsn, tc.in)
		require.Equal(t, tc.src, src, tc.in)
		_, err = pgx.ParseConfig(dsn)
		require.NoError(t, err, "pgx takes %s", dsn)
	}

	for _, tc := range []struct{ in, err string }{
		{"postgres://db/bank", "postgres: URL names no table or query (add ?table=NAME or ?query=SELECT+...)"},
		{"postgres://db/bank?key=id", "postgres: URL names no table or query (add ?table=NAME or ?query=SELECT+...)"},
		{"postgres://db/bank?table=a&query=SELECT+1", "postgres: URL gives both table and query (give one)"},
		{"postgres://db/bank?table=a&table=b", "postgres: URL gives table twice"},
		{"postgres://db/bank?table=", "postgres: URL parameter table is empty"},
		{"postgres://db/bank?table=%zz", `postgres: bad URL parameter table: invalid URL escape "%zz"`},
		{"postgres://db/bank?query=+", "postgres: Query is blank"},
		{"postgres://db/bank?table=.x", `postgres: table name ".x" has an empty part (want NAME or SCHEMA.NAME)`},
		{"mysql://u:secret@db/bank?table=a", `postgres: URL scheme is "mysql", want postgres or postgresql`},
		{"db/bank?table=a", `postgres: URL scheme is "", want postgres or postgresql`},
		{"postgres:bank?table=a", "postgres: bad URL: want postgres://[user@]host[:port]/database?table=NAME"},
		{"postgres://u:secret@db:port/bank?table=a", `postgres: bad URL: invalid port ":port" after host`},
		{"postgres://u:sec%zzret@db/bank?table=a", `postgres: bad URL: invalid URL escape "%zz"`},
	} {
		_, _, err := postgres.ParseURL(tc.in)
		require.EqualError(t, err, tc.err, tc.in)
		require.NotContains(t, err.Error(), "secret")
	}
}

// FuzzParseURL checks that ParseURL never crashes, that what it accepts
// names one source and leaves none of its parameters in the connection
// string, and that its errors do not repeat the password.
func FuzzParseURL(f *testing.F) {
	f.Add("postgres://u:secret@db:5432/bank?sslmode=disable&table=public.loans&key=loan_id")
	f.Add("postgresql://db/bank?query=SELECT+1")
	f.Fuzz(func(t *testing.T, in string) {
		dsn, src, err := postgres.ParseURL(in)
		if err != nil {
			if u, perr := url.Parse(in); perr == nil && u.User != nil {
				// A password that appears only once, even with escapes
				// undone, must not appear in the error.
				pw, ok := u.User.Password()
				plain, uerr := url.QueryUnescape(in)
				if ok && len(pw) >= 4 && strings.Count(in, pw) == 1 && uerr == nil && strings.Count(plain, pw) == 1 {
					require.NotContains(t, err.Error(), pw)
				}
			}
			return
		}
		require.NotEqual(t, src.Table == "", src.Query == "", "one of Table and Query")
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		for _, part := range strings.Split(u.RawQuery, "&") {
			k, _, _ := strings.Cut(part, "=")
			k, _ = url.QueryUnescape(k)
			require.NotContains(t, []string{"table", "query", "key"}, k)
		}
	})
}
