package grammar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// NoBudget tells Mask that the number of tokens left is unlimited
// (num_predict -1 with no context limit known).
const NoBudget = -1

const (
	maxThreads = 256     // live threads kept per state (more are dropped: still valid)
	maxConfigs = 1 << 12 // cached states (1 KiB of transitions each) before the caches are rebuilt
	maxMasks   = 64      // cached masks per matcher
	unknown    = -1      // a transition not computed yet
	dead       = -2      // a byte that breaks the document
	advUnknown = -3      // config.adv not computed yet
	advMixed   = -4      // plain characters lead to different configs
)

// thread is one position of the pushdown automaton: a state and a return
// stack (an interned node; -1 is the empty stack).
type thread struct{ state, stack int32 }

type stackNode struct {
	ret, parent int32
	cost        int32 // bytes to finish every frame from here down
}

// config is a set of threads: the matcher's state after some bytes. It
// is interned, so equal states share transitions and cached masks.
type config struct {
	threads   []thread
	accept    bool     // the bytes so far are a complete document
	cost      int32    // shortest completion, in bytes
	mask      []uint64 // tokens allowed with no budget, once computed
	maskMax   int32    // the largest cost after any token of mask
	loop      bool     // see Matcher.loops
	loopKnown bool
	adv       int32 // see Matcher.advance
}

// Matcher follows one generation. It is not safe for concurrent use;
// give each sequence its own (Clone copies one).
type Matcher struct {
	g *Grammar
	v *Vocab

	stacks   []stackNode
	stackIdx map[[2]int32]int32
	configs  []*config
	index    map[string]int32
	// trans holds the transitions: config c on byte b goes to
	// trans[row[c]<<8|b] (unknown: not computed yet; dead). Row 0 is
	// all unknown, shared by the configs never stepped from yet (most
	// configs a mask creates end a token and are never stepped from).
	trans []int32
	row   []int32
	costs []int32 // each config's cost, beside row for the walk
	masks int

	cur  int32
	done bool // an end-of-generation token was accepted

	slow bool // tests: always walk the whole trie

	walk []int32
	seen map[thread]bool
	work []thread
	key  []byte
}

// NewMatcher starts matching g over the vocabulary v.
func (g *Grammar) NewMatcher(v *Vocab) (*Matcher, error) {
	if v == nil {
		return nil, errNoVocab
	}
	m := &Matcher{g: g, v: v}
	m.resetTables()
	var threads []thread
	accept := false
	m.closure([]thread{{g.rules[g.root], -1}}, &threads, &accept)
	m.cur = m.intern(threads, accept)
	return m, nil
}

func (m *Matcher) resetTables() {
	// Fresh slices: a clone's old ones are shared with its original.
	m.stacks = nil
	m.stackIdx = map[[2]int32]int32{}
	m.configs = nil
	m.row = nil
	m.costs = nil
	m.trans = make([]int32, 256)
	for i := range m.trans {
		m.trans[i] = unknown
	}
	m.index = map[string]int32{}
	m.masks = 0
	m.seen = map[thread]bool{}
	m.walk = make([]int32, m.v.depth+1)
}

// rebuild drops every cached state but the current one, bounding memory
// on long or deeply nested outputs.
func (m *Matcher) rebuild() {
	old := m.configs[m.cur]
	oldStacks := m.stacks
	m.resetTables()
	var copyStack func(int32) int32
	copyStack = func(s int32) int32 {
		if s < 0 {
			return -1
		}
		n := oldStacks[s]
		return m.push(n.ret, copyStack(n.parent))
	}
	threads := make([]thread, len(old.threads))
	for i, t := range old.threads {
		threads[i] = thread{t.state, copyStack(t.stack)}
	}
	m.cur = m.intern(threads, old.accept)
}

// full reports whether the caches have grown past their bounds.
func (m *Matcher) full() bool {
	return len(m.trans)>>8 > maxConfigs || len(m.configs) > 16*maxConfigs || len(m.stacks) > 16*maxConfigs
}

// Clone returns an independent matcher in the same state (its caches
// start empty).
func (m *Matcher) Clone() *Matcher {
	c := &Matcher{g: m.g, v: m.v, stacks: m.stacks, configs: []*config{m.configs[m.cur]}, cur: 0, done: m.done}
	c.rebuild()
	return c
}

func (m *Matcher) push(ret, parent int32) int32 {
	k := [2]int32{ret, parent}
	if i, ok := m.stackIdx[k]; ok {
		return i
	}
	cost := m.g.dist[ret]
	if parent >= 0 {
		cost += m.stacks[parent].cost
	}
	if cost > inf {
		cost = inf
	}
	m.stacks = append(m.stacks, stackNode{ret, parent, cost})
	i := int32(len(m.stacks) - 1)
	m.stackIdx[k] = i
	return i
}

