package grammar

import (
	"fmt"
	"unicode/utf8"
)

// The grammar is a recursive transition network: a set of rules, each an
// NFA over bytes whose states may also call another rule (push the return
// state, run the rule, pop). That is a pushdown automaton, so recursive
// $refs and arbitrarily nested "any JSON" need no depth bound in the
// grammar itself; the token budget bounds how deep an output can go.

type byteRange struct {
	lo, hi byte
	to     int32
}

type nstate struct {
	ranges []byteRange
	eps    []int32
	call   int32 // rule called from here, or -1
	ret    int32 // where the call returns to
	end    bool  // the end of its rule
	// charStart marks the start of the rule of one string character
	// that counted string lengths call. That rule takes every plain
	// character (see plainText) the same way, so a token of k plain
	// characters moves a thread there k calls ahead whichever they are.
	charStart bool
}

// maxStates bounds the automaton a schema may compile to (counted
// repetitions, lengths and item counts are unrolled), and so the memory
// and time a hostile schema can cost (about 64 bytes a state).
const maxStates = 1 << 18

var errTooLarge = &SchemaError{Reason: "schema too large to enforce (its automaton would exceed 262144 states)"}

type nfa struct {
	states []nstate
	rules  []int32 // start state of each rule
	err    error   // sticky: the first errTooLarge
}

func (n *nfa) add() int32 {
	if len(n.states) >= maxStates {
		n.err = errTooLarge
		// Keep returning a valid state so builders need not check each
		// call; compilation fails on n.err afterwards.
		return int32(len(n.states) - 1)
	}
	n.states = append(n.states, nstate{call: -1, ret: -1})
	return int32(len(n.states) - 1)
}

func (n *nfa) eps(from, to int32) { n.states[from].eps = append(n.states[from].eps, to) }

func (n *nfa) edge(from int32, lo, hi byte, to int32) {
	n.states[from].ranges = append(n.states[from].ranges, byteRange{lo, hi, to})
}

// lit appends the bytes of s after in and returns the state after them.
func (n *nfa) lit(in int32, s string) int32 {
	for i := 0; i < len(s); i++ {
		next := n.add()
		n.edge(in, s[i], s[i], next)
		in = next
	}
	return in
}

// call makes in call rule r and returns the state the call returns to.
func (n *nfa) call(in int32, r int32) int32 {
	// A state carries at most one call: give it a fresh one.
	s := n.add()
	n.eps(in, s)
	out := n.add()
	n.states[s].call, n.states[s].ret = r, out
	return out
}

// newRule reserves a rule whose body is built later (so that recursive
// references can call it first) and returns its id and start state.
func (n *nfa) newRule() (int32, int32) {
	s := n.add()
	n.rules = append(n.rules, s)
	return int32(len(n.rules) - 1), s
}

// Whitespace, as llama.cpp's json-schema-to-grammar allows it: nothing,
// one space, or one or two newlines followed by at most 20 spaces or
// tabs. Bounded, so a model cannot pad forever, yet enough for
// indented output.
const maxIndent = 20

func (n *nfa) ws(in int32) int32 {
	out := n.add()
	n.eps(in, out)
	n.edge(in, ' ', ' ', out)
	n1 := n.add()
	n.edge(in, '\n', '\n', n1)
	n2 := n.add()
	n.edge(n1, '\n', '\n', n2)
	t := n.add()
	n.eps(n1, t)
	n.eps(n2, t)
	for i := 0; i < maxIndent; i++ {
		n.eps(t, out)
		next := n.add()
		n.edge(t, ' ', ' ', next)
		n.edge(t, '\t', '\t', next)
		t = next
	}
	n.eps(t, out)
	return out
}

// runeRange is an inclusive range of code points.
type runeRange struct{ lo, hi rune }

// anyRune is every code point a JSON string can hold (surrogates are not
// code points of UTF-8 text).
var anyRune = []runeRange{{0, 0xD7FF}, {0xE000, utf8.MaxRune}}

