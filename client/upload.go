package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/schema"
)

// Progress is told how many plaintext bytes of total have been sent.
type Progress func(done, total int64)

// UploadCSV uploads a CSV file into a dataset, sealed to the node.
//
// It first reads the whole file against the dataset's schema, so that bad
// input is reported with its file, line and column before anything leaves
// the machine, and hashes it. It then signs an upload statement naming the
// row count and the hash, and streams the file, encrypted with age to the
// node's recipient, to the node. The node stores only the ciphertext; it
// decrypts in memory, checks every row again and the hash, and keeps
// nothing of a rejected upload.
func (c *Client) UploadCSV(ctx context.Context, signer note.Signer, dataset string, s *schema.Schema, path string, progress Progress) (*api.Uploaded, error) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	r, err := csv.NewReader(io.TeeReader(f, h), s, csv.Options{File: name})
	if err != nil {
		return nil, err
	}
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
	}
	// encoding/csv may stop reading before EOF (no final newline): hash
	// the rest so the digest covers the whole file, as the node's does.
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}

	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	recips, err := age.ParseRecipients(strings.NewReader(info.Recipient))
	if err != nil || len(recips) != 1 {
		return nil, fmt.Errorf("the node's age recipient is not valid")
	}
	var id [16]byte
	rand.Read(id[:])
	stmt, err := statement.New(statement.KindUpload, policy.Upload{
		Dataset: dataset, UploadID: hex.EncodeToString(id[:]), File: name, Rows: r.Rows(),
		PlaintextSHA256: hex.EncodeToString(h.Sum(nil)),
	}, signer)
	if err != nil {
		return nil, err
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		w, err := age.Encrypt(pw, recips...)
		if err == nil {
			_, err = io.Copy(w, &countingReader{r: f, total: fi.Size(), progress: progress})
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

type countingReader struct {
	r        io.Reader
	done     int64
	total    int64
	progress Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.done, c.total)
	}
	return n, err
}
