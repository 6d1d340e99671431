// Package columnar is the columnar form of rows that the node stores
// (CRCOLS2) and that a client sends a sealed upload's parts in
// (CRPART2): blocks of up to BlockRows rows, string columns
// dictionary-coded per block, ints narrowed per block. A client encodes
// its checked rows once (Encoder); the node checks every block of a part
// (PartReader) and stores the same block bytes (FileWriter), so no row is
// parsed twice and none is re-encoded.
//
// A block holds, per column, in order:
//
//	int, bool, date: the block's smallest value (8 bytes, little-endian
//	    int64), a width w (1 byte, 1 to 8), then per row its value minus
//	    the smallest in w bytes, little-endian
//	string: the block's dictionary, then the rows' codes: uvarint d, its
//	    number of entries (1 to rows); uvarint w: 0, then d × 4 bytes,
//	    little-endian uint32 lengths, or, when every entry is w−1 ≥ 1
//	    bytes long, w and no lengths; the entries' bytes, one after the
//	    other; then per row its code, in 1 byte if d ≤ 256, else 2
//	    (little-endian). Entries are in the order in which rows first use
//	    them, and all used: a row's code is at most one more than every
//	    code before it. When d = rows the codes are 0, 1, … and not
//	    written.
//
// A block's index entry is uvarint its bytes, uvarint its rows, and per
// string column uvarint d, uvarint the bytes of its entries and uvarint w.
//
// A stored file (CRCOLS2):
//
//	magic     "CRCOLS2\n"
//	header    uvarint number of columns, then one byte per column: its type (i, s, b, d)
//	blocks    one after the other
//	index     uvarint the number of blocks; per block its index entry; then
//	          uvarint the total of rows
//	footer    8 bytes, little-endian uint64: the index's offset in the file
//
// so that a reader with random access knows every block's place and size
// before reading any, and reads blocks on several cores at once.
//
// A part (CRPART2), which a reader takes in order as it arrives:
//
//	magic     "CRPART2\n"
//	header    as a stored file's
//	frames    per block: its index entry, then its bytes
//	end       uvarint 0, then uvarint the total of rows
//
// A block holds at most BlockRows rows, and ends at the row that brings
// its strings to BlockBytes bytes: the encoder's memory stays flat however
// large the upload. Every value takes at least one byte (width 1 for a
// constant int column; per string a code, a length or a byte of its
// entry), so a file's rows never claim more memory than eight times its
// size. The encoding is a function of the rows alone: the same rows give
// the same bytes from any source, and a part's SHA-256 names its rows.
package columnar

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/xjdata/cleanroom/schema"
)

// Magic starts a stored file, PartMagic a part.
const (
	Magic     = "CRCOLS2\n"
	PartMagic = "CRPART2\n"
)

// BlockRows is the most rows of a block. Codes within a block fit in 2
// bytes.
const BlockRows = 1 << 16

// BlockBytes is how many bytes of strings (of all string columns, as they
// come, before the dictionaries merge them) end a block before BlockRows
// rows: what bounds an encoder's memory.
const BlockBytes = 16 << 20

// MaxArena bounds the bytes of one string column's entries in one block.
const MaxArena = 256 << 20

// MaxIndex bounds the bytes of a stored file's index.
const MaxIndex = 64 << 20

// MaxRows bounds the rows of a file or part: what a loaded table holds at
// most.
const MaxRows = math.MaxInt32

// TypeCode returns a column type's byte in the header, or 0 for a type
// the form does not hold.
func TypeCode(t schema.Type) byte {
	switch t {
	case schema.Int:
		return 'i'
	case schema.String:
		return 's'
	case schema.Bool:
		return 'b'
	case schema.Date:
		return 'd'
	}
	return 0
}

// Header returns magic and the header of a file of s.
func Header(magic string, s *schema.Schema) ([]byte, error) {
	hdr := append([]byte(magic), binary.AppendUvarint(nil, uint64(len(s.Columns)))...)
	for _, c := range s.Columns {
		code := TypeCode(c.Type)
		if code == 0 {
			return nil, fmt.Errorf("columnar: column %s has type %q", c.Name, c.Type)
		}
		hdr = append(hdr, code)
	}
	return hdr, nil
}

// CheckDict checks a string column's dictionary as a block's index entry
// describes it: d entries of db bytes in all, w as the format says, for
// rows rows.
func CheckDict(d, db, w, rows uint64) error {
	if d < 1 || d > rows || db > MaxArena {
		return fmt.Errorf("%d entries of %d bytes for %d rows", d, db, rows)
	}
	if w == 1 || w > MaxArena || (w > 1 && (w-1)*d != db) {
		return fmt.Errorf("%d entries of %d bytes, each of %d", d, db, int64(w)-1)
	}
	return nil
}

// Block is one encoded block: its rows, its bytes and its index entry.
// An Encoder or a PartReader reuses a Block's memory for the next.
type Block struct {
	Rows  int
	Data  []byte
	Entry []byte
}

// Wipe zeroes the block's bytes.
func (b *Block) Wipe() {
	clear(b.Data[:cap(b.Data)])
	clear(b.Entry[:cap(b.Entry)])
	b.Data, b.Entry, b.Rows = b.Data[:0], b.Entry[:0], 0
}
