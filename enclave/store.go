package enclave

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/schema"
)

// MaxUploadBytes is the largest ciphertext Ingest accepts: 4 GiB.
const MaxUploadBytes int64 = 4 << 30

// Errors callers act on. Each is returned wrapped; check with errors.Is.
var (
	// ErrInvalidName: a dataset name or upload ID is malformed. Nothing was
	// read or written; fix the request.
	ErrInvalidName = errors.New("invalid dataset name or upload ID")
	// ErrExists: an upload with this ID is stored already (or being
	// ingested). Upload IDs are never reused; pick a new one.
	ErrExists = errors.New("upload exists")
	// ErrNotFound: no such upload is stored.
	ErrNotFound = errors.New("upload not found")
	// ErrTooLarge: the ciphertext is over MaxUploadBytes. Nothing was kept.
	ErrTooLarge = errors.New("upload too large")
	// ErrWrongRecipient: the upload is an age file, but not encrypted to
	// this node's recipient. Nothing was kept; the provider must encrypt to
	// Custody.Recipient.
	ErrWrongRecipient = errors.New("upload not encrypted to this node")
	// ErrBadCiphertext: the upload is not a valid age file, or it is
	// truncated, damaged or tampered with. Nothing was kept.
	ErrBadCiphertext = errors.New("upload is not a valid age ciphertext")
)

var uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidUploadID reports whether id is a valid upload ID: 32 lower-case hex
// digits (128 bits, for example from crypto/rand).
func ValidUploadID(id string) bool { return uploadIDRE.MatchString(id) }

func checkDataset(dataset string) error {
	if !schema.ValidName(dataset) {
		return fmt.Errorf("enclave: dataset name %q: %w (want a lower-case letter, then letters, digits or _)", dataset, ErrInvalidName)
	}
	return nil
}

func checkNames(dataset, uploadID string) error {
	if err := checkDataset(dataset); err != nil {
		return err
	}
	if !ValidUploadID(uploadID) {
		return fmt.Errorf("enclave: upload ID %q: %w (want 32 lower-case hex digits)", uploadID, ErrInvalidName)
	}
	return nil
}

// Receipt describes an ingested upload. The hashes let the provider and an
// auditor check that the node received exactly what was sent (ciphertext)
// and read exactly what the provider encrypted (plaintext).
type Receipt struct {
	Dataset          string
	UploadID         string
	Rows             int64 // data rows, not counting the header
	CiphertextSHA256 [32]byte
	PlaintextSHA256  [32]byte
	CiphertextBytes  int64
	PlaintextBytes   int64
	// Format is what the plaintext was: FormatCSV or FormatPart.
	Format string
}

// The forms an upload's plaintext may take.
const (
	// FormatCSV is a CSV file with a header line.
	FormatCSV = "csv"
	// FormatPart is a part in the columnar form (CRPART2, see
	// internal/columnar), which clients send.
	FormatPart = "crpart2"
)

// Store keeps uploads sealed on disk: dir/<dataset>/<uploadID>.age, each
// re-encrypted with age to the dataset's own key (DataKeys) as it is read,
// so that erasing that key shreds the dataset (Destroy). Plaintext exists
// only in memory, while an upload is checked (Ingest) or loaded (Load).
//
// One Store should own a directory: two Stores over the same directory do
// not see each other's ingests in progress or caches.
//
// Safe for concurrent use.
type Store struct {
	dir string
	// root is dir: every file of the store is reached through it, so no
	// name (nor a symbolic link placed in the folder) leads outside.
	root      *os.Root
	custody   *Custody
	keys      *DataKeys
	maxUpload int64

	mu       sync.Mutex
	inflight map[string]bool        // dataset/uploadID being ingested
	cache    map[string]*cacheEntry // by dataset: the last loaded upload list
	// cacheTTL and cacheBytes bound the cache (see SetCache).
	cacheTTL   time.Duration
	cacheBytes int64
}

// cacheEntry is one dataset's decrypted rows (see loadcache.go).
type cacheEntry struct {
	dataset string
	key     string
	need    []bool // the columns loaded, nil for all
	done    chan struct{}
	cols    *columns
	batch   *schema.Batch
	tc      *tableCache
	err     error
	size    int64       // bytes, once loaded
	refs    int         // queries using the rows now
	last    time.Time   // when the last one ended
	timer   *time.Timer // expires the entry after the TTL
	dropped bool        // out of the cache: wiped once refs is 0
	wiped   bool
}

