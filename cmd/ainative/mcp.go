package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/bus"
)

func init() { register(newMCPCmd) }

func newMCPCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mcp", Short: "MCP access to the bus for outside clients"}
	var httpAddr string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Expose the bus's tools and context to an MCP client (stdio, or --http on loopback)",
		Long: `Serve MCP on stdin/stdout (for Claude Desktop, editors and agents), or with --http ADDR
streamable HTTP on a loopback address, guarded by a bearer token printed on stderr. Calls go to
the running bus as the user running this command (or to a bus started in this process when none
runs), under the same policy; secret context is never exposed and consent is never granted here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, err := busConfig("", "") // for a bus started here: the same policy and servers
			if err != nil {
				return err
			}
			c, closeBus, err := bus.ConnectGateway(ctx, cfg)
			if err != nil {
				return err
			}
			defer closeBus()
			srv := bus.NewGateway(c)
			if httpAddr == "" {
				return srv.Run(ctx, &mcp.StdioTransport{})
			}
			return serveMCPHTTP(ctx, srv, httpAddr, cmd.ErrOrStderr())
		},
	}
	serve.Flags().StringVar(&httpAddr, "http", "", "serve streamable HTTP on this loopback address (e.g. 127.0.0.1:8765)")
	cmd.AddCommand(serve)
	return cmd
}

// serveMCPHTTP serves srv over streamable HTTP on a loopback address. Any
// local user can reach a loopback port, so every request must carry the
// bearer token printed at start.
func serveMCPHTTP(ctx context.Context, srv *mcp.Server, addr string, log io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--http %q: only loopback addresses are allowed", addr)
	}
	var tok [16]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "MCP on http://%s/ (header Authorization: Bearer %s)\n", l.Addr(), token)
	hs := &http.Server{Handler: guarded, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); hs.Close() }()
	if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
