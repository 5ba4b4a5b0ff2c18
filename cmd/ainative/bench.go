package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/sample"
	"github.com/raym33/ainative/internal/tensor"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	var (
		mf       modelFlags
		models   []string
		o        model.BenchOptions
		asJSON   bool
		noBW     bool
		parallel []int
		serveN   []int
		queue    int
	)
	cmd := &cobra.Command{
		Use:   "bench --model M.gguf [--model M2.gguf ...]",
		Short: "Measure prompt processing and decode speed against memory bandwidth",
		Long: `Measure, like llama-bench, prompt processing (-p tokens in one batch) and
decoding (-n single-token steps from an empty context), reporting the
median tokens/s of -r repetitions. Decoding reads every weight once per
token (in a mixture of experts, the routers and the experts a token
chooses: its active weights, which "weights per token" counts), so its
limit is memory bandwidth: bench also measures this
machine's read bandwidth with the same threads and prints the fraction
of it that decoding achieves, and the resident memory beyond the mapped
weights and the KV cache. Several --model flags are measured in one run
against one bandwidth measurement; with --json each gives one line.

With --parallel N,M,... it measures serving N sequences at once from one
KV cache instead (as llama-batched-bench): each sequence gets a -p token
prompt, then -n decode steps each add a token to every sequence in one
batch. It prints aggregate tokens/s (all sequences) per count; with
--json one object per count and model.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(models) == 0 {
				return fmt.Errorf("--model is required")
			}
			if err := errors.Join(sample.CheckAtLeast("p", "p", o.PromptTokens, 0),
				sample.CheckAtLeast("n", "n", o.DecodeTokens, 0), sample.CheckAtLeast("r", "repetitions", o.Reps, 1)); err != nil {
				return err
			}
			if len(serveN) > 0 {
				if len(models) != 1 {
					return fmt.Errorf("--serve takes one --model")
				}
				return benchServe(cmd, &mf, models[0], o.PromptTokens, o.DecodeTokens, serveN, queue, asJSON)
			}
			if len(parallel) > 0 {
				if !cmd.Flags().Changed("ctx") {
					mf.ctx = max(o.PromptTokens+o.DecodeTokens, 1)
				}
				return benchParallel(cmd, &mf, models, o, parallel, asJSON)
			}
			if !cmd.Flags().Changed("ctx") {
				// As llama-bench: a context just large enough, so that the
				// KV cache is all in use and the memory figures mean it.
				mf.ctx = max(o.PromptTokens, o.DecodeTokens, 1)
			}
			var reports []*benchReport
			for _, path := range models {
				mf.path = path
				r, err := benchOne(cmd, &mf, o)
				if err != nil {
					return err
				}
				reports = append(reports, r)
				debug.FreeOSMemory() // so that the next model's figures start clean

			}
			var bw hw.Bandwidth
			if !noBW {
				// After the models' memory figures: the measurement's
				// buffers would count in them.
				var err error
				if bw, err = hw.MeasureReadBandwidth(cmd.Context(), reports[0].Threads, hw.DefaultBandwidthBytes); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			for _, r := range reports {
				r.ReadBandwidthGBs = bw.GBs
				if bw.GBs > 0 {
					r.DecodeFraction = r.AchievedGBs / bw.GBs
				}
				if asJSON {
					if err := json.NewEncoder(w).Encode(r); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(w, "model %s (%s), %d threads, KV %s, %s kernels\n", r.Model, r.Arch, r.Threads, r.KVType, r.Kernels)
				fmt.Fprintf(w, "  pp%d: %8.2f tok/s  (runs %s)\n", r.PromptTokens, r.PromptTokS, fmtRuns(r.PromptAll))
				fmt.Fprintf(w, "  tg%d: %8.2f tok/s  (runs %s)\n", r.DecodeTokens, r.DecodeTokS, fmtRuns(r.DecodeAll))
				fmt.Fprintf(w, "  weights per token %.1f MB, achieved %.2f GB/s", float64(r.WeightsBytes)/1e6, r.AchievedGBs)
				if bw.GBs > 0 {
					fmt.Fprintf(w, " = %.0f%% of the read bandwidth", 100*r.DecodeFraction)
				}
				fmt.Fprintf(w, "\n  memory: peak RSS %.1f MiB, mapped file %.1f MiB, anonymous %.1f MiB = KV cache %.1f MiB + ",
					mib(r.PeakRSS), mib(r.RSSFile), mib(r.RSSAnon), mib(r.KVBytes))
				if r.RepackedBytes > 0 {
					fmt.Fprintf(w, "repacked weights %.1f MiB + ", mib(r.RepackedBytes))
				}
				fmt.Fprintf(w, "%.1f MiB other\n", mib(r.ExtraRSS))
			}
			if bw.GBs > 0 && !asJSON {
				fmt.Fprintf(w, "read bandwidth, %d threads: %.2f GB/s (median of %d passes, best %.2f, %s kernel)\n",
					bw.Threads, bw.GBs, bw.Passes, bw.BestGBs, bw.Kernel)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&models, "model", nil, "GGUF model file (repeatable)")
	mf.registerRun(fl, "f16")
	fl.Lookup("ctx").Usage = "context length (default: the larger of -p and -n)"
	fl.IntVarP(&o.PromptTokens, "p", "p", 512, "prompt tokens (0: skip)")
	fl.IntVarP(&o.DecodeTokens, "n", "n", 128, "decode steps (0: skip)")
	fl.IntVarP(&o.Reps, "r", "r", 3, "repetitions (median)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object per model")
	fl.BoolVar(&noBW, "no-bandwidth", false, "skip the memory bandwidth measurement")
	fl.IntSliceVar(&parallel, "parallel", nil, "measure serving this many sequences at once (comma-separated counts)")
	fl.IntSliceVar(&serveN, "serve", nil, "drive the runtime daemon (HTTP on loopback) with this many concurrent streaming clients (comma-separated counts)")
	fl.IntVar(&queue, "queue", 64, "with --serve: the daemon's queue length (requests beyond slots and queue get 503)")
	return cmd
}

// benchOne measures one model. The memory figures are read right after
// its runs, while its mapping and KV cache are resident.
func benchOne(cmd *cobra.Command, mf *modelFlags, o model.BenchOptions) (*benchReport, error) {
	f, m, err := mf.open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	defer m.Close()
	if need := max(o.PromptTokens, o.DecodeTokens); need > m.ContextLength() {
		return nil, fmt.Errorf("-p/-n %d exceeds the context length %d (raise --ctx)", need, m.ContextLength())
	}
	res, err := m.Bench(cmd.Context(), o)
	if err != nil {
		return nil, err
	}
	mem := readSelfStatus()
	r := &benchReport{
		Model: mf.path, Arch: m.Config().Arch, Threads: m.Threads(), KVType: m.KVType().String(), Kernels: tensor.Kernels(),
		PromptTokens: o.PromptTokens, DecodeTokens: o.DecodeTokens, Reps: o.Reps,
		BenchResult: res, WeightsBytes: m.WeightBytes(),
		KVBytes: m.KVBytesPerToken() * int64(m.ContextLength()), RepackedBytes: m.RepackedBytes(),
		PeakRSS: mem["VmHWM"], RSSFile: mem["RssFile"], RSSAnon: mem["RssAnon"],
	}
	r.AchievedGBs = float64(r.WeightsBytes) * res.DecodeTokS / 1e9
	// Anonymous memory beyond the KV cache and the repacked weights:
	// scratch, Go heap, runtime.
	r.ExtraRSS = r.RSSAnon - r.KVBytes - r.RepackedBytes
	return r, nil
}

// benchParallel runs BenchParallel for every model and count.
func benchParallel(cmd *cobra.Command, mf *modelFlags, models []string, o model.BenchOptions, counts []int, asJSON bool) error {
	for _, p := range counts {
		if p < 1 {
			return fmt.Errorf("--parallel %d: counts must be at least 1", p)
		}
	}
	w := cmd.OutOrStdout()
	for _, path := range models {
		mf.path = path
		if err := func() error {
			f, m, err := mf.open()
			if err != nil {
				return err
			}
			defer f.Close()
			defer m.Close()
			if need := o.PromptTokens + o.DecodeTokens; need > m.ContextLength() {
				return fmt.Errorf("-p + -n = %d exceeds the context length %d (raise --ctx)", need, m.ContextLength())
			}
			if !asJSON {
				fmt.Fprintf(w, "model %s (%s), %d threads, KV %s, %s kernels, pp%d tg%d per sequence\n",
					path, m.Config().Arch, m.Threads(), m.KVType(), tensor.Kernels(), o.PromptTokens, o.DecodeTokens)
			}
			var base float64
			for _, p := range counts {
				r, err := m.BenchParallel(cmd.Context(), o, p)
				if err != nil {
					return err
				}
				if asJSON {
					line := struct {
						Model   string `json:"model"`
						Arch    string `json:"arch"`
						Threads int    `json:"threads"`
						KVType  string `json:"kv_type"`
						Prompt  int    `json:"p"`
						Decode  int    `json:"n"`
						model.ParallelResult
					}{path, m.Config().Arch, m.Threads(), m.KVType().String(), o.PromptTokens, o.DecodeTokens, r}
					if err := json.NewEncoder(w).Encode(line); err != nil {
						return err
					}
					continue
				}
				if base == 0 {
					base = r.DecodeTokS
				}
				fmt.Fprintf(w, "  parallel %3d: pp %8.2f tok/s  tg %8.2f tok/s (%.2fx the first count, %.1f ms a step)\n",
					p, r.PromptTokS, r.DecodeTokS, r.DecodeTokS/base, r.DecodeStepMs)
			}
			return nil
		}(); err != nil {
			return err
		}
	}
	return nil
}

type benchReport struct {
	Model        string `json:"model"`
	Arch         string `json:"arch"`
	Threads      int    `json:"threads"`
	KVType       string `json:"kv_type"`
	Kernels      string `json:"kernels"`
	PromptTokens int    `json:"p"`
	DecodeTokens int    `json:"n"`
	Reps         int    `json:"reps"`
	model.BenchResult
	WeightsBytes     int64   `json:"weights_bytes"`
	AchievedGBs      float64 `json:"achieved_gbs"`
	ReadBandwidthGBs float64 `json:"read_bandwidth_gbs"`
	DecodeFraction   float64 `json:"decode_fraction_of_bandwidth"`
	KVBytes          int64   `json:"kv_bytes"`
	RepackedBytes    int64   `json:"repacked_bytes"`
	PeakRSS          int64   `json:"peak_rss_bytes"`
	RSSFile          int64   `json:"rss_file_bytes"`
	RSSAnon          int64   `json:"rss_anon_bytes"`
	ExtraRSS         int64   `json:"rss_beyond_weights_kv_bytes"`
}

func fmtRuns(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(s, " ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// readSelfStatus returns the kB fields of /proc/self/status in bytes
// (empty where there is no /proc).
func readSelfStatus() map[string]int64 {
	m := map[string]int64{}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			m[k] = n << 10
		}
	}
	return m
}
