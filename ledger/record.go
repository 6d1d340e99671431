package ledger

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/transparency-dev/merkle/rfc6962"
)

const (
	// MaxEntrySize is the largest entry Append accepts, in bytes.
	MaxEntrySize = 16 << 20

	// fileMagic opens the entries file; it names the format and its version.
	fileMagic  = "cleanroom ledger v1\n"
	headerSize = int64(len(fileMagic))

	lenSize  = 4  // big-endian uint32 entry length
	hashSize = 32 // RFC 6962 leaf hash, SHA-256(0x00 || entry)

	entriesName    = "entries"
	checkpointName = "checkpoint"
	lockName       = "lock"
)

// recordSize is the size of the record framing an entry of n bytes.
func recordSize(n int) int64 { return int64(lenSize + n + hashSize) }

// appendRecord appends the record for entry, whose leaf hash is leaf, to dst.
func appendRecord(dst, entry, leaf []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(entry)))
	dst = append(dst, entry...)
	return append(dst, leaf...)
}

// checkEntry says why entry cannot be appended, or returns nil.
func checkEntry(entry []byte) error {
	switch {
	case len(entry) == 0:
		return errors.New("ledger: empty entry")
	case len(entry) > MaxEntrySize:
		return fmt.Errorf("ledger: entry of %d bytes exceeds MaxEntrySize (%d)", len(entry), MaxEntrySize)
	}
	return nil
}

// frameError describes a record that cannot be read as a valid record.
type frameError struct {
	off    int64  // where the record starts
	end    int64  // where its frame would end according to its length field
	torn   bool   // the frame runs past the end of the file
	reason string // what is wrong
}

func (e *frameError) Error() string { return e.reason }

// recordReader reads records sequentially from a buffered reader positioned
// at offset off of a file of size end.
type recordReader struct {
	r    *bufio.Reader
	off  int64
	end  int64
	buf  []byte
	hdr  [lenSize]byte
	h    hash.Hash // SHA-256, reused for every leaf hash
	leaf [hashSize]byte
}

func newRecordReader(r io.Reader, off, end int64) *recordReader {
	size := int(min(max(end-off, 16), 1<<20))
	return &recordReader{r: bufio.NewReaderSize(r, size), off: off, end: end, h: sha256.New()}
}

// next returns the next record's entry and stored leaf hash, both valid
// until the following call, and the record's offset. It returns io.EOF at
// the end of the file, a *frameError for a record that is torn (incomplete),
// malformed, or whose stored leaf hash is not that of its entry, and any
// other error for a failed read.
func (rr *recordReader) next() (entry, leaf []byte, off int64, err error) {
	off = rr.off
	if off == rr.end {
		return nil, nil, off, io.EOF
	}
	if rr.end-off < lenSize {
		return nil, nil, off, &frameError{off: off, end: off + lenSize, torn: true,
			reason: fmt.Sprintf("torn record: %d bytes left at end of file, less than a length field", rr.end-off)}
	}
	if _, err := io.ReadFull(rr.r, rr.hdr[:]); err != nil {
		return nil, nil, off, err
	}
	n := binary.BigEndian.Uint32(rr.hdr[:])
	frameEnd := off + recordSize(int(n))
	torn := frameEnd > rr.end
	switch {
	case n == 0:
		return nil, nil, off, &frameError{off: off, end: frameEnd, torn: torn, reason: "length field is 0 (empty entries are never written)"}
	case n > MaxEntrySize:
		return nil, nil, off, &frameError{off: off, end: frameEnd, torn: torn,
			reason: fmt.Sprintf("length field %d exceeds MaxEntrySize", n)}
	case torn:
		return nil, nil, off, &frameError{off: off, end: frameEnd, torn: true,
			reason: fmt.Sprintf("torn record: length field %d needs %d bytes, file has %d", n, frameEnd-off, rr.end-off)}
	}
	need := int(n) + hashSize
	if cap(rr.buf) < need {
		rr.buf = make([]byte, need)
	}
	buf := rr.buf[:need]
	if _, err := io.ReadFull(rr.r, buf); err != nil {
		return nil, nil, off, err
	}
	rr.off = frameEnd
	entry, leaf = buf[:n], buf[n:]
	// hasher.HashLeaf, without allocating: SHA-256(0x00 || entry).
	rr.h.Reset()
	rr.h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	rr.h.Write(entry)
	if !bytes.Equal(rr.h.Sum(rr.leaf[:0]), leaf) {
		return nil, nil, off, &frameError{off: off, end: frameEnd, reason: "stored leaf hash does not match the entry"}
	}
	return entry, leaf, off, nil
}

// entryError turns a *frameError for entry i into an *EntryError.
func entryError(i uint64, fe *frameError) *EntryError {
	return &EntryError{Index: i, Offset: fe.off, Reason: fe.reason, Err: ErrSecurity}
}
