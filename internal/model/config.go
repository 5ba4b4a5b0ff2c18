package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/raym33/ainative/internal/gguf"
)

// Config holds a model's hyperparameters, read from its GGUF metadata
// (keys are prefixed by the architecture name, as llama.cpp writes them).
type Config struct {
	Arch          string
	Embed         int // hidden size (n_embd)
	Layers        int
	Heads         int
	KVHeads       int
	HeadDim       int // size of one query/key/value head
	FFN           int // feed-forward hidden size
	Vocab         int
	ContextLength int // the training context (context_length)
	ropeContext   int // the context RoPE scaling reaches, 0 if none (MaxContext)
	NormEps       float32

	Rope RopeConfig
	// RopeBaseSWA is the RoPE base of sliding-window layers (Gemma 3's
	// local layers use 10000 while the global ones use 1e6).
	RopeBaseSWA float32

	// SlidingWindow is the window of the layers marked in SWALayers:
	// a query at position p sees keys at positions > p-SlidingWindow.
	SlidingWindow int
	SWALayers     []bool

	AttnSoftcap  float32 // Gemma 2: tanh soft-capping of attention scores; 0 = none
	FinalSoftcap float32 // Gemma 2/3: soft-capping of the output logits; 0 = none

	// Experts is the number of feed-forward experts of a mixture-of-
	// experts model (expert_count); 0 for a dense model. Each token runs
	// ExpertsUsed of them (expert_used_count), each of ExpertFFN hidden
	// units (expert_feed_forward_length, else feed_forward_length).
	Experts, ExpertsUsed, ExpertFFN int
	// ExpertGating is how router logits become expert probabilities.
	ExpertGating Gating
	// ExpertNorm renormalizes the chosen experts' probabilities to sum
	// to 1; ExpertScale, when not 0, then multiplies them.
	ExpertNorm  bool
	ExpertScale float32
}

// Gating is the function of a mixture-of-experts router, numbered as
// GGUF's expert_gating_func numbers it.
type Gating int

// The gating functions llama.cpp knows.
const (
	GatingSoftmax Gating = 1 // probabilities over all experts (Mixtral, Qwen MoE)
	GatingSigmoid Gating = 2 // an independent sigmoid per expert (DeepSeek V3)
)

// RopeConfig describes rotary position embedding as ggml computes it.
type RopeConfig struct {
	Dims int  // rotated dimensions of a head (n_rot)
	Neox bool // NeoX layout: pairs (i, i+Dims/2) instead of (2i, 2i+1)
	Base float32
	// Scaling is the file's rope.scaling.type: "none", "linear", "yarn"
	// or "longrope" (see readRopeScaling).
	Scaling string
	// FreqScale is 1/factor for linear and YaRN scaling, else 1.
	FreqScale float32
	// ExtFactor > 0 turns on YaRN's mix of interpolation and extrapolation.
	ExtFactor float32
	// AttnFactor scales cos and sin: rope.scaling.attn_factor (Phi-3's
	// long-rope magnitude), and for YaRN the correction of
	// yarn_log_multiplier (see readRopeScaling).
	AttnFactor         float32
	BetaFast, BetaSlow float32
	OrigContext        int // context the model was trained with before scaling
}

// errBadConfig is wrapped by metadata errors.
var errBadConfig = errors.New("model: bad metadata")

// meta reads architecture-prefixed keys and remembers the first error, so
// that loading code reads as a list of keys.
type meta struct {
	f    *gguf.File
	arch string
	err  error
}

// minBlockTensors is the fewest tensors a transformer block has (two
// norms, fused q/k/v, the output projection, fused gate/up, down).
const minBlockTensors = 6

// maxElements is the element count of the file's largest tensor. Every
// dimension of the model (hidden size, heads, head size, feed-forward
// size) is a dimension of one of its tensors, so no honest value exceeds
// it; checking against it keeps a small file from claiming sizes that
// would be allocated before any tensor shape is compared.
func maxElements(f *gguf.File) uint64 {
	var n uint64
	for i := range f.Tensors {
		n = max(n, f.Tensors[i].Elements())
	}
	return n
}

// dim reads a size key and checks it against what the file can hold.
func (m *meta) dim(k string) int {
	v := m.uint(k)
	m.checkDim(m.key(k), v)
	return v
}

func (m *meta) checkDim(key string, v int) {
	if limit := maxElements(m.f); m.err == nil && uint64(v) > limit {
		m.fail(fmt.Errorf("%w: %s = %d is larger than any tensor of the file (the largest has %d elements)", errBadConfig, key, v, limit))
	}
}

func (m *meta) key(k string) string { return m.arch + "." + k }

func (m *meta) fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

