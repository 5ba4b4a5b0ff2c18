package model

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/raym33/ainative/internal/sample"
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

// ParallelResult holds BenchParallel's timings: aggregate rates over all
// sequences (medians of the repetitions).
type ParallelResult struct {
	Parallel   int     `json:"parallel"`
	PromptTokS float64 `json:"pp_tok_s"` // prompt tokens of all sequences per second
	DecodeTokS float64 `json:"tg_tok_s"` // decoded tokens of all sequences per second
	// DecodeStepMs is the median time of one decode step (one token of
	// every sequence), in milliseconds.
	DecodeStepMs float64   `json:"tg_step_ms"`
	PromptAll    []float64 `json:"pp_all"`
	DecodeAll    []float64 `json:"tg_all"`
}

// BenchParallel measures serving parallel sequences from one cache, as
// llama-batched-bench: each of parallel sequences gets a prompt of
// o.PromptTokens random tokens (the prompts prefilled together, in
// batches of up to BatchSize tokens), then o.DecodeTokens decode steps in
// which every sequence adds one token, a batch of parallel tokens a step.
// Rates are aggregate: tokens of all sequences per second.
func (m *Model) BenchParallel(ctx context.Context, o BenchOptions, parallel int) (ParallelResult, error) {
	r := ParallelResult{Parallel: parallel}
	if parallel < 1 {
		return r, fmt.Errorf("model: bench of %d parallel sequences: at least 1", parallel)
	}
	if o.PromptTokens < 0 || o.DecodeTokens < 0 || o.PromptTokens+o.DecodeTokens == 0 {
		return r, fmt.Errorf("model: bench of %d prompt and %d decode tokens: counts must not be negative, nor both zero", o.PromptTokens, o.DecodeTokens)
	}
	if o.PromptTokens+o.DecodeTokens > m.ctxLen {
		return r, fmt.Errorf("%w: %d prompt + %d decode tokens > context length %d", ErrContextFull, o.PromptTokens, o.DecodeTokens, m.ctxLen)
	}
	perSeq := (o.PromptTokens + o.DecodeTokens + blockCells - 1) / blockCells * blockCells
	c, err := m.NewCache(CacheOptions{MaxSeqs: parallel, Cells: parallel * perSeq})
	if err != nil {
		return r, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	prompts := make([][]int32, parallel)
	for s := range prompts {
		prompts[s] = make([]int32, o.PromptTokens)
		for i := range prompts[s] {
			prompts[s][i] = int32(rng.IntN(m.cfg.Vocab))
		}
	}
	var b Batch
	var out []float32
	next := make([]int32, parallel)
	prefill := func() (float64, error) {
		for s := range parallel {
			if err := c.Remove(SeqID(s), 0); err != nil {
				return 0, err
			}
		}
		start := time.Now()
		b.Reset()
		flush := func() error {
			var err error
			out, err = m.Decode(ctx, c, &b, out[:0])
			b.Reset()
			return err
		}
		for s, p := range prompts {
			for i, tok := range p {
				b.Add(tok, i, SeqID(s), i == len(p)-1)
				if len(b.Tokens) == m.ubatch {
					if err := flush(); err != nil {
						return 0, err
					}
				}
			}
		}
		if len(b.Tokens) > 0 {
			if err := flush(); err != nil {
				return 0, err
			}
		}
		return float64(parallel*o.PromptTokens) / time.Since(start).Seconds(), nil
	}
	decode := func() (float64, error) {
		for s := range parallel {
			if err := c.Remove(SeqID(s), o.PromptTokens); err != nil {
				return 0, err
			}
		}
		for s := range next {
			next[s] = int32(rng.IntN(m.cfg.Vocab))
		}
		start := time.Now()
		for range o.DecodeTokens {
			b.Reset()
			for s, tok := range next {
				b.Add(tok, c.SeqLen(SeqID(s)), SeqID(s), true)
			}
			var err error
			if out, err = m.Decode(ctx, c, &b, out[:0]); err != nil {
				return 0, err
			}
			// Greedy, so that the work is that of serving.
			for s := range next {
				next[s] = sample.Argmax(out[s*m.cfg.Vocab : (s+1)*m.cfg.Vocab])
			}
		}
		return float64(parallel*o.DecodeTokens) / time.Since(start).Seconds(), nil
	}
	if o.PromptTokens > 0 {
		// The decode phase starts after the prompts: fill them once
		// even when only decoding is measured.
		if _, err := prefill(); err != nil {
			return r, err
		}
	}
	for _, phase := range []struct {
		n    int
		run  func() (float64, error)
		all  *[]float64
		rate *float64
	}{
		{o.PromptTokens, prefill, &r.PromptAll, &r.PromptTokS},
		{o.DecodeTokens, decode, &r.DecodeAll, &r.DecodeTokS},
	} {
		if phase.n <= 0 {
			continue
		}
		if _, err := phase.run(); err != nil { // warm-up
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
	if r.DecodeTokS > 0 {
		r.DecodeStepMs = 1e3 * float64(parallel) / r.DecodeTokS
	}
	return r, nil
}
