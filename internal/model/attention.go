package model

import (
	"encoding/binary"
	"math"

	"github.com/raym33/ainative/internal/tensor"
)

// prepareQKV finishes token t's query, key and value (biases, per-head
// norms, RoPE, query scaling, in llama.cpp's order), files the query by
// KV head for attention and writes key and value into the cache.
func (m *Model) prepareQKV(seq *Sequence, l *layer, il, t, pos int, r *rope, cs []float32) {
	c := &m.cfg
	s := m.s
	hd := c.HeadDim
	qDim, kvDim, group := m.dims()
	var q, k, v []float32
	if l.wqkv != nil {
		row := s.qkv[t*(qDim+2*kvDim) : (t+1)*(qDim+2*kvDim)]
		q, k, v = row[:qDim], row[qDim:qDim+kvDim], row[qDim+kvDim:]
	} else {
		q, k, v = s.q[t*qDim:(t+1)*qDim], s.k[t*kvDim:(t+1)*kvDim], s.v[t*kvDim:(t+1)*kvDim]
		if l.bq != nil {
			add(q, l.bq)
			add(k, l.bk)
			add(v, l.bv)
		}
	}
	for h := 0; h < c.Heads; h++ {
		head := q[h*hd : (h+1)*hd]
		if l.qNorm != nil {
			rmsNorm(head, head, l.qNorm, c.NormEps)
		}
		r.apply(head, cs)
		if m.qScale != 0 {
			scale(head, m.qScale)
		}
		// qg[kv][t][g] so that the queries sharing a KV head are rows of
		// one matrix.
		kv, g := h/group, h%group
		copy(s.qg[((kv*m.ubatch+t)*group+g)*hd:], head)
	}
	es := kvElemSize(m.kvType)
	for h := 0; h < c.KVHeads; h++ {
		head := k[h*hd : (h+1)*hd]
		if l.kNorm != nil {
			rmsNorm(head, head, l.kNorm, c.NormEps)
		}
		r.apply(head, cs)
		off := ((h*m.ctxLen + pos) * hd) * es
		_ = tensor.Quantize(m.kvType, seq.k[il][off:off+hd*es], head)
		vt := seq.vt[il][h*hd*m.ctxLen*es:]
		for d, x := range v[h*hd : (h+1)*hd] {
			i := (d*m.ctxLen + pos) * es
			if es == 2 {
				binary.LittleEndian.PutUint16(vt[i:], tensor.FP32ToFP16(x))
			} else {
				binary.LittleEndian.PutUint32(vt[i:], math.Float32bits(x))
			}
		}
	}
}

// attention computes softmax(q·K/√d + mask)·V for the new tokens of
// layer p.il into s.attn, as llama.cpp does without flash attention:
// scores are a matrix product of the cached keys (in the KV type, so with
// an F16 cache the queries are rounded to F16 first) and the queries, the
// softmax is exact float32, and the output is a matrix product of the
// transposed values with the probabilities (rounded to the KV type).
func (m *Model) attention(p *pass) {
	c := &m.cfg
	s := m.s
	pool := m.pool
	hd, ctxLen, n, pos0 := c.HeadDim, m.ctxLen, p.n, p.pos0
	_, _, group := m.dims()
	es := kvElemSize(m.kvType)
	p.window = 0
	if p.l.swa {
		p.window = c.SlidingWindow
	}
	// Queries per chunk, so that the chunk's scores fit the budget.
	tc := min(n, max(1, len(s.scores)/(group*(pos0+n))))
	for h := 0; h < c.KVHeads; h++ {
		keys := p.seq.k[p.il][h*ctxLen*hd*es : (h+1)*ctxLen*hd*es]
		vals := p.seq.vt[p.il][h*hd*ctxLen*es : (h+1)*hd*ctxLen*es]
		for t0 := 0; t0 < n; t0 += tc {
			t1 := min(n, t0+tc)
			kvLo, kvHi := 0, pos0+t1
			if p.window > 0 {
				kvLo = max(0, pos0+t0-p.window+1)
			}
			nk, rows := kvHi-kvLo, (t1-t0)*group
			s.K = tensor.Matrix{Type: m.kvType, Rows: nk, Cols: hd, Data: keys[kvLo*hd*es : kvHi*hd*es]}
			q := s.qg[(h*m.ubatch+t0)*group*hd : (h*m.ubatch+t1)*group*hd]
			p.sc, p.t0, p.kvLo, p.nk = s.scores[:rows*nk], t0, kvLo, nk
			pool.MatMul(p.sc, &s.K, q, rows)
			pool.For(rows, p.softmax)
			vt := s.vt[:hd*nk*es]
			for d := 0; d < hd; d++ {
				copy(vt[d*nk*es:(d+1)*nk*es], vals[(d*ctxLen+kvLo)*es:(d*ctxLen+kvHi)*es])
			}
			s.V = tensor.Matrix{Type: m.kvType, Rows: hd, Cols: nk, Data: vt}
			pv := s.pv[:rows*hd]
			pool.MatMul(pv, &s.V, p.sc, rows)
			for r := 0; r < rows; r++ {
				t, g := t0+r/group, r%group
				copy(s.attn[(t*c.Heads+h*group+g)*hd:], pv[r*hd:(r+1)*hd])
			}
		}
	}
}
