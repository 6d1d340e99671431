package enclave

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/require"
	"github.com/xjdata/cleanroom/connectors/csv"
	"github.com/xjdata/cleanroom/internal/columnar"
	"github.com/xjdata/cleanroom/query"
	"github.com/xjdata/cleanroom/schema"
)

const marker = "PLAINTEXT-MARKER-7f3a"

var uploadSchema = &schema.Schema{Columns: []schema.Column{
	{Name: "loan_id", Type: schema.String},
	{Name: "uscc", Type: schema.String},
	{Name: "amount", Type: schema.Int, Min: i64(0), Max: i64(1000000000)},
	{Name: "green", Type: schema.Bool},
	{Name: "borrower_name", Type: schema.String},
}}

const goodCSV = "loan_id,uscc,amount,green,borrower_name\n" +
	"L1,91650100MA00000001,100000,true," + marker + "\n" +
	"L2,91650100MA00000001,250000,false,Borrower two\n" +
	"L3,91650100MA00000002,5000,true,\"Borrower, three\"\n"

func newCustody(t testing.TB) *Custody {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.key")
	if err := GenerateIdentity(path); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCustody(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func encrypt(t testing.TB, recipient string, plain []byte) []byte {
	t.Helper()
	r, err := age.ParseHybridRecipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newStore(t testing.TB) (*Store, *Custody, string) {
	t.Helper()
	c := newCustody(t)
	dir := filepath.Join(t.TempDir(), "store")
	s, err := OpenStore(dir, c, mustKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	return s, c, dir
}

const (
	id1 = "0123456789abcdef0123456789abcdef"
	id2 = "fedcba9876543210fedcba9876543210"
)

// files lists every file under dir, as paths relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// grep reports whether any file under dir contains s.
func grep(t *testing.T, dir, s string) bool {
	t.Helper()
	for _, f := range files(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func TestCustody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	if err := GenerateIdentity(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity file mode %#o, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if err := GenerateIdentity(path); err == nil {
		t.Error("GenerateIdentity overwrote an existing file")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("identity file changed")
	}
	c, err := LoadCustody(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Recipient(), "age1pq1") {
		t.Errorf("Recipient = %.20q…, want a post-quantum age1pq1 recipient", c.Recipient())
	}
	if !strings.Contains(string(before), "# public key: "+c.Recipient()) {
		t.Error("identity file does not name its public key")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		if s := fmt.Sprintf(f, c); strings.Contains(strings.ToUpper(s), "AGE-SECRET-KEY") || strings.Contains(s, "41474532") {
			t.Errorf("Sprintf(%q, custody) shows the secret key", f)
		}
	}
	// Round trip: what is encrypted to the recipient decrypts.
	ct := encrypt(t, c.Recipient(), []byte("hello"))
	r, err := age.Decrypt(bytes.NewReader(ct), c.identity)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "hello" {
		t.Errorf("decrypted %q", b)
	}

	// Group- or world-readable: refused.
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCustody(path); !errors.Is(err, ErrInsecureKeyFile) {
			t.Errorf("mode %#o: got %v, want ErrInsecureKeyFile", mode, err)
		}
	}

	// A damaged key: the error must not quote the file.
	bad := filepath.Join(t.TempDir(), "bad.key")
	secret := strings.TrimSpace(string(before[bytes.LastIndex(bytes.TrimSpace(before), []byte("\n"))+1:]))
	damaged := secret[:len(secret)-3] + "QQQ"
	for _, content := range []string{damaged, "AGE-SECRET-KEY-1" + secret[19:], "not a key " + secret[10:], ""} {
		os.Remove(bad)
		if err := os.WriteFile(bad, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCustody(bad)
		if err == nil {
			t.Errorf("LoadCustody accepted %.12q…", content)
			continue
		}
		if content != "" && strings.Contains(err.Error(), content[len(content)-20:]) {
			t.Errorf("error quotes the key file: %v", err)
		}
	}
	// Two identities: refused.
	os.Remove(bad)
	os.WriteFile(bad, []byte(secret+"\n"+secret+"\n"), 0o600)
	if _, err := LoadCustody(bad); err == nil {
		t.Error("LoadCustody accepted two identities")
	}
}

func TestIngest(t *testing.T) {
	s, c, dir := newStore(t)
	ct := encrypt(t, c.Recipient(), []byte(goodCSV))
	rcpt, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(ct))
	if err != nil {
		t.Fatal(err)
	}
	want := Receipt{
		Dataset: "loans", UploadID: id1, Rows: 3,
		CiphertextSHA256: sha256.Sum256(ct), PlaintextSHA256: sha256.Sum256([]byte(goodCSV)),
		CiphertextBytes: int64(len(ct)), PlaintextBytes: int64(len(goodCSV)), Format: FormatCSV,
	}
	if *rcpt != want {
		t.Errorf("receipt:\n got %+v\nwant %+v", *rcpt, want)
	}
	stored, err := os.ReadFile(filepath.Join(dir, "loans", id1+".age"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(stored, ct) {
		t.Error("the upload is stored as sent, under the node's key, not under the dataset's")
	}
	if _, err := age.Decrypt(bytes.NewReader(stored), c.identity); err == nil {
		t.Error("the node's own identity decrypts the stored upload")
	}
	if got := files(t, dir); len(got) != 1 || got[0] != filepath.Join("loans", id1+".age") {
		t.Errorf("files in store: %v", got)
	}
	if grep(t, dir, marker) {
		t.Error("plaintext found on disk")
	}
	fi, _ := os.Stat(filepath.Join(dir, "loans", id1+".age"))
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("stored upload has mode %#o", fi.Mode().Perm())
	}
	if ids, err := s.List("loans"); err != nil || len(ids) != 1 || ids[0] != id1 {
		t.Errorf("List = %v, %v", ids, err)
	}
	// A temporary file left by a crash goes when the store is opened again.
	stale := filepath.Join(dir, "loans", ".ingest-"+id2+"-123.tmp")
	if err := os.WriteFile(stale, ct, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir, c, mustKeys(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	// The same ID again: refused, the first kept.
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(ct)); !errors.Is(err, ErrExists) {
		t.Errorf("second ingest of %s: got %v, want ErrExists", id1, err)
	}
	if got := files(t, dir); len(got) != 1 {
		t.Errorf("files in store: %v", got)
	}
}

// TestIngestPart: a columnar part is checked and stored, and loads to the
// same rows as the same rows sent as a CSV; a part with a value its
// column refuses leaves nothing behind.
func TestIngestPart(t *testing.T) {
	s, c, dir := newStore(t)
	rows, err := csv.ReadAll(strings.NewReader(goodCSV), uploadSchema, csv.Options{})
	require.NoError(t, err)
	part := encodePart(t, uploadSchema, rows)
	ct := encrypt(t, c.Recipient(), part)
	rcpt, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(ct))
	require.NoError(t, err)
	require.Equal(t, FormatPart, rcpt.Format)
	require.EqualValues(t, 3, rcpt.Rows)
	require.Equal(t, sha256.Sum256(part), rcpt.PlaintextSHA256)
	_, err = s.Ingest(context.Background(), "loans", id2, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), []byte(goodCSV))))
	require.NoError(t, err)
	fromPart, err := s.Load("loans", uploadSchema, []string{id1})
	require.NoError(t, err)
	defer fromPart.Release()
	fromCSV, err := s.Load("loans", uploadSchema, []string{id2})
	require.NoError(t, err)
	defer fromCSV.Release()
	requireSameRows(t, fromCSV.Rows, fromPart.Rows)
	if grep(t, dir, marker) {
		t.Error("plaintext found on disk")
	}

	// A client that skipped its checks: an amount out of bounds.
	loose := &schema.Schema{Columns: slices.Clone(uploadSchema.Columns)}
	loose.Columns[2].Max = i64(1 << 40)
	rows.Cols[2].Ints[1] = 1 << 31
	before := files(t, dir)
	const id3 = "00000000000000000000000000000003"
	_, err = s.Ingest(context.Background(), "loans", id3, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), encodePart(t, loose, rows))))
	var re *columnar.RowError
	require.ErrorAs(t, err, &re)
	require.ErrorContains(t, err, "row 2 of the part, column amount: 2147483648 is outside the declared bounds [0, 1000000000]")
	require.Equal(t, before, files(t, dir), "nothing of the part stays")
}

