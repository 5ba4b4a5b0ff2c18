package model_test

import (
	"context"
	"testing"

	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/tensor"
)

// TestRepack checks that a model keeping interleaved copies of its
// weights (Options.Repack) gives the logits of one that does not, for a
// prompt and for a decode step of four sequences (which only the copy
// takes through the interleaved path), and reports the copy's size.
func TestRepack(t *testing.T) {
	ctx := context.Background()
	probe := tensor.Matrix{Type: tensor.Q8_0, Rows: 8, Cols: 32, Data: make([]byte, 8*34)}
	haveLayout := probe.Interleave()
	tokens := []int32{3, 141, 59, 26, 53, 58, 97, 93, 238, 462, 64, 33}
	for _, tc := range []struct{ arch, typ string }{{"llama", "Q8_0"}, {"qwen2", "Q4_0"}, {"qwen3moe", "Q8_0"}, {"llama", "F16"}} {
		t.Run(tc.arch+"-"+tc.typ, func(t *testing.T) {
			data := tiny(t, tc.arch, tc.typ)
			plain := load(t, data, model.Options{ContextLength: 64, Threads: 2})
			kept := load(t, data, model.Options{ContextLength: 64, Threads: 2, Repack: true})
			if plain.RepackedBytes() != 0 {
				t.Errorf("RepackedBytes() = %d without Repack", plain.RepackedBytes())
			}
			if want := haveLayout && tc.typ != "F16"; (kept.RepackedBytes() > 0) != want {
				t.Errorf("RepackedBytes() = %d with Repack, want a copy: %v", kept.RepackedBytes(), want)
			}
			var out [2][]float32
			for i, m := range []*model.Model{plain, kept} {
				logits, err := m.Forward(ctx, m.NewSequence(), tokens, model.OutputAll, nil)
				if err != nil {
					t.Fatal(err)
				}
				c, err := m.NewCache(model.CacheOptions{MaxSeqs: 4})
				if err != nil {
					t.Fatal(err)
				}
				var b model.Batch
				for s := range model.SeqID(4) {
					b.Add(tokens[s], 0, s, true)
				}
				if out[i], err = m.Decode(ctx, c, &b, logits); err != nil {
					t.Fatal(err)
				}
			}
			if len(out[0]) != len(out[1]) || len(out[0]) != (len(tokens)+4)*plain.Config().Vocab {
				t.Fatalf("%d and %d logits", len(out[0]), len(out[1]))
			}
			if d := maxAbsDiff(out[0], out[1]); d > 1e-5 {
				t.Errorf("with and without the copy: max diff %g", d)
			}
		})
	}
}