// jsonRunes appends, after in, one code point from the set rs spelled
// as it must appear inside a JSON string: itself in UTF-8, except '"',
// '\' and control characters, which are escaped (one spelling each, so
// "\u0041" is never generated for "A"; that restricts, never breaks).
func (n *nfa) jsonRunes(in int32, rs []runeRange) int32 {
	out := n.add()
	for _, r := range rs {
		lo, hi := r.lo, r.hi
		if hi > utf8.MaxRune {
			hi = utf8.MaxRune
		}
		for c := lo; c <= hi && c < 0x20; c++ {
			n.eps(n.lit(in, fmt.Sprintf(`\u%04x`, c)), out)
		}
		if lo < 0x20 {
			lo = 0x20
		}
		for _, sp := range [...]rune{'"', '\\'} {
			if lo <= sp && sp <= hi {
				n.eps(n.lit(in, `\`+string(sp)), out)
			}
		}
		// The rest, minus '"', '\' and surrogates, as raw UTF-8.
		for _, piece := range subtract(runeRange{lo, hi}, []runeRange{{'"', '"'}, {'\\', '\\'}, {0xD800, 0xDFFF}}) {
			utf8Ranges(piece.lo, piece.hi, func(seq [][2]byte) {
				s := in
				for i, br := range seq {
					var next int32
					if i == len(seq)-1 {
						next = out
					} else {
						next = n.add()
					}
					n.edge(s, br[0], br[1], next)
					s = next
				}
			})
		}
	}
	return out
}

// jsonChar appends any one character of a JSON string body: a code point
// as jsonRunes spells it, or any escape JSON allows except \u escapes of
// surrogates (a lone one is not text; pairs are spelled in UTF-8).
func (n *nfa) jsonChar(in int32) int32 {
	out := n.jsonRunes(in, anyRune)
	bs := n.add()
	n.edge(in, '\\', '\\', bs)
	for _, c := range "/bfnrt" {
		n.edge(bs, byte(c), byte(c), out)
	}
	u := n.add()
	n.edge(bs, 'u', 'u', u)
	h1 := n.add()
	hexNoD := [][2]byte{{'0', '9'}, {'a', 'c'}, {'A', 'C'}, {'e', 'f'}, {'E', 'F'}}
	for _, r := range hexNoD {
		n.edge(u, r[0], r[1], h1)
	}
	d := n.add()
	n.edge(u, 'd', 'd', d)
	n.edge(u, 'D', 'D', d)
	n.edge(d, '0', '7', h1)
	h2, h3 := n.add(), n.add()
	n.hex(h1, h2)
	n.hex(h2, h3)
	n.hex(h3, out)
	return out
}

func (n *nfa) hex(from, to int32) {
	n.edge(from, '0', '9', to)
	n.edge(from, 'a', 'f', to)
	n.edge(from, 'A', 'F', to)
}

// subtract returns r minus the sorted, disjoint ranges cut.
func subtract(r runeRange, cut []runeRange) []runeRange {
	out := []runeRange{r}
	for _, c := range cut {
		var next []runeRange
		for _, o := range out {
			if c.hi < o.lo || c.lo > o.hi {
				next = append(next, o)
				continue
			}
			if o.lo < c.lo {
				next = append(next, runeRange{o.lo, c.lo - 1})
			}
			if o.hi > c.hi {
				next = append(next, runeRange{c.hi + 1, o.hi})
			}
		}
		out = next
	}
	return out
}

// utf8Ranges splits the code points lo..hi (no surrogates) into
// sequences of byte ranges whose concatenations are exactly their UTF-8
// encodings (the construction of Rust's utf8-ranges).
func utf8Ranges(lo, hi rune, emit func([][2]byte)) {
	if lo > hi {
		return
	}
	for _, max := range [...]rune{0x7F, 0x7FF, 0xFFFF} {
		if lo <= max && hi > max {
			utf8Ranges(lo, max, emit)
			utf8Ranges(max+1, hi, emit)
			return
		}
	}
	if hi <= 0x7F {
		emit([][2]byte{{byte(lo), byte(hi)}})
		return
	}
	for i := 1; i < 4; i++ {
		m := rune(1)<<(6*i) - 1
		if lo&^m != hi&^m {
			if lo&m != 0 {
				utf8Ranges(lo, lo|m, emit)
				utf8Ranges((lo|m)+1, hi, emit)
				return
			}
			if hi&m != m {
				utf8Ranges(lo, (hi&^m)-1, emit)
				utf8Ranges(hi&^m, hi, emit)
				return
			}
		}
	}
	a := utf8.AppendRune(nil, lo)
	b := utf8.AppendRune(nil, hi)
	seq := make([][2]byte, len(a))
	for i := range a {
		seq[i] = [2]byte{a[i], b[i]}
	}
	emit(seq)
}
