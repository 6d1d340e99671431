package bench

// This file is the only one that speaks the enclave's API; when that API
// changes, change this file alone. What it must keep: BenchmarkCleanroom
// with its sub-benchmarks cached, cold and decrypt, each reporting
// columns-MiB (the decrypted columns) and calling startPeak, reportPeak and
// check as they do now.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"filippo.io/age"

	"github.com/xjdata/cleanroom/enclave"
	"github.com/xjdata/cleanroom/examples/greencredit/gen"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

// sealedData is the workload uploaded to an enclave store, as a provider's
// sealed uploads are: age-encrypted to the node, ingested, kept on disk.
type sealedData struct {
	d       *Data
	dir     string
	custody *enclave.Custody
	keys    *enclave.DataKeys
	schemas map[string]schema.Schema
	rows    map[string]int64 // each dataset's rows, as the ledger records them
}

const uploadID = "00000000000000000000000000000001"

// seal ingests loans.csv and registry.csv into a new store under dir.
func seal(d *Data, dir string, schemas map[string]schema.Schema) (*sealedData, error) {
	key := filepath.Join(dir, "node.key")
	if err := enclave.GenerateIdentity(key); err != nil {
		return nil, err
	}
	c, err := enclave.LoadCustody(key)
	if err != nil {
		return nil, err
	}
	keys, err := enclave.OpenDataKeys(filepath.Join(dir, "keys"))
	if err != nil {
		return nil, err
	}
	s := &sealedData{d: d, dir: filepath.Join(dir, "store"), custody: c, keys: keys, schemas: schemas, rows: map[string]int64{}}
	store, err := enclave.OpenStore(s.dir, c, keys)
	if err != nil {
		return nil, err
	}
	recipient, err := age.ParseHybridRecipient(c.Recipient())
	if err != nil {
		return nil, err
	}
	for dataset, path := range map[string]string{"loans": d.Files.Loans, "registry": d.Files.Registry} {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		pr, pw := io.Pipe()
		go func() {
			w, err := age.Encrypt(pw, recipient)
			if err == nil {
				_, err = io.Copy(w, f)
			}
			if err == nil {
				err = w.Close()
			}
			pw.CloseWithError(err)
		}()
		sc := schemas[dataset]
		rc, err := store.Ingest(context.Background(), dataset, uploadID, &sc, filepath.Base(path), pr)
		if err == nil {
			s.rows[dataset] = rc.Rows
		}
		pr.Close()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("ingesting %s: %w", dataset, err)
		}
	}
	return s, nil
}

// load opens the store afresh (so nothing is cached) and decrypts both
// tables side by side, as the node does (the columns plan reads), with
// uscc as the privacy unit of both, at most MaxLoans loans per unit and
// one registry row per loan.
func (s *sealedData) load(plan *query.Plan) (map[string]*enclave.Table, error) {
	store, err := enclave.OpenStore(s.dir, s.custody, s.keys)
	if err != nil {
		return nil, err
	}
	// A cache of one byte keeps no rows past their query: released, they
	// are wiped and dropped at once, as a node's expired cache does.
	store.SetCache(0, 1)
	perUnit := map[string]int64{"loans": int64(s.d.MaxLoans), "registry": 1}
	names := []string{"loans", "registry"}
	tabs := make([]*enclave.Table, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, dataset := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := s.schemas[dataset]
			unit := sc.Index("uscc")
			need := enclave.PlanColumns(plan, dataset, &sc, unit)
			t, err := store.LoadColumns(dataset, &sc, []string{uploadID}, s.rows[dataset], need)
			if err != nil {
				errs[i] = err
				return
			}
			t.Unit, t.MaxRowsPerUnit = unit, perUnit[dataset]
			tabs[i] = t
		}()
	}
	wg.Wait()
	tables := map[string]*enclave.Table{}
	for i, dataset := range names {
		if errs[i] != nil {
			return nil, errs[i]
		}
		tables[dataset] = tabs[i]
	}
	return tables, nil
}

