package tensor

import "math"

// Vector math of the transformer layers that is not a matrix product:
// the softmax of attention scores and of MoE routers, and the SwiGLU
// activation. They follow ggml's CPU backend (its AVX2 build), because a
// model's logits are only as close to llama.cpp's as every step on the
// way. On amd64 with AVX2 and FMA they run eight floats at a time
// (vmath_amd64.s) and evaluate exp with ggml's fused multiply-adds; the
// portable versions here round every product, which costs at most
// another ulp of exp.

// expf is exp(x) by the algorithm of ggml's vectorised exp (ggml_v_expf,
// from ARM's optimized routines, max error 1.5 ulp), which ggml uses in
// softmax and SiLU, with plain float32 operations (math.FMA is a float64
// function call): several times faster than math.Exp, which matters: a
// 512-token prompt of a 0.5B model takes ~100M of them.
func expf(x float32) float32 {
	const shift = 0x1.8p23 // adding it rounds x/ln2 to an integer in the low mantissa bits
	z := x*0x1.715476p+0 + shift
	n := z - shift
	b := x - n*0x1.62e4p-1 - n*0x1.7f7d1cp-20 // x - n*ln2, ln2 in two parts
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1)) // 2^n
	u := b * b
	j := ((0x1.0e4020p-7*b+0x1.573e2ep-5)*u+(0x1.555e66p-3*b+0x1.fffdb6p-2))*u + 0x1.ffffecp-1*b
	if !(abs32(n) > 126) {
		return k + j*k
	}
	// The scale 2^n does not fit a float32 exponent: build it in two
	// factors, or saturate to 0 or +Inf.
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	s2 := math.Float32frombits(e - g)
	if abs32(n) > 192 {
		return s1 * s1
	}
	return (s2 + s2*j) * s1
}

// silu is x*sigmoid(x) as ggml_v_silu computes it.
func silu(x float32) float32 { return x / (1 + expf(-x)) }

// Softmax sets x[i] = exp(scale*x[i] - m) / sum, m the largest scaled
// entry and sum that of the exponentials, accumulated in float64 (as
// ggml_soft_max_ext; -Inf entries become 0).
func Softmax(x []float32, scale float32) {
	if len(x) == 0 {
		return
	}
	if vmathAVX2 {
		softmaxAVX2(x, scale)
		return
	}
	max := scaleMax(x, scale, float32(math.Inf(-1)))
	var sum float64
	for j, v := range x {
		e := expf(v - max)
		x[j] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for j := range x {
		x[j] *= inv
	}
}

// scaleMax sets x[i] *= scale and returns the largest of the results and m.
func scaleMax(x []float32, scale, m float32) float32 {
	for j, v := range x {
		v *= scale
		x[j] = v
		if v > m {
			m = v
		}
	}
	return m
}

// SwiGLU sets gate[i] = silu(gate[i]) * up[i] (ggml_swiglu).
func SwiGLU(gate, up []float32) {
	up = up[:len(gate)]
	if vmathAVX2 && len(gate) > 0 {
		swigluAVX2Slices(gate, up)
		return
	}
	for i, g := range gate {
		gate[i] = silu(g) * up[i]
	}
}
