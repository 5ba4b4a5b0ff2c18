package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// halfValues lists the values of the positive finite halves 0..0x7bff, in
// increasing order (the encoding is monotonic).
func halfValues() []float64 {
	v := make([]float64, 0x7c00)
	for h := range v {
		e, m := h>>10, h&0x3ff
		if e == 0 {
			v[h] = math.Ldexp(float64(m), -24)
		} else {
			v[h] = math.Ldexp(float64(0x400|m), e-25)
		}
	}
	return v
}

// refFP16 rounds f to half precision by searching the table of halves in
// float64, an implementation independent of FP32ToFP16's bit twiddling.
func refFP16(vals []float64, f float32) uint16 {
	var sign uint16
	if math.Signbit(float64(f)) {
		sign = 0x8000
	}
	a := math.Abs(float64(f))
	if a >= 65520 { // halfway between 65504 and 2^16 rounds up (odd mantissa)
		return sign | 0x7c00
	}
	h, found := slices.BinarySearch(vals, a)
	if found {
		return sign | uint16(h)
	}
	if h == len(vals) { // between 65504 and the Inf threshold
		return sign | uint16(h-1)
	}
	lo := h - 1 // vals[lo] < a < vals[h]
	dl, dh := a-vals[lo], vals[h]-a
	if dl < dh || dl == dh && lo%2 == 0 {
		return sign | uint16(lo)
	}
	return sign | uint16(h)
}

func TestFP16RoundTripExhaustive(t *testing.T) {
	vals := halfValues()
	for h := range 1 << 16 {
		f := FP16ToFP32(uint16(h))
		e, m := h>>10&0x1f, h&0x3ff
		if e == 0x1f && m != 0 {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("FP16ToFP32(%#04x) = %v, want NaN", h, f)
			}
			// Quiet NaNs keep their payload; signalling ones get quieted.
			if got, want := FP32ToFP16(f), uint16(h)|0x200; got != want {
				t.Fatalf("NaN %#04x -> %#04x, want %#04x", h, got, want)
			}
			continue
		}
		if e != 0x1f {
			want := vals[h&0x7fff]
			if h&0x8000 != 0 {
				want = -want
			}
			if float64(f) != want || math.Signbit(float64(f)) != (h&0x8000 != 0) {
				t.Fatalf("FP16ToFP32(%#04x) = %v, want %v", h, f, want)
			}
		}
		if got := FP32ToFP16(f); got != uint16(h) {
			t.Fatalf("round trip of %#04x (%v) gave %#04x", h, f, got)
		}
	}
}

// TestFP16Rounding checks every midpoint between neighbouring halves (ties
// go to the even one) and the floats just either side of it.
func TestFP16Rounding(t *testing.T) {
	vals := halfValues()
	next := append(vals[1:], 65536) // the value after 65504 is where Inf starts
	for h := range vals {
		mid := float32((vals[h] + next[h]) / 2) // exact in float32
		for _, f := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, math.MaxFloat32)} {
			for _, s := range []float32{1, -1} {
				if got, want := FP32ToFP16(s*f), refFP16(vals, s*f); got != want {
					t.Fatalf("FP32ToFP16(%g) = %#04x, want %#04x", s*f, got, want)
				}
			}
		}
	}
	// Fixed points: ties to even, overflow, underflow, signed zero.
	for _, c := range []struct {
		f    float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},                  // tie, even is down
		{1 + 3.0/2048, 0x3c02},                  // tie, even is up
		{65504, 0x7bff},                         // max half
		{65519.996, 0x7bff},                     // just below the Inf threshold
		{65520, 0x7c00},                         // tie with "65536": Inf
		{float32(math.Inf(-1)), 0xfc00},         //
		{float32(math.Ldexp(1, -24)), 0x0001},   // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0x0000},   // tie with 0: even is 0
		{float32(math.Ldexp(3, -26)), 0x0001},   // 0.75 of the smallest: up
		{float32(math.Ldexp(3, -25)), 0x0002},   // 1.5 subnormal units: tie to even 2
		{float32(math.Ldexp(1023, -24)), 0x3ff}, // largest subnormal
		{float32(math.Ldexp(2047, -25)), 0x400}, // rounds up into the normals
		{math.SmallestNonzeroFloat32, 0},
		{float32(math.Copysign(0, -1)), 0x8000},
	} {
		if got := FP32ToFP16(c.f); got != c.want {
			t.Errorf("FP32ToFP16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	// NaN payloads: the top 10 bits survive and the quiet bit is set.
	for _, bits := range []uint32{0x7fc00000, 0x7f800001, 0xffa00000, 0x7fffffff} {
		want := uint16(bits>>16)&0x8000 | 0x7e00 | uint16(bits&0x7fffff>>13)
		if got := FP32ToFP16(math.Float32frombits(bits)); got != want {
			t.Errorf("FP32ToFP16(NaN %#08x) = %#04x, want %#04x", bits, got, want)
		}
	}
}

func TestFP16RandomAgainstReference(t *testing.T) {
	vals := halfValues()
	r := rand.New(rand.NewPCG(1, 2))
	n := 2_000_000
	if testing.Short() {
		n = 200_000
	}
	for range n {
		f := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(f)) {
			continue
		}
		if math.IsInf(float64(f), 0) {
			continue
		}
		if got, want := FP32ToFP16(f), refFP16(vals, f); got != want {
			t.Fatalf("FP32ToFP16(%g) = %#04x, want %#04x", f, got, want)
		}
	}
}

func TestBF16(t *testing.T) {
	for h := range 1 << 16 {
		f := BF16ToFP32(uint16(h))
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("BF16ToFP32(%#04x) = %#08x", h, math.Float32bits(f))
		}
		want := uint16(h)
		if math.IsNaN(float64(f)) {
			want |= 64 // forced quiet
		}
		if got := FP32ToBF16(f); got != want {
			t.Fatalf("BF16 round trip %#04x -> %#04x, want %#04x", h, got, want)
		}
	}
	for _, c := range []struct {
		bits uint32
		want uint16
	}{
		{0x3f808000, 0x3f80}, // tie, even is down
		{0x3f818000, 0x3f82}, // tie, even is up
		{0x3f808001, 0x3f81}, // above the tie
		{0x3f807fff, 0x3f80}, // below the tie
		{0x7f7fffff, 0x7f80}, // max float rounds to Inf
		{0x00008000, 0x0000}, // subnormal tie rounds to even zero (not flushed)
		{0x00018000, 0x0002}, // subnormal tie up
		{0x80010000, 0x8001}, // negative subnormal kept
		{0x7f800001, 0x7fc0}, // signalling NaN quieted
		{0xff800000, 0xff80}, // -Inf
	} {
		if got := FP32ToBF16(math.Float32frombits(c.bits)); got != c.want {
			t.Errorf("FP32ToBF16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
}
