package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/enclave"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
)

// conn registers the flags that locate the node and returns a constructor.
func conn(cmd *cobra.Command) func() (*client.Client, error) {
	var url, pin, info string
	cmd.Flags().StringVar(&url, "node", os.Getenv("CLEANROOM_NODE"), "node URL, https://host:port (env CLEANROOM_NODE)")
	cmd.Flags().StringVar(&pin, "pin", os.Getenv("CLEANROOM_PIN"), "node certificate pin, sha256:HEX (env CLEANROOM_PIN)")
	cmd.Flags().StringVar(&info, "node-info", os.Getenv("CLEANROOM_NODE_INFO"), "node.json from the node's data directory (env CLEANROOM_NODE_INFO)")
	return func() (*client.Client, error) {
		switch {
		case url != "" || pin != "":
			return client.New(url, pin)
		case info != "":
			return client.FromInfoFile(info)
		}
		return nil, withHint(errors.New("no node given"),
			"pass --node-info DATA/node.json, or --node URL --pin PIN (printed by 'cleanroom node' at start)")
	}
}

func ctx() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func printJSON(v any) { printJSONTo(os.Stdout, v) }

func printJSONTo(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
}

func newKeygen() *cobra.Command {
	var name, out string
	var withAge bool
	cmd := &cobra.Command{
		Use:   "keygen --name NAME",
		Short: "Create a party's Ed25519 signing key",
		Long: `keygen writes NAME.key, the party's signing key (mode 0600; keep it secret),
and NAME.pub, its public verifier key, which the authority registers. Every
statement a party makes (registration, upload, letter, approval, query) is
signed with this key. With --age it also writes NAME.age, an age identity
(post-quantum hybrid, ML-KEM-768 + X25519; mode 0600) for a role that
receives sealed data, such as the node (cleanroom node --identity NAME.age).
It never overwrites an existing key.`,
		Example: "  cleanroom keygen --name bank --out keys/\n  cleanroom keygen --name node --age --out keys/",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !policy.ValidPartyName(name) {
				return fmt.Errorf("invalid name %q: want a lower-case letter, then letters, digits or -", name)
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			skey, vkey, err := keys.Generate(name)
			if err != nil {
				return err
			}
			kp, pp := filepath.Join(out, name+".key"), filepath.Join(out, name+".pub")
			if _, err := os.Stat(pp); err == nil {
				return fmt.Errorf("%s exists; refusing to overwrite a key", pp)
			}
			if err := keys.WriteSecret(kp, []byte(skey+"\n")); err != nil {
				return err
			}
			if err := os.WriteFile(pp, []byte(vkey+"\n"), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote %s (secret) and %s\n", kp, pp)
			fmt.Println(vkey)
			if withAge {
				ap := filepath.Join(out, name+".age")
				if err := enclave.GenerateIdentity(ap); err != nil {
					return err
				}
				c, err := enclave.LoadCustody(ap)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "wrote %s (secret age identity)\n", ap)
				fmt.Println(c.Recipient())
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "party name: lower-case letters, digits, - (required)")
	cmd.Flags().StringVarP(&out, "out", "o", ".", "directory to write the key files in")
	cmd.Flags().BoolVar(&withAge, "age", false, "also write an age identity (for the node)")
	cmd.MarkFlagRequired("name")
	return cmd
}

func newParty() *cobra.Command {
	party := &cobra.Command{Use: "party", Short: "Register parties (the authority's verb)"}
	var authKey, partyKey, kind, juris, display string
	reg := &cobra.Command{
		Use:   "register --key AUTHORITY.key --party-key NAME.key --kind KIND --jurisdiction CC",
		Short: "Register a party with the node, signed by the authority and the party",
		Long: `register sends a party registration signed by the authority and by the
party's own key, which proves the party holds it. KIND is one of public-body,
public-service, enterprise, individual (Art. 21); CC is the party's country
(Art. 59: results from important data never go abroad).`,
		Example: `  cleanroom party register --node-info data/node.json --key keys/databureau.key \
    --party-key keys/bank.key --kind enterprise --jurisdiction CN --display 某商业银行`,
		Args: cobra.NoArgs,
	}
	mk := conn(reg)
	reg.RunE = func(cmd *cobra.Command, _ []string) error {
		auth, _, err := keys.LoadSigner(authKey)
		if err != nil {
			return err
		}
		ps, vkey, err := keys.LoadSigner(partyKey)
		if err != nil {
			return err
		}
		p := policy.Party{Name: ps.Name(), Kind: policy.PartyKind(kind), Display: display, Jurisdiction: juris, Key: vkey}
		if err := p.Validate(); err != nil {
			return err
		}
		stmt, err := statement.New(statement.KindParty, p, auth, ps)
		if err != nil {
			return err
		}
		return submit(mk, stmt, "party "+p.Name+" registered")
	}
	keyFlag(reg, &authKey, "the authority's")
	reg.Flags().StringVar(&partyKey, "party-key", "", "the new party's signing key, to prove possession (required)")
	reg.Flags().StringVar(&kind, "kind", "", "public-body, public-service, enterprise or individual (required)")
	reg.Flags().StringVar(&juris, "jurisdiction", "CN", "two-letter country code")
	reg.Flags().StringVar(&display, "display", "", "the party's full name")
	reg.MarkFlagRequired("party-key")
	reg.MarkFlagRequired("kind")
	party.AddCommand(reg)
	return party
}

// keyFlag registers the required --key flag: whose signing key it is.
func keyFlag(cmd *cobra.Command, v *string, whose string) {
	cmd.Flags().StringVar(v, "key", "", whose+" signing key (required)")
	cmd.MarkFlagRequired("key")
}

// submit sends a signed statement and prints the ledger entry.
func submit(mk func() (*client.Client, error), stmt []byte, what string) error {
	c, err := mk()
	if err != nil {
		return err
	}
	cx, cancel := ctx()
	defer cancel()
	res, err := c.Submit(cx, stmt)
	if err != nil {
		return err
	}
	fmt.Printf("%s (ledger entry %d)\n", what, res.Entry)
	return nil
}

func newNode() *cobra.Command {
	var dir, listen, authority, origin, identity string
	var cfg node.Config
	cmd := &cobra.Command{
		Use:   "node --data DIR",
		Short: "Run the compute node",
		Long: `node runs the compute node: an HTTPS JSON API on a loopback address by
default, its state rebuilt from the ledger at start. At first start it creates
its signing key, its age identity, a self-signed TLS certificate and the
ledger's genesis, which records --authority (required then). It prints the
certificate pin clients need and writes DIR/node.json. SIGINT or SIGTERM stop
it cleanly.

Every signed statement carries its time and a nonce: the node takes one only
within --window of its clock (a commitment letter, which gathers several
signatures, within --letter-window of its drafting) and only once. Both
windows are recorded in the genesis at first start and fixed then.

Query answers, releases and denials alike, leave on a time grid (--slot) so
that latency reveals neither the noise, the data's size nor the deny path.
Each party has quotas: requests per second, upload bytes per second and
queries at once; a request over one gets 429 with Retry-After.

Decrypted rows stay in memory between queries for --cache-ttl after the
last query that used them, within --cache-mib in all; past either they are
zeroed and dropped, and the next query decrypts them again.`,
		Example: "  cleanroom node --data data/ --listen 127.0.0.1:7643 --authority keys/databureau.pub",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var akey string
			if authority != "" {
				_, v, err := keys.LoadVerifier(authority)
				if err != nil {
					return err
				}
				akey = v
			}
			if cfg.CacheTTL <= 0 || cfg.CacheBytes <= 0 {
				return errors.New("--cache-ttl and --cache-mib must be above 0")
			}
			cfg.CacheBytes <<= 20
			cfg.Dir, cfg.AuthorityKey, cfg.Origin, cfg.Identity = dir, akey, origin, identity
			return runNode(cfg, listen)
		},
	}
	cmd.Flags().StringVarP(&dir, "data", "d", "", "data directory (required)")
	cmd.Flags().StringVarP(&listen, "listen", "l", "127.0.0.1:7643", "address to listen on (port 0 picks a free one)")
	cmd.Flags().StringVar(&authority, "authority", "", "the authority's .pub file (required at first start)")
	cmd.Flags().StringVar(&origin, "origin", "", "deployment name in checkpoints (first start only)")
	cmd.Flags().StringVar(&identity, "identity", "", "the node's age identity (default: DIR/node.age, created at first start)")
	cmd.Flags().DurationVar(&cfg.Window, "window", 0, "how far a statement's signed time may be from the node's clock (first start only; default 10m)")
	cmd.Flags().DurationVar(&cfg.LetterWindow, "letter-window", 0, "how old a commitment letter may be when submitted (first start only; default 720h)")
	cmd.Flags().DurationVar(&cfg.Slot, "slot", node.DefaultSlot, "query answers (releases and denials) leave on this time grid; negative turns it off")
	cmd.Flags().Float64Var(&cfg.Quotas.Rate, "quota-rate", node.DefaultRate, "signed requests per second per party (negative: no limit)")
	cmd.Flags().IntVar(&cfg.Quotas.Burst, "quota-burst", node.DefaultBurst, "signed requests per party at once")
	cmd.Flags().Float64Var(&cfg.Quotas.UploadBytes, "quota-upload-bytes", node.DefaultUploadBytes, "upload bytes per second per party (negative: no limit)")
	cmd.Flags().Int64Var(&cfg.Quotas.UploadBurst, "quota-upload-burst", node.DefaultUploadBurst, "upload bytes per party at once")
	cmd.Flags().IntVar(&cfg.Quotas.Queries, "quota-queries", node.DefaultQueries, "queries per party running at once (negative: no limit)")
	cmd.Flags().Int64Var(&cfg.MaxUploadBytes, "max-upload-bytes", node.MaxUploadBytes, "largest upload (or upload part) ciphertext; larger ones get 413")
	cmd.Flags().DurationVar(&cfg.CacheTTL, "cache-ttl", node.DefaultCacheTTL, "keep decrypted rows this long after their last query")
	cmd.Flags().Int64Var(&cfg.CacheBytes, "cache-mib", node.DefaultCacheBytes>>20, "keep at most this many MiB of decrypted rows")
	cmd.MarkFlagRequired("data")
	return cmd
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar returns a Progress of bytes that draws on stderr.
func progressBar(label string) client.Progress { return progressOf(label, humanBytes) }

// progressOf returns a Progress that draws on stderr, showing amounts
// with show.
func progressOf(label string, show func(int64) string) client.Progress {
	tty := isTerminal(os.Stderr)
	last := time.Time{}
	lastPct := -1
	return func(done, total int64) {
		pct := 100
		if total > 0 {
			pct = int(done * 100 / total)
		}
		if tty {
			if time.Since(last) < 100*time.Millisecond && done < total {
				return
			}
			last = time.Now()
			bar := strings.Repeat("#", pct/4) + strings.Repeat(".", 25-pct/4)
			fmt.Fprintf(os.Stderr, "\r%s [%s] %3d%% %s", label, bar, pct, show(done))
			if done >= total {
				fmt.Fprintln(os.Stderr)
			}
			return
		}
		if pct/25 != lastPct/25 || (done >= total && lastPct != 100) {
			lastPct = pct
			fmt.Fprintf(os.Stderr, "%s: %d%% (%s)\n", label, pct, show(done))
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// uploadBar returns an upload's progress display on stderr: bytes of the
// source read (with a bar when its size is known), rows, rate and parts.
func uploadBar(label string) func(client.UploadProgress) {
	tty := isTerminal(os.Stderr)
	start := time.Now()
	last := time.Time{}
	return func(p client.UploadProgress) {
		now := time.Now()
		every := 100 * time.Millisecond
		if !tty {
			every = 5 * time.Second
		}
		if now.Sub(last) < every && !p.Done {
			return
		}
		last = now
		secs := max(now.Sub(start).Seconds(), 1e-3)
		line := fmt.Sprintf("%s: %d rows, %.0f rows/s, %s sent, %d parts", label, p.Rows, float64(p.Rows)/secs, humanBytes(p.Sent), p.Parts)
		if p.SourceSize > 0 {
			pct := int(min(p.SourceRead*100/p.SourceSize, 100))
			rate := float64(p.SourceRead) / 1e6 / secs
			line = fmt.Sprintf("%s [%s%s] %3d%% of %s, %d rows, %.1f MB/s, %d parts", label,
				strings.Repeat("#", pct/4), strings.Repeat(".", 25-pct/4), pct, humanBytes(p.SourceSize), p.Rows, rate, p.Parts)
		}
		if tty {
			fmt.Fprintf(os.Stderr, "\r%s", line)
			if p.Done {
				fmt.Fprintln(os.Stderr)
			}
			return
		}
		fmt.Fprintln(os.Stderr, line)
	}
}

// describeClamped lists clamped counts by column, or says there were none.
func describeClamped(m map[string]int64) string {
	if len(m) == 0 {
		return "no values"
	}
	names := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, m[n])
	}
	return strings.Join(parts, ", ")
}
