package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/client"
	"github.com/raym33/ainative/internal/api"
	"github.com/raym33/ainative/internal/runtime"
)

// serveResult is one client count's figures.
type serveResult struct {
	Clients    int     `json:"clients"`
	Requests   int     `json:"requests"`
	Failed     int     `json:"failed"`
	Refused    int     `json:"refused_503"`
	TgTokS     float64 `json:"tg_tok_s"` // generated tokens / wall time, all clients
	TTFTP50    float64 `json:"ttft_p50_ms"`
	TTFTP99    float64 `json:"ttft_p99_ms"`
	WallS      float64 `json:"wall_s"`
	RSSPeakMiB float64 `json:"rss_peak_mib"`
	BudgetMiB  float64 `json:"budget_mib"`
}

// benchServe drives an in-process daemon (the runtime and its HTTP API on
// loopback, as `ainative serve` runs them) with concurrent streaming
// clients, each asking for a -p token prompt and -n tokens, and reports
// aggregate decode tokens/s, time to first token and memory per client
// count. Then it measures a chat's second turn against its first.
func benchServe(cmd *cobra.Command, mf *modelFlags, path string, prompt, gen int, counts []int, queue int, asJSON bool) error {
	for _, c := range counts {
		if c < 1 {
			return fmt.Errorf("--serve %d: client counts must be at least 1", c)
		}
	}
	par := slices.Max(counts)
	if par > 16 {
		par = 16 // a loaded model's slots; more clients queue
	}
	ctx := cmd.Context()
	name := strings.TrimSuffix(filepath.Base(path), ".gguf")
	rt, err := runtime.New(runtime.Config{
		Source: api.DirSource{Dir: filepath.Dir(path)}, Threads: mf.threads, NumParallel: par, MaxQueue: queue,
		NumCtx: max(prompt+gen+64, 256), KeepAlive: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	srv := api.New(api.Config{Runtime: rt, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WriteTimeout: time.Minute})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(l)
	defer hs.Close()
	c, err := client.New(l.Addr().String())
	if err != nil {
		return err
	}
	// Load the model once before timing.
	if err := c.Generate(ctx, &client.GenerateRequest{Model: name, Stream: ptrTo(false)}, func(client.GenerateResponse) error { return nil }); err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	words := strings.Repeat("the quick brown fox jumps over the lazy dog ", prompt/9+1)
	w := cmd.OutOrStdout()
	if !asJSON {
		fmt.Fprintf(w, "%s: %d-token prompts (about), %d generated tokens each, %d slots, queue %d\n", path, prompt, gen, par, queue)
	}
	var first float64
	for _, n := range counts {
		res := serveRound(ctx, c, name, words, prompt, gen, n)
		res.BudgetMiB = float64(rt.Config().MemoryBudget) / (1 << 20)
		st := readSelfStatus()
		res.RSSPeakMiB = mib(st["VmHWM"])
		if first == 0 {
			first = res.TgTokS
		}
		if asJSON {
			if err := json.NewEncoder(w).Encode(res); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(w, "  clients %3d: %8.2f tok/s (%.2fx one client), first token p50 %7.1f ms p99 %7.1f ms, %d failed, %d refused (503), peak RSS %.0f MiB\n",
			n, res.TgTokS, res.TgTokS/first, res.TTFTP50, res.TTFTP99, res.Failed, res.Refused, res.RSSPeakMiB)
	}
	// A chat's second turn reuses the first turn's cached prefix.
	t1, t2, err := secondTurn(ctx, c, name, words)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]float64{"turn1_ttft_ms": t1, "turn2_ttft_ms": t2})
	}
	fmt.Fprintf(w, "  chat: first turn's first token %.1f ms, second turn's %.1f ms (%.2fx)\n", t1, t2, t2/t1)
	return nil
}

func serveRound(ctx context.Context, c *client.Client, name, words string, prompt, gen, clients int) serveResult {
	res := serveResult{Clients: clients, Requests: clients}
	var mu sync.Mutex
	var ttfts []float64
	var tokens int
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			var first time.Duration
			var got int
			// A distinct prefix per client, so no prompt is served from
			// another's cache.
			p := fmt.Sprintf("%d %s", i, words)
			p = strings.Join(strings.Fields(p)[:max(1, prompt-2)], " ")
			err := c.Generate(ctx, &client.GenerateRequest{Model: name, Prompt: p, Raw: true,
				Options: &client.Options{NumPredict: ptrTo(gen), Temperature: ptrTo(0.0), IgnoreEOS: ptrTo(true)}, KeepAlive: -1},
				func(r client.GenerateResponse) error {
					if r.Done {
						// The daemon's own clock: from queueing to the
						// first token (a random model's first tokens may
						// decode to no text, so the client cannot tell).
						got, first = r.EvalCount, r.TotalDuration-r.EvalDuration
					}
					return nil
				})
			mu.Lock()
			defer mu.Unlock()
			var se *client.StatusError
			switch {
			case err == nil:
				tokens += got
				ttfts = append(ttfts, float64(first)/1e6)
			case errors.As(err, &se) && se.StatusCode == http.StatusServiceUnavailable:
				res.Refused++
			default:
				res.Failed++
			}
		})
	}
	wg.Wait()
	res.WallS = time.Since(start).Seconds()
	res.TgTokS = float64(tokens) / res.WallS
	slices.Sort(ttfts)
	res.TTFTP50, res.TTFTP99 = percentile(ttfts, 0.5), percentile(ttfts, 0.99)
	return res
}

func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// secondTurn times the first token of a conversation's first turn and of
// its second, which continues the first (Ollama's context: the first
// turn's prompt and answer) with a few more words.
func secondTurn(ctx context.Context, c *client.Client, name, words string) (t1, t2 float64, err error) {
	turn := func(prompt string, context []int) (float64, []int, error) {
		var first time.Duration
		var next []int
		err := c.Generate(ctx, &client.GenerateRequest{Model: name, Prompt: prompt, Raw: true, Context: context,
			Options: &client.Options{NumPredict: ptrTo(16), Temperature: ptrTo(0.0), IgnoreEOS: ptrTo(true)}, KeepAlive: -1},
			func(r client.GenerateResponse) error {
				if r.Done {
					next, first = r.Context, r.TotalDuration-r.EvalDuration
				}
				return nil
			})
		return float64(first) / 1e6, next, err
	}
	t1, ctx1, err := turn("turn one: "+words, nil)
	if err != nil {
		return 0, 0, err
	}
	t2, _, err = turn(" and then?", ctx1)
	return t1, t2, err
}

func ptrTo[T any](v T) *T { return &v }
