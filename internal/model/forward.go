package model

import (
	"context"

	"github.com/raym33/ainative/internal/tensor"
)

// scratch holds the buffers of a forward pass, sized for one ubatch and
// reused by every pass, so that decoding allocates nothing per token and
// a long prompt needs no more memory than a short one.
type scratch struct {
	x, xn, o  []float32     // [ub][Embed]: residual stream, normed input, block output
	q, k, v   []float32     // [ub][qDim], [ub][kvDim]: projections (nil when fused)
	qkv       []float32     // [ub][qDim+2*kvDim]: fused projection (Phi-3)
	qg        []float32     // queries grouped by KV head: [KVHeads][ub][group][HeadDim]
	attn      []float32     // [ub][qDim]: attention output, heads concatenated
	gate, up  []float32     // [ub][FFN]; up is [ub][2*FFN] when fused (Phi-3)
	cs, csSWA []float32     // RoPE cos/sin per token: [ub][Dims]
	scores    []float32     // scores, then probabilities, of a chunk of queries
	vt        []byte        // one KV head's visible values, transposed, contiguous
	pv        []float32     // [rows][HeadDim]: attention output of a chunk
	K, V      tensor.Matrix // views of the cache for the chunk in progress
	pass      *pass         // the loop bodies and their parameters
}

// scoresBudget bounds the attention scores of one chunk of queries
// (floats); the chunk shrinks as the context grows. A variable for tests.
var scoresBudget = 1 << 20

func (m *Model) dims() (qDim, kvDim, group int) {
	c := &m.cfg
	return c.Heads * c.HeadDim, c.KVHeads * c.HeadDim, c.Heads / c.KVHeads
}

// scratchPerToken is the scratch memory a token of a ubatch takes, in
// bytes, for choosing the ubatch size.
func (m *Model) scratchPerToken() int {
	c := &m.cfg
	qDim, kvDim, _ := m.dims()
	floats := 3*c.Embed + 2*(qDim+2*kvDim) + qDim + 3*c.FFN + 2*c.Rope.Dims
	// MatMul converts the activations of a product (at most FFN wide) to
	// the weights' dot type: at most 4 bytes an element.
	return 4*floats + 4*c.FFN
}

func (m *Model) newScratch() *scratch {
	c := &m.cfg
	ub := m.ubatch
	qDim, kvDim, group := m.dims()
	s := &scratch{
		x:    make([]float32, ub*c.Embed),
		xn:   make([]float32, ub*c.Embed),
		o:    make([]float32, ub*c.Embed),
		qg:   make([]float32, ub*qDim),
		attn: make([]float32, ub*qDim),
		gate: make([]float32, ub*c.FFN),
		cs:   make([]float32, ub*c.Rope.Dims),
	}
	if m.arch.tensors.fusedQKV {
		s.qkv = make([]float32, ub*(qDim+2*kvDim))
	} else {
		s.q = make([]float32, ub*qDim)
		s.k = make([]float32, ub*kvDim)
		s.v = make([]float32, ub*kvDim)
	}
	if m.arch.tensors.fusedGateUp {
		s.up = make([]float32, ub*2*c.FFN)
	} else {
		s.up = make([]float32, ub*c.FFN)
	}
	if m.ropeSWA != m.rope {
		s.csSWA = make([]float32, ub*c.Rope.Dims)
	} else {
		s.csSWA = s.cs
	}
	budget := max(scoresBudget, group*m.ctxLen)
	s.scores = make([]float32, budget)
	s.vt = make([]byte, c.HeadDim*m.ctxLen*kvElemSize(m.kvType))
	s.pv = make([]float32, ub*qDim)
	s.pass = m.newPass(s)
	return s
}

// pass is the state of the forward pass in progress. The loop bodies
// given to the pool are built once per model and read their parameters
// from here, so that a decode step allocates nothing.
type pass struct {
	m      *Model
	seq    *Sequence
	tokens []int32
	n      int // rows in the scratch buffers
	pos0   int // position of the first token
	il     int
	l      *layer
	r      *rope
	cs     []float32
	logits []float32
	// hidden: write the normed hidden states into logits instead of
	// multiplying them by the output matrix (OutputEmbeddings, embed.go).
	hidden bool

	// The attention chunk in progress: queries [t0, ...) of one KV
	// head against keys [kvLo, kvLo+nk).
	sc                   []float32
	t0, kvLo, nk, window int

	embed, attnNorm, qkv, postAttn, act, postFFN, outNorm, softcap, softmax func(lo, hi int)
}

