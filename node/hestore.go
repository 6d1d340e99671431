package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"

	"github.com/xjdata/cleanroom/enclave"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/heupload"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/mhe"
	"github.com/xjdata/cleanroom/schema"
	"github.com/xjdata/cleanroom/state"
)

// heStore keeps HE-mode uploads: dir/<dataset>/<id>.age, an heupload
// container re-encrypted with age to the dataset's key as it arrives, so
// that erasing the key shreds it. Loading decrypts and parses them and
// caches the result per dataset.
type heStore struct {
	dir string
	// root is dir: every file of the store is reached through it.
	root    *os.Root
	custody *enclave.Custody
	keys    *enclave.DataKeys
	params  bgv.Parameters

	mu       sync.Mutex
	cache    map[string]*heTable // by dataset and upload list
	inflight map[string]bool     // dataset/upload being ingested

	// zeros are encryptions of zero made ahead for re-randomisation.
	zeros zeroPool
	// key is the collective key, parsed.
	key keyCache
}

// heTable is a dataset's HE-mode rows: the clear and fingerprint columns
// in one batch, the ciphertexts of each encrypted column per upload.
type heTable struct {
	rows     *schema.Batch
	segments []heSegment
	// table is rows as the enclave runs them, with its cache of codes and
	// join indexes.
	table *enclave.Table
}

// heSegment is one upload's ciphertexts: its rows start at first.
type heSegment struct {
	first  int
	rows   int
	chunks map[string][]*mhe.Ciphertext
	// totals are the columns' mhe.ColumnTotal, made on first use.
	totals *columnTotals
}

type heReceipt struct {
	header         heupload.Header
	cipherSHA256   [32]byte
	cipherBytes    int64
	plaintextBytes int64
}

func newHEStore(dir string, c *enclave.Custody, keys *enclave.DataKeys) (*heStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: HE store: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("node: HE store: %w", err)
	}
	params, err := mhe.NewParameters()
	if err != nil {
		root.Close()
		return nil, err
	}
	return &heStore{dir: dir, root: root, custody: c, keys: keys, params: params, cache: map[string]*heTable{}, inflight: map[string]bool{}}, nil
}

// path is an upload's name in s.root.
func (s *heStore) path(dataset, id string) string {
	return dataset + "/" + id + ".age"
}

// counter counts and hashes what passes through it.
type counter struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// ingest stores an upload: it streams the body to a temporary file while
// decrypting and parsing it, and keeps it only if all of it is valid.
func (s *heStore) ingest(ctx context.Context, dataset, id string, sc *schema.Schema, body io.Reader) (*heReceipt, error) {
	if !schema.ValidName(dataset) || !enclave.ValidUploadID(id) {
		return nil, errors.New("bad dataset name or upload id")
	}
	// One ingest per upload id at a time: a retry racing the first cannot
	// replace or remove its file.
	key := dataset + "/" + id
	s.mu.Lock()
	if s.inflight[key] {
		s.mu.Unlock()
		return nil, fmt.Errorf("upload %s is being received already", id)
	}
	s.inflight[key] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
	}()
	if err := s.root.MkdirAll(dataset, 0o700); err != nil {
		return nil, err
	}
	final := s.path(dataset, id)
	if _, err := s.root.Stat(final); err == nil {
		return nil, fmt.Errorf("upload %s is already stored", id)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmpName := dataset + "/.ingest-" + hex.EncodeToString(rnd[:])
	tmp, err := s.root.OpenFile(tmpName, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			s.root.Remove(tmpName)
		}
	}()
	cc := &counter{r: body, h: sha256.New()}
	plain, err := s.custody.Decrypt(cc)
	if err != nil {
		return nil, err
	}
	enc, err := s.keys.Encrypt(dataset, tmp)
	if err != nil {
		return nil, err
	}
	pc := &counter{r: io.TeeReader(plain, enc), h: sha256.New()}
	u, err := heupload.Read(pc, dataset, sc, s.params)
	if err != nil {
		return nil, err
	}
	// The container ends; age checks its last chunk at the end of the
	// stream, and nothing may follow.
	if n, err := io.Copy(io.Discard, pc); err != nil || n != 0 {
		return nil, errors.New("the upload holds data after its container")
	}
	if n, err := io.Copy(io.Discard, cc); err != nil || n != 0 {
		return nil, errors.New("the upload holds data after its age file")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := s.root.Rename(tmpName, final); err != nil {
		return nil, err
	}
	keep = true
	if d, err := s.root.Open(dataset); err == nil {
		d.Sync()
		d.Close()
	}
	rc := &heReceipt{header: u.Header, cipherBytes: cc.n, plaintextBytes: pc.n}
	copy(rc.cipherSHA256[:], cc.h.Sum(nil))
	return rc, nil
}