func (m *Matcher) threadCost(t thread) int32 {
	c := m.g.dist[t.state]
	if t.stack >= 0 {
		c += m.stacks[t.stack].cost
	}
	if c > inf {
		return inf
	}
	return c
}

// closure follows epsilon moves, calls and returns from the threads in
// start, appending the threads that wait for a byte to out and noting
// whether the whole document may end here.
func (m *Matcher) closure(start []thread, out *[]thread, accept *bool) {
	clear(m.seen)
	m.work = append(m.work[:0], start...)
	for len(m.work) > 0 {
		t := m.work[len(m.work)-1]
		m.work = m.work[:len(m.work)-1]
		if m.seen[t] || m.threadCost(t) >= inf {
			continue
		}
		m.seen[t] = true
		s := &m.g.states[t.state]
		if len(s.ranges) > 0 {
			*out = append(*out, t)
		}
		for _, e := range s.eps {
			m.work = append(m.work, thread{e, t.stack})
		}
		if s.call >= 0 {
			m.work = append(m.work, thread{m.g.rules[s.call], m.push(s.ret, t.stack)})
		}
		if s.end {
			if t.stack < 0 {
				*accept = true
			} else {
				n := m.stacks[t.stack]
				m.work = append(m.work, thread{n.ret, n.parent})
			}
		}
	}
}

// intern returns the id of the config with these threads.
func (m *Matcher) intern(threads []thread, accept bool) int32 {
	slices.SortFunc(threads, func(a, b thread) int {
		if a.state != b.state {
			return int(a.state - b.state)
		}
		return int(a.stack - b.stack)
	})
	threads = slices.Compact(threads)
	if len(threads) > maxThreads {
		// Keep the cheapest to finish; any non-empty subset stays valid.
		slices.SortStableFunc(threads, func(a, b thread) int { return int(m.threadCost(a) - m.threadCost(b)) })
		threads = threads[:maxThreads]
		slices.SortFunc(threads, func(a, b thread) int {
			if a.state != b.state {
				return int(a.state - b.state)
			}
			return int(a.stack - b.stack)
		})
	}
	m.key = m.key[:0]
	if accept {
		m.key = append(m.key, 1)
	} else {
		m.key = append(m.key, 0)
	}
	for _, t := range threads {
		m.key = binary.LittleEndian.AppendUint32(m.key, uint32(t.state))
		m.key = binary.LittleEndian.AppendUint32(m.key, uint32(t.stack))
	}
	if i, ok := m.index[string(m.key)]; ok {
		return i
	}
	c := &config{threads: slices.Clone(threads), accept: accept, cost: inf, adv: advUnknown}
	if accept {
		c.cost = 0
	}
	for _, t := range threads {
		c.cost = min(c.cost, m.threadCost(t))
	}
	m.configs = append(m.configs, c)
	m.row = append(m.row, 0)
	m.costs = append(m.costs, c.cost)
	i := int32(len(m.configs) - 1)
	m.index[string(m.key)] = i
	return i
}

// step returns the config after byte b, or dead.
func (m *Matcher) step(ci int32, b byte) int32 {
	if r := m.trans[int(m.row[ci])<<8|int(b)]; r != unknown {
		return r
	}
	c := m.configs[ci]
	var next []thread
	for _, t := range c.threads {
		for _, r := range m.g.states[t.state].ranges {
			if r.lo <= b && b <= r.hi {
				next = append(next, thread{r.to, t.stack})
			}
		}
	}
	var out []thread
	accept := false
	m.closure(next, &out, &accept)
	r := int32(dead)
	if len(out) > 0 || accept {
		r = m.intern(out, accept)
	}
	if m.row[ci] == 0 {
		m.row[ci] = int32(len(m.trans) >> 8)
		for range 256 {
			m.trans = append(m.trans, unknown)
		}
	}
	m.trans[int(m.row[ci])<<8|int(b)] = r
	return r
}

