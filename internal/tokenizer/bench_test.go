package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/testdata"
)

// BenchmarkLoad measures FromGGUF on the real vocabularies. The baseline,
// "open", is gguf.Open alone (parsing the metadata arrays), so the
// difference is the tokenizer's own work: maps, merges, piece cache.
func BenchmarkLoad(b *testing.B) {
	for _, v := range vocabs {
		path := testdata.Path(b, "tokenizers", v.name+"-vocab.gguf")
		b.Run(v.name+"/open", func(b *testing.B) {
			for b.Loop() {
				f, err := gguf.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
		b.Run(v.name+"/tokenizer", func(b *testing.B) {
			for b.Loop() {
				f, err := gguf.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := FromGGUF(f); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// BenchmarkEncode encodes the whole corpus (335 lines) per iteration;
// MB/s counts input bytes.
func BenchmarkEncode(b *testing.B) {
	corpus := corpusTexts(b)
	n := 0
	for _, s := range corpus {
		n += len(s)
	}
	for _, v := range vocabs {
		tk := vocab(b, v.name)
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				for _, s := range corpus {
					tk.Encode(s, true, false)
				}
			}
		})
	}
}

// BenchmarkDecode decodes the corpus's ids; MB/s counts output bytes.
func BenchmarkDecode(b *testing.B) {
	corpus := corpusTexts(b)
	for _, v := range vocabs {
		tk := vocab(b, v.name)
		var ids [][]int32
		n := 0
		for _, s := range corpus {
			ids = append(ids, tk.Encode(s, false, false))
			n += len(s)
		}
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				for _, x := range ids {
					tk.Decode(x)
				}
			}
		})
	}
}

// BenchmarkPreTokenize compares the hand-written Llama 3 splitter with the
// same expression run by regexp2 (the baseline), over the corpus.
func BenchmarkPreTokenize(b *testing.B) {
	corpus := corpusTexts(b)
	n := 0
	for _, s := range corpus {
		n += len(s)
	}
	exprs := compileExprs(b, preLlama3)
	b.Run("regexp2", func(b *testing.B) {
		b.SetBytes(int64(n))
		for b.Loop() {
			for _, s := range corpus {
				regexSplit(b, exprs, s)
			}
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		b.SetBytes(int64(n))
		var txt text
		var lens []int
		for b.Loop() {
			for _, s := range corpus {
				txt.cpts = decodeRunes(s, txt.cpts)
				txt.flags = txt.flags[:0]
				for _, r := range txt.cpts {
					txt.flags = append(txt.flags, flagsOf(r))
				}
				lens = preLlama3.split(&txt, lens)
			}
		}
	})
}

// BenchmarkEncodeLong encodes one long run of text without spaces, where
// all merging happens in a single word (BPE) or fragment (SentencePiece):
// time per byte should stay flat as the length grows 64-fold (a priority
// queue of merges, not a rescan per merge).
func BenchmarkEncodeLong(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	letters := "etaoinshrdlucmfwypvbgkjqxz"
	var sb strings.Builder
	for sb.Len() < 64<<10 {
		sb.WriteByte(letters[rng.IntN(len(letters))])
	}
	long := sb.String()
	for _, name := range []string{"llama3", "gemma2"} {
		tk := vocab(b, name)
		for _, size := range []int{1 << 10, 8 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/%dKiB", name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					tk.Encode(long[:size], false, false)
				}
			})
		}
	}
}

// BenchmarkLookup compares strTable with a Go map (the baseline) on the
// lookups SentencePiece makes: every pair of adjacent characters of the
// corpus against Gemma's 256k tokens, most of them misses.
func BenchmarkLookup(b *testing.B) {
	tk := vocab(b, "gemma2")
	m := make(map[string]int32, tk.VocabSize())
	for i, s := range tk.tokens {
		m[s] = int32(i)
	}
	var keys []string
	for _, s := range corpusTexts(b) {
		rs := []rune(strings.ReplaceAll(" "+s, " ", "▁"))
		for i := 0; i+1 < len(rs); i++ {
			keys = append(keys, string(rs[i:i+2]))
		}
	}
	hits := 0
	for _, k := range keys {
		if _, ok := m[k]; ok {
			hits++
		}
	}
	b.Logf("%d keys, %d hits", len(keys), hits)
	b.Run("map", func(b *testing.B) {
		for b.Loop() {
			for _, k := range keys {
				_, _ = m[k]
			}
		}
	})
	b.Run("strtable", func(b *testing.B) {
		for b.Loop() {
			for _, k := range keys {
				tk.ids.get(k)
			}
		}
	})
}
