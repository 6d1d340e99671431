package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	stdcsv "encoding/csv"
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
	"github.com/xjdata/cleanroom/connectors/jsonl"
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

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return c.put(ctx, signer, policy.Upload{Dataset: dataset, File: name, Rows: r.Rows(), PlaintextSHA256: hex.EncodeToString(h.Sum(nil))},
		fi.Size(), progress, func(w io.Writer) error {
			_, err := io.Copy(w, f)
			return err
		})
}

// put signs the upload statement u (with a fresh upload id) and streams
// what write writes, encrypted with age to the node's recipient, to the
// node, telling progress how many of total plaintext bytes went.
func (c *Client) put(ctx context.Context, signer note.Signer, u policy.Upload, total int64, progress Progress, write func(io.Writer) error) (*api.Uploaded, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	recips, err := age.ParseRecipients(strings.NewReader(info.Recipient))
	if err != nil || len(recips) != 1 {
		return nil, errors.New("the node's age recipient is not valid")
	}
	var id [16]byte
	rand.Read(id[:])
	u.UploadID = hex.EncodeToString(id[:])
	stmt, err := statement.New(statement.KindUpload, u, signer)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		w, err := age.Encrypt(pw, recips...)
		if err == nil {
			err = write(&countingWriter{w: w, total: total, progress: progress})
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

// countingWriter tells progress how much went through it.
type countingWriter struct {
	w        io.Writer
	done     int64
	total    int64
	progress Progress
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.done += int64(n)
	if c.progress != nil && n > 0 {
		c.progress(c.done, max(c.total, c.done))
	}
	return n, err
}

// UploadJSONL uploads a JSON Lines file (one object per row, see
// connectors/jsonl) into a dataset, sealed to the node. It reads and
// checks the whole file first (errors name the file, line, column and
// field), then sends the rows as the node's sealed format, CSV, rendered
// from the checked values; the node checks every row again. The statement
// names the SHA-256 of that CSV. The file is read twice and never held in
// memory whole.
func (c *Client) UploadJSONL(ctx context.Context, signer note.Signer, dataset string, s *schema.Schema, path string, progress Progress) (*api.Uploaded, error) {
	name := filepath.Base(path)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	rows, err := renderJSONL(path, name, s, h)
	if err != nil {
		return nil, err
	}
	return c.put(ctx, signer, policy.Upload{Dataset: dataset, File: name, Rows: rows, PlaintextSHA256: hex.EncodeToString(h.Sum(nil))},
		fi.Size(), progress, func(w io.Writer) error {
			_, err := renderJSONL(path, name, s, w)
			return err
		})
}

// renderJSONL reads the JSON Lines file at path against s and writes its
// rows to w as CSV with a header, returning the row count.
func renderJSONL(path, name string, s *schema.Schema, w io.Writer) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, err := jsonl.NewReader(f, s, jsonl.Options{File: name})
	if err != nil {
		return 0, err
	}
	cw := stdcsv.NewWriter(w)
	header := make([]string, len(s.Columns))
	for i, col := range s.Columns {
		header[i] = col.Name
	}
	cw.Write(header)
	rec := make([]string, len(s.Columns))
	var n int64
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		for k := 0; k < b.Len; k++ {
			n++
			for i, col := range s.Columns {
				v := &b.Cols[i]
				if col.Type == schema.String {
					if strings.ContainsRune(v.Strs[k], '\r') {
						return 0, fmt.Errorf("%s: row %d: column %s holds a carriage return, which the sealed CSV format does not carry", name, n, col.Name)
					}
					rec[i] = v.Strs[k]
				} else {
					rec[i] = schema.FormatValue(col.Type, v.Ints[k])
				}
			}
			if err := cw.Write(rec); err != nil {
				return 0, err
			}
		}
	}
	cw.Flush()
	return n, cw.Error()
}
