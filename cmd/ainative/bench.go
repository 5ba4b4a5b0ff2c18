package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/model"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	var (
		mf     modelFlags
		o      model.BenchOptions
		asJSON bool
		noBW   bool
	)
	cmd := &cobra.Command{
		Use:   "bench --model M.gguf",
		Short: "Measure prompt processing and decode speed against memory bandwidth",
		Long: `Measure, like llama-bench, prompt processing (-p tokens in one batch) and
decoding (-n single-token steps from an empty context), reporting the
median tokens/s of -r repetitions. Decoding reads every weight once per
token, so its limit is memory bandwidth: bench also measures this
machine's read bandwidth with the same threads and prints the fraction
of it that decoding achieves, and the resident memory beyond the mapped
weights and the KV cache.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("ctx") {
				// As llama-bench: a context just large enough, so that the
				// KV cache is all in use and the memory figures mean it.
				mf.ctx = max(o.PromptTokens, o.DecodeTokens, 1)
			}
			f, m, err := mf.open()
			if err != nil {
				return err
			}
			defer f.Close()
			defer m.Close()
			if need := max(o.PromptTokens, o.DecodeTokens); need > m.ContextLength() {
				return fmt.Errorf("-p/-n %d exceeds the context length %d (raise --ctx)", need, m.ContextLength())
			}
			res, err := m.Bench(cmd.Context(), o)
			if err != nil {
				return err
			}
			mem := readSelfStatus()
			weights := m.WeightBytes()
			kv := m.KVBytesPerToken() * int64(m.ContextLength())
			var bw hw.Bandwidth
			if !noBW {
				// After the memory figures: the measurement's buffers would
				// count in them.
				if bw, err = hw.MeasureReadBandwidth(cmd.Context(), m.Threads(), hw.DefaultBandwidthBytes); err != nil {
					return err
				}
			}
			achieved := float64(weights) * res.DecodeTokS / 1e9
			out := benchReport{
				Model: mf.path, Arch: m.Config().Arch, Threads: m.Threads(), KVType: m.KVType().String(),
				PromptTokens: o.PromptTokens, DecodeTokens: o.DecodeTokens, Reps: o.Reps,
				BenchResult: res, WeightsBytes: weights, AchievedGBs: achieved,
				ReadBandwidthGBs: bw.GBs, KVBytes: kv,
				PeakRSS: mem["VmHWM"], RSSFile: mem["RssFile"], RSSAnon: mem["RssAnon"],
			}
			if bw.GBs > 0 {
				out.DecodeFraction = achieved / bw.GBs
			}
			// Anonymous memory beyond the KV cache: scratch, Go heap, runtime.
			out.ExtraRSS = out.RSSAnon - kv
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "model %s (%s), %d threads, KV %s\n", mf.path, out.Arch, out.Threads, out.KVType)
			fmt.Fprintf(w, "pp%d: %8.2f tok/s  (runs %s)\n", o.PromptTokens, res.PromptTokS, fmtRuns(res.PromptAll))
			fmt.Fprintf(w, "tg%d: %8.2f tok/s  (runs %s)\n", o.DecodeTokens, res.DecodeTokS, fmtRuns(res.DecodeAll))
			fmt.Fprintf(w, "weights per token: %.1f MB, achieved %.2f GB/s\n", float64(weights)/1e6, achieved)
			if bw.GBs > 0 {
				fmt.Fprintf(w, "read bandwidth (%d threads): %.2f GB/s; decode reaches %.0f%% of it\n", bw.Threads, bw.GBs, 100*out.DecodeFraction)
			}
			fmt.Fprintf(w, "memory: peak RSS %.1f MiB, mapped file %.1f MiB, anonymous %.1f MiB = KV cache %.1f MiB + %.1f MiB other\n",
				mib(out.PeakRSS), mib(out.RSSFile), mib(out.RSSAnon), mib(kv), mib(out.ExtraRSS))
			return nil
		},
	}
	fl := cmd.Flags()
	mf.register(fl, "f16")
	fl.Lookup("ctx").Usage = "context length (default: the larger of -p and -n)"
	fl.IntVarP(&o.PromptTokens, "p", "p", 512, "prompt tokens (0: skip)")
	fl.IntVarP(&o.DecodeTokens, "n", "n", 128, "decode steps (0: skip)")
	fl.IntVarP(&o.Reps, "r", "r", 3, "repetitions (median)")
	fl.BoolVar(&asJSON, "json", false, "print one JSON object")
	fl.BoolVar(&noBW, "no-bandwidth", false, "skip the memory bandwidth measurement")
	return cmd
}

type benchReport struct {
	Model        string `json:"model"`
	Arch         string `json:"arch"`
	Threads      int    `json:"threads"`
	KVType       string `json:"kv_type"`
	PromptTokens int    `json:"p"`
	DecodeTokens int    `json:"n"`
	Reps         int    `json:"reps"`
	model.BenchResult
	WeightsBytes     int64   `json:"weights_bytes"`
	AchievedGBs      float64 `json:"achieved_gbs"`
	ReadBandwidthGBs float64 `json:"read_bandwidth_gbs"`
	DecodeFraction   float64 `json:"decode_fraction_of_bandwidth"`
	KVBytes          int64   `json:"kv_bytes"`
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
