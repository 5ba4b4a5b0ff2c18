package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/hw"
)

func init() { register(newRmCmd) }

func newRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "rm MODEL...",
		Annotations: storeVerb,
		Short:       "Remove models from the store",
		Long: `Remove model names from the store, and the files no remaining name uses.
(Files a pull or import running at the same time might need are kept, and
freed by a later rm.)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			for _, name := range args {
				freed, err := s.Remove(contextOf(cmd), name)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s (%s freed)\n", name, hw.FormatBytes(freed))
			}
			return nil
		},
	}
}
