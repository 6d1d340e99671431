package ledger_test

import (
	"crypto/rand"
	"fmt"
	"iter"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/ledger"
)

// exampleKeys returns a fresh insecure key pair for the examples.
func exampleKeys() (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "insecure-example-node")
	if err != nil {
		log.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		log.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		log.Fatal(err)
	}
	return s, v
}

// fetch returns the log's entries, as an auditor would fetch them.
func fetch(l *ledger.Log) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		for i := range l.Size() {
			e, err := l.Entry(i)
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// An auditor imports a copy of the log, later a longer copy into the same
// directory, and checks the copy against a checkpoint it kept.
func ExampleImport() {
	tmp, err := os.MkdirTemp("", "ledger")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	signer, verifier := exampleKeys()

	// The node's log.
	l, err := ledger.Open(filepath.Join(tmp, "node"), signer, "example.com/cleanroom")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	for _, e := range []string{"register bank", "approve scenario", "decision 1"} {
		if _, err := l.Append([]byte(e)); err != nil {
			log.Fatal(err)
		}
	}

	// The auditor's copy, and the checkpoint it keeps.
	copyDir := filepath.Join(tmp, "audit")
	first, err := ledger.Import(copyDir, verifier, l.Checkpoint(), fetch(l))
	if err != nil {
		log.Fatal(err)
	}
	trusted := l.Checkpoint()
	fmt.Println("imported", first.Size, "entries")

	if _, err := l.Append([]byte("decision 2")); err != nil {
		log.Fatal(err)
	}
	cp, err := ledger.Import(copyDir, verifier, l.Checkpoint(), fetch(l))
	if err != nil {
		log.Fatal(err) // a *ForkError or *RollbackError if the node rewrote history
	}
	fmt.Println("extended to", cp.Size, "entries")

	_, err = ledger.Verify(copyDir, verifier, func(i uint64, entry []byte) error {
		fmt.Printf("%d: %s\n", i, entry)
		return nil
	})
	fmt.Println("verified:", err == nil)
	fmt.Println("consistent with the kept checkpoint:", ledger.CheckTrusted(copyDir, verifier, trusted) == nil)
	// Output:
	// imported 3 entries
	// extended to 4 entries
	// 0: register bank
	// 1: approve scenario
	// 2: decision 1
	// 3: decision 2
	// verified: true
	// consistent with the kept checkpoint: true
}

// The node hands out a tlog-proof with a result; anyone with the node's
// public key checks it offline.
func ExampleLog_Proof() {
	dir, err := os.MkdirTemp("", "ledger")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	signer, verifier := exampleKeys()
	l, err := ledger.Open(dir, signer, "example.com/cleanroom")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	var index uint64
	for _, e := range []string{"register bank", "decision 1", "release 1"} {
		if index, err = l.Append([]byte(e)); err != nil {
			log.Fatal(err)
		}
	}

	text, err := l.Proof(index, nil)
	if err != nil {
		log.Fatal(err)
	}
	p, err := ledger.ParseProof(text)
	if err != nil {
		log.Fatal(err)
	}
	cp, err := p.Verify([]byte("release 1"), verifier)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("entry %d of %q, proven in a tree of %d\n", p.Index, cp.Origin, cp.Size)
	_, err = p.Verify([]byte("release 2"), verifier)
	fmt.Println("another entry:", err != nil)
	// Output:
	// entry 2 of "example.com/cleanroom", proven in a tree of 3
	// another entry: true
}
