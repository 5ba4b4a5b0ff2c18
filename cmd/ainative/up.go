package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raym33/ainative/internal/initsys"
	"github.com/raym33/ainative/internal/shell"
)

func init() { register(newUpCmd) }

func newUpCmd() *cobra.Command {
	var (
		configPath string
		statusAddr string
		socket     string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start ainative's services on this Linux host and open the shell",
		Long: `Start the services under the same supervisor PID 1 uses in the image
(the built-in list, or --config FILE in the services.json schema), serve
the status page on --status-addr (loopback) and run the interactive shell
in the foreground. Leaving the shell (exit, ^D) stops the services in
reverse order. With standard input not a terminal, the shell reads
commands from it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding the ainative binary: %w", err)
			}
			cfg := initsys.HostConfig(self)
			if configPath != "" {
				var err error
				if cfg, err = initsys.LoadConfig(configPath); err != nil {
					return err
				}
			}
			// SIGTERM and SIGHUP stop the services, and must end up even
			// while the shell waits for a line, which no signal
			// interrupts: the shell's goroutine is left to the exit.
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			sys, err := initsys.StartHost(ctx, initsys.HostOptions{Config: cfg, StatusAddr: statusAddr, Socket: socket})
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, upBanner(sys, len(cfg.Services), statusAddr, socket))
			os.Setenv(initsys.SocketEnv, socket) // for `ainative logs` in the shell
			if st, err := term.GetState(int(os.Stdin.Fd())); err == nil {
				// The shell may be left in raw mode by a signal.
				defer term.Restore(int(os.Stdin.Fd()), st)
			}
			shellDone := make(chan int, 1)
			go func() {
				sh, err := shell.New(shellOptions(cmd))
				if err == nil {
					err = sh.Interactive(ctx, os.Stdin)
				}
				shellDone <- shell.Status(err)
			}()
			var status int
			select {
			case status = <-shellDone:
			case sig := <-sigs:
				fmt.Fprintf(os.Stderr, "\nainative up: %v; stopping the services\n", sig)
				status = 128 + int(sig.(syscall.Signal))
			}
			cancel()
			stopCtx, stopCancel := context.WithTimeout(context.Background(), time.Minute)
			defer stopCancel()
			if err := sys.Shutdown(stopCtx); err != nil {
				return fmt.Errorf("stopping services: %w", err)
			}
			if status != 0 {
				return exitStatus(status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "service configuration (JSON, the schema of /etc/ainative/services.json)")
	cmd.Flags().StringVar(&statusAddr, "status-addr", fmt.Sprintf("127.0.0.1:%d", initsys.StatusPort), "status page address; empty: none")
	cmd.Flags().StringVar(&socket, "socket", initsys.DefaultSocketPath(), "Unix socket for 'ainative logs'")
	return cmd
}

// upBanner says what `up` started and where it listens: the status page's
// real address (a busy port is said to be busy, never shown as a URL that
// would reach another program) and, when the page is reachable from
// other machines, the token they need.
func upBanner(sys *initsys.System, services int, statusAddr, socket string) string {
	msg := fmt.Sprintf("ainative up: %d service(s)", services)
	if url, err := sys.StatusURL(); url != "" {
		msg += "; status " + url
		if !loopbackOnly(statusAddr) {
			msg += fmt.Sprintf(" (other machines need ?token=%s)", sys.StatusToken())
		}
	} else if err != nil {
		msg += fmt.Sprintf("; could not listen on %s for the status page: %v", statusAddr, err)
	}
	if socket != "" {
		msg += "; status socket " + socket
	}
	return msg + "; 'ainative logs' shows the supervisor's log; exit to stop"
}

// loopbackOnly reports whether a listen address accepts only this machine.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