// columnsSize is the size of the decrypted columns as plain Go values: 8
// bytes per int, bool or date, a string's header (16 bytes) and bytes per
// string (whatever form the engine keeps them in: the loaded columns
// hold their strings dictionary-coded, in less).
func columnsSize(tables map[string]*enclave.Table) int64 {
	var n int64
	for _, t := range tables {
		for i := range t.Rows.Cols {
			v := &t.Rows.Cols[i]
			if v.Type != schema.String {
				n += 8 * int64(v.Len())
			}
			if v.Type == schema.String {
				for r := range v.Len() {
					n += 16 + int64(len(v.Str(r)))
				}
			}
		}
	}
	return n
}

func cleanroomAnswer(res *enclave.Result) (answer, error) {
	a := answer{}
	for _, r := range res.Rows {
		v, err := strconv.ParseFloat(r[2], 64)
		if err != nil {
			return nil, err
		}
		a[group{r[0], r[1]}] = v
	}
	return a, nil
}

// BenchmarkCleanroom is the DP query in the sealed-mode engine
// (enclave.Execute over a plan from query.Compile), with per-unit
// contribution bounding and the real Laplace noise:
//
//   - cached: over tables Store.Load decrypted once, after one query has
//     derived and cached their codes and join indexes: decryption excluded,
//     the steady state of repeated queries;
//   - cold: over the same decrypted rows without the derivation cache;
//   - decrypt: each query loads its tables from the sealed store first
//     (age decryption and reading the stored columnar form, from a fresh
//     Store): decryption
//     included.
func BenchmarkCleanroom(b *testing.B) {
	d := workload(b)
	schemas := gen.Schemas()
	plan, err := query.Compile(sqlQuery, query.CatalogFunc(func(name string) (*schema.Schema, bool) {
		sc, ok := schemas[name]
		return &sc, ok
	}))
	if err != nil {
		b.Fatal(err)
	}
	params := enclave.Params{Epsilon: epsilon, Delta: delta, MinGroupSize: 1, MaxGroupsPerUnit: 1}
	s, err := seal(d, b.TempDir(), schemas)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, tables map[string]*enclave.Table) answer {
		res, err := enclave.Execute(b.Context(), plan, tables, params)
		if err != nil {
			b.Fatal(err)
		}
		a, err := cleanroomAnswer(res)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	// loop times the query over tables already loaded, with its peak
	// memory and the columns' size, and checks the last answer.
	loop := func(b *testing.B, tables map[string]*enclave.Table) {
		base := startPeak(b)
		var a answer
		for b.Loop() {
			a = run(b, tables)
		}
		reportPeak(b, base)
		b.ReportMetric(float64(columnsSize(tables))/(1<<20), "columns-MiB")
		check(b, "Cleanroom", a, true)
	}
	b.Run("cached", func(b *testing.B) {
		tables, err := s.load(plan)
		if err != nil {
			b.Fatal(err)
		}
		run(b, tables)
		loop(b, tables)
	})
	b.Run("cold", func(b *testing.B) {
		loaded, err := s.load(plan)
		if err != nil {
			b.Fatal(err)
		}
		tables := map[string]*enclave.Table{}
		for name, t := range loaded {
			tables[name] = &enclave.Table{Name: t.Name, Schema: t.Schema, Rows: t.Rows, Unit: t.Unit, MaxRowsPerUnit: t.MaxRowsPerUnit}
		}
		loop(b, tables)
	})
	b.Run("decrypt", func(b *testing.B) {
		base := startPeak(b)
		var a answer
		var size int64
		for b.Loop() {
			tables, err := s.load(plan)
			if err != nil {
				b.Fatal(err)
			}
			a = run(b, tables)
			size = columnsSize(tables)
			// As the node does once its cache has expired: the query
			// releases its tables, and nothing holds them when the next
			// query loads its own.
			for _, t := range tables {
				t.Release()
			}
		}
		reportPeak(b, base)
		b.ReportMetric(float64(size)/(1<<20), "columns-MiB")
		check(b, "Cleanroom", a, true)
	})
}