// evidence hashes every stored file of a dataset, for the record of its
// destruction.
func (s *heStore) evidence(dataset string) ([]enclave.FileHash, error) {
	return enclave.HashFilesFS(s.root.FS(), dataset, "he/uploads/"+dataset+"/")
}

// destroy deletes every stored file of a dataset and drops its cache.
func (s *heStore) destroy(dataset string) error {
	s.mu.Lock()
	for k := range s.cache {
		if strings.HasPrefix(k, dataset+"\x00") {
			delete(s.cache, k)
		}
	}
	s.mu.Unlock()
	if err := s.root.RemoveAll(dataset); err != nil {
		return err
	}
	if d, err := s.root.Open("."); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (s *heStore) remove(dataset, id string) error {
	err := s.root.Remove(s.path(dataset, id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// list returns the upload IDs stored for a dataset.
func (s *heStore) list(dataset string) ([]string, error) {
	des, err := fs.ReadDir(s.root.FS(), dataset)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, de := range des {
		if id, ok := strings.CutSuffix(de.Name(), ".age"); ok {
			ids = append(ids, id)
		}
		if strings.HasPrefix(de.Name(), ".ingest-") {
			s.root.Remove(dataset + "/" + de.Name())
		}
	}
	return ids, nil
}

// load returns a dataset's HE-mode rows over the given uploads.
func (s *heStore) load(dataset string, sc *schema.Schema, ids []string) (*heTable, error) {
	key := dataset + "\x00" + strings.Join(ids, ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.cache[key]; ok {
		return t, nil
	}
	t := &heTable{}
	for _, id := range ids {
		f, err := s.root.Open(s.path(dataset, id))
		if err != nil {
			return nil, fmt.Errorf("HE upload %s of %s: %w", id, dataset, err)
		}
		plain, err := s.keys.Decrypt(dataset, f, s.custody)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("HE upload %s of %s: %w", id, dataset, err)
		}
		u, err := heupload.Read(plain, dataset, sc, s.params)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("HE upload %s of %s: %w", id, dataset, err)
		}
		seg := heSegment{rows: u.Rows.Len, chunks: u.Chunks, totals: &columnTotals{}}
		if t.rows == nil {
			t.rows = u.Rows
		} else {
			seg.first = t.rows.Len
			appendBatch(t.rows, u.Rows)
		}
		t.segments = append(t.segments, seg)
	}
	for i := range t.rows.Cols {
		if v := &t.rows.Cols[i]; v.Strs != nil {
			v.Dict, v.Strs = flatten(v.Strs), nil
		}
	}
	t.table = enclave.Cached(enclave.Table{Name: dataset, Schema: sc, Rows: t.rows, Unit: -1, MaxRowsPerUnit: 1})
	// Only the latest upload list of a dataset stays cached.
	for k := range s.cache {
		if strings.HasPrefix(k, dataset+"\x00") {
			delete(s.cache, k)
		}
	}
	s.cache[key] = t
	return t, nil
}

// appendBatch appends o's rows to b column by column, keeping each
// vector's own type (a fingerprint column holds strings whatever the
// schema says).
func appendBatch(b, o *schema.Batch) {
	for i := range b.Cols {
		b.Cols[i].Ints = append(b.Cols[i].Ints, o.Cols[i].Ints...)
		b.Cols[i].Strs = append(b.Cols[i].Strs, o.Cols[i].Strs...)
	}
	b.Len += o.Len
}

// flatten returns strs as a dictionary of one entry per row (a
// dictionary-coded vector without codes): their bytes in one array, so
// that a loaded column, a million fingerprints say, holds no pointer per
// row for the garbage collector to scan.
func flatten(strs []string) *schema.Dict {
	n, width := 0, -1
	for _, s := range strs {
		n += len(s)
		if width == -1 || width == len(s) {
			width = len(s)
		} else {
			width = -2 // lengths differ
		}
	}
	d := &schema.Dict{Bytes: make([]byte, 0, n)}
	if width > 0 {
		d.Width = width
	} else {
		d.Offs = make([]int64, 1, len(strs)+1)
	}
	for _, s := range strs {
		d.Bytes = append(d.Bytes, s...)
		if d.Offs != nil {
			d.Offs = append(d.Offs, int64(len(d.Bytes)))
		}
	}
	return d
}

// heSchema returns the schema of a dataset's HE-mode rows: fingerprint
// columns hold their tokens, as strings.
func heSchema(sc *schema.Schema, data *policy.HEData) *schema.Schema {
	out := &schema.Schema{Columns: append([]schema.Column(nil), sc.Columns...)}
	for i, c := range out.Columns {
		if data.Treatment(c.Name) == policy.Fingerprint {
			out.Columns[i] = schema.Column{Name: c.Name, Type: schema.String, MaxLen: 16}
		}
	}
	return out
}

// uploadHE stores an HE-mode upload whose statement the caller checked,
// and logs it.
func (n *Node) uploadHE(w http.ResponseWriter, r *http.Request, raw []byte, u *policy.Upload, ds *policy.Dataset, body io.Reader, received time.Time) {
	reject := func(msg string) {
		writeErr(w, http.StatusUnprocessableEntity, api.CodeRejected, "HE upload rejected, nothing stored: "+msg, nil)
	}
	rc, err := n.heStore.ingest(r.Context(), u.Dataset, u.UploadID, &ds.Schema, body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeErr(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("upload larger than %d bytes", n.cfg.MaxUploadBytes), nil)
			return
		}
		reject(err.Error())
		return
	}
	h := rc.header
	switch {
	case h.Rows != u.Rows:
		err = fmt.Errorf("the signed statement names %d rows, the container holds %d", u.Rows, h.Rows)
	case h.KeySHA256 != u.HE.KeySHA256:
		err = fmt.Errorf("the container is under key %s, the statement names %s", h.KeySHA256, u.HE.KeySHA256)
	case !maps.Equal(h.Treatments(), u.HE.Columns):
		err = errors.New("the container carries its columns otherwise than the signed statement says")
	}
	if err != nil {
		n.heStore.remove(u.Dataset, u.UploadID)
		reject(err.Error())
		return
	}
	cipherHash := hex.EncodeToString(rc.cipherSHA256[:])
	i, err := n.append(&state.Entry{Kind: state.KindStatement, Statement: string(raw), Upload: &state.Receipt{
		Received: received, CiphertextSHA256: cipherHash, CiphertextBytes: rc.cipherBytes, PlaintextBytes: rc.plaintextBytes,
	}})
	if err != nil {
		n.heStore.remove(u.Dataset, u.UploadID)
		status, code := statusOf(err)
		writeErr(w, status, code, err.Error(), nil)
		return
	}
	n.log.Info("HE upload accepted", "entry", i, "dataset", u.Dataset, "rows", h.Rows, "bytes", rc.cipherBytes)
	writeJSON(w, http.StatusOK, api.Uploaded{Entry: i, Dataset: u.Dataset, UploadID: u.UploadID, Rows: h.Rows,
		CiphertextSHA256: cipherHash, CiphertextBytes: rc.cipherBytes})
}
