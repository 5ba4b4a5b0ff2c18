package synth

import (
	"fmt"
	"strings"

	"github.com/raym33/ainative/internal/gguf"
)

// A synthetic vocabulary: GPT-2-style byte-level BPE whose 256 byte
// tokens cover any text, merges that make common English words single
// tokens, ChatML's special tokens, and unused padding up to the model's
// vocabulary size. It is small and made up, but it tokenizes and
// detokenizes like a real one, which is all a synthetic model needs.

// words become tokens through chains of merges (" the" = "Ġ"+"t", +"h",
// +"e"). A leading space is part of a word, as in GPT-2.
var words = strings.Fields(`the of and to in is that it for was on are as with be by this at from or
an have not but which they you were his her we all can has there their been one more will would
what about when so if no out up said who she time do some them into only other new could than
then now its like over these also two may first any our after most such make well way very model
system text token hello world answer question`)

// Token types of tokenizer.ggml.token_type (llama.cpp's enum).
const (
	typeNormal  = 1
	typeControl = 3
	typeUnused  = 5
)

// byteRunes is GPT-2's byte-to-character mapping: printable bytes stand
// for themselves, the others map to characters from U+0100 on.
func byteRunes() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}

// syntheticVocab writes the vocabulary's metadata for n tokens.
func syntheticVocab(b *gguf.Builder, n int) error {
	br := byteRunes()
	var tokens []string
	var types []int32
	index := map[string]bool{}
	add := func(s string, typ int32) {
		tokens = append(tokens, s)
		types = append(types, typ)
		index[s] = true
	}
	for _, r := range br {
		add(string(r), typeNormal)
	}
	var merges []string
	for _, w := range words {
		for _, word := range []string{" " + w, w} {
			var enc []string
			for _, c := range []byte(word) {
				enc = append(enc, string(br[c]))
			}
			cur := enc[0]
			for _, next := range enc[1:] {
				joined := cur + next
				if !index[joined] {
					merges = append(merges, cur+" "+next)
					add(joined, typeNormal)
				}
				cur = joined
			}
		}
	}
	specials := []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
	if len(tokens)+len(specials) > n {
		// Too small for all the words: keep the bytes and the first
		// merges (each merge only uses bytes and earlier merges).
		if n < 256+len(specials) {
			return fmt.Errorf("synth: a vocabulary of %d tokens cannot hold the 256 byte tokens and %d special ones", n, len(specials))
		}
		keep := n - len(specials)
		tokens, types, merges = tokens[:keep], types[:keep], merges[:keep-256]
	}
	eos := int32(len(tokens))
	for _, s := range specials {
		add(s, typeControl)
	}
	for i := 0; len(tokens) < n; i++ {
		add(fmt.Sprintf("<|unused_%d|>", i), typeUnused)
	}
	set := []struct {
		k string
		v any
	}{
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", "default"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.merges", merges},
		{"tokenizer.ggml.bos_token_id", uint32(eos)},
		{"tokenizer.ggml.eos_token_id", uint32(eos)},
		{"tokenizer.ggml.eot_token_id", uint32(eos + 2)},
		{"tokenizer.ggml.padding_token_id", uint32(eos)},
		{"tokenizer.ggml.add_bos_token", false},
		{"tokenizer.chat_template", chatML},
	}
	for _, kv := range set {
		if err := b.Set(kv.k, kv.v); err != nil {
			return err
		}
	}
	return nil
}

const chatML = `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

// copyVocab copies the tokenizer and chat template metadata of f and
// returns the vocabulary size.
func copyVocab(b *gguf.Builder, f *gguf.File) (int, error) {
	toks, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil {
		return 0, fmt.Errorf("synth: vocabulary file: %w", err)
	}
	for _, kv := range f.Metadata {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			if err := b.Set(kv.Key, kv.Value); err != nil {
				return 0, err
			}
		}
	}
	return len(toks), nil
}
