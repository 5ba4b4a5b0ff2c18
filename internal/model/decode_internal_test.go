package model

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/model/synth"
)

// TestEmbeddingsOutput checks that Embeddings returns the final normed
// hidden states: multiplied by the output matrix they give the logits
// the same batch returns without Embeddings.
func TestEmbeddingsOutput(t *testing.T) {
	f := synthParsed(t, synth.Options{Arch: "qwen3", Shape: "tiny", Type: "F32", Seed: 5})
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

// TestCacheMemoryLimit checks that a cache larger than the memory
// available is an error naming both, from NewCache and from the first
// Forward of a sequence, instead of an allocation that kills the process.
func TestCacheMemoryLimit(t *testing.T) {
	f := synthParsed(t, synth.Options{Arch: "llama", Shape: "tiny", Type: "Q8_0", Seed: 5})
	m, err := Load(f, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	saved, savedMin := availableMemory, memCheckMin
	defer func() { availableMemory, memCheckMin = saved, savedMin }()
	memCheckMin = 0
	availableMemory = func() (int64, string) { return 64 << 20, "the test's limit" }
	seqs := 1 + (64<<20)/(m.ctxLen*int(m.KVBytesPerToken()))
	_, err = m.NewCache(CacheOptions{MaxSeqs: seqs})
	want := fmt.Sprintf("a KV cache of %d cells (%d sequences) needs %.1f MiB, more than the 64.0 MiB of memory available (the test's limit)",
		seqs*m.ctxLen, seqs, float64(int64(seqs*m.ctxLen)*m.KVBytesPerToken()+int64(seqs*m.ctxLen)/32*(32*4+8))/(1<<20))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("NewCache beyond the memory: %v", err)
	}
	availableMemory = func() (int64, string) { return 1 << 20, "the test's limit" }
	if _, err := m.Forward(context.Background(), m.NewSequence(), []int32{1}, OutputLast, nil); err == nil || !strings.Contains(err.Error(), "more than the 1.0 MiB") {
		t.Errorf("Forward with a context beyond the memory: %v", err)
	}
	availableMemory = func() (int64, string) { return 64 << 20, "the test's limit" }
	c, err := m.NewCache(CacheOptions{MaxSeqs: 4, Cells: 4096})
	if err != nil {
		t.Fatalf("a cache that fits: %v", err)
	}
	if c.Bytes() > 64<<20 || c.Cells() != 4096 {
		t.Errorf("cache of %d cells takes %d bytes", c.Cells(), c.Bytes())
	}
	// The live reading names its source.
	if avail, source := hwAvailableMemory(); avail > 0 && source == "" {
		t.Error("available memory without a source")
	}
}

// synthBytes synthesizes the model o describes, in memory.
func synthBytes(t testing.TB, o synth.Options) []byte {
	t.Helper()
	sm, err := synth.New(o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sm.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// synthParsed synthesizes the model o describes and parses it.
func synthParsed(t testing.TB, o synth.Options) *gguf.File {
	t.Helper()
	f, err := gguf.Parse(synthBytes(t, o))
	if err != nil {
		t.Fatal(err)
	}
	return f
}