func (m *Model) newPass(s *scratch) *pass {
	c := &m.cfg
	E, F, D := c.Embed, c.FFN, c.Rope.Dims
	_, _, group := m.dims()
	p := &pass{m: m}
	p.embed = func(lo, hi int) {
		for t := lo; t < hi; t++ {
			row := s.x[t*E : (t+1)*E]
			// Cannot fail: the table was validated and the token checked.
			_ = tensor.Dequantize(m.tokEmbd.Type, row, m.tokEmbd.Row(int(p.tokens[t])))
			if m.embedScale != 0 {
				scale(row, m.embedScale)
			}
			m.rope.table(s.cs[t*D:(t+1)*D], p.pos0+t)
			if m.ropeSWA != m.rope {
				m.ropeSWA.table(s.csSWA[t*D:(t+1)*D], p.pos0+t)
			}
		}
	}
	p.attnNorm = func(lo, hi int) {
		for t := lo; t < hi; t++ {
			rmsNorm(s.xn[t*E:(t+1)*E], s.x[t*E:(t+1)*E], p.l.attnNorm, c.NormEps)
		}
	}
	p.qkv = func(lo, hi int) {
		for t := lo; t < hi; t++ {
			m.prepareQKV(p.seq, p.l, p.il, t, p.pos0+t, p.r, p.cs[t*D:(t+1)*D])
		}
	}
	p.postAttn = func(lo, hi int) {
		l := p.l
		for t := lo; t < hi; t++ {
			o, x := s.o[t*E:(t+1)*E], s.x[t*E:(t+1)*E]
			if l.bo != nil {
				add(o, l.bo)
			}
			if l.postAttnNorm != nil {
				rmsNorm(o, o, l.postAttnNorm, c.NormEps)
			}
			add(x, o)
			rmsNorm(s.xn[t*E:(t+1)*E], x, l.ffnNorm, c.NormEps)
		}
	}
	p.act = func(lo, hi int) {
		for t := lo; t < hi; t++ {
			g := s.gate[t*F : (t+1)*F]
			var u []float32
			if p.l.gate == nil { // fused: gate and up halves of one row
				row := s.up[t*2*F : (t+1)*2*F]
				copy(g, row[:F])
				u = row[F:]
			} else {
				u = s.up[t*F : (t+1)*F]
			}
			if m.arch.gelu {
				geglu(g, u)
			} else {
				swiglu(g, u)
			}
		}
	}
	p.postFFN = func(lo, hi int) {
		for t := lo; t < hi; t++ {
			o := s.o[t*E : (t+1)*E]
			if p.l.postFFNNorm != nil {
				rmsNorm(o, o, p.l.postFFNNorm, c.NormEps)
			}
			add(s.x[t*E:(t+1)*E], o)
		}
	}
	p.outNorm = func(lo, hi int) {
		for t := lo; t < hi; t++ {
			rmsNorm(s.xn[t*E:(t+1)*E], s.x[t*E:(t+1)*E], m.outputNorm, c.NormEps)
		}
	}
	p.softcap = func(lo, hi int) {
		softcap(p.logits[lo*c.Vocab:hi*c.Vocab], c.FinalSoftcap)
	}
	p.softmax = func(lo, hi int) {
		nk := p.nk
		for r := lo; r < hi; r++ {
			row := p.sc[r*nk : (r+1)*nk]
			pos := p.pos0 + p.t0 + r/group
			jLo, jHi := 0, pos-p.kvLo+1
			if p.window > 0 {
				jLo = max(0, pos-p.window+1-p.kvLo)
			}
			if c.AttnSoftcap != 0 {
				softcap(row[jLo:jHi], c.AttnSoftcap)
			}
			softmax(row, m.kqScale, jLo, jHi)
		}
	}
	return p
}

// forwardChunk runs one ubatch of tokens at positions seq.n... through
// the model and writes the logits of rows [oLo, len(tokens)) into logits
// (nil when no row is wanted).
func (m *Model) forwardChunk(ctx context.Context, seq *Sequence, tokens []int32, oLo int, logits []float32) error {
	p := m.s.pass
	defer func() { p.seq, p.tokens, p.logits, p.l = nil, nil, nil, nil }()
	p.seq, p.tokens, p.n, p.pos0, p.logits = seq, tokens, len(tokens), seq.n, logits
	if logits == nil {
		oLo = p.n
	}
	m.pool.For(p.n, p.embed)
	for il := range m.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		keepFrom := 0
		if il == len(m.layers)-1 {
			keepFrom = oLo
		}
		m.block(p, il, keepFrom)
	}
	if logits == nil || p.n == 0 {
		return nil
	}
	m.pool.For(p.n, p.outNorm)
	if p.hidden { // OutputEmbeddings: the normed rows are the result
		copy(logits, m.s.xn[:p.n*m.cfg.Embed])
		return ctx.Err()
	}
	m.pool.MatMul(logits, m.output, m.s.xn, p.n)
	if m.cfg.FinalSoftcap != 0 {
		m.pool.For(p.n, p.softcap)
	}
	return ctx.Err()
}

// block runs transformer block il over the p.n rows in the scratch
// buffers. The last block drops rows [0, keepFrom) after attention,
// because only the rows whose logits are wanted need the rest of the
// network (llama.cpp's inp_out_ids); p.n is updated.
func (m *Model) block(p *pass, il, keepFrom int) {
	c := &m.cfg
	l := &m.layers[il]
	s := m.s
	pool := m.pool
	E, n := c.Embed, p.n
	p.il, p.l = il, l

	pool.For(n, p.attnNorm)
	if l.wqkv != nil {
		pool.MatMul(s.qkv, l.wqkv, s.xn, n)
	} else {
		pool.MatMul(s.q, l.wq, s.xn, n)
		pool.MatMul(s.k, l.wk, s.xn, n)
		pool.MatMul(s.v, l.wv, s.xn, n)
	}
	p.r, p.cs = m.rope, s.cs
	if l.swa {
		p.r, p.cs = m.ropeSWA, s.csSWA
	}
	pool.For(n, p.qkv)
	m.attention(p)
	pool.MatMul(s.o, l.wo, s.attn, n)

	if keepFrom > 0 {
		copy(s.o, s.o[keepFrom*E:n*E])
		copy(s.x, s.x[keepFrom*E:n*E])
		n -= keepFrom
		p.n = n
		if n == 0 {
			return
		}
	}
	pool.For(n, p.postAttn)
	if l.gate != nil {
		pool.MatMul(s.gate, l.gate, s.xn, n)
	}
	pool.MatMul(s.up, l.up, s.xn, n)
	pool.For(n, p.act)
	pool.MatMul(s.o, l.down, s.gate, n)
	pool.For(n, p.postFFN)
}
