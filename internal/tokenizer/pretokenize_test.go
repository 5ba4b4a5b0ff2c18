package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"

	"github.com/raym33/ainative/internal/testdata"
)

// llamaExprs are the expressions llama.cpp's llm_tokenizer_bpe uses for
// each pre-tokenizer, in regexp2 syntax (non-ASCII as \x{..}: typed
// characters risk Unicode normalization, which changes some of DeepSeek's). wregex marks expressions without
// \p{..}, which llama.cpp runs on text whose non-ASCII whitespace is
// replaced by U+000B; $ is written \z, ECMAScript's end of input.
var llamaExprs = map[*preTokenizer][]struct {
	expr   string
	wregex bool
}{
	preGPT2: {{`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, false}},
	preDefault: {
		{`[\p{P}\$\+<=>\^~\|]+`, false},
		{`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, false},
		{`\p{N}+`, false},
		{`[0-9][0-9][0-9]`, true},
	},
	preLlama3: {{`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, false}},
	preQwen2:  {{`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`, false}},
	preSmolLM: {
		{`\p{N}`, false},
		{`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, false},
	},
	preDeepSeekLLM: {
		{"[\r\n]", true},
		{`\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+`, true},
		{`\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+`, true},
		{`\s+\z`, true},
		{`[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+`, true},
		{`\p{N}+`, false},
	},
}

type compiledExpr struct {
	re     *regexp2.Regexp
	wregex bool
}

func compileExprs(t testing.TB, p *preTokenizer) []compiledExpr {
	t.Helper()
	var out []compiledExpr
	for _, e := range llamaExprs[p] {
		re, err := regexp2.Compile(e.expr, regexp2.None)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		re.MatchTimeout = 10 * time.Second
		out = append(out, compiledExpr{re, e.wregex})
	}
	return out
}

// regexSplit applies the expressions like llama.cpp's unicode_regex_split:
// each expression cuts every piece into its matches and the gaps between.
func regexSplit(t testing.TB, exprs []compiledExpr, s string) []string {
	t.Helper()
	cpts := decodeRunes(s, nil)
	lens := []int{len(cpts)}
	for _, e := range exprs {
		in := cpts
		if e.wregex {
			in = make([]rune, len(cpts))
			for i, r := range cpts {
				in[i] = wregexRune(r, flagsOf(r))
			}
		}
		var next []int
		lo := 0
		for _, n := range lens {
			piece := in[lo : lo+n]
			prev := 0
			m, err := e.re.FindRunesMatch(piece)
			for ; m != nil && err == nil; m, err = e.re.FindNextMatch(m) {
				if m.Index > prev {
					next = append(next, m.Index-prev)
				}
				if m.Length > 0 {
					next = append(next, m.Length)
				}
				prev = m.Index + m.Length
			}
			if err != nil {
				t.Fatal(err)
			}
			if n > prev {
				next = append(next, n-prev)
			}
			lo += n
		}
		lens = next
	}
	return piecesOf(cpts, lens)
}

func piecesOf(cpts []rune, lens []int) []string {
	var out []string
	lo := 0
	for _, n := range lens {
		out = append(out, string(appendRunes(nil, cpts[lo:lo+n])))
		lo += n
	}
	return out
}

func appendRunes(b []byte, rs []rune) []byte {
	for _, r := range rs {
		b = appendRune(b, r)
	}
	return b
}

func handSplit(p *preTokenizer, s string) []string {
	cpts := decodeRunes(s, nil)
	txt := text{cpts: cpts}
	for _, r := range cpts {
		txt.flags = append(txt.flags, flagsOf(r))
	}
	return piecesOf(cpts, p.split(&txt, nil))
}

