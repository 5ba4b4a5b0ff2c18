package model

import (
	"math"

	"github.com/raym33/ainative/internal/gguf"
)

// Gemma 2 and 3 (llama.cpp's llm_build_gemma2_iswa, llm_build_gemma3):
// embeddings scaled by sqrt(hidden size); RMSNorm before and after both
// attention and feed-forward; a GELU-gated feed-forward; queries scaled
// before the scores instead of inside the softmax; sliding-window layers.
// Gemma's norm weights need no "+1" here: the GGUF converter stores 1+w.
func init() {
	t := archTensors{postNorms: true}
	// Gemma 2: tanh soft-capping of attention scores and of the logits;
	// every other layer (from the first) uses the sliding window.
	archs["gemma2"] = &arch{neox: true, gelu: true, tensors: t, setup: setupGemma2}
	t.qkNorm = true
	// Gemma 3: per-head q/k norms instead of the attention soft-cap; five
	// local layers to a global one, the local ones with their own RoPE
	// base (10000) and no RoPE scaling.
	archs["gemma3"] = &arch{neox: true, gelu: true, tensors: t, setup: setupGemma3}
}

func setupGemma(m *Model, layers27B int) {
	c := &m.cfg
	m.embedScale = float32(math.Sqrt(float64(c.Embed)))
	// llama.cpp's f_attention_scale: 1/sqrt(query_pre_attn_scalar), which
	// is the head size except for the 27B models, where it is
	// hidden/heads. GGUF has no key for it; llama.cpp recognises the 27B
	// model by its layer count, and so do we.
	d := c.HeadDim
	if c.Layers == layers27B {
		d = c.Embed / c.Heads
	}
	m.qScale = 1 / float32(math.Sqrt(float64(d)))
	m.kqScale = 1
}

func setupGemma2(m *Model, f *gguf.File, ld *loader) error {
	c := &m.cfg
	setupGemma(m, 46)
	// llama.cpp's defaults when the keys are absent.
	if c.AttnSoftcap == 0 && !f.Has("gemma2.attn_logit_softcapping") {
		c.AttnSoftcap = 50
	}
	if c.FinalSoftcap == 0 && !f.Has("gemma2.final_logit_softcapping") {
		c.FinalSoftcap = 30
	}
	if !f.Has("gemma2.attention.sliding_window") {
		c.SlidingWindow = 4096
		for il := range c.SWALayers {
			c.SWALayers[il] = il%2 == 0
		}
	} else if err := readSWA(f, c, 2); err != nil {
		return err
	}
	swa := c.Rope
	base, err := f.OptFloat("gemma2.rope.freq_base_swa", float64(c.Rope.Base))
	if err != nil {
		return err
	}
	swa.Base = float32(base)
	m.ropeSWA = newRope(swa, nil)
	return nil
}

func setupGemma3(m *Model, f *gguf.File, ld *loader) error {
	c := &m.cfg
	setupGemma(m, 62)
	c.AttnSoftcap = 0
	if err := readSWA(f, c, 6); err != nil {
		return err
	}
	// The local base has had two names: llama.cpp's and ollama's.
	base := 10000.0
	for _, k := range []string{"gemma3.rope.freq_base_swa", "gemma3.rope.local.freq_base"} {
		if f.Has(k) {
			v, err := f.Float(k)
			if err != nil {
				return err
			}
			base = v
			break
		}
	}
	swa := c.Rope
	swa.Base = float32(base)
	swa.FreqScale = 1
	swa.ExtFactor = 0
	m.ropeSWA = newRope(swa, nil)
	return nil
}