// TestIngestFailures checks that a failed ingest leaves nothing behind.
func TestIngestFailures(t *testing.T) {
	other := newCustody(t)
	for _, tc := range []struct {
		name  string
		body  func(c *Custody) io.Reader
		ctx   func() context.Context
		limit int64
		check func(t *testing.T, err error)
	}{
		{
			name: "csv error",
			body: func(c *Custody) io.Reader {
				bad := strings.Replace(goodCSV, "250000", "25x000", 1)
				return bytes.NewReader(encrypt(t, c.Recipient(), []byte(bad)))
			},
			check: func(t *testing.T, err error) {
				var ce *csv.Error
				if !errors.As(err, &ce) {
					t.Fatalf("got %v, want a *csv.Error", err)
				}
				if ce.Line != 3 || ce.Column != 3 || !strings.Contains(err.Error(), "loans.csv:3:3:") {
					t.Errorf("got %v (line %d, column %d), want loans.csv:3:3", err, ce.Line, ce.Column)
				}
			},
		},
		{
			name: "csv header error",
			body: func(c *Custody) io.Reader {
				return bytes.NewReader(encrypt(t, c.Recipient(), []byte("loan_id,uscc\nL1,X\n")))
			},
			check: func(t *testing.T, err error) {
				var ce *csv.Error
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), "loans.csv:1") {
					t.Errorf("got %v, want a *csv.Error at loans.csv:1", err)
				}
			},
		},
		{
			name: "wrong recipient",
			body: func(*Custody) io.Reader {
				return bytes.NewReader(encrypt(t, other.Recipient(), []byte(goodCSV)))
			},
			check: wantIs(ErrWrongRecipient),
		},
		{
			name: "truncated",
			body: func(c *Custody) io.Reader {
				ct := encrypt(t, c.Recipient(), []byte(goodCSV))
				return bytes.NewReader(ct[:len(ct)-10])
			},
			check: wantIs(ErrBadCiphertext),
		},
		{
			name: "truncated at a chunk boundary",
			body: func(c *Custody) io.Reader {
				big := goodCSV + strings.Repeat("L9,91650100MA00000003,1,false,x\n", 5000) // > 64 KiB
				ct := encrypt(t, c.Recipient(), []byte(big))
				return bytes.NewReader(ct[:len(ct)-(len(big)%(64<<10))-16])
			},
			check: wantIs(ErrBadCiphertext),
		},
		{
			name: "tampered",
			body: func(c *Custody) io.Reader {
				ct := encrypt(t, c.Recipient(), []byte(goodCSV))
				ct[len(ct)-5] ^= 1
				return bytes.NewReader(ct)
			},
			check: wantIs(ErrBadCiphertext),
		},
		{
			name: "trailing data",
			body: func(c *Custody) io.Reader {
				ct := encrypt(t, c.Recipient(), []byte(goodCSV))
				return bytes.NewReader(append(ct, "extra"...))
			},
			check: wantIs(ErrBadCiphertext),
		},
		{
			name:  "not age",
			body:  func(*Custody) io.Reader { return strings.NewReader(goodCSV) },
			check: wantIs(ErrBadCiphertext),
		},
		{
			name:  "empty",
			body:  func(*Custody) io.Reader { return strings.NewReader("") },
			check: wantIs(ErrBadCiphertext),
		},
		{
			name: "too large",
			body: func(c *Custody) io.Reader {
				return bytes.NewReader(encrypt(t, c.Recipient(), []byte(goodCSV)))
			},
			limit: 300,
			check: wantIs(ErrTooLarge),
		},
		{
			name: "cancelled",
			body: func(c *Custody) io.Reader {
				return bytes.NewReader(encrypt(t, c.Recipient(), []byte(goodCSV)))
			},
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			check: wantIs(context.Canceled),
		},
		{
			name: "read error",
			body: func(c *Custody) io.Reader {
				ct := encrypt(t, c.Recipient(), []byte(goodCSV))
				return io.MultiReader(bytes.NewReader(ct[:200]), errReader{})
			},
			check: wantIs(errBroken),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, dir := newStore(t)
			if tc.limit > 0 {
				s.maxUpload = tc.limit
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			rcpt, err := s.Ingest(ctx, "loans", id1, uploadSchema, "loans.csv", tc.body(c))
			if err == nil {
				t.Fatalf("no error; receipt %+v", rcpt)
			}
			tc.check(t, err)
			if got := files(t, dir); len(got) != 0 {
				t.Errorf("files left in store: %v", got)
			}
			if ids, _ := s.List("loans"); len(ids) != 0 {
				t.Errorf("List = %v", ids)
			}
			// The ID is free again.
			s.maxUpload = MaxUploadBytes
			ct := encrypt(t, c.Recipient(), []byte(goodCSV))
			if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(ct)); err != nil {
				t.Errorf("ingest after failure: %v", err)
			}
		})
	}
}

