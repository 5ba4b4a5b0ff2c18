package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/store"
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
			return storeWithProgress(cmd, asJSON, "imported", func(ctx context.Context, s *store.Store, report func(store.Progress)) (store.Name, error) {
				return s.Import(ctx, args[0], args[1], report)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress as JSON lines")
	return cmd
}
