package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestCanaries plants distinct marker values in rows (a personal column
// and an address column), in secret keys (the node's, the data keys, a
// party's signing key) and in a database password, runs the scenario's
// workload (uploads, allowed and denied queries, a refused upload whose
// bad row holds a marker, an upload from a database that cannot be
// reached), then scans the ledger, the node's log, every error message,
// the temporary directory and the data directory: no marker appears
// outside its own encrypted (or, for a key, its own) file.
func TestCanaries(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var logs syncBuffer
	r := newRoom(t, 5, func(c *node.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})

	marker := func() string {
		var b [8]byte
		rand.Read(b[:])
		return "CANARY" + strings.ToUpper(hex.EncodeToString(b[:]))
	}
	// Rows: 1,200 markers in the registry's name (personal) and address
	// columns.
	var rowMarkers []string
	var csv strings.Builder
	csv.WriteString("uscc,name,industry,capital,address\n")
	for i := range 600 {
		name, addr := marker(), marker()
		rowMarkers = append(rowMarkers, name, addr)
		fmt.Fprintf(&csv, "K%05d,%s,%c,%d,%s\n", i, name, 'A'+rune(i%3), 1000*(i+1), addr)
	}
	p := filepath.Join(t.TempDir(), "registry-canary.csv")
	require.NoError(t, os.WriteFile(p, []byte(csv.String()), 0o600))
	s := schemas["registry"]
	var errs []string
	_, err := r.c.UploadCSV(context.Background(), r.parties["msb"].signer, "registry", &s, p, client.UploadOptions{})
	require.NoError(t, err)

	// A refused upload: a bad row among markers.
	badMarker := marker()
	bad := strings.Replace(csv.String(), "K00000,", "K00000"+badMarker+",", 1) // too long for uscc's 18 bytes
	rowMarkers = append(rowMarkers, badMarker)
	pb := filepath.Join(t.TempDir(), "registry-bad.csv")
	require.NoError(t, os.WriteFile(pb, []byte(bad), 0o600))
	_, err = r.c.UploadCSV(context.Background(), r.parties["msb"].signer, "registry", &s, pb, client.UploadOptions{})
	require.Error(t, err)
	errs = append(errs, err.Error())
	// The same rows sent past the client's own checks: the node's refusal.
	ct, stmt := r.sealedUploadTo(t, "registry", []byte(bad), strings.Repeat("c", 32), r.parties["msb"].signer)
	_, e := r.put(t, ct, stmt)
	require.NotEmpty(t, e.Message)
	errs = append(errs, e.Message)

	// Keys: a party's signing key, the node's keys and data keys.
	skey, vkey, err := keys.Generate("auditor")
	require.NoError(t, err)
	signer, _, err := keys.ParseSigner(skey)
	require.NoError(t, err)
	r.submit(statement.KindParty, policy.Party{Name: "auditor", Kind: policy.PublicBody, Jurisdiction: "CN", Key: vkey}, r.parties["bureau"].signer, signer)
	keyFiles := map[string]string{} // marker -> the file that holds it
	// A note signer key is PRIVATE+KEY+name+hash+key, and its base64 key
	// may itself hold '+'; other key lines (age, PEM) are secret whole.
	secretOf := func(s string) string {
		if p := strings.SplitN(s, "+", 5); len(p) == 5 && p[0] == "PRIVATE" && p[1] == "KEY" {
			return p[4]
		}
		return s
	}
	keyMarkers := []string{secretOf(strings.TrimSpace(skey))}
	for _, f := range []string{"node.key", "node.age", "tls.key"} {
		b, err := os.ReadFile(filepath.Join(r.dir, f))
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "-----") {
				m := secretOf(line)
				keyMarkers, keyFiles[m] = append(keyMarkers, m), f
			}
		}
	}
	dks, _ := filepath.Glob(filepath.Join(r.dir, "datakeys", "*.age"))
	require.NotEmpty(t, dks)
	for _, f := range dks {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		m := strings.TrimSpace(string(b))
		keyMarkers, keyFiles[m] = append(keyMarkers, m), filepath.Join("datakeys", filepath.Base(f))
	}

	// A password: an upload from a database that cannot be reached.
	password := marker()
	_, err = r.c.UploadFrom(context.Background(), r.parties["msb"].signer, "registry", &s,
		from.Spec{Kind: "postgres", URL: "postgres://reader:" + password + "@127.0.0.1:1/registry?table=public.registry"}, from.Options{}, client.UploadOptions{})
	require.Error(t, err)
	errs = append(errs, err.Error())

	// The workload: allowed and denied queries over the rows.
	for _, sql := range []string{
		"SELECT r.industry, COUNT(*) FROM registry r GROUP BY r.industry",
		"SELECT r.name FROM registry r",
		"SELECT r.address, COUNT(*) FROM registry r GROUP BY r.address",
		allowedSQL,
	} {
		if _, err := r.query("bank", "L-1", "0.01", "", sql); err != nil {
			errs = append(errs, err.Error())
		}
	}
	r.stop()

	for _, m := range keyMarkers {
		require.GreaterOrEqual(t, len(m), 16, "a key marker too short to be unique (from %q)", keyFiles[m])
	}
	markers := append(append(append([]string{}, rowMarkers...), keyMarkers...), password)
	require.GreaterOrEqual(t, len(markers), 1000)
	found := func(where string, b []byte, own string) {
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) && keyFiles[m] != own {
				t.Errorf("marker %.14s… found in %s", m, where)
			}
		}
	}
	scan := func(dir, base string) int {
		n := 0
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			rel, _ := filepath.Rel(base, p)
			found(p, b, rel)
			n++
			return nil
		})
		return n
	}
	require.Greater(t, scan(r.dir, r.dir), 10, "the data directory, ledger included")
	scan(tmp, tmp)
	found("the node's log", logs.Bytes(), "")
	require.NotEmpty(t, logs.Bytes())
	for _, e := range errs {
		t.Logf("error message: %s", e)
		found("an error message: "+e, []byte(e), "")
	}
	t.Logf("%d markers (%d in rows, %d keys, 1 password) looked for in the data directory, the ledger, %d bytes of log, %d error messages and the temporary directory",
		len(markers), len(rowMarkers), len(keyMarkers), len(logs.Bytes()), len(errs))
}
