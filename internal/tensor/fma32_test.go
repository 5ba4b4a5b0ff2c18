package tensor

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactFMA32 is a*b+c rounded once to float32 (half to even, subnormals
// included), by math/big: 1000 bits hold any such sum exactly.
func exactFMA32(a, b, c float32) float32 {
	p := new(big.Float).SetPrec(1000).Mul(big.NewFloat(float64(a)), big.NewFloat(float64(b)))
	f, _ := p.Add(p, big.NewFloat(float64(c))).Float32()
	return f
}

// TestFMA32 checks fma32 against exact arithmetic, on products whose
// float64 sum lands halfway between two float32 values (where rounding
// through float64 goes wrong) and on random values.
func TestFMA32(t *testing.T) {
	for _, c := range []struct{ a, b, c, want float32 }{
		{0, 0, 0, 0},
		{1, 1, -1, 0},
		{2, 3, float32(math.Inf(-1)), float32(math.Inf(-1))},
		{math.MaxFloat32, 2, 0, float32(math.Inf(1))},
		{0x1p-75, 0x1p-74, 0, 0x1p-149},   // the smallest subnormal, exactly
		{0x1p-75, 0x1p-75, 0, 0},          // half of it: to even, 0
		{0x1p-75, 0x1.8p-75, 0, 0x1p-149}, // three quarters of it
		{0x1p-75, 0x1.8p-74, 0, 0x1p-148}, // one and a half: to even
	} {
		if got := fma32(c.a, c.b, c.c); got != c.want {
			t.Errorf("fma32(%g, %g, %g) = %g, want %g", c.a, c.b, c.c, got, c.want)
		}
	}
	if got := fma32(float32(math.NaN()), 1, 1); !math.IsNaN(float64(got)) {
		t.Errorf("fma32(NaN, 1, 1) = %g", got)
	}
	// (1+2^-12)^2 = 1 + 2^-11 + 2^-24, halfway between two float32s; a
	// tiny c decides the side, but vanishes in the float64 sum.
	a := float32(1 + 0x1p-12)
	if got, want := fma32(a, a, 0x1p-80), float32(1+0x1p-11+0x1p-23); got != want {
		t.Errorf("fma32(a, a, 2^-80) = %x, want %x", math.Float32bits(got), math.Float32bits(want))
	}
	if got, want := fma32(a, a, -0x1p-80), float32(1+0x1p-11); got != want {
		t.Errorf("fma32(a, a, -2^-80) = %x, want %x", math.Float32bits(got), math.Float32bits(want))
	}
	if naive := float32(math.FMA(float64(a), float64(a), 0x1p-80)); naive == fma32(a, a, 0x1p-80) {
		t.Error("the halfway case does not exercise the double rounding")
	}
	r := rand.New(rand.NewPCG(1, 2))
	halfway := 0
	for i := range 300000 {
		var a, b, c float32
		switch {
		case i%3 == 2: // results near and below float32's smallest normal
			a = float32(r.NormFloat64() * 0x1p-63)
			b = float32(r.NormFloat64() * 0x1p-63)
			c = float32(r.NormFloat64() * math.Ldexp(1, -r.IntN(30)-120))
		case i%3 == 0: // few significant bits: halfway sums are common
			a = float32(1+float64(r.IntN(1<<12))*0x1p-12) * float32(math.Ldexp(1, r.IntN(20)-10))
			b = float32(1+float64(r.IntN(1<<12))*0x1p-12) * float32(math.Ldexp(1, r.IntN(20)-10))
			c = float32(math.Ldexp(1, r.IntN(80)-90))
			if r.IntN(2) == 0 {
				c = -c
			}
			if r.IntN(2) == 0 {
				a = -a
			}
		default:
			a = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
			b = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
			c = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
		}
		want := exactFMA32(a, b, c)
		if float32(math.FMA(float64(a), float64(b), float64(c))) != want {
			halfway++
		}
		if got := fma32(a, b, c); got != want {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
	if halfway == 0 {
		t.Error("no case where rounding through float64 is wrong")
	}
	t.Logf("%d cases where rounding through float64 would be wrong", halfway)
}
