package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/client"
	"github.com/raym33/ainative/internal/console"
)

func init() { register(newConsoleCmd) }

func newConsoleCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Print the address of the web console that 'ainative serve' serves",
		Long: `Prints the URL of the web console (chat with a model, loaded models) of the
daemon listening on --listen (default $AINATIVE_LISTEN or 127.0.0.1:11434)
and checks that it answers. The console is served to loopback clients only;
when the daemon was started with AINATIVE_CONSOLE_TOKEN set, other clients
need the token, and the URL printed here carries it (keep it private).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	return cmd
}
