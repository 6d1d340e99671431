// Package heupload is the container of an upload in multiparty HE mode:
// what a provider's client sends (inside age, to the node) and the node
// keeps. It holds the dataset's rows column by column, each column as its
// upload treats it (policy.Treatment):
//
//   - clear: the values, for grouping and filtering;
//   - fingerprint: keyed join tokens (protocols/fingerprint), 16 bytes
//     each;
//   - encrypted: ciphertexts under the collective key (protocols/mhe), one
//     per 8,192 rows, coefficient-packed.
//
// A column the upload does not carry is absent.
//
// # Format, version 1
//
//	magic    "cleanroom-he-upload/v1\n"
//	header   uvarint length, then a JSON Header
//	columns  for each column of the header, in order:
//	           clear string:      per row, uvarint length and the bytes
//	           clear int/date/bool: per row, a zig-zag varint
//	           fingerprint:       per row, 16 bytes
//	           encrypted:         per chunk of ChunkSize rows, uvarint
//	                              length and the ciphertext
//
// and nothing after. The reader is strict: every value must fit its
// column's declaration (type, bounds, length, UTF-8), every ciphertext must
// parse, and errors name the column and the row or chunk.
package heupload

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"

	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/fingerprint"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/schema"
)

// Magic starts every container.
const Magic = "cleanroom-he-upload/v1\n"

// MaxRows bounds the rows of one upload; a larger table goes in several
// uploads.
const MaxRows = 1 << 27

const maxHeader = 1 << 20

// Column is one column an upload carries.
type Column struct {
	Name      string           `json:"name"`
	Treatment policy.Treatment `json:"treatment"`
}

// Header describes an upload.
type Header struct {
	Dataset string `json:"dataset"`
	Rows    int64  `json:"rows"`
	// KeySHA256 is the hex SHA-256 of the collective key the encrypted
	// columns are under.
	KeySHA256 string   `json:"key_sha256"`
	Columns   []Column `json:"columns"`
}

// Treatments returns the header's columns as a map.
func (h *Header) Treatments() map[string]policy.Treatment {
	m := make(map[string]policy.Treatment, len(h.Columns))
	for _, c := range h.Columns {
		m[c.Name] = c.Treatment
	}
	return m
}

// Chunks returns the number of ciphertexts of an encrypted column of rows
// rows.
func Chunks(rows int64) int64 { return (rows + mhe.ChunkSize - 1) / mhe.ChunkSize }

// Upload is a parsed container.
type Upload struct {
	Header Header
	// Rows holds every column of the dataset's schema: the clear and
	// fingerprint columns with their values (a fingerprint as its 16 raw
	// bytes, which join and count as the tokens do, at half the size), the
	// others zero.
	Rows *schema.Batch
	// Chunks holds the ciphertexts of each encrypted column.
	Chunks map[string][]*mhe.Ciphertext
}

// Write writes a container: rows holds the dataset's rows in the schema's
// columns (fingerprint columns already as tokens, 32 hex digits), and
// encrypted gives the ciphertexts of each encrypted column in order.
func Write(w io.Writer, h *Header, sc *schema.Schema, rows *schema.Batch, encrypted map[string][]*mhe.Ciphertext) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	bw.WriteString(Magic)
	bw.Write(binary.AppendUvarint(nil, uint64(len(hb))))
	bw.Write(hb)
	var buf []byte
	for _, c := range h.Columns {
		i := sc.Index(c.Name)
		if i < 0 {
			return fmt.Errorf("heupload: column %s is not in the schema", c.Name)
		}
		v := &rows.Cols[i]
		switch c.Treatment {
		case policy.Clear:
			for r := 0; r < rows.Len; r++ {
				buf = buf[:0]
				if v.Type == schema.String {
					buf = binary.AppendUvarint(buf, uint64(len(v.Strs[r])))
					buf = append(buf, v.Strs[r]...)
				} else {
					buf = binary.AppendVarint(buf, v.Ints[r])
				}
				bw.Write(buf)
			}
		case policy.Fingerprint:
			for r := 0; r < rows.Len; r++ {
				b, err := hex.DecodeString(v.Strs[r])
				if err != nil || len(b) != fingerprint.Size/2 {
					return fmt.Errorf("heupload: column %s, row %d: not a fingerprint", c.Name, r+1)
				}
				bw.Write(b)
			}
		case policy.Encrypted:
			cts := encrypted[c.Name]
			if int64(len(cts)) != Chunks(h.Rows) {
				return fmt.Errorf("heupload: column %s: %d ciphertexts for %d rows", c.Name, len(cts), h.Rows)
			}
			for _, ct := range cts {
				b, err := ct.MarshalBinary()
				if err != nil {
					return err
				}
				bw.Write(binary.AppendUvarint(buf[:0], uint64(len(b))))
				bw.Write(b)
			}
		default:
			return fmt.Errorf("heupload: column %s: unknown treatment %q", c.Name, c.Treatment)
		}
	}
	return bw.Flush()
}

