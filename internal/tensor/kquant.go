package tensor

import (
	"encoding/binary"
	"math"
)

// The K-quants: super-blocks of 256 elements with per-sub-block scales.
// Layouts (little-endian, no padding):
//
//	Q4_K: d f16, dmin f16, scales[12], qs[128]
//	      8 sub-blocks of 32: x = d*sc*q - dmin*m, q 4 bits, sc and m
//	      6 bits each packed into scales (see scaleMinK4)
//	Q5_K: d f16, dmin f16, scales[12], qh[32], qs[128]
//	      as Q4_K with a fifth bit: bit j of qh[l] belongs to sub-block j
//	Q6_K: ql[128], qh[64], scales[16] int8, d f16
//	      16 sub-blocks of 16: x = d*sc*(q-32), q 6 bits
//	Q8_K: d f32, qs[256] int8, bsums[16] int16 (sums of 16 quants)
//
// In Q4_K and Q5_K each 64-element chunk c uses qs[32c:32c+32], low
// nibbles for sub-block 2c and high nibbles for sub-block 2c+1.

const (
	q4_KBytes = 4 + 12 + QKK/2
	q5_KBytes = 4 + 12 + QKK/8 + QKK/2
	q6_KBytes = QKK/2 + QKK/4 + QKK/16 + 2
	q8_KBytes = 4 + QKK + QKK/16*2
)

// groupMaxEps is ggml's threshold below which a group counts as all zero.
const groupMaxEps = 1e-15

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) of a
// Q4_K/Q5_K super-block (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// packScaleMinK4 is the inverse of scaleMinK4 for all eight sub-blocks.
func packScaleMinK4(dst []byte, ls, lm *[8]uint8) {
	clear(dst[:12])
	for j := range 8 {
		if j < 4 {
			dst[j] = ls[j]
			dst[j+4] = lm[j]
		} else {
			dst[j+4] = ls[j]&0xf | (lm[j]&0xf)<<4
			dst[j-4] |= (ls[j] >> 4) << 6
			dst[j] |= (lm[j] >> 4) << 6
		}
	}
}

// nearestInt rounds to nearest, ties to even, with ggml's float trick
// (valid for |f| <= 4194303). Callers pass products already rounded to
// float32 (with an explicit conversion) so no fused multiply-add can change
// the result.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x7fffff) - 0x400000
}

// nearestProd is nearestInt(a*b) with the multiply fused into the add of
// the rounding trick, as llama.cpp's FMA builds compile nearest_int(a*b):
// the exact product rounded half to even. (The float64 product of two
// float32 values is exact.)
func nearestProd(a, b float32) int32 {
	return int32(math.RoundToEven(float64(a) * float64(b)))
}

func dequantQ4_K(dst []float32, src []byte) {
	for i := range len(dst) / QKK {
		b := src[i*q4_KBytes : (i+1)*q4_KBytes]
		y := dst[i*QKK : (i+1)*QKK]
		d, dmin := fp16At(b), fp16At(b[2:])
		scales, qs := b[4:16], b[16:16+QKK/2]
		for c := range 4 {
			q := qs[32*c : 32*c+32]
			sc1, m1 := scaleMinK4(2*c, scales)
			sc2, m2 := scaleMinK4(2*c+1, scales)
			d1, min1 := d*float32(sc1), dmin*float32(m1)
			d2, min2 := d*float32(sc2), dmin*float32(m2)
			y1, y2 := y[64*c:64*c+32], y[64*c+32:64*c+64]
			for l, v := range q {
				y1[l] = float32(d1*float32(v&0xf)) - min1
				y2[l] = float32(d2*float32(v>>4)) - min2
			}
		}
	}
}

func dequantQ5_K(dst []float32, src []byte) {
	for i := range len(dst) / QKK {
		b := src[i*q5_KBytes : (i+1)*q5_KBytes]
		y := dst[i*QKK : (i+1)*QKK]
		d, dmin := fp16At(b), fp16At(b[2:])
		scales, qh, qs := b[4:16], b[16:16+QKK/8], b[48:48+QKK/2]
		for c := range 4 {
			q := qs[32*c : 32*c+32]
			sc1, m1 := scaleMinK4(2*c, scales)
			sc2, m2 := scaleMinK4(2*c+1, scales)
			d1, min1 := d*float32(sc1), dmin*float32(m1)
			d2, min2 := d*float32(sc2), dmin*float32(m2)
			y1, y2 := y[64*c:64*c+32], y[64*c+32:64*c+64]
			for l, v := range q {
				h := qh[l] >> (2 * c)
				y1[l] = float32(d1*float32(v&0xf|(h&1)<<4)) - min1
				y2[l] = float32(d2*float32(v>>4|(h>>1&1)<<4)) - min2
			}
		}
	}
}

