package ledgertest_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/ledger/ledgertest"
)

// A test of a caller makes the ledger's disk fail for a while, and checks
// that the caller refuses to act, then recovers.
func ExampleFaultFS() {
	dir, err := os.MkdirTemp("", "ledger")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	skey, _, err := note.GenerateKey(rand.Reader, "insecure-test-node")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		log.Fatal(err)
	}

	fsys := &ledgertest.FaultFS{}
	l, err := ledger.OpenWithOptions(dir, signer, "example.com/log", ledger.Options{FS: fsys})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	fsys.FailWrites.Store(true) // the disk is full
	_, err = l.Append([]byte("decision 1"))
	fmt.Println("unavailable:", errors.Is(err, ledger.ErrUnavailable))
	fmt.Println("injected:", errors.Is(err, ledgertest.ErrInjected))
	fmt.Println("size:", l.Size())

	fsys.FailWrites.Store(false) // space was freed
	i, err := l.Append([]byte("decision 1"))
	fmt.Println("index:", i, "error:", err)
	fmt.Println("size:", l.Size())
	// Output:
	// unavailable: true
	// injected: true
	// size: 0
	// index: 0 error: <nil>
	// size: 1
}
