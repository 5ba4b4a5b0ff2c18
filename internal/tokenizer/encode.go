package tokenizer

import (
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Encode tokenizes text. With addSpecial it adds BOS (and EOS) where the
// vocabulary asks for them (AddBOS, AddEOS). With parseSpecial the text of
// control tokens in the input ("<|im_start|>", "<s>") becomes those tokens;
// without it, it is tokenized as ordinary text. User-defined tokens are
// split out of the text either way, as llama.cpp does.
//
// Any byte string is accepted. Invalid UTF-8 is tokenized as llama.cpp
// does it: SentencePiece vocabularies spell the bytes with byte tokens;
// BPE vocabularies see each invalid byte as U+FFFD.
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	frags := t.partition(text, parseSpecial)
	out := make([]int32, 0, len(text)/3+2)
	if addSpecial && t.AddBOS() {
		out = append(out, t.bos)
	}
	var e encoder
	switch t.model {
	case SentencePiece:
		prevSpecial := true // the first fragment gets the space prefix too
		for _, f := range frags {
			if f.tok != none {
				out = append(out, f.tok)
				prevSpecial = true
				continue
			}
			s := text[f.lo:f.hi]
			if t.addSpacePrefix && prevSpecial {
				s = " " + s
			}
			out = e.spm(t, strings.ReplaceAll(s, " ", "▁"), out)
			prevSpecial = false
		}
	case BPE:
		for _, f := range frags {
			if f.tok != none {
				out = append(out, f.tok)
				continue
			}
			out = e.bpe(t, text[f.lo:f.hi], out)
		}
	case WordPiece:
		for _, f := range frags {
			if f.tok != none {
				out = append(out, f.tok)
				continue
			}
			out = e.wpm(t, text[f.lo:f.hi], out)
		}
		if sep, ok := t.SEP(); ok && addSpecial {
			out = append(out, sep)
		}
	}
	if addSpecial && t.AddEOS() {
		out = append(out, t.eos)
	}
	return out
}

// fragment is a piece of the input: text[lo:hi], or the special token tok.
type fragment struct {
	tok    int32
	lo, hi int
}

// partition splits the special tokens out of text, longest token first,
// every occurrence, as llama.cpp's tokenizer_st_partition does. Control
// and unknown tokens are matched only with parseSpecial; user-defined ones
// always. Tokens with lstrip/rstrip take the ASCII whitespace beside them.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{tok: none, lo: 0, hi: len(text)}}
	if !parseSpecial && !t.specials.always {
		return frags
	}
	var next []fragment
	for _, id := range t.specials.find(t, text, parseSpecial) {
		a := t.attrs[id]
		word := t.tokens[id]
		next = next[:0]
		for _, f := range frags {
			if f.tok != none {
				next = append(next, f)
				continue
			}
			lo, hi := f.lo, f.hi
			for lo < hi {
				k := strings.Index(text[lo:hi], word)
				if k < 0 {
					next = append(next, fragment{tok: none, lo: lo, hi: hi})
					break
				}
				m := lo + k
				left := m
				if a&attrLStrip != 0 {
					for left > lo && isCSpace(text[left-1]) {
						left--
					}
				}
				if left > lo {
					next = append(next, fragment{tok: none, lo: lo, hi: left})
				}
				next = append(next, fragment{tok: id, lo: m, hi: m + len(word)})
				lo = m + len(word)
				if a&attrRStrip != 0 {
					for lo < hi && isCSpace(text[lo]) {
						lo++
					}
				}
			}
		}
		frags, next = next, frags
	}
	return frags
}

// specialIndex finds which special tokens occur in a text in one pass,
// so that partition need not search the text for each of them (Qwen has
// hundreds).
type specialIndex struct {
	always bool                 // some special token is split out even without parseSpecial
	pairs  [1 << 16 / 64]uint64 // bit set for the first two bytes of a special token
	byPair map[uint16][]int32   // first two bytes to indexes in Tokenizer.special
	single [256][]int32         // one-byte special tokens, by byte
}

func (x *specialIndex) build(t *Tokenizer) {
	x.byPair = map[uint16][]int32{}
	for k, id := range t.special {
		if t.attrs[id]&(attrControl|attrUnknown) == 0 {
			x.always = true
		}
		w := t.tokens[id]
		if len(w) == 1 {
			x.single[w[0]] = append(x.single[w[0]], int32(k))
			continue
		}
		p := uint16(w[0])<<8 | uint16(w[1])
		x.pairs[p/64] |= 1 << (p % 64)
		x.byPair[p] = append(x.byPair[p], int32(k))
	}
}

