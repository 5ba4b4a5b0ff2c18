package grammar

import (
	"fmt"
	"regexp/syntax"
	"sort"
	"unicode"
)

// pattern appends a JSON string body (without the quotes) whose decoded
// text matches the regular expression expr, with JSON Schema's search
// semantics: unless anchored with ^ and $, the match may sit anywhere in
// the string. The syntax is Go's regexp (RE2): literals, classes, ., |,
// groups, ?, *, +, {n,m}, and ^/$ only at the very start/end. Anything
// else (word boundaries, anchors inside, backreferences, lookaround,
// which RE2 rejects anyway) is refused.
func (n *nfa) pattern(in int32, expr string) (int32, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0, fmt.Errorf("pattern %q: %v", expr, err)
	}
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	anchoredStart := len(subs) > 0 && subs[0].Op == syntax.OpBeginText
	if anchoredStart {
		subs = subs[1:]
	}
	anchoredEnd := len(subs) > 0 && subs[len(subs)-1].Op == syntax.OpEndText
	if anchoredEnd {
		subs = subs[:len(subs)-1]
	}
	if !anchoredStart {
		in = n.anyChars(in)
	}
	for _, s := range subs {
		in, err = n.regex(in, s)
		if err != nil {
			return 0, fmt.Errorf("pattern %q: %v", expr, err)
		}
	}
	if !anchoredEnd {
		in = n.anyChars(in)
	}
	return in, nil
}

// anyChars appends any number of JSON string characters.
func (n *nfa) anyChars(in int32) int32 {
	loop := n.add()
	n.eps(in, loop)
	n.eps(n.jsonChar(loop), loop)
	return loop
}

// maxRepeat bounds counted repetitions in patterns (RE2's own limit).
const maxRepeat = 1000

func (n *nfa) regex(in int32, re *syntax.Regexp) (int32, error) {
	if n.err != nil {
		return 0, n.err // stop unrolling a repetition that is too large
	}
	switch re.Op {
	case syntax.OpNoMatch:
		return n.add(), nil // unreachable
	case syntax.OpEmptyMatch:
		return in, nil
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			set := []runeRange{{r, r}}
			if re.Flags&syntax.FoldCase != 0 {
				set = foldSet(r)
			}
			in = n.jsonRunes(in, set)
		}
		return in, nil
	case syntax.OpCharClass:
		var set []runeRange
		for i := 0; i+1 < len(re.Rune); i += 2 {
			set = append(set, runeRange{re.Rune[i], re.Rune[i+1]})
		}
		return n.jsonRunes(in, set), nil
	case syntax.OpAnyChar:
		return n.jsonRunes(in, anyRune), nil
	case syntax.OpAnyCharNotNL:
		// Not a line terminator in ECMAScript's sense either (\r, U+2028,
		// U+2029), so validators of either dialect agree.
		return n.jsonRunes(in, []runeRange{{0, '\n' - 1}, {'\n' + 1, '\r' - 1}, {'\r' + 1, 0x2027}, {0x202A, 0xD7FF}, {0xE000, unicode.MaxRune}}), nil
	case syntax.OpCapture:
		return n.regex(in, re.Sub[0])
	case syntax.OpConcat:
		var err error
		for _, s := range re.Sub {
			if in, err = n.regex(in, s); err != nil {
				return 0, err
			}
		}
		return in, nil
	case syntax.OpAlternate:
		out := n.add()
		for _, s := range re.Sub {
			start := n.add()
			n.eps(in, start)
			e, err := n.regex(start, s)
			if err != nil {
				return 0, err
			}
			n.eps(e, out)
		}
		return out, nil
	case syntax.OpStar:
		return n.repeat(in, re.Sub[0], 0, -1)
	case syntax.OpPlus:
		return n.repeat(in, re.Sub[0], 1, -1)
	case syntax.OpQuest:
		return n.repeat(in, re.Sub[0], 0, 1)
	case syntax.OpRepeat:
		if re.Min > maxRepeat || re.Max > maxRepeat {
			return 0, fmt.Errorf("repetition count above %d", maxRepeat)
		}
		return n.repeat(in, re.Sub[0], re.Min, re.Max)
	case syntax.OpBeginText, syntax.OpEndText, syntax.OpBeginLine, syntax.OpEndLine:
		return 0, fmt.Errorf("anchors (^, $) are supported only at the start and end")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0, fmt.Errorf("word boundaries (\\b, \\B) are not supported")
	}
	return 0, fmt.Errorf("unsupported construct %v", re.Op)
}

// repeat appends min to max (-1: unbounded) copies of re.
func (n *nfa) repeat(in int32, re *syntax.Regexp, min, max int) (int32, error) {
	var err error
	for i := 0; i < min; i++ {
		if in, err = n.regex(in, re); err != nil {
			return 0, err
		}
	}
	if max < 0 {
		loop := n.add()
		n.eps(in, loop)
		e, err := n.regex(loop, re)
		if err != nil {
			return 0, err
		}
		n.eps(e, loop)
		return loop, nil
	}
	out := n.add()
	for i := min; i < max; i++ {
		n.eps(in, out)
		if in, err = n.regex(in, re); err != nil {
			return 0, err
		}
	}
	n.eps(in, out)
	return out, nil
}

// foldSet is r with its simple case foldings.
func foldSet(r rune) []runeRange {
	set := []runeRange{{r, r}}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		set = append(set, runeRange{f, f})
	}
	sort.Slice(set, func(i, j int) bool { return set[i].lo < set[j].lo })
	return set
}