// preSamples are strings aimed at the corners of the expressions.
var preSamples = []string{
	"", "a", " ", "  ", "   x", "x   ", "\t", " \t x", "\n", "\r\n\r\n", " \n ", "a\n\n b",
	"I'm you're we've he'll she'd it's don't", "I'M YOU'RE WE'VE HE'LL SHE'D IT'S DON'T", "'", "''", "'s", "x'", "'re'",
	"123", "1234567", "12 345 6789", "١٢٣٤", "x1y22z333", "3.14159", "1,000,000", "½⅓",
	"hello, world!", "$+<=>^~|`", "a.b", "...", "(x)", "--flag=value", "foo_bar", "  !!  ??",
	"naïve café", "Ünïcödé", "Z͑ͫ̓ͪ̂ͫ̽͏̴̙̤̞͉͚̯̞̠͍A̴̵̜̰͔ͫ͗͢L̠ͨͧͩ͘G̴̻͈͍͔̹̑͗̎̅͛́Ǫ̵̹̻̝̳͂̌̌͘", "日本語のテキスト", "中文，标点。", "한국어 텍스트",
	"Ωmega K ℃", "ＡＢＣ ａｂｃ", "𐐀𐐨 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "👍🏽 🇺🇸 👨‍👩‍👧",
	"a\u00a0b", "a\u3000b", "a\u2009b", "a\u200bb", "\u0085x", "x\u2028y", "\u3000\u3001\u3002",
	"\x00\x01\x1f\x7f", "\xff\xfe", "a\xc3", "\xed\xa0\x80", "\xc0\x80", "\U0002EBF0\u2FFC\u31EF",
	"line1\n    line2\n\tline3 \n", "if x != nil {\n\treturn\n}\n", "<|im_start|>user\nhi<|im_end|>",
}

func corpusTexts(t testing.TB) []string {
	t.Helper()
	fd, err := os.Open(testdata.Path(t, "tokenizers", "corpus.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	var out []string
	sc := bufio.NewScanner(fd)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line.Text)
	}
	return out
}

// TestPreTokenizersMatchRegex checks each hand-written pre-tokenizer
// against llama.cpp's expressions run by a backtracking regex engine.
func TestPreTokenizersMatchRegex(t *testing.T) {
	samples := append(slices.Clone(preSamples), corpusTexts(t)...)
	for p := range llamaExprs {
		t.Run(p.name, func(t *testing.T) {
			exprs := compileExprs(t, p)
			for _, s := range samples {
				if newIn151(s) {
					continue // the regex engine has Go's Unicode 15.0 tables
				}
				got, want := handSplit(p, s), regexSplit(t, exprs, s)
				if !slices.Equal(got, want) {
					t.Errorf("%q:\n got %q\nwant %q", s, got, want)
				}
			}
		})
	}
}

// newIn151 reports whether s has a code point that Unicode 15.1 assigned.
func newIn151(s string) bool {
	for _, r := range decodeRunes(s, nil) {
		for _, p := range unicode151 {
			if p.lo <= r && r <= p.hi {
				return true
			}
		}
	}
	return false
}

// TestPreTokenizerSplits pins a few splits where llama.cpp's behaviour is
// easy to get wrong.
func TestPreTokenizerSplits(t *testing.T) {
	cases := []struct {
		p    *preTokenizer
		in   string
		want []string
	}{
		{preLlama3, "1234567", []string{"123", "456", "7"}},
		{preQwen2, "1234", []string{"1", "2", "3", "4"}},
		{preLlama3, "I'M here", []string{"I", "'M", " here"}},
		{preGPT2, "I'M here", []string{"I", "'", "M", " here"}},
		{preLlama3, "a   b", []string{"a", "  ", " b"}},
		{preLlama3, "x \n\n y", []string{"x", " \n\n", " y"}},
		{preLlama3, "hello!!\n\nworld", []string{"hello", "!!\n\n", "world"}},
		{preDefault, "x=12345;", []string{"x", "=", "123", "45", ";"}},
		{preSmolLM, "ab 12", []string{"ab", " ", "1", "2"}},
		{preDeepSeekLLM, "Hi, 世界 42\n", []string{"Hi", ",", " ", "世界", " ", "42", "\n"}},
		// Unicode 15.1, as in llama.cpp's tables: a CJK Extension I letter,
		// then two symbols.
		{preLlama3, "\U0002EBF0\u2FFC\u31EF", []string{"\U0002EBF0", "\u2FFC\u31EF"}},
		// DeepSeek's classes: U+1F7D and the Kelvin sign are letters;
		// U+3000, whitespace, is hidden from its classes (std::wregex
		// sees U+000B), so the CJK class, whose U+0800-U+4E00 range holds
		// U+3001, takes "、" alone.
		{preDeepSeekLLM, "\u1F7D\u212A\u3000\u3001", []string{"\u1F7D\u212A", "\u3000", "\u3001"}},
	}
	for _, c := range cases {
		if got := handSplit(c.p, c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s %q: got %q, want %q", c.p.name, c.in, got, c.want)
		}
	}
}

