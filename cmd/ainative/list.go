package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/hw"
)

func init() { register(newListCmd) }

func newListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:         "list",
		Annotations: storeVerb,
		Aliases:     []string{"ls"},
		Short:       "List the models in the store",
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			models, err := s.List()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(models)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tSIZE\tMODIFIED")
			for _, m := range models {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, m.ID, hw.FormatBytes(m.Size), m.Modified.Local().Format(time.DateTime))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}
