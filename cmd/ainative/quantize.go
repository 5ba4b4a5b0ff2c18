package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/quantize"
	"github.com/raym33/ainative/internal/model/synth"
)

func init() { register(newQuantizeCmd) }

func newQuantizeCmd() *cobra.Command {
	var threads int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "quantize IN.gguf OUT.gguf TYPE",
		Short: "Quantize a model of float weights (F32, F16, BF16) to a llama.cpp file type",
		Long: `Quantize a GGUF model of float weights (F32, F16 or BF16) as llama.cpp's
llama-quantize does without an importance matrix: the same tensors are
quantized, each to the type llama.cpp's rules give it (a Q4_K_M file
keeps the output and some attn_v and ffn_down tensors in Q6_K), with
ggml's reference quantizers. Norms, biases and mixture-of-experts routers
are copied as they are. The output is written atomically: an interrupted
run leaves no partial file.

Types: ` + synth.FileTypeNames() + `
The IQ1 and IQ2 types and IQ3_XS need an importance matrix and are refused.
IQ3_XXS is made without one, but its attn_q and attn_k stay IQ3_XXS where
llama.cpp (which wants an importance matrix for IQ3_XXS) makes IQ2_S.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, out, typ := args[0], args[1], strings.ToUpper(args[2])
			if strings.HasPrefix(typ, "IQ1") || strings.HasPrefix(typ, "IQ2") || typ == "IQ3_XS" || typ == "Q2_K_S" {
				return fmt.Errorf("quantize: type %s is not supported: making it needs an importance matrix (supported: %s)", typ, synth.FileTypeNames())
			}
			if _, err := synth.LookupFileType(typ); err != nil {
				return fmt.Errorf("quantize: unknown type %q (supported: %s)", args[2], synth.FileTypeNames())
			}
			f, err := gguf.Open(in)
			if err != nil {
				return err
			}
			defer f.Close()
			if threads <= 0 {
				threads = runtime.NumCPU()
			}
			o := quantize.Options{Type: typ, Threads: threads}
			errw := cmd.ErrOrStderr()
			var bar *progressbar.ProgressBar
			if ef, ok := errw.(*os.File); ok && term.IsTerminal(int(ef.Fd())) {
				o.Progress = func(done, total int64) {
					if bar == nil {
						bar = progressbar.NewOptions64(total,
							progressbar.OptionSetWriter(errw),
							progressbar.OptionSetDescription("quantizing to "+typ),
							progressbar.OptionShowBytes(true),
							progressbar.OptionSetPredictTime(true),
							progressbar.OptionSetWidth(30),
							progressbar.OptionThrottle(100*time.Millisecond),
							progressbar.OptionOnCompletion(func() { fmt.Fprintln(errw) }))
					}
					_ = bar.Set64(done) // drawing to the terminal only
				}
			}
			// An interrupted run stops writing and removes the temporary file.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			st, err := quantize.File(ctx, f, out, o)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(struct {
					In        string  `json:"in"`
					Out       string  `json:"out"`
					Type      string  `json:"type"`
					Tensors   int     `json:"tensors"`
					Quantized int     `json:"quantized"`
					InBytes   int64   `json:"in_bytes"`
					OutBytes  int64   `json:"out_bytes"`
					Seconds   float64 `json:"seconds"`
				}{in, out, typ, st.Tensors, st.Quantized, st.InBytes, st.OutBytes, time.Since(start).Seconds()})
			}
			fmt.Fprintf(w, "wrote %s (%s): %d tensors, %d quantized, %.1f MB of weights -> %.1f MB, in %.1fs\n",
				out, typ, st.Tensors, st.Quantized, float64(st.InBytes)/1e6, float64(st.OutBytes)/1e6, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().IntVarP(&threads, "threads", "t", 0, "threads (default: all CPUs)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	return cmd
}
