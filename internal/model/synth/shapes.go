package synth

import (
	"fmt"
	"slices"
	"strings"
)

// Shape is the size of a model: what its hyperparameters and tensor
// shapes are, whatever its weights. The real-sized shapes copy published
// models' configurations, so a synthesized file streams exactly as many
// bytes per token as the real model would.
type Shape struct {
	Name    string
	Arch    string // native architecture (general.architecture)
	Embed   int
	Layers  int
	Heads   int
	KVHeads int
	HeadDim int
	FFN     int
	Vocab   int
	Context int
	NormEps float32
	// RopeBase is rope.freq_base; RopeDims is rope.dimension_count (0:
	// the head size).
	RopeBase float32
	RopeDims int
	Tied     bool // output shares the token embedding
	// Llama3Rope asks for Llama 3.x's rope_freqs frequency factors.
	Llama3Rope *Llama3Rope
	// SlidingWindow for Gemma; 0 means the architecture's default.
	SlidingWindow int
	// Experts makes every block's feed-forward a mixture of Experts
	// experts of ExpertFFN hidden units, ExpertsUsed of them run per
	// token (0: dense). A dense shape given to qwen3moe, always a
	// mixture, gets 8 experts of FFN/2, 2 per token.
	Experts, ExpertsUsed, ExpertFFN int
}

// Llama3Rope is Llama 3.1's RoPE frequency scaling ("llama3" rope_type).
type Llama3Rope struct {
	Factor, LowFreqFactor, HighFreqFactor float64
	OrigContext                           int
}