// q6KValues unpacks the 256 six-bit quants of a Q6_K super-block, minus 32,
// in element order.
func q6KValues(q *[QKK]int8, ql, qh []byte) {
	for n := range 2 {
		l8, h8 := ql[64*n:64*n+64], qh[32*n:32*n+32]
		for l := range 32 {
			h := h8[l]
			q[128*n+l] = int8(l8[l]&0xf|(h&3)<<4) - 32
			q[128*n+l+32] = int8(l8[l+32]&0xf|(h>>2&3)<<4) - 32
			q[128*n+l+64] = int8(l8[l]>>4|(h>>4&3)<<4) - 32
			q[128*n+l+96] = int8(l8[l+32]>>4|(h>>6&3)<<4) - 32
		}
	}
}

func dequantQ6_K(dst []float32, src []byte) {
	var q [QKK]int8
	for i := range len(dst) / QKK {
		b := src[i*q6_KBytes : (i+1)*q6_KBytes]
		y := dst[i*QKK : (i+1)*QKK]
		q6KValues(&q, b[:QKK/2], b[QKK/2:QKK/2+QKK/4])
		scales := b[QKK/2+QKK/4 : QKK/2+QKK/4+QKK/16]
		d := fp16At(b[q6_KBytes-2:])
		for j := range QKK {
			y[j] = float32(d*float32(int8(scales[j/16]))) * float32(q[j])
		}
	}
}

func dequantQ8_K(dst []float32, src []byte) {
	for i := range len(dst) / QKK {
		b := src[i*q8_KBytes : (i+1)*q8_KBytes]
		y := dst[i*QKK : (i+1)*QKK]
		d := f32At(b)
		for j, q := range b[4 : 4+QKK] {
			y[j] = d * float32(int8(q))
		}
	}
}

// quantizeQ8_K is ggml's quantize_row_q8_K_ref, which the x86 CPU backend
// uses for activations: the value of largest magnitude maps to -127,
// d = 1/iscale as float32, and bsums hold the sums of each 16 quants. The
// rounding is nearestProd's: llama.cpp is compiled with FMA contraction
// (the fixtures show it), which fuses iscale*x into nearest_int's add.
func quantizeQ8_K(dst []byte, src []float32) {
	for i := range len(src) / QKK {
		x := src[i*QKK : (i+1)*QKK]
		b := dst[i*q8_KBytes : (i+1)*q8_KBytes]
		amax, vmax := absMax(x)
		if amax == 0 {
			clear(b)
			continue
		}
		iscale := -127 / vmax
		qs := b[4 : 4+QKK]
		for j, v := range x {
			qs[j] = byte(int8(min(127, nearestProd(iscale, v))))
		}
		for j := range QKK / 16 {
			var s int16
			for _, q := range qs[16*j : 16*j+16] {
				s += int16(int8(q))
			}
			binary.LittleEndian.PutUint16(b[4+QKK+2*j:], uint16(s))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
	}
}

// makeQKX2Quants is ggml's make_qkx2_quants: it fits x ≈ scale*L - min with
// L in [0, nmax] by weighted least squares over a few candidate scales, and
// returns scale and min (min >= 0). The error it minimizes is squared, or
// absolute with useMAD. The fused operations (fma32, nearestProd) are
// where GCC contracts multiply and add in llama.cpp's FMA builds; w*l is
// computed once for sum_l, sum_l2 and sum_xl (common subexpression), so
// it is rounded and only the two products of it are fused. In the
// differences of products (D, this_scale, this_min) one product is fused
// and the other rounded: the first for D and this_min, the second
// (sum_x*sum_l) for this_scale: fusing the first there leaves 3 of the
// fixtures' 32896 Q4_K blocks different, the other choices hundreds. So
// the fixtures' Q2_K, Q4_K and Q5_K blocks are reproduced byte for byte
// (TestRequantizeFixtures in package quantize).
func makeQKX2Quants(nmax int32, x, weights []float32, L, laux []uint8, rmin, rdelta float32, nstep int, useMAD bool) (scale, theMin float32) {
	n := len(x)
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		lo, hi = min(lo, x[i]), max(hi, x[i])
		w := weights[i]
		sumW += w
		sumX = fma32(w, x[i], sumX)
	}
	lo = min(lo, 0)
	if hi == lo {
		clear(L[:n])
		return 0, -lo
	}
	iscale := float32(nmax) / (hi - lo)
	scale = 1 / iscale
	var bestErr float32
	for i := range n {
		l := nearestProd(iscale, (x[i] - lo))
		L[i] = uint8(min(max(l, 0), nmax))
		bestErr = fma32(weights[i], fitError(fma32(scale, float32(L[i]), lo)-x[i], useMAD), bestErr)
	}
	if nstep < 1 {
		return scale, -lo
	}
	for is := 0; is <= nstep; is++ {
		iscale = (fma32(rdelta, float32(is), rmin) + float32(nmax)) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := nearestProd(iscale, (x[i] - lo))
			l = min(max(l, 0), nmax)
			laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			wl := float32(w * fl)
			sumL += wl
			sumL2 = fma32(wl, fl, sumL2)
			sumXL = fma32(wl, x[i], sumXL)
		}
		D := fma32(sumW, sumL2, -float32(sumL*sumL))
		if D > 0 {
			thisScale := fma32(-sumX, sumL, float32(sumW*sumXL)) / D
			thisMin := fma32(sumL2, sumX, -float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curErr float32
			for i := range n {
				curErr = fma32(weights[i], fitError(fma32(thisScale, float32(laux[i]), thisMin)-x[i], useMAD), curErr)
			}
			if curErr < bestErr {
				copy(L[:n], laux[:n])
				bestErr = curErr
				scale, lo = thisScale, thisMin
			}
		}
	}
	return scale, -lo
}

