package tensor

import (
	"encoding/binary"
	"math/bits"
)

// The "IQ" types: quants that index a fixed table of values instead of
// standing for evenly spaced levels. Layouts (little-endian):
//
//	IQ4_NL:  d f16, qs[16]; blocks of 32: x = d*kvaluesIQ4NL[q], q 4 bits,
//	         low nibbles the first 16 elements, high nibbles the last 16
//	IQ4_XS:  d f16, scales_h u16, scales_l[4], qs[128]; 8 sub-blocks of
//	         32 as IQ4_NL, each scaled by d*(ls-32), ls 6 bits: nibble
//	         ib%2 of scales_l[ib/2] and bits 2*ib of scales_h
//	IQ3_XXS: d f16, qs[64] grid indices, then per sub-block of 32 a u32:
//	         four 7-bit sign indices (ksigns) and a 4-bit scale on top;
//	         x = d*(0.5+ls)/2 * grid value * sign
//	IQ3_S:   d f16, qs[64], qh[8], signs[32], scales[4]; a grid index
//	         is qs plus a ninth bit from qh, signs are plain bits, and
//	         x = d*(1+2*ls) * grid value * sign, ls 4 bits per sub-block
//
// In both IQ3 types each grid index covers four consecutive elements and
// each sign byte eight.

const (
	iq4_NLBytes  = 2 + QK/2
	iq4_XSBytes  = 4 + QKK/64 + QKK/2
	iq3_XXSBytes = 2 + 3*QKK/8
	iq3_SBytes   = 2 + QKK/4 + QKK/32 + QKK/8 + QKK/64
)

// kvaluesIQ4NL are the 16 levels of IQ4_NL and IQ4_XS, a non-linear
// (denser near zero) table from ggml's format.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// ksigns maps the 7 stored sign bits of eight IQ3_XXS values to all eight:
// the eighth is the parity of the seven, so every group has an even
// number of negative values (ggml's ksigns_iq2xs).
var ksigns = func() (t [128]uint8) {
	for i := range t {
		t[i] = uint8(i) | uint8(bits.OnesCount8(uint8(i))&1)<<7
	}
	return t
}()

// ksignMasks expands ksigns into byte masks, 0xFF for each negative
// value of the eight (ggml's ksigns64), for the SIMD kernels.
var ksignMasks = func() (t [128]uint64) {
	for i, s := range ksigns {
		for j := range 8 {
			if s>>j&1 != 0 {
				t[i] |= 0xff << (8 * j)
			}
		}
	}
	return t
}()

// iq4Value is the level of the 4-bit quant in byte b: low nibble for the
// first half of a 32-element block (hi false), high nibble for the second.
func iq4Value(b byte, hi bool) int8 {
	if hi {
		return kvaluesIQ4NL[b>>4]
	}
	return kvaluesIQ4NL[b&0xf]
}

func dequantIQ4_NL(dst []float32, src []byte) {
	for i := range len(dst) / QK {
		b := src[i*iq4_NLBytes : (i+1)*iq4_NLBytes]
		y := dst[i*QK : (i+1)*QK]
		d := fp16At(b)
		for j, q := range b[2 : 2+QK/2] {
			y[j] = d * float32(iq4Value(q, false))
			y[j+QK/2] = d * float32(iq4Value(q, true))
		}
	}
}

// iq4XSScale is the 6-bit scale of sub-block ib of an IQ4_XS super-block,
// minus its offset 32.
func iq4XSScale(b []byte, ib int) int32 {
	h := binary.LittleEndian.Uint16(b[2:])
	ls := b[4+ib/2]>>(4*(ib%2))&0xf | uint8(h>>(2*ib)&3)<<4
	return int32(ls) - 32
}

func dequantIQ4_XS(dst []float32, src []byte) {
	for i := range len(dst) / QKK {
		b := src[i*iq4_XSBytes : (i+1)*iq4_XSBytes]
		d := fp16At(b)
		for ib := range QKK / 32 {
			y := dst[i*QKK+32*ib : i*QKK+32*ib+32]
			dl := d * float32(iq4XSScale(b, ib))
			for j, q := range b[8+16*ib : 8+16*ib+16] {
				y[j] = dl * float32(iq4Value(q, false))
				y[j+16] = dl * float32(iq4Value(q, true))
			}
		}
	}
}

// iq4Dot32 is the integer dot product of a 32-element IQ4 block (16 bytes
// of nibbles) with 32 int8 activations.
func iq4Dot32(qs, y []byte) int32 {
	q, yy := (*[16]byte)(qs), (*[32]byte)(y)
	var s0, s1 int32
	for j := range 16 {
		s0 += int32(kvaluesIQ4NL[q[j]&0xf]) * int32(int8(yy[j]))
		s1 += int32(kvaluesIQ4NL[q[j]>>4]) * int32(int8(yy[j+16]))
	}
	return s0 + s1
}

// dotIQ4_NL is the dot product with Q8_0 activations (ggml pairs IQ4_NL
// with Q8_0, the block sizes being equal).
func dotIQ4_NL(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QK {
		wb := w[i*iq4_NLBytes : (i+1)*iq4_NLBytes]
		xb := x[i*q8_0Bytes : (i+1)*q8_0Bytes]
		sum += float32(fp16At(xb)*fp16At(wb)) * float32(iq4Dot32(wb[2:], xb[2:]))
	}
	return sum
}

