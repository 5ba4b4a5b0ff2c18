package model

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/raym33/ainative/internal/gguf"
)

// Pooling is how Embed turns a text's token states into one vector.
type Pooling int

const (
	// PoolingModel (the zero value) is the pooling the file names
	// (<arch>.pooling_type).
	PoolingModel Pooling = iota
	// PoolingNone returns every token's state: n*Embed floats per text.
	PoolingNone
	// PoolingMean averages all tokens, [CLS] and [SEP] included, as
	// llama.cpp does.
	PoolingMean
	// PoolingCLS takes the first token's state.
	PoolingCLS
	// PoolingLast takes the last token's state (Qwen3-Embedding).
	PoolingLast
)

func (p Pooling) String() string {
	switch p {
	case PoolingModel:
		return "model"
	case PoolingNone:
		return "none"
	case PoolingMean:
		return "mean"
	case PoolingCLS:
		return "cls"
	case PoolingLast:
		return "last"
	}
	return fmt.Sprintf("Pooling(%d)", int(p))
}

// ParsePooling parses "none", "mean", "cls", "last" or "model".
func ParsePooling(s string) (Pooling, error) {
	for p := PoolingModel; p <= PoolingLast; p++ {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("model: pooling %q is not one of none, mean, cls, last", s)
}

// embedMeta is what the file says about embeddings, and the state
// Embed keeps between calls.
type embedMeta struct {
	pooling   Pooling // PoolingNone when the file names none
	normalize bool

	// A decoder embeds through one sequence, made on first use and
	// reused, so that a call does not allocate a KV cache for the whole
	// context each time.
	mu  sync.Mutex
	seq *Sequence
}

// readEmbedMeta reads <arch>.pooling_type (llama.cpp's enum: 0 none,
// 1 mean, 2 cls, 3 last; 4, rank, is a reranker's and not supported) and
// <arch>.normalize_embeddings.
func readEmbedMeta(f *gguf.File, arch string) (*embedMeta, error) {
	e := &embedMeta{pooling: PoolingNone}
	key := arch + ".pooling_type"
	if f.Has(key) {
		v, err := f.Uint(key)
		if err != nil {
			return e, err
		}
		if v > 3 {
			return e, fmt.Errorf("%w: %s = %d is not supported (0 none, 1 mean, 2 cls, 3 last)", errBadConfig, key, v)
		}
		e.pooling = Pooling(v) + PoolingNone
	}
	var err error
	e.normalize, err = f.OptBool(arch+".normalize_embeddings", false)
	return e, err
}

// Pooling is the pooling the file names (PoolingNone when it names none).
func (m *Model) Pooling() Pooling { return m.emb.pooling }

// NormalizeEmbeddings reports the file's normalize_embeddings: whether
// the model was trained to be used with L2-normalized embeddings.
func (m *Model) NormalizeEmbeddings() bool { return m.emb.normalize }

// IsEncoder reports whether the model is an encoder (bert, nomic-bert),
// which has no logits: only Embed.
func (m *Model) IsEncoder() bool { return m.enc != nil }

// EmbedOptions configure Embed.
type EmbedOptions struct {
	Pooling Pooling // PoolingModel: the file's
	// Normalize divides each vector by its L2 norm (as Ollama's
	// /api/embed returns them). Otherwise the vectors are llama.cpp's
	// llama_get_embeddings_seq: pooled, not normalized.
	Normalize bool
}

// ErrEmptyInput is returned (wrapped) for an input without tokens.
var ErrEmptyInput = errors.New("model: input has no tokens")

// Embed computes one embedding per input (token ids, e.g. from
// tokenizer.Encode with addSpecial) and returns them in order: Embed
// floats each, or n*Embed with PoolingNone. An encoder evaluates many
// inputs in one pass (each attending only to itself), so every weight
// matrix is read once per batch of up to max(512, ContextLength) tokens;
// a decoder evaluates each input causally in turn. An input that is
// empty, longer than ContextLength (ErrContextFull) or holds an id
// outside the vocabulary is an error naming its index; nothing is
// computed then.
func (m *Model) Embed(ctx context.Context, inputs [][]int32, opts EmbedOptions) ([][]float32, error) {
	pooling := opts.Pooling
	if pooling == PoolingModel {
		pooling = m.emb.pooling
	}
	if pooling < PoolingNone || pooling > PoolingLast {
		return nil, fmt.Errorf("model: bad Pooling %d", pooling)
	}
	for i, in := range inputs {
		if len(in) == 0 {
			return nil, fmt.Errorf("input %d: %w", i, ErrEmptyInput)
		}
		if len(in) > m.ctxLen {
			return nil, fmt.Errorf("input %d: %w: %d tokens > context length %d", i, ErrContextFull, len(in), m.ctxLen)
		}
		for j, t := range in {
			if t < 0 || int(t) >= m.cfg.Vocab {
				return nil, fmt.Errorf("model: input %d: token %d at index %d is out of range (vocabulary has %d tokens)", i, t, j, m.cfg.Vocab)
			}
		}
	}
	out := make([][]float32, len(inputs))
	var err error
	if m.enc != nil {
		err = m.embedEncoder(ctx, inputs, pooling, out)
	} else {
		err = m.embedDecoder(ctx, inputs, pooling, out)
	}
	if err != nil {
		return nil, err
	}
	if opts.Normalize {
		for _, v := range out {
			if pooling == PoolingNone {
				for r := 0; r < len(v); r += m.cfg.Embed {
					l2Normalize(v[r : r+m.cfg.Embed])
				}
			} else {
				l2Normalize(v)
			}
		}
	}
	return out, nil
}

func (m *Model) embedEncoder(ctx context.Context, inputs [][]int32, pooling Pooling, out [][]float32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("model: Embed after Close")
	}
	E := m.cfg.Embed
	maxBatch := m.ubatch
	var s *encScratch
	for lo := 0; lo < len(inputs); {
		// The next inputs, in order, that fit one batch.
		hi, n := lo, 0
		for hi < len(inputs) && n+len(inputs[hi]) <= maxBatch {
			n += len(inputs[hi])
			hi++
		}
		if s == nil {
			s = newEncScratch(&m.cfg, maxBatch)
		}
		tokens := make([]int32, 0, n)
		lens := make([]int, 0, hi-lo)
		for _, in := range inputs[lo:hi] {
			tokens = append(tokens, in...)
			lens = append(lens, len(in))
		}
		if err := m.encode(ctx, s, tokens, lens); err != nil {
			return err
		}
		at := 0
		for i, nt := range lens {
			out[lo+i] = pool(s.x[at*E:(at+nt)*E], nt, E, pooling)
			at += nt
		}
		lo = hi
	}
	return nil
}

