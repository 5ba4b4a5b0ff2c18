//go:build !purego

package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// expfFMA is ggml_v_expf with its fused multiply-adds (fma32, q32.go),
// lane by lane: what the assembly must compute bit for bit.
func expfFMA(x float32) float32 {
	const shift = 0x1.8p23
	z := fma32(x, 0x1.715476p+0, shift)
	n := z - shift
	b := fma32(-n, 0x1.7f7d1cp-20, fma32(-n, 0x1.62e4p-1, x))
	e := math.Float32bits(z) << 23
	k := math.Float32frombits(e + math.Float32bits(1))
	u := b * b
	j := fma32(fma32(fma32(0x1.0e4020p-7, b, 0x1.573e2ep-5), u, fma32(0x1.555e66p-3, b, 0x1.fffdb6p-2)), u, 0x1.ffffecp-1*b)
	if !(abs32(n) > 126) {
		return fma32(j, k, k)
	}
	var g uint32
	if n <= 0 {
		g = 0x82000000
	}
	s1 := math.Float32frombits(g + 0x7f000000)
	s2 := math.Float32frombits(e - g)
	if abs32(n) > 192 {
		return s1 * s1
	}
	return fma32(s2, j, s2) * s1
}

func requireVMath(t *testing.T) {
	if !vmathAVX2 {
		t.Skip("no AVX2/FMA on this CPU (or AINATIVE_SIMD=none): the assembly is not in use")
	}
}

// The assembly's exp is ggml's: bit for bit against the lane-by-lane
// emulation, over a sweep of the whole range, the rare two-factor branch
// (results below 2^-126 or above 2^127) and saturation included.
func TestExpAVX2Exact(t *testing.T) {
	requireVMath(t)
	var xs []float32
	for x := float32(-110); x < 95; x += 0.000917 {
		xs = append(xs, x)
	}
	xs = append(xs, float32(math.Inf(-1)), -200, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)))
	for len(xs)%8 != 0 {
		xs = append(xs, 1)
	}
	got := append([]float32(nil), xs...)
	sum := expSubSumAVX2(&got[0], len(got), 0)
	var want float64
	bad := 0
	for i, x := range xs {
		w := expfFMA(x)
		want += float64(w)
		if math.Float32bits(got[i]) != math.Float32bits(w) {
			if bad++; bad <= 5 {
				t.Errorf("exp(%g): assembly %g (%#x), ggml %g (%#x)", x, got[i], math.Float32bits(got[i]), w, math.Float32bits(w))
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d differ", bad, len(xs))
	}
	if !math.IsInf(want, 1) || !math.IsInf(sum, 1) {
		t.Errorf("sum %g, want %g", sum, want)
	}
}

// Softmax and SwiGLU give what the portable code gives, to the ulp or two
// that its unfused exp costs, for every length from 0 to 70.
func TestVMathAVX2AgainstGo(t *testing.T) {
	requireVMath(t)
	r := rand.New(rand.NewPCG(5, 6))
	for n := range 71 {
		x := make([]float32, n)
		up := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 30)
			up[i] = float32(r.NormFloat64())
		}
		if n > 3 {
			x[3] = float32(math.Inf(-1))
		}
		s1, s2 := append([]float32(nil), x...), append([]float32(nil), x...)
		g1, g2 := append([]float32(nil), x...), append([]float32(nil), x...)
		for i := range g1 {
			if math.IsInf(float64(g1[i]), 0) {
				g1[i], g2[i] = -90, -90
			}
		}
		Softmax(s1, 0.125)
		SwiGLU(g1, up)
		vmathAVX2 = false
		Softmax(s2, 0.125)
		SwiGLU(g2, up)
		vmathAVX2 = true
		for i := range x {
			if d := math.Abs(float64(s1[i] - s2[i])); d > 4e-7*math.Abs(float64(s2[i]))+1e-30 {
				t.Errorf("n=%d: Softmax[%d] = %g, portable %g", n, i, s1[i], s2[i])
			}
			if d := math.Abs(float64(g1[i] - g2[i])); d > 4e-7*math.Abs(float64(g2[i]))+1e-30 {
				t.Errorf("n=%d: SwiGLU[%d] = %g, portable %g (gate %g)", n, i, g1[i], g2[i], x[i])
			}
		}
	}
}

func TestVMathAllocs(t *testing.T) {
	requireVMath(t)
	x, up := make([]float32, 37), make([]float32, 37)
	if a := testing.AllocsPerRun(100, func() { Softmax(x, 1); SwiGLU(x, up) }); a != 0 {
		t.Errorf("%g allocations per call", a)
	}
}
