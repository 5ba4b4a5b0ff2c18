package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/initsys"
)

func init() { register(newInitCmd) }

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Run as PID 1: mount, network, supervise services, power off",
		Long: `The image's /init. Mounts /proc, /sys, /dev, /dev/pts, /run and /tmp,
sets the host name, loads the kernel modules in /etc/ainative/modules,
configures loopback and DHCP, supervises the services of
/etc/ainative/services.json and serves a status page on port 8080. It
never returns: SIGTERM, SIGINT or the power button power the machine off,
SIGUSR1 reboots it. On a running Linux host use 'ainative up' instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if os.Getpid() != 1 {
				return errors.New("init must run as PID 1 (the image's /init); on a host, use 'ainative up'")
			}
			initsys.RunPID1()
			return nil
		},
	}
}