// find returns the special tokens, in partition order, that occur in text
// and are to be split out.
func (x *specialIndex) find(t *Tokenizer, text string, parseSpecial bool) []int32 {
	var seen []uint64
	var found []int32
	mark := func(k int32) {
		if seen == nil {
			seen = make([]uint64, (len(t.special)+63)/64)
		}
		if seen[k/64]&(1<<(k%64)) != 0 {
			return
		}
		id := t.special[k]
		if !parseSpecial && t.attrs[id]&(attrControl|attrUnknown) != 0 {
			return
		}
		seen[k/64] |= 1 << (k % 64)
		found = append(found, k)
	}
	for i := 0; i < len(text); i++ {
		for _, k := range x.single[text[i]] {
			mark(k)
		}
		if i+1 == len(text) {
			break
		}
		p := uint16(text[i])<<8 | uint16(text[i+1])
		if x.pairs[p/64]&(1<<(p%64)) == 0 {
			continue
		}
		for _, k := range x.byPair[p] {
			if strings.HasPrefix(text[i:], t.tokens[t.special[k]]) {
				mark(k)
			}
		}
	}
	slices.Sort(found)
	for i, k := range found {
		found[i] = t.special[k]
	}
	return found
}

// isCSpace is C's isspace in the C locale, which llama.cpp strips with.
func isCSpace(c byte) bool { return c == ' ' || ('\t' <= c && c <= '\r') }

// encoder holds the scratch space of one Encode call.
type encoder struct {
	syms  []symbol
	queue bigramQueue
	runes []rune
	flags []cpFlags
	words []int
	raw   []byte
	word  []byte
}

// symbol is a piece of the text being merged: text[start:start+n], linked
// to its neighbours. A symbol merged into its left neighbour has n == 0.
type symbol struct {
	start, n   int32
	prev, next int32
	id         int32 // BPE: the piece's id in Tokenizer.ids, or none
}

// spm tokenizes one fragment (spaces already escaped as ▁) like llama.cpp's
// llm_tokenizer_spm_session: start from UTF-8 characters and repeatedly
// merge the adjacent pair that forms the highest-scoring token, leftmost
// first on ties; what no token covers is spelled in byte tokens.
func (e *encoder) spm(t *Tokenizer, s string, out []int32) []int32 {
	e.syms = e.syms[:0]
	for offs := 0; offs < len(s); {
		n := min(utf8Len(s[offs]), len(s)-offs)
		i := int32(len(e.syms))
		e.syms = append(e.syms, symbol{start: int32(offs), n: int32(n), prev: i - 1, next: i + 1})
		offs += n
	}
	if len(e.syms) == 0 {
		return out
	}
	e.syms[len(e.syms)-1].next = -1
	e.queue = e.queue[:0]
	try := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		a, b := &e.syms[l], &e.syms[r]
		id, ok := t.token(s[a.start : b.start+b.n])
		if !ok {
			return
		}
		e.queue.push(bigram{key: scoreKey(t.scores[id], l), right: r, size: a.n + b.n})
	}
	for i := int32(1); i < int32(len(e.syms)); i++ {
		try(i-1, i)
	}
	for len(e.queue) > 0 {
		bg := e.queue.pop()
		left := bg.left()
		l, r := &e.syms[left], &e.syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue // stale: one side has merged since
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			e.syms[r.next].prev = left
		}
		try(l.prev, left)
		try(left, l.next)
	}
	for i := int32(0); i != -1; i = e.syms[i].next {
		sym := e.syms[i]
		piece := s[sym.start : sym.start+sym.n]
		if id, ok := t.token(piece); ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(piece); j++ {
			out = t.appendByte(out, piece[j])
		}
	}
	return out
}

// appendByte appends SentencePiece's byte fallback for c: <0xNN>, else the
// one-byte token. llama.cpp aborts when a vocabulary has neither; here the
// unknown token stands in, or nothing when there is none.
func (t *Tokenizer) appendByte(out []int32, c byte) []int32 {
	if id := t.byteIDs[c]; id != none {
		return append(out, id)
	}
	if t.unk != none {
		return append(out, t.unk)
	}
	return out
}

// bpe tokenizes one fragment like llama.cpp's llm_tokenizer_bpe_session:
// pre-tokenize into words, map each word's bytes to GPT-2's code points,
// and merge inside the word by rank.
func (e *encoder) bpe(t *Tokenizer, s string, out []int32) []int32 {
	e.runes = decodeRunes(s, e.runes)
	e.flags = e.flags[:0]
	for _, r := range e.runes {
		e.flags = append(e.flags, flagsOf(r))
	}
	txt := text{cpts: e.runes, flags: e.flags}
	e.words = t.pre.split(&txt, e.words)
	pos := 0
	for _, n := range e.words {
		e.raw = e.raw[:0]
		for _, r := range e.runes[pos : pos+n] {
			e.raw = appendRune(e.raw, r)
		}
		pos += n
		e.word = e.word[:0]
		for _, c := range e.raw {
			e.word = utf8.AppendRune(e.word, byteToRune[c])
		}
		out = e.bpeWord(t, e.word, out)
	}
	return out
}