// Mask sets dst (Vocab.MaskWords words, token i at bit i%64 of word
// i/64) to the tokens that may come next, given budget tokens left
// including this one (NoBudget, or any negative: unlimited), and returns
// how many are set. A token is set when its bytes keep the output a prefix of a valid
// document that can still be completed within the budget;
// end-of-generation tokens are set only when the output is already a
// complete document. If the budget is already too small for the
// shortest completion, the mask follows the shortest completion, so the
// output is as close to complete as it can be. A dst shorter than
// MaskWords is a programming error: Mask sets nothing and returns -1.
//
// Mask returns 0 only when Done, provided the vocabulary is
// ByteComplete: every state the matcher keeps has a finite completion,
// and its next byte is a token of its own.
func (m *Matcher) Mask(dst []uint64, budget int) int {
	if len(dst) < m.v.MaskWords() {
		clear(dst)
		return -1
	}
	clear(dst)
	if m.done {
		return 0
	}
	if m.full() {
		m.rebuild()
	}
	cur := m.configs[m.cur]
	lim := int32(math.MaxInt32)
	if budget >= 0 {
		lim = int32(min(max(budget-1, 0), inf))
		lim = max(lim, cur.cost-1)
	}
	count := 0
	if cur.accept {
		for _, id := range m.v.eog {
			dst[id/64] |= 1 << (id % 64)
			count++
		}
	}
	if len(cur.threads) == 0 {
		return count
	}
	if cur.mask != nil && cur.maskMax <= lim {
		for i, w := range cur.mask {
			dst[i] |= w
		}
		return count + popcount(cur.mask)
	}
	full := make([]uint64, m.v.MaskWords())
	var maxCost int32
	if m.slow {
		n, c := m.walkTrie(&m.v.all, lim, dst, full)
		count, maxCost = count+n, c
	} else if m.loops(m.cur) {
		// Every plain token leads back here, at this state's cost.
		copy(full, m.v.plain)
		maxCost = cur.cost
		if cur.cost <= lim {
			for i, w := range m.v.plain {
				dst[i] |= w
			}
			count += popcount(m.v.plain)
		}
		n, c := m.walkTrie(&m.v.inPlain, lim, dst, full)
		count, maxCost = count+n, max(maxCost, c)
	} else if chain := m.plainChain(); chain != nil {
		// A plain token of k characters leads to chain[k].
		for k, toks := range m.v.byChars {
			if k == 0 || k >= len(chain) {
				continue
			}
			cost := m.costs[chain[k]]
			if len(toks) > 0 {
				maxCost = max(maxCost, cost)
			}
			for _, id := range toks {
				full[id/64] |= 1 << (id % 64)
				if cost <= lim {
					dst[id/64] |= 1 << (id % 64)
					count++
				}
			}
		}
		n, c := m.walkTrie(&m.v.inPlain, lim, dst, full)
		count, maxCost = count+n, max(maxCost, c)
	} else {
		n, c := m.walkTrie(&m.v.all, lim, dst, full)
		count, maxCost = count+n, c
	}
	if m.masks >= maxMasks {
		for _, c := range m.configs {
			c.mask = nil
		}
		m.masks = 0
	}
	cur = m.configs[m.cur]
	cur.mask, cur.maskMax = full, maxCost
	m.masks++
	return count
}

// walkTrie sets in full the tokens of t that the current state allows,
// and in dst those whose completion fits in lim; it returns how many it
// set in dst and the largest cost after a token set in full.
func (m *Matcher) walkTrie(t *trie, lim int32, dst, full []uint64) (count int, maxCost int32) {
	nodes, toks, stack := t.nodes, t.toks, m.walk
	trans, row, costs := m.trans, m.row, m.costs
	stack[0] = m.cur
	for i := 0; i < len(nodes); {
		nd := &nodes[i]
		parent := stack[nd.depth-1]
		next := trans[int(row[parent])<<8|int(nd.b)]
		if next == unknown {
			next = m.step(parent, nd.b)
			trans, row, costs = m.trans, m.row, m.costs
		}
		if next < 0 {
			i = int(nd.skip)
			continue
		}
		stack[nd.depth] = next
		end := int32(len(toks))
		if i+1 < len(nodes) {
			end = nodes[i+1].tok
		}
		if nd.tok < end {
			cost := costs[next]
			maxCost = max(maxCost, cost)
			for _, id := range toks[nd.tok:end] {
				full[id/64] |= 1 << (id % 64)
				if cost <= lim {
					dst[id/64] |= 1 << (id % 64)
					count++
				}
			}
		}
		i++
	}
	return count, maxCost
}

