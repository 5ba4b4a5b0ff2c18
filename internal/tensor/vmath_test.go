package tensor

import (
	"math"
	"testing"
)

func TestExpf(t *testing.T) {
	worst := 0.0
	for x := float32(-103); x < 88.7; x += 0.000731 {
		got, want := float64(expf(x)), math.Exp(float64(x))
		if want < 0x1p-126 { // subnormal results: absolute error
			if math.Abs(got-want) > 0x1p-148 { // a couple of subnormal steps
				t.Fatalf("expf(%g) = %g, want %g", x, got, want)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	if ulps := worst / 0x1p-24; ulps > 4 {
		t.Errorf("expf: worst error %.2f ulp", ulps)
	}
	for _, tc := range []struct{ x, want float32 }{
		{float32(math.Inf(-1)), 0}, {-200, 0}, {0, 1}, {89, float32(math.Inf(1))}, {float32(math.Inf(1)), float32(math.Inf(1))},
	} {
		if got := expf(tc.x); got != tc.want {
			t.Errorf("expf(%g) = %g, want %g", tc.x, got, tc.want)
		}
	}
}

func TestSoftmax(t *testing.T) {
	row := []float32{2, 3, 4}
	Softmax(row, 0.5)
	z := math.Exp(1) + math.Exp(1.5) + math.Exp(2)
	for i, want := range []float64{math.Exp(1) / z, math.Exp(1.5) / z, math.Exp(2) / z} {
		if math.Abs(float64(row[i])-want) > 1e-6 {
			t.Errorf("Softmax[%d] = %g, want %g", i, row[i], want)
		}
	}
	// Large scores do not overflow; -Inf (masked) entries get 0; every
	// length from 1 to 40 (whole groups of eight and partial ones) sums
	// to 1 with the largest entry where the largest score was.
	for n := 1; n <= 40; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1e4 + float32(i%7) - float32(i%3)*40
		}
		x[n/2] = 1e4 + 7
		if n > 2 {
			x[0] = float32(math.Inf(-1))
		}
		Softmax(x, 1)
		var sum float64
		for i, v := range x {
			sum += float64(v)
			if v > x[n/2] {
				t.Fatalf("n=%d: entry %d (%g) above the largest score's (%g)", n, i, v, x[n/2])
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("n=%d: probabilities sum to %g", n, sum)
		}
		if n > 2 && x[0] != 0 {
			t.Errorf("n=%d: masked entry got %g", n, x[0])
		}
	}
}

func TestSwiGLU(t *testing.T) {
	g, u := []float32{-2, 0, 1.5}, []float32{2, 3, -1}
	SwiGLU(g, u)
	for i, x := range []float64{-2, 0, 1.5} {
		want := x / (1 + math.Exp(-x)) * []float64{2, 3, -1}[i]
		if math.Abs(float64(g[i])-want) > 1e-6 {
			t.Errorf("SwiGLU[%d] = %g, want %g", i, g[i], want)
		}
	}
}
