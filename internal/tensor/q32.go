package tensor

import (
	"encoding/binary"
	"math"
)

// The 32-element block formats. Layouts (little-endian, no padding):
//
//	Q4_0: d f16, qs[16]           x = d*(q-8),   q in qs nibbles
//	Q4_1: d f16, m f16, qs[16]    x = d*q + m
//	Q5_0: d f16, qh u32, qs[16]   x = d*(q-16),  q = nibble | bit<<4
//	Q5_1: d f16, m f16, qh u32, qs[16]
//	Q8_0: d f16, qs[32] int8      x = d*q
//	Q8_1: d f16, s f16, qs[32]    s = d*sum(q), used by the Q4_1/Q5_1 dots
//
// In the nibble formats byte j holds element j in its low half and element
// j+16 in its high half; bit j of qh is the fifth bit of element j.

const (
	q4_0Bytes = 2 + QK/2
	q4_1Bytes = 4 + QK/2
	q5_0Bytes = 6 + QK/2
	q5_1Bytes = 8 + QK/2
	q8_0Bytes = 2 + QK
	q8_1Bytes = 4 + QK
)

func dequantQ4_0(dst []float32, src []byte) {
	for i := range len(dst) / QK {
		b := src[i*q4_0Bytes : (i+1)*q4_0Bytes]
		y := dst[i*QK : (i+1)*QK]
		d := fp16At(b)
		qs := b[2 : 2+QK/2]
		for j, q := range qs {
			y[j] = float32(int(q&0xf)-8) * d
			y[j+QK/2] = float32(int(q>>4)-8) * d
		}
	}
}

func dequantQ4_1(dst []float32, src []byte) {
	for i := range len(dst) / QK {
		b := src[i*q4_1Bytes : (i+1)*q4_1Bytes]
		y := dst[i*QK : (i+1)*QK]
		d, m := fp16At(b), fp16At(b[2:])
		qs := b[4 : 4+QK/2]
		for j, q := range qs {
			y[j] = float32(float32(q&0xf)*d) + m
			y[j+QK/2] = float32(float32(q>>4)*d) + m
		}
	}
}

func dequantQ5_0(dst []float32, src []byte) {
	for i := range len(dst) / QK {
		b := src[i*q5_0Bytes : (i+1)*q5_0Bytes]
		y := dst[i*QK : (i+1)*QK]
		d := fp16At(b)
		qh := binary.LittleEndian.Uint32(b[2:])
		qs := b[6 : 6+QK/2]
		for j, q := range qs {
			lo := int(q&0xf) | int(qh>>j&1)<<4
			hi := int(q>>4) | int(qh>>(j+16)&1)<<4
			y[j] = float32(lo-16) * d
			y[j+QK/2] = float32(hi-16) * d
		}
	}
}

func dequantQ5_1(dst []float32, src []byte) {
	for i := range len(dst) / QK {
		b := src[i*q5_1Bytes : (i+1)*q5_1Bytes]
		y := dst[i*QK : (i+1)*QK]
		d, m := fp16At(b), fp16At(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:])
		qs := b[8 : 8+QK/2]
		for j, q := range qs {
			lo := q&0xf | byte(qh>>j&1)<<4
			hi := q>>4 | byte(qh>>(j+16)&1)<<4
			y[j] = float32(float32(lo)*d) + m
			y[j+QK/2] = float32(float32(hi)*d) + m
		}
	}
}

func dequantQ8_0(dst []float32, src []byte) {
	for i := range len(dst) / QK {
		b := src[i*q8_0Bytes : (i+1)*q8_0Bytes]
		y := dst[i*QK : (i+1)*QK]
		d := fp16At(b)
		for j, q := range b[2 : 2+QK] {
			y[j] = float32(int8(q)) * d
		}
	}
}

func dequantQ8_1(dst []float32, src []byte) {
	for i := range len(dst) / QK {
		b := src[i*q8_1Bytes : (i+1)*q8_1Bytes]
		y := dst[i*QK : (i+1)*QK]
		d := fp16At(b)
		for j, q := range b[4 : 4+QK] {
			y[j] = float32(int8(q)) * d
		}
	}
}

// absMax returns the largest |v| of a block and the signed value having it
// (the first one on ties), as the reference quantizers pick it.
func absMax(x []float32) (amax, max float32) {
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, max = a, v
		}
	}
	return amax, max
}

