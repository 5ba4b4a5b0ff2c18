package tensor

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// exactFMA32 is a*b+c rounded once to float32 (half to even), by
// math/big; results below float32's normal range are not compared.
func exactFMA32(a, b, c float32) (float32, bool) {
	p := new(big.Float).SetPrec(64).Mul(big.NewFloat(float64(a)), big.NewFloat(float64(b)))
	z := new(big.Float).SetPrec(24).SetMode(big.ToNearestEven).Add(p, big.NewFloat(float64(c)))
	f, _ := z.Float32()
	if f != 0 && math.Abs(float64(f)) < 0x1p-126 {
		return 0, false
	}
	return f, true
}

// TestFMA32 checks fma32 against exact arithmetic, on products whose
// float64 sum lands halfway between two float32 values (where rounding
// through float64 goes wrong) and on random values.
func TestFMA32(t *testing.T) {
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
	for i := range 200000 {
		var a, b, c float32
		if i%2 == 0 { // few significant bits: halfway sums are common
			a = float32(1+float64(r.IntN(1<<12))*0x1p-12) * float32(math.Ldexp(1, r.IntN(20)-10))
			b = float32(1+float64(r.IntN(1<<12))*0x1p-12) * float32(math.Ldexp(1, r.IntN(20)-10))
			c = float32(math.Ldexp(1, r.IntN(80)-90))
			if r.IntN(2) == 0 {
				c = -c
			}
			if r.IntN(2) == 0 {
				a = -a
			}
		} else {
			a = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
			b = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
			c = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(40)-20))
		}
		want, ok := exactFMA32(a, b, c)
		if !ok {
			continue
		}
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
