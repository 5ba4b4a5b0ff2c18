package model

import (
	"context"
	"sync/atomic"

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
	kt        []byte        // one KV head's visible keys, gathered from the blocks
	vt        []byte        // one KV head's visible values, transposed, contiguous
	pv        []float32     // [rows][HeadDim]: attention output of a chunk
	K, V      tensor.Matrix // views of the cache for the chunk in progress
	moe       *moeScratch   // routing and expert rows (mixture of experts only)
	pass      *pass         // the loop bodies and their parameters
	ub        ubatch        // the batch in progress

	// The per-pair attention path (see attention): one slot of buffers
	// per thread, handed out by slotNext, and the groups it computes.
	slots    []attnSlot
	slotNext atomic.Int32
	pairs    []int32
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
	ffn := c.FFN
	if c.Experts > 0 {
		ffn = 0 // no dense feed-forward buffers
	}
	floats := 3*c.Embed + 2*(qDim+2*kvDim) + qDim + 3*ffn + 2*c.Rope.Dims + moeFloatsPerToken(c)
	// MatMul converts the activations of a product (at most FFN wide) to
	// the weights' dot type: at most 4 bytes an element.
	return 4*floats + 4*max(c.FFN, c.ExpertFFN, c.Embed)
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
		cs:   make([]float32, ub*c.Rope.Dims),
	}
	if m.arch.tensors.fusedQKV {
		s.qkv = make([]float32, ub*(qDim+2*kvDim))
	} else {
		s.q = make([]float32, ub*qDim)
		s.k = make([]float32, ub*kvDim)
		s.v = make([]float32, ub*kvDim)
	}
	switch {
	case c.Experts > 0:
		s.moe = newMoEScratch(c, ub)
	case m.arch.tensors.fusedGateUp:
		s.gate = make([]float32, ub*c.FFN)
		s.up = make([]float32, ub*2*c.FFN)
	default:
		s.gate = make([]float32, ub*c.FFN)
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
	s.kt = make([]byte, c.HeadDim*m.ctxLen*kvElemSize(m.kvType))
	s.ub = newUbatch(ub)
	// A slot holds the keys and values of up to 2048 positions: longer
	// contexts take the pooled path, whose products are large enough to
	// split.
	slotPos := min(m.ctxLen, 2048)
	s.slots = make([]attnSlot, m.pool.Threads())
	for i := range s.slots {
		s.slots[i] = attnSlot{
			kt: make([]byte, c.HeadDim*slotPos*kvElemSize(m.kvType)),
			vt: make([]byte, c.HeadDim*slotPos*kvElemSize(m.kvType)),
			sc: make([]float32, pairTokens*group*slotPos),
			pv: make([]float32, pairTokens*group*c.HeadDim),
		}
	}
	s.pairs = make([]int32, 0, ub)
	s.pv = make([]float32, ub*qDim)
	s.pass = m.newPass(s)
	return s
}

// pass is the state of the forward pass in progress. The loop bodies
// given to the pool are built once per model and read their parameters
// from here, so that a decode step allocates nothing.
type pass struct {
	m     *Model
	c     *Cache
	u     *ubatch
	n     int // rows in the scratch buffers
	il    int
	l     *layer
	st    *kvStore // the store holding layer il
	sl    int      // layer il's index in st
	cells []int32  // cell of each row in st
	r     *rope
	cs    []float32
	out   []float32

	// The attention chunk in progress: queries [t0, ...) of one KV
	// head, of the group whose first position is pos0, against keys
	// [kvLo, kvLo+nk).
	sc                         []float32
	pos0, t0, kvLo, nk, window int

	embed, attnNorm, qkv, postAttn, act, postFFN, outNorm, softcap, softmax, attnPairs func(lo, hi int)
	route, gather, moeAct, combine                                                     func(lo, hi int) // moe.go
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
			_ = tensor.Dequantize(m.tokEmbd.Type, row, m.tokEmbd.Row(int(p.u.tokens[t])))
			if m.embedScale != 0 {
				scale(row, m.embedScale)
			}
			pos := int(p.u.pos[t])
			m.rope.table(s.cs[t*D:(t+1)*D], pos)
			if m.ropeSWA != m.rope {
				m.ropeSWA.table(s.csSWA[t*D:(t+1)*D], pos)
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
			m.prepareQKV(p, t, p.cs[t*D:(t+1)*D])
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
				tensor.SwiGLU(g, u)
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
		softcap(p.out[lo*c.Vocab:hi*c.Vocab], c.FinalSoftcap)
	}
	p.softmax = func(lo, hi int) {
		for r := lo; r < hi; r++ {
			m.softmaxRow(p.sc[r*p.nk:(r+1)*p.nk], p.pos0+p.t0+r/group, p.kvLo, p.window)
		}
	}
	p.attnPairs = func(lo, hi int) {
		sl := &s.slots[s.slotNext.Add(1)-1]
		for i := lo; i < hi; i++ {
			g := p.u.groups[s.pairs[i/c.KVHeads]]
			m.attendPair(p, sl, g, i%c.KVHeads)
		}
	}
	if s.moe != nil {
		m.newMoEPass(p, s)
	}
	return p
}

