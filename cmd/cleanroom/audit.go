package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/ledger"
	"github.com/xjdata/cleanroom/node"
)

func newAudit() *cobra.Command {
	a := &cobra.Command{Use: "audit", Short: "Fetch and verify a node's ledger, prove results (the auditor's verbs)"}

	var dir, nodeKey, trusted string
	var asJSON bool
	v := &cobra.Command{
		Use:   "verify DIR [--trusted CHECKPOINT]",
		Short: "Verify a ledger offline: tree, checkpoint, signatures, decisions, budgets",
		Long: `verify reads a copy of a node's ledger (from 'audit fetch', or the node's own
data directory) and trusts nothing but the node's public key. It recomputes the
Merkle tree and checks the signed checkpoint; with --trusted, it checks the log
is consistent with a checkpoint you saved before (a rolled-back or forked log
is refused, with both signed checkpoints printed as evidence); it checks every
statement's signatures against the keys registered before it, decides every
query again with the same policy code and compares, and checks that no budget
was overspent. It exits 0 and prints a summary, or exits 1 naming the first
bad entry. Keep DIR/ledger/checkpoint after each run: it is your next --trusted.`,
		Example: "  cleanroom audit verify copy/ --trusted last.checkpoint",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				dir = args[0]
			}
			if dir == "" {
				return withHint(errors.New("no ledger directory given"), "cleanroom audit verify DIR, where DIR is from 'cleanroom audit fetch' or a node's --data")
			}
			return runAuditVerify(dir, nodeKey, trusted, asJSON)
		},
	}
	v.Flags().StringVarP(&dir, "data", "d", "", "the ledger's directory (or give it as the argument)")
	v.Flags().StringVar(&nodeKey, "node-key", "", "the node's verifier key (default: from DIR/node.json)")
	v.Flags().StringVar(&trusted, "trusted", "", "a checkpoint you saved before: the log must be consistent with it")
	v.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")

	var out string
	fetch := &cobra.Command{
		Use:   "fetch --out DIR",
		Short: "Copy a node's ledger for offline verification",
		Long: `fetch copies a node's checkpoint and every entry it covers into DIR, checks
the copy against the checkpoint, and records the node's key in DIR/node.json.
Run 'cleanroom audit verify DIR' next.`,
		Example: "  cleanroom audit fetch --node-info data/node.json --out copy/",
		Args:    cobra.NoArgs,
	}
	mk := conn(fetch)
	fetch.RunE = func(cmd *cobra.Command, _ []string) error {
		return runAuditFetch(mk, out)
	}
	fetch.Flags().StringVarP(&out, "out", "o", "", "directory to copy the ledger into (required)")
	fetch.MarkFlagRequired("out")

	var proveKey, proveInfo string
	prove := &cobra.Command{
		Use:   "prove RESULT.json",
		Short: "Check a released result's proofs offline",
		Long: `prove checks a result saved from 'cleanroom query --json': that its decision
and release entries are in the node's log under a checkpoint the node signed,
that the release names this decision and exactly this result (by SHA-256), and
that the decision allowed the query.`,
		Example: "  cleanroom query ... --json > result.json\n  cleanroom audit prove --node-info data/node.json result.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := nodeKeyFrom(proveKey, proveInfo)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var res api.QueryResponse
			if err := json.Unmarshal(b, &res); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			p, err := audit.Prove(&res, key)
			if err != nil {
				return fmt.Errorf("%s: proof FAILED: %w", args[0], err)
			}
			fmt.Printf("proven: %s released to %s at entry %d (decision at entry %d), under the checkpoint of %s at size %d\nresult sha256 %s\n",
				args[0], p.Recipient, p.ReleaseEntry, p.DecisionEntry, p.Origin, p.CheckpointSize, p.ResultSHA256)
			return nil
		},
	}
	prove.Flags().StringVar(&proveKey, "node-key", "", "the node's verifier key")
	prove.Flags().StringVar(&proveInfo, "node-info", os.Getenv("CLEANROOM_NODE_INFO"), "node.json holding the node's key (env CLEANROOM_NODE_INFO)")

	a.AddCommand(v, fetch, prove)
	return a
}

