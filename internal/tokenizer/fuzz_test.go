package tokenizer

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"", " ", "a", "abc", "the the", "  two", "trailing ", "\n\n", "\t x", "日本語", "é ée", "x\xffy", "\xc3",
	"<tag>a<|ctl|>b", "<s>hi</s>", "<|im_start|>user<think>x</think>", "I'm don't 12345", "a ' b 're .,?!",
	"▁literal", "\x00\x01", "\U0001F600 \u3000 \u00a0",
}

// checkIDs fails unless every id is in the vocabulary.
func checkIDs(t *testing.T, tk *Tokenizer, s string, ids []int32) {
	t.Helper()
	for _, id := range ids {
		if id < 0 || int(id) >= tk.VocabSize() {
			t.Fatalf("Encode(%q) gave id %d outside [0, %d)", s, id, tk.VocabSize())
		}
	}
}

// checkStream fails unless streaming decode gives Decode's text, and
// every chunk but the last ends on a UTF-8 boundary where the text is UTF-8.
func checkStream(t *testing.T, tk *Tokenizer, ids []int32) {
	t.Helper()
	want := tk.Decode(ids)
	valid := utf8.ValidString(want)
	d := tk.NewDecoder()
	var b strings.Builder
	for _, id := range ids {
		chunk := d.Add(id)
		if valid && !utf8.ValidString(chunk) {
			t.Fatalf("Decoder.Add(%d) returned a partial character %q", id, chunk)
		}
		b.WriteString(chunk)
	}
	b.WriteString(d.Flush())
	if b.String() != want {
		t.Fatalf("streaming decode of %v = %q, Decode = %q", ids, b.String(), want)
	}
}

// FuzzEncodeSPM runs random text through a small SentencePiece vocabulary
// with byte fallback. UTF-8 text must round-trip, except where
// SentencePiece cannot tell: a literal ▁ reads back as a space, and after
// a user-defined token the space prefix comes back. (Other byte strings
// need not: as in llama.cpp, a broken sequence's lead byte takes the next
// bytes with it, which may be part of the ▁ standing for a space.)
func FuzzEncodeSPM(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	tk := fromEntries(f, spmEntries())
	f.Fuzz(func(t *testing.T, s string, addSpecial, parseSpecial bool) {
		ids := tk.Encode(s, addSpecial, parseSpecial)
		checkIDs(t, tk, s, ids)
		if addSpecial && (len(ids) == 0 || ids[0] != 1) {
			t.Fatalf("Encode(%q, addSpecial) = %v: no BOS", s, ids)
		}
		checkStream(t, tk, ids)
		plain := tk.Encode(s, false, false)
		if utf8.ValidString(s) && !strings.Contains(s, "▁") && !strings.Contains(s, "<tag>") {
			if got := tk.Decode(plain); got != s {
				t.Fatalf("Decode(Encode(%q)) = %q (ids %v)", s, got, plain)
			}
		}
		if got := tk.DecodeWith(tk.Encode(s, true, false), DecodeOptions{RemoveSpecial: true}); got != " "+tk.Decode(plain) && got != tk.Decode(plain) {
			t.Fatalf("RemoveSpecial decode of %q = %q", s, got)
		}
	})
}

// FuzzEncodeBPE runs random text through a small byte-level BPE vocabulary
// under each pre-tokenizer. Decoding gives back the text as llama.cpp
// reads it (invalid bytes as U+FFFD), with the space clean-up where the
// pre-tokenizer asks for it.
func FuzzEncodeBPE(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	var tks []*Tokenizer
	for _, pre := range []string{"llama-bpe", "qwen2", "default", "gpt-2", "smollm", "deepseek-llm"} {
		tks = append(tks, fromEntries(f, bpeEntries(pre)))
	}
	f.Fuzz(func(t *testing.T, s string, parseSpecial bool) {
		want := []byte(string(appendRunes(nil, decodeRunes(s, nil))))
		for _, tk := range tks {
			ids := tk.Encode(s, false, parseSpecial)
			checkIDs(t, tk, s, ids)
			checkStream(t, tk, ids)
			w := string(want)
			if tk.cleanSpaces {
				w = string(cleanSpaces([]byte(w)))
			}
			if got := tk.Decode(ids); got != w {
				t.Fatalf("%s: Decode(Encode(%q)) = %q, want %q (ids %v)", tk.Pre(), s, got, w, ids)
			}
		}
	})
}

