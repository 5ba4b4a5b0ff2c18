package model

import (
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