var errBroken = errors.New("connection reset")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func wantIs(target error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Errorf("got %v, want %v", err, target)
		}
	}
}

func TestStoreNames(t *testing.T) {
	s, c, dir := newStore(t)
	ct := encrypt(t, c.Recipient(), []byte(goodCSV))
	parent := filepath.Dir(dir)
	before := files(t, parent)
	for _, tc := range []struct{ dataset, id string }{
		{"../escape", id1},
		{"loans/../../escape", id1},
		{"/etc", id1},
		{"Loans", id1},
		{"", id1},
		{".", id1},
		{"loans", "../" + id1[3:]},
		{"loans", "../../../../tmp/x"},
		{"loans", strings.ToUpper(id1)},
		{"loans", id1[:31]},
		{"loans", id1 + "0"},
		{"loans", id1[:31] + "/"},
		{"loans", ""},
	} {
		if _, err := s.Ingest(context.Background(), tc.dataset, tc.id, uploadSchema, "x.csv", bytes.NewReader(ct)); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Ingest(%q, %q): got %v, want ErrInvalidName", tc.dataset, tc.id, err)
		}
		if err := s.Remove(tc.dataset, tc.id); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Remove(%q, %q): got %v, want ErrInvalidName", tc.dataset, tc.id, err)
		}
		if tc.id != "" {
			if _, err := s.Load(tc.dataset, uploadSchema, []string{tc.id}); !errors.Is(err, ErrInvalidName) {
				t.Errorf("Load(%q, %q): got %v, want ErrInvalidName", tc.dataset, tc.id, err)
			}
		}
	}
	if _, err := s.List("../x"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("List(../x): got %v", err)
	}
	if after := files(t, parent); len(after) != len(before) {
		t.Errorf("files appeared: %v", after)
	}
}

