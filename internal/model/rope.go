package model

import (
	"errors"
	"fmt"
	"math"
)

// rope applies rotary position embeddings with one set of parameters
// (a model has at most two: Gemma 3's local layers use another base).
type rope struct {
	RopeConfig
	factors    []float32 // per-pair frequency divisors (Llama 3 rope_freqs, Phi-3 long/short), or nil
	thetaScale float32
	corrDims   [2]float32
}

func newRope(c RopeConfig, factors []float32) *rope {
	r := &rope{RopeConfig: c, factors: factors}
	// powf(base, -2/n_dims), as ggml computes it.
	r.thetaScale = float32(math.Pow(float64(c.Base), float64(float32(-2)/float32(c.Dims))))
	r.corrDims = yarnCorrDims(c.Dims, c.OrigContext, c.Base, c.BetaFast, c.BetaSlow)
	return r
}

// yarnCorrDims is the range of dimensions over which YaRN blends
// interpolation into extrapolation (ggml_rope_yarn_corr_dims).
func yarnCorrDims(dims, origCtx int, base, betaFast, betaSlow float32) [2]float32 {
	corrDim := func(nRot float32) float32 {
		return float32(dims) * logf(float32(origCtx)/(nRot*2*math.Pi)) / (2 * logf(base))
	}
	start := float32(math.Floor(float64(corrDim(betaFast))))
	end := float32(math.Ceil(float64(corrDim(betaSlow))))
	return [2]float32{max(0, start), min(float32(dims-1), end)}
}

func logf(x float32) float32 { return float32(math.Log(float64(x))) }

// table fills cs with cos and sin for position pos: cs[2i], cs[2i+1] for
// each rotated pair i < Dims/2. Like ggml_rope_cache_init, theta is the
// running float32 product pos * thetaScale^i, so the angles round exactly
// as ggml's do.
func (r *rope) table(cs []float32, pos int) {
	theta := float32(pos)
	for i := 0; i < r.Dims/2; i++ {
		ff := float32(1)
		if r.factors != nil {
			ff = r.factors[i]
		}
		c, s := r.yarn(theta/ff, 2*i)
		cs[2*i], cs[2*i+1] = c, s
		theta *= r.thetaScale
	}
}

// yarn is ggml's rope_yarn: the angle for dimension i0 with YaRN's ramp
// between interpolated and extrapolated angles, and the magnitude scale.
func (r *rope) yarn(thetaExtrap float32, i0 int) (cos, sin float32) {
	thetaInterp := r.FreqScale * thetaExtrap
	theta := thetaInterp
	mscale := r.AttnFactor
	if r.ExtFactor != 0 {
		y := (float32(i0/2) - r.corrDims[0]) / max(0.001, r.corrDims[1]-r.corrDims[0])
		rampMix := (1 - min(1, max(0, y))) * r.ExtFactor
		theta = thetaInterp*(1-rampMix) + thetaExtrap*rampMix
		mscale *= 1 + 0.1*logf(1/r.FreqScale)
	}
	return float32(math.Cos(float64(theta))) * mscale, float32(math.Sin(float64(theta))) * mscale
}

// apply rotates one head x (HeadDim values) in place with the table of
// its position; dimensions past Dims pass through.
func (r *rope) apply(x, cs []float32) {
	n := r.Dims
	if r.Neox {
		half := n / 2
		for i := 0; i < half; i++ {
			c, s := cs[2*i], cs[2*i+1]
			x0, x1 := x[i], x[i+half]
			x[i] = float32(x0*c) - float32(x1*s)
			x[i+half] = float32(x0*s) + float32(x1*c)
		}
		return
	}
	for i := 0; i < n; i += 2 {
		c, s := cs[i], cs[i+1]
		x0, x1 := x[i], x[i+1]
		x[i] = float32(x0*c) - float32(x1*s)
		x[i+1] = float32(x0*s) + float32(x1*c)
	}
}