func (m *meta) uint(k string) int {
	v, err := m.f.Uint(m.key(k))
	if err != nil {
		m.fail(err)
		return 0
	}
	if v > math.MaxInt32 {
		m.fail(fmt.Errorf("%w: %s = %d is too large", errBadConfig, m.key(k), v))
		return 0
	}
	return int(v)
}

func (m *meta) optUint(k string, def int) int {
	if !m.f.Has(m.key(k)) {
		return def
	}
	return m.uint(k)
}

// optFloat reads a float key, which must be finite: no hyperparameter of
// a working model is NaN or infinite, and one that is turns every logit
// into NaN.
func (m *meta) optFloat(k string, def float32) float32 {
	v, err := m.f.OptFloat(m.key(k), float64(def))
	if err != nil {
		m.fail(err)
		return def
	}
	if f := float32(v); math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		m.fail(fmt.Errorf("%w: %s = %g must be a finite number", errBadConfig, m.key(k), v))
		return def
	}
	return float32(v)
}

func (m *meta) optString(k, def string) string {
	v, err := m.f.OptString(m.key(k), def)
	if err != nil {
		m.fail(err)
		return def
	}
	return v
}

// uniform reads a key that may hold one value or one per layer (llama.cpp's
// get_key_or_arr) and requires every layer to have the same value: the
// engine does not run models whose layers differ in shape.
func (m *meta) uniform(k string, layers int, def int) int {
	key := m.key(k)
	if !m.f.Has(key) {
		return def
	}
	vals, err := m.f.Ints(key)
	if err != nil {
		m.fail(err)
		return def
	}
	if len(vals) == 0 || (len(vals) != 1 && len(vals) != layers) {
		m.fail(fmt.Errorf("%w: %s has %d values for %d layers", errBadConfig, key, len(vals), layers))
		return def
	}
	for _, v := range vals[1:] {
		if v != vals[0] {
			m.fail(fmt.Errorf("%w: %s differs between layers (%v); models with non-uniform layers are not supported", errBadConfig, key, vals))
			return def
		}
	}
	if vals[0] < 0 || vals[0] > math.MaxInt32 {
		m.fail(fmt.Errorf("%w: %s = %d is out of range", errBadConfig, key, vals[0]))
		return def
	}
	m.checkDim(key, int(vals[0]))
	return int(vals[0])
}

