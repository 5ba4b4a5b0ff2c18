// Package synth writes GGUF models with deterministic pseudo-random
// weights: real architectures in real shapes (Qwen2.5-0.5B, Llama 3.2 1B,
// ...) or tiny ones, in any of llama.cpp's file types, so that tests and
// benchmarks need no downloaded model.
//
// The weights are normal noise (embeddings and projections N(0, 0.02),
// norm weights N(1, 0.1)); the text such a model writes is gibberish, but
// it computes and streams memory exactly like the real one, which is
// what a benchmark measures. The same seed gives the same file, byte for
// byte, whatever the number of threads: each chunk of rows draws from its
// own generator, seeded by the seed, the tensor's name and the chunk.
package synth

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/tensor"
)

// Options say what to synthesize.
type Options struct {
	Arch  string // architecture; "" means the shape's own
	Shape string // a key of Shapes
	Type  string // a key of FileTypes
	Seed  uint64
	// VocabFrom, if set, supplies the tokenizer (and chat template)
	// metadata and thereby the vocabulary size; otherwise a synthetic
	// byte-level BPE vocabulary of the shape's size is written.
	VocabFrom *gguf.File
	// Progress, if set, is called as tensor data is produced, with the
	// bytes done and the total.
	Progress func(done, total int64)
}

// Model is a synthesized model, ready to be written.
type Model struct {
	b     *gguf.Builder
	Bytes int64 // tensor data
}

// WriteFile writes the model atomically, generating the weights as it
// goes (large models are never held in memory). Writing a real-sized
// model takes a while: when ctx ends first, it stops and leaves neither
// the file nor a partial temporary one behind.
func (m *Model) WriteFile(ctx context.Context, path string) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := m.b.WriteTo(ctxWriter{ctx, w})
		return err
	})
}

// ctxWriter fails its writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// WriteTo writes the model to w.
func (m *Model) WriteTo(w io.Writer) (int64, error) { return m.b.WriteTo(w) }

// weight is how a tensor's values are drawn.
type weight struct {
	mean, std float32
	fixed     []float32 // exact values (rope factors) instead of noise
}

// New prepares the model described by o.
func New(o Options) (*Model, error) {
	sh, err := lookupShape(o.Shape)
	if err != nil {
		return nil, err
	}
	ft, err := lookupFileType(o.Type)
	if err != nil {
		return nil, err
	}
	arch := o.Arch
	if arch == "" {
		arch = sh.Arch
	}
	if !slices.Contains(Archs, arch) {
		return nil, fmt.Errorf("synth: architecture %q is not supported (supported: %v)", arch, Archs)
	}
	if arch == "phi3" && sh.HeadDim*sh.Heads != sh.Embed {
		return nil, fmt.Errorf("synth: phi3 needs heads x head size = hidden size (%d x %d != %d)", sh.Heads, sh.HeadDim, sh.Embed)
	}
	if sh.Experts > 0 && !slices.Contains(moeArchs, arch) {
		return nil, fmt.Errorf("synth: shape %s is a mixture of experts, which %s cannot hold (use %v)", sh.Name, arch, moeArchs)
	}
	if sh.Experts == 0 && arch == "qwen3moe" {
		// A dense shape for an architecture that is always a mixture:
		// 8 experts of half the FFN, 2 per token (the fixtures' proportions).
		sh.Experts, sh.ExpertsUsed, sh.ExpertFFN = 8, 2, max(1, sh.FFN/2)
	}
	g := &gen{o: o, sh: sh, arch: arch, picker: NewTypePicker(ft, ModelInfo{Layers: sh.Layers, Experts: sh.Experts, GQA: sh.Heads / sh.KVHeads, Tied: sh.Tied}), b: gguf.NewBuilder()}
	return g.build()
}

type gen struct {
	o      Options
	sh     Shape
	arch   string
	picker *typePicker
	b      *gguf.Builder
	total  int64
	err    error // the first error adding a tensor

	mu   sync.Mutex // guards done
	done int64      // bytes of tensor data produced
}