func dotIQ4_XS(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QKK {
		wb := w[i*iq4_XSBytes : (i+1)*iq4_XSBytes]
		xb := x[i*q8_KBytes : (i+1)*q8_KBytes]
		yq := xb[4 : 4+QKK]
		var sumi int32
		for ib := range QKK / 32 {
			sumi += iq4XSScale(wb, ib) * iq4Dot32(wb[8+16*ib:], yq[32*ib:])
		}
		sum += float32(fp16At(wb)*f32At(xb)) * float32(sumi)
	}
	return sum
}

// bestIndexIQ4 is the index of the level of kvaluesIQ4NL nearest to x,
// the upper one on ties (ggml's best_index_int8).
func bestIndexIQ4(x float32) uint8 {
	v := &kvaluesIQ4NL
	if x <= float32(v[0]) {
		return 0
	}
	if x >= float32(v[15]) {
		return 15
	}
	lo, hi := 0, 15
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if x < float32(v[mid]) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if x-float32(v[hi-1]) < float32(v[hi])-x {
		return uint8(hi - 1)
	}
	return uint8(hi)
}

// iq4BlockScale fits the scale of one 32-element block for the IQ4 types
// as ggml's quantize_row_iq4_nl_impl does without an importance matrix
// (weights x², ntry 7): the scale mapping the value of largest magnitude
// to the lowest level, then 15 nearby ones, keeping the best least
// squares fit. It returns 0 for an all-zero block.
func iq4BlockScale(x []float32) float32 {
	const ntry = 7
	amax, vmax := absMax(x)
	if amax < groupMaxEps {
		return 0
	}
	fit := func(id float32) (sumQX, sumQ2 float32) {
		for _, v := range x {
			q := float32(kvaluesIQ4NL[bestIndexIQ4(id*v)])
			w := v * v
			sumQX = fma32(w*q, v, sumQX)
			sumQ2 = fma32(w*q, q, sumQ2)
		}
		return sumQX, sumQ2
	}
	d := -vmax / float32(kvaluesIQ4NL[0])
	sumQX, sumQ2 := fit(1 / d)
	d = sumQX / sumQ2
	best := d * sumQX
	for itry := -ntry; itry <= ntry; itry++ {
		sumQX, sumQ2 = fit(float32(itry+int(kvaluesIQ4NL[0])) / vmax)
		if sumQ2 > 0 && sumQX*sumQX > best*sumQ2 {
			d = sumQX / sumQ2
			best = d * sumQX
		}
	}
	return d
}

// packIQ4 stores the 32 level indices L of one block as nibbles.
func packIQ4(qs []byte, L []uint8) {
	for j := range 16 {
		qs[j] = L[j] | L[j+16]<<4
	}
}

// quantizeIQ4_NL is what llama.cpp's quantizer writes for IQ4_NL without
// an importance matrix (quantize_iq4_nl): per block the fitted scale,
// stored as F16, and each value's nearest level under it.
func quantizeIQ4_NL(dst []byte, src []float32) {
	var L [QK]uint8
	for i := range len(src) / QK {
		x := src[i*QK : (i+1)*QK]
		b := dst[i*iq4_NLBytes : (i+1)*iq4_NLBytes]
		d := iq4BlockScale(x)
		putFP16(b, d)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for j, v := range x {
			L[j] = bestIndexIQ4(id * v)
		}
		packIQ4(b[2:], L[:])
	}
}

// quantizeIQ4_XS is quantize_iq4_xs without an importance matrix: block
// scales as for IQ4_NL, stored with 6 bits against the one of largest
// magnitude (mapped to -32), then the values re-quantized per block.
func quantizeIQ4_XS(dst []byte, src []float32) {
	var (
		L      [32]uint8
		scales [QKK / 32]float32
	)
	for i := range len(src) / QKK {
		x := src[i*QKK : (i+1)*QKK]
		b := dst[i*iq4_XSBytes : (i+1)*iq4_XSBytes]
		var maxScale, amax float32
		for ib := range QKK / 32 {
			scales[ib] = iq4BlockScale(x[32*ib : 32*ib+32])
			if a := abs32(scales[ib]); a > amax {
				amax, maxScale = a, scales[ib]
			}
		}
		d := -maxScale / 32
		putFP16(b, d)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		var sh uint16
		sl := b[4:8]
		clear(sl)
		for ib := range QKK / 32 {
			l := min(max(nearestProd(id, scales[ib]), -32), 31)
			dl := d * float32(l)
			var idl float32
			if dl != 0 {
				idl = 1 / dl
			}
			for j, v := range x[32*ib : 32*ib+32] {
				L[j] = bestIndexIQ4(idl * v)
			}
			packIQ4(b[8+16*ib:], L[:])
			u := uint8(l + 32)
			sl[ib/2] |= (u & 0xf) << (4 * (ib % 2))
			sh |= uint16(u>>4) << (2 * ib)
		}
		binary.LittleEndian.PutUint16(b[2:], sh)
	}
}

