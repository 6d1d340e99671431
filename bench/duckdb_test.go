package bench

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	_ "github.com/marcboeker/go-duckdb" // the "duckdb" database/sql driver
)

// The column types of the generated CSV files, as DuckDB reads them (no
// sniffing, so every run reads the same types).
const (
	duckLoansColumns    = `{'loan_id': 'VARCHAR', 'uscc': 'VARCHAR', 'amount': 'BIGINT', 'rate_bp': 'INTEGER', 'green': 'BOOLEAN', 'borrower_name': 'VARCHAR'}`
	duckRegistryColumns = `{'uscc': 'VARCHAR', 'name': 'VARCHAR', 'industry': 'VARCHAR', 'region': 'VARCHAR', 'registered_capital': 'BIGINT', 'founded': 'DATE'}`
)

// loadDuckDB opens an in-memory DuckDB database and loads the two tables
// whole from the CSV files with DuckDB's own reader.
func loadDuckDB(d *Data) (*sql.DB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	for _, t := range []struct{ name, path, cols string }{
		{"loans", d.Files.Loans, duckLoansColumns},
		{"registry", d.Files.Registry, duckRegistryColumns},
	} {
		q := fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM read_csv('%s', header = true, delim = ',', quote = '', columns = %s)", t.name, t.path, t.cols)
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("loading %s: %w", t.name, err)
		}
	}
	return db, nil
}

func queryDuckDB(db *sql.DB) (answer, error) {
	rows, err := db.Query(sqlQuery)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	a := answer{}
	for rows.Next() {
		var g group
		var avg float64
		if err := rows.Scan(&g.industry, &g.region, &avg); err != nil {
			return nil, err
		}
		a[g] = avg
	}
	return a, rows.Err()
}

// BenchmarkDuckDB is the plaintext query (no DP) in DuckDB through its Go
// bindings, over tables loaded once, outside the timed loop; load-s is
// the time DuckDB took to read the two CSV files into its tables.
func BenchmarkDuckDB(b *testing.B) {
	d := workload(b)
	start := time.Now()
	db, err := loadDuckDB(d)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	load := time.Since(start)
	var threads int
	if err := db.QueryRow("SELECT current_setting('threads')").Scan(&threads); err != nil {
		b.Fatal(err)
	}
	base := startPeak(b)
	var a answer
	for b.Loop() {
		if a, err = queryDuckDB(db); err != nil {
			b.Fatal(err)
		}
	}
	reportPeak(b, base)
	b.ReportMetric(load.Seconds(), "load-s")
	b.ReportMetric(float64(threads), "threads")
	check(b, "DuckDB", a, false)
}
