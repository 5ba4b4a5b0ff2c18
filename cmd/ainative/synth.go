package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/synth"
)

func init() { registerGGUF(newSynthCmd) }

func newSynthCmd() *cobra.Command {
	var o synth.Options
	var out, vocabFrom string
	cmd := &cobra.Command{
		Use:   "synth --shape SHAPE --type TYPE --out F.gguf",
		Short: "Write a model with deterministic pseudo-random weights",
		Long: `Write a GGUF model of a real architecture and size with deterministic
pseudo-random weights, for tests and benchmarks without a download.

Shapes: ` + synth.ShapeNames() + `
Types:  ` + synth.FileTypeNames() + `
Architectures (default: the shape's own): ` + strings.Join(synth.Archs, ", ") + `

Quantized types mix tensor types as llama.cpp's quantizer does. With
--vocab-from the tokenizer and chat template of another GGUF are copied
(and set the vocabulary size); otherwise a small synthetic byte-level BPE
vocabulary is written. The file is written atomically.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" || o.Shape == "" || o.Type == "" {
				return fmt.Errorf("--shape, --type and --out are required")
			}
			if vocabFrom != "" {
				f, err := gguf.Open(vocabFrom)
				if err != nil {
					return err
				}
				defer f.Close()
				o.VocabFrom = f
			}
			bar := newProgressBar(cmd.ErrOrStderr(), "writing "+out)
			o.Progress = bar.update
			m, err := synth.New(o)
			if err != nil {
				return err
			}
			// An interrupted write of a real-sized model would otherwise
			// leave gigabytes of temporary file beside out.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = m.WriteFile(ctx, out)
			bar.finish()
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Arch, "arch", "", "architecture (default: the shape's)")
	f.StringVar(&o.Shape, "shape", "", "model shape")
	f.StringVar(&o.Type, "type", "", "file type, e.g. Q8_0, Q4_K_M, F16")
	f.StringVar(&out, "out", "", "output file")
	f.StringVar(&vocabFrom, "vocab-from", "", "copy the tokenizer of this GGUF")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed of the weights")
	return cmd
}

// progressBar draws a one-line progress bar on a terminal, at most ten
// times a second, for jobs of at least 64 MiB; elsewhere it stays silent.
type progressBar struct {
	w     io.Writer
	label string
	tty   bool
	mu    sync.Mutex
	drawn bool
	last  time.Time
	start time.Time
}

func newProgressBar(w io.Writer, label string) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressBar{w: w, label: label, tty: tty, start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	if !p.tty || total < 64<<20 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || done == total {
		p.last, p.drawn = now, true
		const width = 30
		n := int(done * width / total)
		fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %d/%d MB", p.label, strings.Repeat("=", n), strings.Repeat(" ", width-n),
			done*100/total, done>>20, total>>20)
	}
}

func (p *progressBar) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintf(p.w, " in %.1fs\n", time.Since(p.start).Seconds())
	}
}