// FuzzFromGGUF builds tokenizers from random metadata: random token texts
// (duplicates, empty, invalid UTF-8), arrays of random lengths and types,
// random merges, pre-tokenizers and special token ids. Loading must fail
// cleanly or give a tokenizer that encodes and decodes without panicking.
func FuzzFromGGUF(f *testing.F) {
	f.Add([]byte{0, 5, 'a', 'b', 'c', ' ', 'd', 0, 1, 2, 3}, "abc d")
	f.Add([]byte{1, 8, 1, 'a', ' ', 'b', 2, 0xff, 0xfe, 0, 9, 9, 9}, "a b\xff")
	f.Add([]byte{1, 3, 2, 'x', 'y', 'z', 3, 3, 3, 3, 3, 3, 3, 3}, "xyz")
	f.Add([]byte("\x00\x20<s></s><unk>hello world \x01\x02\x03\x04\x05\x06\x07\x08"), "<s>hello</s>")
	f.Add([]byte("\x01\x40Ġ t h e Ġt he <|im_end|> <think> \x09\x07\x05\x03"), "<|im_end|>the<think>")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		r := fuzzReader{data: data}
		var entries []kv
		switch r.byte() % 5 {
		case 0, 4:
			entries = append(entries, kv{keyModel, "llama"})
		case 1, 3:
			entries = append(entries, kv{keyModel, "gpt2"})
			pres := []string{"llama-bpe", "qwen2", "default", "gpt-2", "smollm", "deepseek-llm", "unknown"}
			if p := int(r.byte()) % (len(pres) + 1); p < len(pres) {
				entries = append(entries, kv{keyPre, pres[p]})
			}
		default:
			entries = append(entries, kv{keyModel, r.str()})
		}
		n := int(r.byte()) % 48
		var tokens []string
		for range n {
			tokens = append(tokens, r.str())
		}
		entries = append(entries, kv{keyTokens, tokens})
		delta := func() int { return int(r.byte()%4) - 1 } // -1..2, mostly 0
		if m := n + delta(); r.byte()%2 == 0 && m >= 0 {
			scores := make([]float32, m)
			for i := range scores {
				scores[i] = float32(int8(r.byte())) / 8
			}
			entries = append(entries, kv{keyScores, scores})
		}
		if m := n + delta(); r.byte()%2 == 0 && m >= 0 {
			types := make([]int32, m)
			for i := range types {
				types[i] = int32(r.byte()%8) - 1
			}
			entries = append(entries, kv{keyTokenType, types})
		}
		if r.byte()%4 != 0 {
			var merges []string
			for range int(r.byte()) % 32 {
				if r.byte()%8 == 0 {
					merges = append(merges, r.str())
				} else if n > 0 {
					merges = append(merges, tokens[int(r.byte())%n]+" "+tokens[int(r.byte())%n])
				}
			}
			entries = append(entries, kv{keyMerges, merges})
		}
		for _, key := range []string{keyBOS, keyEOS, keyEOT, keyUNK, keyPAD, keyFIMPad} {
			switch r.byte() % 6 {
			case 0:
				entries = append(entries, kv{key, uint32(int(r.byte()) % (n + 2))})
			case 1:
				entries = append(entries, kv{key, int32(r.u32())})
			case 2:
				entries = append(entries, kv{key, "x"})
			}
		}
		for _, key := range []string{keyAddBOS, keyAddEOS, keyAddPrefix} {
			switch r.byte() % 4 {
			case 0:
				entries = append(entries, kv{key, r.byte()%2 == 0})
			case 1:
				entries = append(entries, kv{key, uint8(1)})
			}
		}
		if r.byte()%4 == 0 {
			entries = append(entries, kv{keyGeneralName, "Phi-3 mini"})
		}

		tk, err := FromGGUF(ggufFile(t, entries...))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tokenizer: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		for _, s := range []string{text, strings.Join(tokens, ""), strings.Join(tokens, " ")} {
			for _, flags := range [][2]bool{{false, false}, {true, true}} {
				ids := tk.Encode(s, flags[0], flags[1])
				checkIDs(t, tk, s, ids)
				checkStream(t, tk, ids)
			}
		}
		all := make([]int32, 0, n+2)
		for id := int32(-1); id <= int32(n); id++ {
			all = append(all, id)
			tk.Piece(id)
			tk.IsEOG(id)
		}
		checkStream(t, tk, all)
	})
}

// fuzzReader hands out the fuzz input as decisions, zeros when it runs out.
type fuzzReader struct {
	data []byte
	off  int
}

func (r *fuzzReader) byte() byte {
	if r.off >= len(r.data) {
		return 0
	}
	b := r.data[r.off]
	r.off++
	return b
}

func (r *fuzzReader) u32() uint32 {
	var b [4]byte
	for i := range b {
		b[i] = r.byte()
	}
	return binary.LittleEndian.Uint32(b[:])
}

// str reads a length byte (at most 15) and that many bytes.
func (r *fuzzReader) str() string {
	n := int(r.byte() % 16)
	var b []byte
	for range n {
		b = append(b, r.byte())
	}
	return string(b)
}
