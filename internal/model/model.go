// Package model runs llama-family transformer language models (Llama,
// Mistral, SmolLM, TinyLlama, Qwen 2/2.5/3, Gemma 2/3, Phi-3, and the
// mixtures of experts Mixtral and Qwen3-MoE: see moe.go) from GGUF
// files on the CPU.
//
// These models share one block structure (RMSNorm, rotary attention with
// grouped key/value heads, gated feed-forward) and differ in details that
// each matter: which RoPE layout, biases, extra norms, scalings, soft-caps,
// sliding windows. Each architecture file states its details; one forward
// pass (forward.go) runs them all. Every step is computed the way ggml's
// CPU backend computes it, in the same order and with the same roundings
// (activations converted to F16 or quantized to Q8 before the matrix
// products, through package tensor), so the logits match llama.cpp's to
// float32 precision rather than merely "closely".
//
// A Model holds the weights, memory-mapped from the GGUF file and never
// copied.
//
// # Batches of many sequences
//
// A Cache holds the keys and values of many sequences in a fixed budget
// of cells, allocated once: paged blocks of 32 positions, each sequence a
// list of blocks, a block shared by the sequences forked from a common
// prefix (reference-counted, copied only when one of them writes into
// it). Decode runs one forward pass over a Batch whose tokens belong to
// any of the cache's sequences, each token with its position and
// sequence id: every weight matrix is read once for all the batch's
// tokens (matrix x matrix), and each token attends to its own sequence's
// cells. Between passes a sequence can join (its prompt in the same batch
// as the others' next tokens, in chunks of at most BatchSize tokens),
// leave or be truncated (Cache.Remove), or be forked (Cache.Fork);
// Cache.LongestPrefix finds the longest cached prefix of a new prompt, so
// that a chat's next turn computes only its new tokens. A batch that does
// not fit the free cells fails with ErrCacheFull and changes nothing. The
// sliding-window layers of Gemma 2/3 keep only each sequence's window
// (unless CacheOptions.FullSWA), with the same logits. Decode returns
// logits, or the final normed hidden states (Batch.Embeddings), for the
// tokens the batch marks. A decode step allocates nothing.
//
// Forward and Sequence are the one-sequence form of the same pass, for
// callers that run one conversation.
//
// A memory fault reading the mapped weights (the file truncated or
// overwritten while loaded) is an error of the pass in which it happens,
// not a crash.
package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/tensor"
)

// Options configure a loaded model.
type Options struct {
	// Threads is the number of threads of the forward pass; <= 0 means
	// runtime.NumCPU(). Decode is memory-bound: one per physical core is
	// best.
	Threads int
	// ContextLength caps the tokens a sequence can hold; <= 0 means the
	// model's training context, or the longer one its RoPE scaling
	// reaches (Config.MaxContext), which also bounds it.
	ContextLength int
	// KVType is the element type of the KV cache: tensor.F32 (the zero
	// value) or tensor.F16, which halves its size as llama.cpp's default
	// does.
	KVType tensor.Type
	// RopeScaling, when set, replaces the file's RoPE scaling (see
	// RopeScaling); ContextLength may then reach what it extends to.
	RopeScaling *RopeScaling
	// BatchSize is the number of prompt tokens computed at once (the
	// "ubatch"); <= 0 means up to 512, fewer if the scratch memory it
	// needs would exceed 16 MiB (64 MiB for a mixture of experts, whose
	// experts each see only a fraction of a batch's tokens, so that a
	// prompt still reads each expert's weights for many tokens at once).
	BatchSize int
	// Repack makes the model keep an interleaved copy of its Q8_0, Q4_0,
	// Q5_0 and IQ4_NL weight matrices (tensor.Matrix.Interleave), on
	// CPUs whose kernels have that layout: batches of four tokens and
	// more (prompts, several sequences decoding at once) then skip
	// repacking the weights at every product. The copy takes about as
	// much memory as those matrices in the file (twice as much for the
	// 4-bit types, held as int8); a single sequence's decode still reads
	// the file's layout. RepackedBytes reports its size.
	Repack bool
}

// ErrContextFull is returned (wrapped) when tokens do not fit in the
// sequence's context.
var ErrContextFull = errors.New("model: context is full")

