package model

import (
	"math"
	"sync"

	"github.com/raym33/ainative/internal/tensor"
)

// The element-wise operations of a forward pass, computed the way ggml's
// CPU backend computes them (AVX2 build), because a model's logits are
// only as close to llama.cpp's as every step on the way. Where ggml uses
// an approximation (exp, GELU), so do we.

func tanhf(x float32) float32 { return float32(math.Tanh(float64(x))) }

// geglu sets gate[i] = gelu(gate[i]) * up[i] (ggml_geglu). ggml evaluates
// GELU through a table indexed by the F16 rounding of its input, holding
// the F16 rounding of the tanh approximation; we do the same, so Gemma's
// feed-forward activations carry the same rounding as llama.cpp's.
func geglu(gate, up []float32) {
	t := geluTable()
	up = up[:len(gate)]
	for i, x := range gate {
		switch {
		case x <= -10:
			gate[i] = 0
		case x >= 10:
			gate[i] = x * up[i]
		default:
			gate[i] = tensor.FP16ToFP32(t[tensor.FP32ToFP16(x)]) * up[i]
		}
	}
}

var geluTable = sync.OnceValue(func() *[1 << 16]uint16 {
	const (
		coefA       = float32(0.044715)
		sqrt2OverPi = float32(0.79788456080286535587989211986876)
	)
	t := new([1 << 16]uint16)
	for h := range t {
		x := tensor.FP16ToFP32(uint16(h))
		// 0.5*x*(1 + tanh(sqrt(2/pi)*x*(1 + a*x*x))), rounded step by
		// step in float32 (the conversions keep the compiler from fusing).
		inner := float32(sqrt2OverPi*x) * (1 + float32(float32(coefA*x)*x))
		g := float32(0.5*x) * (1 + tanhf(inner))
		t[h] = tensor.FP32ToFP16(g)
	}
	return t
})

// softcap sets x[i] = c*tanh(x[i]/c) (Gemma 2's logit soft-capping, as
// ggml_scale, ggml_tanh, ggml_scale).
func softcap(x []float32, c float32) {
	inv := 1 / c
	for i, v := range x {
		x[i] = tanhf(v*inv) * c
	}
}

// scale multiplies x by s in place.
func scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// add sets dst[i] += x[i].
func add(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += x[i]
	}
}

// rmsNorm sets dst = x / rms(x) * w (ggml_rms_norm followed by ggml_mul):
// the sum of squares in float64, the rest in float32, in ggml's order.
// dst may be x.
func rmsNorm(dst, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	s := 1 / float32(math.Sqrt(float64(mean+eps)))
	dst, w = dst[:len(x)], w[:len(x)]
	for i, v := range x {
		dst[i] = float32(v*s) * w[i]
	}
}

// softmax turns a row of attention scores into probabilities in place, as
// ggml_soft_max_ext does: scale, mask, subtract the maximum, exponentiate,
// normalise by the float64 sum. Only entries [lo, hi) are visible (causal
// and sliding-window masks are intervals); the others get probability 0,
// as exp(-Inf) gives in ggml.
func softmax(row []float32, kqScale float32, lo, hi int) {
	tensor.Softmax(row[lo:hi], kqScale)
	clear(row[:lo])
	clear(row[hi:])
}
