package tensor

import "encoding/binary"

// The 2- and 3-bit K-quants: super-blocks of 256 elements in 16
// sub-blocks of 16, each with its own scale. Layouts (little-endian):
//
//	Q2_K: scales[16], qs[64], d f16, dmin f16
//	      x = d*(sc&15)*q - dmin*(sc>>4), q 2 bits
//	Q3_K: hmask[32], qs[64], scales[12], d f16
//	      x = d*(sc-32)*(q-4), q 3 bits: 2 in qs, the third in hmask;
//	      sc 6 bits (see q3KScale)
//
// The 2-bit fields of qs follow the same order in both: element e (in a
// super-block) is bits 2*(e%128/32) of qs[32*(e/128) + e%32]. Its high
// bit in Q3_K is bit e/32 of hmask[e%32], set when q >= 4.

const (
	q2_KBytes = QKK/16 + QKK/4 + 4
	q3_KBytes = QKK/8 + QKK/4 + 12 + 2
)

// q2Bits returns the 2-bit field of element e of a Q2_K/Q3_K super-block.
func q2Bits(qs []byte, e int) uint8 {
	return qs[32*(e/128)+e%32] >> (2 * (e % 128 / 32)) & 3
}

// q3KScale unpacks the 6-bit scale of sub-block j (0..15) of a Q3_K
// super-block, minus its offset 32: the low 4 bits are nibble j/8 of
// scales[j%8], the high 2 bits are bits 2*(j/4) of scales[8+j%4].
func q3KScale(scales []byte, j int) int32 {
	lo := scales[j%8] >> (4 * (j / 8)) & 0xf
	hi := scales[8+j%4] >> (2 * (j / 4)) & 3
	return int32(lo|hi<<4) - 32
}

// packQ3KScales is the inverse of q3KScale: it stores the 16 6-bit
// scales ls (offset 32 included) in the 12 bytes of sc.
func packQ3KScales(sc []byte, ls *[QKK / 16]uint8) {
	clear(sc[:12])
	for j, l := range ls {
		sc[j%8] |= (l & 0xf) << (4 * (j / 8))
		sc[8+j%4] |= (l >> 4) << (2 * (j / 4))
	}
}

// q3KValues unpacks the 256 quants of a Q3_K super-block, in [-4, 3], in
// element order.
func q3KValues(q *[QKK]int8, hmask, qs []byte) {
	for e := range QKK {
		v := int8(q2Bits(qs, e))
		if hmask[e%32]>>(e/32)&1 == 0 {
			v -= 4
		}
		q[e] = v
	}
}

func dequantQ2_K(dst []float32, src []byte) {
	for i := range len(dst) / QKK {
		b := src[i*q2_KBytes : (i+1)*q2_KBytes]
		y := dst[i*QKK : (i+1)*QKK]
		scales, qs := b[:16], b[16:16+QKK/4]
		d, dmin := fp16At(b[80:]), fp16At(b[82:])
		for j := range QKK / 16 {
			sc := scales[j]
			dl, ml := d*float32(sc&0xf), dmin*float32(sc>>4)
			for e := 16 * j; e < 16*j+16; e++ {
				y[e] = float32(dl*float32(q2Bits(qs, e))) - ml
			}
		}
	}
}

func dequantQ3_K(dst []float32, src []byte) {
	var q [QKK]int8
	for i := range len(dst) / QKK {
		b := src[i*q3_KBytes : (i+1)*q3_KBytes]
		y := dst[i*QKK : (i+1)*QKK]
		q3KValues(&q, b[:32], b[32:96])
		scales := b[96:108]
		d := fp16At(b[108:])
		for j := range QKK / 16 {
			dl := d * float32(q3KScale(scales, j))
			for e := 16 * j; e < 16*j+16; e++ {
				y[e] = dl * float32(q[e])
			}
		}
	}
}