func TestLoad(t *testing.T) {
	s, c, _ := newStore(t)
	second := "loan_id,uscc,amount,green,borrower_name\nL4,91650100MA00000004,7,false,Four\n"
	for id, text := range map[string]string{id1: goodCSV, id2: second} {
		if _, err := s.Ingest(context.Background(), "loans", id, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), []byte(text)))); err != nil {
			t.Fatal(err)
		}
	}
	tab, err := s.Load("loans", uploadSchema, []string{id2, id1})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows.Len != 4 || tab.Rows.Cols[0].Str(0) != "L4" || tab.Rows.Cols[0].Str(3) != "L3" || tab.Rows.Cols[2].Int(2) != 250000 {
		t.Errorf("loaded %d rows, ids %v", tab.Rows.Len, plainBatch(tab.Rows).Cols[0].Strs)
	}
	if tab.Name != "loans" || tab.Unit != -1 || tab.MaxRowsPerUnit != 1 {
		t.Errorf("table %+v", tab)
	}

	// Cached: the same rows, without decrypting again, also concurrently.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			again, err := s.Load("loans", uploadSchema, []string{id2, id1})
			if err != nil {
				t.Error(err)
				return
			}
			if again.Rows != tab.Rows {
				t.Error("Load decrypted again")
			}
			if again == tab {
				t.Error("Load returned the same *Table: callers would share Unit")
			}
		}()
	}
	wg.Wait()

	// Another list: loaded afresh.
	one, err := s.Load("loans", uploadSchema, []string{id1})
	if err != nil {
		t.Fatal(err)
	}
	if one.Rows == tab.Rows || one.Rows.Len != 3 {
		t.Errorf("Load of another list: %d rows, same rows %v", one.Rows.Len, one.Rows == tab.Rows)
	}
	again, _ := s.Load("loans", uploadSchema, []string{id1})
	if again.Rows != one.Rows {
		t.Error("not cached")
	}

	// Remove drops the cache and the file.
	if err := s.Remove("loans", id1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("loans", uploadSchema, []string{id1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Remove: got %v, want ErrNotFound", err)
	}
	if err := s.Remove("loans", id1); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: got %v, want ErrNotFound", err)
	}
	if ids, _ := s.List("loans"); len(ids) != 1 || ids[0] != id2 {
		t.Errorf("List = %v", ids)
	}
	if _, err := s.Load("loans", uploadSchema, []string{id2, id2}); err == nil {
		t.Error("Load accepted an upload listed twice")
	}
	if ids, err := s.List("nothing"); err != nil || len(ids) != 0 {
		t.Errorf("List of an unknown dataset = %v, %v", ids, err)
	}
}

