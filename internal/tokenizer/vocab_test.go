package tokenizer

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
)

// kv is one metadata entry of a test vocabulary.
type kv struct {
	key string
	val any
}

// ggufFile writes the entries into an in-memory GGUF file and parses it.
func ggufFile(t testing.TB, entries ...kv) *gguf.File {
	t.Helper()
	b := gguf.NewBuilder()
	for _, e := range entries {
		if err := b.Set(e.key, e.val); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// spmEntries is a small SentencePiece vocabulary: unknown, BOS and EOS,
// the 256 byte tokens, a few scored pieces, a user-defined <tag> and a
// control <|ctl|>.
func spmEntries() []kv {
	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{2, 3, 3}
	scores := []float32{0, 0, 0}
	for b := 0; b < 256; b++ {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6)
		scores = append(scores, 0)
	}
	for _, p := range []struct {
		s     string
		score float32
	}{
		{"▁", -1}, {"a", -2}, {"b", -2}, {"c", -2}, {"▁a", -1.5}, {"ab", -1}, {"bc", -1.2}, {"abc", -0.5},
		{"t", -3}, {"h", -3}, {"e", -3}, {"th", -2}, {"he", -2}, {"the", -1}, {"▁the", -0.3},
		{"é", -2}, {"▁é", -1}, {"日", -2}, {"本", -2}, {"日本", -1}, {"▁▁", -1}, {".", -2},
	} {
		tokens = append(tokens, p.s)
		types = append(types, 1)
		scores = append(scores, p.score)
	}
	tokens = append(tokens, "<tag>", "<|ctl|>")
	types = append(types, 4, 3)
	scores = append(scores, 0, 0)
	return []kv{
		{"general.architecture", "llama"},
		{keyModel, "llama"},
		{keyTokens, tokens},
		{keyScores, scores},
		{keyTokenType, types},
		{keyBOS, uint32(1)},
		{keyEOS, uint32(2)},
		{keyUNK, uint32(0)},
	}
}

// bpeEntries is a small byte-level BPE vocabulary with the given
// pre-tokenizer: the 256 mapped bytes, some merges, control tokens and a
// user-defined <think>.
func bpeEntries(pre string) []kv {
	var tokens []string
	for b := 0; b < 256; b++ {
		tokens = append(tokens, string(byteToRune[b]))
	}
	merges := []string{"Ġ t", "h e", "Ġt he", "i n", "Ġ a", "Ġ Ġ", "ĠĠ ĠĠ", "l l", "e ll", "Ġ w", "1 2", "12 3", "Ã ©"}
	for _, m := range merges {
		tokens = append(tokens, string(bytes.ReplaceAll([]byte(m), []byte(" "), nil)))
	}
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = 1
	}
	tokens = append(tokens, "<|endoftext|>", "<|im_start|>", "<think>")
	types = append(types, 3, 3, 4)
	return []kv{
		{"general.architecture", "qwen2"},
		{keyModel, "gpt2"},
		{keyPre, pre},
		{keyTokens, tokens},
		{keyTokenType, types},
		{keyMerges, merges},
		{keyEOS, uint32(len(tokens) - 3)},
	}
}

func fromEntries(t testing.TB, entries []kv) *Tokenizer {
	t.Helper()
	tk, err := FromGGUF(ggufFile(t, entries...))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// with returns entries with key set to val (added if absent), or removed
// when val is nil.
func with(entries []kv, key string, val any) []kv {
	out := make([]kv, 0, len(entries)+1)
	found := false
	for _, e := range entries {
		if e.key == key {
			found = true
			if val == nil {
				continue
			}
			e.val = val
		}
		out = append(out, e)
	}
	if !found && val != nil {
		out = append(out, kv{key, val})
	}
	return out
}
