package model

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/tensor"
)

// Encoders: the BERT family used for sentence embeddings (all-MiniLM,
// bge, nomic-embed-text). They differ from the decoders in every block:
// attention sees the whole text (no causal mask, no KV cache: a text is
// evaluated in one pass), LayerNorm with bias comes after each residual
// addition, and the embeddings add a token-type row (and, for BERT, a
// learnt position row) before their own LayerNorm. The graph is
// llama.cpp's build_bert, step by step, with its GELU (the F16 table of
// the tanh approximation) and token type 0 for every token.

// encoderArch says what distinguishes an encoder architecture.
type encoderArch struct {
	rope bool // rotary positions (NeoX) instead of a position table
	// fusedQKV: one Wqkv product; gated: SwiGLU FFN without biases
	// (nomic-bert) instead of GELU(up)·down with biases (bert).
	fusedQKV, gated bool
}

var encoderArchs = map[string]*encoderArch{
	"bert":       {},
	"nomic-bert": {rope: true, fusedQKV: true, gated: true},
}

// encoder holds an encoder model's weights.
type encoder struct {
	arch     *encoderArch
	tokEmbd  *tensor.Matrix
	posEmbd  *tensor.Matrix // bert: [ctx][Embed]
	typeRow0 []float32      // token type 0's row, added to every token
	normW    []float32      // embedding LayerNorm
	normB    []float32
	layers   []encoderLayer
}

type encoderLayer struct {
	wq, wk, wv, wqkv, wo *tensor.Matrix
	bq, bk, bv, bo       []float32
	attnNormW, attnNormB []float32 // after attention + residual
	up, gate, down       *tensor.Matrix
	bUp, bDown           []float32
	outNormW, outNormB   []float32 // after FFN + residual
}

// readEncoderConfig reads an encoder's hyperparameters. Encoders use
// LayerNorm, so their epsilon is attention.layer_norm_epsilon.
func readEncoderConfig(f *gguf.File, name string, a *encoderArch) (Config, error) {
	m := &meta{f: f, arch: name}
	c := Config{Arch: name}
	c.Embed = m.uint("embedding_length")
	c.Layers = m.uint("block_count")
	c.ContextLength = m.uint("context_length")
	c.FFN = m.uint("feed_forward_length")
	c.Heads = m.uint("attention.head_count")
	c.NormEps = m.optFloat("attention.layer_norm_epsilon", 1e-12)
	if m.err != nil {
		return c, m.err
	}
	if c.Embed <= 0 || c.Layers <= 0 || c.FFN <= 0 || c.Heads <= 0 || c.Embed%c.Heads != 0 || (c.Embed/c.Heads)%2 != 0 {
		return c, fmt.Errorf("%w: embedding_length %d, block_count %d, feed_forward_length %d, head_count %d (the heads must divide the embedding into even sizes)",
			errBadConfig, c.Embed, c.Layers, c.FFN, c.Heads)
	}
	if c.ContextLength <= 0 {
		return c, fmt.Errorf("%w: context_length %d", errBadConfig, c.ContextLength)
	}
	if !(c.NormEps >= 0) {
		return c, fmt.Errorf("%w: attention.layer_norm_epsilon %g must not be negative", errBadConfig, c.NormEps)
	}
	c.KVHeads = c.Heads
	c.HeadDim = c.Embed / c.Heads
	c.Rope = RopeConfig{Dims: c.HeadDim, Neox: true, FreqScale: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigContext: c.ContextLength}
	c.Rope.Base = m.optFloat("rope.freq_base", 10000)
	if a.rope && !(c.Rope.Base > 0 && c.Rope.Base < float32(math.Inf(1))) {
		return c, fmt.Errorf("%w: rope.freq_base %g must be positive", errBadConfig, c.Rope.Base)
	}
	c.SWALayers = make([]bool, c.Layers)
	return c, m.err
}

