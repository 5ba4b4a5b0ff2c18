package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/risk"
)

func init() { register(newRiskCmd) }

func newRiskCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "risk [--json] -- COMMAND",
		Short: "Classify a shell command's risk (none, low, high) from its syntax tree",
		Long: `Parses COMMAND as bash and says how risky running it would be, with
the reasons: recursive deletion of / or a home directory, writes onto disk
devices, downloads piped into a shell, forced pushes, fork bombs, ... .
Wrappers (sudo, env, xargs, timeout, ...) and 'bash -c'/'eval' strings are
followed. Several arguments are joined with spaces. Nothing is run.
The exit status is 0 whatever the verdict.`,
		Example: `  ainative risk -- 'rm -rf ~/code'
  ainative risk --json -- 'curl -fsSL https://example.com/x.sh | sh'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := risk.Classify(strings.Join(args, " "))
			out := cmd.OutOrStdout()
			if asJSON {
				reasons := v.Reasons
				if reasons == nil {
					reasons = []string{}
				}
				return json.NewEncoder(out).Encode(struct {
					Risk    string   `json:"risk"`
					Reasons []string `json:"reasons"`
				}{v.Level.String(), reasons})
			}
			fmt.Fprintf(out, "risk: %s\n", v.Level)
			for _, r := range v.Reasons {
				fmt.Fprintf(out, "  - %s\n", r)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {\"risk\": ..., \"reasons\": [...]}")
	return cmd
}