// loops reports whether every whole character of string text, spelled
// plainly, leads from config ci back to ci: the body of a string with no
// length bound. It is computed once per config.
func (m *Matcher) loops(ci int32) bool {
	c := m.configs[ci]
	if c.loopKnown {
		return c.loop
	}
	c.loopKnown = true
	for b := 0x20; b < 0x80; b++ {
		if b != '"' && b != '\\' && m.step(ci, byte(b)) != ci {
			return false
		}
	}
	// Each UTF-8 lead byte, then its continuation bytes: every path must
	// stay alive and end back at ci. Follow the sets of configs reached
	// (a free-running string body keeps them tiny; give up otherwise).
	type lead struct {
		lo, hi, firstLo, firstHi byte
		n                        int
	}
	for _, l := range []lead{
		{0xC2, 0xDF, 0x80, 0xBF, 1}, {0xE0, 0xE0, 0xA0, 0xBF, 2}, {0xE1, 0xEC, 0x80, 0xBF, 2},
		{0xED, 0xED, 0x80, 0x9F, 2}, {0xEE, 0xEF, 0x80, 0xBF, 2}, {0xF0, 0xF0, 0x90, 0xBF, 3},
		{0xF1, 0xF3, 0x80, 0xBF, 3}, {0xF4, 0xF4, 0x80, 0x8F, 3},
	} {
		for b := int(l.lo); b <= int(l.hi); b++ {
			set := []int32{m.step(ci, byte(b))}
			for k := 0; k < l.n; k++ {
				lo, hi := byte(0x80), byte(0xBF)
				if k == 0 {
					lo, hi = l.firstLo, l.firstHi
				}
				var next []int32
				for _, s := range set {
					if s < 0 {
						return false
					}
					for cb := int(lo); cb <= int(hi); cb++ {
						if t := m.step(s, byte(cb)); !slices.Contains(next, t) {
							next = append(next, t)
						}
					}
				}
				if len(next) > 8 {
					return false
				}
				set = next
			}
			if len(set) != 1 || set[0] != ci {
				return false
			}
		}
	}
	c.loop = true
	return true
}

// advance returns the config after one plain character from ci when
// every plain character leads to the same one: when each thread either
// waits at the start of the grammar's character rule (which takes every
// plain character alike, see nstate.charStart) or at a state no plain
// character leaves. It returns dead when no thread survives a plain
// character, and advMixed when the threads tell characters apart.
func (m *Matcher) advance(ci int32) int32 {
	c := m.configs[ci]
	if c.adv != advUnknown {
		return c.adv
	}
	r := int32(dead)
	for _, t := range c.threads {
		if m.g.states[t.state].charStart {
			r = advUnknown // alive: step below
		} else if !m.g.plainDead[t.state] {
			c.adv = advMixed
			return advMixed
		}
	}
	if r == advUnknown {
		r = m.step(ci, 'a')
	}
	m.configs[ci].adv = r
	return r
}

// plainChain returns, when plain characters advance the current config
// uniformly, the configs after k plain characters (chain[k]; chain[0]
// is the current one) for every k a plain token has, stopping where
// none survives; nil otherwise.
func (m *Matcher) plainChain() []int32 {
	chain := []int32{m.cur}
	for k := 1; k < len(m.v.byChars); k++ {
		a := m.advance(chain[k-1])
		if a == advMixed {
			return nil
		}
		if a == dead {
			break
		}
		chain = append(chain, a)
	}
	return chain
}

func popcount(ws []uint64) int {
	n := 0
	for _, w := range ws {
		n += bits.OnesCount64(w)
	}
	return n
}

// ErrRejected is wrapped by Accept's errors for tokens the grammar does
// not allow.
var ErrRejected = errors.New("token rejected by the grammar")

// Accept advances past token id. A token the grammar does not allow here
// is an error wrapping ErrRejected and leaves the matcher unchanged.
func (m *Matcher) Accept(id int32) error {
	if m.done {
		return fmt.Errorf("grammar: token %d after the end of the document: %w", id, ErrRejected)
	}
	if id < 0 || int(id) >= m.v.size {
		return fmt.Errorf("grammar: token %d outside the vocabulary: %w", id, ErrRejected)
	}
	if m.v.IsEOG(id) {
		if !m.configs[m.cur].accept {
			return fmt.Errorf("grammar: end of generation before the document is complete: %w", ErrRejected)
		}
		m.done = true
		return nil
	}
	p := m.v.pieces[id]
	if len(p) == 0 {
		return fmt.Errorf("grammar: token %d cannot appear in a document: %w", id, ErrRejected)
	}
	if m.full() {
		m.rebuild()
	}
	c := m.cur
	for i, b := range p {
		if c = m.step(c, b); c < 0 {
			return fmt.Errorf("grammar: token %d (%q) breaks the document at byte %d: %w", id, p, i, ErrRejected)
		}
	}
	m.cur = c
	return nil
}

// Accepting reports whether the output so far is a complete document,
// where an end-of-generation token is allowed.
func (m *Matcher) Accepting() bool { return !m.done && m.configs[m.cur].accept }

// Done reports whether generation must stop: an end-of-generation token
// was accepted, or the document is complete and nothing may follow it.
func (m *Matcher) Done() bool { return m.done || len(m.configs[m.cur].threads) == 0 }

// MinTokens is the shortest completion of the output so far, counted as
// one token per byte (an upper bound of the tokens needed when the
// vocabulary is ByteComplete). Before the first token it tells whether a
// budget can hold a document at all.
func (m *Matcher) MinTokens() int {
	if m.done {
		return 0
	}
	return int(m.configs[m.cur].cost)
}
