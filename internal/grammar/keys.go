package grammar

import "sort"

// keyExcept appends a quoted object key that is none of names: extra
// properties must not repeat a declared one (its value would have to
// match that property's schema too). The key is walked along a trie of
// the declared names; leaving the trie on an ASCII character makes it a
// different name, after which any characters may follow. While inside
// the trie only the names' own spelling is allowed at an escape or
// inside a multi-byte character (a restriction that keeps the trie
// exact).
func (n *nfa) keyExcept(in int32, names []string) int32 {
	in = n.lit(in, `"`)
	out := n.add()
	free := n.add()
	n.eps(n.jsonChar(free), free)
	n.edge(free, '"', '"', out)
	state := map[string]int32{"": in}
	children := map[string][]byte{}
	terminal := map[string]bool{}
	var prefixes []string
	prefixes = append(prefixes, "")
	for _, name := range names {
		q := quote(name)
		body := q[1 : len(q)-1]
		terminal[body] = true
		for i := 1; i <= len(body); i++ {
			p := body[:i]
			if _, ok := state[p]; ok {
				continue
			}
			state[p] = n.add()
			prefixes = append(prefixes, p)
			parent := body[:i-1]
			children[parent] = append(children[parent], body[i-1])
		}
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		st := state[p]
		var child [256]bool
		for _, b := range children[p] {
			child[b] = true
			n.edge(st, b, b, state[p+string([]byte{b})])
		}
		if !complete(p) {
			continue
		}
		for c := 0x20; c <= 0x7E; c++ {
			if c == '"' || c == '\\' || child[c] {
				continue
			}
			lo := c
			for c+1 <= 0x7E && c+1 != '"' && c+1 != '\\' && !child[c+1] {
				c++
			}
			n.edge(st, byte(lo), byte(c), free)
		}
		if !terminal[p] {
			n.edge(st, '"', '"', out)
		}
	}
	return out
}

// complete reports whether p, a prefix of a JSON string body, ends at a
// character boundary (not inside an escape or a UTF-8 sequence).
func complete(p string) bool {
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 >= len(p) {
				return false
			}
			if p[i+1] == 'u' {
				i += 6
			} else {
				i += 2
			}
		case c < 0x80:
			i++
		case c >= 0xF0:
			i += 4
		case c >= 0xE0:
			i += 3
		default:
			i += 2
		}
		if i > len(p) {
			return false
		}
	}
	return true
}
