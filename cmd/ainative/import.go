package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func init() { register(newImportCmd) }

func newImportCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:         "import FILE.gguf NAME",
		Annotations: storeVerb,
		Short:       "Copy a GGUF model file into the store under a name",
		Long: `Copy a GGUF file into the model store and name it (NAME or NAMESPACE/NAME,
with an optional :TAG, default latest). The file is checked to be a GGUF
first; a file already in the store under another name takes no more space.
For a split GGUF, give its first part (NAME-00001-of-0000N.gguf): every part
is imported, and they must lie beside it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p := newProgressPrinter(cmd.OutOrStdout(), cmd.ErrOrStderr(), asJSON)
			n, err := s.Import(ctx, args[0], args[1], p.report)
			p.finish()
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "imported %s\n", n)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress as JSON lines")
	return cmd
}