// TestLoadExecute runs a query over tables from Load, as the node does.
func TestLoadExecute(t *testing.T) {
	s, c, _ := newStore(t)
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), []byte(goodCSV)))); err != nil {
		t.Fatal(err)
	}
	green := qc("loans", "green", schema.Bool)
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans"}},
		GroupBy: []query.Column{green},
		Outputs: []query.Output{{Name: "green", Column: ptr(green)}, {Name: "n", Func: query.Count}, {Name: "s", Func: query.Sum, Column: ptr(qc("loans", "amount", schema.Int))}},
	}
	for range 2 {
		tab, err := s.Load("loans", uploadSchema, []string{id1})
		if err != nil {
			t.Fatal(err)
		}
		tab.Unit, tab.MaxRowsPerUnit = 1, 5 // uscc
		params := noNoise
		params.MaxGroupsPerUnit = 2
		res, err := Execute(context.Background(), p, map[string]*Table{"loans": tab}, params)
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"false", "1", "250000"}, {"true", "2", "105000"}}
		if !reflect.DeepEqual(res.Rows, want) {
			t.Errorf("rows %v, want %v", res.Rows, want)
		}
	}
}

func mustKeys(t testing.TB) *DataKeys {
	k, err := OpenDataKeys(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestDestroyShredsTheDataset checks crypto-shredding: once the dataset's
// key is erased, a copy of its stored file taken before no longer
// decrypts, and Destroy leaves nothing of it in the store.
func TestDestroyShredsTheDataset(t *testing.T) {
	c := newCustody(t)
	dir := filepath.Join(t.TempDir(), "store")
	keys := mustKeys(t)
	s, err := OpenStore(dir, c, keys)
	if err != nil {
		t.Fatal(err)
	}
	ct := encrypt(t, c.Recipient(), []byte(goodCSV))
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(ct)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("loans", uploadSchema, []string{id1}); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(filepath.Join(dir, "loans", id1+".age"))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.Evidence("loans")
	if err != nil || len(ev) != 1 || ev[0].Name != "sealed/loans/"+id1+".age" {
		t.Fatalf("evidence %v, %v", ev, err)
	}
	if want := sha256.Sum256(backup); ev[0].SHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("evidence hash %s", ev[0].SHA256)
	}
	kh, err := keys.Erase("loans")
	if err != nil || len(kh) != 64 {
		t.Fatalf("Erase = %q, %v", kh, err)
	}
	if err := s.Destroy("loans"); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
	if _, err := os.Stat(filepath.Join(keys.dir, "loans.age")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the key file is still there: %v", err)
	}
	if _, err := keys.Decrypt("loans", bytes.NewReader(backup), c); err == nil {
		t.Error("a copy taken before still decrypts after the key was erased")
	}
	if _, err := s.Load("loans", uploadSchema, []string{id1}); err == nil {
		t.Error("the destroyed upload still loads")
	}
	if kh2, err := keys.Erase("loans"); err != nil || kh2 != "" {
		t.Errorf("erasing again: %q, %v", kh2, err)
	}
}

// storeOld writes a stored upload as an older Ingest did: plain, its
// plaintext under the dataset's key.
func storeOld(t *testing.T, s *Store, dir, dataset, id string, plain []byte) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, dataset, id+".age"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.keys.Encrypt(dataset, f)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestLoadStoredCSV: uploads stored before the columnar form (their CSV
// under the dataset's key) and in its first version (CRCOLS1, written by
// the older writer) load as before, beside columnar ones, in the order
// listed; the columnar form does not hold the CSV text.
func TestLoadStoredCSV(t *testing.T) {
	s, c, dir := newStore(t)
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), []byte(goodCSV)))); err != nil {
		t.Fatal(err)
	}
	// The older forms, written as Ingest wrote them then.
	storeOld(t, s, dir, "loans", id2, []byte("loan_id,uscc,amount,green,borrower_name\nL4,91650100MA00000004,7,false,Four\n"))
	const id3 = "00000000000000000000000000000003"
	v1 := schema.NewBatch(uploadSchema, 2)
	for _, r := range [][]string{{"L5", "91650100MA00000005", "Five"}, {"L6", "91650100MA00000001", ""}} {
		v1.Cols[0].Strs = append(v1.Cols[0].Strs, r[0])
		v1.Cols[1].Strs = append(v1.Cols[1].Strs, r[1])
		v1.Cols[2].Ints = append(v1.Cols[2].Ints, 9)
		v1.Cols[3].Ints = append(v1.Cols[3].Ints, 1)
		v1.Cols[4].Strs = append(v1.Cols[4].Strs, r[2])
		v1.Len++
	}
	storeOld(t, s, dir, "loans", id3, encodeCols1Of(t, uploadSchema, v1))

	tab, err := s.Load("loans", uploadSchema, []string{id1, id3, id2})
	if err != nil {
		t.Fatal(err)
	}
	if got := plainBatch(tab.Rows).Cols[0].Strs; !slices.Equal(got, []string{"L1", "L2", "L3", "L5", "L6", "L4"}) {
		t.Errorf("loan ids %v", got)
	}
	if got := plainBatch(tab.Rows).Cols[4].Strs; !slices.Equal(got, []string{marker, "Borrower two", "Borrower, three", "Five", "", "Four"}) {
		t.Errorf("borrowers %q", got)
	}
	if got := plainBatch(tab.Rows).Cols[2].Ints; !slices.Equal(got, []int64{100000, 250000, 5000, 9, 9, 7}) {
		t.Errorf("amounts %v", got)
	}
	// The codes Execute derives merge equal values across the forms.
	cc, err := buildCodes(context.Background(), tab, 1)
	if err != nil {
		t.Fatal(err)
	}
	codes := make([]int32, len(cc.rows))
	for r := range codes {
		codes[r] = cc.code(int32(r))
	}
	if want := []int32{0, 0, 1, 2, 0, 3}; !slices.Equal(codes, want) || cc.n != 4 {
		t.Errorf("uscc codes %v of %d, want %v of 4", codes, cc.n, want)
	}

	// The stored plaintext of the columnar upload is not CSV.
	ct, err := os.Open(filepath.Join(dir, "loans", id1+".age"))
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Close()
	plain, err := s.keys.Decrypt("loans", ct, s.custody)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !isColFile(b) || bytes.Contains(b, []byte("loan_id,uscc")) {
		t.Errorf("stored plaintext starts %q", b[:min(len(b), 20)])
	}
}

