package model

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/tensor"
)

// Batch is the input of one Decode: tokens of one or more sequences of a
// Cache. Token i is at position Pos[i] of sequence Seq[i]; a sequence's
// tokens must continue it in order (the first at Cache.SeqLen, each next
// one at the next position), but the sequences' tokens may be
// interleaved in any way.
type Batch struct {
	Tokens []int32
	Pos    []int32
	Seq    []SeqID
	// Logits marks the tokens whose outputs Decode returns; nil means
	// none (the tokens only fill the cache).
	Logits []bool
	// Embeddings makes Decode return, for the marked tokens, the final
	// hidden states after the output norm (Embed values each: what an
	// embedding model's pooling reads) instead of logits.
	Embeddings bool
}

// Add appends a token to the batch.
func (b *Batch) Add(token int32, pos int, seq SeqID, logits bool) {
	if b.Logits == nil && len(b.Tokens) > 0 {
		b.Logits = make([]bool, len(b.Tokens))
	}
	b.Tokens = append(b.Tokens, token)
	b.Pos = append(b.Pos, int32(pos))
	b.Seq = append(b.Seq, seq)
	b.Logits = append(b.Logits, logits)
}

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.Tokens, b.Pos, b.Seq, b.Logits = b.Tokens[:0], b.Pos[:0], b.Seq[:0], b.Logits[:0]
	b.Embeddings = false
}

// BatchSize is the most tokens one Decode takes (the ubatch: the
// scratch memory is sized for it). Longer prompts are given in chunks,
// which also bounds how long the other sequences of a pass wait.
func (m *Model) BatchSize() int { return m.ubatch }