// OpenStore opens (creating it with mode 0700 if needed) the store in dir,
// decrypting uploads with c and keeping them under the datasets' keys in
// keys. It deletes the temporary files of ingests that a crash
// interrupted (ciphertext only: plaintext is never written).
func OpenStore(dir string, c *Custody, keys *DataKeys) (*Store, error) {
	if c == nil || keys == nil {
		return nil, errors.New("enclave: OpenStore needs a Custody and DataKeys")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("enclave: opening store: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("enclave: opening store: %w", err)
	}
	stale, err := fs.Glob(root.FS(), "*/.ingest-*.tmp")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("enclave: opening store: %w", err)
	}
	for _, f := range stale {
		if err := root.Remove(f); err != nil {
			root.Close()
			return nil, fmt.Errorf("enclave: opening store: removing an interrupted ingest: %w", err)
		}
	}
	return &Store{
		dir:       dir,
		root:      root,
		custody:   c,
		keys:      keys,
		maxUpload: MaxUploadBytes,
		inflight:  make(map[string]bool),
		cache:     make(map[string]*cacheEntry),
	}, nil
}

// uploadPath is an upload's name in s.root.
func (s *Store) uploadPath(dataset, uploadID string) string {
	return dataset + "/" + uploadID + ".age"
}

// Close releases the store's folder. The store is not used after.
func (s *Store) Close() error { return s.root.Close() }

// countingReader counts bytes, stops past a limit and when ctx is done, and
// remembers why it stopped.
type countingReader struct {
	ctx      context.Context
	r        io.Reader
	n, limit int64
	tooLarge bool
	readErr  error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if c.tooLarge {
		return 0, ErrTooLarge
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.limit {
		c.tooLarge = true
		return 0, ErrTooLarge
	}
	if err != nil && err != io.EOF {
		c.readErr = err
	}
	return n, err
}

// plainReader hashes and counts the plaintext and remembers a decryption
// error.
type plainReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (p *plainReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	if err != nil && err != io.EOF {
		p.err = err
	}
	return n, err
}

// Ingest stores one upload: body is the age ciphertext of the rows of s,
// either a columnar part (CRPART2, see internal/columnar; what clients
// send) or a CSV file (named file in error messages) with a header line.
// The plaintext's first bytes say which; the receipt's Format names it.
//
// In one pass it decrypts the upload in memory, checks every row, and
// writes the rows in the store's columnar form (CRCOLS2: strings
// dictionary-coded per block, ints narrowed, an index of the blocks),
// encrypted to the dataset's key, to a temporary file in the dataset's
// folder: loading them later is decryption and copying, on every core,
// with no parsing. A part's blocks are checked (structure, bounds, bools,
// UTF-8, max_len) and kept as they are; a CSV's rows are read with the
// CSV reader and encoded.
// The upload is kept (renamed to <uploadID>.age, after fsync of the file and
// then of the folder) only if all of it is valid. On any error (a
// malformed name, ErrExists, ErrTooLarge, ErrWrongRecipient,
// ErrBadCiphertext, a *csv.Error or a *columnar.RowError reachable with
// errors.As, columnar.ErrFormat, ctx's error, a read error of body)
// nothing of the upload stays on disk.
func (s *Store) Ingest(ctx context.Context, dataset, uploadID string, sc *schema.Schema, file string, body io.Reader) (*Receipt, error) {
	if err := checkNames(dataset, uploadID); err != nil {
		return nil, err
	}
	if sc == nil {
		return nil, errors.New("enclave: ingest: no schema")
	}
	key := dataset + "/" + uploadID
	s.mu.Lock()
	if s.inflight[key] {
		s.mu.Unlock()
		return nil, fmt.Errorf("enclave: ingest %s: %w (an ingest is in progress)", key, ErrExists)
	}
	s.inflight[key] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
	}()

	final := s.uploadPath(dataset, uploadID)
	if _, err := s.root.Lstat(final); err == nil {
		return nil, fmt.Errorf("enclave: ingest %s: %w", key, ErrExists)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("enclave: ingest %s: %w", key, err)
	}
	if err := s.root.MkdirAll(dataset, 0o700); err != nil {
		return nil, fmt.Errorf("enclave: ingest %s: %w", key, err)
	}
	tmpName := dataset + "/.ingest-" + uploadID + "-" + randomSuffix() + ".tmp"
	tmp, err := s.root.OpenFile(tmpName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("enclave: ingest %s: %w", key, err)
	}
	kept := false
	defer func() {
		if !kept {
			tmp.Close()
			s.root.Remove(tmpName)
		}
	}()

	rcpt, err := s.ingest(ctx, dataset, key, sc, file, body, tmp)
	if err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("enclave: ingest %s: %w", key, err)
	}
	// Checked again: an upload of the same ID cannot have started since
	// (inflight), but the directory is not ours alone.
	if _, err := s.root.Lstat(final); err == nil {
		return nil, fmt.Errorf("enclave: ingest %s: %w", key, ErrExists)
	}
	if err := s.root.Rename(tmpName, final); err != nil {
		return nil, fmt.Errorf("enclave: ingest %s: %w", key, err)
	}
	kept = true
	if err := syncRootDir(s.root, dataset); err != nil {
		return nil, err
	}
	rcpt.Dataset, rcpt.UploadID = dataset, uploadID
	return rcpt, nil
}

