// Command ainative is the whole ainative userland in one static binary:
// PID 1, the AI runtime, the bus, the shell and their tools, chosen by
// subcommand. Each subcommand group lives in its own file and registers
// itself with register; this file only wires the root command.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/initsys"
)

// commands holds the constructors registered by the subcommand files.
var commands []func() *cobra.Command

// register adds a subcommand constructor; called from init functions.
func register(newCmd func() *cobra.Command) { commands = append(commands, newCmd) }

func newRootCmd() *cobra.Command {
	var verbose bool
	root := &cobra.Command{
		Use:           "ainative",
		Short:         "ainative: an operating system where AI is a system service",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log debug messages")
	for _, newCmd := range commands {
		root.AddCommand(newCmd())
	}
	return root
}

func main() {
	// As PID 1 (the image's /init) this binary is init, whatever its
	// arguments: the kernel passes on the command-line words it does not
	// know (a UEFI shell's "\vmlinuz", a stray "single"), and PID 1
	// refusing them would exit, which panics the kernel.
	if os.Getpid() == 1 {
		initsys.RunPID1()
	}
	root := newRootCmd()
	// Busybox-style: when started through a link named after a subcommand
	// (e.g. /bin/sh -> ainative in the image), run that subcommand.
	if name := filepath.Base(os.Args[0]); name != "ainative" {
		if sub, _, err := root.Find([]string{name}); err == nil && sub != root {
			root.SetArgs(append([]string{name}, os.Args[1:]...))
		}
	}
	if err := root.Execute(); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "ainative:", msg)
		}
		os.Exit(exitCode(err))
	}
}

// exitCoder lets a subcommand choose the process exit status (e.g. `vm -c`
// passes on the guest command's status).
type exitCoder interface{ ExitCode() int }

// exitStatus ends the process with a status and no message of ours, as a
// shell does when its script fails.
type exitStatus int

func (s exitStatus) Error() string { return "" }
func (s exitStatus) ExitCode() int { return int(s) }

func exitCode(err error) int {
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
