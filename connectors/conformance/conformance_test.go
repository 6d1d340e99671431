package conformance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/connectors/parquet"
	"github.com/xjdata/cleanroom/connectors/postgres/pgtest"
	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/schema"
)

func i64(v int64) *int64 { return &v }

// The table: every type, values at their bounds, strings that need
// quoting or escaping in one form or another.
var table = &schema.Schema{Columns: []schema.Column{
	{Name: "id", Type: schema.String, MaxLen: 16},
	{Name: "name", Type: schema.String, MaxLen: 200},
	{Name: "amount", Type: schema.Int, Min: i64(math.MinInt64), Max: i64(math.MaxInt64)},
	{Name: "green", Type: schema.Bool},
	{Name: "issued", Type: schema.Date, Min: i64(schema.MinDate), Max: i64(schema.MaxDate)},
}}

var names = []string{
	"", "plain", "乌鲁木齐市绿色能源有限公司", "a,b", `say "hi"`, "two\nlines", " lead", "trail ", "\ttab",
	`back\slash`, "<html>&amp;", "emoji 🌱", `\.`, "NULL", "\\N", "'quoted'", "semi;colon",
}

// rows returns n rows of the table: the edge cases first, then random ones.
func rows(n int) *schema.Batch {
	b := schema.NewBatch(table, n)
	rng := rand.New(rand.NewPCG(7, 7))
	amounts := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1e15}
	dates := []int64{0, schema.MinDate, schema.MaxDate, 20000, -1}
	for i := range n {
		name := names[i%len(names)]
		amount := amounts[i%len(amounts)]
		date := dates[i%len(dates)]
		if i >= 64 {
			name = fmt.Sprintf("企业%d,%q", rng.IntN(1e6), "x")
			amount = rng.Int64N(1e12) - 5e11
			date = rng.Int64N(40000)
		}
		b.Cols[0].Strs = append(b.Cols[0].Strs, fmt.Sprintf("R%06d", i))
		b.Cols[1].Strs = append(b.Cols[1].Strs, name)
		b.Cols[2].Ints = append(b.Cols[2].Ints, amount)
		b.Cols[3].Ints = append(b.Cols[3].Ints, int64(i%3&1))
		b.Cols[4].Ints = append(b.Cols[4].Ints, date)
		b.Len++
	}
	return b
}

// render is the canonical CSV of batches read from r.
func render(t *testing.T, r connectors.Reader) (csv, part []byte) {
	var out, cols bytes.Buffer
	w, err := connectors.NewCSVWriter(&out, table)
	require.NoError(t, err)
	// The columnar part a client sends, its blocks ended as the client
	// ends them when a part fills (here at about 4 KiB).
	pw, err := columnar.NewPartWriter(&cols, table)
	require.NoError(t, err)
	enc, err := columnar.NewEncoder(table, pw.Add)
	require.NoError(t, err)
	enc.EndBlock = func(size int) bool { return size >= 4<<10 }
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.NoError(t, w.Write(b))
		require.NoError(t, enc.Write(b))
	}
	require.NoError(t, w.Flush())
	require.NoError(t, enc.Flush())
	require.NoError(t, pw.Close())
	return out.Bytes(), cols.Bytes()
}

// quotedCSV writes b as CSV with its columns in reverse order, every
// string quoted, \r\n line ends and a byte order mark.
func quotedCSV(b *schema.Batch) []byte {
	var buf bytes.Buffer
	buf.WriteString("\xef\xbb\xbf")
	cols := table.Columns
	for i := len(cols) - 1; i >= 0; i-- {
		buf.WriteString(cols[i].Name)
		if i > 0 {
			buf.WriteByte(',')
		}
	}
	buf.WriteString("\r\n")
	for k := range b.Len {
		for i := len(cols) - 1; i >= 0; i-- {
			if cols[i].Type == schema.String {
				buf.WriteString(`"` + strings.ReplaceAll(b.Cols[i].Strs[k], `"`, `""`) + `"`)
			} else {
				buf.WriteString(schema.FormatValue(cols[i].Type, b.Cols[i].Ints[k]))
			}
			if i > 0 {
				buf.WriteByte(',')
			}
		}
		buf.WriteString("\r\n")
	}
	return buf.Bytes()
}

// semicolonCSV writes b as CSV delimited by semicolons, with no header,
// the columns in schema order, quoted by encoding/csv where they must be.
func semicolonCSV(b *schema.Batch) []byte {
	var buf bytes.Buffer
	w := stdcsv.NewWriter(&buf)
	w.Comma = ';'
	cols := table.Columns
	rec := make([]string, len(cols))
	for k := range b.Len {
		for i := range cols {
			if cols[i].Type == schema.String {
				rec[i] = b.Cols[i].Strs[k]
			} else {
				rec[i] = schema.FormatValue(cols[i].Type, b.Cols[i].Ints[k])
			}
		}
		if err := w.Write(rec); err != nil {
			panic(err)
		}
	}
	w.Flush()
	return buf.Bytes()
}

