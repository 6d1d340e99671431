package columnar

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"

	"github.com/xjdata/cleanroom/schema"
)

// Encoder encodes batches of a schema into blocks, and hands each block
// to emit as it is full. It gathers one block at a time. Not safe for
// concurrent use.
type Encoder struct {
	// EndBlock, if set, is asked whenever the rows gathered reach a
	// multiple of SplitRows, with the bytes the block would take if it
	// ended there, whether it should end there. Block ends then remain a
	// function of the rows alone (and of EndBlock's answers): a client
	// ends blocks where a part is full.
	EndBlock func(bytes int) bool

	s    *schema.Schema
	emit func(*Block) error
	blk  Block
	lo   []int64 // per int column, the smallest value gathered
	hi   []int64 // and the largest

	// The block being gathered: n rows, ints per int column, a
	// dictionary per string column, strBytes bytes of strings (before
	// the dictionaries merge them).
	n        int
	ints     [][]int64
	dicts    []*blockDict
	strBytes int
}

// NewEncoder returns an Encoder of batches of s that hands each block to
// emit. The block is valid until emit returns; an error of emit stops
// the encoder and is returned.
func NewEncoder(s *schema.Schema, emit func(*Block) error) (*Encoder, error) {
	if _, err := Header(Magic, s); err != nil {
		return nil, err
	}
	e := &Encoder{s: s, emit: emit, ints: make([][]int64, len(s.Columns)), dicts: make([]*blockDict, len(s.Columns)),
		lo: make([]int64, len(s.Columns)), hi: make([]int64, len(s.Columns))}
	for i, c := range s.Columns {
		if c.Type == schema.String {
			e.dicts[i] = newBlockDict()
		}
	}
	return e, nil
}

// Pending returns the rows gathered and not yet emitted.
func (e *Encoder) Pending() int { return e.n }

// SplitRows is the granularity of Encoder.EndBlock: Write gathers rows
// column by column in runs that end at multiples of it.
const SplitRows = 64

