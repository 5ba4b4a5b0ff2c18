package model

import (
	"fmt"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/tensor"
)

// loader binds a GGUF file's tensors to the model, checking each shape
// against the metadata so that a file whose tensors disagree with its own
// hyperparameters is rejected at load time, with the tensor named, and
// never reaches a kernel.
type loader struct {
	f   *gguf.File
	err error
}

func (ld *loader) fail(format string, args ...any) {
	if ld.err == nil {
		ld.err = fmt.Errorf("model: "+format, args...)
	}
}

func (ld *loader) info(name string, required bool) *gguf.TensorInfo {
	t, ok := ld.f.Tensor(name)
	if !ok {
		if required {
			ld.fail("tensor %q is missing", name)
		}
		return nil
	}
	return t
}

// matrix returns the 2-D weight name of shape [cols, rows] (ggml order:
// a row has cols elements), or nil if it is absent and optional.
func (ld *loader) matrix(name string, cols, rows int, required bool) *tensor.Matrix {
	t := ld.info(name, required)
	if t == nil {
		return nil
	}
	if len(t.Dims) != 2 || t.Dims[0] != uint64(cols) || t.Dims[1] != uint64(rows) {
		ld.fail("tensor %q has shape %v, but the metadata implies [%d %d]", name, t.Dims, cols, rows)
		return nil
	}
	if !t.Type.Supported() {
		ld.fail("tensor %q has type %s, which the engine cannot compute with", name, t.Type)
		return nil
	}
	m := &tensor.Matrix{Type: t.Type, Rows: rows, Cols: cols, Data: ld.f.TensorData(t)}
	if err := m.Validate(); err != nil {
		ld.fail("tensor %q: %v", name, err)
		return nil
	}
	return m
}

// vector returns the 1-D tensor name of n elements converted to float32
// (norm weights, biases, rope factors: small, so a copy costs nothing).
func (ld *loader) vector(name string, n int, required bool) []float32 {
	t := ld.info(name, required)
	if t == nil {
		return nil
	}
	if len(t.Dims) != 1 || t.Dims[0] != uint64(n) {
		ld.fail("tensor %q has shape %v, but the metadata implies [%d]", name, t.Dims, n)
		return nil
	}
	v := make([]float32, n)
	if err := tensor.Dequantize(t.Type, v, ld.f.TensorData(t)); err != nil {
		ld.fail("tensor %q: %v", name, err)
		return nil
	}
	return v
}

// layer holds one transformer block's weights. Optional ones are nil when
// the architecture or the file does without them.
type layer struct {
	attnNorm, ffnNorm         []float32
	postAttnNorm, postFFNNorm []float32 // Gemma
	qNorm, kNorm              []float32 // per-head RMSNorm (Qwen 3, Gemma 3)
	wq, wk, wv, wqkv, wo      *tensor.Matrix
	bq, bk, bv, bo            []float32
	gate, up, down            *tensor.Matrix // up holds gate and up stacked when gate is nil (Phi-3)
	swa                       bool
	moe                       *moeLayer // set instead of gate, up, down in a mixture of experts
}

// loadLayers binds the blocks' tensors with llama.cpp's names. The
// architecture says which of the optional ones it requires.
func (m *Model) loadLayers(ld *loader, req archTensors) {
	c := &m.cfg
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	m.layers = make([]layer, c.Layers)
	for il := range m.layers {
		l := &m.layers[il]
		n := func(s string) string { return fmt.Sprintf("blk.%d.%s", il, s) }
		l.attnNorm = ld.vector(n("attn_norm.weight"), c.Embed, true)
		l.ffnNorm = ld.vector(n("ffn_norm.weight"), c.Embed, true)
		if req.postNorms {
			l.postAttnNorm = ld.vector(n("post_attention_norm.weight"), c.Embed, true)
			l.postFFNNorm = ld.vector(n("post_ffw_norm.weight"), c.Embed, true)
		}
		l.qNorm = ld.vector(n("attn_q_norm.weight"), c.HeadDim, req.qkNorm)
		l.kNorm = ld.vector(n("attn_k_norm.weight"), c.HeadDim, req.qkNorm)
		if req.fusedQKV {
			l.wqkv = ld.matrix(n("attn_qkv.weight"), c.Embed, qDim+2*kvDim, true)
		} else {
			l.wq = ld.matrix(n("attn_q.weight"), c.Embed, qDim, true)
			l.wk = ld.matrix(n("attn_k.weight"), c.Embed, kvDim, true)
			l.wv = ld.matrix(n("attn_v.weight"), c.Embed, kvDim, true)
			l.bq = ld.vector(n("attn_q.bias"), qDim, req.qkvBias)
			l.bk = ld.vector(n("attn_k.bias"), kvDim, req.qkvBias)
			l.bv = ld.vector(n("attn_v.bias"), kvDim, req.qkvBias)
		}
		l.wo = ld.matrix(n("attn_output.weight"), qDim, c.Embed, true)
		l.bo = ld.vector(n("attn_output.bias"), c.Embed, false)
		if c.Experts > 0 {
			l.moe = ld.moeLayer(n, c)
		} else if ld.info(n("ffn_gate_inp.weight"), false) != nil {
			ld.fail("tensor %q is a mixture-of-experts router, but %s.expert_count is missing or 0", n("ffn_gate_inp.weight"), c.Arch)
		} else if req.moe {
			ld.fail("%s.expert_count is missing or 0: %s is a mixture-of-experts architecture", c.Arch, c.Arch)
		} else if req.fusedGateUp {
			l.up = ld.matrix(n("ffn_up.weight"), c.Embed, 2*c.FFN, true)
		} else {
			l.gate = ld.matrix(n("ffn_gate.weight"), c.Embed, c.FFN, true)
			l.up = ld.matrix(n("ffn_up.weight"), c.Embed, c.FFN, true)
		}
		if l.moe == nil && ld.err == nil {
			l.down = ld.matrix(n("ffn_down.weight"), c.FFN, c.Embed, true)
		}
		l.swa = c.SWALayers[il]
		if ld.err != nil {
			return
		}
	}
}

// archTensors says which optional tensors an architecture requires.
type archTensors struct {
	postNorms   bool // Gemma's post-attention and post-FFN norms
	qkNorm      bool
	qkvBias     bool
	fusedQKV    bool
	fusedGateUp bool
	moe         bool // a mixture of experts in every block (expert_count required)
}