func (s *Store) ingest(ctx context.Context, dataset, key string, sc *schema.Schema, file string, body io.Reader, tmp *os.File) (*Receipt, error) {
	cr := &countingReader{ctx: ctx, r: body, limit: s.maxUpload}
	ctHash := sha256.New()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	tee := io.TeeReader(cr, ctHash)
	pr := &plainReader{h: sha256.New()}
	enc, err := s.keys.Encrypt(dataset, bw)
	if err != nil {
		return nil, err
	}

	// classify turns a failure anywhere in the pipeline into the error to
	// report, by what the readers saw.
	classify := func(err error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("enclave: ingest %s: %w", key, ctx.Err())
		case cr.tooLarge:
			return fmt.Errorf("enclave: ingest %s: %w (more than %d bytes)", key, ErrTooLarge, s.maxUpload)
		case cr.readErr != nil:
			return fmt.Errorf("enclave: ingest %s: reading upload: %w", key, cr.readErr)
		}
		var nim *age.NoIdentityMatchError
		if errors.As(err, &nim) {
			return fmt.Errorf("enclave: ingest %s: %w: %w", key, ErrWrongRecipient, err)
		}
		if pr.err != nil {
			return fmt.Errorf("enclave: ingest %s: %w: %w", key, ErrBadCiphertext, pr.err)
		}
		var ce *csv.Error
		if errors.As(err, &ce) {
			return fmt.Errorf("enclave: ingest %s: %w", key, err)
		}
		return fmt.Errorf("enclave: ingest %s: %w", key, err)
	}

	plain, err := age.Decrypt(tee, s.custody.identity)
	if err != nil {
		var nim *age.NoIdentityMatchError
		if !errors.As(err, &nim) && ctx.Err() == nil && !cr.tooLarge && cr.readErr == nil {
			return nil, fmt.Errorf("enclave: ingest %s: %w: %w", key, ErrBadCiphertext, err)
		}
		return nil, classify(err)
	}
	pr.r = plain
	// The plaintext's first bytes say its form.
	head := make([]byte, len(columnar.PartMagic))
	nh, err := io.ReadFull(pr, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, classify(err)
	}
	text := io.MultiReader(bytes.NewReader(head[:nh]), pr)
	format, rows := FormatCSV, int64(0)
	if string(head[:nh]) == columnar.PartMagic {
		format = FormatPart
		rows, err = ingestPart(text, sc, enc)
	} else {
		rows, err = ingestCSV(text, sc, file, enc)
	}
	if err != nil {
		return nil, classify(err)
	}
	// The CSV reader stops at the plaintext's end; make sure age has
	// authenticated the final chunk and that no ciphertext is left unread.
	if _, err := io.Copy(io.Discard, pr); err != nil {
		return nil, classify(err)
	}
	if n, err := io.Copy(io.Discard, tee); err != nil {
		return nil, classify(err)
	} else if n > 0 {
		return nil, fmt.Errorf("enclave: ingest %s: %w: trailing data after the end of the age file", key, ErrBadCiphertext)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("enclave: ingest %s: writing: %w", key, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("enclave: ingest %s: writing: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("enclave: ingest %s: syncing: %w", key, err)
	}
	r := &Receipt{Rows: rows, CiphertextBytes: cr.n, PlaintextBytes: pr.n, Format: format}
	ctHash.Sum(r.CiphertextSHA256[:0])
	pr.h.Sum(r.PlaintextSHA256[:0])
	return r, nil
}

// ingestPart checks the blocks of a columnar part of sc and writes them,
// as they are, as a stored file to w. It returns the rows.
func ingestPart(r io.Reader, sc *schema.Schema, w io.Writer) (int64, error) {
	pr, err := columnar.NewPartReader(r, sc)
	if err != nil {
		return 0, err
	}
	defer pr.Wipe()
	fw, err := columnar.NewFileWriter(w, sc)
	if err != nil {
		return 0, err
	}
	for {
		b, err := pr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return 0, err
		}
		if err := fw.Add(b); err != nil {
			return 0, err
		}
	}
	return pr.Rows(), fw.Close()
}