// readRopeScaling reads how the file stretches RoPE past the context the
// model was trained with, as llama.cpp reads it (llama_model's
// hyperparameters, then llama_context's YaRN setup):
//
//   - rope.scaling.factor (formerly rope.scale_linear) divides every
//     angle: FreqScale = 1/factor.
//   - rope.scaling.type "linear", the default, applies just that; "none"
//     turns the factor off.
//   - "yarn" interpolates the low frequencies, keeps the high ones and
//     ramps between them over the dimensions yarnCorrDims picks from
//     rope.scaling.original_context_length (default: the training
//     context) and yarn_beta_fast/yarn_beta_slow (default 32 and 1); ggml
//     multiplies cos and sin by 1+0.1 ln(factor). llama.cpp divides its
//     attention factor by that same amount, so the magnitude is just
//     rope.scaling.attn_factor, unless rope.scaling.yarn_log_multiplier is
//     set: the converter stores mscale_all_dim times 0.1, and the
//     magnitude becomes (1+0.1 ln f)/(1+0.1 mscale_all_dim ln f) as in
//     Hugging Face's YaRN. llama.cpp reads that key only for the DeepSeek
//     2 family, none of which this engine runs; here it applies where a
//     file has it.
//   - "longrope" (Phi-3) scales by per-frequency factors read from
//     tensors (phi3.go) and by attn_factor.
//
// Any other type is an error naming the supported ones. o, when set,
// replaces what the file says (Options.RopeScaling).
func readRopeScaling(m *meta, c *Config, o *RopeScaling) {
	r := &c.Rope
	r.AttnFactor = m.optFloat("rope.scaling.attn_factor", 1)
	r.BetaFast = m.optFloat("rope.scaling.yarn_beta_fast", 32)
	r.BetaSlow = m.optFloat("rope.scaling.yarn_beta_slow", 1)
	origSet := m.f.Has(m.key("rope.scaling.original_context_length"))
	r.OrigContext = m.optUint("rope.scaling.original_context_length", c.ContextLength)
	factor := m.optFloat("rope.scaling.factor", 0)
	if factor == 0 {
		factor = m.optFloat("rope.scale_linear", 0)
	}
	r.Scaling = m.optString("rope.scaling.type", "linear")
	if o != nil {
		if err := o.check(); err != nil {
			m.fail(err)
			return
		}
		if o.Type != "" {
			r.Scaling = o.Type
		}
		if o.Factor != 0 {
			factor = o.Factor
		}
		if o.OrigContext != 0 {
			r.OrigContext, origSet = o.OrigContext, true
		}
	}
	r.FreqScale = 1
	if factor != 0 {
		r.FreqScale = 1 / factor
	}
	switch r.Scaling {
	case "none":
		r.FreqScale = 1
	case "linear", "longrope":
	case "yarn":
		r.ExtFactor = m.optFloat("rope.scaling.yarn_ext_factor", 1)
		if r.OrigContext <= 0 {
			m.fail(fmt.Errorf("%w: rope.scaling.original_context_length %d must be positive for YaRN", errBadConfig, r.OrigContext))
		}
		if r.ExtFactor != 0 && r.FreqScale > 0 {
			logMul := m.optFloat("rope.scaling.yarn_log_multiplier", 0) / 0.1
			r.AttnFactor *= yarnAttnFactor(r.FreqScale, logMul)
		}
	default:
		m.fail(fmt.Errorf("%w: rope.scaling.type %q is not supported (none, linear, yarn, longrope)", errBadConfig, r.Scaling))
	}
	// The context the scaling reaches: YaRN's factor always stretches
	// the original context; a linear factor does when the file names the
	// original context (otherwise context_length is taken to be the
	// stretched one already, as older linear-scaled conversions wrote it).
	if (r.Scaling == "yarn" || r.Scaling == "linear" && origSet) && r.FreqScale > 0 && r.FreqScale < 1 {
		c.ropeContext = int(min(float64(r.OrigContext)/float64(r.FreqScale), math.MaxInt32))
	}
}

// yarnAttnFactor is the attention factor llama_context hands ggml's rope
// for YaRN, before rope.scaling.attn_factor multiplies it: Hugging Face's
// mscale ratio, divided by the 1+0.1 ln(factor) ggml's rope_yarn
// multiplies back in. In float32 and in llama.cpp's order.
func yarnAttnFactor(freqScale, logMul float32) float32 {
	mscale := func(scale, m float32) float32 {
		if scale <= 1 {
			return 1
		}
		return 0.1*m*logf(scale) + 1
	}
	factor := 1 / freqScale
	a := mscale(factor, 1)
	if logMul != 0 {
		a = mscale(factor, 1) / mscale(factor, logMul)
	}
	return a * (1 / (1 + 0.1*logf(factor)))
}

// MaxContext is the longest context the model's RoPE reaches: the
// training context, or the original context times the scaling factor
// where the file configures YaRN (or linear scaling with its original
// context) and that is longer; Load lets Options.ContextLength go up to
// it.
func (c Config) MaxContext() int { return max(c.ContextLength, c.ropeContext) }

// RopeScaling replaces a file's RoPE scaling, as llama.cpp's
// --rope-scaling, --rope-scale and --yarn-orig-ctx do: for a model whose
// file lacks it (Qwen2.5's GGUFs, trained for 32768 tokens, are
// documented to reach 131072 with YaRN and a factor of 4). A zero field
// keeps what the file says.
type RopeScaling struct {
	Type        string  // "none", "linear" or "yarn"
	Factor      float32 // context extension factor; angles are divided by it
	OrigContext int     // the context the model was trained with
}

func (o RopeScaling) check() error {
	switch o.Type {
	case "", "none", "linear", "yarn":
	case "longrope":
		return errors.New("RoPE scaling longrope comes from the file's factor tensors (Phi-3) and cannot be chosen")
	default:
		return fmt.Errorf("RoPE scaling %q is not supported (none, linear, yarn)", o.Type)
	}
	if math.IsNaN(float64(o.Factor)) || math.IsInf(float64(o.Factor), 0) || o.Factor < 0 {
		return fmt.Errorf("RoPE scaling factor %g must be a positive number", o.Factor)
	}
	if o.OrigContext < 0 {
		return fmt.Errorf("RoPE original context %d must be positive", o.OrigContext)
	}
	return nil
}
