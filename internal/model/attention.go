package model

import (
	"encoding/binary"
	"math"

	"github.com/raym33/ainative/internal/tensor"
)

// prepareQKV finishes token t's query, key and value (biases, per-head
// norms, RoPE, query scaling, in llama.cpp's order), files the query by
// KV head for attention and writes key and value into the cache.
func (m *Model) prepareQKV(p *pass, t int, cs []float32) {
	c := &m.cfg
	l, r := p.l, p.r
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
	cell := int(p.cells[t])
	blk, slot := cell/blockCells, cell%blockCells
	keys, vals := p.st.k[p.sl], p.st.v[p.sl]
	for h := 0; h < c.KVHeads; h++ {
		head := k[h*hd : (h+1)*hd]
		if l.kNorm != nil {
			rmsNorm(head, head, l.kNorm, c.NormEps)
		}
		r.apply(head, cs)
		// Block layout: keys [KVHeads][blockCells][HeadDim], values
		// [KVHeads][HeadDim][blockCells].
		hb := blk*c.KVHeads + h
		off := (hb*blockCells + slot) * hd * es
		_ = tensor.Quantize(m.kvType, keys[off:off+hd*es], head)
		vt := vals[hb*hd*blockCells*es:]
		for d, x := range v[h*hd : (h+1)*hd] {
			i := (d*blockCells + slot) * es
			if es == 2 {
				binary.LittleEndian.PutUint16(vt[i:], tensor.FP32ToFP16(x))
			} else {
				binary.LittleEndian.PutUint32(vt[i:], math.Float32bits(x))
			}
		}
	}
}

// attention computes softmax(q·K/√d + mask)·V for the new tokens of
// layer p.il into s.attn, each group of rows against its own sequence's
// cells, as llama.cpp does without flash attention: scores are a matrix
// product of the cached keys (in the KV type, so with an F16 cache the
// queries are rounded to F16 first) and the queries, the softmax is
// exact float32, and the output is a matrix product of the transposed
// values with the probabilities (rounded to the KV type). The keys and
// values a chunk sees are first gathered from their blocks into
// contiguous buffers.
func (m *Model) attention(p *pass) {
	c := &m.cfg
	s := m.s
	p.window = 0
	if p.l.swa {
		p.window = c.SlidingWindow
	}
	// Groups of a few tokens (decode steps) whose keys fit a slot are
	// computed a (group, KV head) pair per thread, each product on one
	// thread: handing every small product of every sequence to the pool
	// would cost more than computing it. The others (prompts, long
	// contexts) split each product between the threads.
	s.pairs = s.pairs[:0]
	for gi, g := range p.u.groups {
		n := g.t1 - g.t0
		kvLo := 0
		if p.window > 0 {
			kvLo = max(0, g.pos0-p.window+1)
		}
		if n <= pairTokens && g.pos0+n-kvLo <= len(s.slots[0].kt)/(c.HeadDim*kvElemSize(m.kvType)) {
			s.pairs = append(s.pairs, int32(gi))
			continue
		}
		for h := 0; h < c.KVHeads; h++ {
			m.attendPooled(p, g, h)
		}
	}
	if len(s.pairs) > 0 {
		s.slotNext.Store(0)
		m.pool.For(len(s.pairs)*c.KVHeads, p.attnPairs)
	}
}

// pairTokens is the most tokens of a group computed by the per-pair path.
const pairTokens = 4

// attnSlot is one thread's buffers for the per-pair attention path.
type attnSlot struct {
	kt, vt    []byte
	sc, pv    []float32
	mmScratch tensor.Scratch
}