// loadEncoder is Load for encoder architectures.
func loadEncoder(f *gguf.File, opts Options, name string, a *encoderArch) (*Model, error) {
	cfg, err := readEncoderConfig(f, name, a)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", name, err)
	}
	m := &Model{cfg: cfg, ctxLen: cfg.ContextLength, kqScale: 1 / float32(math.Sqrt(float64(cfg.HeadDim)))}
	if opts.ContextLength > 0 && opts.ContextLength < m.ctxLen {
		m.ctxLen = opts.ContextLength
	}
	if m.emb, err = readEmbedMeta(f, name); err != nil {
		return nil, fmt.Errorf("model: %s: %w", name, err)
	}
	e := &encoder{arch: a}
	ld := &loader{f: f}
	E, F := cfg.Embed, cfg.FFN
	embd := ld.info("token_embd.weight", true)
	if embd != nil {
		if len(embd.Dims) != 2 || embd.Dims[0] != uint64(E) || embd.Dims[1] == 0 || embd.Dims[1] > math.MaxInt32 {
			return nil, fmt.Errorf("model: tensor %q has shape %v, want [%d vocab]", embd.Name, embd.Dims, E)
		}
		m.cfg.Vocab = int(embd.Dims[1])
		e.tokEmbd = ld.matrix("token_embd.weight", E, m.cfg.Vocab, true)
	}
	if !a.rope {
		e.posEmbd = ld.matrix("position_embd.weight", E, cfg.ContextLength, true)
	}
	if types := ld.info("token_types.weight", false); types != nil {
		if len(types.Dims) != 2 || types.Dims[0] != uint64(E) || types.Dims[1] == 0 || types.Dims[1] > math.MaxInt32 {
			return nil, fmt.Errorf("model: tensor %q has shape %v, want [%d types]", types.Name, types.Dims, E)
		}
		if tt := ld.matrix("token_types.weight", E, int(types.Dims[1]), true); tt != nil {
			e.typeRow0 = make([]float32, E)
			if err := tensor.Dequantize(tt.Type, e.typeRow0, tt.Row(0)); err != nil {
				return nil, fmt.Errorf("model: tensor %q: %w", types.Name, err)
			}
		}
	}
	e.normW = ld.vector("token_embd_norm.weight", E, true)
	e.normB = ld.vector("token_embd_norm.bias", E, true)
	e.layers = make([]encoderLayer, cfg.Layers)
	for il := range e.layers {
		l := &e.layers[il]
		n := func(s string) string { return fmt.Sprintf("blk.%d.%s", il, s) }
		if a.fusedQKV {
			l.wqkv = ld.matrix(n("attn_qkv.weight"), E, 3*E, true)
		} else {
			l.wq = ld.matrix(n("attn_q.weight"), E, E, true)
			l.wk = ld.matrix(n("attn_k.weight"), E, E, true)
			l.wv = ld.matrix(n("attn_v.weight"), E, E, true)
			l.bq = ld.vector(n("attn_q.bias"), E, true)
			l.bk = ld.vector(n("attn_k.bias"), E, true)
			l.bv = ld.vector(n("attn_v.bias"), E, true)
		}
		l.wo = ld.matrix(n("attn_output.weight"), E, E, true)
		l.bo = ld.vector(n("attn_output.bias"), E, !a.gated)
		l.attnNormW = ld.vector(n("attn_output_norm.weight"), E, true)
		l.attnNormB = ld.vector(n("attn_output_norm.bias"), E, true)
		l.up = ld.matrix(n("ffn_up.weight"), E, F, true)
		l.down = ld.matrix(n("ffn_down.weight"), F, E, true)
		if a.gated {
			l.gate = ld.matrix(n("ffn_gate.weight"), E, F, true)
		} else {
			l.bUp = ld.vector(n("ffn_up.bias"), F, true)
			l.bDown = ld.vector(n("ffn_down.bias"), E, true)
		}
		l.outNormW = ld.vector(n("layer_output_norm.weight"), E, true)
		l.outNormB = ld.vector(n("layer_output_norm.bias"), E, true)
		if ld.err != nil {
			break
		}
	}
	if ld.err != nil {
		return nil, ld.err
	}
	m.enc = e
	m.rope = newRope(m.cfg.Rope, nil)
	m.ropeSWA = m.rope
	m.ubatch = max(512, m.ctxLen)
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	m.pool = tensor.NewPool(threads)
	return m, nil
}

// encScratch holds an encoder pass's buffers for a batch of n tokens.
type encScratch struct {
	x, o, qkv, q, k, v, attn, up, gate []float32
	// One head of one text in attention (grown as needed): keys and
	// transposed values as F32 matrix data, queries, scores, output.
	kh, vth        []byte
	qh, pv, scores []float32
}

func newEncScratch(c *Config, n int) *encScratch {
	E, F := c.Embed, c.FFN
	return &encScratch{
		x: make([]float32, n*E), o: make([]float32, n*E),
		qkv: make([]float32, n*3*E), q: make([]float32, n*E), k: make([]float32, n*E), v: make([]float32, n*E),
		attn: make([]float32, n*E), up: make([]float32, n*F), gate: make([]float32, n*F),
	}
}

