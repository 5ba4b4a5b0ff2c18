package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	busapi "github.com/raym33/ainative/client/bus"
)

func newBusStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the external MCP servers the bus attaches: state, tools, restarts, last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := busapi.FromEnvironment(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			sts, err := c.MCPStatus(ctx)
			if err != nil {
				return err
			}
			return printMCPStatus(cmd.OutOrStdout(), sts, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printMCPStatus(w io.Writer, sts []busapi.MCPServerStatus, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(busapi.MCPStatusResult{Servers: sts})
	}
	if len(sts) == 0 {
		_, err := fmt.Fprintln(w, "no external MCP servers configured ([[mcp_server]] in bus.toml)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tTRANSPORT\tSTATE\tSINCE\tTOOLS\tRESTARTS\tERROR")
	for _, s := range sts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Name, s.Transport, s.State, s.Since.Local().Format(time.DateTime),
			s.Tools, s.Restarts, s.Error)
	}
	return tw.Flush()
}
