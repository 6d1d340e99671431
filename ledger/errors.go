package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// ErrUnavailable means the log could not make an entry durable: writing,
// syncing or signing a batch failed (the entry and those queued after it
// were dropped; the next Add tries again), the batch's records were
// synced but its checkpoint could not be stored (see [Pending.Wait]), the
// Log refuses Adds until it is reopened (a failed batch could not be
// truncated away), or the Log is closed. Callers must refuse to act on
// anything that was to be logged (fail closed). Test with errors.Is; the
// wrapped errors say what failed.
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

// IndexError is returned by [Log.AddAt] when the entry would not get the
// index the caller expects. Next < Want means a failed batch dropped
// entries the caller had added: rebuild the state derived from them by
// replaying the log's Size() entries, then add at Size(). It wraps
// ErrUnavailable.
type IndexError struct {
	Want uint64 // the index the caller asked for
	Next uint64 // the index the entry would have got
}

func (e *IndexError) Error() string {
	if e.Next < e.Want {
		return fmt.Sprintf("ledger: entry would get index %d, not %d: entries %d to %d were dropped after a failed commit", e.Next, e.Want, e.Next, e.Want-1)
	}
	return fmt.Sprintf("ledger: entry would get index %d, not %d", e.Next, e.Want)
}

func (e *IndexError) Unwrap() error { return ErrUnavailable }

// ForkError is evidence that a log forked: two checkpoints signed by its
// key that no append-only log can both have issued. The log whose
// checkpoint is Current has, as its first Size entries, entries whose root
// is Root, not the root that Trusted states for its Size entries. Keep
// both notes (and the copy of the log) as evidence. It wraps ErrSecurity.
type ForkError struct {
	Trusted []byte // the signed checkpoint the caller trusted
	Current []byte // the signed checkpoint of the log that contradicts it
	Size    uint64 // Trusted's size
	Root    []byte // the root of the first Size entries of Current's log
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("ledger: fork: the log's first %d entries have root %s, but a trusted checkpoint of that size says %s", e.Size, base64.StdEncoding.EncodeToString(e.Root), rootOfNote(e.Trusted))
}

func (e *ForkError) Unwrap() error { return ErrSecurity }

// RollbackError is evidence that a log was rolled back: its checkpoint
// Current is of fewer entries than Trusted, a checkpoint signed earlier by
// the same key. It wraps ErrSecurity.
type RollbackError struct {
	Trusted     []byte // the signed checkpoint the caller trusted
	Current     []byte // the signed checkpoint of the shorter log
	TrustedSize uint64
	CurrentSize uint64
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("ledger: rollback: the log has %d entries, but a trusted checkpoint says %d", e.CurrentSize, e.TrustedSize)
}

func (e *RollbackError) Unwrap() error { return ErrSecurity }

// rootOfNote returns the root line of a checkpoint note, for messages.
func rootOfNote(signed []byte) string {
	lines := bytes.SplitN(signed, []byte("\n"), 4)
	if len(lines) < 3 {
		return "(unreadable)"
	}
	return string(lines[2])
}
