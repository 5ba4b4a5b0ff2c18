package model

import (
	"math"

	"github.com/raym33/ainative/internal/gguf"
)

// Phi-3 (llama.cpp's llm_build_phi3): q, k and v come from one fused
// projection and the feed-forward's gate and up from another (SwiGLU over
// the two halves of one row); NeoX RoPE with "long-rope" per-frequency
// factors, the long ones when the context exceeds the original training
// context; queries scaled by 1/sqrt(head size) after RoPE.
func init() {
	archs["phi3"] = &arch{neox: true, tensors: archTensors{fusedQKV: true, fusedGateUp: true}, setup: setupPhi3}
}

func setupPhi3(m *Model, f *gguf.File, ld *loader) error {
	c := &m.cfg
	m.qScale = 1 / float32(math.Sqrt(float64(c.HeadDim)))
	m.kqScale = 1
	// Phi-3's sliding-window metadata is ignored by llama.cpp (it warns
	// that SWA is disabled), and so here.
	name := "rope_factors_short.weight"
	if m.ctxLen > c.Rope.OrigContext {
		name = "rope_factors_long.weight"
	}
	if factors := ld.vector(name, c.Rope.Dims/2, false); factors != nil {
		m.rope = newRope(c.Rope, factors)
	}
	return nil
}