func (g *gen) set(kvs ...any) error {
	for i := 0; i < len(kvs); i += 2 {
		if err := g.b.Set(kvs[i].(string), kvs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) build() (*Model, error) {
	sh, a := g.sh, g.arch
	k := func(s string) string { return a + "." + s }
	err := g.set(
		"general.architecture", a,
		"general.name", "synthetic "+sh.Name,
		"general.file_type", g.picker.ft.FType,
		"general.quantization_version", uint32(2),
		k("context_length"), uint32(sh.Context),
		k("embedding_length"), uint32(sh.Embed),
		k("block_count"), uint32(sh.Layers),
		k("feed_forward_length"), uint32(sh.FFN),
		k("attention.head_count"), uint32(sh.Heads),
		k("attention.head_count_kv"), uint32(sh.KVHeads),
		k("attention.layer_norm_rms_epsilon"), sh.NormEps,
		k("rope.freq_base"), sh.RopeBase,
	)
	ropeDims := sh.RopeDims
	if ropeDims == 0 {
		ropeDims = sh.HeadDim
	}
	if err == nil && sh.HeadDim*sh.Heads != sh.Embed {
		err = g.set(k("attention.key_length"), uint32(sh.HeadDim), k("attention.value_length"), uint32(sh.HeadDim))
	}
	if err == nil && (a == "llama" || a == "phi3" || ropeDims != sh.HeadDim) {
		err = g.set(k("rope.dimension_count"), uint32(ropeDims))
	}
	if err == nil && sh.Experts > 0 {
		err = g.set(k("expert_count"), uint32(sh.Experts), k("expert_used_count"), uint32(sh.ExpertsUsed),
			k("expert_feed_forward_length"), uint32(sh.ExpertFFN))
	}
	if err == nil {
		switch a {
		case "gemma2":
			err = g.set(k("attn_logit_softcapping"), float32(50), k("final_logit_softcapping"), float32(30),
				k("attention.sliding_window"), uint32(cmpOr(sh.SlidingWindow, 4096)))
		case "gemma3":
			err = g.set(k("attention.sliding_window"), uint32(cmpOr(sh.SlidingWindow, 512)))
		}
	}
	if err != nil {
		return nil, err
	}

	vocab := sh.Vocab
	if g.o.VocabFrom != nil {
		if vocab, err = copyVocab(g.b, g.o.VocabFrom); err != nil {
			return nil, err
		}
	} else if err := syntheticVocab(g.b, vocab); err != nil {
		return nil, err
	}

	E, F, hd := sh.Embed, sh.FFN, sh.HeadDim
	qDim, kvDim := sh.Heads*hd, sh.KVHeads*hd
	proj := weight{std: 0.02}
	qk := weight{std: 0.08} // sharper attention than N(0, 0.02) would give
	norm := weight{mean: 1, std: 0.1}
	bias := weight{std: 0.02}

	g.matrix("token_embd.weight", E, vocab, proj)
	if sh.Llama3Rope != nil && a == "llama" {
		g.vector("rope_freqs.weight", ropeDims/2, weight{fixed: llama3Factors(sh.RopeBase, ropeDims, sh.Llama3Rope)})
	}
	if a == "phi3" && sh.Name == "tiny" {
		// Exercise long-rope: factors for contexts beyond half the training one.
		short, long := make([]float32, ropeDims/2), make([]float32, ropeDims/2)
		for i := range short {
			short[i] = 1 + float32(i)/float32(len(short))*0.1
			long[i] = 1 + float32(i)/float32(len(long))*3
		}
		g.vector("rope_factors_short.weight", len(short), weight{fixed: short})
		g.vector("rope_factors_long.weight", len(long), weight{fixed: long})
		if err := g.set(k("rope.scaling.original_context_length"), uint32(sh.Context/2),
			k("rope.scaling.attn_factor"), float32(math.Sqrt(1+math.Log(2)/math.Log(float64(sh.Context/2))))); err != nil {
			return nil, err
		}
	}
	for il := 0; il < sh.Layers; il++ {
		n := func(s string) string { return fmt.Sprintf("blk.%d.%s", il, s) }
		g.vector(n("attn_norm.weight"), E, norm)
		if a == "phi3" {
			g.matrix(n("attn_qkv.weight"), E, qDim+2*kvDim, proj)
		} else {
			g.matrix(n("attn_q.weight"), E, qDim, qk)
			g.matrix(n("attn_k.weight"), E, kvDim, qk)
			g.matrix(n("attn_v.weight"), E, kvDim, proj)
			if a == "qwen2" {
				g.vector(n("attn_q.bias"), qDim, bias)
				g.vector(n("attn_k.bias"), kvDim, bias)
				g.vector(n("attn_v.bias"), kvDim, bias)
			}
			if a == "qwen3" || a == "qwen3moe" || a == "gemma3" {
				g.vector(n("attn_q_norm.weight"), hd, norm)
				g.vector(n("attn_k_norm.weight"), hd, norm)
			}
		}
		g.matrix(n("attn_output.weight"), qDim, E, proj)
		if a == "gemma2" || a == "gemma3" {
			g.vector(n("post_attention_norm.weight"), E, norm)
			g.vector(n("post_ffw_norm.weight"), E, norm)
		}
		g.vector(n("ffn_norm.weight"), E, norm)
		if X, XF := sh.Experts, sh.ExpertFFN; X > 0 {
			// The router stays F32 (llama.cpp never quantizes it); its
			// larger weights make the choice vary from token to token.
			g.add(n("ffn_gate_inp.weight"), tensor.F32, []uint64{uint64(E), uint64(X)}, E, X, weight{std: 0.3})
			g.experts(n("ffn_gate_exps.weight"), E, XF, X, proj)
			g.experts(n("ffn_up_exps.weight"), E, XF, X, proj)
			g.experts(n("ffn_down_exps.weight"), XF, E, X, proj)
			continue
		}
		if a == "phi3" {
			g.matrix(n("ffn_up.weight"), E, 2*F, proj)
		} else {
			g.matrix(n("ffn_gate.weight"), E, F, proj)
			g.matrix(n("ffn_up.weight"), E, F, proj)
		}
		g.matrix(n("ffn_down.weight"), F, E, proj)
	}
	g.vector("output_norm.weight", E, norm)
	if !sh.Tied {
		g.matrix("output.weight", E, vocab, proj)
	}
	if g.err != nil {
		return nil, g.err
	}
	return &Model{b: g.b, Bytes: g.total}, nil
}

func cmpOr(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}

// llama3Factors are Llama 3.1's per-frequency RoPE divisors, as
// llama.cpp's converter computes rope_freqs.
func llama3Factors(base float32, dims int, r *Llama3Rope) []float32 {
	lowWavelen := float64(r.OrigContext) / r.LowFreqFactor
	highWavelen := float64(r.OrigContext) / r.HighFreqFactor
	out := make([]float32, dims/2)
	for i := range out {
		freq := 1 / math.Pow(float64(base), float64(2*i)/float64(dims))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			out[i] = 1
		case wavelen > lowWavelen:
			out[i] = float32(r.Factor)
		default:
			smooth := (float64(r.OrigContext)/wavelen - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
			out[i] = float32(1 / ((1-smooth)/r.Factor + smooth))
		}
	}
	return out
}
