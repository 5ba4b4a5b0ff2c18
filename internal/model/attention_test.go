package model

import (
	"context"
	"math"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/tensor"
)

// TestAttentionChunks forces the attention to split the queries into
// chunks of a few tokens (as it does for long contexts) and to skip keys
// before the sliding window, and checks the logits do not change.
func TestAttentionChunks(t *testing.T) {
	data := synthBytes(t, synth.Options{Arch: "gemma2", Shape: "tiny", Type: "F32", Seed: 3})
	tokens := make([]int32, 40)
	for i := range tokens {
		tokens[i] = int32(i*37) % 512
	}
	run := func(window int) []float32 {
		f, err := gguf.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Load(f, Options{ContextLength: 64, KVType: tensor.F32, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		m.cfg.SlidingWindow = window
		out, err := m.Forward(context.Background(), m.NewSequence(), tokens, OutputAll, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, window := range []int{4096, 7} {
		want := run(window)
		saved := scoresBudget
		scoresBudget = 3 * 64 // 3 queries of one head per chunk at most
		got := run(window)
		scoresBudget = saved
		var d float64
		for i := range got {
			d = max(d, math.Abs(float64(got[i]-want[i])))
		}
		if d > 5e-4 {
			t.Errorf("window %d: chunked attention differs by %g", window, d)
		}
	}
}