// Shapes are the shapes `ainative gguf synth --shape` knows.
var Shapes = map[string]Shape{
	// A few kB, for fuzzing: the smallest model every architecture accepts.
	"micro": {Name: "micro", Arch: "llama", Embed: 32, Layers: 1, Heads: 2, KVHeads: 1, HeadDim: 16, FFN: 32,
		Vocab: 260, Context: 64, NormEps: 1e-5, RopeBase: 10000},
	// A few MB, for tests: the fixtures' dimensions (hidden 256, 4 heads
	// of 64, 2 KV heads, FFN 512) with a 512-token vocabulary.
	"tiny": {Name: "tiny", Arch: "llama", Embed: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64, FFN: 512,
		Vocab: 512, Context: 2048, NormEps: 1e-5, RopeBase: 10000},
	"qwen2.5-0.5b": {Name: "qwen2.5-0.5b", Arch: "qwen2", Embed: 896, Layers: 24, Heads: 14, KVHeads: 2, HeadDim: 64, FFN: 4864,
		Vocab: 151936, Context: 32768, NormEps: 1e-6, RopeBase: 1e6, Tied: true},
	"qwen3-0.6b": {Name: "qwen3-0.6b", Arch: "qwen3", Embed: 1024, Layers: 28, Heads: 16, KVHeads: 8, HeadDim: 128, FFN: 3072,
		Vocab: 151936, Context: 40960, NormEps: 1e-6, RopeBase: 1e6, Tied: true},
	"llama3.2-1b": {Name: "llama3.2-1b", Arch: "llama", Embed: 2048, Layers: 16, Heads: 32, KVHeads: 8, HeadDim: 64, FFN: 8192,
		Vocab: 128256, Context: 131072, NormEps: 1e-5, RopeBase: 500000, Tied: true,
		Llama3Rope: &Llama3Rope{Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OrigContext: 8192}},
	// Dense sizes people run at home (Q4_K_M files of 2-5 GB), for
	// benchmarks of what a user would see before downloading.
	"llama3.2-3b": {Name: "llama3.2-3b", Arch: "llama", Embed: 3072, Layers: 28, Heads: 24, KVHeads: 8, HeadDim: 128, FFN: 8192,
		Vocab: 128256, Context: 131072, NormEps: 1e-5, RopeBase: 500000, Tied: true,
		Llama3Rope: &Llama3Rope{Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OrigContext: 8192}},
	"qwen2.5-7b": {Name: "qwen2.5-7b", Arch: "qwen2", Embed: 3584, Layers: 28, Heads: 28, KVHeads: 4, HeadDim: 128, FFN: 18944,
		Vocab: 152064, Context: 32768, NormEps: 1e-6, RopeBase: 1e6},
	// Gemma 3 4B's language model (its vision tower is not part of a
	// text GGUF); the linear RoPE scaling of its global layers, which
	// changes no byte read per token, is left out.
	"gemma3-4b": {Name: "gemma3-4b", Arch: "gemma3", Embed: 2560, Layers: 34, Heads: 8, KVHeads: 4, HeadDim: 256, FFN: 10240,
		Vocab: 262208, Context: 131072, NormEps: 1e-6, RopeBase: 1e6, Tied: true, SlidingWindow: 1024},
	"smollm2-135m": {Name: "smollm2-135m", Arch: "llama", Embed: 576, Layers: 30, Heads: 9, KVHeads: 3, HeadDim: 64, FFN: 1536,
		Vocab: 49152, Context: 8192, NormEps: 1e-5, RopeBase: 100000, Tied: true},
	"gemma2-2b": {Name: "gemma2-2b", Arch: "gemma2", Embed: 2304, Layers: 26, Heads: 8, KVHeads: 4, HeadDim: 256, FFN: 9216,
		Vocab: 256000, Context: 8192, NormEps: 1e-6, RopeBase: 10000, Tied: true, SlidingWindow: 4096},
	"gemma3-1b": {Name: "gemma3-1b", Arch: "gemma3", Embed: 1152, Layers: 26, Heads: 4, KVHeads: 1, HeadDim: 256, FFN: 6912,
		Vocab: 262144, Context: 32768, NormEps: 1e-6, RopeBase: 1e6, Tied: true, SlidingWindow: 512},
	// The fixtures' qwen3moe: 8 experts of 256, top 2.
	"qwen3moe-tiny": {Name: "qwen3moe-tiny", Arch: "qwen3moe", Embed: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64, FFN: 512,
		Vocab: 512, Context: 2048, NormEps: 1e-6, RopeBase: 1e6, Tied: true, Experts: 8, ExpertsUsed: 2, ExpertFFN: 256},
	// The fixtures' mixtral: a llama file with 4 experts of 512, top 2.
	"mixtral-tiny": {Name: "mixtral-tiny", Arch: "llama", Embed: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64, FFN: 512,
		Vocab: 512, Context: 2048, NormEps: 1e-5, RopeBase: 1e6, Experts: 4, ExpertsUsed: 2, ExpertFFN: 512},
	// A Qwen3-MoE of 1.3B parameters, 0.2B active (64 experts of 512, 8
	// per token), for benchmarks on machines without room for
	// qwen3-30b-a3b: big enough that decode streams from memory.
	"qwen3moe-1b-a0.2b": {Name: "qwen3moe-1b-a0.2b", Arch: "qwen3moe", Embed: 1024, Layers: 12, Heads: 16, KVHeads: 4, HeadDim: 64, FFN: 3072,
		Vocab: 32768, Context: 4096, NormEps: 1e-6, RopeBase: 1e6, Tied: true, Experts: 64, ExpertsUsed: 8, ExpertFFN: 512},
	// Qwen3-30B-A3B: 128 experts of 768, 8 per token (about 3.3B active
	// parameters of 30.5B).
	"qwen3-30b-a3b": {Name: "qwen3-30b-a3b", Arch: "qwen3moe", Embed: 2048, Layers: 48, Heads: 32, KVHeads: 4, HeadDim: 128, FFN: 6144,
		Vocab: 151936, Context: 40960, NormEps: 1e-6, RopeBase: 1e6, Experts: 128, ExpertsUsed: 8, ExpertFFN: 768},
	"phi3-mini": {Name: "phi3-mini", Arch: "phi3", Embed: 3072, Layers: 32, Heads: 32, KVHeads: 32, HeadDim: 96, FFN: 8192,
		Vocab: 32064, Context: 4096, NormEps: 1e-5, RopeBase: 10000},
}

// Archs are the architectures Build can write.
var Archs = []string{"gemma2", "gemma3", "llama", "phi3", "qwen2", "qwen3", "qwen3moe"}

// moeArchs are the architectures that can hold a mixture of experts
// (llama as Mixtral does); qwen3moe must.
var moeArchs = []string{"llama", "qwen3moe"}

func names[V any](m map[string]V) string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	slices.Sort(n)
	return strings.Join(n, ", ")
}

// ShapeNames lists the known shapes, for help texts.
func ShapeNames() string { return names(Shapes) }

func lookupShape(name string) (Shape, error) {
	s, ok := Shapes[name]
	if !ok {
		return Shape{}, fmt.Errorf("synth: unknown shape %q (known: %s)", name, ShapeNames())
	}
	return s, nil
}
