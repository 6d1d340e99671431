package agent

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/xjdata/cleanroom/internal/keys"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxEntry bounds one stored ledger entry.
const maxEntry = 16 << 20

// ledgerCopy is the agent's copy of the node's ledger: the entries it
// verified, each as a big-endian uint32 length and its bytes, in
// dir/entries, and the checkpoint that covers them in dir/checkpoint.
// Entries are appended and synced before the checkpoint is replaced, so a
// crash leaves at worst records beyond the checkpoint, which load drops.
type ledgerCopy struct {
	dir  string
	f    *os.File
	offs []int64 // offset of each entry's record
	end  int64
}

func openCopy(dir string) (*ledgerCopy, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: ledger copy: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "entries"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: ledger copy: %w", err)
	}
	return &ledgerCopy{dir: dir, f: f}, nil
}

// load returns the stored checkpoint (nil if none) and the entries it
// covers, dropping any record beyond them.
func (c *ledgerCopy) load() ([]byte, [][]byte, error) {
	signed, err := os.ReadFile(filepath.Join(c.dir, "checkpoint"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, c.f.Truncate(0)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("agent: ledger copy: %w", err)
	}
	size, err := checkpointSize(signed)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: ledger copy: %w", err)
	}
	r := bufio.NewReader(io.NewSectionReader(c.f, 0, 1<<62))
	var entries [][]byte
	var off int64
	for uint64(len(entries)) < size {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, nil, fmt.Errorf("agent: ledger copy holds %d entries, its checkpoint %d", len(entries), size)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxEntry {
			return nil, nil, fmt.Errorf("agent: ledger copy: entry %d of %d bytes", len(entries), n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, fmt.Errorf("agent: ledger copy: entry %d is cut short", len(entries))
		}
		c.offs = append(c.offs, off)
		off += 4 + int64(n)
		entries = append(entries, b)
	}
	c.end = off
	if err := c.f.Truncate(off); err != nil {
		return nil, nil, err
	}
	return signed, entries, nil
}

// append stores entries after those held and then signed, their
// checkpoint.
func (c *ledgerCopy) append(entries [][]byte, signed []byte) error {
	w := bufio.NewWriter(io.NewOffsetWriter(c.f, c.end))
	off := c.end
	var offs []int64
	for _, e := range entries {
		if len(e) > maxEntry {
			return fmt.Errorf("ledger entry of %d bytes", len(e))
		}
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(e)))
		w.Write(hdr[:])
		w.Write(e)
		offs = append(offs, off)
		off += 4 + int64(len(e))
	}
	// On any failure the records written past c.end are cut off again, so
	// that the next append starts where the copy ends.
	if err := w.Flush(); err != nil {
		c.f.Truncate(c.end)
		return err
	}
	if err := c.f.Sync(); err != nil {
		c.f.Truncate(c.end)
		return err
	}
	if err := keys.WriteDurable(filepath.Join(c.dir, "checkpoint"), signed, 0o644); err != nil {
		c.f.Truncate(c.end)
		return err
	}
	c.offs, c.end = append(c.offs, offs...), off
	return nil
}

// entry reads entry i.
func (c *ledgerCopy) entry(i uint64) ([]byte, error) {
	if i >= uint64(len(c.offs)) {
		return nil, fmt.Errorf("entry %d is not in the agent's copy of the ledger", i)
	}
	var hdr [4]byte
	if _, err := c.f.ReadAt(hdr[:], c.offs[i]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := c.f.ReadAt(b, c.offs[i]+4)
	return b, err
}

func (c *ledgerCopy) close() error { return c.f.Close() }