// ingestCSV reads a CSV of sc (named file in errors), checking every row,
// and writes its rows as a stored file to w. It returns the rows.
func ingestCSV(r io.Reader, sc *schema.Schema, file string, w io.Writer) (int64, error) {
	rd, err := csv.NewReader(r, sc, csv.Options{File: file, BatchSize: 4096})
	if err != nil {
		return 0, err
	}
	cw, err := newColWriter(w, sc)
	if err != nil {
		return 0, err
	}
	defer cw.wipe() // the block being gathered, on any error
	for {
		b, err := rd.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return 0, err
		}
		if err := cw.write(b); err != nil {
			return 0, err
		}
	}
	return rd.Rows(), cw.close()
}

// Remove deletes a stored upload (its ciphertext) and drops the dataset's
// cached table. It returns an error wrapping ErrNotFound if there is none.
func (s *Store) Remove(dataset, uploadID string) error {
	if err := checkNames(dataset, uploadID); err != nil {
		return err
	}
	s.dropDataset(dataset)
	if err := s.root.Remove(s.uploadPath(dataset, uploadID)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("enclave: remove %s/%s: %w", dataset, uploadID, ErrNotFound)
		}
		return fmt.Errorf("enclave: remove %s/%s: %w", dataset, uploadID, err)
	}
	return syncRootDir(s.root, dataset)
}