func (m *Model) embedDecoder(ctx context.Context, inputs [][]int32, pooling Pooling, out [][]float32) error {
	E := m.cfg.Embed
	m.emb.mu.Lock()
	defer m.emb.mu.Unlock()
	if m.emb.seq == nil {
		m.emb.seq = m.NewSequence()
	}
	seq := m.emb.seq
	var hidden []float32
	for i, in := range inputs {
		seq.Truncate(0)
		var err error
		hidden, err = m.Forward(ctx, seq, in, OutputEmbeddings, hidden[:0])
		if err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
		out[i] = pool(hidden, len(in), E, pooling)
	}
	return nil
}

// pool reduces the states of one text (n rows of e floats) to its
// embedding, in a new slice.
func pool(states []float32, n, e int, p Pooling) []float32 {
	switch p {
	case PoolingCLS:
		return append([]float32(nil), states[:e]...)
	case PoolingLast:
		return append([]float32(nil), states[(n-1)*e:n*e]...)
	case PoolingMean:
		v := make([]float32, e)
		inv := 1 / float32(n)
		for d := range v {
			var sum float64
			for t := range n {
				sum += float64(states[t*e+d] * inv)
			}
			v[d] = float32(sum)
		}
		return v
	}
	return append([]float32(nil), states[:n*e]...)
}

// l2Normalize divides v by its Euclidean norm (a zero vector stays zero).
func l2Normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := 1 / math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
}