// Write appends a batch's rows (plain or dictionary-coded string
// vectors), emitting a block whenever one is full.
func (e *Encoder) Write(b *schema.Batch) error {
	run := 4096
	if e.EndBlock != nil {
		run = SplitRows
	}
	for lo := 0; lo < b.Len; {
		hi := min(b.Len, lo+run-e.n%run, lo+BlockRows-e.n)
		// End the run at the row that fills the block's strings.
		if n := e.strLen(b, lo, hi); e.strBytes+n < BlockBytes {
			e.strBytes += n
		} else {
			for r := lo; r < hi && e.strBytes < BlockBytes; r++ {
				for i := range e.dicts {
					if e.dicts[i] != nil {
						e.strBytes += len(b.Cols[i].Str(r))
					}
				}
				if e.strBytes >= BlockBytes {
					hi = r + 1
				}
			}
		}
		for i := range e.s.Columns {
			v := &b.Cols[i]
			d := e.dicts[i]
			if d == nil {
				xs := v.Ints[lo:hi]
				lo, hi := slices.Min(xs), slices.Max(xs)
				if e.n == 0 || lo < e.lo[i] {
					e.lo[i] = lo
				}
				if e.n == 0 || hi > e.hi[i] {
					e.hi[i] = hi
				}
				e.ints[i] = append(e.ints[i], xs...)
				continue
			}
			if v.Dict == nil {
				for _, s := range v.Strs[lo:hi] {
					d.add(s)
				}
			} else {
				for r := lo; r < hi; r++ {
					d.add(v.Str(r))
				}
			}
			if len(d.arena) > MaxArena {
				return fmt.Errorf("columnar: column %s: %d bytes of strings in %d rows", e.s.Columns[i].Name, len(d.arena), e.n+hi-lo)
			}
		}
		e.n += hi - lo
		lo = hi
		full := e.n == BlockRows || e.strBytes >= BlockBytes
		if !full && e.EndBlock != nil && e.n%SplitRows == 0 {
			full = e.EndBlock(e.size())
		}
		if full {
			if err := e.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// strLen returns the bytes of the strings of rows [lo, hi) of b.
func (e *Encoder) strLen(b *schema.Batch, lo, hi int) int {
	n := 0
	for i, d := range e.dicts {
		if d == nil {
			continue
		}
		v := &b.Cols[i]
		if v.Dict == nil {
			for _, s := range v.Strs[lo:hi] {
				n += len(s)
			}
			continue
		}
		for r := lo; r < hi; r++ {
			n += len(v.Str(r))
		}
	}
	return n
}

// size returns the bytes the block gathered would take, with its index
// entry, give or take a few bytes of uvarints.
func (e *Encoder) size() int {
	n := 2 * binary.MaxVarintLen32
	for i, d := range e.dicts {
		if d == nil {
			n += 9 + e.n*max(1, (bits.Len64(uint64(e.hi[i])-uint64(e.lo[i]))+7)/8)
			continue
		}
		n += 6*binary.MaxVarintLen32 + len(d.arena)
		if d.width() == 0 {
			n += 4 * d.len()
		}
		switch {
		case d.len() == e.n:
		case d.len() <= 1<<8:
			n += e.n
		default:
			n += 2 * e.n
		}
	}
	return n
}

// Flush emits the rows gathered as a block, if there are any.
func (e *Encoder) Flush() error {
	n := e.n
	if n == 0 {
		return nil
	}
	buf, entry := e.blk.Data[:0], e.blk.Entry[:0]
	for i := range e.s.Columns {
		if d := e.dicts[i]; d != nil {
			w := d.width()
			buf = binary.AppendUvarint(buf, uint64(d.len()))
			buf = binary.AppendUvarint(buf, w)
			if w == 0 {
				for k := range d.len() {
					buf = binary.LittleEndian.AppendUint32(buf, d.starts[k+1]-d.starts[k])
				}
			}
			buf = append(buf, d.arena...)
			switch {
			case d.len() == n:
			case d.len() <= 1<<8:
				for _, c := range d.codes {
					buf = append(buf, byte(c))
				}
			default:
				for _, c := range d.codes {
					buf = binary.LittleEndian.AppendUint16(buf, c)
				}
			}
			continue
		}
		xs, lo, hi := e.ints[i], e.lo[i], e.hi[i]
		w := max(1, (bits.Len64(uint64(hi)-uint64(lo))+7)/8)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(lo))
		buf = append(buf, byte(w))
		buf = appendNarrow(buf, xs, lo, w)
	}
	entry = binary.AppendUvarint(entry, uint64(len(buf)))
	entry = binary.AppendUvarint(entry, uint64(n))
	for _, d := range e.dicts {
		if d != nil {
			entry = binary.AppendUvarint(entry, uint64(d.len()))
			entry = binary.AppendUvarint(entry, uint64(len(d.arena)))
			entry = binary.AppendUvarint(entry, d.width())
			d.reset()
		}
	}
	for i := range e.ints {
		e.ints[i] = e.ints[i][:0]
	}
	e.blk = Block{Rows: n, Data: buf, Entry: entry}
	e.n, e.strBytes = 0, 0
	return e.emit(&e.blk)
}

// appendNarrow appends each x−lo in w bytes, little-endian.
func appendNarrow(buf []byte, xs []int64, lo int64, w int) []byte {
	switch w {
	case 1:
		for _, x := range xs {
			buf = append(buf, byte(x-lo))
		}
	case 2:
		for _, x := range xs {
			buf = binary.LittleEndian.AppendUint16(buf, uint16(x-lo))
		}
	case 4:
		for _, x := range xs {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(x-lo))
		}
	case 8:
		for _, x := range xs {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(x-lo))
		}
	default:
		var b [8]byte
		for _, x := range xs {
			binary.LittleEndian.PutUint64(b[:], uint64(x-lo))
			buf = append(buf, b[:w]...)
		}
	}
	return buf
}

