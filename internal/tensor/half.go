package tensor

import "math"

// FP16ToFP32 converts an IEEE 754 half-precision value to float32. Every
// half is exactly representable, so the conversion is exact; a NaN keeps
// its payload, as VCVTPH2PS does.
//
// It is written without calls so that it inlines into the portable
// kernels: the exponent is rebiased (15 -> 127), once more for Inf and
// NaN, and subnormals are renormalised by one exact float subtraction.
func FP16ToFP32(h uint16) float32 {
	u := uint32(h&0x7fff) << 13
	exp := u & (0x7c00 << 13)
	u += (127 - 15) << 23
	switch exp {
	case 0x7c00 << 13: // Inf or NaN
		u += (128 - 16) << 23
	case 0: // zero or subnormal: 2^-14 * 0.m, as (1.m - 1) * 2^-14
		u += 1 << 23
		u = math.Float32bits(math.Float32frombits(u) - 0x1p-14)
	}
	return math.Float32frombits(u | uint32(h&0x8000)<<16)
}

// FP32ToFP16 converts f to half precision, rounding to nearest with ties to
// even, exactly like the F16C instruction VCVTPS2PH (imm 0) that ggml uses:
// overflow gives ±Inf, tiny values become subnormals or ±0, and a NaN stays
// a NaN with its payload's top bits and the quiet bit set.
func FP32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // biased half exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e >= 1 {
		h := uint16(e)<<10 | uint16(mant>>13)
		rest := mant & 0x1fff
		// A carry out of the mantissa correctly bumps the exponent, and
		// 0x7bff+1 is Inf.
		if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
			h++
		}
		return sign | h
	}
	// The result is a half subnormal (units of 2^-24) or zero.
	if exp == 0 {
		return sign // float32 subnormals are far below 2^-25
	}
	m := mant | 0x800000 // value = m * 2^(exp-150)
	shift := uint(126 - exp)
	if shift > 24 {
		return sign // below 2^-25: rounds to zero
	}
	h := uint16(m >> shift)
	rest := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rest > half || rest == half && h&1 == 1 {
		h++
	}
	return sign | h
}

// BF16ToFP32 converts a bfloat16 value to float32 (exact).
func BF16ToFP32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// FP32ToBF16 converts f to bfloat16 like ggml_compute_fp32_to_bf16: round
// to nearest even on the top 16 bits, NaNs forced quiet, subnormals kept.
func FP32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}