// FuzzPreTokenizers compares the hand-written pre-tokenizers with the
// regex engine on arbitrary text.
func FuzzPreTokenizers(f *testing.F) {
	for _, s := range preSamples {
		f.Add(s)
	}
	compiled := map[*preTokenizer][]compiledExpr{}
	for p := range llamaExprs {
		compiled[p] = compileExprs(f, p)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 256 || newIn151(s) {
			return // keep each case quick; the regex engine has Unicode 15.0
		}
		for p, exprs := range compiled {
			if got, want := handSplit(p, s), regexSplit(t, exprs, s); !slices.Equal(got, want) {
				t.Errorf("%s %q:\n got %q\nwant %q", p.name, s, got, want)
			}
		}
	})
}

// TestUnicodeVersion guards the Unicode 15.1 patch in unicode.go: if Go's
// tables move on, llama.cpp's (15.1) must be compared again.
func TestUnicodeVersion(t *testing.T) {
	if v := unicode.Version; v != "15.0.0" {
		t.Errorf("Go's Unicode tables are version %s: compare flagsOf with llama.cpp's unicode-data.cpp (15.1) and update unicode151", v)
	}
	for _, c := range []struct {
		r rune
		f cpFlags
	}{
		{'a', fLetter}, {'Z', fLetter}, {'7', fNumber}, {'٣', fNumber}, {'½', fNumber}, {'!', fPunct},
		{'$', fSymbol}, {'`', fSymbol}, {' ', fSeparator | fWhitespace}, {'\n', fControl | fWhitespace},
		{0x85, fControl | fWhitespace}, {0xA0, fSeparator | fWhitespace}, {0x3000, fSeparator | fWhitespace},
		{0x200B, fControl}, {0xAD, fControl}, {0x0301, fMark}, {0x0378, fUndefined}, {0xD800, fControl},
		{0xE000, fControl}, {0x2FFC, fSymbol}, {0x31EF, fSymbol}, {0x2EBF0, fLetter}, {0x2EE5D, fLetter},
		{0x2EE5E, fUndefined}, {0x10FFFF, fUndefined}, {0x110000, fUndefined}, {0x1C, fControl},
	} {
		if got := flagsOf(c.r); got != c.f {
			t.Errorf("flagsOf(%U) = %#x, want %#x", c.r, got, c.f)
		}
	}
}

// TestDecodeRune pins llama.cpp's lax UTF-8 decoding.
func TestDecodeRune(t *testing.T) {
	cases := []struct {
		in   string
		want []rune
	}{
		{"aé€😀", []rune{'a', 'é', '€', '😀'}},
		{"\xc0\x80", []rune{0}},              // overlong, taken as is
		{"\xed\xa0\x80", []rune{0xD800}},     // surrogate, taken as is
		{"\x80a", []rune{0xFFFD, 'a'}},       // stray continuation
		{"\xc3", []rune{0xFFFD}},             // truncated
		{"\xe2\x82", []rune{0xFFFD, 0xFFFD}}, // truncated: each byte alone
		{"\xf8\x88\x80\x80\x80", []rune{0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}},
		{"\xf4\x90\x80\x80", []rune{0x110000}},
	}
	for _, c := range cases {
		if got := decodeRunes(c.in, nil); !slices.Equal(got, c.want) {
			t.Errorf("decodeRunes(%q) = %U, want %U", c.in, got, c.want)
		}
	}
	for _, r := range []rune{0, 'a', 0x7ff, 0x800, 0xD800, 0xFFFF, 0x10000, 0x10FFFF} {
		b := appendRune(nil, r)
		if got, n := decodeRune(string(b), 0); got != r || n != len(b) {
			t.Errorf("round trip %U: %U, %d", r, got, n)
		}
		if r != 0xD800 && (!utf8.Valid(b) || string(b) != string(r)) {
			t.Errorf("appendRune(%U) = %q", r, b)
		}
	}
	if got := string(appendRune(nil, 0x110000)); got != "\uFFFD" {
		t.Errorf("appendRune beyond U+10FFFF = %q", got)
	}
}

func TestSupportedPre(t *testing.T) {
	s := supportedPre()
	for _, name := range []string{"default", "llama-bpe", "qwen2", "smollm", "deepseek-llm", "gpt-2"} {
		if !strings.Contains(s, name) {
			t.Errorf("supportedPre() = %q lacks %s", s, name)
		}
	}
}
