package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/store"
)

func init() { register(newShowCmd) }

func newShowCmd() *cobra.Command {
	var asJSON, template, license bool
	cmd := &cobra.Command{
		Use:         "show MODEL",
		Annotations: storeVerb,
		Short:       "Show a model's metadata, chat template, parameters and license",
		Args:        cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			info, err := s.Show(contextOf(cmd), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch {
			case asJSON:
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			case template:
				fmt.Fprintln(w, info.ChatTemplate)
			case license:
				fmt.Fprintln(w, info.License)
			default:
				printInfo(w, info)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&template, "template", false, "print only the chat template")
	cmd.Flags().BoolVar(&license, "license", false, "print only the license")
	return cmd
}

func printInfo(w io.Writer, info *store.Info) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	row := func(k string, v any) {
		if s := fmt.Sprint(v); s != "" && s != "0" {
			fmt.Fprintf(tw, "  %s\t%s\n", k, s)
		}
	}
	fmt.Fprintln(tw, "Model")
	row("name", info.Name)
	row("id", info.ID)
	row("architecture", info.Architecture)
	row("model name", info.ModelName)
	params := ""
	if info.Parameters > 0 {
		params = formatCount(info.Parameters)
	}
	if info.SizeLabel != "" {
		params = strings.TrimSpace(params + " (" + info.SizeLabel + ")")
	}
	row("parameters", params)
	row("quantization", info.FileType)
	row("context length", info.ContextLength)
	row("embedding length", info.EmbeddingLength)
	row("layers", info.BlockCount)
	row("size", hw.FormatBytes(info.Size))
	row("files", len(info.Files))
	row("source", info.Source)
	if len(info.Sampling) > 0 {
		fmt.Fprintln(tw, "\nParameters")
		keys := make([]string, 0, len(info.Sampling))
		for k := range info.Sampling {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row(k, info.Sampling[k])
		}
	}
	if info.License != "" {
		fmt.Fprintln(tw, "\nLicense")
		row("license", info.License)
	}
	tw.Flush()
	if info.ChatTemplate != "" {
		fmt.Fprintf(w, "\nChat template (%d bytes; --template prints it whole)\n", len(info.ChatTemplate))
		lines := strings.Split(info.ChatTemplate, "\n")
		for i, l := range lines {
			if i == 8 {
				fmt.Fprintf(w, "  ... %d more lines\n", len(lines)-i)
				break
			}
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

// formatCount writes a parameter count the way model names do: 494M, 1.2B.
func formatCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
