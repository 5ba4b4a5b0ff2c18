package model

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/synth"
)

// TestEmbeddingsOutput checks that Embeddings returns the final normed
// hidden states: multiplied by the output matrix they give the logits
// the same batch returns without Embeddings.
func TestEmbeddingsOutput(t *testing.T) {
	sm, err := synth.New(synth.Options{Arch: "qwen3", Shape: "tiny", Type: "F32", Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sm.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(f, Options{ContextLength: 32, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	run := func(embeddings bool) []float32 {
		c, err := m.NewCache(CacheOptions{MaxSeqs: 2})
		if err != nil {
			t.Fatal(err)
		}
		b := Batch{Embeddings: embeddings}
		for i, tok := range []int32{5, 6, 7} {
			b.Add(tok, i, 0, i == 2)
			b.Add(tok+1, i, 1, i >= 1)
		}
		out, err := m.Decode(ctx, c, &b, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	emb, logits := run(true), run(false)
	E, V := m.cfg.Embed, m.cfg.Vocab
	if len(emb) != 3*E || len(logits) != 3*V {
		t.Fatalf("%d embedding values, %d logits; want 3 rows of %d and %d", len(emb), len(logits), E, V)
	}
	want := make([]float32, 3*V)
	m.pool.MatMul(want, m.output, emb, 3)
	var d float64
	for i := range want {
		d = max(d, math.Abs(float64(want[i]-logits[i])))
	}
	if d > 1e-5 {
		t.Errorf("output matrix x embeddings vs logits: max diff %g", d)
	}
}
