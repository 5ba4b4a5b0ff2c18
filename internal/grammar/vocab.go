package grammar

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/raym33/ainative/internal/tokenizer"
)

// Vocab is a model's vocabulary as the matcher sees it: the bytes each
// token decodes to, arranged in a trie, and the end-of-generation
// tokens. Build it once per model and share it: it is immutable and safe
// for concurrent use.
type Vocab struct {
	size   int
	eog    []int32
	nodes  []trieNode
	toks   []int32 // token ids, grouped by the trie node they end at
	pieces [][]byte
	depth  int // the longest piece
	bytes1 [256]bool
}

// trieNode is one byte of the trie, stored in preorder: a node's subtree
// is the nodes after it up to skip, so a rejected prefix skips its whole
// subtree in one jump.
type trieNode struct {
	b     byte
	depth uint16 // length of the prefix ending here
	skip  int32  // index of the first node after this subtree
	tok   int32  // this node's tokens start at toks[tok]
}

// maxPiece is the longest token piece the matcher considers; a longer
// one (none exists in real vocabularies) is never allowed.
const maxPiece = 1 << 12

// NewVocab builds a vocabulary from each token's bytes (pieces[id]) and
// the end-of-generation ids. A token with an empty or nil piece is never
// allowed (control tokens should be given as nil); an end-of-generation
// token is allowed only where the document is complete, whatever its
// piece.
func NewVocab(pieces [][]byte, eog []int32) (*Vocab, error) {
	v := &Vocab{size: len(pieces), pieces: make([][]byte, len(pieces))}
	isEOG := make(map[int32]bool, len(eog))
	for _, id := range eog {
		if id < 0 || int(id) >= len(pieces) {
			return nil, fmt.Errorf("grammar: end-of-generation token %d outside the vocabulary of %d", id, len(pieces))
		}
		if !isEOG[id] {
			isEOG[id] = true
			v.eog = append(v.eog, id)
		}
	}
	slices.Sort(v.eog)
	var ids []int32
	for id, p := range pieces {
		if len(p) == 0 || len(p) > maxPiece || isEOG[int32(id)] {
			continue
		}
		v.pieces[id] = p
		ids = append(ids, int32(id))
		if len(p) == 1 {
			v.bytes1[p[0]] = true
		}
	}
	slices.SortFunc(ids, func(a, b int32) int {
		if c := bytes.Compare(v.pieces[a], v.pieces[b]); c != 0 {
			return c
		}
		return int(a - b)
	})
	var open []int32 // open[d-1]: the node at depth d on the current path
	var prev []byte
	for _, id := range ids {
		p := v.pieces[id]
		l := 0
		for l < len(prev) && l < len(p) && prev[l] == p[l] {
			l++
		}
		for d := len(open); d > l; d-- {
			v.nodes[open[d-1]].skip = int32(len(v.nodes))
		}
		open = open[:l]
		for d := l; d < len(p); d++ {
			open = append(open, int32(len(v.nodes)))
			v.nodes = append(v.nodes, trieNode{b: p[d], depth: uint16(d + 1), tok: int32(len(v.toks))})
		}
		v.toks = append(v.toks, id)
		prev = p
		if len(p) > v.depth {
			v.depth = len(p)
		}
	}
	for _, i := range open {
		v.nodes[i].skip = int32(len(v.nodes))
	}
	return v, nil
}

// FromTokenizer builds the vocabulary of a tokenizer: normal and byte
// tokens with the bytes they decode to; control, user-defined, unknown
// and unused tokens are never generated inside a document.
func FromTokenizer(t *tokenizer.Tokenizer) (*Vocab, error) {
	pieces := make([][]byte, t.VocabSize())
	for id := range pieces {
		switch t.Type(int32(id)) {
		case tokenizer.TypeNormal, tokenizer.TypeByte, tokenizer.TypeUndefined:
			pieces[id] = t.Piece(int32(id))
		}
	}
	return NewVocab(pieces, t.EOGs())
}

// Size is the number of token ids.
func (v *Vocab) Size() int { return v.size }

// MaskWords is the length of a mask for this vocabulary: one bit per
// token, token i at bit i%64 of word i/64.
func (v *Vocab) MaskWords() int { return (v.size + 63) / 64 }

// ByteComplete reports whether every byte is a token of its own, which
// makes the budget guarantee hold (see the package documentation).
func (v *Vocab) ByteComplete() bool {
	for _, ok := range v.bytes1 {
		if !ok {
			return false
		}
	}
	return true
}

// IsEOG reports whether id ends generation.
func (v *Vocab) IsEOG(id int32) bool {
	_, ok := slices.BinarySearch(v.eog, id)
	return ok
}
