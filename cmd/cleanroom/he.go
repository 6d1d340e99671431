package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/xjdata/cleanroom/agent"
	"github.com/xjdata/cleanroom/client"
	"github.com/xjdata/cleanroom/connectors/from"
	"github.com/xjdata/cleanroom/internal/keys"
	"github.com/xjdata/cleanroom/internal/statement"
	"github.com/xjdata/cleanroom/node"
	"github.com/xjdata/cleanroom/policy"
	"github.com/xjdata/cleanroom/protocols/mhe"
)

// AgentInfo is agent-info.json, written by a running agent.
type AgentInfo struct {
	URL       string `json:"url"`
	Pin       string `json:"pin"`
	Recipient string `json:"recipient"`
}

func newAgent() *cobra.Command {
	var dir, key, listen string
	cmd := &cobra.Command{
		Use:   "agent --data DIR --key PROVIDER.key",
		Short: "Run a provider's agent for the multiparty HE mode",
		Long: `agent runs a provider's agent: it holds the provider's share of the
collective HE key and the providers' shared fingerprint key (files of mode
0600 in DIR), takes part in 'cleanroom mhe setup', and answers the node's
key-switch requests only after checking each against its own verified copy
of the node's ledger: the decision must be one its own replay of the
policy engine reaches, the letter still in force and unrevoked, the
ciphertexts exactly those logged, and never switched before.

At first start give the node (--node-info or --node and --pin): the agent
records the node's URL, pin and ledger key in DIR/agent.json. At every start
it registers its address, certificate pin and age recipient with the node
(an agent statement signed with the provider's key) if the ledger does not
already hold them, and writes DIR/agent-info.json. SIGINT or SIGTERM stop it.`,
		Example: "  cleanroom agent --data agents/grid --key keys/grid.key --node-info data/node.json --listen 127.0.0.1:0",
		Args:    cobra.NoArgs,
	}
	mk := conn(cmd)
	cmd.RunE = func(_ *cobra.Command, _ []string) error {
		signer, _, err := keys.LoadSigner(key)
		if err != nil {
			return err
		}
		cx, cancel := ctx()
		defer cancel()
		if _, err := os.Stat(filepath.Join(dir, "agent.json")); errors.Is(err, os.ErrNotExist) {
			if err := initAgent(cx, mk, dir, signer.Name()); err != nil {
				return err
			}
		}
		return runAgent(cx, dir, listen, signer)
	}
	cmd.Flags().StringVarP(&dir, "data", "d", "", "the agent's data directory (required)")
	keyFlag(cmd, &key, "the provider's")
	cmd.Flags().StringVarP(&listen, "listen", "l", "127.0.0.1:0", "address to listen on (port 0 picks a free one)")
	cmd.MarkFlagRequired("data")
	return cmd
}

func initAgent(cx context.Context, mk func() (*client.Client, error), dir, party string) error {
	c, err := mk()
	if err != nil {
		return withHint(err, "a new agent needs its node: --node-info DATA/node.json")
	}
	info, err := c.Info(cx)
	if err != nil {
		return err
	}
	return agent.Init(dir, agent.Settings{Party: party, NodeURL: c.URL(), NodePin: c.Pin(), NodeKey: info.NodeKey})
}

