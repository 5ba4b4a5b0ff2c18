package model

import (
	"math"
	"testing"
)

// refRope is RoPE scaling written from its definitions in float64, apart
// from ggml's float32 rounding: the angle of pair i at position pos is
// pos·base^(-2i/d); linear scaling divides it by the factor; YaRN
// (Peng et al. 2023, "YaRN: Efficient Context Window Extension", as
// llama.cpp applies it) mixes the divided angle with the original one by
// a ramp that is 1 (keep the original) below the dimension low and 0
// (interpolate) above high, where low and high are the dimensions whose
// wavelength fits betaFast and betaSlow times in the original context,
// and multiplies cos and sin by attn·(1+0.1 ln factor) (times
// 1/(1+0.1·mscaleAllDim·ln factor) when yarn_log_multiplier is given).
type refRope struct {
	dims             int
	base, factor     float64
	yarn             bool
	origCtx          int
	betaFast, slow   float64
	attn, logMulAttn float64 // logMulAttn: mscale_all_dim, 0 if none
}

func (r refRope) cosSin(pos, i int) (float64, float64) {
	extrap := float64(pos) * math.Pow(r.base, -2*float64(i)/float64(r.dims))
	interp := extrap / r.factor
	if !r.yarn {
		return math.Cos(interp) * r.attn, math.Sin(interp) * r.attn
	}
	// The dimension whose wavelength 2π/θ_i fits nRot times in origCtx.
	corr := func(nRot float64) float64 {
		return float64(r.dims) * math.Log(float64(r.origCtx)/(nRot*2*math.Pi)) / (2 * math.Log(r.base))
	}
	low := math.Max(0, math.Floor(corr(r.betaFast)))
	high := math.Min(float64(r.dims-1), math.Ceil(corr(r.slow)))
	ramp := 1 - math.Min(1, math.Max(0, (float64(i)-low)/math.Max(0.001, high-low)))
	theta := interp*(1-ramp) + extrap*ramp
	mag := r.attn * (1 + 0.1*math.Log(r.factor))
	if r.logMulAttn != 0 {
		mag /= 1 + 0.1*r.logMulAttn*math.Log(r.factor)
	}
	return math.Cos(theta) * mag, math.Sin(theta) * mag
}

// TestRopeScalingReference checks the engine's tables for linear and YaRN
// scaling against the float64 reference, at positions past the original
// context.
func TestRopeScalingReference(t *testing.T) {
	const dims, orig = 64, 2048
	for _, tc := range []struct {
		name string
		cfg  RopeConfig
		ref  refRope
	}{
		{"linear x4", RopeConfig{Dims: dims, Base: 10000, FreqScale: 0.25, AttnFactor: 1, OrigContext: orig},
			refRope{dims: dims, base: 10000, factor: 4, attn: 1}},
		{"yarn x4", RopeConfig{Dims: dims, Base: 1e6, FreqScale: 0.25, ExtFactor: 1, AttnFactor: yarnAttnFactor(0.25, 0), BetaFast: 32, BetaSlow: 1, OrigContext: orig},
			refRope{dims: dims, base: 1e6, factor: 4, yarn: true, origCtx: orig, betaFast: 32, slow: 1, attn: 1}},
		{"yarn x8 attn 0.9 log-mul 0.707", RopeConfig{Dims: dims, Base: 10000, FreqScale: 0.125, ExtFactor: 1,
			AttnFactor: 0.9 * yarnAttnFactor(0.125, 0.707), BetaFast: 16, BetaSlow: 2, OrigContext: orig},
			refRope{dims: dims, base: 10000, factor: 8, yarn: true, origCtx: orig, betaFast: 16, slow: 2, attn: 0.9, logMulAttn: 0.707}},
	} {
		r := newRope(tc.cfg, nil)
		cs := make([]float32, dims)
		worst := 0.0
		for _, pos := range []int{0, 1, 17, 1000, 2047, 5000, 8191} {
			r.table(cs, pos)
			for i := 0; i < dims/2; i++ {
				c, s := tc.ref.cosSin(pos, i)
				// float32 angles: ggml's running product of i+1 float32
				// factors is off by up to (i+1)·2^-24 of the angle.
				theta := float64(pos) * math.Pow(float64(tc.cfg.Base), -2*float64(i)/dims)
				tol := 1e-5 + 2*float64(i+1)*theta/(1<<24)
				d := math.Max(math.Abs(float64(cs[2*i])-c), math.Abs(float64(cs[2*i+1])-s))
				if d > tol {
					t.Errorf("%s: pos %d pair %d: got %g %g, want %g %g", tc.name, pos, i, cs[2*i], cs[2*i+1], c, s)
				}
				worst = max(worst, d)
			}
		}
		t.Logf("%s: largest difference from the float64 reference %.2g", tc.name, worst)
	}
}

// TestYarnCorrDimsReference checks the ramp's bounds against the float64
// definition for shapes of real models.
func TestYarnCorrDimsReference(t *testing.T) {
	for _, c := range []struct {
		dims, orig int
		base       float32
	}{{128, 32768, 1e6}, {64, 4096, 10000}, {128, 8192, 500000}, {96, 2048, 10000}} {
		ref := refRope{dims: c.dims, base: float64(c.base), origCtx: c.orig}
		corr := func(nRot float64) float64 {
			return float64(ref.dims) * math.Log(float64(ref.origCtx)/(nRot*2*math.Pi)) / (2 * math.Log(ref.base))
		}
		got := yarnCorrDims(c.dims, c.orig, c.base, 32, 1)
		want := [2]float32{float32(max(0, math.Floor(corr(32)))), float32(min(float64(c.dims-1), math.Ceil(corr(1))))}
		if got != want {
			t.Errorf("%+v: corr dims %v, want %v", c, got, want)
		}
	}
}

// TestYarnAttnFactor: without a log multiplier the factor cancels the
// 1+0.1 ln f ggml applies, so the magnitude is 1+0.1 ln f; with
// mscale_all_dim 1 it is 1 (DeepSeek-style files).
func TestYarnAttnFactor(t *testing.T) {
	for _, f := range []float32{2, 4, 40} {
		ggml := 1 + 0.1*math.Log(float64(f))
		if got := float64(yarnAttnFactor(1/f, 0)) * ggml; math.Abs(got-ggml) > 1e-6 {
			t.Errorf("factor %g: magnitude %g, want %g", f, got, ggml)
		}
		if got := float64(yarnAttnFactor(1/f, 1)) * ggml; math.Abs(got-1) > 1e-6 {
			t.Errorf("factor %g, mscale_all_dim 1: magnitude %g, want 1", f, got)
		}
	}
}
