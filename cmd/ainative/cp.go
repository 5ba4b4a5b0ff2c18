package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { register(newCpCmd) }

func newCpCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "cp SOURCE DESTINATION",
		Annotations: storeVerb,
		Short:       "Give a model in the store another name",
		Long:        `Give a model another name. The files are shared, not copied.`,
		Args:        cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			if err := s.Copy(contextOf(cmd), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "copied %s to %s\n", args[0], args[1])
			return nil
		},
	}
}