// dotQ2_K is the dot product with Q8_K activations: per super-block the
// integer sum of scale times quant products, and the minimum term from
// the activations' bsums (sums of 16 quants, one per sub-block).
func dotQ2_K(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QKK {
		wb := (*[q2_KBytes]byte)(w[i*q2_KBytes:])
		xb := (*[q8_KBytes]byte)(x[i*q8_KBytes:])
		var s [QKK / 16]int32 // per sub-block
		for c := range 2 {
			qs := (*[32]byte)(wb[16+32*c:])
			y := (*[128]byte)(xb[4+128*c:])
			for h := range 2 {
				var a0, a1, a2, a3 int32
				for l := 16 * h; l < 16*h+16; l++ {
					q := qs[l]
					a0 += int32(q&3) * int32(int8(y[l]))
					a1 += int32(q>>2&3) * int32(int8(y[32+l]))
					a2 += int32(q>>4&3) * int32(int8(y[64+l]))
					a3 += int32(q>>6) * int32(int8(y[96+l]))
				}
				s[8*c+h], s[8*c+2+h], s[8*c+4+h], s[8*c+6+h] = a0, a1, a2, a3
			}
		}
		var sumi, summ int32
		for j, sc := range wb[:16] {
			sumi += int32(sc&0xf) * s[j]
			summ += int32(sc>>4) * int32(int16(binary.LittleEndian.Uint16(xb[4+QKK+2*j:])))
		}
		yd := f32At(xb[:])
		sum += float32(float32(yd*fp16At(wb[80:]))*float32(sumi)) - float32(float32(yd*fp16At(wb[82:]))*float32(summ))
	}
	return sum
}

// dotQ3_K sums, per sub-block of 16, the unsigned 3-bit quants times the
// activations, less 4 times their sum (the bsums of Q8_K).
func dotQ3_K(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QKK {
		wb := (*[q3_KBytes]byte)(w[i*q3_KBytes:])
		xb := (*[q8_KBytes]byte)(x[i*q8_KBytes:])
		hmask := (*[32]byte)(wb[:32])
		var s [QKK / 16]int32
		for c := range 2 {
			qs := (*[32]byte)(wb[32+32*c:])
			y := (*[128]byte)(xb[4+128*c:])
			for h := range 2 {
				var a0, a1, a2, a3 int32
				for l := 16 * h; l < 16*h+16; l++ {
					q, m := qs[l], hmask[l]>>(4*c)
					a0 += int32(q&3|m<<2&4) * int32(int8(y[l]))
					a1 += int32(q>>2&3|m<<1&4) * int32(int8(y[32+l]))
					a2 += int32(q>>4&3|m&4) * int32(int8(y[64+l]))
					a3 += int32(q>>6|m>>1&4) * int32(int8(y[96+l]))
				}
				s[8*c+h], s[8*c+2+h], s[8*c+4+h], s[8*c+6+h] = a0, a1, a2, a3
			}
		}
		scales := wb[96:108]
		var sumi int32
		for j := range QKK / 16 {
			bsum := int32(int16(binary.LittleEndian.Uint16(xb[4+QKK+2*j:])))
			sumi += q3KScale(scales, j) * (s[j] - 4*bsum)
		}
		sum += float32(fp16At(wb[108:])*f32At(xb[:])) * float32(sumi)
	}
	return sum
}

// packQ2Bits stores the low 2 bits of the 256 quants L in qs, the layout
// q2Bits reads.
func packQ2Bits(qs []byte, L *[QKK]uint8) {
	for c := range 2 {
		for l := range 32 {
			e := 128*c + l
			qs[32*c+l] = L[e] | L[e+32]<<2 | L[e+64]<<4 | L[e+96]<<6
		}
	}
}

// quantizeQ2_K is quantize_row_q2_K_ref: each sub-block of 16 is fitted
// as scale*L - min with L in [0, 3] (makeQKX2Quants, weights |x|, least
// absolute deviation); scales and mins are stored with 4 bits against the
// largest of each, and the values re-quantized with the stored ones.
func quantizeQ2_K(dst []byte, src []float32) {
	var (
		L              [QKK]uint8
		laux           [16]uint8
		weights        [16]float32
		scales, mins   [QKK / 16]float32
		maxScl, maxMin float32
	)
	for i := range len(src) / QKK {
		x := src[i*QKK : (i+1)*QKK]
		b := dst[i*q2_KBytes : (i+1)*q2_KBytes]
		maxScl, maxMin = 0, 0
		for j := range QKK / 16 {
			xs := x[16*j : 16*j+16]
			for l, v := range xs {
				weights[l] = abs32(v)
			}
			scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:16*j+16], laux[:], -0.5, 0.1, 15, true)
			maxScl = max(maxScl, scales[j])
			maxMin = max(maxMin, mins[j])
		}
		sc := b[:16]
		clear(sc)
		var d, dmin uint16
		if maxScl > 0 {
			iscale := 15 / maxScl
			for j := range sc {
				sc[j] = uint8(nearestProd(iscale, scales[j]))
			}
			d = FP32ToFP16(maxScl / 15)
		}
		if maxMin > 0 {
			iscale := 15 / maxMin
			for j := range sc {
				sc[j] |= uint8(nearestProd(iscale, mins[j])) << 4
			}
			dmin = FP32ToFP16(maxMin / 15)
		}
		binary.LittleEndian.PutUint16(b[80:], d)
		binary.LittleEndian.PutUint16(b[82:], dmin)
		df, dminf := FP16ToFP32(d), FP16ToFP32(dmin)
		for j := range QKK / 16 {
			dd := df * float32(sc[j]&0xf)
			if dd == 0 {
				continue
			}
			dm := dminf * float32(sc[j]>>4)
			for l := range 16 {
				q := nearestInt((x[16*j+l] + dm) / dd)
				L[16*j+l] = uint8(min(max(q, 0), 3))
			}
		}
		packQ2Bits(b[16:16+QKK/4], &L)
	}
}

