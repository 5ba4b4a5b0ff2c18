package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raym33/ainative/client"
	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/bus"
	"github.com/raym33/ainative/internal/store"
	"github.com/raym33/ainative/internal/unixsock"
)

func init() { register(newBusCmd) }

func newBusCmd() *cobra.Command {
	var socket, policyFile, configFile string
	cmd := &cobra.Command{
		Use:   "bus",
		Short: "Run the AI bus: identity, context, tools, policy, consent and audit over MCP",
		Long: `Run the AI bus on a Unix socket ($AINATIVE_BUS, else $XDG_RUNTIME_DIR/ainative/bus.sock,
else /run/ainative/bus.sock). It speaks MCP; see the client/bus package for its own methods.
The policy is read from /etc/ainative/policy.toml or $AINATIVE_HOME/policy.toml; without one,
a user's processes see their own context, may call read tools and need consent for the rest,
and ai.chat reaches local models only ([[backend]] grants open remote backends to named programs).
With embedding_model = "NAME" in that file, relevance queries rank context by embeddings from
that local model; without it, or while the runtime cannot embed, by the full-text index.
External MCP servers listed as [[mcp_server]] in /etc/ainative/bus.toml or
$AINATIVE_HOME/bus.toml are attached as tool providers ("NAME.tool", same policy); one that
fails is retried with back-off and shown by 'ainative bus status'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, err := busConfig(policyFile, configFile)
			if err != nil {
				return err
			}
			s, err := bus.New(cfg)
			if err != nil {
				return err
			}
			defer s.Close()
			perm := os.FileMode(0o600) // a user's bus serves that user only
			if os.Geteuid() == 0 {
				perm = 0o666 // the system bus serves every user; identity comes from the kernel
			}
			l, err := unixsock.Listen(socket, perm)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "bus listening on %s\n", socket)
			return s.Serve(ctx, l)
		},
	}
	cmd.Flags().StringVar(&socket, "socket", busapi.SocketPath(), "Unix socket to listen on")
	cmd.Flags().StringVar(&policyFile, "policy", "", "policy file (default: /etc/ainative/policy.toml, then $AINATIVE_HOME/policy.toml)")
	cmd.Flags().StringVar(&configFile, "config", "", "bus config with [[mcp_server]] tables (default: /etc/ainative/bus.toml, then $AINATIVE_HOME/bus.toml)")
	cmd.AddCommand(newBusConsentCmd(), newBusAuditCmd(), newBusStatusCmd())
	return cmd
}

// busConfig is the bus's configuration: its state under AINATIVE_HOME,
// its policy, its external MCP servers, and ai.chat forwarded to the
// runtime found the usual way. Empty file names mean the default places.
func busConfig(policyFile, configFile string) (bus.Config, error) {
	storeDir, err := store.DefaultDir()
	if err != nil {
		return bus.Config{}, err
	}
	paths := bus.PolicyPaths(filepath.Dir(storeDir)) // AINATIVE_HOME
	if policyFile != "" {
		paths = []string{policyFile}
	}
	pol, from, err := bus.LoadPolicy(paths...)
	if err != nil {
		return bus.Config{}, err
	}
	if policyFile != "" && from == "" {
		return bus.Config{}, fmt.Errorf("policy %s: no such file", policyFile)
	}
	paths = bus.ConfigPaths(filepath.Dir(storeDir))
	if configFile != "" {
		paths = []string{configFile}
	}
	servers, from, err := bus.LoadMCPServers(paths...)
	if err != nil {
		return bus.Config{}, err
	}
	if configFile != "" && from == "" {
		return bus.Config{}, fmt.Errorf("bus config %s: no such file", configFile)
	}
	rt, err := client.FromEnvironment()
	if err != nil {
		return bus.Config{}, err
	}
	cfg := bus.Config{Dir: bus.DefaultDir(storeDir), Policy: pol, Chat: bus.RuntimeChat(rt), ModelBackend: bus.RuntimeBackends(rt), MCPServers: servers}
	if pol.EmbeddingModel != "" {
		cfg.EmbedModel, cfg.Embed = pol.EmbeddingModel, bus.RuntimeEmbed(rt, pol.EmbeddingModel, cfg.ModelBackend)
	}
	return cfg, nil
}

func newBusConsentCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "consent",
		Short: "Answer the bus's consent requests for your user from this terminal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !term.IsTerminal(int(os.Stdin.Fd())) {
				return errors.New("bus consent must run in a terminal: consent comes from a person")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			c, err := busapi.FromEnvironment(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			in := bufio.NewReader(os.Stdin)
			if err := c.ServeConsent(ctx, terminalConsent(cmd.OutOrStdout(), in)); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "answering consent requests; Ctrl-C to stop")
			select {
			case <-ctx.Done():
			case <-doneOf(c):
			}
			return nil
		},
	}
}

func doneOf(c *busapi.Client) <-chan struct{} {
	ch := make(chan struct{})
	go func() { c.Wait(); close(ch) }()
	return ch
}

// terminalConsent shows a request and reads y/N, one request at a time.
func terminalConsent(w io.Writer, in *bufio.Reader) busapi.ConsentFunc {
	mu := make(chan struct{}, 1)
	return func(ctx context.Context, r busapi.ConsentRequest) (bool, error) {
		select {
		case mu <- struct{}{}:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		defer func() { <-mu }()
		fmt.Fprint(w, busapi.FormatConsent(r))
		fmt.Fprint(w, "allow? [y/N] ")
		line, err := in.ReadString('\n')
		if err != nil {
			return false, err
		}
		ok := strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
		return ok, nil
	}
}

func newBusAuditCmd() *cobra.Command {
	var asJSON bool
	var uid int
	var target, decision string
	var since time.Duration
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print the bus's audit log (your own records unless root)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := busapi.FromEnvironment(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			q := busapi.AuditQuery{Target: target, Decision: decision, Limit: limit}
			if uid >= 0 {
				u := uint32(uid)
				q.UID = &u
			}
			if since > 0 {
				q.Since = time.Now().Add(-since)
			}
			recs, err := c.Audit(ctx, q)
			if err != nil {
				return err
			}
			return printAudit(cmd.OutOrStdout(), recs, asJSON)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&asJSON, "json", false, "print JSON lines")
	fl.IntVar(&uid, "uid", -1, "only records of this caller uid")
	fl.StringVar(&target, "tool", "", "only records about this tool (or other target)")
	fl.StringVar(&decision, "decision", "", "only this decision: allowed, denied, asked, approved, refused, timed-out, no-consent-path")
	fl.DurationVar(&since, "since", 0, "only records newer than this (e.g. 1h)")
	fl.IntVar(&limit, "limit", 1000, "at most this many of the newest records")
	return cmd
}

func printAudit(w io.Writer, recs []busapi.AuditRecord, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUID\tPID\tEXE\tACTION\tTARGET\tDECISION\tDETAIL")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Time.Local().Format(time.DateTime), r.Caller.UID, r.Caller.PID,
			r.Caller.Exe, r.Action, r.Target, r.Decision, r.Detail)
	}
	return tw.Flush()
}
