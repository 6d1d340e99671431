package main

import (
	"log/slog"
	"net"
	"os"

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
