package columnar

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/xjdata/cleanroom/schema"
)

// FileWriter writes a stored file (CRCOLS2) of blocks, in the order
// added. Not safe for concurrent use.
type FileWriter struct {
	w      *bufio.Writer
	off    int64 // bytes written
	rows   int64
	blocks int
	index  []byte // the index's entries so far
}

// NewFileWriter writes the magic and header of a stored file of s to w.
func NewFileWriter(w io.Writer, s *schema.Schema) (*FileWriter, error) {
	hdr, err := Header(Magic, s)
	if err != nil {
		return nil, err
	}
	f := &FileWriter{w: bufio.NewWriterSize(w, 1<<20)}
	n, err := f.w.Write(hdr)
	f.off += int64(n)
	return f, err
}

// Add writes a block.
func (f *FileWriter) Add(b *Block) error {
	// The index ends with two more uvarints: the blocks and the rows.
	if len(f.index)+len(b.Entry)+2*binary.MaxVarintLen64 > MaxIndex {
		return fmt.Errorf("columnar: more than %d blocks, an index of more than %d bytes", f.blocks, MaxIndex)
	}
	if f.rows+int64(b.Rows) > MaxRows {
		return fmt.Errorf("columnar: more than %d rows", MaxRows)
	}
	if _, err := f.w.Write(b.Data); err != nil {
		return err
	}
	f.index = append(f.index, b.Entry...)
	f.off += int64(len(b.Data))
	f.rows += int64(b.Rows)
	f.blocks++
	return nil
}

// Rows returns the rows of the blocks added.
func (f *FileWriter) Rows() int64 { return f.rows }

// Close writes the index and the footer, and flushes.
func (f *FileWriter) Close() error {
	end := binary.AppendUvarint(nil, uint64(f.blocks))
	end = append(end, f.index...)
	end = binary.AppendUvarint(end, uint64(f.rows))
	end = binary.LittleEndian.AppendUint64(end, uint64(f.off))
	if _, err := f.w.Write(end); err != nil {
		return err
	}
	return f.w.Flush()
}

// Writer encodes batches into a stored file: an Encoder whose blocks go
// to a FileWriter.
type Writer struct {
	*Encoder
	f *FileWriter
}

// NewWriter returns a Writer of a stored file of s to w.
func NewWriter(w io.Writer, s *schema.Schema) (*Writer, error) {
	f, err := NewFileWriter(w, s)
	if err != nil {
		return nil, err
	}
	e, err := NewEncoder(s, f.Add)
	if err != nil {
		return nil, err
	}
	return &Writer{Encoder: e, f: f}, nil
}

// Rows returns the rows written so far, in blocks.
func (w *Writer) Rows() int64 { return w.f.Rows() }

// Close writes the last block, the index and the footer, flushes, and
// zeroes the encoder's buffers of plaintext.
func (w *Writer) Close() error {
	defer w.Wipe()
	if err := w.Flush(); err != nil {
		return err
	}
	return w.f.Close()
}

// PartWriter writes a part (CRPART2) of blocks, in the order added. Not
// safe for concurrent use.
type PartWriter struct {
	w    io.Writer
	rows int64
}

// NewPartWriter writes the magic and header of a part of s to w.
func NewPartWriter(w io.Writer, s *schema.Schema) (*PartWriter, error) {
	hdr, err := Header(PartMagic, s)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	return &PartWriter{w: w}, nil
}

// Add writes a block's frame: its index entry, then its bytes.
func (p *PartWriter) Add(b *Block) error {
	if _, err := p.w.Write(b.Entry); err != nil {
		return err
	}
	if _, err := p.w.Write(b.Data); err != nil {
		return err
	}
	p.rows += int64(b.Rows)
	return nil
}

// Rows returns the rows of the blocks added.
func (p *PartWriter) Rows() int64 { return p.rows }

// Close writes the part's end.
func (p *PartWriter) Close() error {
	end := binary.AppendUvarint([]byte{0}, uint64(p.rows))
	_, err := p.w.Write(end)
	return err
}

// EncodePart writes batches of s to w as one part.
func EncodePart(w io.Writer, s *schema.Schema, batches ...*schema.Batch) error {
	pw, err := NewPartWriter(w, s)
	if err != nil {
		return err
	}
	enc, err := NewEncoder(s, pw.Add)
	if err != nil {
		return err
	}
	defer enc.Wipe()
	for _, b := range batches {
		if err := enc.Write(b); err != nil {
			return err
		}
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	return pw.Close()
}