// Decode runs one forward pass over the batch: every weight matrix is
// read once for all its tokens, and each token attends to its own
// sequence's cells. It appends the outputs of the marked tokens, in
// batch order, to dst and returns it: Vocab logits each, or Embed
// values with b.Embeddings.
//
// On error nothing has changed: the cache holds what it held before.
// A batch that does not fit the free blocks fails with ErrCacheFull; a
// position past the context length with ErrContextFull. A memory fault
// reading the weights (a model file truncated or overwritten while
// mapped) is an error of this pass, not a crash.
func (m *Model) Decode(ctx context.Context, c *Cache, b *Batch, dst []float32) (out []float32, err error) {
	if c == nil || c.m != m {
		return dst, errors.New("model: Decode with a cache of another model")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return dst, errors.New("model: Decode after Close")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := m.checkBatch(c, b); err != nil {
		return dst, err
	}
	if len(b.Tokens) == 0 {
		return dst, nil
	}
	if m.s == nil {
		m.s = m.newScratch()
	}
	u := &m.s.ub
	if err := c.prepare(u, b); err != nil {
		return dst, err
	}
	width := m.cfg.Vocab
	if b.Embeddings {
		width = m.cfg.Embed
	}
	start := len(dst)
	dst = slices.Grow(dst, u.nOut*width)[:start+u.nOut*width]
	if err := m.pass(ctx, c, u, dst[start:], b.Embeddings); err != nil {
		for _, g := range u.groups {
			c.truncate(g.seq, g.pos0)
		}
		return dst[:start], err
	}
	for _, g := range u.groups {
		c.releaseWindow(g.seq)
	}
	return dst, nil
}

// checkBatch validates a batch against the cache; c.mu is held.
func (m *Model) checkBatch(c *Cache, b *Batch) error {
	n := len(b.Tokens)
	if len(b.Pos) != n || len(b.Seq) != n || (b.Logits != nil && len(b.Logits) != n) {
		return fmt.Errorf("model: batch of %d tokens has %d positions, %d sequence ids and %d logit flags", n, len(b.Pos), len(b.Seq), len(b.Logits))
	}
	if n > m.ubatch {
		return fmt.Errorf("model: batch of %d tokens is larger than the batch size %d: decode it in parts", n, m.ubatch)
	}
	for i, t := range b.Tokens {
		if t < 0 || int(t) >= m.cfg.Vocab {
			return fmt.Errorf("model: token %d at index %d is out of range (vocabulary has %d tokens)", t, i, m.cfg.Vocab)
		}
	}
	// Positions: each sequence's tokens continue it in order. seqGroup
	// counts the tokens seen per sequence meanwhile.
	defer func() {
		for _, s := range b.Seq {
			if s >= 0 && int(s) < len(c.seqs) {
				c.seqGroup[s] = -1
			}
		}
	}()
	for i, s := range b.Seq {
		if err := c.checkSeq(s); err != nil {
			return fmt.Errorf("%w (batch index %d)", err, i)
		}
		seen := int(c.seqGroup[s] + 1)
		want := c.seqs[s].n + seen
		if int(b.Pos[i]) != want {
			return fmt.Errorf("model: batch index %d: position %d of sequence %d is out of order, want %d (the sequence holds %d positions)",
				i, b.Pos[i], s, want, c.seqs[s].n)
		}
		if want >= m.ctxLen {
			return fmt.Errorf("%w: position %d of sequence %d, context length %d", ErrContextFull, want, s, m.ctxLen)
		}
		c.seqGroup[s] = int32(seen)
	}
	return nil
}

// ubatch is a batch prepared for a pass: its tokens grouped by sequence
// (a group's rows are consecutive positions of one sequence) and the
// cells they are written to.
type ubatch struct {
	tokens []int32 // by row
	pos    []int32
	out    []int32 // output index of each row, -1 when not wanted
	cellF  []int32 // cell (block*blockCells+slot) of each row in the full store
	cellS  []int32 // same in the SWA store
	perm   []int32 // batch index of each row
	groups []group
	nOut   int
}

type group struct {
	seq    SeqID
	t0, t1 int // rows
	pos0   int // position of row t0
}

func newUbatch(n int) ubatch {
	return ubatch{tokens: make([]int32, n), pos: make([]int32, n), out: make([]int32, n),
		cellF: make([]int32, n), cellS: make([]int32, n), perm: make([]int32, n), groups: make([]group, 0, n)}
}

// prepare groups a checked batch by sequence, reserves its cells and
// fills u; c.mu is held. It fails with ErrCacheFull, changing nothing,
// when the blocks needed are not free.
func (c *Cache) prepare(u *ubatch, b *Batch) error {
	n := len(b.Tokens)
	u.groups = u.groups[:0]
	for _, s := range b.Seq {
		g := c.seqGroup[s]
		if g < 0 {
			g = int32(len(u.groups))
			c.seqGroup[s] = g
			u.groups = append(u.groups, group{seq: s, pos0: c.seqs[s].n})
		}
		u.groups[g].t1++ // count for now
	}
	defer func() {
		for _, g := range u.groups {
			c.seqGroup[g.seq] = -1
		}
	}()
	needF, needS := 0, 0
	t := 0
	for gi := range u.groups {
		g := &u.groups[gi]
		k := g.t1
		g.t0, g.t1 = t, t
		t += k
		needF += c.need(c.full, g.seq, k)
		if c.swa != nil {
			needS += c.need(c.swa, g.seq, k)
		}
	}
	if needF > len(c.full.free) {
		return fmt.Errorf("%w: the batch needs %d more cells, %d of %d are free", ErrCacheFull, needF*blockCells, len(c.full.free)*blockCells, c.Cells())
	}
	if c.swa != nil && needS > len(c.swa.free) {
		return fmt.Errorf("%w: the batch needs %d more sliding-window cells, %d of %d are free (more sequences than the cache was made for?)",
			ErrCacheFull, needS*blockCells, len(c.swa.free)*blockCells, c.swa.blocks*blockCells)
	}
	nOut := 0
	for i := 0; i < n; i++ {
		g := &u.groups[c.seqGroup[b.Seq[i]]]
		r := g.t1
		g.t1++
		u.perm[r] = int32(i)
		u.tokens[r], u.pos[r] = b.Tokens[i], b.Pos[i]
		u.out[r] = -1
		if b.Logits != nil && b.Logits[i] {
			u.out[r] = int32(nOut)
			nOut++
		}
	}
	u.nOut = nOut
	for _, g := range u.groups {
		c.reserve(g.seq, g.t1-g.t0)
		for r := g.t0; r < g.t1; r++ {
			blk, slot := c.cell(c.full, g.seq, int(u.pos[r]))
			u.cellF[r] = blk*blockCells + int32(slot)
			c.full.tok[u.cellF[r]] = u.tokens[r]
			if c.swa != nil {
				blk, slot = c.cell(c.swa, g.seq, int(u.pos[r]))
				u.cellS[r] = blk*blockCells + int32(slot)
			}
		}
		c.seqs[g.seq].n += g.t1 - g.t0
	}
	return nil
}

// pass runs the prepared ubatch through the model, writing the wanted
// rows' outputs to out. A memory fault on the way (see Decode) is
// recovered into the returned error.
func (m *Model) pass(ctx context.Context, c *Cache, u *ubatch, out []float32, embeddings bool) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			addr, ok := faultAddr(r)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("model: memory fault at %#x reading the model's weights (was the model file truncated or overwritten while in use?)", addr)
		}
	}()
	return m.forwardUbatch(ctx, c, u, out, embeddings)
}

// faultAddr reports whether a recovered panic value is a memory fault
// (as debug.SetPanicOnFault raises), directly or from a Pool worker.
func faultAddr(r any) (uintptr, bool) {
	if lp, ok := r.(*tensor.LoopPanic); ok {
		r = lp.Value
	}
	if f, ok := r.(interface{ Addr() uintptr }); ok {
		return f.Addr(), true
	}
	return 0, false
}

// hwAvailableMemory reads the memory this process can still get from
// package hw: the system's available memory or the room under its
// cgroup limit, whichever is smaller.
func hwAvailableMemory() (int64, string) {
	info, err := hw.Discover(context.Background())
	if err != nil {
		return 0, ""
	}
	mem := info.Memory
	avail := mem.Effective()
	if mem.CgroupLimit > 0 && avail == mem.CgroupAvailable {
		return avail, fmt.Sprintf("room under the cgroup limit of %d MiB, %s", mem.CgroupLimit>>20, mem.CgroupLimitSource)
	}
	return avail, "MemAvailable in /proc/meminfo"
}
