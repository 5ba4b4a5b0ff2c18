package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/shell"
)

func init() { register(newShCmd) }

func newShCmd() *cobra.Command {
	var command string
	var login, guard bool
	cmd := &cobra.Command{
		Use:   "sh [-c COMMAND [NAME [ARG...]] | FILE [ARG...]]",
		Short: "The console shell (POSIX/bash syntax, built-in utilities)",
		Long: `An interactive shell on a terminal, or a script from -c, a file or
standard input. Built on mvdan.cc/sh/v3; built-in utilities (ls, cat, ps,
free, mount, dmesg, uptime, poweroff, ... : run 'utils') cover a system
with no other binaries, and ainative subcommands run by name
(generate ..., hw ...).

Interactively: ^C stops the running command line, not the shell; 'cmd &'
starts a background job (jobs, wait %N, kill %N; no fg/bg/^Z); history is
kept in ~/.ainative_history ($HISTFILE; lines typed with a leading space
are not kept), ^R searches it for the text typed, Tab completes commands,
paths and ainative subcommands; ~/.ainativerc runs at the start.

AI, only when asked (nothing else touches the runtime):
  ? WHAT YOU WANT   propose a command; it is typed into the line for you
                    to run (Enter), edit or discard (^C); high risk asks
                    for 'yes'
  ?? [COMMAND]      explain a command (the last one) part by part
  ?!                propose a fix for the last failed command
  ai on|off|status|context|history N|cwd on|off|stderr on|off
The model is $AINATIVE_MODEL, the runtime $AINATIVE_HOST or the local one;
AINATIVE_AI=off starts with the AI off. Secrets are redacted from all
that is sent ('ai context' shows it). ^C cancels an answer.`,
		// The shell's own flags end at the first argument: the rest is
		// the script's (sh -c 'echo $1' name arg).
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			status, err := runShell(cmd, command, cmd.Flags().Changed("command"), login, guard, args)
			if err != nil {
				return err
			}
			if status != 0 {
				return exitStatus(status)
			}
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVarP(&command, "command", "c", "", "run COMMAND and exit")
	cmd.Flags().BoolVar(&guard, "guard", false, "warn and ask before running a typed command line of high risk (see 'ainative risk')")
	cmd.Flags().BoolVarP(&login, "login", "l", false, "console login shell: print a greeting and start in /")
	return cmd
}

// shellOptions returns the options of a shell on the standard streams
// that runs ainative's subcommands by name.
func shellOptions(cmd *cobra.Command) shell.Options {
	var subs []string
	for _, c := range cmd.Root().Commands() {
		subs = append(subs, c.Name())
	}
	return shell.Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Subcommands: subs}
}

func runShell(cmd *cobra.Command, command string, hasCommand, login, guard bool, args []string) (int, error) {
	opts := shellOptions(cmd)
	opts.Guard = guard
	if login {
		opts.Dir = "/"
	}
	if len(args) > 0 {
		opts.Args = args[1:] // args[0] is $0: -c's NAME, or the script
	}
	sh, err := shell.New(opts)
	if err != nil {
		return 0, err
	}
	// SIGTERM and SIGHUP keep their default action: a console shell ends
	// at once when PID 1 stops it or the terminal hangs up.
	ctx := context.Background()
	switch {
	case hasCommand:
		// $0 is NAME when given, else the shell's own name, as in bash.
		name := filepath.Base(os.Args[0])
		if len(args) > 0 {
			name = args[0]
		}
		return shell.Status(sh.RunString(ctx, command, name)), nil
	case len(args) > 0:
		return shell.Status(sh.RunFile(ctx, args[0])), nil
	}
	if login {
		greet()
	}
	return shell.Status(sh.Interactive(ctx, os.Stdin)), nil
}

// greet prints the console greeting.
func greet() {
	host, _ := os.Hostname()
	fmt.Printf("\nainative on %s. 'utils' lists the built-in utilities, 'help' the shell's builtins.\n\n", host)
}
