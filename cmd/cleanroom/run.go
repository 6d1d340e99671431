package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/xjdata/cleanroom/audit"
	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/node"
)

func runNode(dir, listen, authorityKey, origin, identity string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	node.Version = version()
	n, err := node.Open(node.Config{Dir: dir, AuthorityKey: authorityKey, Origin: origin, Identity: identity, Logger: log})
	if err != nil {
		return err
	}
	defer n.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return withHint(err, "pick another port with --listen 127.0.0.1:PORT, or port 0 for a free one")
	}
	cx, cancel := ctx()
	defer cancel()
	return n.Serve(cx, ln)
}

func runAuditVerify(dir, nodeKey string, asJSON bool) error {
	if nodeKey == "" {
		b, err := os.ReadFile(filepath.Join(dir, "node.json"))
		if err != nil {
			return withHint(err, "pass the node's verifier key with --node-key")
		}
		var ni node.NodeInfo
		if err := json.Unmarshal(b, &ni); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "node.json"), err)
		}
		nodeKey = ni.NodeKey
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
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  parties\t%d\n  datasets\t%d\t(%d sealed uploads)\n  letters\t%d\n", rep.Parties, rep.Datasets, rep.Uploads, rep.Letters)
	fmt.Fprintf(tw, "  queries allowed\t%d\t(%d results released)\n", rep.Allowed, rep.Releases)
	for _, code := range rep.SortedDenials() {
		fmt.Fprintf(tw, "  denied: %s\t%d\n", code, rep.Denied[code])
	}
	fmt.Fprintf(tw, "  statements rejected\t%d\n", rep.Rejections)
	for k, v := range rep.Spent {
		fmt.Fprintf(tw, "  budget spent %s\tε=%s\n", k, v)
	}
	tw.Flush()
	fmt.Println("every signature, decision and budget debit checks out")
	return nil
}

func printResult(res *api.QueryResponse, dry bool) {
	var charges []string
	for _, c := range res.Decision.Charges {
		charges = append(charges, fmt.Sprintf("%s ε=%s", c.Dataset, c.Epsilon))
	}
	if dry {
		fmt.Printf("dry run: allowed (ledger entry %d); it would spend %s\n", res.DecisionEntry, strings.Join(charges, ", "))
		return
	}
	fmt.Printf("allowed (decision at ledger entry %d; spent %s)\n", res.DecisionEntry, strings.Join(charges, ", "))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(res.Result.Columns, "\t")+"\t")
	for _, row := range res.Result.Rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	if res.ReleaseEntry != nil {
		fmt.Printf("released at ledger entry %d, result sha256 %s\n", *res.ReleaseEntry, res.ResultSHA256)
	}
}
