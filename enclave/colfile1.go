package enclave

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/xjdata/cleanroom/schema"
)

// colMagic1 starts the first version of the columnar form (CRCOLS1),
// which Ingest wrote before CRCOLS2 (see colfile.go):
//
//	magic "CRCOLS1\n"
//	uvarint   number of columns, then one byte per column: its type (i, s, b, d)
//	blocks:   uvarint rows (≥ 1, at most colBlockRows), then per column:
//	            int, bool, date: rows × 8 bytes, little-endian int64
//	            string: rows × 4 bytes, little-endian uint32 lengths, then
//	                    the bytes of the values, one after the other
//	end:      uvarint 0, then uvarint the total number of rows
//
// Load still reads it, in one pass: each string becomes an entry of its
// column's dictionary (codes.go merges equal entries when a query codes
// the column).
const colMagic1 = "CRCOLS1\n"

// byteReader is what readColumns1 reads from.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// readColumns1 reads a CRCOLS1 file of rows of s from r into cb.
func readColumns1(r byteReader, s *schema.Schema, cb *colBlocks) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("enclave: %w: "+format, append([]any{errColFormat}, args...)...)
	}
	// full reads len(p) bytes; a read error other than the file's end
	// (say, a damaged age chunk) is returned as it is.
	full := func(p []byte, what string) error {
		if _, err := io.ReadFull(r, p); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return fail("truncated %s", what)
			}
			return err
		}
		return nil
	}
	// uvarint reads a uvarint; a read error is returned as it is.
	uvarint := func(what string) (uint64, error) {
		x, err := readUvarint(r)
		if err == io.EOF {
			return 0, fail("truncated %s", what)
		}
		return x, err
	}
	magic := make([]byte, len(colMagic1))
	if err := full(magic, "magic"); err != nil {
		return err
	}
	if string(magic) != colMagic1 {
		return fail("no magic")
	}
	n, err := uvarint("header")
	if err != nil {
		return err
	}
	if n != uint64(len(s.Columns)) {
		return fail("%d columns, the schema has %d", n, len(s.Columns))
	}
	for i, c := range s.Columns {
		code, err := r.ReadByte()
		if err != nil || code != typeCode(c.Type) {
			return fail("column %d (%s) is not of the schema's type %s", i, c.Name, c.Type)
		}
	}
	if slices.Contains(cb.skip, true) {
		return errors.New("enclave: internal error: a CRCOLS1 file gathered with columns left out")
	}
	for i := range cb.cols {
		if cb.cols[i].Dict != nil {
			cb.materializeOffs(i)
			cb.materializeCodes(i)
		}
	}
	var total uint64
	scratch := make([]byte, 8*colBlockRows)
	defer clear(scratch)
	for {
		rows, err := uvarint("block header")
		if err != nil {
			return err
		}
		if rows == 0 {
			break
		}
		if rows > colBlockRows {
			return fail("a block of %d rows (at most %d)", rows, colBlockRows)
		}
		if err := cb.checkRows(int(rows)); err != nil {
			return err
		}
		for i := range s.Columns {
			name := "column " + s.Columns[i].Name
			v := &cb.cols[i]
			if v.Dict == nil {
				raw := scratch[:8*rows]
				if err := full(raw, name); err != nil {
					return err
				}
				for j := 0; j < len(raw); j += 8 {
					x := int64(binary.LittleEndian.Uint64(raw[j:]))
					if _, ok := cb.appendInts(i, []int64{x}); !ok {
						return fail("%s: value %d is outside its declared bounds", name, x)
					}
				}
				continue
			}
			lens := scratch[:4*rows]
			if err := full(lens, name); err != nil {
				return err
			}
			sum := 0
			for j := 0; j < len(lens); j += 4 {
				sum += int(binary.LittleEndian.Uint32(lens[j:]))
				if sum > colMaxArena {
					return fail("column %s holds more than %d bytes in a block", s.Columns[i].Name, colMaxArena)
				}
			}
			// Each value is an entry of the column's dictionary, its
			// bytes read straight into place, a mebibyte at a time (so
			// that a truncated file does not claim memory for its
			// lengths).
			d := v.Dict
			end := int64(len(d.Bytes))
			for left := sum; left > 0; {
				k := min(left, 1<<20)
				d.Bytes = lengthen(d.Bytes, k)
				if err := full(d.Bytes[len(d.Bytes)-k:], name); err != nil {
					return err
				}
				left -= k
			}
			for j := 0; j < len(lens); j += 4 {
				v.Codes = append(v.Codes, int32(d.Len()))
				end += int64(binary.LittleEndian.Uint32(lens[j:]))
				d.Offs = append(d.Offs, end)
			}
		}
		cb.rows += int(rows)
		total += rows
	}
	want, err := uvarint("end")
	if err != nil {
		return err
	}
	if want != total {
		return fail("the file says %d rows, its blocks hold %d", want, total)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return fail("data after the end")
	}
	return nil
}
