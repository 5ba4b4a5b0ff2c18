package tokenizer

import (
	"fmt"
	"sort"
	"strings"
)

// A byte-level BPE tokenizer first cuts text into "words" with a regular
// expression (tokenizer.ggml.pre names which), and merges only inside a
// word. llama.cpp runs the pre-tokenizer as a list of expressions, each
// splitting every piece the previous ones left: a match becomes a piece and
// so does the text between matches. The expressions used here need
// look-ahead (\s+(?!\S)), which Go's regexp lacks, so each is written out by
// hand over code points and llama.cpp's Unicode categories (see cpFlags).
// llama.cpp hand-writes the GPT-2 and Llama 3 expressions too, and runs the
// others through std::regex on text whose non-ASCII code points are
// replaced by one placeholder per category; the functions here implement
// what those regexes match on that representation.

// text is a fragment decoded to code points, with their flags.
type text struct {
	cpts  []rune
	flags []cpFlags
}

// at returns the code point at i, or -1 outside [lo, hi): llama.cpp's
// splitters see nothing beyond the piece they split.
func (t *text) at(i, lo, hi int) rune {
	if i < lo || i >= hi {
		return -1
	}
	return t.cpts[i]
}

// flagsAt returns the flags at i, or 0 outside [lo, hi).
func (t *text) flagsAt(i, lo, hi int) cpFlags {
	if i < lo || i >= hi {
		return 0
	}
	return t.flags[i]
}

// A splitStep splits the piece [lo, hi) of t and appends the lengths of the
// pieces, which must add up to hi-lo.
type splitStep func(t *text, lo, hi int, out []int) []int

type preTokenizer struct {
	name  string
	steps []splitStep
}

// preSpec is what a tokenizer.ggml.pre value selects in llama.cpp's
// llama_vocab::impl::load: the expressions, and the flags it sets with
// them (clean_spaces, ignore_merges, add_bos, and no default BOS).
type preSpec struct {
	pre                               *preTokenizer
	cleanSpaces, ignoreMerges, addBOS bool
	noBOS                             bool
}

// preTokenizers maps the tokenizer.ggml.pre values whose expressions this
// package implements to llama.cpp's settings for them. Several names share
// an expression but not the flags.
var preTokenizers = map[string]preSpec{
	"default": {pre: preDefault, cleanSpaces: true},

	"llama3":      {pre: preLlama3, cleanSpaces: true, ignoreMerges: true, addBOS: true},
	"llama-v3":    {pre: preLlama3, cleanSpaces: true, ignoreMerges: true, addBOS: true},
	"llama-bpe":   {pre: preLlama3, cleanSpaces: true, ignoreMerges: true, addBOS: true},
	"falcon3":     {pre: preLlama3, cleanSpaces: true, ignoreMerges: true, addBOS: true},
	"falcon-h1":   {pre: preLlama3, cleanSpaces: true, ignoreMerges: true, addBOS: true},
	"pixtral":     {pre: preLlama3, cleanSpaces: true, ignoreMerges: true, addBOS: true},
	"midm-2.0":    {pre: preLlama3, cleanSpaces: true, ignoreMerges: true, addBOS: true},
	"lfm2":        {pre: preLlama3, cleanSpaces: true, ignoreMerges: true, addBOS: true},
	"dbrx":        {pre: preLlama3, cleanSpaces: true},
	"smaug-bpe":   {pre: preLlama3, cleanSpaces: true},
	"glm4":        {pre: preLlama3, cleanSpaces: true, noBOS: true},
	"chatglm-bpe": {pre: preLlama3, cleanSpaces: true, noBOS: true},

	"qwen2":            {pre: preQwen2},
	"deepseek-r1-qwen": {pre: preQwen2},
	"kormo":            {pre: preQwen2},
	"hunyuan":          {pre: preQwen2},
	"solar-open":       {pre: preQwen2},
	"grok-2":           {pre: preQwen2},
	"megrez":           {pre: preQwen2, cleanSpaces: true},
	"stablelm2":        {pre: preQwen2, cleanSpaces: true},

	"gpt-2":           {pre: preGPT2, cleanSpaces: true},
	"phi-2":           {pre: preGPT2, cleanSpaces: true},
	"jina-es":         {pre: preGPT2, cleanSpaces: true},
	"jina-de":         {pre: preGPT2, cleanSpaces: true},
	"gigachat":        {pre: preGPT2, cleanSpaces: true},
	"jina-v2-es":      {pre: preGPT2, cleanSpaces: true},
	"jina-v2-de":      {pre: preGPT2, cleanSpaces: true},
	"jina-v1-en":      {pre: preGPT2, cleanSpaces: true},
	"jina-v2-code":    {pre: preGPT2, cleanSpaces: true},
	"roberta-bpe":     {pre: preGPT2, cleanSpaces: true},
	"a.x-4.0":         {pre: preGPT2, cleanSpaces: true},
	"mellum":          {pre: preGPT2, cleanSpaces: true},
	"modern-bert":     {pre: preGPT2, cleanSpaces: true},
	"exaone4":         {pre: preGPT2, cleanSpaces: true},
	"mpt":             {pre: preGPT2, cleanSpaces: true},
	"olmo":            {pre: preGPT2, cleanSpaces: true},
	"jais":            {pre: preGPT2, cleanSpaces: true},
	"trillion":        {pre: preGPT2},
	"granite-docling": {pre: preGPT2},

	"smollm":     {pre: preSmolLM},
	"command-r":  {pre: preSmolLM},
	"starcoder":  {pre: preSmolLM, cleanSpaces: true},
	"refact":     {pre: preSmolLM, cleanSpaces: true},
	"codeshell":  {pre: preSmolLM, cleanSpaces: true},
	"exaone":     {pre: preSmolLM, cleanSpaces: true},
	"minerva-7b": {pre: preSmolLM, cleanSpaces: true},

	"deepseek-llm": {pre: preDeepSeekLLM},
}