// encode runs the encoder over a batch of texts laid end to end (tokens,
// with lens[i] tokens for text i, each at positions 0...) and leaves
// every token's output, the hidden state after the last block, in s.x.
// Row-wise steps (projections, FFN, norms) run over the whole batch, so a
// weight matrix is read once per batch; attention is per text.
func (m *Model) encode(ctx context.Context, s *encScratch, tokens []int32, lens []int) error {
	c := &m.cfg
	e := m.enc
	pool := m.pool
	E, F, hd := c.Embed, c.FFN, c.HeadDim
	n := len(tokens)
	pos := make([]int, n)
	starts := make([]int, len(lens))
	for i, at := 0, 0; i < len(lens); i++ {
		starts[i] = at
		for p := range lens[i] {
			pos[at+p] = p
		}
		at += lens[i]
	}
	tmp := make([]float32, n*E) // position rows
	pool.For(n, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			row := s.x[t*E : (t+1)*E]
			_ = tensor.Dequantize(e.tokEmbd.Type, row, e.tokEmbd.Row(int(tokens[t])))
			if e.typeRow0 != nil {
				add(row, e.typeRow0)
			}
			if e.posEmbd != nil {
				pr := tmp[t*E : (t+1)*E]
				_ = tensor.Dequantize(e.posEmbd.Type, pr, e.posEmbd.Row(pos[t]))
				add(row, pr)
			}
			layerNorm(row, row, e.normW, e.normB, c.NormEps)
		}
	})
	cs := make([]float32, 0)
	if e.arch.rope {
		cs = make([]float32, n*c.Rope.Dims)
		pool.For(n, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				m.rope.table(cs[t*c.Rope.Dims:(t+1)*c.Rope.Dims], pos[t])
			}
		})
	}
	for il := range e.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		l := &e.layers[il]
		q, k, v := s.q, s.k, s.v
		if l.wqkv != nil {
			pool.MatMul(s.qkv, l.wqkv, s.x, n)
			pool.For(n, func(lo, hi int) {
				for t := lo; t < hi; t++ {
					row := s.qkv[t*3*E : (t+1)*3*E]
					copy(q[t*E:(t+1)*E], row[:E])
					copy(k[t*E:(t+1)*E], row[E:2*E])
					copy(v[t*E:(t+1)*E], row[2*E:])
				}
			})
		} else {
			pool.MatMul(q, l.wq, s.x, n)
			pool.MatMul(k, l.wk, s.x, n)
			pool.MatMul(v, l.wv, s.x, n)
		}
		pool.For(n, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				qt, kt, vt := q[t*E:(t+1)*E], k[t*E:(t+1)*E], v[t*E:(t+1)*E]
				if l.bq != nil {
					add(qt, l.bq)
					add(kt, l.bk)
					add(vt, l.bv)
				}
				if e.arch.rope {
					ct := cs[t*c.Rope.Dims : (t+1)*c.Rope.Dims]
					for h := 0; h < c.Heads; h++ {
						m.rope.apply(qt[h*hd:(h+1)*hd], ct)
						m.rope.apply(kt[h*hd:(h+1)*hd], ct)
					}
				}
			}
		})
		for i := range lens {
			m.encoderAttention(s, starts[i], lens[i])
		}
		pool.MatMul(s.o, l.wo, s.attn, n)
		addNorm(pool, n, E, s.o, s.x, l.bo, l.attnNormW, l.attnNormB, c.NormEps)
		pool.MatMul(s.up, l.up, s.x, n)
		if l.gate != nil {
			pool.MatMul(s.gate, l.gate, s.x, n)
			pool.For(n, func(lo, hi int) { tensor.SwiGLU(s.gate[lo*F:hi*F], s.up[lo*F:hi*F]) })
		} else {
			pool.For(n, func(lo, hi int) {
				for t := lo; t < hi; t++ {
					u := s.up[t*F : (t+1)*F]
					add(u, l.bUp)
					gelu(s.gate[t*F:(t+1)*F], u)
				}
			})
		}
		pool.MatMul(s.o, l.down, s.gate, n)
		addNorm(pool, n, E, s.o, s.x, l.bDown, l.outNormW, l.outNormB, c.NormEps)
	}
	return ctx.Err()
}

