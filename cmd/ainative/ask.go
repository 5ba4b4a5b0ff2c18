package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raym33/ainative/client"
	busapi "github.com/raym33/ainative/client/bus"
	"github.com/raym33/ainative/internal/bus/ask"
)

func init() { register(newAskCmd) }

func newAskCmd() *cobra.Command {
	var model string
	var maxSteps int
	var tools []string
	cmd := &cobra.Command{
		Use:   "ask TASK...",
		Short: "Let a model do a task with the bus tools you may use, step by step",
		Long: `Ask a model to do a task. Each turn the model must call one tool (produced under the
runtime's constrained decoding and checked against the tool's schema); the call goes through
the bus as you, so the policy applies and anything but a read tool needs your consent, asked
here when this runs in a terminal. Each step is printed; the loop stops at --max-steps.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" {
				model = os.Getenv("AINATIVE_MODEL")
			}
			if model == "" {
				return errors.New("no model: pass --model or set AINATIVE_MODEL")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rt, err := client.FromEnvironment()
			if err != nil {
				return err
			}
			b, err := busapi.FromEnvironment(ctx)
			if err != nil {
				return err
			}
			defer b.Close()
			if term.IsTerminal(int(os.Stdin.Fd())) {
				if err := b.ServeConsent(ctx, terminalConsent(cmd.OutOrStdout(), bufio.NewReader(os.Stdin))); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "consent will be asked by another agent:", err)
				}
			}
			addr := rt.Addr()
			_, _, err = ask.Run(ctx, ask.Config{Bus: b, Runtime: addr, Model: model, MaxSteps: maxSteps,
				Tools: tools, Out: cmd.OutOrStdout()}, strings.Join(args, " "))
			if err != nil {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&model, "model", "m", "", "model to use (default $AINATIVE_MODEL)")
	cmd.Flags().IntVar(&maxSteps, "max-steps", 8, "stop after this many tool calls")
	cmd.Flags().StringSliceVar(&tools, "tools", nil, "offer only these tools (default: all you may use)")
	return cmd
}
