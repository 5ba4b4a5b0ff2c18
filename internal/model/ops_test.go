package model

import (
	"math"
	"testing"

	"github.com/raym33/ainative/internal/tensor"
)

func TestRMSNorm(t *testing.T) {
	x := []float32{1, -2, 3, -4, 0.5}
	w := []float32{1, 2, 0.5, 1, -1}
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+1e-6)
	dst := make([]float32, len(x))
	rmsNorm(dst, x, w, 1e-6)
	for i := range x {
		if want := float64(x[i]) * s * float64(w[i]); math.Abs(float64(dst[i])-want) > 1e-6 {
			t.Errorf("rmsNorm[%d] = %g, want %g", i, dst[i], want)
		}
	}
	rmsNorm(x, x, w, 1e-6) // in place
	for i := range x {
		if x[i] != dst[i] {
			t.Fatal("in-place rmsNorm differs")
		}
	}
}

func TestSoftmax(t *testing.T) {
	row := []float32{1, 2, 3, 4, 5, 6}
	softmax(row, 0.5, 1, 4) // entries 1..3 visible, scaled by 0.5
	z := math.Exp(1) + math.Exp(1.5) + math.Exp(2)
	want := []float64{0, math.Exp(1) / z, math.Exp(1.5) / z, math.Exp(2) / z, 0, 0}
	for i := range row {
		if math.Abs(float64(row[i])-want[i]) > 1e-6 {
			t.Errorf("softmax[%d] = %g, want %g", i, row[i], want[i])
		}
	}
	// Large scores do not overflow.
	big := []float32{1e4, 1e4 + 1}
	softmax(big, 1, 0, 2)
	if math.Abs(float64(big[0]+big[1])-1) > 1e-6 || big[1] < big[0] {
		t.Errorf("softmax of large scores: %v", big)
	}
}

func TestGELUTable(t *testing.T) {
	gelu := func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*x*(1+0.044715*x*x)))
	}
	for _, x := range []float32{-9.5, -3, -1, -0.25, 0, 1e-3, 0.5, 1, 2.75, 9.99} {
		g := []float32{x}
		geglu(g, []float32{1})
		h := float64(tensor.FP16ToFP32(tensor.FP32ToFP16(x))) // input rounded to F16, as ggml's table
		want := float64(tensor.FP16ToFP32(tensor.FP32ToFP16(float32(gelu(h)))))
		if math.Abs(float64(g[0])-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("gelu(%g) = %g, want %g", x, g[0], want)
		}
	}
	// Outside [-10, 10] ggml skips the table.
	g := []float32{-11, 12}
	geglu(g, []float32{3, 2})
	if g[0] != 0 || g[1] != 24 {
		t.Errorf("gelu at the clamps: %v", g)
	}
}

func TestRope(t *testing.T) {
	c := RopeConfig{Dims: 8, Base: 10000, FreqScale: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigContext: 4096}
	for _, neox := range []bool{false, true} {
		c.Neox = neox
		r := newRope(c, nil)
		cs := make([]float32, c.Dims)
		pos := 7
		r.table(cs, pos)
		x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10} // head of 10: the last two pass through
		y := append([]float32(nil), x...)
		r.apply(y, cs)
		for i := 0; i < c.Dims/2; i++ {
			theta := float64(pos) * math.Pow(10000, -2*float64(i)/float64(c.Dims))
			a, b := 2*i, 2*i+1
			if neox {
				a, b = i, i+c.Dims/2
			}
			wa := float64(x[a])*math.Cos(theta) - float64(x[b])*math.Sin(theta)
			wb := float64(x[a])*math.Sin(theta) + float64(x[b])*math.Cos(theta)
			if math.Abs(float64(y[a])-wa) > 1e-5 || math.Abs(float64(y[b])-wb) > 1e-5 {
				t.Errorf("neox=%v pair %d: got %g %g, want %g %g", neox, i, y[a], y[b], wa, wb)
			}
		}
		if y[8] != 9 || y[9] != 10 {
			t.Errorf("dimensions past n_rot changed: %v", y[8:])
		}
	}
	// Frequency factors divide the angle; attn_factor scales magnitude.
	c.AttnFactor = 2
	r := newRope(c, []float32{1, 2, 4, 8})
	cs := make([]float32, c.Dims)
	r.table(cs, 3)
	theta := 3 * math.Pow(10000, -2.0/8) / 2
	if math.Abs(float64(cs[2])-2*math.Cos(theta)) > 1e-6 || math.Abs(float64(cs[3])-2*math.Sin(theta)) > 1e-6 {
		t.Errorf("factors/attn_factor: got %v", cs[2:4])
	}
}

func TestYarnCorrDims(t *testing.T) {
	// Llama-like: 128 dims, 4096 original context, base 10000.
	d := yarnCorrDims(128, 4096, 10000, 32, 1)
	if d[0] != 20 || d[1] != 46 {
		t.Errorf("corr dims %v, want [20 46]", d)
	}
}
