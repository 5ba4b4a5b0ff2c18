package model

import (
	"errors"
	"fmt"
	"sync"
)

// blockCells is the number of positions of one cache block. A sequence's
// cells are a list of blocks; a block holds consecutive positions of the
// sequences that share it, so attention gathers a sequence's keys and
// values a block at a time (copies of runs, not of single cells), and a
// fork shares blocks instead of copying cells.
const blockCells = 32

// SeqID names a sequence of a Cache: 0 <= id < CacheOptions.MaxSeqs.
type SeqID int32

// ErrCacheFull is returned (wrapped) when a Decode needs more cache
// blocks than are free. Nothing has changed: the caller can free cells
// (Remove a sequence) or wait, and try again.
var ErrCacheFull = errors.New("model: KV cache is full")

// ErrWindowReleased is returned (wrapped) by Remove and Fork when the
// sliding-window layers no longer hold the positions that continuing at
// the requested position would need (they keep only the window). Remove
// the sequence from 0 and prefill it again.
var ErrWindowReleased = errors.New("model: sliding-window cache no longer holds those positions")

// CacheOptions size a Cache.
type CacheOptions struct {
	// Cells is the number of positions all sequences together can hold
	// (shared positions of forked sequences count once); it is rounded
	// up to a whole number of 32-position blocks. A sequence takes whole
	// blocks: N sequences of L positions need N*ceil(L/32)*32 cells.
	// <= 0 means MaxSeqs times the model's context length.
	Cells int
	// MaxSeqs is the number of sequence ids, [0, MaxSeqs); <= 0 means 1.
	MaxSeqs int
	// FullSWA keeps every position in sliding-window layers as well (as
	// llama.cpp's --swa-full), so that Remove and Fork can go back to
	// any position; otherwise those layers keep only about each
	// sequence's window.
	FullSWA bool
}

// Cache is a KV cache of paged blocks shared by many sequences: each
// sequence is a list of 32-position blocks, and a block may belong to
// several sequences (after Fork), with a reference count. A sequence only
// writes past its end; when that end is in a shared block, the block is
// copied first (copy on write), so forked sequences never see each
// other's tokens. Sliding-window layers have their own, smaller, set of
// blocks from which the positions that left every window are released.
//
// Cache methods may be called from several goroutines; they wait for a
// Decode in progress on the cache.
type Cache struct {
	m      *Model
	mu     sync.Mutex
	full   *kvStore   // every position; holds the tokens too
	swa    *kvStore   // sliding-window layers, or nil when they use full
	window int        // sliding window (0: no SWA store)
	seqs   []seqState // one per sequence id

	// Per layer: which store holds it and its index there.
	layerStore []*kvStore
	layerIdx   []int

	seqGroup []int32 // Decode's scratch: group of each sequence, -1
}

type seqState struct {
	n    int     // positions held: the next position
	full []int32 // block of positions [i*blockCells, (i+1)*blockCells)
	swa  []int32 // same in the SWA store, -1 where released
	// swaFrom is where the positions held by the SWA store start (a
	// multiple of blockCells).
	swaFrom int
}

// kvStore is a set of blocks and the keys and values of its layers.
type kvStore struct {
	blocks int
	// Per layer of the store: keys [blocks][KVHeads][blockCells][HeadDim]
	// and values transposed [blocks][KVHeads][HeadDim][blockCells], in
	// the model's KV type (transposed values, as llama.cpp stores them
	// without flash attention: the weighted sum of values is then a row
	// of dot products over positions).
	k, v [][]byte
	tok  []int32 // token of each cell (full store only)
	ref  []int32 // sequences holding each block
	free []int32 // free blocks, a stack
}

func newStore(blocks, layers, blockBytes int, tokens bool) *kvStore {
	st := &kvStore{blocks: blocks, k: make([][]byte, layers), v: make([][]byte, layers),
		ref: make([]int32, blocks), free: make([]int32, blocks)}
	for i := range st.k {
		st.k[i] = make([]byte, blocks*blockBytes)
		st.v[i] = make([]byte, blocks*blockBytes)
	}
	if tokens {
		st.tok = make([]int32, blocks*blockCells)
	}
	for i := range st.free {
		st.free[i] = int32(blocks - 1 - i)
	}
	return st
}

func (st *kvStore) alloc() int32 {
	b := st.free[len(st.free)-1]
	st.free = st.free[:len(st.free)-1]
	st.ref[b] = 1
	return b
}

func (st *kvStore) release(b int32) {
	if b < 0 {
		return
	}
	if st.ref[b]--; st.ref[b] == 0 {
		st.free = append(st.free, b)
	}
}

