package model

import (
	"math"

	"github.com/raym33/ainative/internal/tensor"
)

// Mixture of experts (Mixtral-style llama files, qwen3moe): a block's
// feed-forward is one of several experts per token. A router scores every
// expert, the top ExpertsUsed run on the token and their outputs are
// summed, weighted by the router's probabilities. This is llama.cpp's
// build_moe_ffn, step for step:
//
//	p = softmax(router · x)            (or sigmoid, per expert_gating_func)
//	S = the ExpertsUsed largest p, in descending order
//	w = p[S] / sum(p[S])               (when ExpertNorm), times ExpertScale
//	out = sum over j of w_j · down_Sj(silu(gate_Sj(x)) * up_Sj(x)), in S order
//
// The experts are computed grouped: the pass sorts the batch's (token,
// expert) pairs by expert, and each chosen expert multiplies all its
// tokens' rows at once, so that a prompt or a batch of sequences still
// runs matrix x matrix and an expert's weights are read once per pass. A
// single-token step reads only the chosen experts' weights.

// moeLayer is one block's experts. Expert e's matrices are views of
// slice e of the GGUF tensors' last dimension, over the mapped file.
type moeLayer struct {
	router           *tensor.Matrix // [Embed] -> [Experts], ffn_gate_inp
	gate, up, down   []tensor.Matrix
	activeBytesToken int64 // the bytes of the router and ExpertsUsed experts
}

// moeLayer binds a block's router and experts.
func (ld *loader) moeLayer(n func(string) string, c *Config) *moeLayer {
	l := &moeLayer{router: ld.matrix(n("ffn_gate_inp.weight"), c.Embed, c.Experts, true)}
	l.gate = ld.experts(n("ffn_gate_exps.weight"), c.Embed, c.ExpertFFN, c.Experts)
	l.up = ld.experts(n("ffn_up_exps.weight"), c.Embed, c.ExpertFFN, c.Experts)
	l.down = ld.experts(n("ffn_down_exps.weight"), c.ExpertFFN, c.Embed, c.Experts)
	if ld.err != nil {
		return nil
	}
	l.activeBytesToken = int64(len(l.router.Data)) +
		int64(c.ExpertsUsed)*int64(len(l.gate[0].Data)+len(l.up[0].Data)+len(l.down[0].Data))
	return l
}

// experts returns the count matrices of shape [cols, rows] stacked in the
// 3-D tensor name (GGUF dims {cols, rows, count}), as views of its data.
func (ld *loader) experts(name string, cols, rows, count int) []tensor.Matrix {
	t := ld.info(name, true)
	if t == nil {
		return nil
	}
	if len(t.Dims) != 3 || t.Dims[0] != uint64(cols) || t.Dims[1] != uint64(rows) || t.Dims[2] != uint64(count) {
		ld.fail("tensor %q has shape %v, but the metadata implies [%d %d %d] (%d experts)", name, t.Dims, cols, rows, count, count)
		return nil
	}
	if !t.Type.Supported() {
		ld.fail("tensor %q has type %s, which the engine cannot compute with", name, t.Type)
		return nil
	}
	data := ld.f.TensorData(t)
	if len(data)%count != 0 {
		ld.fail("tensor %q: %d bytes do not split into %d experts", name, len(data), count)
		return nil
	}
	per := len(data) / count
	ms := make([]tensor.Matrix, count)
	for e := range ms {
		ms[e] = tensor.Matrix{Type: t.Type, Rows: rows, Cols: cols, Data: data[e*per : (e+1)*per : (e+1)*per]}
		if err := ms[e].Validate(); err != nil {
			ld.fail("tensor %q, expert %d: %v", name, e, err)
			return nil
		}
	}
	return ms
}

// moeScratch holds a pass's routing and the experts' rows, grouped by
// expert: row r of xe, ge and ue belongs to token tokOf[r].
type moeScratch struct {
	probs  []float32 // [ub][Experts]: router logits, then probabilities
	sel    []int32   // [ub][ExpertsUsed]: chosen experts, in descending probability
	w      []float32 // [ub][ExpertsUsed]: their weights
	rowOf  []int32   // [ub*ExpertsUsed]: grouped row of each (token, choice)
	tokOf  []int32   // [ub*ExpertsUsed]: token of each grouped row
	off    []int32   // [Experts+1]: first grouped row of each expert
	fill   []int32   // [Experts]
	xe     []float32 // [ub*ExpertsUsed][Embed]: inputs, then the experts' outputs
	ge, ue []float32 // [ub*ExpertsUsed][ExpertFFN]
}

func newMoEScratch(c *Config, ub int) *moeScratch {
	k := c.ExpertsUsed
	return &moeScratch{
		probs: make([]float32, ub*c.Experts),
		sel:   make([]int32, ub*k),
		w:     make([]float32, ub*k),
		rowOf: make([]int32, ub*k),
		tokOf: make([]int32, ub*k),
		off:   make([]int32, c.Experts+1),
		fill:  make([]int32, c.Experts),
		xe:    make([]float32, ub*k*c.Embed),
		ge:    make([]float32, ub*k*c.ExpertFFN),
		ue:    make([]float32, ub*k*c.ExpertFFN),
	}
}