// arch describes what distinguishes an architecture; see the arch files.
type arch struct {
	tensors archTensors
	neox    bool // RoPE layout, as llama_model_rope_type assigns it
	gelu    bool // GELU-gated feed-forward instead of SiLU
	// setup reads the architecture's own metadata and sets the model's
	// scalings; it runs after the common hyperparameters are read and
	// before tensors are bound.
	setup func(m *Model, f *gguf.File, ld *loader) error
}

// archs holds the supported architectures by general.architecture; the
// arch files register themselves.
var archs = map[string]*arch{}

// Model is a loaded model. Its methods may be called from several
// goroutines; forward passes run one at a time.
type Model struct {
	cfg    Config
	arch   *arch
	ctxLen int
	kvType tensor.Type
	ubatch int

	// Scalings that differ between architectures (see the arch files).
	embedScale float32 // multiplies the embeddings; 0 = none
	qScale     float32 // multiplies queries after RoPE; 0 = none
	kqScale    float32 // multiplies scores inside the softmax

	tokEmbd    *tensor.Matrix
	output     *tensor.Matrix // tokEmbd when the output is tied
	repacked   int64          // bytes of interleaved copies (Options.Repack)
	outputNorm []float32
	layers     []layer
	rope       *rope // global layers
	ropeSWA    *rope // sliding-window layers (may equal rope)

	enc  *encoder   // set for encoder architectures (encoder.go), which only Embed
	emb  *embedMeta // the pooling the file names; Embed's state (embed.go)
	file *gguf.File // holds a reference to the mapping (see Load, Close)

	// routeHook, when set (by tests), sees each MoE block's chosen
	// experts [n][ExpertsUsed] and router probabilities [n][Experts].
	routeHook func(layer int, sel []int32, probs []float32)

	mu     sync.Mutex // serializes forward passes; guards the fields below
	pool   *tensor.Pool
	s      *scratch
	closed bool
}

// Load prepares the model in f. It checks every tensor against the
// metadata. The model holds its own reference to f's mapping (see
// gguf.File.Acquire) until Close, so the caller may close f at any time.
func Load(f *gguf.File, opts Options) (_ *Model, err error) {
	if err := f.Acquire(); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer func() {
		if err != nil {
			f.Release()
		}
	}()
	name, err := f.Architecture()
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	a, ok := archs[name]
	if !ok {
		if ea, ok := encoderArchs[name]; ok { // embedding encoders (encoder.go)
			m, err := loadEncoder(f, opts, name, ea)
			if err != nil {
				return nil, err
			}
			m.file = f
			return m, nil
		}
		return nil, fmt.Errorf("model: architecture %q is not supported (supported: %s)", name, supported())
	}
	cfg, err := readConfig(f, name, opts.RopeScaling)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", name, err)
	}
	cfg.Rope.Neox = a.neox
	m := &Model{cfg: cfg, arch: a, kvType: opts.KVType, kqScale: 1 / float32(math.Sqrt(float64(cfg.HeadDim)))}
	switch m.kvType {
	case tensor.F32, tensor.F16:
	default:
		return nil, fmt.Errorf("model: KV cache type %s is not supported (F32 or F16)", m.kvType)
	}
	if m.emb, err = readEmbedMeta(f, name); err != nil {
		return nil, fmt.Errorf("model: %s: %w", name, err)
	}
	m.ctxLen = cfg.MaxContext()
	if opts.ContextLength > 0 && (m.ctxLen <= 0 || opts.ContextLength < m.ctxLen) {
		m.ctxLen = opts.ContextLength
	}
	if m.ctxLen <= 0 {
		return nil, fmt.Errorf("model: no context length (metadata has %d)", cfg.ContextLength)
	}

	ld := &loader{f: f}
	embd := ld.info("token_embd.weight", true)
	if embd != nil {
		if len(embd.Dims) != 2 || embd.Dims[0] != uint64(cfg.Embed) || embd.Dims[1] == 0 || embd.Dims[1] > math.MaxInt32 {
			return nil, fmt.Errorf("model: tensor %q has shape %v, want [%d vocab]", embd.Name, embd.Dims, cfg.Embed)
		}
		m.cfg.Vocab = int(embd.Dims[1])
		if v, err := f.OptUint(name+".vocab_size", uint64(m.cfg.Vocab)); err != nil {
			return nil, fmt.Errorf("model: %w", err)
		} else if v != uint64(m.cfg.Vocab) {
			return nil, fmt.Errorf("model: %s.vocab_size %d disagrees with %q (%d rows)", name, v, embd.Name, m.cfg.Vocab)
		}
		m.tokEmbd = ld.matrix("token_embd.weight", cfg.Embed, m.cfg.Vocab, true)
	}
	if a.setup != nil && ld.err == nil {
		if err := a.setup(m, f, ld); err != nil {
			return nil, fmt.Errorf("model: %s: %w", name, err)
		}
	}
	if m.rope == nil {
		m.rope = newRope(m.cfg.Rope, nil)
	}
	if m.ropeSWA == nil {
		m.ropeSWA = m.rope
	}
	m.outputNorm = ld.vector("output_norm.weight", cfg.Embed, true)
	m.output = ld.matrix("output.weight", cfg.Embed, m.cfg.Vocab, false)
	if m.output == nil && ld.err == nil {
		m.output = m.tokEmbd // tied embeddings
	}
	if ld.err == nil {
		m.loadLayers(ld, a.tensors)
	}
	if ld.err != nil {
		return nil, ld.err
	}
	if opts.Repack {
		m.repack()
	}

	m.ubatch = opts.BatchSize
	if m.ubatch <= 0 {
		m.ubatch = m.defaultUbatch()
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	m.file = f
	m.pool = tensor.NewPool(threads)
	return m, nil
}

