package main

import (
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/xjdata/cleanroom/node"
)

func runNode(dir, listen, authorityKey, origin, identity string, cacheTTL time.Duration, cacheMiB int64) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	node.Version = version()
	n, err := node.Open(node.Config{Dir: dir, AuthorityKey: authorityKey, Origin: origin, Identity: identity, Logger: log,
		CacheTTL: cacheTTL, CacheBytes: cacheMiB << 20})
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