// fma32 is a*b+c with one rounding to float32, as the FMA instruction
// that C compilers contract a*b+c into computes it. ggml's quantizers are
// built that way (the fixtures show it), so the quantizers here use fma32
// where GCC contracts: x*id + 0.5 and the like, and sums of products.
//
// The float64 product of two float32 values is exact, so p+c rounded to
// float64 is the exact sum rounded once; rounding that again to float32
// is wrong only when the float64 sum lies exactly halfway between two
// float32 values but the exact sum does not: then the sum is moved one
// float64 step toward the exact one (the error of the addition, Knuth's
// TwoSum) before the float32 rounding.
func fma32(a, b, c float32) float32 {
	p, c64 := float64(float64(a)*float64(b)), float64(c)
	s := float64(p + c64)
	// A float64 in float32's normal range lies halfway between two
	// float32s exactly when its 29 bits beyond float32's precision are
	// 1000...0.
	if math.Float64bits(s)&(1<<29-1) != 1<<28 && math.Abs(s) >= 0x1p-126 {
		return float32(s)
	}
	r := float32(s)
	if float64(r) == s || math.IsInf(float64(r), 0) || math.IsNaN(s) {
		return r
	}
	bv := float64(s - p)
	e := float64(p-float64(s-bv)) + float64(c64-bv)
	if e == 0 {
		return r
	}
	// r2 is the float32 on s's other side; s - r and r2 - s are exact.
	r2 := math.Nextafter32(r, float32(math.Copysign(math.Inf(1), s-float64(r))))
	if s-float64(r) != float64(r2)-s {
		return r
	}
	return float32(math.Nextafter(s, math.Copysign(math.Inf(1), e)))
}

// quantizeQ4_0 is quantize_row_q4_0_ref: the scale maps the value of
// largest magnitude to -8 so the full range [-8, 7] is used.
func quantizeQ4_0(dst []byte, src []float32) {
	for i := range len(src) / QK {
		x := src[i*QK : (i+1)*QK]
		b := dst[i*q4_0Bytes : (i+1)*q4_0Bytes]
		_, vmax := absMax(x)
		d := vmax / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putFP16(b, d)
		for j := range QK / 2 {
			q0 := min(15, int8(fma32(x[j], id, 8.5)))
			q1 := min(15, int8(fma32(x[j+QK/2], id, 8.5)))
			b[2+j] = byte(q0) | byte(q1)<<4
		}
	}
}

// minMax returns the smallest and the largest value of a block.
func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// quantizeQ4_1 is quantize_row_q4_1_ref: an offset (the block minimum) and
// a step covering [min, max] in 15 steps.
func quantizeQ4_1(dst []byte, src []float32) {
	for i := range len(src) / QK {
		x := src[i*QK : (i+1)*QK]
		b := dst[i*q4_1Bytes : (i+1)*q4_1Bytes]
		lo, hi := minMax(x)
		d := (hi - lo) / 15
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putFP16(b, d)
		putFP16(b[2:], lo)
		for j := range QK / 2 {
			q0 := min(15, int8(fma32(x[j]-lo, id, 0.5)))
			q1 := min(15, int8(fma32(x[j+QK/2]-lo, id, 0.5)))
			b[4+j] = byte(q0) | byte(q1)<<4
		}
	}
}

// quantizeQ5_0 is quantize_row_q5_0_ref (range [-16, 15]).
func quantizeQ5_0(dst []byte, src []float32) {
	for i := range len(src) / QK {
		x := src[i*QK : (i+1)*QK]
		b := dst[i*q5_0Bytes : (i+1)*q5_0Bytes]
		_, vmax := absMax(x)
		d := vmax / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putFP16(b, d)
		var qh uint32
		for j := range QK / 2 {
			q0 := byte(min(31, int8(fma32(x[j], id, 16.5))))
			q1 := byte(min(31, int8(fma32(x[j+QK/2], id, 16.5))))
			b[6+j] = q0&0xf | (q1&0xf)<<4
			qh |= uint32(q0>>4) << j
			qh |= uint32(q1>>4) << (j + QK/2)
		}
		binary.LittleEndian.PutUint32(b[2:], qh)
	}
}

// quantizeQ5_1 is quantize_row_q5_1_ref ([min, max] in 31 steps).
func quantizeQ5_1(dst []byte, src []float32) {
	for i := range len(src) / QK {
		x := src[i*QK : (i+1)*QK]
		b := dst[i*q5_1Bytes : (i+1)*q5_1Bytes]
		lo, hi := minMax(x)
		d := (hi - lo) / 31
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putFP16(b, d)
		putFP16(b[2:], lo)
		var qh uint32
		for j := range QK / 2 {
			q0 := min(31, uint8(fma32(x[j]-lo, id, 0.5)))
			q1 := min(31, uint8(fma32(x[j+QK/2]-lo, id, 0.5)))
			b[8+j] = q0&0xf | (q1&0xf)<<4
			qh |= uint32(q0>>4) << j
			qh |= uint32(q1>>4) << (j + QK/2)
		}
		binary.LittleEndian.PutUint32(b[4:], qh)
	}
}

// q8Block quantizes one block of 32 activations the way ggml's AVX2
// quantize_row_q8_0/q8_1 do: d = amax/127 (stored as F16), multiplier
// 127/amax (not 1/d: the two differ in the last bit), products rounded half
// to even (VROUNDPS nearest) and saturated to int8 (VPACKSSDW/VPACKSSWB).
// It returns d before F16 rounding and the sum of the quants.
func q8Block(qs []byte, x []float32) (d float32, sum int32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d = amax / 127
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	qs = qs[:len(x)]
	for j, v := range x {
		// float32() keeps the product rounded to float32 before rounding
		// to an integer, even where the compiler could fuse operations.
		q := int32(min(max(math.RoundToEven(float64(float32(v*id))), -128), 127))
		qs[j] = byte(int8(q))
		sum += q
	}
	return d, sum
}