// defaultUbatch is the ubatch Options.BatchSize <= 0 asks for.
func (m *Model) defaultUbatch() int {
	budget := 16 << 20
	if m.cfg.Experts > 0 {
		budget = 64 << 20
	}
	return min(512, max(1, budget/m.scratchPerToken()))
}

// Close stops the model's worker threads and releases its reference to
// the file's mapping. The model must not be used afterwards.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.pool.Close()
	m.s = nil
	return m.file.Release()
}

// Config returns the model's hyperparameters.
func (m *Model) Config() Config { return m.cfg }

// ContextLength is the most tokens a sequence can hold.
func (m *Model) ContextLength() int { return m.ctxLen }

// Threads is the number of threads of the forward pass.
func (m *Model) Threads() int { return m.pool.Threads() }

// KVType is the element type of the KV cache.
func (m *Model) KVType() tensor.Type { return m.kvType }

// WeightBytes is the number of bytes of weights a decode step reads: every
// matrix of the blocks and the output matrix (the embedding table is only
// read a row at a time). In a mixture of experts a token reads its
// blocks' routers and ExpertsUsed experts of each (all experts are the
// same size), so only those count: the active parameters, not the total.
func (m *Model) WeightBytes() int64 {
	if m.enc != nil {
		return m.enc.weightBytes()
	}
	var n int64
	for i := range m.layers {
		l := &m.layers[i]
		if l.moe != nil {
			n += l.moe.activeBytesToken
		}
		for _, w := range []*tensor.Matrix{l.wq, l.wk, l.wv, l.wqkv, l.wo, l.gate, l.up, l.down} {
			if w != nil {
				n += int64(len(w.Data))
			}
		}
	}
	return n + int64(len(m.output.Data))
}

// repack makes every weight matrix of the blocks and the output keep an
// interleaved copy where its type has one (Options.Repack).
func (m *Model) repack() {
	keep := func(w *tensor.Matrix) {
		if w != nil && w.Interleave() {
			m.repacked += tensor.InterleavedBytes(w)
		}
	}
	for i := range m.layers {
		l := &m.layers[i]
		for _, w := range []*tensor.Matrix{l.wq, l.wk, l.wv, l.wqkv, l.wo, l.gate, l.up, l.down} {
			keep(w)
		}
		if l.moe != nil {
			for _, ws := range [][]tensor.Matrix{l.moe.gate, l.moe.up, l.moe.down} {
				for e := range ws {
					keep(&ws[e])
				}
			}
		}
	}
	keep(m.output)
}

// RepackedBytes is the memory of the interleaved copies Options.Repack
// made (0 without it, or where no matrix has a type with the layout).
func (m *Model) RepackedBytes() int64 { return m.repacked }

