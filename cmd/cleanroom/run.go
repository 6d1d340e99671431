package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/xjdata/cleanroom/internal/api"
	"github.com/xjdata/cleanroom/node"
)

func runNode(cfg node.Config, listen string) error {
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	node.Version = version()
	n, err := node.Open(cfg)
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
