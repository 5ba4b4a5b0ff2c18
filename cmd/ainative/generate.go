package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/sample"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/tokenizer"
)

func init() { register(newGenerateCmd) }

func newGenerateCmd() *cobra.Command {
	var (
		mf      modelFlags
		prompt  string
		tokens  string
		n       int
		p       sample.Params
		seed    int64
		stops   []string
		asJSON  bool
		special bool
	)
	cmd := &cobra.Command{
		Use:   "generate --model M.gguf (--prompt TEXT | --tokens IDS)",
		Short: "Generate text with a model",
		Long: `Generate a continuation of a prompt, streaming the text to stdout as it
is produced (or, with --json, printing the ids and the text at the end).
--temp 0 is greedy decoding. Generation stops after -n tokens, at the
model's end-of-generation tokens, at a --stop string, or when the
context is full.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			switch {
			case fl.Changed("prompt") == fl.Changed("tokens"):
				return fmt.Errorf("give exactly one of --prompt and --tokens")
			case fl.Changed("prompt") && prompt == "":
				return fmt.Errorf("--prompt is empty: give the text to continue")
			}
			if err := sample.CheckMaxTokens(n); err != nil {
				return err
			}
			if seed < 0 {
				p.Seed = rand.Uint64()
			} else {
				p.Seed = uint64(seed)
			}
			sampler, err := sample.New(p)
			if err != nil {
				return err
			}
			f, m, err := mf.open()
			if err != nil {
				return err
			}
			defer f.Close()
			defer m.Close()

			// The tokenizer is needed for a text prompt and to show text;
			// with --tokens a model without a vocabulary still runs.
			tok, tokErr := tokenizer.FromGGUF(f)
			var ids []int32
			if prompt != "" {
				if tokErr != nil {
					return fmt.Errorf("%s: %w", mf.path, tokErr)
				}
				ids = tok.Encode(prompt, true, special)
				if len(ids) == 0 {
					return fmt.Errorf("the prompt encodes to no tokens")
				}
			} else if ids, err = parseTokens(tokens); err != nil {
				return fmt.Errorf("--tokens: %w", err)
			}

			out := cmd.OutOrStdout()
			stopper := sample.NewStopper(stops)
			var dec *tokenizer.Decoder
			if tok != nil {
				dec = tok.NewDecoder()
			}
			var text []byte
			show := func(s string) {
				text = append(text, s...)
				if !asJSON {
					fmt.Fprint(out, s)
				}
			}
			history := append([]int32(nil), ids...)
			var generated []int32
			var sampleErr error
			start := time.Now()
			var firstToken time.Duration
			steps := 0 // logits computed: the prompt's, then one per decode step
			stopString := false
			reason, err := m.Generate(cmd.Context(), m.NewSequence(), ids, n,
				func(logits []float32) int32 {
					if steps == 0 {
						firstToken = time.Since(start)
					}
					steps++
					t, err := sampler.Sample(logits, history)
					if err != nil {
						sampleErr = err
					}
					return t
				},
				func(t int32) bool {
					if sampleErr != nil {
						return true // the token is not one: stop before showing it
					}
					history = append(history, t)
					if tok != nil && tok.IsEOG(t) {
						return true
					}
					generated = append(generated, t)
					if dec == nil {
						return false
					}
					s, stop := stopper.Add(dec.Add(t))
					show(s)
					stopString = stop
					return stop
				})
			if err != nil {
				return err
			}
			if sampleErr != nil {
				return fmt.Errorf("%s: after %d generated tokens: %w (broken weights or metadata?)", mf.path, len(generated), sampleErr)
			}
			if dec != nil && !stopString {
				s, _ := stopper.Add(dec.Flush())
				show(s + stopper.Flush())
			}
			elapsed := time.Since(start)
			if steps == 0 { // -n 0: the prompt was all there was
				firstToken = elapsed
			}
			decode := elapsed - firstToken
			stats := fmt.Sprintf("prompt %d tokens in %.2fs (%s), generated %d tokens in %.2fs (%s), stop: %s",
				len(ids), firstToken.Seconds(), tokRate(len(ids), firstToken),
				len(generated), decode.Seconds(), tokRate(steps-1, decode), reason)
			if asJSON {
				return json.NewEncoder(out).Encode(struct {
					PromptTokens []int32 `json:"prompt_tokens"`
					Tokens       []int32 `json:"tokens"`
					Text         string  `json:"text"`
					StopReason   string  `json:"stop_reason"`
					PromptSecs   float64 `json:"prompt_seconds"`
					DecodeSecs   float64 `json:"decode_seconds"`
				}{ids, nonNil(generated), string(text), reason.String(), firstToken.Seconds(), decode.Seconds()})
			}
			fmt.Fprintln(out)
			fmt.Fprintln(cmd.ErrOrStderr(), stats)
			return nil
		},
	}
	fl := cmd.Flags()
	mf.register(fl, "f16")
	fl.StringVarP(&prompt, "prompt", "p", "", "prompt text")
	fl.StringVar(&tokens, "tokens", "", "prompt as token ids, comma-separated")
	fl.BoolVar(&special, "special", true, "parse special tokens (<|im_start|>, ...) in the prompt")
	fl.IntVarP(&n, "n", "n", 128, "maximum tokens to generate (-1: until the end or a full context)")
	fl.Float32Var(&p.Temperature, "temp", 0.8, "temperature; 0 is greedy")
	fl.Int64Var(&seed, "seed", -1, "random seed (-1: random)")
	fl.IntVar(&p.TopK, "top-k", 40, "keep the K most likely tokens (0: off)")
	fl.Float32Var(&p.TopP, "top-p", 0.95, "keep the most likely tokens up to this probability (1: off)")
	fl.Float32Var(&p.MinP, "min-p", 0.05, "drop tokens less likely than this times the best (0: off)")
	fl.Float32Var(&p.RepeatPenalty, "repeat-penalty", 1, "penalty for repeating recent tokens, > 0 (1: off)")
	fl.Float32Var(&p.FrequencyPenalty, "frequency-penalty", 0, "subtracted per occurrence in the recent tokens")
	fl.Float32Var(&p.PresencePenalty, "presence-penalty", 0, "subtracted once for tokens in the recent tokens")
	fl.IntVar(&p.PenaltyLastN, "repeat-last-n", 64, "how many recent tokens the penalties look at (-1: all, 0: 64)")
	fl.StringArrayVar(&stops, "stop", nil, "stop at this string (repeatable)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object with the ids and the text at the end")
	return cmd
}

// tokRate formats a speed, or says there is none: no tokens, or a time
// too short to measure, would print NaN or Inf.
func tokRate(n int, d time.Duration) string {
	if n <= 0 || d <= 0 {
		return "- tok/s"
	}
	return fmt.Sprintf("%.1f tok/s", float64(n)/d.Seconds())
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// modelFlags are the flags shared by the commands that run a model.
type modelFlags struct {
	path    string
	threads int
	ctx     int
	kvType  string
	rope    model.RopeScaling
	repack  bool
}

func (mf *modelFlags) register(f *pflag.FlagSet, defaultKV string) {
	f.StringVar(&mf.path, "model", "", "GGUF model file (required)")
	mf.registerRun(f, defaultKV)
}

// registerRun registers the flags other than --model.
func (mf *modelFlags) registerRun(f *pflag.FlagSet, defaultKV string) {
	f.IntVarP(&mf.threads, "threads", "t", 0, "threads (default: physical cores)")
	f.IntVar(&mf.ctx, "ctx", 4096, "context length cap (0: the model's)")
	f.StringVar(&mf.kvType, "kv-type", defaultKV, "KV cache type: f16 or f32")
	// llama.cpp's names, for models whose file lacks the scaling their
	// makers document (Qwen2.5: --rope-scaling yarn --rope-scale 4).
	f.StringVar(&mf.rope.Type, "rope-scaling", "", "RoPE scaling: none, linear or yarn (default: the file's)")
	f.Float32Var(&mf.rope.Factor, "rope-scale", 0, "RoPE context extension factor (default: the file's)")
	f.IntVar(&mf.rope.OrigContext, "yarn-orig-ctx", 0, "context the model was trained with, for YaRN (default: the file's)")
	f.BoolVar(&mf.repack, "repack", false, "keep an interleaved copy of Q8_0/Q4_0/Q5_0/IQ4_NL weights: faster prompts and parallel decode, more memory")
}

// open maps the model file and loads the model; the caller closes both.
func (mf *modelFlags) open() (*gguf.File, *model.Model, error) {
	if mf.path == "" {
		return nil, nil, fmt.Errorf("--model is required")
	}
	if err := sample.CheckThreads(mf.threads); err != nil {
		return nil, nil, err
	}
	if err := sample.CheckContext(mf.ctx); err != nil {
		return nil, nil, err
	}
	// A forward pass's heap is a few large pointer-free buffers, so
	// garbage collection is cheap, and the default target (twice the
	// live heap) would only let the process's resident memory grow.
	debug.SetGCPercent(20)
	var kv tensor.Type
	switch strings.ToLower(mf.kvType) {
	case "f16":
		kv = tensor.F16
	case "f32":
		kv = tensor.F32
	default:
		return nil, nil, fmt.Errorf("--kv-type %q: want f16 or f32", mf.kvType)
	}
	threads := mf.threads
	if threads <= 0 {
		threads = hw.DefaultThreads()
	}
	f, err := gguf.Open(mf.path)
	if err != nil {
		return nil, nil, err
	}
	opts := model.Options{Threads: threads, ContextLength: mf.ctx, KVType: kv, Repack: mf.repack}
	if mf.rope != (model.RopeScaling{}) {
		opts.RopeScaling = &mf.rope
	}
	m, err := model.Load(f, opts)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", mf.path, err)
	}
	slog.Debug("model loaded", "file", mf.path, "arch", m.Config().Arch, "threads", threads,
		"kv", kv, "context", m.ContextLength(), "kernels", tensor.Kernels())
	return f, m, nil
}

// parseTokens parses a comma- or space-separated list of token ids.
func parseTokens(s string) ([]int32, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(fields) == 0 {
		return nil, fmt.Errorf("no token ids in %q", s)
	}
	ids := make([]int32, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 32)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("token %d: %q is not a token id", i, f)
		}
		ids[i] = int32(v)
	}
	return ids, nil
}
