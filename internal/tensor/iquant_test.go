package tensor

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"
)

// testsQuantize reports whether the kernel tests take Quantize's output as
// weights of typ. For the IQ3 types they take random blocks instead
// (every bit pattern of an IQ3 block is a valid one), which reach grid
// indices and sign patterns the quantizer rarely writes; their
// quantizers are tested in iq3quant_test.go.
func testsQuantize(typ Type) bool { return typ != IQ3_XXS && typ != IQ3_S }

// testWeights returns x in type typ: quantized where testsQuantize(typ),
// otherwise random blocks with scales of x's magnitude, an all-zero
// block among them. t may be nil (then a failure panics).
func testWeights(t testing.TB, r *rand.Rand, typ Type, x []float32) []byte {
	if testsQuantize(typ) {
		if t == nil {
			b := make([]byte, mustRowBytes(typ, len(x)))
			if err := Quantize(typ, b, x); err != nil {
				panic(err)
			}
			return b
		}
		return mustQuantize(t, typ, x)
	}
	bb := typ.BlockBytes()
	b := make([]byte, mustRowBytes(typ, len(x)))
	for i := 0; i < len(b); i += bb {
		blk := b[i : i+bb]
		if r.IntN(8) == 0 {
			continue
		}
		for j := range blk {
			blk[j] = byte(r.Uint32())
		}
		amax, _ := absMax(x[i/bb*QKK : (i/bb+1)*QKK])
		// Grid values reach 62 (IQ3_XXS) or 15 (IQ3_S), block multipliers 31.
		putFP16(blk, amax/(62*31)*float32(1-2*r.IntN(2)))
	}
	return b
}

func mustRowBytes(typ Type, n int) int {
	rb, err := typ.RowBytes(int64(n))
	if err != nil {
		panic(err)
	}
	return int(rb)
}

// TestIQTableChecksums pins the lookup tables of the IQ types to ggml's
// (SHA-256 of the little-endian bytes of iq3xxs_grid, iq3s_grid,
// ksigns64, and ksigns_iq2xs followed by kvalues_iq4nl, as in
// ggml-common.h).
func TestIQTableChecksums(t *testing.T) {
	sum := func(v any) string {
		var b []byte
		b, err := binary.Append(b, binary.LittleEndian, v)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"iq3xxs_grid", iq3xxsGrid, "46e35f5a997efdee6c99ce57854c8a0d4f0ff8ca57e5e8a60c0793ea580acf5d"},
		{"iq3s_grid", iq3sGrid, "bd1af4945a1717c65610b0284e4628b9a1ba3b306fae3a06f6e5f597356e349f"},
		{"ksigns64", ksignMasks, "6ca8598509cc63406eaece40cff6b60198f6fa1e0dff261de7bd8d73bfed770c"},
		{"ksigns+kvalues", struct {
			S [128]uint8
			K [16]int8
		}{ksigns, kvaluesIQ4NL}, "e9d69dc722edfb8c5ba09dc1b139a12cc5af223b8e43f8c68d16a75ec5daa792"},
	} {
		if got := sum(c.v); got != c.want {
			t.Errorf("%s: SHA-256 %s, want %s", c.name, got, c.want)
		}
	}
}

// TestIQ3Layout pins the IQ3 block layouts on hand-made blocks: which
// bytes hold the grid indices, their ninth bit (IQ3_S), the signs and the
// scales.
func TestIQ3Layout(t *testing.T) {
	grid := func(g uint32, j int) float32 { return float32(uint8(g >> (8 * j))) }

	// IQ3_S, d = 1: sub-block 1 has scale nibble 2 (multiplier 5), grid
	// index 3 of it is 7 | 256 from bit 3 of qh[1], and sign bit 5 of its
	// second sign byte negates element 1 of that index's four.
	b := make([]byte, iq3_SBytes)
	putFP16(b, 1)
	b[2+8+3] = 7
	b[2+64+1] = 1 << 3
	b[2+64+8+4+1] = 1 << 5
	b[2+64+8+32] = 2 << 4
	y := mustDequantize(t, IQ3_S, b, QKK)
	g0, g := iq3sGrid[0], iq3sGrid[256+7]
	for e, v := range y {
		want := float32(1) * grid(g0, e%4) // multiplier 1 elsewhere
		if e >= 32 && e < 64 {
			want = 5 * grid(g0, e%4)
			if e >= 32+12 && e < 32+16 {
				want = 5 * grid(g, e%4)
				if e == 32+13 {
					want = -want
				}
			}
		}
		if v != want {
			t.Fatalf("IQ3_S element %d = %g, want %g", e, v, want)
		}
	}

	// IQ3_XXS, d = 1: sub-block 2 has scale 3 (d*(0.5+3)/2 = 1.75), grid
	// index 1 of it is 9, and sign index 2 for its first eight elements:
	// ksigns[2] = 130 negates element 1 and (parity) element 7.
	b = make([]byte, iq3_XXSBytes)
	putFP16(b, 1)
	b[2+16+1] = 9
	binary.LittleEndian.PutUint32(b[2+64+8:], 3<<28|2)
	y = mustDequantize(t, IQ3_XXS, b, QKK)
	g0, g = iq3xxsGrid[0], iq3xxsGrid[9]
	for e, v := range y {
		want := 0.25 * grid(g0, e%4)
		if e >= 64 && e < 96 {
			want = 1.75 * grid(g0, e%4)
			if e >= 68 && e < 72 {
				want = 1.75 * grid(g, e%4)
			}
			if e == 65 || e == 71 {
				want = -want
			}
		}
		if v != want {
			t.Fatalf("IQ3_XXS element %d = %g, want %g", e, v, want)
		}
	}
}