// Read parses a container of an upload to dataset (whose schema is sc)
// strictly; see the package doc.
func Read(r io.Reader, dataset string, sc *schema.Schema, params bgv.Parameters) (*Upload, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != Magic {
		return nil, errors.New("heupload: not an HE upload (bad magic)")
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n == 0 || n > maxHeader {
		return nil, errors.New("heupload: bad header length")
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(br, hb); err != nil {
		return nil, errors.New("heupload: header cut short")
	}
	u := &Upload{Chunks: map[string][]*mhe.Ciphertext{}}
	if err := json.Unmarshal(hb, &u.Header); err != nil {
		return nil, fmt.Errorf("heupload: header: %v", err)
	}
	h := &u.Header
	if h.Dataset != dataset {
		return nil, fmt.Errorf("heupload: an upload to %s, not %s", h.Dataset, dataset)
	}
	if h.Rows < 0 || h.Rows > MaxRows {
		return nil, fmt.Errorf("heupload: %d rows, at most %d", h.Rows, int64(MaxRows))
	}
	seen := map[string]bool{}
	carried := false
	for _, c := range h.Columns {
		if sc.Index(c.Name) < 0 || seen[c.Name] {
			return nil, fmt.Errorf("heupload: column %q is not in the schema or is given twice", c.Name)
		}
		seen[c.Name] = true
		carried = carried || c.Treatment == policy.Clear || c.Treatment == policy.Fingerprint
	}
	if !carried {
		return nil, errors.New("heupload: no clear or fingerprint column: the rows cannot be told apart")
	}
	rows := int(h.Rows)
	u.Rows = schema.NewBatch(sc, 0)
	u.Rows.Len = rows
	// Vectors grow as values arrive, so that a header that claims more
	// rows than the input holds costs no memory; those the upload does
	// not carry are filled once every carried value has been read.
	for _, c := range h.Columns {
		i := sc.Index(c.Name)
		col := &sc.Columns[i]
		v := &u.Rows.Cols[i]
		bad := func(r int, format string, args ...any) error {
			return fmt.Errorf("heupload: column %s, row %d: %s", c.Name, r+1, fmt.Sprintf(format, args...))
		}
		switch c.Treatment {
		case policy.Clear:
			for r := 0; r < rows; r++ {
				if col.Type == schema.String {
					l, err := binary.ReadUvarint(br)
					max := col.MaxLen
					if max == 0 {
						max = schema.DefaultMaxLen
					}
					if err != nil || l > uint64(max) {
						return nil, bad(r, "missing or longer than max_len %d", max)
					}
					b := make([]byte, l)
					if _, err := io.ReadFull(br, b); err != nil {
						return nil, bad(r, "cut short")
					}
					if !utf8.Valid(b) {
						return nil, bad(r, "not valid UTF-8")
					}
					v.Strs = append(v.Strs, string(b))
					continue
				}
				x, err := binary.ReadVarint(br)
				if err != nil {
					return nil, bad(r, "missing")
				}
				lo, hi := int64(0), int64(1)
				if col.Type != schema.Bool {
					lo, hi = *col.Min, *col.Max
				}
				if x < lo || x > hi {
					return nil, bad(r, "%d is outside the declared bounds [%d, %d]", x, lo, hi)
				}
				v.Ints = append(v.Ints, x)
			}
		case policy.Fingerprint:
			// Tokens replace the values: the column holds strings.
			v.Type = schema.String
			var b [fingerprint.Size / 2]byte
			for r := 0; r < rows; r++ {
				if _, err := io.ReadFull(br, b[:]); err != nil {
					return nil, bad(r, "fingerprint cut short")
				}
				v.Strs = append(v.Strs, string(b[:]))
			}
		case policy.Encrypted:
			if col.Type == schema.String {
				return nil, fmt.Errorf("heupload: column %s: a string column cannot be encrypted", c.Name)
			}
			var cts []*mhe.Ciphertext
			for k := int64(0); k < Chunks(h.Rows); k++ {
				l, err := binary.ReadUvarint(br)
				if err != nil || l > 2*mhe.CiphertextSize {
					return nil, fmt.Errorf("heupload: column %s, chunk %d: bad ciphertext length", c.Name, k+1)
				}
				b := make([]byte, l)
				if _, err := io.ReadFull(br, b); err != nil {
					return nil, fmt.Errorf("heupload: column %s, chunk %d: cut short", c.Name, k+1)
				}
				ct, err := mhe.ParseCiphertext(params, b)
				if err != nil {
					return nil, fmt.Errorf("heupload: column %s, chunk %d: %v", c.Name, k+1, err)
				}
				cts = append(cts, ct)
			}
			u.Chunks[c.Name] = cts
		default:
			return nil, fmt.Errorf("heupload: column %s: unknown treatment %q", c.Name, c.Treatment)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, errors.New("heupload: data after the last column")
	}
	// The columns not carried hold zeros: one shared, read-only vector of
	// each kind, whatever their number.
	filled := map[string]bool{}
	for _, c := range h.Columns {
		filled[c.Name] = c.Treatment == policy.Clear || c.Treatment == policy.Fingerprint
	}
	var zeros []int64
	var empty []string
	for i := range u.Rows.Cols {
		if v := &u.Rows.Cols[i]; !filled[sc.Columns[i].Name] {
			if v.Type == schema.String {
				if empty == nil {
					empty = make([]string, rows)
				}
				v.Strs = empty
			} else {
				if zeros == nil {
					zeros = make([]int64, rows)
				}
				v.Ints = zeros
			}
		}
	}
	return u, nil
}