// nodeKeyFrom returns a verifier key given directly or read from node.json.
func nodeKeyFrom(key, infoPath string) (string, error) {
	if key != "" {
		return key, nil
	}
	if infoPath == "" {
		return "", withHint(errors.New("no node key"), "pass --node-key KEY, or --node-info FILE (node.json)")
	}
	b, err := os.ReadFile(infoPath)
	if err != nil {
		return "", err
	}
	var ni node.NodeInfo
	if err := json.Unmarshal(b, &ni); err != nil || ni.NodeKey == "" {
		return "", fmt.Errorf("%s: no node_key", infoPath)
	}
	return ni.NodeKey, nil
}

func runAuditFetch(mk func() (*client.Client, error), out string) error {
	c, err := mk()
	if err != nil {
		return err
	}
	cx, cancel := ctx()
	defer cancel()
	info, err := c.Info(cx)
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(info.NodeKey)
	if err != nil {
		return fmt.Errorf("the node's key: %v", err)
	}
	signed, err := c.Checkpoint(cx)
	if err != nil {
		return err
	}
	cp, err := ledger.ParseCheckpoint(signed, v)
	if err != nil {
		return fmt.Errorf("the node's checkpoint: %w", err)
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	progress := progressOf("fetch", func(n int64) string { return fmt.Sprintf("%d of %d entries", n, cp.Size) })
	entries := c.EntriesTo(cx, cp.Size, func(done uint64) { progress(int64(done), int64(cp.Size)) })
	if _, err := ledger.Import(filepath.Join(out, "ledger"), v, signed, entries); err != nil {
		return fmt.Errorf("the fetched copy does not match the node's checkpoint: %w", err)
	}
	b, _ := json.MarshalIndent(node.NodeInfo{URL: c.URL(), NodeKey: info.NodeKey, Recipient: info.Recipient}, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "node.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("fetched %d entries of %s into %s (checkpoint root %s)\n", cp.Size, cp.Origin, out, hex.EncodeToString(cp.Root))
	return nil
}

func runAuditVerify(dir, nodeKey, trusted string, asJSON bool) error {
	if nodeKey == "" {
		var err error
		if nodeKey, err = nodeKeyFrom("", filepath.Join(dir, "node.json")); err != nil {
			return withHint(err, "pass the node's verifier key with --node-key")
		}
	}
	v, err := note.NewVerifier(nodeKey)
	if err != nil {
		return fmt.Errorf("node key: %v", err)
	}
	if trusted != "" {
		t, err := os.ReadFile(trusted)
		if err != nil {
			return err
		}
		if err := ledger.CheckTrusted(filepath.Join(dir, "ledger"), v, t); err != nil {
			var fe *ledger.ForkError
			if errors.As(err, &fe) {
				fmt.Fprintf(os.Stderr, "evidence: two checkpoints signed by the node that cannot both be true:\n%s\n%s\n", fe.Trusted, fe.Current)
			}
			return fmt.Errorf("ledger verification FAILED against %s: %w", trusted, err)
		}
	}
	if os.Getenv("GOGC") == "" {
		// A batch job that builds the whole state: trade memory for
		// less collection (about 15% faster on a million entries), under
		// a soft limit.
		debug.SetGCPercent(400)
		debug.SetMemoryLimit(8 << 30)
	}
	rep, err := audit.Verify(filepath.Join(dir, "ledger"), nodeKey)
	if err != nil {
		return fmt.Errorf("ledger verification FAILED: %w", err)
	}
	if asJSON {
		printJSON(rep)
		return nil
	}
	fmt.Printf("ledger verified: %s, %d entries, root %s\n", rep.Origin, rep.Entries, hex.EncodeToString(rep.RootHash))
	if trusted != "" {
		fmt.Printf("consistent with the trusted checkpoint %s\n", trusted)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  parties\t%d\n  datasets\t%d\t(%d sealed uploads)\n  letters\t%d\n", rep.Parties, rep.Datasets, rep.Uploads, rep.Letters)
	fmt.Fprintf(tw, "  queries allowed\t%d\t(%d results released)\n", rep.Allowed, rep.Releases)
	for _, code := range rep.SortedDenials() {
		fmt.Fprintf(tw, "  denied: %s\t%d\n", code, rep.Denied[code])
	}
	fmt.Fprintf(tw, "  statements rejected\t%d\n", rep.Rejections)
	for _, k := range rep.SpentKeys() {
		fmt.Fprintf(tw, "  budget spent %s\tε=%s\n", k, rep.Spent[k])
	}
	tw.Flush()
	fmt.Println("every signature, decision and budget debit checks out")
	return nil
}
