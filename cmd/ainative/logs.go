package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/initsys"
)

func init() { register(newLogsCmd) }

func newLogsCmd() *cobra.Command {
	var (
		lines   int
		asJSON  bool
		socket  string
		baseURL string
		token   string
	)
	cmd := &cobra.Command{
		Use:   "logs [SERVICE]",
		Short: "Print a service's recent log lines (or the init system's own)",
		Long: `Print the lines a supervised service wrote, kept in a ring buffer by
PID 1 (or by 'ainative up'). Without SERVICE, the supervisor's own log.
It asks the status server on its Unix socket, or at --url (for example a
VM's forwarded status port from the host). From another machine the
status server needs the token its console shows: --token or $` + statusTokenEnv + `.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			service := ""
			if len(args) == 1 {
				service = args[0]
			}
			client, base := statusClient(socket, baseURL)
			q := url.Values{"service": {service}}
			if lines > 0 {
				q.Set("n", strconv.Itoa(lines))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, "GET", base+"/logs?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("asking the init system (is ainative running as PID 1 or 'ainative up'?): %w", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
				var e struct{ Error string }
				if json.Unmarshal(body, &e) == nil && e.Error != "" {
					return errors.New(e.Error)
				}
				return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
			}
			var logs initsys.LogsResponse
			if err := json.NewDecoder(resp.Body).Decode(&logs); err != nil {
				return fmt.Errorf("reading logs: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(logs)
			}
			for _, l := range logs.Lines {
				fmt.Fprintln(out, l)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&lines, "lines", "n", 0, "print only the last N lines")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&socket, "socket", initsys.DefaultSocketPath(), "status server's Unix socket")
	cmd.Flags().StringVar(&baseURL, "url", "", "status server's URL instead of the socket (e.g. http://127.0.0.1:PORT)")
	cmd.Flags().StringVar(&token, "token", os.Getenv(statusTokenEnv), "status server's token, needed with --url from another machine")
	return cmd
}

// statusTokenEnv holds the status server's token for `ainative logs`.
const statusTokenEnv = "AINATIVE_STATUS_TOKEN"

// statusClient returns an HTTP client and base URL for the status server:
// over the Unix socket unless baseURL is set.
func statusClient(socket, baseURL string) (*http.Client, string) {
	if baseURL != "" {
		return http.DefaultClient, baseURL
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}, "http://ainative"
}