// addNorm ends a post-norm sublayer over n rows of E values: each row
// of x becomes LayerNorm(o + bias + x), with no bias when it is nil; o
// is overwritten.
func addNorm(pool *tensor.Pool, n, E int, o, x, bias, w, b []float32, eps float32) {
	pool.For(n, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			ot, xt := o[t*E:(t+1)*E], x[t*E:(t+1)*E]
			if bias != nil {
				add(ot, bias)
			}
			add(ot, xt)
			layerNorm(xt, ot, w, b, eps)
		}
	})
}

// encoderAttention is full (non-causal) softmax attention of the text in
// rows [start, start+n) of s.q, s.k, s.v, into s.attn, computed as
// llama.cpp does without a KV cache, head by head: the scores are a
// float32 matrix product of the keys and the queries, the softmax is
// ggml_soft_max_ext's, and the output is the product of the transposed
// values with the probabilities.
func (m *Model) encoderAttention(s *encScratch, start, n int) {
	c := &m.cfg
	E, hd := c.Embed, c.HeadDim
	if cap(s.kh) < n*hd*4 {
		s.kh = make([]byte, n*hd*4)
		s.vth = make([]byte, n*hd*4)
	}
	if cap(s.qh) < n*hd {
		s.qh = make([]float32, n*hd)
		s.pv = make([]float32, n*hd)
	}
	if cap(s.scores) < n*n {
		s.scores = make([]float32, n*n)
	}
	kh, vth, qh, pv, scores := s.kh[:n*hd*4], s.vth[:n*hd*4], s.qh[:n*hd], s.pv[:n*hd], s.scores[:n*n]
	for h := 0; h < c.Heads; h++ {
		for t := range n {
			row := (start+t)*E + h*hd
			copy(qh[t*hd:(t+1)*hd], s.q[row:row+hd])
			for d := range hd {
				binary.LittleEndian.PutUint32(kh[(t*hd+d)*4:], math.Float32bits(s.k[row+d]))
				binary.LittleEndian.PutUint32(vth[(d*n+t)*4:], math.Float32bits(s.v[row+d]))
			}
		}
		K := tensor.Matrix{Type: tensor.F32, Rows: n, Cols: hd, Data: kh}
		m.pool.MatMul(scores, &K, qh, n)
		m.pool.For(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				softmax(scores[i*n:(i+1)*n], m.kqScale, 0, n)
			}
		})
		Vt := tensor.Matrix{Type: tensor.F32, Rows: hd, Cols: n, Data: vth}
		m.pool.MatMul(pv, &Vt, scores, n)
		for t := range n {
			copy(s.attn[(start+t)*E+h*hd:], pv[t*hd:(t+1)*hd])
		}
	}
}

// layerNorm sets dst = (x - mean) / sqrt(var + eps) * w + b, as ggml_norm
// followed by ggml_mul and ggml_add: mean and variance accumulated in
// float64, the rest in float32. dst may be x.
func layerNorm(dst, x, w, b []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := float32(sum / float64(len(x)))
	var sum2 float64
	dst = dst[:len(x)]
	for i, v := range x {
		d := v - mean
		dst[i] = d
		sum2 += float64(d * d)
	}
	variance := float32(sum2 / float64(len(x)))
	s := 1 / float32(math.Sqrt(float64(variance+eps)))
	w, b = w[:len(x)], b[:len(x)]
	for i, v := range dst {
		dst[i] = float32(float32(v*s)*w[i]) + b[i]
	}
}

// gelu sets dst[i] = GELU(x[i]) as ggml_gelu computes it on the CPU: the
// tanh approximation looked up in a table by the F16 rounding of x,
// x itself above 10 and 0 below -10.
func gelu(dst, x []float32) {
	t := geluTable()
	dst = dst[:len(x)]
	for i, v := range x {
		switch {
		case v <= -10:
			dst[i] = 0
		case v >= 10:
			dst[i] = v
		default:
			dst[i] = tensor.FP16ToFP32(t[tensor.FP32ToFP16(v)])
		}
	}
}

// weightBytes is the size of the matrices a pass reads.
func (e *encoder) weightBytes() int64 {
	var n int64
	for i := range e.layers {
		l := &e.layers[i]
		for _, w := range []*tensor.Matrix{l.wq, l.wk, l.wv, l.wqkv, l.wo, l.up, l.gate, l.down} {
			if w != nil {
				n += int64(len(w.Data))
			}
		}
	}
	return n
}
