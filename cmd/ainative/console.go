package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/client"
	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/console"
	"github.com/raym33/ainative/internal/initsys"
)

func init() { register(newConsoleCmd) }

func newConsoleCmd() *cobra.Command {
	var listen, serveAt, statusSocket string
	var session bool
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Print the address of the web console that 'ainative serve' serves",
		Long: `Prints the URL of the web console (chat with a model, loaded models) of the
daemon listening on --listen (default $AINATIVE_LISTEN or 127.0.0.1:11434)
and checks that it answers. The console is served to loopback clients only;
when the daemon was started with AINATIVE_CONSOLE_TOKEN set, other clients
need the token, and the URL printed here carries it (keep it private).

With --session it opens a console session of your own, with your part of
the AI bus: your context items, your audit log, and the consent requests
waiting for you, answered in the page. HTTP carries no peer credentials,
so this command (your process, known to the bus by its kernel identity)
serves that session itself on a loopback port (--serve), passing the
model API on to the daemon, until interrupted. It prints a one-time URL
and writes it to $XDG_RUNTIME_DIR/ainative/console-token (mode 0600):
the first browser to open it gets the session; the URL then stops working.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if session {
				return serveConsoleSession(cmd, listen, serveAt, statusSocket)
			}
			u := url.URL{Scheme: "http", Host: listen, Path: console.Prefix}
			if tok := os.Getenv("AINATIVE_CONSOLE_TOKEN"); tok != "" {
				u.RawQuery = url.Values{"token": {tok}}.Encode()
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			check := url.URL{Scheme: "http", Host: listen, Path: console.Prefix}
			req, err := http.NewRequestWithContext(ctx, http.MethodHead, check.String(), nil)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			resp, err := http.DefaultClient.Do(req)
			switch {
			case err != nil:
				return fmt.Errorf("no daemon answers on %s (start one with 'ainative serve'): %w", listen, err)
			case resp.StatusCode == http.StatusNotFound:
				resp.Body.Close()
				return fmt.Errorf("the daemon on %s serves no console (an older ainative?)", listen)
			}
			resp.Body.Close()
			fmt.Fprintln(cmd.OutOrStdout(), u.String())
			return nil
		},
	}
	def := envOr("AINATIVE_LISTEN", client.DefaultTCP)
	cmd.Flags().StringVar(&listen, "listen", strings.TrimPrefix(def, "http://"), "the daemon's TCP address")
	cmd.Flags().BoolVar(&session, "session", false, "serve your own console session with your bus panel until interrupted")
	cmd.Flags().StringVar(&serveAt, "serve", "127.0.0.1:0", "with --session: the loopback address to serve it on")
	cmd.Flags().StringVar(&statusSocket, "status-socket", initsys.DefaultSocketPath(), "with --session: the init system's status socket, for services and logs")
	return cmd
}

// serveConsoleSession is `ainative console --session`.
func serveConsoleSession(cmd *cobra.Command, daemon, serveAt, statusSocket string) error {
	host, _, err := net.SplitHostPort(serveAt)
	if err != nil {
		return fmt.Errorf("--serve %s: %w", serveAt, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--serve %s: a console session is served on loopback only", serveAt)
	}
	tokenPath, err := console.TokenPath()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := busapi.FromEnvironment(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	panel, token, err := console.NewPanel(ctx, c)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", serveAt)
	if err != nil {
		return err
	}
	u := url.URL{Scheme: "http", Host: l.Addr().String(), Path: console.Prefix, RawQuery: url.Values{"session": {token}}.Encode()}
	if err := console.WriteToken(tokenPath, u.String()); err != nil {
		l.Close()
		return fmt.Errorf("console session token: %w", err)
	}
	defer os.Remove(tokenPath)
	srv := &http.Server{Handler: console.SessionHandler(panel, &url.URL{Scheme: "http", Host: daemon}, statusSocket), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(cmd.OutOrStdout(), u.String())
	fmt.Fprintf(cmd.ErrOrStderr(), "one-time URL also in %s; Ctrl-C ends the session\n", tokenPath)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
	case <-doneOf(c):
		fmt.Fprintln(cmd.ErrOrStderr(), "the bus closed the connection; session ended")
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