// TestCacheWipes: decrypted rows are wiped (zeroed in place) once unused
// past the cache's TTL, or when over its memory budget (the least
// recently used first), and never while a query uses them.
func TestCacheWipes(t *testing.T) {
	s, c, _ := newStore(t)
	for _, ds := range []string{"loans", "other"} {
		if _, err := s.Ingest(context.Background(), ds, id1, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), []byte(goodCSV)))); err != nil {
			t.Fatal(err)
		}
	}
	// wiped reports whether the borrower names' dictionary, their codes
	// and the amounts are zero (under the store's lock, which wiping holds).
	wiped := func(tab *Table) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		v := &tab.Rows.Cols[4]
		return len(v.Dict.Bytes) >= len(marker) && allZero(v.Dict.Bytes) && allZero(v.Dict.Offs) && allZero(v.Codes) &&
			tab.Rows.Cols[2].Len() > 0 && allZero(tab.Rows.Cols[2].Ints) && allZero(tab.Rows.Cols[2].Int32s)
	}

	// TTL: in use, kept; released, wiped after the TTL.
	s.SetCache(30*time.Millisecond, 1<<30)
	tab, err := s.Load("loans", uploadSchema, []string{id1})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if wiped(tab) || tab.Rows.Cols[4].Str(0) != marker {
		t.Fatal("rows wiped while in use")
	}
	run := *tab // a copy, as the node makes, releases the same rows
	run.Release()
	run.Release()
	deadline := time.Now().Add(5 * time.Second)
	for !wiped(tab) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !wiped(tab) {
		t.Fatal("rows not wiped after the TTL")
	}
	again, err := s.Load("loans", uploadSchema, []string{id1})
	if err != nil {
		t.Fatal(err)
	}
	if again.Rows == tab.Rows || again.Rows.Cols[4].Str(0) != marker {
		t.Fatal("rows not loaded afresh after the TTL")
	}
	again.Release()

	// Budget: loading a second dataset over it wipes the idle first one.
	s.SetCache(time.Hour, 1)
	a, err := s.Load("loans", uploadSchema, []string{id1})
	if err != nil {
		t.Fatal(err)
	}
	a.Release()
	b, err := s.Load("other", uploadSchema, []string{id1})
	if err != nil {
		t.Fatal(err)
	}
	if !wiped(a) {
		t.Error("the least recently used rows were not wiped over the budget")
	}
	if wiped(b) {
		t.Error("rows in use were wiped")
	}
	b.Release()
	if !wiped(b) {
		t.Error("released rows over the budget were not wiped")
	}

	// Remove wipes at once when unused.
	s.SetCache(time.Hour, 1<<30)
	d, err := s.Load("other", uploadSchema, []string{id1})
	if err != nil {
		t.Fatal(err)
	}
	d.Release()
	if err := s.Remove("other", id1); err != nil {
		t.Fatal(err)
	}
	if !wiped(d) {
		t.Error("Remove did not wipe the rows")
	}
}

