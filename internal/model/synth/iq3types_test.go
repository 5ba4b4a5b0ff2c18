package synth_test

import (
	"testing"

	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/tensor"
)

// TestIQ3TypeRules checks the IQ3 file types' per-tensor rules, from
// llama.cpp's llama_tensor_get_type without an importance matrix, on a
// 16-layer model (ffn_down's first eighth is blocks 0 and 1). Only
// IQ3_S has a fixture (TestRequantizeFixtures, package quantize), whose
// model is tied and has 2 query heads per key/value head.
func TestIQ3TypeRules(t *testing.T) {
	type pick struct {
		name string
		cols int
		want tensor.Type
	}
	for _, c := range []struct {
		ft    string
		mi    synth.ModelInfo
		picks []pick
	}{
		{"IQ3_XXS", synth.ModelInfo{Layers: 16, GQA: 2}, []pick{
			{"token_embd.weight", 256, tensor.IQ3_S},
			{"output.weight", 256, tensor.Q5_K},
			{"output.weight", 320, tensor.Q8_0},
			{"blk.0.attn_q.weight", 256, tensor.IQ3_XXS}, // llama.cpp: IQ2_S, needing an importance matrix
			{"blk.0.attn_k.weight", 256, tensor.IQ3_XXS},
			{"blk.0.attn_v.weight", 256, tensor.IQ3_S},
			{"blk.0.attn_output.weight", 256, tensor.IQ3_S},
			{"blk.0.ffn_up.weight", 256, tensor.IQ3_XXS},
			{"blk.0.ffn_up.weight", 320, tensor.IQ4_NL},
			{"blk.1.ffn_down.weight", 512, tensor.Q4_K},
			{"blk.1.ffn_down.weight", 320, tensor.Q5_0},
			{"blk.2.ffn_down.weight", 512, tensor.Q3_K},
			{"blk.2.ffn_down.weight", 320, tensor.IQ4_NL},
		}},
		{"IQ3_XXS", synth.ModelInfo{Layers: 16, GQA: 4, Tied: true}, []pick{
			{"token_embd.weight", 256, tensor.Q5_K},
			{"blk.0.attn_v.weight", 256, tensor.Q4_K},
		}},
		{"IQ3_S", synth.ModelInfo{Layers: 16, GQA: 2}, []pick{
			{"token_embd.weight", 256, tensor.IQ3_S},
			{"token_embd.weight", 320, tensor.IQ4_NL},
			{"output.weight", 256, tensor.Q6_K},
			{"blk.0.attn_q.weight", 256, tensor.IQ3_S},
			{"blk.0.attn_v.weight", 256, tensor.IQ3_S},
			{"blk.0.attn_output.weight", 256, tensor.IQ3_S},
			{"blk.0.ffn_down.weight", 512, tensor.IQ3_S},
		}},
		{"IQ3_S", synth.ModelInfo{Layers: 16, GQA: 4, Tied: true}, []pick{
			{"token_embd.weight", 256, tensor.Q6_K},
			{"blk.0.attn_v.weight", 256, tensor.Q4_K},
		}},
		{"IQ3_S", synth.ModelInfo{Layers: 16, GQA: 4, Experts: 8}, []pick{
			{"blk.0.attn_k.weight", 256, tensor.Q8_0},
			{"blk.0.attn_v.weight", 256, tensor.Q8_0},
			{"blk.0.attn_output.weight", 256, tensor.Q5_K},
			{"blk.0.ffn_down_exps.weight", 512, tensor.IQ3_S},
		}},
		{"IQ3_M", synth.ModelInfo{Layers: 16, GQA: 2}, []pick{
			{"output.weight", 256, tensor.Q6_K},
			{"blk.0.attn_q.weight", 256, tensor.IQ3_S},
			{"blk.0.attn_v.weight", 256, tensor.Q4_K},
			{"blk.0.attn_qkv.weight", 256, tensor.Q4_K},
			{"blk.0.attn_output.weight", 256, tensor.Q4_K},
			{"blk.1.ffn_down.weight", 512, tensor.Q4_K},
			{"blk.2.ffn_down.weight", 512, tensor.IQ3_S},
			{"blk.4.ffn_down.weight", 512, tensor.IQ3_S},
		}},
		{"IQ3_M", synth.ModelInfo{Layers: 16, GQA: 4, Experts: 8}, []pick{
			{"blk.0.attn_output.weight", 256, tensor.Q5_K},
			{"blk.4.ffn_down_exps.weight", 512, tensor.Q4_K}, // use_more_bits
			{"blk.5.ffn_down_exps.weight", 512, tensor.IQ3_S},
		}},
	} {
		ft, err := synth.LookupFileType(c.ft)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.picks {
			// A fresh picker each time: attn_v's count matters only to
			// Q3_K_M, Q4_K_S and the use_more_bits types.
			if got := synth.NewTypePicker(ft, c.mi).Pick(p.name, p.cols); got != p.want {
				t.Errorf("%s %+v: %s with rows of %d: %s, want %s", c.ft, c.mi, p.name, p.cols, got, p.want)
			}
		}
	}
	for name, want := range map[string]uint32{"IQ3_XXS": 23, "IQ3_S": 26, "IQ3_M": 27} {
		if ft, err := synth.LookupFileType(name); err != nil || ft.FType != want {
			t.Errorf("%s: %+v %v, want llama_ftype %d", name, ft, err, want)
		}
	}
}