// supportedPre lists the accepted tokenizer.ggml.pre values, for errors.
func supportedPre() string {
	names := make([]string, 0, len(preTokenizers))
	for n := range preTokenizers {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

var (
	// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
	preGPT2 = &preTokenizer{"gpt-2", []splitStep{splitGPT2}}
	// llama.cpp's "default" BPE type: punctuation runs, then GPT-2, then
	// number runs, then ASCII digit triples.
	preDefault = &preTokenizer{"default", []splitStep{
		matchRuns(func(r rune, f cpFlags) bool { return f.is(fPunct) || strings.ContainsRune("$+<=>^~|", r) }),
		splitGPT2,
		matchRuns(func(_ rune, f cpFlags) bool { return f.is(fNumber) }),
		splitDigitTriples,
	}}
	// Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
	//          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
	preLlama3 = &preTokenizer{"llama-bpe", []splitStep{splitLlama3(3)}}
	// Qwen2: the Llama 3 expression with \p{N} (one digit) for \p{N}{1,3}.
	preQwen2 = &preTokenizer{"qwen2", []splitStep{splitLlama3(1)}}
	// SmolLM: every number code point alone, then GPT-2.
	preSmolLM = &preTokenizer{"smollm", []splitStep{
		matchSingles(func(_ rune, f cpFlags) bool { return f.is(fNumber) }),
		splitGPT2,
	}}
	// DeepSeek LLM: [\r\n], \s?[cased letters]+, \s?[ASCII and CJK
	// punctuation]+, \s+$, [CJK and Hangul]+, \p{N}+.
	preDeepSeekLLM = &preTokenizer{"deepseek-llm", []splitStep{
		matchSingles(func(r rune, _ cpFlags) bool { return r == '\r' || r == '\n' }),
		matchOptSpaceRuns(deepSeekLetters.has),
		matchOptSpaceRuns(deepSeekPunct.has),
		splitTrailingSpace,
		matchRuns(func(r rune, f cpFlags) bool { return deepSeekCJK.has(wregexRune(r, f)) }),
		matchRuns(func(_ rune, f cpFlags) bool { return f.is(fNumber) }),
	}}
)

// split cuts cpts into words, returned as lengths in code points.
func (p *preTokenizer) split(t *text, lens []int) []int {
	lens = append(lens[:0], len(t.cpts))
	var next []int
	for _, step := range p.steps {
		next = next[:0]
		lo := 0
		for _, n := range lens {
			if n > 0 {
				next = step(t, lo, lo+n, next)
			}
			lo += n
		}
		lens, next = next, lens
	}
	return lens
}

func isContractionTail(r rune) bool { return r == 's' || r == 't' || r == 'm' || r == 'd' }

// contraction reports the length of 's, 't, 're, 've, 'm, 'll or 'd at i,
// or 0; fold makes it case-insensitive as in Llama 3's (?i:...). Only ASCII
// folds to these letters, so ASCII folding is what llama.cpp's
// unicode_tolower does here.
func contraction(t *text, i, lo, hi int, fold bool) int {
	if t.at(i, lo, hi) != '\'' || i+1 >= hi {
		return 0
	}
	lower := func(r rune) rune {
		if fold && 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	c1 := lower(t.at(i+1, lo, hi))
	if isContractionTail(c1) {
		return 2
	}
	if i+2 < hi {
		c2 := lower(t.at(i+2, lo, hi))
		if (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l') {
			return 3
		}
	}
	return 0
}

// splitGPT2 follows llama.cpp's unicode_regex_split_custom_gpt2.
func splitGPT2(t *text, lo, hi int, out []int) []int {
	prev := lo
	emit := func(end int) int {
		n := end - prev
		if n > 0 {
			out = append(out, n)
		}
		prev = end
		return n
	}
	for pos := lo; pos < hi; {
		cpt := t.at(pos, lo, hi)
		flags := t.flagsAt(pos, lo, hi)
		if n := contraction(t, pos, lo, hi, false); n > 0 {
			pos += emit(pos + n)
			continue
		}
		f2 := flags
		if cpt == ' ' {
			f2 = t.flagsAt(pos+1, lo, hi)
		}
		space := 0
		if cpt == ' ' {
			space = 1
		}
		switch {
		case f2.is(fLetter): //  ?\p{L}+
			pos += space
			for t.flagsAt(pos, lo, hi).is(fLetter) {
				pos++
			}
			emit(pos)
			continue
		case f2.is(fNumber): //  ?\p{N}+
			pos += space
			for t.flagsAt(pos, lo, hi).is(fNumber) {
				pos++
			}
			emit(pos)
			continue
		case !f2.is(fWhitespace|fLetter|fNumber) && f2 != 0: //  ?[^\s\p{L}\p{N}]+
			pos += space
			for f := t.flagsAt(pos, lo, hi); !f.is(fWhitespace|fLetter|fNumber) && f != 0; f = t.flagsAt(pos, lo, hi) {
				pos++
			}
			emit(pos)
			continue
		}
		ws := 0
		for t.flagsAt(pos+ws, lo, hi).is(fWhitespace) {
			ws++
		}
		switch {
		case ws > 1 && t.at(pos+ws, lo, hi) >= 0: // \s+(?!\S)
			pos += ws - 1
			emit(pos)
		case ws > 0: // \s+
			pos += ws
			emit(pos)
		default:
			pos++
			emit(pos)
		}
	}
	return out
}

// splitLlama3 follows llama.cpp's unicode_regex_split_custom_llama3, with
// maxDigits 3; Qwen2's expression differs only in taking digits one by one.
func splitLlama3(maxDigits int) splitStep {
	return func(t *text, lo, hi int, out []int) []int {
		prev := lo
		emit := func(end int) int {
			n := end - prev
			if n > 0 {
				out = append(out, n)
			}
			prev = end
			return n
		}
		for pos := lo; pos < hi; {
			cpt := t.at(pos, lo, hi)
			flags := t.flagsAt(pos, lo, hi)
			if n := contraction(t, pos, lo, hi, true); n > 0 {
				pos += emit(pos + n)
				continue
			}
			// [^\r\n\p{L}\p{N}]?\p{L}+
			if !(cpt == '\r' || cpt == '\n' || flags.is(fNumber)) {
				if flags.is(fLetter) || t.flagsAt(pos+1, lo, hi).is(fLetter) {
					pos++
					for t.flagsAt(pos, lo, hi).is(fLetter) {
						pos++
					}
					emit(pos)
					continue
				}
			}
			// \p{N}{1,maxDigits}
			if flags.is(fNumber) {
				start := pos
				for t.flagsAt(pos, lo, hi).is(fNumber) {
					pos++
					if pos-start >= maxDigits {
						emit(pos)
						start = pos
					}
				}
				emit(pos)
				continue
			}
			//  ?[^\s\p{L}\p{N}]+[\r\n]*
			f2 := flags
			if cpt == ' ' {
				f2 = t.flagsAt(pos+1, lo, hi)
			}
			if !f2.is(fWhitespace|fLetter|fNumber) && flags != 0 {
				if cpt == ' ' {
					pos++
				}
				for !f2.is(fWhitespace|fLetter|fNumber) && f2 != 0 {
					pos++
					f2 = t.flagsAt(pos, lo, hi)
				}
				for c := t.at(pos, lo, hi); c == '\r' || c == '\n'; c = t.at(pos, lo, hi) {
					pos++
				}
				emit(pos)
				continue
			}
			ws, lastNL := 0, 0
			for t.flagsAt(pos+ws, lo, hi).is(fWhitespace) {
				if c := t.at(pos+ws, lo, hi); c == '\r' || c == '\n' {
					lastNL = pos + ws + 1
				}
				ws++
			}
			switch {
			case lastNL > 0: // \s*[\r\n]+
				pos = lastNL
				emit(pos)
			case ws > 1 && t.at(pos+ws, lo, hi) >= 0: // \s+(?!\S)
				pos += ws - 1
				emit(pos)
			case ws > 0: // \s+
				pos += ws
				emit(pos)
			default:
				pos++
				emit(pos)
			}
		}
		return out
	}
}

// matcher turns matches [s, e), found left to right, into piece lengths:
// each match and each gap before, between and after them, as std::regex
// iteration in llama.cpp's unicode_regex_split_stl does.
type matcher struct {
	prev int
	out  []int
}

func (m *matcher) match(s, e int) {
	if s > m.prev {
		m.out = append(m.out, s-m.prev)
	}
	if e > s {
		m.out = append(m.out, e-s)
	}
	m.prev = e
}

func (m *matcher) end(hi int) []int {
	if hi > m.prev {
		m.out = append(m.out, hi-m.prev)
	}
	return m.out
}

type runePred func(r rune, f cpFlags) bool

// matchRuns is the expression [class]+.
func matchRuns(in runePred) splitStep {
	return func(t *text, lo, hi int, out []int) []int {
		m := matcher{prev: lo, out: out}
		for i := lo; i < hi; {
			if !in(t.cpts[i], t.flags[i]) {
				i++
				continue
			}
			j := i + 1
			for j < hi && in(t.cpts[j], t.flags[j]) {
				j++
			}
			m.match(i, j)
			i = j
		}
		return m.end(hi)
	}
}

// matchSingles is the expression [class]: every member alone.
func matchSingles(in runePred) splitStep {
	return func(t *text, lo, hi int, out []int) []int {
		m := matcher{prev: lo, out: out}
		for i := lo; i < hi; i++ {
			if in(t.cpts[i], t.flags[i]) {
				m.match(i, i+1)
			}
		}
		return m.end(hi)
	}
}

// matchOptSpaceRuns is \s?[class]+ under std::wregex, where the class
// applies to the code point as wregexRune presents it.
func matchOptSpaceRuns(in func(rune) bool) splitStep {
	has := func(t *text, i, hi int) bool { return i < hi && in(wregexRune(t.cpts[i], t.flags[i])) }
	return func(t *text, lo, hi int, out []int) []int {
		m := matcher{prev: lo, out: out}
		for i := lo; i < hi; {
			start := i
			if t.flags[i].is(fWhitespace) && has(t, i+1, hi) {
				i++
			} else if !has(t, i, hi) {
				i++
				continue
			}
			for has(t, i, hi) {
				i++
			}
			m.match(start, i)
		}
		return m.end(hi)
	}
}

// splitTrailingSpace is \s+$: the whitespace that ends the piece.
func splitTrailingSpace(t *text, lo, hi int, out []int) []int {
	s := hi
	for s > lo && t.flags[s-1].is(fWhitespace) {
		s--
	}
	m := matcher{prev: lo, out: out}
	m.match(s, hi)
	return m.end(hi)
}

// splitDigitTriples is [0-9][0-9][0-9]: ASCII digits three at a time, the
// leftover ones on their own.
func splitDigitTriples(t *text, lo, hi int, out []int) []int {
	m := matcher{prev: lo, out: out}
	isDigit := func(i int) bool { return i < hi && '0' <= t.cpts[i] && t.cpts[i] <= '9' }
	for i := lo; i < hi; {
		if isDigit(i) && isDigit(i+1) && isDigit(i+2) {
			m.match(i, i+3)
			i += 3
		} else {
			i++
		}
	}
	return m.end(hi)
}

// wregexRune is the code point llama.cpp hands std::wregex for
// expressions without \p{..}: non-ASCII whitespace becomes U+000B, so that
// \s matches it, and so it no longer matches a class written with it (such
// as DeepSeek's [　-。], which thus starts at U+3001).
func wregexRune(r rune, f cpFlags) rune {
	if r > 0x7F && f.is(fWhitespace) {
		return 0x0B
	}
	return r
}

// runeRanges is a sorted set of inclusive code point ranges.
type runeRanges [][2]rune

func (rr runeRanges) has(r rune) bool {
	i := sort.Search(len(rr), func(i int) bool { return rr[i][1] >= r })
	return i < len(rr) && rr[i][0] <= r
}

// mustRanges sorts ranges, checking that they are well-formed; duplicates
// and overlaps are harmless to has.
func mustRanges(rr runeRanges) runeRanges {
	for _, r := range rr {
		if r[0] > r[1] {
			panic(fmt.Sprintf("tokenizer: bad range %U-%U", r[0], r[1]))
		}
	}
	sort.Slice(rr, func(i, j int) bool { return rr[i][0] < rr[j][0] })
	return rr
}

// The classes of DeepSeek LLM's expressions, as written in llama.cpp
// (the letters are Unicode's cased letters, LC).
var (
	deepSeekLetters = mustRanges(runeRanges{
		{'A', 'Z'}, {'a', 'z'}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
		{0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377},
		{0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C},
		{0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556},
		{0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
		{0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A},
		{0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D},
		{0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D},
		{0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
		{0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
		{0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
		{0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D},
		{0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D},
		{0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
		{0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
		{0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B},
		{0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF},
		{0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A},
		{0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2},
		{0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
	})
	deepSeekPunct = mustRanges(runeRanges{
		{'!', '/'}, {':', '~'}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
	})
	deepSeekCJK = mustRanges(runeRanges{{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}})
)
