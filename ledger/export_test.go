package ledger

import (
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// For the external tests (package ledger_test), which can import
// ledger/ledgertest.

const OriginForTest = testOrigin

func InsecureTestKeys(tb testing.TB) (note.Signer, note.Verifier) {
	return testSigner(tb), testVerifier(tb)
}

func EntryForTest(i uint64) []byte { return testEntry(i) }