// iq3Values unpacks the 256 signed grid values of an IQ3_XXS or IQ3_S
// super-block (before scaling) into q, and the 8 sub-block scale
// multipliers into m: 2*ls+1 (the block value is d*m/4 for IQ3_XXS and
// d*m for IQ3_S).
func iq3Values(t Type, b []byte, q *[QKK]int8, m *[QKK / 32]int32) {
	for ib := range QKK / 32 {
		qs := b[2+8*ib : 2+8*ib+8]
		var signs [4]uint8
		var qh uint16
		if t == IQ3_XXS {
			aux := binary.LittleEndian.Uint32(b[2+QKK/4+4*ib:])
			for l := range 4 {
				signs[l] = ksigns[aux>>(7*l)&127]
			}
			m[ib] = 2*int32(aux>>28) + 1
		} else {
			copy(signs[:], b[2+QKK/4+QKK/32+4*ib:])
			qh = uint16(b[2+QKK/4+ib])
			m[ib] = 2*int32(b[2+QKK/4+QKK/32+QKK/8+ib/2]>>(4*(ib%2))&0xf) + 1
		}
		for k := range 8 {
			var g uint32
			if t == IQ3_XXS {
				g = iq3xxsGrid[qs[k]]
			} else {
				g = iq3sGrid[uint16(qs[k])|(qh>>k&1)<<8]
			}
			s := signs[k/2]
			for j := range 4 {
				v := int8(g >> (8 * j))
				if s>>(4*(k%2)+j)&1 != 0 {
					v = -v
				}
				q[32*ib+4*k+j] = v
			}
		}
	}
}

func dequantIQ3(t Type, dst []float32, src []byte, bb int) {
	var (
		q [QKK]int8
		m [QKK / 32]int32
	)
	for i := range len(dst) / QKK {
		b := src[i*bb : (i+1)*bb]
		iq3Values(t, b, &q, &m)
		d := fp16At(b)
		for ib := range QKK / 32 {
			var db float32
			if t == IQ3_XXS {
				db = d * (0.5 + float32(m[ib]/2)) * 0.5
			} else {
				db = d * float32(m[ib])
			}
			for e := 32 * ib; e < 32*ib+32; e++ {
				dst[i*QKK+e] = db * float32(q[e])
			}
		}
	}
}

func dequantIQ3_XXS(dst []float32, src []byte) { dequantIQ3(IQ3_XXS, dst, src, iq3_XXSBytes) }
func dequantIQ3_S(dst []float32, src []byte)   { dequantIQ3(IQ3_S, dst, src, iq3_SBytes) }

// dotIQ3 is the dot product of IQ3_XXS or IQ3_S weights with Q8_K
// activations: an exact integer sum per super-block, scaled by d*d8 (and
// by 1/4 at the end for IQ3_XXS, whose block scales are quarters).
func dotIQ3(t Type, n int, w, x []byte, bb int) float32 {
	var sum float32
	for i := range n / QKK {
		wb := w[i*bb : (i+1)*bb]
		xb := (*[q8_KBytes]byte)(x[i*q8_KBytes:])
		var sumi int32
		for ib := range QKK / 32 {
			qs := (*[8]byte)(wb[2+8*ib:])
			y := (*[32]byte)(xb[4+32*ib:])
			var (
				signs [4]uint8
				qh    uint
				m     int32
			)
			if t == IQ3_XXS {
				aux := binary.LittleEndian.Uint32(wb[2+QKK/4+4*ib:])
				signs = [4]uint8{ksigns[aux&127], ksigns[aux>>7&127], ksigns[aux>>14&127], ksigns[aux>>21&127]}
				m = 2*int32(aux>>28) + 1
			} else {
				signs = [4]uint8(wb[2+QKK/4+QKK/32+4*ib:])
				qh = uint(wb[2+QKK/4+ib])
				m = 2*int32(wb[2+QKK/4+QKK/32+QKK/8+ib/2]>>(4*(ib%2))&0xf) + 1
			}
			var s int32
			for k := range 8 {
				var g uint32
				if t == IQ3_XXS {
					g = iq3xxsGrid[qs[k]]
				} else {
					g = iq3sGrid[uint(qs[k])|(qh>>k&1)<<8]
				}
				sg := uint32(signs[k/2]) >> (4 * (k % 2))
				yk := (*[4]byte)(y[4*k:])
				for j := range 4 {
					p := int32(uint8(g>>(8*j))) * int32(int8(yk[j]))
					if sg>>j&1 != 0 {
						p = -p
					}
					s += p
				}
			}
			sumi += m * s
		}
		sum += float32(fp16At(wb)*f32At(xb[:])) * float32(sumi)
	}
	if t == IQ3_XXS {
		sum *= 0.25
	}
	return sum
}

func dotIQ3_XXS(n int, w, x []byte) float32 { return dotIQ3(IQ3_XXS, n, w, x, iq3_XXSBytes) }
func dotIQ3_S(n int, w, x []byte) float32   { return dotIQ3(IQ3_S, n, w, x, iq3_SBytes) }
