package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

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
			cfg := initsys.HostConfig()
			if configPath != "" {
				var err error
				if cfg, err = initsys.LoadConfig(configPath); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			sys, err := initsys.StartHost(ctx, initsys.HostOptions{Config: cfg, StatusAddr: statusAddr, Socket: socket})
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "ainative up: %d service(s); status http://%s/ ; 'ainative logs' shows the supervisor's log; exit to stop\n",
				len(cfg.Services), statusAddr)
			os.Setenv(initsys.SocketEnv, socket) // for `ainative logs` in the shell
			sh, err := shell.New(shellOptions(cmd))
			if err == nil {
				err = sh.Interactive(ctx, os.Stdin)
			}
			status := shell.Status(err)
			stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
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
