package model_test

import (
	"context"
	"testing"

	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/testdata"
)

// TestDecodeAllocs checks that a decode step of several sequences
// allocates nothing: every buffer, loop body and table is made once. Eight
// sequences take MatMul's interleaved path where the CPU has one.
func TestDecodeAllocs(t *testing.T) {
	if testdata.Race {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	for _, arch := range []string{"llama", "gemma2", "phi3", "qwen3moe"} {
		t.Run(arch, func(t *testing.T) {
			m := load(t, tiny(t, arch, "Q8_0"), model.Options{ContextLength: 128, Threads: 2})
			c, err := m.NewCache(model.CacheOptions{MaxSeqs: 8})
			if err != nil {
				t.Fatal(err)
			}
			var b model.Batch
			for s := range model.SeqID(8) {
				for i := range 3 + int(s) {
					b.Add(int32(i+1), i, s, false)
				}
			}
			var out []float32
			step := func() {
				if out, err = m.Decode(ctx, c, &b, out[:0]); err != nil {
					t.Fatal(err)
				}
				b.Reset()
				for s := range model.SeqID(8) {
					b.Add(int32(s+7), c.SeqLen(s), s, true)
				}
			}
			step()
			step()
			if n := testing.AllocsPerRun(40, step); n != 0 {
				t.Errorf("%v allocations per decode step of 8 sequences", n)
			}
			var seq = m.NewSequence()
			var logits []float32
			tok := []int32{3}
			gen := func() {
				if logits, err = m.Forward(ctx, seq, tok, model.OutputLast, logits[:0]); err != nil {
					t.Fatal(err)
				}
			}
			gen()
			if n := testing.AllocsPerRun(40, gen); n != 0 {
				t.Errorf("%v allocations per Forward of one token", n)
			}
		})
	}
}