// Wipe zeroes the encoder's buffers of plaintext: the block being
// gathered and the last one emitted.
func (e *Encoder) Wipe() {
	e.blk.Wipe()
	for i, xs := range e.ints {
		clear(xs[:cap(xs)])
		e.ints[i] = xs[:0]
	}
	for _, d := range e.dicts {
		if d != nil {
			d.wipe()
		}
	}
	e.n, e.strBytes = 0, 0
}

// blockDict is one string column's dictionary in the block being
// gathered: entries in order of first use, their bytes one after the
// other in arena, and a code per row. Entries are found through an
// open-addressing hash table (linear probing, at most half full) of
// codes, which holds no pointer; a row equal to the row before takes its
// code without a lookup, as sorted or grouped columns often do.
type blockDict struct {
	arena  []byte
	starts []uint32 // entry k is arena[starts[k]:starts[k+1]]
	codes  []uint16
	table  []uint32 // a code plus one per slot, 0 when empty
	last   int      // the previous row's code, or -1
	// uniform: every entry is as long as the first, which is not empty
	uniform bool
}

// dictSeed keys the dictionaries' hashes: random per process, so that no
// input can choose values that collide.
var dictSeed = maphash.MakeSeed()

func newBlockDict() *blockDict {
	return &blockDict{starts: []uint32{0}, table: make([]uint32, 1<<10), last: -1}
}

func (d *blockDict) len() int { return len(d.starts) - 1 }

func (d *blockDict) entry(k int) []byte {
	return d.arena[d.starts[k]:d.starts[k+1]]
}

// equal reports whether entry k is s, without a copy.
func (d *blockDict) equal(k int, s string) bool {
	a, b := d.starts[k], d.starts[k+1]
	return int(b-a) == len(s) && string(d.arena[a:b]) == s
}

// add codes s into the block's dictionary. The block has fewer than
// BlockRows rows, so the dictionary fewer entries, and codes fit.
func (d *blockDict) add(s string) {
	if d.last >= 0 && d.equal(d.last, s) {
		d.codes = append(d.codes, uint16(d.last))
		return
	}
	mask := uint64(len(d.table) - 1)
	i := maphash.String(dictSeed, s) & mask
	for {
		c := d.table[i]
		if c == 0 {
			break
		}
		if d.equal(int(c-1), s) {
			d.last = int(c - 1)
			d.codes = append(d.codes, uint16(c-1))
			return
		}
		i = (i + 1) & mask
	}
	code := d.len()
	if code == 0 {
		d.uniform = len(s) > 0
	} else if len(s) != int(d.starts[1]) {
		d.uniform = false
	}
	d.arena = append(d.arena, s...)
	d.starts = append(d.starts, uint32(len(d.arena)))
	d.table[i] = uint32(code + 1)
	d.last = code
	d.codes = append(d.codes, uint16(code))
	if 2*d.len() > len(d.table) {
		d.grow()
	}
}

// grow doubles the table.
func (d *blockDict) grow() {
	d.table = make([]uint32, 2*len(d.table))
	mask := uint64(len(d.table) - 1)
	for k := range d.len() {
		i := maphash.Bytes(dictSeed, d.entry(k)) & mask
		for d.table[i] != 0 {
			i = (i + 1) & mask
		}
		d.table[i] = uint32(k + 1)
	}
}

// width returns w of the format: one more than the length of every entry
// when they are all as long and not empty, else 0.
func (d *blockDict) width() uint64 {
	if !d.uniform {
		return 0
	}
	return uint64(d.starts[1]) + 1
}

// reset empties the dictionary for the next block.
func (d *blockDict) reset() {
	clear(d.table)
	d.arena, d.starts, d.codes, d.last, d.uniform = d.arena[:0], d.starts[:1], d.codes[:0], -1, false
}

// wipe zeroes the dictionary's plaintext.
func (d *blockDict) wipe() {
	clear(d.arena[:cap(d.arena)])
	clear(d.starts[:cap(d.starts)])
	clear(d.codes[:cap(d.codes)])
	d.reset()
}