// copyBlock copies block src's contents into dst.
func (st *kvStore) copyBlock(dst, src int32) {
	for i := range st.k {
		bb := len(st.k[i]) / st.blocks
		copy(st.k[i][int(dst)*bb:int(dst+1)*bb], st.k[i][int(src)*bb:int(src+1)*bb])
		copy(st.v[i][int(dst)*bb:int(dst+1)*bb], st.v[i][int(src)*bb:int(src+1)*bb])
	}
	if st.tok != nil {
		copy(st.tok[dst*blockCells:(dst+1)*blockCells], st.tok[src*blockCells:(src+1)*blockCells])
	}
}

// availableMemory is how many bytes a cache may take: the memory this
// process can still get (system and cgroup, from package hw), and where
// that limit comes from; 0 when unknown. A variable for tests.
var availableMemory = hwAvailableMemory

// memCheckMin is the smallest cache NewCache checks against the memory
// available (a variable for tests).
var memCheckMin int64 = 16 << 20

// NewCache makes a cache for the model. Its memory (Cache.Bytes) is
// allocated now; a cache of 16 MiB or more is refused, with an error
// naming both sizes, when it is more than the memory available (see
// package hw), rather than dying of it later.
func (m *Model) NewCache(opts CacheOptions) (*Cache, error) {
	c := &m.cfg
	if opts.MaxSeqs <= 0 {
		opts.MaxSeqs = 1
	}
	if opts.MaxSeqs > 1<<16 {
		return nil, fmt.Errorf("model: cache of %d sequences: at most %d", opts.MaxSeqs, 1<<16)
	}
	maxCells := int64(opts.MaxSeqs) * int64(m.maxBlocks()) * blockCells
	cells := int64(opts.Cells)
	if cells <= 0 || cells > maxCells {
		cells = maxCells
	}
	if cells > 1<<31-1 {
		return nil, fmt.Errorf("model: cache of %d cells: at most %d", cells, 1<<31-1)
	}
	fullBlocks := int((cells + blockCells - 1) / blockCells)
	window := 0
	nSWA := 0
	for _, l := range m.layers {
		if l.swa && c.SlidingWindow > 0 {
			nSWA++
		}
	}
	if nSWA > 0 && !opts.FullSWA {
		window = c.SlidingWindow
	}
	swaBlocks := 0
	if window > 0 {
		// After a pass each sequence holds positions
		// [n-window+1, n): at most ceil((window-1)/B)+1 blocks; a pass
		// adds at most one copied block and ceil(k/B)+1 new ones per
		// sequence of k tokens, k summing to the batch size.
		per := (window-1+blockCells-1)/blockCells + 3
		swaBlocks = min(fullBlocks, opts.MaxSeqs*per+(m.ubatch+blockCells-1)/blockCells)
		if swaBlocks == fullBlocks {
			window, swaBlocks = 0, 0 // as large as the full store: no point releasing
		}
	}
	nFull := len(m.layers)
	if window > 0 {
		nFull -= nSWA
	}
	bb := m.blockBytes()
	need := cacheBytes(int64(bb), fullBlocks, nFull, swaBlocks, nSWA)
	if need < memCheckMin {
		// Not worth the probe (which reads a dozen files).
	} else if avail, source := availableMemory(); avail > 0 && need > avail {
		return nil, fmt.Errorf("model: a KV cache of %d cells (%d sequences) needs %.1f MiB, more than the %.1f MiB of memory available (%s)",
			cells, opts.MaxSeqs, float64(need)/(1<<20), float64(avail)/(1<<20), source)
	}
	kc := &Cache{m: m, window: window,
		seqs: make([]seqState, opts.MaxSeqs), seqGroup: make([]int32, opts.MaxSeqs),
		layerStore: make([]*kvStore, len(m.layers)), layerIdx: make([]int, len(m.layers))}
	kc.full = newStore(fullBlocks, nFull, bb, true)
	if window > 0 {
		kc.swa = newStore(swaBlocks, nSWA, bb, false)
	}
	nf, ns := 0, 0
	for il, l := range m.layers {
		if window > 0 && l.swa {
			kc.layerStore[il], kc.layerIdx[il] = kc.swa, ns
			ns++
		} else {
			kc.layerStore[il], kc.layerIdx[il] = kc.full, nf
			nf++
		}
	}
	for i := range kc.seqGroup {
		kc.seqGroup[i] = -1
	}
	return kc, nil
}

// blockBytes is the size of one layer's keys (or values) of a block.
func (m *Model) blockBytes() int {
	return blockCells * m.cfg.KVHeads * m.cfg.HeadDim * kvElemSize(m.kvType)
}