// TestQ23KLayout pins the bit layout of Q2_K and Q3_K on hand-made
// blocks: element e's 2-bit field is bits 2*(e%128/32) of
// qs[32*(e/128)+e%32]; Q3_K's high bit is bit e/32 of hmask[e%32].
func TestQ23KLayout(t *testing.T) {
	const e = 128 + 64 + 5 // field: bits 4-5 of qs[32+5]; sub-block 12
	b := make([]byte, q2_KBytes)
	b[16+32+5] = 3 << 4
	b[12] = 2 | 1<<4 // scale 2, min 1
	putFP16(b[80:], 0.5)
	putFP16(b[82:], 0.25)
	y := mustDequantize(t, Q2_K, b, QKK)
	for i, v := range y {
		want := float32(0)
		if i/16 == 12 {
			want = -0.25
			if i == e {
				want = 0.5*2*3 - 0.25
			}
		}
		if v != want {
			t.Fatalf("Q2_K element %d = %g, want %g", i, v, want)
		}
	}

	b = make([]byte, q3_KBytes)
	b[32+32+5] = 2 << 4
	b[e%32] = 1 << (e / 32)      // high bit: q = 2 + 4 - 4 = 2
	b[96+12%8] = (33 & 0xf) << 4 // sub-block 12: scale 33-32 = 1 ...
	b[96+8+12%4] = (33 >> 4) << 6
	putFP16(b[108:], 0.5)
	y = mustDequantize(t, Q3_K, b, QKK)
	for i, v := range y {
		// Elsewhere q = 0-4 with scale 0-32 = -32 (sub-block 12: 1).
		want := float32(0.5 * -32 * -4)
		if i/16 == 12 {
			want = 0.5 * -4
			if i == e {
				want = 0.5 * 2
			}
		}
		if v != want {
			t.Fatalf("Q3_K element %d = %g, want %g", i, v, want)
		}
	}
}

// TestIQ4Quantize checks the IQ4 quantizers' choices that the fixtures
// show only in bulk: an all-zero block stores scale 0 (negative zero in
// IQ4_XS, whose super-block scale is -max/32) and the level nearest 0,
// index 8; and values already on the grid come back exactly.
func TestIQ4Quantize(t *testing.T) {
	b := mustQuantize(t, IQ4_NL, make([]float32, QK))
	if binary.LittleEndian.Uint16(b) != 0 || b[2] != 0x88 {
		t.Errorf("IQ4_NL zero block: % x", b)
	}
	b = mustQuantize(t, IQ4_XS, make([]float32, QKK))
	if binary.LittleEndian.Uint16(b) != 0x8000 || b[8] != 0x88 {
		t.Errorf("IQ4_XS zero block: % x", b[:9])
	}
	x := make([]float32, QKK)
	for i := range x {
		x[i] = float32(kvaluesIQ4NL[i%16]) / 4
	}
	for _, typ := range []Type{IQ4_NL, IQ4_XS} {
		y := mustDequantize(t, typ, mustQuantize(t, typ, x), len(x))
		for i := range y {
			if y[i] != x[i] {
				t.Fatalf("%s: element %d = %g, want %g", typ, i, y[i], x[i])
			}
		}
	}
	for _, c := range []struct {
		x    float32
		want uint8
	}{{-200, 0}, {-127, 0}, {-115.5, 1}, {-115.6, 0}, {0, 8}, {-4.5, 8}, {-4.6, 7}, {113, 15}, {1e9, 15}} {
		if got := bestIndexIQ4(c.x); got != c.want {
			t.Errorf("bestIndexIQ4(%g) = %d, want %d", c.x, got, c.want)
		}
	}
	if math.Float32bits(iq4BlockScale(make([]float32, QK))) != 0 {
		t.Error("zero block: scale not 0")
	}
}