// fitError is the error makeQKX2Quants weighs for a difference d.
func fitError(d float32, useMAD bool) float32 {
	if useMAD {
		return abs32(d)
	}
	return float32(d * d)
}

// quantizeKMinScale is the shared body of quantize_row_q4_K_ref and
// quantize_row_q5_K_ref for one super-block: per-sub-block scales and mins
// from makeQKX2Quants, quantized to 6 bits against the largest of each;
// then every value is re-quantized with the stored scales. It fills L with
// quants in [0, nmax] and returns d, dmin and the packed scales.
func quantizeKMinScale(x []float32, nmax int32, rmin, rdelta float32, nstep int, L *[QKK]uint8, scales []byte) (d, dmin uint16) {
	var (
		subScale, subMin [8]float32
		weights          [32]float32
		laux             [32]uint8
		maxScale, maxMin float32
	)
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 = fma32(v, v, sumX2)
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		subScale[j], subMin[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], laux[:], rmin, rdelta, nstep, false)
		maxScale = max(maxScale, subScale[j])
		maxMin = max(maxMin, subMin[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := range 8 {
		ls[j] = min(63, uint8(nearestProd(invScale, subScale[j])))
		lm[j] = min(63, uint8(nearestProd(invMin, subMin[j])))
	}
	packScaleMinK4(scales, &ls, &lm)
	d, dmin = FP32ToFP16(maxScale/63), FP32ToFP16(maxMin/63)
	df, dminf := FP16ToFP32(d), FP16ToFP32(dmin)
	for j := range 8 {
		sc, m := scaleMinK4(j, scales)
		dd := df * float32(sc)
		if dd == 0 {
			continue
		}
		dm := dminf * float32(m)
		for l := range 32 {
			q := nearestInt((x[32*j+l] + dm) / dd)
			L[32*j+l] = uint8(min(max(q, 0), nmax))
		}
	}
	return d, dmin
}

func quantizeQ4_K(dst []byte, src []float32) {
	var L [QKK]uint8
	for i := range len(src) / QKK {
		x := src[i*QKK : (i+1)*QKK]
		b := dst[i*q4_KBytes : (i+1)*q4_KBytes]
		d, dmin := quantizeKMinScale(x, 15, -1, 0.1, 20, &L, b[4:16])
		binary.LittleEndian.PutUint16(b, d)
		binary.LittleEndian.PutUint16(b[2:], dmin)
		qs := b[16 : 16+QKK/2]
		for c := range 4 {
			for l := range 32 {
				qs[32*c+l] = L[64*c+l] | L[64*c+32+l]<<4
			}
		}
	}
}

func quantizeQ5_K(dst []byte, src []float32) {
	var L [QKK]uint8
	for i := range len(src) / QKK {
		x := src[i*QKK : (i+1)*QKK]
		b := dst[i*q5_KBytes : (i+1)*q5_KBytes]
		d, dmin := quantizeKMinScale(x, 31, -0.5, 0.1, 15, &L, b[4:16])
		binary.LittleEndian.PutUint16(b, d)
		binary.LittleEndian.PutUint16(b[2:], dmin)
		qh, qs := b[16:16+QKK/8], b[48:48+QKK/2]
		clear(qh)
		for c := range 4 {
			for l := range 32 {
				l1, l2 := L[64*c+l], L[64*c+32+l]
				qh[l] |= (l1>>4)<<(2*c) | (l2>>4)<<(2*c+1)
				qs[32*c+l] = l1&0xf | (l2&0xf)<<4
			}
		}
	}
}

// makeQXQuants is ggml's make_qx_quants with rmse_type 1 and no importance
// weights (weights x²), the variant quantize_row_q6_K_ref uses: symmetric
// quants L in [0, 2*nmax) around nmax, refined over 18 nearby scales.
// The first fit's sums are fused multiply-adds and the refinements' are
// not (products rounded, then added in order): of the 32 combinations of
// fused and unfused sums and rounding products, only this one gives the
// scales of all 15872 Q6_K blocks of the fixtures (the next best misses
// 4); the refinement loop is presumably the one GCC vectorizes, with an
// in-order reduction that cannot fuse.
func makeQXQuants(nmax int32, x []float32, L []int8) float32 {
	amax, vmax := absMax(x)
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	iscale := float32(-nmax) / vmax
	var sumLX, sumL2 float32
	for i, v := range x {
		l := min(max(nearestProd(iscale, v), -nmax), nmax-1)
		L[i] = int8(l + nmax)
		w := float32(v * v)
		fl := float32(l)
		sumLX = fma32(float32(w*v), fl, sumLX)
		sumL2 = fma32(float32(w*fl), fl, sumL2)
	}
	var scale float32
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := scale * sumLX
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / vmax
		sumLX, sumL2 = 0, 0
		for _, v := range x {
			l := float32(min(max(nearestProd(iscale, v), -nmax), nmax-1))
			w := float32(v * v)
			sumLX += float32(float32(w*v) * l)
			sumL2 += float32(float32(w*l) * l)
		}
		if sumL2 > 0 && float32(sumLX*sumLX) > float32(best*sumL2) {
			for i, v := range x {
				l := min(max(nearestProd(iscale, v), -nmax), nmax-1)
				L[i] = int8(l + nmax)
			}
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

// quantizeQ6_K is quantize_row_q6_K_ref.
func quantizeQ6_K(dst []byte, src []float32) {
	var (
		L      [QKK]int8
		scales [QKK / 16]float32
	)
	for i := range len(src) / QKK {
		x := src[i*QKK : (i+1)*QKK]
		b := dst[i*q6_KBytes : (i+1)*q6_KBytes]
		var maxScale, maxAbsScale float32
		for ib := range QKK / 16 {
			s := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
			scales[ib] = s
			if a := abs32(s); a > maxAbsScale {
				maxAbsScale, maxScale = a, s
			}
		}
		if maxAbsScale < groupMaxEps {
			clear(b)
			continue
		}
		ql, qh, sc := b[:QKK/2], b[QKK/2:QKK/2+QKK/4], b[QKK/2+QKK/4:QKK/2+QKK/4+QKK/16]
		iscale := -128 / maxScale
		d := FP32ToFP16(1 / iscale)
		binary.LittleEndian.PutUint16(b[q6_KBytes-2:], d)
		for ib := range QKK / 16 {
			sc[ib] = byte(int8(min(127, nearestProd(iscale, scales[ib]))))
		}
		df := FP16ToFP32(d)
		for j := range QKK / 16 {
			dd := df * float32(int8(sc[j]))
			if dd == 0 {
				continue
			}
			for l := range 16 {
				q := min(max(nearestInt(x[16*j+l]/dd), -32), 31)
				L[16*j+l] = int8(q + 32)
			}
		}
		for n := range 2 {
			l8, h8, q := ql[64*n:64*n+64], qh[32*n:32*n+32], L[128*n:128*n+128]
			for l := range 32 {
				q1, q2, q3, q4 := uint8(q[l]), uint8(q[l+32]), uint8(q[l+64]), uint8(q[l+96])
				l8[l] = q1&0xf | (q3&0xf)<<4
				l8[l+32] = q2&0xf | (q4&0xf)<<4
				h8[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
			}
		}
	}
}

// Dot products with Q8_K activations. As in ggml, the integer sums over a
// whole super-block (sub-block scales included) are exact, and the minimum
// terms use the activation's bsums.

func dotQ4_K(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QKK {
		wb := w[i*q4_KBytes : (i+1)*q4_KBytes]
		xb := x[i*q8_KBytes : (i+1)*q8_KBytes]
		scales, qs := wb[4:16], wb[16:16+QKK/2]
		yq, bsums := xb[4:4+QKK], xb[4+QKK:q8_KBytes]
		var sumi, summ int32
		for c := range 4 {
			q := qs[32*c : 32*c+32]
			y1, y2 := yq[64*c:64*c+32], yq[64*c+32:64*c+64]
			var s1, s2 int32
			for l, v := range q {
				s1 += int32(v&0xf) * int32(int8(y1[l]))
				s2 += int32(v>>4) * int32(int8(y2[l]))
			}
			sc1, m1 := scaleMinK4(2*c, scales)
			sc2, m2 := scaleMinK4(2*c+1, scales)
			sumi += int32(sc1)*s1 + int32(sc2)*s2
			summ += int32(m1)*bsumPair(bsums, 2*c) + int32(m2)*bsumPair(bsums, 2*c+1)
		}
		yd := f32At(xb)
		sum += float32(float32(yd*fp16At(wb))*float32(sumi)) - float32(float32(yd*fp16At(wb[2:]))*float32(summ))
	}
	return sum
}

// bsumPair is the sum of the 32 quants of sub-block j of a Q8_K block.
func bsumPair(bsums []byte, j int) int32 {
	return int32(int16(binary.LittleEndian.Uint16(bsums[4*j:]))) + int32(int16(binary.LittleEndian.Uint16(bsums[4*j+2:])))
}

func dotQ5_K(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QKK {
		wb := w[i*q5_KBytes : (i+1)*q5_KBytes]
		xb := x[i*q8_KBytes : (i+1)*q8_KBytes]
		scales, qh, qs := wb[4:16], wb[16:16+QKK/8], wb[48:48+QKK/2]
		yq, bsums := xb[4:4+QKK], xb[4+QKK:q8_KBytes]
		var sumi, summ int32
		for c := range 4 {
			q := qs[32*c : 32*c+32]
			y1, y2 := yq[64*c:64*c+32], yq[64*c+32:64*c+64]
			var s1, s2 int32
			for l, v := range q {
				h := qh[l] >> (2 * c)
				s1 += int32(v&0xf|(h&1)<<4) * int32(int8(y1[l]))
				s2 += int32(v>>4|(h>>1&1)<<4) * int32(int8(y2[l]))
			}
			sc1, m1 := scaleMinK4(2*c, scales)
			sc2, m2 := scaleMinK4(2*c+1, scales)
			sumi += int32(sc1)*s1 + int32(sc2)*s2
			summ += int32(m1)*bsumPair(bsums, 2*c) + int32(m2)*bsumPair(bsums, 2*c+1)
		}
		yd := f32At(xb)
		sum += float32(float32(yd*fp16At(wb))*float32(sumi)) - float32(float32(yd*fp16At(wb[2:]))*float32(summ))
	}
	return sum
}

func dotQ6_K(n int, w, x []byte) float32 {
	var (
		sum float32
		q   [QKK]int8
	)
	for i := range n / QKK {
		wb := w[i*q6_KBytes : (i+1)*q6_KBytes]
		xb := x[i*q8_KBytes : (i+1)*q8_KBytes]
		q6KValues(&q, wb[:QKK/2], wb[QKK/2:QKK/2+QKK/4])
		scales := wb[QKK/2+QKK/4 : QKK/2+QKK/4+QKK/16]
		yq := xb[4 : 4+QKK]
		var sumi int32
		for g := range QKK / 16 {
			var s int32
			for l := range 16 {
				s += int32(q[16*g+l]) * int32(int8(yq[16*g+l]))
			}
			sumi += int32(int8(scales[g])) * s
		}
		sum += float32(fp16At(wb[q6_KBytes-2:])*f32At(xb)) * float32(sumi)
	}
	return sum
}

func dotQ8_K(n int, w, x []byte) float32 {
	var sum float32
	for i := range n / QKK {
		wb := w[i*q8_KBytes : (i+1)*q8_KBytes]
		xb := x[i*q8_KBytes : (i+1)*q8_KBytes]
		sum += float32(f32At(wb)*f32At(xb)) * float32(dotInt8(wb[4:4+QKK], xb[4:4+QKK]))
	}
	return sum
}