// bpeWord merges one pre-tokenized, byte-mapped word.
func (e *encoder) bpeWord(t *Tokenizer, w []byte, out []int32) []int32 {
	if len(w) == 0 {
		return out // pre-tokenizers make no empty words; be safe anyway
	}
	n := int32(len(t.tokens))
	if t.ignoreMerges {
		if id, ok := t.ids.getBytes(w); ok && id < n {
			return append(out, id)
		}
	}
	e.syms = e.syms[:0]
	for offs := 0; offs < len(w); {
		size := min(utf8Len(w[offs]), len(w)-offs)
		i := int32(len(e.syms))
		id, ok := t.ids.getBytes(w[offs : offs+size])
		if !ok {
			id = none
		}
		e.syms = append(e.syms, symbol{start: int32(offs), n: int32(size), prev: i - 1, next: i + 1, id: id})
		offs += size
	}
	e.syms[len(e.syms)-1].next = -1
	e.queue = e.queue[:0]
	try := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		a, b := &e.syms[l], &e.syms[r]
		if a.id == none || b.id == none {
			return
		}
		rank, ok := t.merges[pairKey(a.id, b.id)]
		if !ok {
			return
		}
		e.queue.push(bigram{key: uint64(rank)<<32 | uint64(uint32(l)), right: r, size: a.n + b.n})
	}
	for i := int32(1); i < int32(len(e.syms)); i++ {
		try(i-1, i)
	}
	for len(e.queue) > 0 {
		bg := e.queue.pop()
		left := bg.left()
		l, r := &e.syms[left], &e.syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue
		}
		l.n += r.n
		// The merged string's id (a token, or a piece only merges name).
		if id, ok := t.ids.getBytes(w[l.start : l.start+l.n]); ok {
			l.id = id
		} else {
			l.id = none
		}
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			e.syms[r.next].prev = left
		}
		try(l.prev, left)
		try(left, l.next)
	}
	for _, sym := range e.syms {
		if sym.n == 0 {
			continue
		}
		if sym.id != none && sym.id < n {
			out = append(out, sym.id)
			continue
		}
		// No token for the piece: llama.cpp looks its bytes up one by
		// one and drops those that are not tokens.
		piece := w[sym.start : sym.start+sym.n]
		for j := range piece {
			if id, ok := t.ids.getBytes(piece[j : j+1]); ok && id < n {
				out = append(out, id)
			}
		}
	}
	return out
}

// bigram is a candidate merge of two adjacent symbols. The smallest key
// merges first: its high half orders by priority (the score for
// SentencePiece, highest first; the rank for BPE, lowest first) and its
// low half is the left symbol's index, so ties go to the leftmost pair, as
// in llama.cpp. size is the pair's length when queued, to spot stale
// entries.
type bigram struct {
	key         uint64
	right, size int32
}

func (b bigram) left() int32 { return int32(uint32(b.key)) }

// scoreKey makes a key that orders higher scores first: the float's bits
// mapped to an unsigned order, inverted.
func scoreKey(score float32, left int32) uint64 {
	if score == 0 {
		score = 0 // -0 ties with +0, as a float comparison has it
	}
	bits := math.Float32bits(score)
	if bits&(1<<31) != 0 {
		bits = ^bits
	} else {
		bits |= 1 << 31
	}
	return uint64(^bits)<<32 | uint64(uint32(left))
}

// bigramQueue is a binary min-heap of bigrams (container/heap would box
// every entry in an interface).
type bigramQueue []bigram

func (q *bigramQueue) push(b bigram) {
	h := append(*q, b)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].key <= b.key {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = b
	*q = h
}

func (q *bigramQueue) pop() bigram {
	h := *q
	top := h[0]
	last := h[len(h)-1]
	h = h[:len(h)-1]
	if n := len(h); n > 0 {
		i := 0
		for {
			c := 2*i + 1
			if c >= n {
				break
			}
			if c+1 < n && h[c+1].key < h[c].key {
				c++
			}
			if last.key <= h[c].key {
				break
			}
			h[i] = h[c]
			i = c
		}
		h[i] = last
	}
	*q = h
	return top
}
