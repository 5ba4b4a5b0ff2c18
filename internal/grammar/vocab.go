package grammar

import (
	"bytes"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/raym33/ainative/internal/tokenizer"
)

// Vocab is a model's vocabulary as the matcher sees it: the bytes each
// token decodes to, arranged in a trie, and the end-of-generation
// tokens. Build it once per model and share it: it is immutable and safe
// for concurrent use.
type Vocab struct {
	size   int
	eog    []int32
	all    trie // every token that may be generated
	pieces [][]byte
	depth  int // the longest piece
	bytes1 [256]bool
	// plain marks the tokens that are whole characters of string text
	// (no '"', '\', control character or partial UTF-8); inPlain is the
	// trie of the others. Inside a free-running string every plain
	// token is allowed and leads back to the same state, so a mask
	// there walks only inPlain (a tenth of the vocabulary).
	plain   []uint64
	inPlain trie
	// byChars lists the plain tokens by their number of characters:
	// byChars[k] holds those of k characters.
	byChars [][]int32
}

// trie holds token pieces, stored in preorder.
type trie struct {
	nodes []trieNode
	toks  []int32 // token ids, grouped by the trie node they end at
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
	v.plain = make([]uint64, v.MaskWords())
	var others []int32
	for _, id := range ids {
		v.depth = max(v.depth, len(v.pieces[id]))
		if plainText(v.pieces[id]) {
			v.plain[id/64] |= 1 << (id % 64)
			k := utf8.RuneCount(v.pieces[id])
			for len(v.byChars) <= k {
				v.byChars = append(v.byChars, nil)
			}
			v.byChars[k] = append(v.byChars[k], id)
		} else {
			others = append(others, id)
		}
	}
	v.all = buildTrie(v.pieces, ids)
	v.inPlain = buildTrie(v.pieces, others)
	return v, nil
}

// plainText reports whether p is whole characters a JSON string holds
// unescaped.
func plainText(p []byte) bool {
	if !utf8.Valid(p) {
		return false
	}
	for _, r := range string(p) {
		if r < 0x20 || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

// buildTrie arranges the tokens ids, sorted by piece, in a trie.
func buildTrie(pieces [][]byte, ids []int32) trie {
	var t trie
	var open []int32 // open[d-1]: the node at depth d on the current path
	var prev []byte
	for _, id := range ids {
		p := pieces[id]
		l := 0
		for l < len(prev) && l < len(p) && prev[l] == p[l] {
			l++
		}
		for d := len(open); d > l; d-- {
			t.nodes[open[d-1]].skip = int32(len(t.nodes))
		}
		open = open[:l]
		for d := l; d < len(p); d++ {
			open = append(open, int32(len(t.nodes)))
			t.nodes = append(t.nodes, trieNode{b: p[d], depth: uint16(d + 1), tok: int32(len(t.toks))})
		}
		t.toks = append(t.toks, id)
		prev = p
	}
	for _, i := range open {
		t.nodes[i].skip = int32(len(t.nodes))
	}
	return t
}

// FromTokenizer builds the vocabulary of a tokenizer: normal, byte and
// user-defined tokens with the bytes they decode to (a user-defined
// token such as Qwen's <tool_call> always decodes to its text, so it is
// text like any other); control, unknown and unused tokens are never
// generated, except the end-of-generation ones where a document ends.
func FromTokenizer(t *tokenizer.Tokenizer) (*Vocab, error) {
	pieces := make([][]byte, t.VocabSize())
	for id := range pieces {
		switch t.Type(int32(id)) {
		case tokenizer.TypeNormal, tokenizer.TypeByte, tokenizer.TypeUndefined, tokenizer.TypeUserDefined:
			pieces[id] = t.Piece(int32(id))
		}
	}
	return NewVocab(pieces, t.EOGs())
}

// Piece returns the bytes token id stands for in a document (nil for a
// token never generated there). The document is the concatenation of the
// accepted tokens' pieces: stream those, not Tokenizer.Decode's text,
// whose clean-up (Llama 3 drops spaces before punctuation) can change a
// string's content.
func (v *Vocab) Piece(id int32) []byte {
	if id < 0 || int(id) >= v.size {
		return nil
	}
	return v.pieces[id]
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
