package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/connectors"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/schema"
)

// Progress is told how many plaintext bytes of total have been sent.
type Progress func(done, total int64)

// DefaultPartBytes is the plaintext size of one part of an upload when
// UploadOptions.PartBytes is zero.
const DefaultPartBytes = 16 << 20

// inFlight is how many parts are sent at once.
const inFlight = 2

// UploadOptions configures Upload.
type UploadOptions struct {
	// File names the source in statements and errors ("loans.csv").
	File string
	// Clamp moves values outside their column's declared bounds to the
	// nearest bound instead of refusing them; the source must then be
	// read with connectors.Loosen's schema. UploadResult.Clamped counts
	// them.
	Clamp bool
	// PartBytes is the plaintext size after which a part is sent and the
	// next begun. Defaults to DefaultPartBytes. Memory use is about four
	// times this (two parts being sent, one held, one being filled).
	PartBytes int
	// Resume is the set ID of an interrupted upload to go on with: parts
	// the node has already are checked against the source and not sent
	// again.
	Resume string
	// SourceSize is the source's size in bytes, 0 if unknown, and
	// SourceRead, if set, how many of them have been read; it is called
	// from another goroutine.
	SourceSize int64
	SourceRead func() int64
	// Progress, if set, is told how the upload goes, by one goroutine at
	// a time.
	Progress func(UploadProgress)
}

// UploadProgress is how far an upload has gone.
type UploadProgress struct {
	Rows       int64 // rows read from the source and checked
	SourceRead int64 // bytes of the source read, if known
	SourceSize int64 // the source's size, 0 if unknown
	Sent       int64 // plaintext bytes sent to the node
	Parts      int   // parts landed (sent or found on the node)
	Done       bool  // the last part has landed
}

// UploadResult is what an upload did.
type UploadResult struct {
	Dataset string
	// Set is the upload's ID: give it to UploadOptions.Resume to go on
	// with an upload that stopped.
	Set  string
	Rows int64
	// Parts are the node's receipts for the parts sent, in order; Skipped
	// counts the parts the node had already (when resuming).
	Parts   []api.Uploaded
	Skipped int
	// PlaintextBytes and CiphertextBytes count what was sent (the rows in
	// the columnar form, and sealed); SourceBytes the bytes of the source
	// read, if known.
	PlaintextBytes, CiphertextBytes, SourceBytes int64
	// Clamped counts the values clamped to their bounds, by column.
	Clamped map[string]int64
}

// Entry returns the ledger index of the last part sent, the one that
// completed the upload.
func (r *UploadResult) Entry() uint64 {
	if len(r.Parts) == 0 {
		return 0
	}
	return r.Parts[len(r.Parts)-1].Entry
}

// part is one part of an upload: some of the rows, in the columnar form
// (CRPART2).
type part struct {
	index int
	last  bool
	rows  int64
	buf   *bytes.Buffer
	sum   [32]byte
}

