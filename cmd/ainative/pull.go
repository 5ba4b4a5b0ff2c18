package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/store"
)

func init() { register(newPullCmd) }

// noLinkAnnotation marks a subcommand that the image must not link into
// /bin under its own name: the model store's verbs (rm, cp, list, ...)
// would shadow standard utilities or read as them; they are spelled
// `ainative rm`.
const noLinkAnnotation = "ainative.nolink"

var storeVerb = map[string]string{noLinkAnnotation: "model store verb"}

func newPullCmd() *cobra.Command {
	var (
		asJSON, verify bool
		name           string
	)
	cmd := &cobra.Command{
		Use:         "pull MODEL|URL",
		Annotations: storeVerb,
		Short:       "Download a model from the Hugging Face Hub (or a URL) into the store",
		Long: `Download a model into the model store ($AINATIVE_HOME/models).

MODEL is hf.co/OWNER/REPO[:QUANT] (QUANT names the GGUF to take, e.g. Q4_K_M
or Q8_0; without one, Q4_K_M if the repository has it, else the largest
quantization that fits in memory), or a short alias of a well-known model:
` + aliasHelp() + `.
A URL of a .gguf file works too (--name names the model).

The hub is HF_ENDPOINT (default https://huggingface.co), and HF_TOKEN is sent
for private or gated repositories. Split GGUFs are fetched whole. An
interrupted pull (Ctrl-C, a crash, kill -9) resumes where it stopped, and
every file is checked against its sha256 before it is stored.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return storeWithProgress(cmd, asJSON, "pulled", func(ctx context.Context, s *store.Store, report func(store.Progress)) (store.Name, error) {
				return s.Pull(ctx, args[0], store.PullOptions{Progress: report, Name: name, Verify: verify})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print progress as JSON lines, like Ollama's /api/pull")
	cmd.Flags().StringVar(&name, "name", "", "name for a model pulled from a URL (default: from the file name)")
	cmd.Flags().BoolVar(&verify, "verify", false, "hash the model's files already in the store again")
	return cmd
}

// storeWithProgress runs a store operation that Ctrl-C or SIGTERM cancels,
// showing its progress (JSON lines with asJSON), and prints "VERB NAME"
// when it succeeds.
func storeWithProgress(cmd *cobra.Command, asJSON bool, verb string, op func(context.Context, *store.Store, func(store.Progress)) (store.Name, error)) error {
	s, err := openStore()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(contextOf(cmd), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := newProgressPrinter(cmd.OutOrStdout(), cmd.ErrOrStderr(), asJSON)
	n, err := op(ctx, s, p.report)
	p.finish()
	if err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", verb, n)
	}
	return nil
}

func aliasHelp() string {
	var s string
	for _, a := range sortedAliases() {
		if s != "" {
			s += ", "
		}
		s += a
	}
	return s
}

func sortedAliases() []string { return slices.Sorted(maps.Keys(store.Aliases)) }

// openStore opens the model store of this user (or of the system, as
// root), $AINATIVE_HOME/models.
func openStore() (*store.Store, error) {
	dir, err := store.DefaultDir()
	if err != nil {
		return nil, err
	}
	return store.Open(dir)
}

func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// progressPrinter shows a pull's or an import's progress: a bar per file
// on a terminal (bytes, rate, time left), a line per tenth otherwise, or
// the events themselves as JSON lines.
type progressPrinter struct {
	out, errw io.Writer
	asJSON    bool
	tty       bool
	bar       *progressbar.ProgressBar
	barKey    string
	lastTenth int
	lastLine  string
}

func newProgressPrinter(out, errw io.Writer, asJSON bool) *progressPrinter {
	p := &progressPrinter{out: out, errw: errw, asJSON: asJSON}
	if f, ok := errw.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progressPrinter) report(e store.Progress) {
	if p.asJSON {
		json.NewEncoder(p.out).Encode(e)
		return
	}
	if e.Total <= 0 {
		p.closeBar()
		if e.Status != p.lastLine && e.Status != "success" {
			fmt.Fprintln(p.errw, e.Status)
			p.lastLine = e.Status
		}
		return
	}
	key := e.Status + e.Digest
	if p.tty {
		if p.bar == nil || p.barKey != key {
			p.closeBar()
			p.barKey = key
			p.bar = progressbar.NewOptions64(e.Total,
				progressbar.OptionSetWriter(p.errw),
				progressbar.OptionSetDescription(e.Status),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.errw) }))
		}
		p.bar.Set64(e.Completed)
		return
	}
	tenth := int(e.Completed * 10 / e.Total)
	if key != p.barKey {
		p.barKey, p.lastTenth = key, -1
	}
	if tenth != p.lastTenth {
		p.lastTenth = tenth
		fmt.Fprintf(p.errw, "%s: %s of %s (%d%%)\n", e.Status, hw.FormatBytes(e.Completed), hw.FormatBytes(e.Total), tenth*10)
	}
}

func (p *progressPrinter) closeBar() {
	if p.bar != nil {
		if !p.bar.IsFinished() {
			p.bar.Exit()
			fmt.Fprintln(p.errw)
		}
		p.bar = nil
	}
}

func (p *progressPrinter) finish() { p.closeBar() }
