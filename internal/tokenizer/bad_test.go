package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
)

// TestBadVocabularies checks that malformed tokenizer metadata is a clear
// error naming what is wrong.
func TestBadVocabularies(t *testing.T) {
	spm, bpe := spmEntries(), bpeEntries("qwen2")
	ntok := 0
	for _, e := range spm {
		if e.key == keyTokens {
			ntok = len(e.val.([]string))
		}
	}
	cases := []struct {
		name    string
		entries []kv
		is      error    // errors.Is target, if any
		want    []string // substrings of the message
	}{
		{"no model", with(spm, keyModel, nil), gguf.ErrMissing, []string{keyModel}},
		{"unknown model", with(spm, keyModel, "t5"), ErrUnsupported, []string{"t5", "llama, gpt2, bert"}},
		{"no vocab", with(spm, keyModel, "no_vocab"), ErrUnsupported, []string{"no vocabulary"}},
		{"model not a string", with(spm, keyModel, int32(1)), nil, []string{keyModel, "string"}},
		{"no tokens", with(spm, keyTokens, nil), gguf.ErrMissing, []string{keyTokens}},
		{"tokens not strings", with(spm, keyTokens, []int32{1, 2}), nil, []string{keyTokens, "array of string"}},
		{"empty tokens", with(with(with(spm, keyTokens, []string{}), keyScores, nil), keyTokenType, nil), nil, []string{keyTokens, "empty"}},
		{"short scores", with(spm, keyScores, make([]float32, ntok-1)), nil, []string{keyScores, fmt.Sprintf("has %d entries but %s has %d", ntok-1, keyTokens, ntok)}},
		{"scores mistyped", with(spm, keyScores, make([]int32, ntok)), nil, []string{keyScores, "float32"}},
		{"long token types", with(spm, keyTokenType, make([]int32, ntok+1)), nil, []string{keyTokenType, fmt.Sprint(ntok + 1)}},
		{"duplicate token", with(with(with(spm, keyTokens, []string{"a", "b", "a"}), keyScores, nil), keyTokenType, nil), nil, []string{"token 2", `"a"`, "token 0"}},
		{"bos out of range", with(spm, keyBOS, uint32(ntok)), nil, []string{keyBOS, fmt.Sprintf("is %d, outside the vocabulary of %d", ntok, ntok)}},
		{"eot out of range", with(spm, keyEOT, uint32(1<<31)), nil, []string{keyEOT}},
		{"eog id out of range", with(spm, keyEOGs, []uint32{2, uint32(ntok)}), nil, []string{keyEOGs + "[1]", fmt.Sprintf("is %d, outside the vocabulary of %d", ntok, ntok)}},
		{"eog id negative", with(spm, keyEOGs, []int32{-1}), nil, []string{keyEOGs + "[0]"}},
		{"eog ids mistyped", with(spm, keyEOGs, []string{"a"}), nil, []string{keyEOGs}},
		{"bos negative", with(spm, keyBOS, int32(-1)), nil, []string{keyBOS}},
		{"bos mistyped", with(spm, keyBOS, "1"), nil, []string{keyBOS}},
		{"add_bos mistyped", with(spm, keyAddBOS, uint8(1)), nil, []string{keyAddBOS, "bool"}},
		{"no merges", with(bpe, keyMerges, nil), gguf.ErrMissing, []string{keyMerges}},
		{"merge without space", with(bpe, keyMerges, []string{"Ġ t", "he"}), nil, []string{keyMerges + "[1]", `"he"`}},
		{"empty merge", with(bpe, keyMerges, []string{""}), nil, []string{keyMerges + "[0]"}},
		{"merge with leading space only", with(bpe, keyMerges, []string{" a"}), nil, []string{keyMerges + "[0]"}},
		{"unknown pre", with(bpe, keyPre, "tekken"), ErrUnsupported, []string{keyPre, "tekken", "llama-bpe", "qwen2"}},
		{"pre mistyped", with(bpe, keyPre, true), nil, []string{keyPre}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk, err := FromGGUF(ggufFile(t, c.entries...))
			if err == nil {
				t.Fatalf("no error (vocabulary of %d)", tk.VocabSize())
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "tokenizer: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestLenientVocabularies covers what llama.cpp accepts and so must load.
func TestLenientVocabularies(t *testing.T) {
	spm, bpe := spmEntries(), bpeEntries("qwen2")
	// Optional arrays may be absent: all tokens are normal, scores 0.
	tk := fromEntries(t, with(with(spm, keyScores, nil), keyTokenType, nil))
	if tk.Type(0) != TypeNormal {
		t.Errorf("type without token_type = %v", tk.Type(0))
	}
	// eog_token_ids adds end-of-generation tokens.
	if tk := fromEntries(t, with(spm, keyEOGs, []uint32{5})); !tk.IsEOG(5) || !tk.IsEOG(2) {
		t.Errorf("with %s [5]: EOGs %v, want 5 and the EOS 2 among them", keyEOGs, tk.EOGs())
	}
	// No pre-tokenizer key: llama.cpp's default expressions.
	if tk := fromEntries(t, with(bpe, keyPre, nil)); tk.Pre() != "default" {
		t.Errorf("pre = %q, want default", tk.Pre())
	}
	// An empty token gets llama.cpp's placeholder text.
	tiny := spm
	for _, k := range []string{keyScores, keyTokenType, keyBOS, keyEOS, keyUNK} {
		tiny = with(tiny, k, nil)
	}
	tk = fromEntries(t, with(tiny, keyTokens, []string{"a", ""}))
	if tk.Text(1) != "[EMPTY_1]" {
		t.Errorf("empty token text = %q", tk.Text(1))
	}
	// Defaults the vocabulary does not reach are dropped, not errors:
	// SentencePiece's EOS defaults to 2, beyond these two tokens.
	if id, ok := tk.EOS(); ok {
		t.Errorf("EOS = %d in a vocabulary of 2", id)
	}
	if id, ok := tk.BOS(); !ok || id != 1 {
		t.Errorf("BOS = %d, %v; want the default 1", id, ok)
	}
}

// TestInvalidUTF8 pins the behaviour on byte strings that are not UTF-8.
func TestInvalidUTF8(t *testing.T) {
	spm := fromEntries(t, spmEntries())
	for _, s := range []string{"\xff", "a\xc3", "\xe6\x97", "日\x80本", "\xed\xa0\x80"} {
		ids := spm.Encode(s, false, false)
		if got := spm.Decode(ids); got != s {
			t.Errorf("SentencePiece %q: %v decodes to %q", s, ids, got)
		}
	}
	// A broken sequence's lead byte takes the next bytes as its
	// continuation, here two of the three bytes of the ▁ that stands for
	// the space, so the space comes back as "▁" (llama.cpp does the same).
	if got := spm.Decode(spm.Encode("\xec ", false, false)); got != "\xec▁" {
		t.Errorf("SentencePiece \\xec+space decodes to %q", got)
	}
	// SentencePiece spells bytes that form no piece with byte tokens.
	space, _ := spm.TokenID("▁")
	xff, _ := spm.TokenID("<0xFF>")
	if got, want := spm.Encode("\xff", false, false), []int32{space, xff}; !slices.Equal(got, want) {
		t.Errorf("Encode(\\xff) = %v, want %v", got, want)
	}
	bpe := fromEntries(t, bpeEntries("qwen2"))
	// BPE sees each invalid byte as U+FFFD, as llama.cpp does.
	for s, want := range map[string]string{
		"\xff":         "\uFFFD",
		"a\xc3b":       "a\uFFFDb",
		"\xed\xa0\x80": "\xed\xa0\x80", // a surrogate passes through
		"\xc0\x80":     "\x00",         // an overlong NUL is decoded
	} {
		if got := bpe.Decode(bpe.Encode(s, false, false)); got != want {
			t.Errorf("BPE %q decodes back to %q, want %q", s, got, want)
		}
	}
}

// withToken returns a BPE vocabulary with one more normal token, text.
func withToken(text string) []kv {
	e := bpeEntries("qwen2")
	for i := range e {
		switch e[i].key {
		case keyTokens:
			e[i].val = append(append([]string(nil), e[i].val.([]string)...), text)
		case keyTokenType:
			e[i].val = append(append([]int32(nil), e[i].val.([]int32)...), 1)
		}
	}
	return e
}

// TestUnmappedBPEToken: a normal BPE token with a code point outside
// GPT-2's byte mapping decodes as llama.cpp's llama_decode_text renders
// it, and a token made to blow that rendering up is refused.
func TestUnmappedBPEToken(t *testing.T) {
	tk := fromEntries(t, withToken("a b"))
	id := int32(tk.VocabSize() - 1)
	if got, want := string(tk.Piece(id)), "a[UNK_BYTE_0x20a b]b"; got != want {
		t.Errorf("piece of %q = %q, want %q", tk.Text(id), got, want)
	}
	// Each of the n code points repeats the whole token: n² bytes, 50 MB
	// here from a 12 kB token.
	_, err := FromGGUF(ggufFile(t, withToken(strings.Repeat("€", 4000))...))
	if err == nil || !strings.Contains(err.Error(), "not byte-level BPE text") {
		t.Errorf("crafted token: %v", err)
	}
}

// TestOutOfRangeIDs: decoding ids outside the vocabulary yields nothing.
func TestOutOfRangeIDs(t *testing.T) {
	for _, tk := range []*Tokenizer{fromEntries(t, spmEntries()), fromEntries(t, bpeEntries("llama-bpe"))} {
		bad := []int32{-1, int32(tk.VocabSize()), 1 << 30, -1 << 31}
		if got := tk.Decode(bad); got != "" {
			t.Errorf("Decode(%v) = %q", bad, got)
		}
		d := tk.NewDecoder()
		for _, id := range bad {
			if s := d.Add(id); s != "" {
				t.Errorf("Decoder.Add(%d) = %q", id, s)
			}
			if p := tk.Piece(id); len(p) != 0 || tk.Text(id) != "" || tk.Type(id) != TypeUndefined {
				t.Errorf("Piece/Text/Type(%d) not empty", id)
			}
		}
	}
}

// TestPreNames: names that share an expression keep llama.cpp's own flags.
func TestPreNames(t *testing.T) {
	for _, c := range []struct {
		pre                   string
		clean, addBOS, hasBOS bool
	}{
		{"llama-bpe", true, true, true},
		{"falcon3", true, true, true},
		{"dbrx", true, false, true},
		{"glm4", true, false, false}, // no default BOS
		{"qwen2", false, false, true},
		{"megrez", true, false, true}, // Qwen2's expression, GPT-2's clean-up
		{"command-r", false, false, true},
		{"starcoder", true, false, true},
		{"trillion", false, false, true},
	} {
		tk := fromEntries(t, bpeEntries(c.pre))
		_, hasBOS := tk.BOS()
		if tk.Pre() != c.pre || tk.cleanSpaces != c.clean || tk.AddBOS() != c.addBOS || hasBOS != c.hasBOS {
			t.Errorf("%s: pre %q clean %v addBOS %v hasBOS %v, want %v %v %v", c.pre, tk.Pre(), tk.cleanSpaces, tk.AddBOS(), hasBOS, c.clean, c.addBOS, c.hasBOS)
		}
	}
	// Jina v2's <mask> takes the spaces before it.
	e := bpeEntries("jina-v2-code")
	for i := range e {
		if e[i].key == keyTokens {
			toks := append([]string(nil), e[i].val.([]string)...)
			toks[len(toks)-1] = "<mask>" // the user-defined token
			e[i].val = toks
		}
	}
	tk := fromEntries(t, e)
	mask, _ := tk.TokenID("<mask>")
	// Token ids are the bytes here: 'a' is 97.
	if got, want := tk.Encode("a  <mask>", false, false), []int32{'a', mask}; !slices.Equal(got, want) {
		t.Errorf("jina <mask>: got %v, want %v", got, want)
	}
}