// Upload uploads the rows of src, a reader of s's columns, into a dataset,
// sealed to the node.
//
// The rows are encoded in the columnar form the node stores
// (internal/columnar: the same bytes from the same rows, whatever the
// source) and sent in parts of about PartBytes, each a whole CRPART2
// part, as a multipart upload: each part is encrypted with age to the
// node's recipient and signed by an upload statement naming its row count
// and SHA-256; the node decrypts it in memory, checks every block and the
// hash again, and stores the same blocks, sealed, so that no row is
// parsed twice. The dataset takes the rows only when the last part has
// landed, so an upload that stops midway leaves nothing the node reads,
// and can go on later from the part where it stopped (UploadOptions.Resume).
// The source is read once; reading the next part overlaps sending the
// last.
//
// An error of the source (a bad row, with its position) stops the upload
// at once. Parts already sent stay pending on the node, unread; the error
// says how to resume once the source is fixed, and the result's Set is
// that ID.
func (c *Client) Upload(ctx context.Context, signer note.Signer, dataset string, s *schema.Schema, src connectors.Reader, opts UploadOptions) (*UploadResult, error) {
	if opts.PartBytes <= 0 {
		opts.PartBytes = DefaultPartBytes
	}
	if opts.File == "" {
		opts.File = "input"
	}
	res := &UploadResult{Dataset: dataset, Set: opts.Resume}
	have := map[int]api.PendingPart{}
	if opts.Resume != "" {
		if !validHexID(opts.Resume) {
			return nil, fmt.Errorf("resume: %q is not an upload ID (32 lower-case hex digits)", opts.Resume)
		}
		cat, err := c.CatalogAs(ctx, signer)
		if err != nil {
			return nil, err
		}
		for _, d := range cat {
			if d.Name != dataset {
				continue
			}
			for _, p := range d.Pending {
				if p.Set == opts.Resume {
					have[p.Index] = p
				}
			}
		}
	} else {
		var id [16]byte
		rand.Read(id[:])
		res.Set = hex.EncodeToString(id[:])
	}
	recips, err := c.recipients(ctx)
	if err != nil {
		return nil, err
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rows atomic.Int64
	parts := make(chan *part, 1)
	free := make(chan *bytes.Buffer, inFlight+2) // sending, one held, one filling
	for range cap(free) {
		free <- bytes.NewBuffer(make([]byte, 0, opts.PartBytes+opts.PartBytes/8))
	}
	var clamper *connectors.Clamper
	if opts.Clamp {
		clamper = connectors.NewClamper(s)
	}
	produced := make(chan error, 1)
	go func() {
		defer close(parts)
		err := produce(ctx, s, src, clamper, opts.PartBytes, &rows, free, parts)
		if from.IsBadData(err) {
			cancel() // send no more
		}
		produced <- err
	}()

	var sent atomic.Int64 // plaintext bytes sent
	var mu sync.Mutex     // guards res and sendErr
	var pmu sync.Mutex    // one call of opts.Progress at a time
	report := func(done bool) {
		if opts.Progress == nil {
			return
		}
		mu.Lock()
		landed := len(res.Parts) + res.Skipped
		mu.Unlock()
		p := UploadProgress{Rows: rows.Load(), SourceSize: opts.SourceSize, Sent: sent.Load(), Parts: landed, Done: done}
		if opts.SourceRead != nil {
			p.SourceRead = opts.SourceRead()
		}
		pmu.Lock()
		defer pmu.Unlock()
		opts.Progress(p)
	}
	// Parts are sent inFlight at a time, so that one part's journey
	// (the node's checks, fsync and ledger entry) overlaps the next's.
	var (
		sendErr error
		wg      sync.WaitGroup
	)
	for range inFlight {
		wg.Go(func() {
			for p := range parts {
				mu.Lock()
				failed := sendErr != nil
				mu.Unlock()
				if !failed {
					if err := c.sendPart(ctx, signer, recips, dataset, res, &mu, &sent, opts.File, p, have, report); err != nil {
						mu.Lock()
						if sendErr == nil {
							sendErr = err
						}
						mu.Unlock()
						cancel()
					}
				}
				p.buf.Reset()
				free <- p.buf
			}
		})
	}
	wg.Wait()
	slices.SortFunc(res.Parts, func(a, b api.Uploaded) int { return cmp.Compare(a.Entry, b.Entry) })
	srcErr := <-produced
	if clamper != nil {
		res.Clamped = clamper.Clamped()
	}
	switch {
	case srcErr != nil && from.IsBadData(srcErr):
		return res, c.giveUp(parent, signer, dataset, res, opts.File, srcErr)
	case srcErr != nil && !errors.Is(srcErr, context.Canceled):
		return res, resumable(srcErr, res)
	case sendErr != nil:
		return res, resumable(sendErr, res)
	case srcErr != nil:
		return res, srcErr
	}
	if opts.SourceRead != nil {
		res.SourceBytes = opts.SourceRead()
	}
	report(true)
	return res, nil
}

// giveUp abandons an upload whose source has bad data, so that nothing of
// it stays on the node, and returns err, the source's error.
func (c *Client) giveUp(ctx context.Context, signer note.Signer, dataset string, res *UploadResult, file string, err error) error {
	if len(res.Parts)+res.Skipped == 0 {
		// Parts may still have landed as the sending was cut short.
		cat, cerr := c.CatalogAs(ctx, signer)
		if cerr != nil {
			return resumable(err, res)
		}
		if !hasPending(cat, dataset, res.Set) {
			return err
		}
	}
	stmt, serr := statement.NewAt(c.clock(), statement.KindAbandon, policy.Abandon{Dataset: dataset, Set: res.Set,
		Reason: file + " failed its checks at a row; the upload stopped"}, signer)
	if serr == nil {
		_, serr = c.Submit(ctx, stmt)
	}
	if serr != nil {
		return fmt.Errorf("%w (and abandoning the parts sent failed: %v; abandon upload %s with dataset abandon)", err, serr, res.Set)
	}
	return fmt.Errorf("%w (the parts sent were abandoned: nothing of this upload stays on the node)", err)
}

func hasPending(cat []api.DatasetInfo, dataset, set string) bool {
	for _, d := range cat {
		if d.Name == dataset {
			return slices.ContainsFunc(d.Pending, func(p api.PendingPart) bool { return p.Set == set })
		}
	}
	return false
}

// resumable adds to err how to go on with the upload, if parts of it have
// landed.
func resumable(err error, res *UploadResult) error {
	if len(res.Parts)+res.Skipped == 0 {
		return err
	}
	return &ResumableError{Err: err, Set: res.Set, Landed: len(res.Parts) + res.Skipped}
}

// ResumableError is an upload that stopped after some of its parts had
// landed on the node, which keeps them unread. Uploading the same rows
// again with UploadOptions.Resume set to Set goes on from where it
// stopped.
type ResumableError struct {
	Err    error
	Set    string
	Landed int
}

func (e *ResumableError) Error() string {
	return fmt.Sprintf("%v (upload %s stopped after %d parts landed; once the cause is fixed, resume it with --resume %s)", e.Err, e.Set, e.Landed, e.Set)
}

func (e *ResumableError) Unwrap() error { return e.Err }

// produce reads src into parts of about partBytes and sends them on out,
// the last marked. It ends at the source's end, its first error or when
// ctx is done.
func produce(ctx context.Context, s *schema.Schema, src connectors.Reader, clamper *connectors.Clamper, partBytes int, rows *atomic.Int64, free <-chan *bytes.Buffer, out chan<- *part) error {
	var (
		cur  *part // the part being filled
		pw   *columnar.PartWriter
		full *part // a filled part, held until the source says whether it is the last
	)
	start := func(index int) error {
		select {
		case buf := <-free:
			cur = &part{index: index, buf: buf}
		case <-ctx.Done():
			return ctx.Err()
		}
		var err error
		pw, err = columnar.NewPartWriter(cur.buf, s)
		return err
	}
	finish := func() error {
		if err := pw.Close(); err != nil {
			return err
		}
		cur.rows, cur.sum = pw.Rows(), sha256.Sum256(cur.buf.Bytes())
		return nil
	}
	emit := func(p *part, last bool) error {
		p.last = last
		select {
		case out <- p:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := start(0); err != nil {
		return err
	}
	enc, err := columnar.NewEncoder(s, func(b *columnar.Block) error {
		if full != nil {
			if err := emit(full, false); err != nil {
				return err
			}
			full = nil
		}
		if err := pw.Add(b); err != nil {
			return err
		}
		if cur.buf.Len() < partBytes {
			return nil
		}
		if err := finish(); err != nil {
			return err
		}
		full = cur
		return start(cur.index + 1)
	})
	if err != nil {
		return err
	}
	// A block ends where it fills the part, so parts come out about
	// partBytes, at rows that depend on the rows alone.
	enc.EndBlock = func(size int) bool { return cur.buf.Len()+size >= partBytes }
	defer enc.Wipe()
	// The source is read on a goroutine of its own, a few batches ahead
	// of the encoder: reading and encoding take a core each.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan *schema.Batch, 4)
	read := make(chan error, 1)
	var failed atomic.Bool // the source failed: encode no more
	go func() {
		defer close(batches)
		for {
			b, err := src.Next()
			if errors.Is(err, io.EOF) {
				read <- nil
				return
			}
			if err != nil {
				failed.Store(true)
				read <- err
				return
			}
			if clamper != nil {
				clamper.Clamp(b)
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				read <- ctx.Err()
				return
			}
		}
	}()
	for b := range batches {
		if failed.Load() {
			break // the batches still queued go unsent
		}
		if err := enc.Write(b); err != nil {
			cancel()
			<-read
			return err
		}
		rows.Add(int64(b.Len))
	}
	if err := <-read; err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	if full != nil && pw.Rows() == 0 {
		return emit(full, true)
	}
	if full != nil {
		if err := emit(full, false); err != nil {
			return err
		}
	}
	if err := finish(); err != nil {
		return err
	}
	return emit(cur, true)
}

// sendPart sends one part, or checks it against the node's copy when
// resuming, and accounts for it in res under mu.
func (c *Client) sendPart(ctx context.Context, signer note.Signer, recips []age.Recipient, dataset string, res *UploadResult, mu *sync.Mutex, sent *atomic.Int64,
	file string, p *part, have map[int]api.PendingPart, report func(bool)) error {
	sum := hex.EncodeToString(p.sum[:])
	if h, ok := have[p.index]; ok {
		if h.PlaintextSHA256 != sum || h.Rows != p.rows || h.Last != p.last {
			return fmt.Errorf("resume: part %d of upload %s on the node (%d rows, SHA-256 %s) differs from the source's (%d rows, SHA-256 %s): the source changed since the upload began; start a new upload", p.index, res.Set, h.Rows, h.PlaintextSHA256, p.rows, sum)
		}
		mu.Lock()
		res.Skipped++
		res.Rows += p.rows
		mu.Unlock()
		report(false)
		return nil
	}
	u := policy.Upload{Dataset: dataset, File: file, Rows: p.rows, PlaintextSHA256: sum, Format: policy.UploadColumnar,
		Part: &policy.UploadPart{Set: res.Set, Index: p.index, Last: p.last}}
	var prev int64
	up, err := c.send(ctx, signer, recips, u, func(w io.Writer) error {
		_, err := w.Write(p.buf.Bytes())
		return err
	}, func(done, _ int64) {
		sent.Add(done - prev)
		prev = done
		report(false)
	})
	if err != nil {
		return fmt.Errorf("part %d: %w", p.index, err)
	}
	mu.Lock()
	res.Parts = append(res.Parts, *up)
	res.Rows += p.rows
	res.PlaintextBytes += int64(p.buf.Len())
	res.CiphertextBytes += up.CiphertextBytes
	mu.Unlock()
	report(false)
	return nil
}

func validHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// UploadFrom opens the source sp (see connectors/from) and uploads its
// rows with Upload. With opts.Clamp the source is read with loosened
// bounds, to clamp. src.Encoding applies to CSV.
func (c *Client) UploadFrom(ctx context.Context, signer note.Signer, dataset string, s *schema.Schema, sp from.Spec, src from.Options, opts UploadOptions) (*UploadResult, error) {
	src.Loose = opts.Clamp
	r, err := from.Open(ctx, sp, s, src)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if opts.File == "" {
		opts.File = r.Name
	}
	opts.SourceSize, opts.SourceRead = r.Size, r.Read
	return c.Upload(ctx, signer, dataset, s, r, opts)
}

// UploadCSV uploads a CSV file (see connectors/csv) with UploadFrom.
func (c *Client) UploadCSV(ctx context.Context, signer note.Signer, dataset string, s *schema.Schema, path string, opts UploadOptions) (*UploadResult, error) {
	return c.UploadFrom(ctx, signer, dataset, s, from.Spec{Kind: "csv", Path: path}, from.Options{}, opts)
}

// UploadJSONL uploads a JSON Lines file (see connectors/jsonl) with
// UploadFrom.
func (c *Client) UploadJSONL(ctx context.Context, signer note.Signer, dataset string, s *schema.Schema, path string, opts UploadOptions) (*UploadResult, error) {
	return c.UploadFrom(ctx, signer, dataset, s, from.Spec{Kind: "jsonl", Path: path}, from.Options{}, opts)
}

// recipients returns the node's age recipient.
func (c *Client) recipients(ctx context.Context) ([]age.Recipient, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	recips, err := age.ParseRecipients(strings.NewReader(info.Recipient))
	if err != nil || len(recips) != 1 {
		return nil, errors.New("the node's age recipient is not valid")
	}
	return recips, nil
}

// put signs the upload statement u (with a fresh upload id) and streams
// what write writes, encrypted with age to the node's recipient, to the
// node, telling progress how many of total plaintext bytes went.
func (c *Client) put(ctx context.Context, signer note.Signer, u policy.Upload, total int64, progress Progress, write func(io.Writer) error) (*api.Uploaded, error) {
	recips, err := c.recipients(ctx)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, signer, recips, u, write, func(done, _ int64) {
		if progress != nil {
			progress(done, max(total, done))
		}
	})
}

// send signs the upload statement u (with a fresh upload id) and streams
// what write writes, encrypted with age to recips, to the node.
func (c *Client) send(ctx context.Context, signer note.Signer, recips []age.Recipient, u policy.Upload, write func(io.Writer) error, progress Progress) (*api.Uploaded, error) {
	var id [16]byte
	rand.Read(id[:])
	u.UploadID = hex.EncodeToString(id[:])
	stmt, err := statement.NewAt(c.clock(), statement.KindUpload, u, signer)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		w, err := age.Encrypt(pw, recips...)
		if err == nil {
			err = write(&countingWriter{w: w, progress: progress})
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		pw.CloseWithError(err)
	}()
	var out api.Uploaded
	err = c.do(ctx, http.MethodPut, "/v1/uploads", pr, map[string]string{
		api.StatementHeader: base64.StdEncoding.EncodeToString(stmt),
		"Content-Type":      "application/octet-stream",
	}, &out)
	pr.CloseWithError(errors.New("upload finished"))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// countingWriter tells progress how much went through it, in writes of at
// most 1 MiB so that progress moves smoothly.
type countingWriter struct {
	w        io.Writer
	done     int64
	progress Progress
}

func (c *countingWriter) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		k, err := c.w.Write(p[:min(len(p), 1<<20)])
		n += k
		c.done += int64(k)
		if c.progress != nil && k > 0 {
			c.progress(c.done, c.done)
		}
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}