func quantizeQ8_0(dst []byte, src []float32) {
	for i := range len(src) / QK {
		b := dst[i*q8_0Bytes : (i+1)*q8_0Bytes]
		d, _ := q8Block(b[2:], src[i*QK:(i+1)*QK])
		putFP16(b, d)
	}
}

// quantizeQ8_1 also stores s = d*sum(q), computed with the unrounded d as
// the AVX2 code does.
func quantizeQ8_1(dst []byte, src []float32) {
	for i := range len(src) / QK {
		b := dst[i*q8_1Bytes : (i+1)*q8_1Bytes]
		d, sum := q8Block(b[4:], src[i*QK:(i+1)*QK])
		putFP16(b, d)
		putFP16(b[2:], d*float32(sum))
	}
}

// Dot products. Integer sums inside a block are exact; per block the
// integer sum is scaled by the product of the two F16 scales, as ggml does.

func dotQ4_0(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QK {
		wb := w[i*q4_0Bytes : (i+1)*q4_0Bytes]
		xb := x[i*q8_0Bytes : (i+1)*q8_0Bytes]
		wq, xq := wb[2:2+QK/2], xb[2:2+QK]
		var s int32
		for j, q := range wq {
			s += (int32(q&0xf)-8)*int32(int8(xq[j])) + (int32(q>>4)-8)*int32(int8(xq[j+QK/2]))
		}
		sum += float32(s) * float32(fp16At(wb)*fp16At(xb))
	}
	return sum
}

func dotQ4_1(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QK {
		wb := w[i*q4_1Bytes : (i+1)*q4_1Bytes]
		xb := x[i*q8_1Bytes : (i+1)*q8_1Bytes]
		wq, xq := wb[4:4+QK/2], xb[4:4+QK]
		var s int32
		for j, q := range wq {
			s += int32(q&0xf)*int32(int8(xq[j])) + int32(q>>4)*int32(int8(xq[j+QK/2]))
		}
		sum += float32(s)*float32(fp16At(wb)*fp16At(xb)) + float32(fp16At(wb[2:])*fp16At(xb[2:]))
	}
	return sum
}

func dotQ5_0(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QK {
		wb := w[i*q5_0Bytes : (i+1)*q5_0Bytes]
		xb := x[i*q8_0Bytes : (i+1)*q8_0Bytes]
		qh := binary.LittleEndian.Uint32(wb[2:])
		wq, xq := wb[6:6+QK/2], xb[2:2+QK]
		var s int32
		for j, q := range wq {
			lo := int32(q&0xf) | int32(qh>>j&1)<<4
			hi := int32(q>>4) | int32(qh>>(j+16)&1)<<4
			s += (lo-16)*int32(int8(xq[j])) + (hi-16)*int32(int8(xq[j+QK/2]))
		}
		sum += float32(s) * float32(fp16At(wb)*fp16At(xb))
	}
	return sum
}

func dotQ5_1(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QK {
		wb := w[i*q5_1Bytes : (i+1)*q5_1Bytes]
		xb := x[i*q8_1Bytes : (i+1)*q8_1Bytes]
		qh := binary.LittleEndian.Uint32(wb[4:])
		wq, xq := wb[8:8+QK/2], xb[4:4+QK]
		var s int32
		for j, q := range wq {
			lo := int32(q&0xf) | int32(qh>>j&1)<<4
			hi := int32(q>>4) | int32(qh>>(j+16)&1)<<4
			s += lo*int32(int8(xq[j])) + hi*int32(int8(xq[j+QK/2]))
		}
		sum += float32(s)*float32(fp16At(wb)*fp16At(xb)) + float32(fp16At(wb[2:])*fp16At(xb[2:]))
	}
	return sum
}

func dotInt8(a, b []byte) int32 {
	b = b[:len(a)]
	var s int32
	for j, q := range a {
		s += int32(int8(q)) * int32(int8(b[j]))
	}
	return s
}

func dotQ8_0(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QK {
		wb := w[i*q8_0Bytes : (i+1)*q8_0Bytes]
		xb := x[i*q8_0Bytes : (i+1)*q8_0Bytes]
		sum += float32(dotInt8(wb[2:], xb[2:])) * float32(fp16At(wb)*fp16At(xb))
	}
	return sum
}

func dotQ8_1(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QK {
		wb := w[i*q8_1Bytes : (i+1)*q8_1Bytes]
		xb := x[i*q8_1Bytes : (i+1)*q8_1Bytes]
		sum += float32(dotInt8(wb[4:], xb[4:])) * float32(fp16At(wb)*fp16At(xb))
	}
	return sum
}