// Bytes is the memory the cache's blocks take.
func (c *Cache) Bytes() int64 {
	swaBlocks, nSWA := 0, 0
	if c.swa != nil {
		swaBlocks, nSWA = c.swa.blocks, len(c.swa.k)
	}
	return cacheBytes(int64(c.m.blockBytes()), c.full.blocks, len(c.full.k), swaBlocks, nSWA)
}

// cacheBytes is the memory of a cache's blocks of bb bytes per layer:
// keys and values of the full store's nFull layers and the SWA store's
// nSWA, and per full block its tokens (4 bytes a cell), reference count
// and free-list entry.
func cacheBytes(bb int64, fullBlocks, nFull, swaBlocks, nSWA int) int64 {
	return int64(fullBlocks)*(int64(nFull)*2*bb+blockCells*4+8) + int64(swaBlocks)*int64(nSWA)*2*bb
}

// Cells is the number of positions the cache holds (the budget rounded
// up to whole blocks).
func (c *Cache) Cells() int { return c.full.blocks * blockCells }

// MaxSeqs is the number of sequence ids.
func (c *Cache) MaxSeqs() int { return len(c.seqs) }

// FreeCells is the number of positions not held by any sequence.
func (c *Cache) FreeCells() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.full.free) * blockCells
}

// SeqLen is the number of positions sequence s holds, which is the
// position of its next token; 0 for an empty or unknown sequence.
func (c *Cache) SeqLen(s SeqID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s < 0 || int(s) >= len(c.seqs) {
		return 0
	}
	return c.seqs[s].n
}

func (c *Cache) checkSeq(s SeqID) error {
	if s < 0 || int(s) >= len(c.seqs) {
		return fmt.Errorf("model: sequence %d does not exist (the cache has ids 0 to %d)", s, len(c.seqs)-1)
	}
	return nil
}

// swaNeed is the first position a sequence continuing at position n
// needs in the sliding-window layers.
func (c *Cache) swaNeed(n int) int { return max(0, n-c.window+1) }

// Remove forgets sequence s's positions [from, end) (llama.cpp's
// seq_rm); from 0 frees the whole sequence. Blocks no sequence holds any
// more are free again. It fails with ErrWindowReleased when from > 0
// and the sliding-window layers have released what continuing at from
// would need.
func (c *Cache) Remove(s SeqID, from int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkSeq(s); err != nil {
		return err
	}
	if from < 0 {
		return fmt.Errorf("model: Remove of sequence %d from position %d", s, from)
	}
	sq := &c.seqs[s]
	if from >= sq.n {
		return nil
	}
	if c.swa != nil && from > 0 && sq.swaFrom > c.swaNeed(from) {
		return fmt.Errorf("%w: sequence %d from position %d needs positions from %d, the window holds them from %d",
			ErrWindowReleased, s, from, c.swaNeed(from), sq.swaFrom)
	}
	c.truncate(s, from)
	return nil
}

// truncate shortens sequence s to n positions.
func (c *Cache) truncate(s SeqID, n int) {
	sq := &c.seqs[s]
	keep := (n + blockCells - 1) / blockCells
	for _, b := range sq.full[keep:] {
		c.full.release(b)
	}
	sq.full = sq.full[:keep]
	if c.swa != nil {
		for _, b := range sq.swa[min(keep, len(sq.swa)):] {
			c.swa.release(b)
		}
		sq.swa = sq.swa[:min(keep, len(sq.swa))]
		if n == 0 {
			sq.swaFrom = 0
		}
	}
	sq.n = n
}

// Fork makes sequence dst, which must be empty, share the first n
// positions of src (llama.cpp's seq_cp): dst holds src's blocks, nothing
// is copied until one of them writes into a block they share.
func (c *Cache) Fork(src, dst SeqID, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.checkSeq(src); err != nil {
		return err
	}
	if err := c.checkSeq(dst); err != nil {
		return err
	}
	ss, ds := &c.seqs[src], &c.seqs[dst]
	switch {
	case src == dst:
		return fmt.Errorf("model: Fork of sequence %d onto itself", src)
	case ds.n != 0:
		return fmt.Errorf("model: Fork onto sequence %d, which holds %d positions (Remove it first)", dst, ds.n)
	case n < 0 || n > ss.n:
		return fmt.Errorf("model: Fork of %d positions of sequence %d, which holds %d", n, src, ss.n)
	case n == 0:
		return nil
	case c.swa != nil && ss.swaFrom > c.swaNeed(n):
		return fmt.Errorf("%w: forking sequence %d at position %d needs positions from %d, the window holds them from %d",
			ErrWindowReleased, src, n, c.swaNeed(n), ss.swaFrom)
	}
	nb := (n + blockCells - 1) / blockCells
	if cap(ds.full) == 0 {
		ds.full = make([]int32, 0, c.maxBlocks())
		ds.swa = make([]int32, 0, c.maxBlocks())
	}
	ds.full = share(c.full, ds.full[:0], ss.full[:nb])
	if c.swa != nil {
		ds.swa = share(c.swa, ds.swa[:0], ss.swa[:nb])
		ds.swaFrom = ss.swaFrom
	}
	ds.n = n
	return nil
}

