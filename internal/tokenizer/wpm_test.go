package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/testdata"
)

// TestWordPieceGolden checks the ids of the 43 embedding texts (accents,
// punctuation, Chinese, unknown words, empty text, a 120-character word)
// against llama.cpp's, on both encoder fixtures' vocabularies.
func TestWordPieceGolden(t *testing.T) {
	for _, name := range []string{"bert-F16", "nomicbert-F16"} {
		t.Run(name, func(t *testing.T) {
			tk := mustLoad(t, testdata.Path(t, "models", name+".gguf"))
			if tk.Model() != WordPiece {
				t.Fatalf("Model() = %v, want WordPiece", tk.Model())
			}
			f, err := os.Open(testdata.Path(t, "embeddings", name+".embed.mean.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			n := 0
			for sc.Scan() {
				var g struct {
					Text string  `json:"text"`
					IDs  []int32 `json:"ids"`
				}
				if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
					t.Fatal(err)
				}
				n++
				if got := tk.Encode(g.Text, true, false); !slices.Equal(got, g.IDs) {
					t.Errorf("Encode(%q) =\n %v, want\n %v", g.Text, got, g.IDs)
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if n != 43 {
				t.Fatalf("%d golden lines, want 43", n)
			}
		})
	}
}

// wpmEntries is a small WordPiece vocabulary in the layout the converter
// writes: specials, "▁"-prefixed word starts, bare continuations.
func wpmEntries() []kv {
	tokens := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
		"▁the", "▁cat", "▁run", "ning", "▁a", "b", "c", "▁b", "▁c", "▁x", "x", "▁.", "▁,", "▁中", "▁e", "e", "▁é"}
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = 1
	}
	for i := range 5 {
		types[i] = 3
	}
	types[1] = 2
	return []kv{
		{"general.architecture", "bert"},
		{keyModel, "bert"},
		{keyTokens, tokens},
		{keyTokenType, types},
		{"tokenizer.ggml.cls_token_id", uint32(2)},
		{keyBOS, uint32(2)},
		{keySEP, uint32(3)},
		{keyUNK, uint32(1)},
		{keyPAD, uint32(0)},
		{keyMask, uint32(4)},
	}
}

func TestWordPieceSmall(t *testing.T) {
	tk := fromEntries(t, wpmEntries())
	for _, c := range []struct {
		text string
		want []int32
	}{
		{"", []int32{2, 3}},
		{"  \t\n", []int32{2, 3}},
		{"The CAT", []int32{2, 5, 6, 3}},
		{"running", []int32{2, 7, 8, 3}},
		{"abc", []int32{2, 9, 10, 11, 3}},
		{"abd", []int32{2, 1, 3}},                 // no piece for d: the whole word is unknown
		{"cat.the,", []int32{2, 6, 16, 5, 17, 3}}, // punctuation is a word of its own
		{"中中", []int32{2, 18, 18, 3}},             // CJK ideographs are one-character words
		{"É é", []int32{2, 19, 19, 3}},            // accents dropped
		{"[CLS]", []int32{2, 1, 1, 1, 3}},         // "[", "cls", "]": special text is text
		{"x\x00x\u200bx", []int32{2, 14, 15, 15, 3}},
		{strings.Repeat("x", 300), append(append([]int32{2, 14}, slices.Repeat([]int32{15}, 299)...), 3)},
	} {
		if got := tk.Encode(c.text, true, false); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	if got := tk.Encode("[CLS]the", false, true); !slices.Equal(got, []int32{2, 5}) {
		t.Errorf("Encode with parseSpecial = %v, want [2 5]", got)
	}
	if got := tk.Decode([]int32{5, 6, 16}); got != " the cat." {
		t.Errorf("Decode = %q, want %q", got, " the cat.")
	}
	if sep, ok := tk.SEP(); !ok || sep != 3 {
		t.Errorf("SEP() = %d, %v", sep, ok)
	}
}

// TestNFDFirst checks llama.cpp's one-for-one "NFD" on a few code points,
// including one whose decomposition leaves the BMP.
func TestNFDFirst(t *testing.T) {
	for _, c := range []struct{ in, want rune }{
		{'a', 'a'}, {'é', 'e'}, {'Ü', 'U'}, {'ç', 'c'}, {'\u0301', '\u0301'},
		{'한', 0x1112}, {0xFA6C, 0x242EE}, {0x1D15E, 0x1D157}, {'中', '中'},
	} {
		if got := nfdFirst(c.in); got != c.want {
			t.Errorf("nfdFirst(%U) = %U, want %U", c.in, got, c.want)
		}
	}
}

func TestWordPieceNeedsUnknown(t *testing.T) {
	e := wpmEntries()
	e = with(e, keyUNK, nil)
	e = with(e, keyTokens, []string{"[PAD]", "▁a"})
	e = with(e, keyTokenType, []int32{3, 1})
	e = with(e, keyBOS, nil)
	e = with(e, keySEP, nil)
	e = with(e, keyPAD, nil)
	e = with(e, keyMask, nil)
	e = with(e, "tokenizer.ggml.cls_token_id", nil)
	if _, err := FromGGUF(ggufFile(t, e...)); err == nil || !strings.Contains(err.Error(), "unknown token") {
		t.Fatalf("FromGGUF without an unknown token: err = %v", err)
	}
}

// FuzzEncodeWPM runs random text through the small WordPiece vocabulary:
// ids in range, bracketed by [CLS] and [SEP], and the same ids whether
// the text is encoded whole or with its whitespace-separated words
// encoded one by one (words never interact).
func FuzzEncodeWPM(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	tk := fromEntries(f, wpmEntries())
	f.Fuzz(func(t *testing.T, s string, parseSpecial bool) {
		ids := tk.Encode(s, true, parseSpecial)
		checkIDs(t, tk, s, ids)
		checkStream(t, tk, ids)
		if len(ids) < 2 || ids[0] != 2 || ids[len(ids)-1] != 3 {
			t.Fatalf("Encode(%q) = %v: not bracketed by [CLS] [SEP]", s, ids)
		}
		if parseSpecial {
			return
		}
		var parts []int32
		for _, w := range strings.Fields(s) {
			parts = append(parts, tk.Encode(w, false, false)...)
		}
		if plain := tk.Encode(s, false, false); !slices.Equal(plain, ids[1:len(ids)-1]) || (isASCIISpaced(s) && !slices.Equal(plain, parts)) {
			t.Fatalf("Encode(%q) = %v, word by word %v", s, plain, parts)
		}
	})
}

// isASCIISpaced reports whether s is valid UTF-8 whose only whitespace is
// ASCII, where strings.Fields splits as the tokenizer does.
func isASCIISpaced(s string) bool {
	for _, r := range s {
		if r == 0xFFFD || (r > 0x7F && strings.TrimSpace(string(r)) == "") || r == 0x85 {
			return false
		}
	}
	return true
}