// moeFloatsPerToken is the scratch a token of a ubatch takes for the
// experts (see moeScratch), in floats.
func moeFloatsPerToken(c *Config) int {
	if c.Experts == 0 {
		return 0
	}
	return c.Experts + 4*c.ExpertsUsed + c.ExpertsUsed*(c.Embed+2*c.ExpertFFN)
}

// route turns token t's router logits into its chosen experts and their
// weights, as build_moe_ffn does.
func (m *Model) route(ms *moeScratch, t int) {
	c := &m.cfg
	X, k := c.Experts, c.ExpertsUsed
	p := ms.probs[t*X : (t+1)*X]
	if c.ExpertGating == GatingSigmoid {
		for i, v := range p {
			p[i] = 1 / (1 + float32(math.Exp(float64(-v)))) // ggml_vec_sigmoid_f32
		}
	} else {
		softmax(p, 1, 0, X)
	}
	sel, w := ms.sel[t*k:(t+1)*k], ms.w[t*k:(t+1)*k]
	// Top-k by selection: the largest not yet chosen, the lowest index on
	// ties. k and X are small (at most a few hundred comparisons).
	for j := range sel {
		best := -1
	next:
		for e, v := range p {
			for _, s := range sel[:j] {
				if int(s) == e {
					continue next
				}
			}
			if best < 0 || v > p[best] {
				best = e
			}
		}
		sel[j], w[j] = int32(best), p[best]
	}
	if c.ExpertNorm {
		var sum float64 // ggml_sum_rows sums in double
		for _, v := range w {
			sum += float64(v)
		}
		s := max(float32(sum), 6.103515625e-5) // ggml_clamp in build_moe_ffn
		for j := range w {
			w[j] /= s
		}
	}
	if c.ExpertScale != 0 {
		scale(w, c.ExpertScale)
	}
}

// group sorts the n tokens' choices by expert: it fills off, rowOf and
// tokOf. Within an expert, rows keep token order.
func (ms *moeScratch) group(n, k int) {
	clear(ms.fill)
	for _, e := range ms.sel[:n*k] {
		ms.fill[e]++
	}
	ms.off[0] = 0
	for e, cnt := range ms.fill {
		ms.off[e+1] = ms.off[e] + cnt
	}
	clear(ms.fill)
	for i, e := range ms.sel[:n*k] {
		r := ms.off[e] + ms.fill[e]
		ms.fill[e]++
		ms.rowOf[i] = r
		ms.tokOf[r] = int32(i / k)
	}
}

// moeFFN runs the experts of block l on the n rows of s.xn and writes the
// weighted sum to s.o.
func (m *Model) moeFFN(p *pass, l *moeLayer, n int) {
	s, ms, pool := m.s, m.s.moe, m.pool
	c := &m.cfg
	E, F, k := c.Embed, c.ExpertFFN, c.ExpertsUsed
	pool.MatMul(ms.probs, l.router, s.xn, n)
	pool.For(n, p.route)
	if m.routeHook != nil {
		m.routeHook(p.il, ms.sel[:n*k], ms.probs[:n*c.Experts])
	}
	ms.group(n, k)
	pool.For(n*k, p.gather)
	for e := range c.Experts {
		lo, hi := int(ms.off[e]), int(ms.off[e+1])
		if lo == hi {
			continue // not chosen: its weights are not read
		}
		pool.MatMul(ms.ge[lo*F:hi*F], &l.gate[e], ms.xe[lo*E:hi*E], hi-lo)
		pool.MatMul(ms.ue[lo*F:hi*F], &l.up[e], ms.xe[lo*E:hi*E], hi-lo)
	}
	pool.For(n*k, p.moeAct)
	for e := range c.Experts {
		lo, hi := int(ms.off[e]), int(ms.off[e+1])
		if lo == hi {
			continue
		}
		pool.MatMul(ms.xe[lo*E:hi*E], &l.down[e], ms.ge[lo*F:hi*F], hi-lo)
	}
	pool.For(n, p.combine)
}

// newMoEPass builds the loop bodies of the experts' steps.
func (m *Model) newMoEPass(p *pass, s *scratch) {
	c := &m.cfg
	E, F, k := c.Embed, c.ExpertFFN, c.ExpertsUsed
	ms := s.moe
	p.route = func(lo, hi int) {
		for t := lo; t < hi; t++ {
			m.route(ms, t)
		}
	}
	p.gather = func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := int(ms.tokOf[r])
			copy(ms.xe[r*E:(r+1)*E], s.xn[t*E:(t+1)*E])
		}
	}
	p.moeAct = func(lo, hi int) {
		tensor.SwiGLU(ms.ge[lo*F:hi*F], ms.ue[lo*F:hi*F])
	}
	p.combine = func(lo, hi int) {
		// ggml_mul by the weights, then ggml_add of the experts in
		// selection order: each product rounded before it is added.
		for t := lo; t < hi; t++ {
			o := s.o[t*E : (t+1)*E]
			for j := range k {
				r := int(ms.rowOf[t*k+j])
				x, w := ms.xe[r*E:(r+1)*E], ms.w[t*k+j]
				if j == 0 {
					for i, v := range x {
						o[i] = v * w
					}
					continue
				}
				for i, v := range x {
					o[i] += float32(v * w)
				}
			}
		}
	}
}