func runAgent(cx context.Context, dir, listen string, signer note.Signer) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := agent.Open(agent.Config{Dir: dir, Signer: signer, Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return withHint(err, "pick another port with --listen 127.0.0.1:PORT, or port 0 for a free one")
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		errc <- srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{a.TLSCertificate()}, MinVersion: tls.VersionTLS13}))
	}()
	url := "https://" + ln.Addr().String()
	if err := registerAgent(cx, a, signer, url); err != nil {
		srv.Close()
		return err
	}
	info := AgentInfo{URL: url, Pin: a.Pin(), Recipient: a.Recipient()}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "agent-info.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	log.Info("agent listening", "party", a.Party(), "url", url, "pin", a.Pin())
	select {
	case err := <-errc:
		return err
	case <-cx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// registerAgent submits an agent statement unless the ledger already
// holds this agent's address, pin and recipient.
func registerAgent(cx context.Context, a *agent.Agent, signer note.Signer, url string) error {
	doc := policy.Agent{Party: a.Party(), URL: url, Pin: strings.TrimPrefix(a.Pin(), "sha256:"), Recipient: a.Recipient()}
	cur, err := a.Registered(cx)
	if err != nil {
		return fmt.Errorf("following the node's ledger: %w", err)
	}
	if cur != nil && *cur == doc {
		return nil
	}
	stmt, err := statement.New(statement.KindAgent, doc, signer)
	if err != nil {
		return err
	}
	res, err := a.Node().Submit(cx, stmt)
	if err != nil {
		return fmt.Errorf("registering the agent with the node: %w", err)
	}
	fmt.Fprintf(os.Stderr, "agent of %s registered at %s (ledger entry %d)\n", a.Party(), url, res.Entry)
	return nil
}

func newMHE() *cobra.Command {
	m := &cobra.Command{Use: "mhe", Short: "Set up the multiparty HE mode (the authority's verb)"}
	var key, id, providers string
	setup := &cobra.Command{
		Use:   "setup --key AUTHORITY.key --providers A,B,C",
		Short: "Generate the collective HE key with the providers' agents",
		Long: `setup signs an mhe-setup statement naming the providers and a fresh random
seed, and sends it to the node, which runs the key generation: each
provider's agent (running, and registered with 'cleanroom agent') makes its
secret-key share and its public share; the node adds the public shares into
the collective public key, logs its hash with every provider's signed share,
and has every agent check it. The first provider's agent makes the
fingerprint key and encrypts it with age to each other agent; the node only
relays it. The node never holds a secret share: decrypting anything takes
every provider's agent.`,
		Example: "  cleanroom mhe setup --node-info data/node.json --key keys/databureau.key --providers msb,grid,bank",
		Args:    cobra.NoArgs,
	}
	mk := conn(setup)
	setup.RunE = func(_ *cobra.Command, _ []string) error {
		signer, _, err := keys.LoadSigner(key)
		if err != nil {
			return err
		}
		if id == "" {
			id = "S-" + time.Now().UTC().Format("20060102T150405")
		}
		doc, err := node.NewHESetup(id, strings.Split(providers, ","))
		if err != nil {
			return err
		}
		stmt, err := statement.New(statement.KindHESetup, doc, signer)
		if err != nil {
			return err
		}
		c, err := mk()
		if err != nil {
			return err
		}
		cx, cancel := ctx()
		defer cancel()
		res, err := c.HESetup(cx, stmt)
		if err != nil {
			return err
		}
		fmt.Printf("HE mode set up: collective key %s of %s (ledger entries %d and %d)\n", res.KeySHA256[:16], strings.Join(res.Providers, ", "), res.SetupEntry, res.KeyEntry)
		return nil
	}
	keyFlag(setup, &key, "the authority's")
	setup.Flags().StringVar(&providers, "providers", "", "comma-separated providers whose agents share the key (required)")
	setup.Flags().StringVar(&id, "id", "", "setup id (default: S- and the time)")
	setup.MarkFlagRequired("providers")
	finish := &cobra.Command{
		Use:   "finish",
		Short: "Have every agent check and keep the collective key, again",
		Long: `finish repeats the last round of 'mhe setup' for agents that missed it (down
when the collective key was logged): each checks the key against every
provider's share and the ledger, and keeps it with its fingerprint key.
Agents that have it already answer the same.`,
		Example: "  cleanroom mhe finish --node-info data/node.json",
		Args:    cobra.NoArgs,
	}
	mkF := conn(finish)
	finish.RunE = func(*cobra.Command, []string) error {
		c, err := mkF()
		if err != nil {
			return err
		}
		cx, cancel := ctx()
		defer cancel()
		res, err := c.HEFinish(cx)
		if err != nil {
			return err
		}
		fmt.Printf("every agent of %s holds collective key %s\n", strings.Join(res.Providers, ", "), res.KeySHA256[:16])
		return nil
	}
	m.AddCommand(setup, finish)
	return m
}

// uploadHE uploads a CSV in HE mode, treating columns by the letter's
// rules for the dataset.
func uploadHE(cx context.Context, c *client.Client, signer note.Signer, d *policy.Dataset, letterID, agentDir string, sp from.Spec, src from.Options, clamp bool) (*client.HEUploaded, error) {
	if letterID == "" || agentDir == "" {
		return nil, withHint(errors.New("an HE-mode upload needs --commitment and --agent-dir"),
			"the letter's column rules decide which columns stay clear, become fingerprints or are encrypted; the agent's directory holds the keys")
	}
	ls, err := c.Letter(cx, letterID)
	if err != nil {
		return nil, err
	}
	ld, ok := ls.State.Letter.Dataset(d.Name)
	if !ok {
		return nil, fmt.Errorf("commitment letter %s does not cover dataset %s", letterID, d.Name)
	}
	hk, err := client.LoadHEKeys(agentDir)
	if err != nil {
		return nil, err
	}
	treat := client.Treatments(d, ld.Columns)
	var parts []string
	for _, col := range d.Schema.Columns {
		t := treat[col.Name]
		if t == policy.Absent {
			t = "not uploaded"
		}
		parts = append(parts, col.Name+" "+string(t))
	}
	fmt.Fprintf(os.Stderr, "HE upload of %s: %s\n", d.Name, strings.Join(parts, ", "))
	bars := map[string]client.Progress{
		"encrypt": progressOf("encrypt", func(n int64) string { return fmt.Sprintf("%d values", n) }),
		"send":    progressBar("send"),
	}
	return c.UploadHEFrom(cx, signer, d, treat, hk, sp, src, clamp, func(stage string, done, total int64) {
		if p := bars[stage]; p != nil {
			p(done, total)
		}
	})
}

// heKeyPair makes the operator's one-time result key for an HE query.
func heKeyPair() (*mhe.ResultSecretKey, *mhe.PublicKey, error) {
	params, err := mhe.NewParameters()
	if err != nil {
		return nil, nil, err
	}
	return mhe.GenerateResultKey(params)
}