// forwardUbatch runs the prepared batch u, whose keys and values go to
// cells of c, through the model and writes the outputs of the wanted rows
// (logits, or with embeddings the final normed hidden states) to out in
// output order.
func (m *Model) forwardUbatch(ctx context.Context, c *Cache, u *ubatch, out []float32, embeddings bool) error {
	p := m.s.pass
	defer func() { p.c, p.u, p.out, p.l, p.st, p.cells = nil, nil, nil, nil, nil, nil }()
	p.c, p.u, p.n = c, u, u.groups[len(u.groups)-1].t1
	m.pool.For(p.n, p.embed)
	for il := range m.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.block(p, il, il == len(m.layers)-1)
	}
	if u.nOut == 0 {
		return nil
	}
	m.pool.For(p.n, p.outNorm)
	if embeddings {
		copy(out, m.s.xn[:p.n*m.cfg.Embed])
		return ctx.Err()
	}
	p.out = out
	m.pool.MatMul(out, m.output, m.s.xn, p.n)
	if m.cfg.FinalSoftcap != 0 {
		m.pool.For(p.n, p.softcap)
	}
	return ctx.Err()
}

// keepOutputs drops the rows whose outputs are not wanted and puts the
// others in output order, in the residual stream x and the attention
// output o: only they need the rest of the last block (llama.cpp's
// inp_out_ids). p.n becomes the number of outputs.
func (m *Model) keepOutputs(p *pass) {
	s, u, E := m.s, p.u, m.cfg.Embed
	for _, buf := range [][]float32{s.x, s.o} {
		for t := 0; t < p.n; t++ {
			if o := u.out[t]; o >= 0 {
				copy(s.xn[int(o)*E:int(o+1)*E], buf[t*E:(t+1)*E])
			}
		}
		copy(buf, s.xn[:u.nOut*E])
	}
	p.n = u.nOut
}

// block runs transformer block il over the p.n rows in the scratch
// buffers. The last block keeps only the wanted rows after attention
// (see keepOutputs).
func (m *Model) block(p *pass, il int, last bool) {
	l := &m.layers[il]
	s := m.s
	pool := m.pool
	n := p.n
	p.il, p.l = il, l
	p.st, p.sl = p.c.layerStore[il], p.c.layerIdx[il]
	p.cells = p.u.cellF
	if p.st == p.c.swa {
		p.cells = p.u.cellS
	}

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

	if last {
		m.keepOutputs(p)
		if n = p.n; n == 0 {
			return
		}
	}
	pool.For(n, p.postAttn)
	if l.moe != nil {
		m.moeFFN(p, l.moe, n)
		pool.For(n, p.postFFN)
		return
	}
	if l.gate != nil {
		pool.MatMul(s.gate, l.gate, s.xn, n)
	}
	pool.MatMul(s.up, l.up, s.xn, n)
	pool.For(n, p.act)
	pool.MatMul(s.o, l.down, s.gate, n)
	pool.For(n, p.postFFN)
}