// KVBytesPerToken is the KV cache memory one token takes in a sequence.
func (m *Model) KVBytesPerToken() int64 {
	return int64(2 * m.cfg.Layers * m.cfg.KVHeads * m.cfg.HeadDim * kvElemSize(m.kvType))
}

// Output selects the positions Forward returns logits for.
type Output int

const (
	// OutputNone computes no logits: the tokens only fill the cache.
	OutputNone Output = iota
	// OutputLast returns the logits after the last token (generation).
	OutputLast
	// OutputAll returns the logits after every token, in order.
	OutputAll
	// OutputEmbeddings returns, instead of logits, every token's hidden
	// state after the final norm (float32 [n][Embed]): what Embed pools
	// for a decoder used as an embedder (embed.go).
	OutputEmbeddings
)

// Forward appends tokens to seq, computing them in batches, and appends
// the requested logits (float32 [n][vocab]) to dst, which it returns. The
// computation checks ctx between layers. On error, seq is left as it was
// before the call. It is Decode over the sequence's own one-sequence
// cache, a batch at a time.
func (m *Model) Forward(ctx context.Context, seq *Sequence, tokens []int32, out Output, dst []float32) ([]float32, error) {
	if seq == nil || seq.m != m {
		return dst, errors.New("model: Forward with a sequence of another model")
	}
	if m.enc != nil {
		return dst, fmt.Errorf("model: %s is an encoder: it has no logits, only embeddings (Embed)", m.cfg.Arch)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= m.cfg.Vocab {
			return dst, fmt.Errorf("model: token %d at index %d is out of range (vocabulary has %d tokens)", t, i, m.cfg.Vocab)
		}
	}
	n0 := seq.Len()
	if len(tokens) > m.ctxLen-n0 {
		return dst, fmt.Errorf("%w: %d tokens in the sequence + %d new > context length %d", ErrContextFull, n0, len(tokens), m.ctxLen)
	}
	switch out {
	case OutputLast, OutputAll, OutputNone, OutputEmbeddings:
	default:
		return dst, fmt.Errorf("model: bad Output %d", out)
	}
	if seq.c == nil {
		// The cache keeps every position, sliding-window layers
		// included, so that Truncate can go back anywhere.
		c, err := m.NewCache(CacheOptions{Cells: m.ctxLen, MaxSeqs: 1, FullSWA: true})
		if err != nil {
			return dst, err
		}
		seq.c = c
	}
	start := len(dst)
	b := &seq.b
	for lo := 0; lo < len(tokens); lo += m.ubatch {
		hi := min(lo+m.ubatch, len(tokens))
		b.Reset()
		b.Embeddings = out == OutputEmbeddings
		for i := lo; i < hi; i++ {
			b.Tokens = append(b.Tokens, tokens[i])
			b.Pos = append(b.Pos, int32(n0+i))
			b.Seq = append(b.Seq, 0)
			b.Logits = append(b.Logits, out == OutputAll || out == OutputEmbeddings || out == OutputLast && i == len(tokens)-1)
		}
		var err error
		if dst, err = m.Decode(ctx, seq.c, b, dst); err != nil {
			seq.c.mu.Lock()
			seq.c.truncate(0, n0)
			seq.c.mu.Unlock()
			return dst[:start], err
		}
	}
	return dst, nil
}

// Sequence is one token sequence's state: a cache of one sequence,
// allocated for the model's full context by its first Forward. A
// sequence belongs to the model that made it; it must not be used by two
// forward passes at once.
type Sequence struct {
	m *Model
	c *Cache
	b Batch
}

// NewSequence returns an empty sequence.
func (m *Model) NewSequence() *Sequence { return &Sequence{m: m} }

// Len is the number of tokens in the sequence.
func (s *Sequence) Len() int {
	if s.c == nil {
		return 0
	}
	return s.c.SeqLen(0)
}

// Truncate forgets all but the first n tokens, so that a conversation can
// continue from a shared prefix.
func (s *Sequence) Truncate(n int) {
	if s.c != nil && n >= 0 {
		s.c.Remove(0, n) // cannot fail: the cache keeps every position
	}
}

func kvElemSize(t tensor.Type) int {
	if t == tensor.F16 {
		return 2
	}
	return 4
}
