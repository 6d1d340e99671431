package ledger

import (
	"errors"
	"fmt"
)

// ErrUnavailable means the log cannot be written: a write, sync or
// checkpoint failed earlier (the Log refuses further appends until it is
// reopened), the Log is closed, or the signer failed. Callers must refuse to
// act on anything that was to be logged (fail closed). Test with errors.Is;
// the wrapped errors say what failed.
var ErrUnavailable = errors.New("ledger: unavailable")

// ErrSecurity means the log's files contradict themselves or their signed
// checkpoint: a record whose stored leaf hash is wrong, records missing or
// reordered, a root that differs from the signed one, a signature by the
// expected key that does not verify, a rolled-back log. (A checkpoint signed
// by no key the caller knows is a plain error: it may be the wrong key.) It cannot tell damage from
// tampering; either way the copy must not be trusted or extended. Test with
// errors.Is; an [*EntryError] names the first bad entry when there is one.
var ErrSecurity = errors.New("ledger: security problem")

// EntryError names the first entry found at fault, with the evidence.
//
// For damage found by the ledger itself Err is [ErrSecurity]; for an entry
// rejected by the caller's callback in [Verify] Err is the callback's error.
type EntryError struct {
	Index  uint64 // 0-based index of the entry
	Offset int64  // byte offset of its record in the entries file
	Reason string // what is wrong with it
	Err    error  // ErrSecurity, or the callback's error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("ledger: entry %d (record at offset %d): %s", e.Index, e.Offset, e.Reason)
}

func (e *EntryError) Unwrap() error { return e.Err }