// readConfig reads the hyperparameters common to the llama family. The
// architecture files adjust what differs (see archs). rope, when set,
// replaces the file's RoPE scaling.
func readConfig(f *gguf.File, arch string, rope *RopeScaling) (Config, error) {
	m := &meta{f: f, arch: arch}
	c := Config{Arch: arch}
	c.Embed = m.dim("embedding_length")
	c.Layers = m.uint("block_count")
	c.ContextLength = m.uint("context_length")
	if m.err != nil {
		return c, m.err
	}
	if limit := len(f.Tensors) / minBlockTensors; c.Layers > limit {
		return c, fmt.Errorf("%w: %s = %d, but the file's %d tensors make at most %d blocks (a block has at least %d)",
			errBadConfig, m.key("block_count"), c.Layers, len(f.Tensors), limit, minBlockTensors)
	}
	c.FFN = m.uniform("feed_forward_length", c.Layers, 0)
	c.Heads = m.uniform("attention.head_count", c.Layers, 0)
	c.KVHeads = m.uniform("attention.head_count_kv", c.Layers, c.Heads)
	epsKey := m.key("attention.layer_norm_rms_epsilon")
	if !f.Has(epsKey) {
		m.fail(fmt.Errorf("gguf: %w: %q", gguf.ErrMissing, epsKey))
	}
	c.NormEps = m.optFloat("attention.layer_norm_rms_epsilon", 0)
	if m.err == nil && c.NormEps < 0 {
		m.fail(fmt.Errorf("%w: %s = %g must not be negative", errBadConfig, epsKey, c.NormEps))
	}
	if m.err != nil {
		return c, m.err
	}
	if c.Heads <= 0 || c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 {
		return c, fmt.Errorf("%w: %d attention heads and %d key/value heads (the heads must be a multiple of the key/value heads)",
			errBadConfig, c.Heads, c.KVHeads)
	}
	if c.Embed <= 0 || c.Layers <= 0 || c.FFN <= 0 {
		return c, fmt.Errorf("%w: embedding_length %d, block_count %d, feed_forward_length %d must be positive",
			errBadConfig, c.Embed, c.Layers, c.FFN)
	}
	c.HeadDim = m.optUint("attention.key_length", c.Embed/c.Heads)
	m.checkDim(m.key("attention.key_length"), c.HeadDim)
	if v := m.optUint("attention.value_length", c.HeadDim); v != c.HeadDim {
		m.fail(fmt.Errorf("%w: key_length %d and value_length %d differ; not supported", errBadConfig, c.HeadDim, v))
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 {
		m.fail(fmt.Errorf("%w: head size %d must be positive and even", errBadConfig, c.HeadDim))
	}

	r := &c.Rope
	r.Dims = m.optUint("rope.dimension_count", c.HeadDim)
	if r.Dims <= 0 || r.Dims > c.HeadDim || r.Dims%2 != 0 {
		m.fail(fmt.Errorf("%w: rope.dimension_count %d must be even and at most the head size %d", errBadConfig, r.Dims, c.HeadDim))
	}
	r.Base = m.optFloat("rope.freq_base", 10000)
	readRopeScaling(m, &c, rope)
	if !(r.Base > 0) || !(r.FreqScale > 0) || math.IsInf(float64(r.FreqScale), 0) {
		m.fail(fmt.Errorf("%w: rope.freq_base %g and scale %g must be positive", errBadConfig, r.Base, r.FreqScale))
	}
	c.RopeBaseSWA = r.Base
	c.SWALayers = make([]bool, c.Layers)
	c.AttnSoftcap = m.optFloat("attn_logit_softcapping", 0)
	c.FinalSoftcap = m.optFloat("final_logit_softcapping", 0)
	if m.err == nil {
		readExperts(m, &c)
	}
	return c, m.err
}

// readExperts reads the mixture-of-experts keys. Routing weights are
// renormalized by default: llama.cpp does so for every architecture the
// engine runs as MoE (llama, qwen3moe), whatever qwen3moe.norm_top_k_prob
// says; expert_weights_norm, where a file has it, decides.
func readExperts(m *meta, c *Config) {
	c.Experts = m.optUint("expert_count", 0)
	c.ExpertsUsed = m.optUint("expert_used_count", 0)
	if m.err != nil || c.Experts == 0 && c.ExpertsUsed == 0 {
		return
	}
	if c.Experts <= 0 || c.ExpertsUsed <= 0 || c.ExpertsUsed > c.Experts {
		m.fail(fmt.Errorf("%w: %s = %d and %s = %d: a mixture of experts needs 0 < experts used <= experts",
			errBadConfig, m.key("expert_used_count"), c.ExpertsUsed, m.key("expert_count"), c.Experts))
		return
	}
	// Every expert is a slice of one tensor per layer: no honest count
	// exceeds the number of elements of the largest tensor.
	m.checkDim(m.key("expert_count"), c.Experts)
	c.ExpertFFN = m.optUint("expert_feed_forward_length", c.FFN)
	m.checkDim(m.key("expert_feed_forward_length"), c.ExpertFFN)
	if m.err == nil && c.ExpertFFN <= 0 {
		m.fail(fmt.Errorf("%w: %s = %d must be positive", errBadConfig, m.key("expert_feed_forward_length"), c.ExpertFFN))
	}
	c.ExpertGating = Gating(m.optUint("expert_gating_func", int(GatingSoftmax)))
	if c.ExpertGating != GatingSoftmax && c.ExpertGating != GatingSigmoid {
		m.fail(fmt.Errorf("%w: %s = %d is not supported (1 softmax, 2 sigmoid)", errBadConfig, m.key("expert_gating_func"), c.ExpertGating))
	}
	c.ExpertNorm = true
	if v, ok := m.f.Value(m.key("expert_weights_norm")); ok {
		b, isBool := v.Any().(bool)
		if !isBool {
			m.fail(fmt.Errorf("%w: %s must be a bool, is %s", errBadConfig, m.key("expert_weights_norm"), v))
		}
		c.ExpertNorm = b
	}
	c.ExpertScale = m.optFloat("expert_weights_scale", 0)
}

// readSWA reads the sliding window and which layers use it. The pattern
// is either a per-layer bool array (true = sliding) or a period n, where
// every n-th layer is global (llama.cpp's set_swa_pattern); def is the
// architecture's period when the key is absent.
func readSWA(f *gguf.File, c *Config, defPeriod int) error {
	m := &meta{f: f, arch: c.Arch}
	c.SlidingWindow = m.optUint("attention.sliding_window", 0)
	if m.err != nil || c.SlidingWindow == 0 {
		return m.err
	}
	key := m.key("attention.sliding_window_pattern")
	period := defPeriod
	if v, ok := f.Value(key); ok {
		if a, isArr := v.Array(); isArr {
			bools, ok := a.Any().([]bool)
			if !ok || len(bools) != c.Layers {
				return fmt.Errorf("%w: %s must be %d bools, is %s", errBadConfig, key, c.Layers, v)
			}
			copy(c.SWALayers, bools)
			return nil
		}
		p, err := f.Uint(key)
		if err != nil {
			return err
		}
		period = int(min(p, math.MaxInt32))
	}
	for il := range c.SWALayers {
		c.SWALayers[il] = period == 0 || il%period < period-1
	}
	return nil
}

// supported lists the architectures Load accepts, for error messages.
func supported() string {
	names := make([]string, 0, len(archs))
	for name := range archs {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