// attendPooled computes KV head h of group g, each product split
// between the pool's threads.
func (m *Model) attendPooled(p *pass, g group, h int) {
	c := &m.cfg
	s := m.s
	pool := m.pool
	hd := c.HeadDim
	_, _, group := m.dims()
	es := kvElemSize(m.kvType)
	keys, vals := p.st.k[p.sl], p.st.v[p.sl]
	tbl := p.c.table(p.st, g.seq)
	n, pos0 := g.t1-g.t0, g.pos0
	// Queries per chunk, so that the chunk's scores fit the budget.
	tc := min(n, max(1, len(s.scores)/(group*(pos0+n))))
	for t0 := 0; t0 < n; t0 += tc {
		t1 := min(n, t0+tc)
		kvLo, kvHi := 0, pos0+t1
		if p.window > 0 {
			kvLo = max(0, pos0+t0-p.window+1)
		}
		nk, rows := kvHi-kvLo, (t1-t0)*group
		kt, vt := s.kt[:nk*hd*es], s.vt[:hd*nk*es]
		gather(kt, vt, keys, vals, tbl, c.KVHeads, h, hd, es, kvLo, kvHi)
		s.K = tensor.Matrix{Type: m.kvType, Rows: nk, Cols: hd, Data: kt}
		q := s.qg[(h*m.ubatch+g.t0+t0)*group*hd : (h*m.ubatch+g.t0+t1)*group*hd]
		p.sc, p.pos0, p.t0, p.kvLo, p.nk = s.scores[:rows*nk], pos0, t0, kvLo, nk
		pool.MatMul(p.sc, &s.K, q, rows)
		pool.For(rows, p.softmax)
		s.V = tensor.Matrix{Type: m.kvType, Rows: hd, Cols: nk, Data: vt}
		pv := s.pv[:rows*hd]
		pool.MatMul(pv, &s.V, p.sc, rows)
		for r := 0; r < rows; r++ {
			t, gi := g.t0+t0+r/group, r%group
			copy(s.attn[(t*c.Heads+h*group+gi)*hd:], pv[r*hd:(r+1)*hd])
		}
	}
}

// attendPair computes KV head h of group g on the calling thread, in
// slot sl's buffers: the same products, in the same order, as
// attendPooled.
func (m *Model) attendPair(p *pass, sl *attnSlot, g group, h int) {
	c := &m.cfg
	s := m.s
	hd := c.HeadDim
	_, _, group := m.dims()
	es := kvElemSize(m.kvType)
	keys, vals := p.st.k[p.sl], p.st.v[p.sl]
	tbl := p.c.table(p.st, g.seq)
	n, pos0 := g.t1-g.t0, g.pos0
	kvLo, kvHi := 0, pos0+n
	if p.window > 0 {
		kvLo = max(0, pos0-p.window+1)
	}
	nk, rows := kvHi-kvLo, n*group
	kt, vt := sl.kt[:nk*hd*es], sl.vt[:hd*nk*es]
	gather(kt, vt, keys, vals, tbl, c.KVHeads, h, hd, es, kvLo, kvHi)
	K := tensor.Matrix{Type: m.kvType, Rows: nk, Cols: hd, Data: kt}
	q := s.qg[(h*m.ubatch+g.t0)*group*hd : (h*m.ubatch+g.t1)*group*hd]
	sc := sl.sc[:rows*nk]
	tensor.MatMulSerial(sc, &K, q, rows, &sl.mmScratch)
	for r := 0; r < rows; r++ {
		m.softmaxRow(sc[r*nk:(r+1)*nk], pos0+r/group, kvLo, p.window)
	}
	V := tensor.Matrix{Type: m.kvType, Rows: hd, Cols: nk, Data: vt}
	pv := sl.pv[:rows*hd]
	tensor.MatMulSerial(pv, &V, sc, rows, &sl.mmScratch)
	for r := 0; r < rows; r++ {
		t, gi := g.t0+r/group, r%group
		copy(s.attn[(t*c.Heads+h*group+gi)*hd:], pv[r*hd:(r+1)*hd])
	}
}

// softmaxRow turns the scores of the query at position pos against keys
// from position kvLo into probabilities, masking the future and, with a
// window, what is before it.
func (m *Model) softmaxRow(row []float32, pos, kvLo, window int) {
	c := &m.cfg
	jLo, jHi := 0, pos-kvLo+1
	if window > 0 {
		jLo = max(0, pos-window+1-kvLo)
	}
	if c.AttnSoftcap != 0 {
		softcap(row[jLo:jHi], c.AttnSoftcap)
	}
	softmax(row, m.kqScale, jLo, jHi)
}

// gather copies KV head h's keys of positions [lo, hi) of the sequence
// whose blocks are tbl into kt ([hi-lo][hd]) and its values, transposed,
// into vt ([hd][hi-lo]), a run of consecutive cells of a block at a time.
func gather(kt, vt, keys, vals []byte, tbl []int32, kvHeads, h, hd, es, lo, hi int) {
	nk := hi - lo
	for j := lo; j < hi; {
		blk, slot := int(tbl[j/blockCells]), j%blockCells
		run := min(blockCells-slot, hi-j)
		hb := blk*kvHeads + h
		copy(kt[(j-lo)*hd*es:(j-lo+run)*hd*es], keys[(hb*blockCells+slot)*hd*es:])
		vb := vals[hb*hd*blockCells*es:]
		for d := 0; d < hd; d++ {
			copy(vt[(d*nk+j-lo)*es:(d*nk+j-lo+run)*es], vb[(d*blockCells+slot)*es:])
		}
		j += run
	}
}
