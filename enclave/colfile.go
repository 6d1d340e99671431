package enclave

import (
	"errors"
	"fmt"
	"io"

	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/schema"
)

// The columnar form of stored rows (CRCOLS2, see internal/columnar): what
// the age ciphertext of a stored upload holds once ingested (uploads
// stored before it hold their canonical CSV or CRCOLS1, which Load still
// reads). Ingest writes it, from a client's columnar part (whose blocks it
// checks and keeps as they are) or from a CSV; Load reads it, inside an
// authenticated age stream: its reader checks structure and limits, not
// values, which Ingest checked.
//
// Loading (colread.go, colblocks.go) yields the dictionary-coded columns
// directly (schema.Vector's Codes and Dict): each block's entries are
// appended to its column's dictionary, its codes offset by the entries
// before, so that coding a column for a join or a GROUP BY (codes.go)
// hashes its dictionary, not its rows. A column whose entries all have
// one width keeps no offsets (schema.Dict.Width), and one whose blocks
// hold distinct values (each row its own entry, say an identifier) no
// codes. Each value is decoded or copied once from the decrypted bytes
// into its place, and no pointer is held per row; columns.wipe zeroes
// every value, dictionary and code.
//
// CRCOLS1 (Ingest wrote it before; Load still reads it, see colfile1.go):
// blocks of typed vectors (a uvarint row count, then per column 8-byte
// ints, or 4-byte string lengths followed by their bytes), a uvarint 0
// and the total of rows.
const colMagic = columnar.Magic

// The limits of the form (see internal/columnar).
const (
	colBlockRows  = columnar.BlockRows
	colBlockBytes = columnar.BlockBytes
	colMaxArena   = columnar.MaxArena
	colMaxIndex   = columnar.MaxIndex
)

// ageChunk is the plaintext size of an age payload chunk
// (https://age-encryption.org/v1, "Payload").
const ageChunk = 64 << 10

var errColFormat = errors.New("not a valid stored column file")

var (
	typeCode  = columnar.TypeCode
	colHeader = columnar.Header
)

// colWriter writes batches of a schema as a stored file (CRCOLS2).
type colWriter struct{ w *columnar.Writer }

func newColWriter(w io.Writer, s *schema.Schema) (*colWriter, error) {
	cw, err := columnar.NewWriter(w, s)
	if err != nil {
		return nil, fmt.Errorf("enclave: %w", err)
	}
	return &colWriter{cw}, nil
}

func (cw *colWriter) write(b *schema.Batch) error { return cw.w.Write(b) }

// close writes the last block, the index and the footer, flushes, and
// zeroes the writer's buffers of plaintext.
func (cw *colWriter) close() error { return cw.w.Close() }

// wipe zeroes the writer's buffers: the block gathered, the last block
// written.
func (cw *colWriter) wipe() { cw.w.Wipe() }

// colFormat names the form of a stored upload's plaintext by its start.
func colFormat(head []byte) string {
	for _, m := range []string{colMagic, colMagic1} {
		if len(head) >= len(m) && string(head[:len(m)]) == m {
			return m
		}
	}
	return ""
}

// isColFile reports whether a plaintext is in a columnar form (either
// version).
func isColFile(head []byte) bool { return colFormat(head) != "" }