// TestLoadParallel: an upload of several blocks loads on several workers
// (each block decrypted and decoded in place) to the rows its CSV holds.
func TestLoadParallel(t *testing.T) {
	defer func(m int64) { colMinParallel = m }(colMinParallel)
	colMinParallel = 1
	s, c, _ := newStore(t)
	plain := loansCSV(12 << 20)
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), plain))); err != nil {
		t.Fatal(err)
	}
	rd, err := csv.NewReader(bytes.NewReader(plain), uploadSchema, csv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := schema.NewBatch(uploadSchema, 0)
	for {
		b, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		want.Append(b)
	}
	u, err := s.openUpload("loans", uploadSchema, id1)
	if err != nil {
		t.Fatal(err)
	}
	u.close()
	if len(u.cf.blocks) < 3 {
		t.Fatalf("%d rows in %d blocks; want several", want.Len, len(u.cf.blocks))
	}
	tab, err := s.LoadRows("loans", uploadSchema, []string{id1}, int64(want.Len))
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Release()
	requireSameRows(t, want, tab.Rows)
}

// TestLoadDamaged: a stored upload damaged on disk (a byte changed in a
// chunk in its middle or in its header, or its end cut off) fails to load
// with ErrBadCiphertext, and leaves nothing cached.
func TestLoadDamaged(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		spoil func(b []byte) []byte
	}{
		{"middle chunk", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"header", func(b []byte) []byte { b[40] ^= 1; return b }},
		{"cut", func(b []byte) []byte { return b[:len(b)-100] }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s, c, dir := newStore(t)
			if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), loansCSV(1<<20)))); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "loans", id1+".age")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.spoil(b), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load("loans", uploadSchema, []string{id1}); !errors.Is(err, ErrBadCiphertext) {
				t.Errorf("got %v, want ErrBadCiphertext", err)
			}
			if len(s.cache) != 0 {
				t.Error("a failed load stayed in the cache")
			}
		})
	}
}

// TestLoadColumns: a load of some columns gives them as a load of all
// does, and leaves the others empty; the cache serves fewer columns from
// more and loads both sets for more; Execute refuses a plan that reads a
// column left out, and gives the same answer over the columns it reads.
func TestLoadColumns(t *testing.T) {
	defer func(m int64) { colMinParallel = m }(colMinParallel)
	colMinParallel = 1
	s, c, _ := newStore(t)
	plain := loansCSV(6 << 20)
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), plain))); err != nil {
		t.Fatal(err)
	}
	all, err := s.Load("loans", uploadSchema, []string{id1})
	require.NoError(t, err)
	want := all.Rows
	all.Release()
	only := func(cols ...int) []bool {
		need := make([]bool, len(uploadSchema.Columns))
		for _, i := range cols {
			need[i] = true
		}
		return need
	}
	for i := range uploadSchema.Columns {
		// Each column alone, from a store that has nothing cached.
		s2, err := OpenStore(s.dir, c, s.keys)
		require.NoError(t, err)
		tab, err := s2.LoadColumns("loans", uploadSchema, []string{id1}, 0, only(i))
		require.NoError(t, err)
		require.Equal(t, want.Len, tab.Rows.Len)
		for j := range uploadSchema.Columns {
			v := &tab.Rows.Cols[j]
			if j != i {
				require.Zero(t, v.Len(), "column %d is left out", j)
				continue
			}
			for r := range want.Len {
				if uploadSchema.Columns[j].Type == schema.String {
					require.Equal(t, want.Cols[j].Str(r), v.Str(r))
				} else {
					require.Equal(t, want.Cols[j].Int(r), v.Int(r))
				}
			}
		}
		tab.Release()
	}

	s3, err := OpenStore(s.dir, c, s.keys)
	require.NoError(t, err)
	amount := qc("loans", "amount", schema.Int)
	green := qc("loans", "green", schema.Bool)
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans"}},
		GroupBy: []query.Column{green},
		Outputs: []query.Output{{Name: "green", Column: ptr(green)}, {Name: "s", Func: query.Sum, Column: ptr(amount)}},
	}
	need := PlanColumns(p, "loans", uploadSchema, 1)
	require.Equal(t, only(1, 2, 3), need, "uscc (the unit), amount and green")
	run := func(tab *Table) ([][]string, error) {
		tab.Unit, tab.MaxRowsPerUnit = 1, 1000
		params := noNoise
		params.MaxGroupsPerUnit = 2
		res, err := Execute(context.Background(), p, map[string]*Table{"loans": tab}, params)
		if err != nil {
			return nil, err
		}
		return res.Rows, nil
	}
	some, err := s3.LoadColumns("loans", uploadSchema, []string{id1}, 0, need)
	require.NoError(t, err)
	got, err := run(some)
	require.NoError(t, err)
	full, err := s3.Load("loans", uploadSchema, []string{id1}) // more columns: loaded again
	require.NoError(t, err)
	require.NotSame(t, some.Rows, full.Rows)
	wantRows, err := run(full)
	require.NoError(t, err)
	require.Equal(t, wantRows, got)
	again, err := s3.LoadColumns("loans", uploadSchema, []string{id1}, 0, need) // fewer: from the cache
	require.NoError(t, err)
	require.Same(t, full.Rows, again.Rows)
	for _, tab := range []*Table{some, full, again} {
		tab.Release()
	}

	// A column left out that the plan reads: refused.
	s4, err := OpenStore(s.dir, c, s.keys)
	require.NoError(t, err)
	short, err := s4.LoadColumns("loans", uploadSchema, []string{id1}, 0, only(1, 3))
	require.NoError(t, err)
	defer short.Release()
	_, err = run(short)
	require.ErrorContains(t, err, "column amount does not match its schema")
}

