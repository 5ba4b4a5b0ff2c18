package tokenizer

import (
	"slices"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// WordPiece (tokenizer.ggml.model "bert") is the tokenizer of BERT-style
// encoders: all-MiniLM, bge, nomic-embed-text. It follows llama.cpp's
// llm_tokenizer_wpm_session, which differs from Hugging Face's BertTokenizer
// in ways that change ids, so they are reproduced here:
//   - "NFD" maps each code point to the first code point of its canonical
//     decomposition, one for one ("é" becomes "e": accents are dropped, a
//     Hangul syllable becomes its leading jamo);
//   - there is no 100-character limit on a word;
//   - the vocabulary stores word-initial pieces with a "▁" prefix and
//     continuation pieces bare (the converter strips BERT's "##"), so a word
//     is matched as "▁"+word, greedily, longest piece first.
//
// Encode with addSpecial brackets the ids with the classifier token (BOS,
// [CLS]) and the separator ([SEP]), whatever add_bos_token says, as
// llama.cpp does.

// wpm tokenizes one fragment of raw text (no special tokens in it) and
// appends the ids to out.
func (e *encoder) wpm(t *Tokenizer, s string, out []int32) []int32 {
	e.word = e.word[:0]
	flush := func() {
		if len(e.word) > 0 {
			out = e.wpmWord(t, out)
			e.word = e.word[:0]
		}
	}
	for i := 0; i < len(s); {
		r, n := decodeRune(s, i)
		i += n
		r = nfdFirst(r)
		f := flagsOf(r)
		if f.is(fWhitespace) {
			flush()
			continue
		}
		if r == 0 || r == 0xFFFD || f.is(fControl) {
			continue
		}
		lower := r
		if r <= unicode.MaxRune {
			lower = unicode.ToLower(r)
		}
		if f.is(fPunct) || (r < 0x7F && f.is(fSymbol)) || isChineseChar(r) {
			// A single-character word.
			flush()
			e.word = appendRune(e.word, lower)
			flush()
			continue
		}
		e.word = appendRune(e.word, lower)
	}
	flush()
	return out
}

// wpmWord appends the ids of the word in e.word: greedy longest match of
// "▁"+word from the left; a word that cannot be covered entirely is one
// unknown token.
func (e *encoder) wpmWord(t *Tokenizer, out []int32) []int32 {
	w := append(append(e.raw[:0], "▁"...), e.word...)
	e.raw = w
	start := len(out)
	for i := 0; i < len(w); {
		matched := false
		// Only the lengths some token has can match, longest first.
		for k := len(t.wpmLens) - 1; k >= 0; k-- {
			j := i + t.wpmLens[k]
			if j > len(w) {
				continue
			}
			if id, ok := t.ids.getBytes(w[i:j]); ok && id < int32(len(t.tokens)) {
				out = append(out, id)
				i = j
				matched = true
				break
			}
		}
		if !matched {
			out = out[:start]
			break
		}
	}
	if len(out) == start {
		out = append(out, t.unk)
	}
	return out
}

// isChineseChar reports whether r is a CJK ideograph, by the ranges of
// llama.cpp's is_chinese_char (which copies Hugging Face's, including its
// 0x2B920 where Unicode says 0x2B820).
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// nfdFirst is llama.cpp's unicode_cpts_normalize_nfd for one code point:
// the first code point of its canonical decomposition, or itself.
func nfdFirst(r rune) rune {
	if r < 0xC0 { // nothing below À decomposes
		return r
	}
	if r < 0x10000 {
		return nfdBMP()[r]
	}
	return nfdCompute(r)
}

func nfdCompute(r rune) rune {
	if r > unicode.MaxRune || (r >= 0xD800 && r <= 0xDFFF) {
		return r
	}
	var buf [4]byte
	b := norm.NFD.Append(nil, appendRune(buf[:0], r)...)
	d, _ := decodeRune(string(b), 0)
	return d
}

// nfdBMP caches nfdFirst for the Basic Multilingual Plane; built on first
// use by a WordPiece vocabulary. (Runes, not uint16: a few compatibility
// ideographs, U+FA6C for one, decompose to ideographs beyond the BMP.)
var nfdBMP = sync.OnceValue(func() *[0x10000]rune {
	var t [0x10000]rune
	for r := range t {
		t[r] = nfdCompute(rune(r))
	}
	return &t
})

// setupWordPiece sets what a WordPiece vocabulary needs after loading:
// the distinct token lengths for matching.
func (t *Tokenizer) setupWordPiece() {
	seen := map[int]bool{}
	for _, s := range t.tokens {
		if !seen[len(s)] {
			seen[len(s)] = true
			t.wpmLens = append(t.wpmLens, len(s))
		}
	}
	slices.Sort(t.wpmLens)
}