// makeQ3Quants is ggml's make_q3_quants with do_rmse: symmetric quants
// in [-nmax, nmax) refined one at a time, up to 5 passes, to maximize
// (Σw x L)²/Σw L² with weights x². It returns the scale and stores
// L+nmax. The fused operations are where llama.cpp's FMA builds contract.
func makeQ3Quants(nmax int32, x []float32, L []int8) float32 {
	amax, vmax := absMax(x)
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	iscale := float32(-nmax) / vmax
	var sumLX, sumL2 float32
	for i, v := range x {
		l := min(max(nearestProd(iscale, v), -nmax), nmax-1)
		L[i] = int8(l)
		w := v * v
		fl := float32(l)
		sumLX = fma32(w*v, fl, sumLX)
		sumL2 = fma32(w*fl, fl, sumL2)
	}
	for range 5 {
		changed := false
		for i, v := range x {
			w := v * v
			fl := float32(L[i])
			slx := fma32(-(w * v), fl, sumLX)
			if !(slx > 0) {
				continue
			}
			sl2 := fma32(-(w * fl), fl, sumL2)
			nl := min(max(nearestInt(v*sl2/slx), -nmax), nmax-1)
			if nl == int32(L[i]) {
				continue
			}
			fn := float32(nl)
			slx = fma32(w*v, fn, slx)
			sl2 = fma32(w*fn, fn, sl2)
			if sl2 > 0 && slx*slx*sumL2 > sumLX*sumLX*sl2 {
				L[i] = int8(nl)
				sumLX, sumL2 = slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if sumL2 > 0 {
		return sumLX / sumL2
	}
	return 0
}

// quantizeQ3_K is quantize_row_q3_K_ref: per-sub-block scales from
// makeQ3Quants, stored with 6 bits against the one of largest magnitude,
// then every value re-quantized with the stored scales.
func quantizeQ3_K(dst []byte, src []float32) {
	var (
		L      [QKK]int8
		scales [QKK / 16]float32
		U      [QKK]uint8
	)
	for i := range len(src) / QKK {
		x := src[i*QKK : (i+1)*QKK]
		b := dst[i*q3_KBytes : (i+1)*q3_KBytes]
		var maxScale, amax float32
		for j := range QKK / 16 {
			scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
			if a := abs32(scales[j]); a > amax {
				amax, maxScale = a, scales[j]
			}
		}
		sc := b[96:108]
		var (
			d  uint16
			ls [QKK / 16]uint8
		)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := range QKK / 16 {
				ls[j] = uint8(min(max(nearestProd(iscale, scales[j]), -32), 31) + 32)
			}
			d = FP32ToFP16(1 / iscale)
		}
		packQ3KScales(sc, &ls)
		binary.LittleEndian.PutUint16(b[108:], d)
		df := FP16ToFP32(d)
		for j := range QKK / 16 {
			dd := df * float32(q3KScale(sc, j))
			if dd == 0 {
				continue
			}
			for l := range 16 {
				q := min(max(nearestInt(x[16*j+l]/dd), -4), 3)
				L[16*j+l] = int8(q + 4)
			}
		}
		hmask := b[:32]
		clear(hmask)
		for e := range QKK {
			u := uint8(L[e])
			if u > 3 {
				hmask[e%32] |= 1 << (e / 32)
				u -= 4
			}
			U[e] = u
		}
		packQ2Bits(b[32:96], &U)
	}
}