func share(st *kvStore, dst, src []int32) []int32 {
	for _, b := range src {
		if b >= 0 {
			st.ref[b]++
		}
		dst = append(dst, b)
	}
	return dst
}

// LongestPrefix finds the sequence holding the longest prefix of tokens,
// and its length: Fork(seq, new, n) then lets a new sequence start after
// it. Only a prefix the cache can continue from counts (see
// ErrWindowReleased). It returns (-1, 0) when no sequence shares even
// the first token. Note that a prefix covering all of tokens leaves no
// token to compute logits from: fork one position less to get them.
func (c *Cache) LongestPrefix(tokens []int32) (SeqID, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	best, bestN := SeqID(-1), 0
	for s := range c.seqs {
		sq := &c.seqs[s]
		lim := min(sq.n, len(tokens))
		n := 0
		for n < lim {
			b := sq.full[n/blockCells]
			if c.full.tok[int(b)*blockCells+n%blockCells] != tokens[n] {
				break
			}
			n++
		}
		if c.swa != nil && sq.swaFrom > c.swaNeed(n) {
			continue
		}
		if n > bestN {
			best, bestN = SeqID(s), n
		}
	}
	return best, bestN
}

// reserve makes room for k new positions of sequence s at its end: it
// copies a shared last block that will be written to and appends
// blocks. The caller has checked the room (need).
func (c *Cache) reserve(s SeqID, k int) {
	sq := &c.seqs[s]
	for _, st := range []*kvStore{c.full, c.swa} {
		if st == nil {
			continue
		}
		tbl := &sq.full
		if st == c.swa {
			tbl = &sq.swa
		}
		if cap(*tbl) == 0 {
			// Once per sequence, so that a decode step allocates nothing.
			*tbl = make([]int32, 0, c.maxBlocks())
		}
		if sq.n%blockCells != 0 {
			last := &(*tbl)[len(*tbl)-1]
			if st.ref[*last] > 1 {
				nb := st.alloc()
				st.copyBlock(nb, *last)
				st.release(*last)
				*last = nb
			}
		}
		for len(*tbl)*blockCells < sq.n+k {
			*tbl = append(*tbl, st.alloc())
		}
	}
}

// maxBlocks is the most blocks a sequence can hold.
func (c *Cache) maxBlocks() int { return c.m.maxBlocks() }

func (m *Model) maxBlocks() int { return (m.ctxLen + blockCells - 1) / blockCells }

// need is how many blocks of st reserve(s, k) takes.
func (c *Cache) need(st *kvStore, s SeqID, k int) int {
	sq := &c.seqs[s]
	tbl := sq.full
	if st == c.swa {
		tbl = sq.swa
	}
	n := (sq.n+k+blockCells-1)/blockCells - len(tbl)
	if sq.n%blockCells != 0 && st.ref[tbl[len(tbl)-1]] > 1 {
		n++
	}
	return n
}

// releaseWindow frees the SWA blocks of sequence s that no window can
// see any more.
func (c *Cache) releaseWindow(s SeqID) {
	if c.swa == nil {
		return
	}
	sq := &c.seqs[s]
	lim := c.swaNeed(sq.n) / blockCells // blocks wholly before the window
	for i := sq.swaFrom / blockCells; i < lim; i++ {
		c.swa.release(sq.swa[i])
		sq.swa[i] = -1
	}
	sq.swaFrom = max(sq.swaFrom, lim*blockCells)
}

// table returns sequence s's blocks in store st.
func (c *Cache) table(st *kvStore, s SeqID) []int32 {
	if st == c.swa {
		return c.seqs[s].swa
	}
	return c.seqs[s].full
}

// cell returns where position pos of sequence s is in store st: block and
// slot.
func (c *Cache) cell(st *kvStore, s SeqID, pos int) (block int32, slot int) {
	sq := &c.seqs[s]
	if st == c.swa {
		return sq.swa[pos/blockCells], pos % blockCells
	}
	return sq.full[pos/blockCells], pos % blockCells
}
