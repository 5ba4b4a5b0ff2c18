package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// BenchOptions configure Bench, after llama-bench: prompt processing of
// PromptTokens tokens in one Forward, and Decode single-token steps from
// an empty context, each Reps times after one warm-up.
type BenchOptions struct {
	PromptTokens int
	DecodeTokens int
	Reps         int
}

// BenchResult holds Bench's timings: the median rate of each phase and
// every repetition's.
type BenchResult struct {
	PromptTokS float64   `json:"pp_tok_s"`
	DecodeTokS float64   `json:"tg_tok_s"`
	PromptAll  []float64 `json:"pp_all"`
	DecodeAll  []float64 `json:"tg_all"`
}

// Bench measures prompt processing and decoding speed with random
// tokens. A phase with zero tokens is skipped.
func (m *Model) Bench(ctx context.Context, o BenchOptions) (BenchResult, error) {
	var r BenchResult
	if o.PromptTokens < 0 || o.DecodeTokens < 0 {
		return r, fmt.Errorf("model: bench of %d prompt and %d decode tokens: counts must not be negative", o.PromptTokens, o.DecodeTokens)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := make([]int32, max(o.PromptTokens, o.DecodeTokens))
	for i := range tokens {
		tokens[i] = int32(rng.IntN(m.cfg.Vocab))
	}
	seq := m.NewSequence()
	var logits []float32
	prompt := func() (float64, error) {
		seq.Truncate(0)
		start := time.Now()
		var err error
		logits, err = m.Forward(ctx, seq, tokens[:o.PromptTokens], OutputLast, logits[:0])
		return float64(o.PromptTokens) / time.Since(start).Seconds(), err
	}
	decode := func() (float64, error) {
		seq.Truncate(0)
		start := time.Now()
		for _, t := range tokens[:o.DecodeTokens] {
			var err error
			if logits, err = m.Forward(ctx, seq, []int32{t}, OutputLast, logits[:0]); err != nil {
				return 0, err
			}
		}
		return float64(o.DecodeTokens) / time.Since(start).Seconds(), nil
	}
	for _, phase := range []struct {
		n    int
		run  func() (float64, error)
		all  *[]float64
		rate *float64
	}{
		{o.PromptTokens, prompt, &r.PromptAll, &r.PromptTokS},
		{o.DecodeTokens, decode, &r.DecodeAll, &r.DecodeTokS},
	} {
		if phase.n <= 0 {
			continue
		}
		if _, err := phase.run(); err != nil { // warm-up: pages in the weights
			return r, err
		}
		for range max(o.Reps, 1) {
			v, err := phase.run()
			if err != nil {
				return r, err
			}
			*phase.all = append(*phase.all, v)
		}
		*phase.rate = median(*phase.all)
	}
	return r, nil
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