// List returns the IDs of the uploads stored for dataset, sorted. A dataset
// with no uploads has none (and no error).
func (s *Store) List(dataset string) ([]string, error) {
	if err := checkDataset(dataset); err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(s.root.FS(), dataset)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("enclave: list %s: %w", dataset, err)
	}
	var ids []string
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".age")
		if ok && e.Type().IsRegular() && ValidUploadID(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Load decrypts the listed uploads of dataset, in order, and reads them
// with s into one in-memory Table (Unit -1 and MaxRowsPerUnit 1: the caller
// sets both from the dataset's declaration), its string columns
// dictionary-coded (schema.Vector). Columnar uploads are decrypted and
// decoded block by block on every core; older uploads (CRCOLS1, CSV)
// still load, in one pass. The rows are cached: a later
// Load of the same dataset, schema and upload list returns the same rows
// without decrypting again. The cache keeps one upload list per dataset
// (the last loaded); Remove drops it. Concurrent Loads of the same list
// decrypt once.
//
// Each call returns a new Table whose Rows are shared with the cache and
// with other callers: they must not be modified. Call the Table's Release
// when done with it: until then its rows are never wiped (see SetCache). What Execute derives from
// the rows (dictionary codes of string columns, join indexes) is cached
// with them, so the first query over newly loaded rows is slower than the
// next ones.
func (s *Store) Load(dataset string, sc *schema.Schema, uploadIDs []string) (*Table, error) {
	return s.LoadRows(dataset, sc, uploadIDs, 0)
}

// LoadRows is Load given how many rows the uploads hold (as the ledger
// records them; 0 if unknown). Columnar uploads say their sizes in their
// index, and each column is allocated once at its size; the count stands
// in for uploads stored in the older forms, which say nothing. A wrong
// count costs time, never correctness.
func (s *Store) LoadRows(dataset string, sc *schema.Schema, uploadIDs []string, rows int64) (*Table, error) {
	return s.LoadColumns(dataset, sc, uploadIDs, rows, nil)
}

// LoadColumns is LoadRows of only the columns need says (by schema
// index; nil: all), for instance those a plan reads (PlanColumns): the
// others stay empty in the Table's Rows (no values) and are neither
// decoded nor, where they fill whole age chunks, decrypted. Uploads stored
// in the older forms load every column. The cache serves a request from
// rows loaded with at least its columns; for more, it loads again the
// columns of both.
func (s *Store) LoadColumns(dataset string, sc *schema.Schema, uploadIDs []string, rows int64, need []bool) (*Table, error) {
	if need != nil && len(need) != len(sc.Columns) {
		return nil, fmt.Errorf("enclave: load %s: %d columns asked for, the schema has %d", dataset, len(need), len(sc.Columns))
	}
	if err := checkDataset(dataset); err != nil {
		return nil, err
	}
	if sc == nil {
		return nil, errors.New("enclave: load: no schema")
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("enclave: load %s: %w", dataset, err)
	}
	seen := make(map[string]bool, len(uploadIDs))
	for _, id := range uploadIDs {
		if err := checkNames(dataset, id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("enclave: load %s: upload %s listed twice", dataset, id)
		}
		seen[id] = true
	}
	sj, err := json.Marshal(sc)
	if err != nil {
		return nil, fmt.Errorf("enclave: load %s: %w", dataset, err)
	}
	key := string(sj) + "\n" + strings.Join(uploadIDs, ",")

	s.mu.Lock()
	e := s.cache[dataset]
	if e == nil || e.key != key || !covers(e.need, need) {
		if e != nil {
			if e.key == key {
				need = union(e.need, need) // the same rows: load what both want
			}
			s.dropLocked(e) // another upload list, or fewer columns: its rows go
		}
		e = &cacheEntry{dataset: dataset, key: key, need: need, done: make(chan struct{})}
		s.cache[dataset] = e
		e.acquire()
		s.mu.Unlock()
		e.cols, e.err = s.load(dataset, sc, uploadIDs, rows, need)
		if e.err == nil {
			e.batch = e.cols.batch
		}
		e.tc = newTableCache()
		close(e.done)
		s.mu.Lock()
		if e.err != nil {
			if s.cache[dataset] == e {
				delete(s.cache, dataset)
			}
		} else {
			e.size = e.cols.size()
		}
		s.trimLocked()
		s.mu.Unlock()
	} else {
		e.acquire()
		s.mu.Unlock()
		<-e.done
	}
	release := s.releaser(e)
	if e.err != nil {
		release()
		return nil, e.err
	}
	return &Table{Name: dataset, Schema: sc, Rows: e.batch, Unit: -1, MaxRowsPerUnit: 1, cache: e.tc, release: release}, nil
}

// covers reports whether columns have (nil: all) include need (nil: all).
func covers(have, need []bool) bool {
	if have == nil {
		return true
	}
	if need == nil {
		return false
	}
	for i, n := range need {
		if n && !have[i] {
			return false
		}
	}
	return true
}

// union returns the columns of a or b (nil: all).
func union(a, b []bool) []bool {
	if a == nil || b == nil {
		return nil
	}
	out := make([]bool, len(a))
	for i := range a {
		out[i] = a[i] || b[i]
	}
	return out
}

func (s *Store) load(dataset string, sc *schema.Schema, uploadIDs []string, rows int64, need []bool) (*columns, error) {
	// First the indexes of the columnar uploads, so that each column is
	// allocated once at its final size; the older forms announce nothing,
	// and the ledger's count (rows) stands in for them.
	var want colTotals
	older := false
	for _, id := range uploadIDs {
		u, err := s.openUpload(dataset, sc, id)
		if err != nil {
			return nil, err
		}
		if u.cf != nil {
			want.add(u.cf)
		} else {
			older = true
		}
		u.close()
	}
	if older {
		need = nil // the older forms load every column
	}
	blocks := newColBlocksOf(sc, need)
	if older && rows > int64(want.rows) && rows <= maxRows {
		want.addRows(int(rows)-want.rows, len(sc.Columns))
	}
	if !older {
		blocks.plan(want)
	}
	blocks.grow(want)
	for _, id := range uploadIDs {
		if err := s.loadOne(dataset, sc, id, blocks); err != nil {
			blocks.wipe()
			return nil, err
		}
	}
	return blocks.columns(), nil
}

// sealedUpload is a stored upload opened for reading: its plaintext
// through ra, of size bytes, and the index of its blocks when it is in
// the columnar form (cf), or its form's magic (format, "" for CSV).
type sealedUpload struct {
	name   string
	f      *os.File
	ra     io.ReaderAt
	size   int64
	format string
	cf     *colFile
}

// close closes the upload's file.
func (u *sealedUpload) close() { u.f.Close() }

// openUpload opens one stored upload for reading at any offset, and reads
// the index of a columnar one.
func (s *Store) openUpload(dataset string, sc *schema.Schema, id string) (*sealedUpload, error) {
	name := dataset + "/" + id + ".age"
	f, err := s.root.Open(s.uploadPath(dataset, id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("enclave: load %s: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("enclave: load %s: %w", name, err)
	}
	u := &sealedUpload{name: name, f: f}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("enclave: load %s: %w", name, err)
	}
	u.ra, u.size, err = s.keys.DecryptAt(dataset, f, fi.Size(), s.custody)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("enclave: load %s: %w: %w", name, ErrBadCiphertext, err)
	}
	head := make([]byte, min(u.size, int64(len(colMagic))))
	if err := readAt(u.ra, head, 0); err != nil {
		f.Close()
		return nil, loadError(name, err)
	}
	u.format = colFormat(head)
	if u.format == colMagic {
		if u.cf, err = openColFile(u.ra, u.size, sc); err != nil {
			f.Close()
			return nil, loadError(name, err)
		}
	}
	return u, nil
}

// loadError reports an error reading a stored upload: the form's errors
// as they are, the file system's as they are, and any other (age failing
// to authenticate a chunk) as ErrBadCiphertext.
func loadError(name string, err error) error {
	var pe *fs.PathError
	if errors.Is(err, errColFormat) || errors.As(err, &pe) {
		return fmt.Errorf("enclave: load %s: %w", name, err)
	}
	return fmt.Errorf("enclave: load %s: %w: %w", name, ErrBadCiphertext, err)
}

// loadOne decrypts one upload and appends its rows to blocks: the
// columnar form on every core (CRCOLS2) or in one pass (CRCOLS1), or, for
// an upload stored before it, its CSV by parsing.
func (s *Store) loadOne(dataset string, sc *schema.Schema, id string, blocks *colBlocks) error {
	u, err := s.openUpload(dataset, sc, id)
	if err != nil {
		return err
	}
	defer u.close()
	switch u.format {
	case colMagic:
		if err := u.cf.read(blocks, runtime.GOMAXPROCS(0)); err != nil {
			return loadError(u.name, err)
		}
		return nil
	case colMagic1:
		r := newSectionReader(u.ra, 0, u.size, u.size)
		defer r.wipe()
		if err := readColumns1(r, sc, blocks); err != nil {
			return loadError(u.name, err)
		}
		return nil
	}
	r := newSectionReader(u.ra, 0, u.size, u.size)
	defer r.wipe()
	rd, err := csv.NewReader(r, sc, csv.Options{File: u.name})
	if err != nil {
		return fmt.Errorf("enclave: load %s: %w", u.name, err)
	}
	for {
		b, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("enclave: load %s: %w", u.name, err)
		}
		if err := blocks.add(b); err != nil {
			return fmt.Errorf("enclave: load %s: %w", u.name, err)
		}
	}
}