// TestResultOutlivesRows: a result keeps its grouping values when the
// rows it was computed from are released and wiped at once (a cache over
// its budget), as the node releases them before it sends the result.
func TestResultOutlivesRows(t *testing.T) {
	s, c, _ := newStore(t)
	if _, err := s.Ingest(context.Background(), "loans", id1, uploadSchema, "loans.csv", bytes.NewReader(encrypt(t, c.Recipient(), []byte(goodCSV)))); err != nil {
		t.Fatal(err)
	}
	s.SetCache(time.Hour, 1)
	tab, err := s.Load("loans", uploadSchema, []string{id1})
	if err != nil {
		t.Fatal(err)
	}
	tab.Unit, tab.MaxRowsPerUnit = 1, 5 // uscc
	uscc := qc("loans", "uscc", schema.String)
	p := &query.Plan{
		Tables:  []query.Table{{Name: "loans"}},
		GroupBy: []query.Column{uscc},
		Outputs: []query.Output{{Name: "uscc", Column: ptr(uscc)}, {Name: "n", Func: query.Count}},
	}
	res, err := Execute(context.Background(), p, map[string]*Table{"loans": tab}, noNoise)
	if err != nil {
		t.Fatal(err)
	}
	tab.Release()
	if v := tab.Rows.Cols[1].Dict.Bytes; !allZero(v) {
		t.Fatal("the released rows were not wiped")
	}
	want := [][]string{{"91650100MA00000001", "2"}, {"91650100MA00000002", "1"}}
	if !reflect.DeepEqual(res.Rows, want) {
		t.Errorf("rows after the release %q, want %q", res.Rows, want)
	}
}

// TestWideDateLoads: a date column whose declared bounds pass 32 bits
// loads a value past them as it was uploaded (such a column is held in
// 64 bits).
func TestWideDateLoads(t *testing.T) {
	sc := &schema.Schema{Columns: []schema.Column{
		{Name: "id", Type: schema.String},
		{Name: "d", Type: schema.Date, Min: i64(-1 << 40), Max: i64(1 << 40)},
	}}
	b := schema.NewBatch(sc, 2)
	b.Cols[0].Strs = []string{"a", "b"}
	b.Cols[1].Ints = []int64{10, 1 << 33}
	b.Len = 2
	s, c, _ := newStore(t)
	_, err := s.Ingest(context.Background(), "ds", id1, sc, "x", bytes.NewReader(encrypt(t, c.Recipient(), encodePart(t, sc, b))))
	require.NoError(t, err, "ingest")
	tab, err := s.Load("ds", sc, []string{id1})
	require.NoError(t, err, "load")
	defer tab.Release()
	require.Equal(t, int64(1<<33), tab.Rows.Cols[1].Int(1))
}