// jsonLines writes b as JSON Lines, each row's keys in a shuffled order,
// strings escaped by encoding/json (HTML characters too).
func jsonLines(b *schema.Batch) []byte {
	var buf bytes.Buffer
	rng := rand.New(rand.NewPCG(3, 4))
	cols := table.Columns
	for k := range b.Len {
		order := rng.Perm(len(cols))
		buf.WriteByte('{')
		for n, i := range order {
			if n > 0 {
				buf.WriteByte(',')
			}
			key, _ := json.Marshal(cols[i].Name)
			buf.Write(key)
			buf.WriteByte(':')
			var v []byte
			switch cols[i].Type {
			case schema.String:
				v, _ = json.Marshal(b.Cols[i].Strs[k])
			case schema.Date:
				v, _ = json.Marshal(schema.FormatDate(b.Cols[i].Ints[k]))
			default:
				v = []byte(schema.FormatValue(cols[i].Type, b.Cols[i].Ints[k]))
			}
			buf.Write(v)
		}
		buf.WriteString("}\n")
	}
	return buf.Bytes()
}

func TestSameTableSameUpload(t *testing.T) {
	const n = 20_000 // several batches, row groups and parts
	want := rows(n)
	dir := t.TempDir()
	var canonical bytes.Buffer
	w, err := connectors.NewCSVWriter(&canonical, table)
	require.NoError(t, err)
	require.NoError(t, w.Write(want))
	require.NoError(t, w.Flush())
	var wantPart []byte

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o644))
		return p
	}
	gb, err := simplifiedchinese.GB18030.NewEncoder().Bytes(quotedCSV(want))
	require.NoError(t, err)
	var pq bytes.Buffer
	require.NoError(t, parquet.Write(&pq, table, func(yield func(*schema.Batch) bool) {
		for lo := 0; lo < n; lo += 3000 {
			hi := min(lo+3000, n)
			part := schema.NewBatch(table, hi-lo)
			for i := range table.Columns {
				if table.Columns[i].Type == schema.String {
					part.Cols[i].Strs = want.Cols[i].Strs[lo:hi]
				} else {
					part.Cols[i].Ints = want.Cols[i].Ints[lo:hi]
				}
			}
			part.Len = hi - lo
			if !yield(part) {
				return
			}
		}
	}, parquet.WriteOptions{RowGroupRows: 7000}))

	sources := []struct {
		name string
		spec string
		opts from.Options
	}{
		{"canonical CSV", "csv:" + write("canonical.csv", canonical.Bytes()), from.Options{}},
		{"quoted CSV, columns reversed, CRLF, BOM", write("quoted.csv", quotedCSV(want)), from.Options{}},
		{"GB18030 CSV", "csv:" + write("gb18030.txt", gb), from.Options{Encoding: "gb18030"}},
		{"CSV by semicolons, no header", "csv:" + write("semicolons.txt", semicolonCSV(want)), from.Options{CSV: csv.Options{Comma: ';', NoHeader: true}}},
		{"JSON Lines", write("rows.jsonl", jsonLines(want)), from.Options{}},
		{"Parquet", write("rows.parquet", pq.Bytes()), from.Options{}},
		{"PostgreSQL", postgresTable(t, want), from.Options{}},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			sp, err := from.Parse(src.spec)
			require.NoError(t, err)
			for _, batch := range []int{0, 1000, 4093} {
				opts := src.opts
				opts.BatchSize = batch
				r, err := from.Open(context.Background(), sp, table, opts)
				require.NoError(t, err)
				got, part := render(t, r)
				require.NoError(t, r.Close())
				if !bytes.Equal(canonical.Bytes(), got) {
					require.Equal(t, canonical.String(), string(got), "batch size %d", batch)
				}
				require.Equal(t, sha256.Sum256(canonical.Bytes()), sha256.Sum256(got))
				if wantPart == nil {
					wantPart = part
				}
				require.Equal(t, sha256.Sum256(wantPart), sha256.Sum256(part), "the columnar part, batch size %d", batch)
			}
		})
	}
}

// postgresTable loads the rows into a table of a throwaway server and
// returns a source URL that reads them in order.
func postgresTable(t *testing.T, b *schema.Batch) string {
	dsn := pgtest.Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE "Loans 2025" (ord int PRIMARY KEY, issued date NOT NULL, green boolean NOT NULL, amount bigint NOT NULL, name text NOT NULL, id varchar(16) NOT NULL)`)
	require.NoError(t, err)
	rows := make([][]any, b.Len)
	for k := range b.Len {
		d := b.Cols[4].Ints[k]
		rows[k] = []any{k, dateOf(d), b.Cols[3].Ints[k] == 1, b.Cols[2].Ints[k], b.Cols[1].Strs[k], b.Cols[0].Strs[k]}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"Loans 2025"}, []string{"ord", "issued", "green", "amount", "name", "id"}, pgx.CopyFromRows(rows))
	require.NoError(t, err)
	q := `SELECT name, id, amount, green, issued FROM "Loans 2025" ORDER BY ord`
	return dsn + "&query=" + url.QueryEscape(q) + "&key=id"
}

func dateOf(days int64) time.Time { return time.Unix(days*86400, 0).UTC() }