// FileHash is the evidence of one destroyed file: its name and the SHA-256
// of its bytes.
type FileHash struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Evidence hashes every stored file of a dataset, for the record of its
// destruction.
func (s *Store) Evidence(dataset string) ([]FileHash, error) {
	if err := checkDataset(dataset); err != nil {
		return nil, err
	}
	return hashFilesFS(s.root.FS(), dataset, "sealed/"+dataset+"/")
}

// Destroy deletes every stored file of a dataset and its folder, and
// drops its cached table. Erase its key with DataKeys.Erase. Destroying a
// dataset with nothing stored is not an error.
func (s *Store) Destroy(dataset string) error {
	if err := checkDataset(dataset); err != nil {
		return err
	}
	s.dropDataset(dataset)
	if err := s.root.RemoveAll(dataset); err != nil {
		return fmt.Errorf("enclave: removing %s: %w", dataset, err)
	}
	return syncRootDir(s.root, ".")
}

// hashFilesFS hashes the regular files of dir in fsys, named prefix+name,
// sorted.
func hashFilesFS(fsys fs.FS, dir, prefix string) ([]FileHash, error) {
	des, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []FileHash
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		f, err := fsys.Open(path.Join(dir, de.Name()))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, FileHash{Name: prefix + de.Name(), SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	return out, nil
}

// HashFilesFS hashes the regular files of the folder dir of fsys (an
// os.Root's FS, say), named prefix+name, sorted: the evidence of what a
// destruction deletes.
func HashFilesFS(fsys fs.FS, dir, prefix string) ([]FileHash, error) {
	return hashFilesFS(fsys, dir, prefix)
}

// syncRootDir fsyncs the folder dir of root.
func syncRootDir(root *os.Root, dir string) error { return syncOpened(root.Open, dir) }

// randomSuffix returns 16 random hex digits for a temporary file's name.
func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
