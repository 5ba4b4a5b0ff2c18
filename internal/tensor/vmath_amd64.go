//go:build !purego

package tensor

import "math"

// vmathAVX2 says whether Softmax and SwiGLU use the AVX2 code: whenever
// SIMD kernels are in use (archInit), so AINATIVE_SIMD=none turns both off.
var vmathAVX2 bool

//go:noescape
func scaleMaxAVX2(x *float32, n int, scale float32) float32

//go:noescape
func expSubSumAVX2(x *float32, n int, sub float32) float64

//go:noescape
func scaleAVX2(x *float32, n int, s float32)

//go:noescape
func swigluAVX2(gate, up *float32, n int)

// softmaxAVX2 is Softmax's body: the assembly takes whole groups of
// eight; a last partial group is scaled here and exponentiated through
// an 8-float buffer padded with -Inf (exp gives 0 there, adding nothing
// to the sum), so every entry goes through the same code.
func softmaxAVX2(x []float32, scale float32) {
	n8 := len(x) &^ 7
	max := float32(math.Inf(-1))
	if n8 > 0 {
		max = scaleMaxAVX2(&x[0], n8, scale)
	}
	tail := x[n8:]
	max = scaleMax(tail, scale, max)
	var sum float64
	if n8 > 0 {
		sum = expSubSumAVX2(&x[0], n8, max)
	}
	if len(tail) > 0 {
		buf := [8]float32{}
		for j := range buf {
			buf[j] = float32(math.Inf(-1))
		}
		copy(buf[:], tail)
		sum += expSubSumAVX2(&buf[0], 8, max)
		copy(tail, buf[:])
	}
	inv := float32(1 / sum)
	if n8 > 0 {
		scaleAVX2(&x[0], n8, inv)
	}
	for j := range tail {
		tail[j] *= inv
	}
}

// swigluAVX2Slices runs swigluAVX2 on whole groups of eight and a last
// partial group through zero-padded buffers.
func swigluAVX2Slices(gate, up []float32) {
	n8 := len(gate) &^ 7
	if n8 > 0 {
		swigluAVX2(&gate[0], &up[0], n8)
	}
	if len(gate) > n8 {
		var g, u [8]float32
		copy(g[:], gate[n8:])
		copy(u[:], up[n8:])
		swigluAVX2(&g[0], &u[0], 8)
		copy(gate[n8:], g[:])
	}
}
