package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/gguf"
)

func init() { register(newGGUFCmd) }

// ggufSubcommands are the `ainative gguf <sub>` tools registered by other
// files (e.g. synth).
var ggufSubcommands []func() *cobra.Command

func registerGGUF(newCmd func() *cobra.Command) { ggufSubcommands = append(ggufSubcommands, newCmd) }

func newGGUFCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gguf FILE.gguf",
		Short: "Print a GGUF file's metadata and tensor table",
		Long: `Print a GGUF file's metadata (arrays summarised) and its tensors
(name, type, shape, offset in the file, size in bytes).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := gguf.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			if asJSON {
				return printGGUFJSON(cmd.OutOrStdout(), f)
			}
			printGGUF(cmd.OutOrStdout(), f)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	for _, newSub := range ggufSubcommands {
		cmd.AddCommand(newSub())
	}
	return cmd
}

func printGGUF(w io.Writer, f *gguf.File) {
	fmt.Fprintf(w, "%s: GGUF v%d, %d bytes, %d metadata keys, %d tensors, alignment %d, data at %d\n\n",
		f.Path, f.Version, f.Size(), len(f.Metadata), len(f.Tensors), f.Alignment, f.DataOffset)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tVALUE")
	for _, kv := range f.Metadata {
		typ := kv.Value.Type.String()
		if a, ok := kv.Value.Array(); ok {
			typ = "[]" + a.Type.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", printable(kv.Key), typ, truncate(kv.Value.String(), 120))
	}
	tw.Flush()
	if len(f.Tensors) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tTYPE\tSHAPE\tOFFSET\tBYTES")
	var total int64
	for _, t := range f.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\n", printable(t.Name), t.Type, t.Dims, f.DataOffset+int64(t.Offset), t.Size)
		total += t.Size
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d tensors, %d bytes of tensor data\n", len(f.Tensors), total)
}

// printable returns a key or tensor name as it is, or quoted when it holds
// characters that are not printable: the names come from the file, and a
// tab would break the table, an escape sequence the terminal.
func printable(s string) string {
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "..."
}

func printGGUFJSON(w io.Writer, f *gguf.File) error {
	type kv struct {
		Key    string `json:"key"`
		Type   string `json:"type"`
		Value  any    `json:"value,omitempty"`
		Length *int   `json:"length,omitempty"` // arrays are summarised
	}
	type tensorJSON struct {
		Name   string   `json:"name"`
		Type   string   `json:"type"`
		Shape  []uint64 `json:"shape"`
		Offset int64    `json:"offset"`
		Bytes  int64    `json:"bytes"`
	}
	out := struct {
		Path       string       `json:"path"`
		Version    uint32       `json:"version"`
		Size       int64        `json:"size"`
		Alignment  int          `json:"alignment"`
		DataOffset int64        `json:"data_offset"`
		Metadata   []kv         `json:"metadata"`
		Tensors    []tensorJSON `json:"tensors"`
	}{Path: f.Path, Version: f.Version, Size: f.Size(), Alignment: f.Alignment, DataOffset: f.DataOffset,
		Metadata: []kv{}, Tensors: []tensorJSON{}}
	for _, m := range f.Metadata {
		e := kv{Key: m.Key, Type: m.Value.Type.String(), Value: jsonSafe(m.Value.Any())}
		if a, ok := m.Value.Array(); ok {
			n := a.Len()
			e.Type, e.Length, e.Value = "[]"+a.Type.String(), &n, a.String()
		}
		out.Metadata = append(out.Metadata, e)
	}
	for _, t := range f.Tensors {
		out.Tensors = append(out.Tensors, tensorJSON{t.Name, t.Type.String(), t.Dims, f.DataOffset + int64(t.Offset), t.Size})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// jsonSafe replaces the floats JSON cannot carry (NaN, ±Inf) by their text.
func jsonSafe(x any) any {
	var f float64
	switch v := x.(type) {
	case float32:
		f = float64(v)
	case float64:
		f = v
	default:
		return x
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprint(f)
	}
	return x
}
