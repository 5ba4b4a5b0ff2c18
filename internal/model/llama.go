package model

import (
	"github.com/raym33/ainative/internal/gguf"
)

// The Llama family proper: Llama 2/3 (and Mistral, SmolLM, TinyLlama,
// which use the llama architecture name), Qwen 2/2.5 and Qwen 3. All use
// the plain pre-norm block with a SiLU-gated feed-forward and softmax
// scale 1/sqrt(head size); they differ in the RoPE layout and in small
// additions. A llama file with expert_count is a mixture of experts
// (Mixtral).
func init() {
	// Llama: GGUF stores q and k permuted for the "normal" RoPE layout
	// (adjacent pairs). Llama 3 adds per-frequency divisors, rope_freqs.
	archs["llama"] = &arch{setup: setupLlama}
	// Qwen 2: biases on the q, k and v projections; NeoX RoPE.
	archs["qwen2"] = &arch{neox: true, tensors: archTensors{qkvBias: true}}
	// Qwen 3: an RMSNorm on each query and key head before RoPE.
	archs["qwen3"] = &arch{neox: true, tensors: archTensors{qkNorm: true}}
	// Qwen 3 MoE: Qwen 3's attention, a mixture of experts in every
	// block (moe.go). Mixtral is a llama file with expert_count.
	archs["qwen3moe"] = &arch{neox: true, tensors: archTensors{qkNorm: true, moe: true}}
}

func setupLlama(m *Model, f *gguf.File, ld *loader) error {
	// llama.cpp shares one rope_freqs tensor between all layers.
	if factors := ld.vector("rope_freqs.weight", m.cfg.Rope.Dims/2, false); factors != nil {
		m.rope = newRope(m.cfg.Rope, factors)
	}
	return nil
}
