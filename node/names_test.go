package node_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/policy"
)

// hostileNames are names a party might send to reach a file outside its
// place or to pass for another party or dataset: traversal, absolute
// paths, NUL and control characters, Unicode look-alikes and invisible
// characters, encodings of separators, and overlong names.
var hostileNames = []string{
	// traversal
	"..", ".", "../loans", "../../etc/passwd", "loans/..", "loans/../registry", "a/b", "a\\b", "..\\..\\windows",
	"./loans", "loans/", "loans/.", "....//....//etc", "sealed/../../node.key", "datakeys/loans",
	// absolute paths
	"/etc/passwd", "/", "/tmp/x", "C:\\Windows", "c:", "\\\\server\\share", "//server/share", "~", "~/loans", "$HOME",
	// NUL, control and white space
	"loans\x00", "\x00loans", "lo\x00ans", "loans\n", "loans\r", "\tloans", "loans ", " loans", "lo ans", "loans\x7f", "loans\x1b[31m",
	// Unicode look-alikes and invisible characters
	"lоans",                  // Cyrillic о
	"ｌｏａｎｓ",                  // fullwidth
	"loans\u200b",            // zero-width space
	"\u202eloans",            // right-to-left override
	"loans\ufeff",            // byte-order mark
	"ⅼoans",                  // Roman numeral fifty
	"loanѕ",                  // Cyrillic dze
	"lo\u0301ans",            // combining acute accent
	"registrу",               // Cyrillic у
	"bаnk",                   // Cyrillic а, a party look-alike
	"gr\u0131d",              // dotless i
	"loans\u2044x",           // fraction slash
	"loans\u2215x",           // division slash
	"loans\uff0fx",           // fullwidth solidus
	"\u2024\u2024",           // one-dot leaders
	"loans\u00a0",            // no-break space
	"LOANS", "Loans", "bAnk", // case folding
	// encoded separators
	"%2e%2e", "%2e%2e%2fetc", "..%2f", "loans%00", "..%c0%af", "%252e%252e",
	// overlong and odd
	strings.Repeat("a", 64), strings.Repeat("a", 255), strings.Repeat("a", 4096), strings.Repeat("../", 100),
	"", "-", "_", "0loans", "-loans", "_loans", "loans*", "loans?", "loans|x", "loans;rm", "loans:x", "loans\"", "<loans>",
}

// TestHostileNamesRejected: every hostile name is refused as a dataset
// name and as a party name, with an error naming it, and nothing appears
// on disk for it, inside the data directory or outside.
func TestHostileNamesRejected(t *testing.T) {
	require.GreaterOrEqual(t, len(hostileNames), 50)
	r := newRoom(t, 5)
	outside := filepath.Dir(r.dir)
	before := listTree(t, outside)
	for _, name := range hostileNames {
		msg, err := statement.NewAt(r.now, statement.KindDataset, policy.Dataset{Name: name, Holder: "msb", Source: "s", Declaration: testDeclaration,
			Schema: schemas["permits"], Sharing: policy.ShareUnconditional, Opening: policy.OpenUnconditional, Level: policy.General}, r.parties["msb"].signer)
		require.NoError(t, err)
		_, err = r.c.Submit(context.Background(), msg)
		var ce *client.Error
		require.ErrorAs(t, err, &ce, "dataset %q", name)
		require.Contains(t, ce.Message, "invalid name", "dataset %q", name)
		require.NotNil(t, ce.Entry, "dataset %q: the refusal is logged", name)

		s, vkey, err := keys.New("x")
		require.NoError(t, err)
		msg, err = statement.NewAt(r.now, statement.KindParty, policy.Party{Name: name, Kind: policy.Enterprise, Jurisdiction: "CN", Key: vkey}, r.parties["bureau"].signer, s)
		require.NoError(t, err)
		_, err = r.c.Submit(context.Background(), msg)
		require.ErrorAs(t, err, &ce, "party %q", name)
		require.Contains(t, ce.Message, "invalid name", "party %q", name)
	}
	after := listTree(t, outside)
	// The node adds ledger entries (the logged refusals), and nothing
	// else: no file or folder named after any of the names.
	for p := range after {
		if before[p] {
			continue
		}
		require.True(t, strings.HasPrefix(p, filepath.Join(r.dir, "ledger")+string(filepath.Separator)), "new file %s", p)
	}
}

func listTree(t *testing.T, dir string) map[string]bool {
	out := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			out[p] = true
		}
		return nil
	})
	_, err := os.Stat(dir)
	require.NoError(t, err)
	return out
}
