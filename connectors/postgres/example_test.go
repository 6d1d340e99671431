package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/xjdata/cleanroom/connectors/postgres"
	"github.com/xjdata/cleanroom/schema"
)

func ExampleParseURL() {
	dsn, src, err := postgres.ParseURL("postgres://reader@db.example:5432/bank?sslmode=verify-full&table=public.loans&key=loan_id")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dsn)
	fmt.Printf("table %s, key %s\n", src.Table, src.Key)

	_, _, err = postgres.ParseURL("postgres://reader@db.example/bank?table=public.loans&query=SELECT+1")
	fmt.Println(err)
	// Output:
	// postgres://reader@db.example:5432/bank?sslmode=verify-full
	// table public.loans, key loan_id
	// postgres: URL gives both table and query (give one)
}

// ExampleNewReader reads a loan book from a PostgreSQL server. It needs
// one, so it has no output to check.
func ExampleNewReader() {
	ctx := context.Background()
	dsn, src, err := postgres.ParseURL("postgres://reader@db.example/bank?table=public.loans")
	if err != nil {
		log.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)

	s := &schema.Schema{Columns: []schema.Column{
		{Name: "loan_id", Type: schema.String, MaxLen: 32},
		{Name: "uscc", Type: schema.String, MaxLen: 18},
		{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1e9)},
		{Name: "green", Type: schema.Bool},
	}}
	r, err := postgres.NewReader(ctx, conn, src, s, postgres.Options{})
	if err != nil {
		log.Fatal(err) // a missing column, a numeric amount, no such table...
	}
	defer r.Close()
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		var e *postgres.Error
		if errors.As(err, &e) {
			// postgres table public.loans: row 8209 (loan_id "L08208"): column amount: ...
			log.Fatalf("rejected: %v", err)
		}
		if err != nil {
			log.Fatal(err) // the connection failed
		}
		fmt.Println(b.Len, "rows")
	}
	fmt.Println(r.Rows(), "rows in all")
}
