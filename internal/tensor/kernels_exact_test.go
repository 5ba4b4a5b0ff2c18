package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelsExact gives every kernel set blocks whose scales are 1 and
// whose quants take every value the format allows (weights from raw
// random bytes: -128 for Q8_0, every nibble and fifth bit; small
// K-quant sub-block scales), with
// activations over the quantizers' range [-127, 127]. The dot products
// are then integers below 2^24, which every partial float sum represents
// exactly, so each kernel must return them exactly whatever its
// summation order: a check of the integer arithmetic (saturation,
// offsets, sign tricks) that random quantized data does not reach.
func TestKernelsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	const one = 0x3c00 // 1.0 in F16
	for _, typ := range []Type{Q8_0, Q4_0, Q5_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, IQ3_S, IQ3_XXS} {
		xt := VecDotType(typ)
		nb := 7 // blocks: odd, so unrolled loops have a tail
		n := nb * typ.BlockSize()
		const rows = 3
		wrb, _ := typ.RowBytes(int64(n))
		xrb, _ := xt.RowBytes(int64(n))
		w := make([]byte, rows*int(wrb))
		for i := range w {
			w[i] = byte(r.Uint32())
		}
		for b := 0; b < rows*nb; b++ {
			blk := w[b*typ.BlockBytes() : (b+1)*typ.BlockBytes()]
			switch typ {
			case Q4_K, Q5_K:
				binary.LittleEndian.PutUint16(blk, one)   // d
				binary.LittleEndian.PutUint16(blk[2:], 0) // dmin: see the mins below
				var ls, lm [8]uint8
				for j := range 8 {
					ls[j], lm[j] = uint8(1+r.IntN(7)), uint8(r.IntN(64))
				}
				packScaleMinK4(blk[4:16], &ls, &lm)
			case Q2_K: // scales and mins: random nibbles
				binary.LittleEndian.PutUint16(blk[80:], one)
				binary.LittleEndian.PutUint16(blk[82:], 0)
			case Q3_K:
				var ls [QKK / 16]uint8
				for j := range ls {
					ls[j] = uint8(32 + r.IntN(9) - 4)
				}
				packQ3KScales(blk[96:108], &ls)
				binary.LittleEndian.PutUint16(blk[108:], one)
			case IQ4_XS:
				binary.LittleEndian.PutUint16(blk, one)
				var sh uint16
				for ib := range QKK / 32 {
					ls := uint8(32 + r.IntN(5) - 2)
					blk[4+ib/2] = blk[4+ib/2]&^(0xf<<(4*(ib%2))) | (ls&0xf)<<(4*(ib%2))
					sh |= uint16(ls>>4) << (2 * ib)
				}
				binary.LittleEndian.PutUint16(blk[2:], sh)
			case IQ3_XXS: // block values are (2*ls+1)/4 * d * grid
				binary.LittleEndian.PutUint16(blk, 0x4400) // 4
			case Q6_K:
				for j := range QKK / 16 {
					blk[QKK/2+QKK/4+j] = byte(int8(r.IntN(5) - 2))
				}
				binary.LittleEndian.PutUint16(blk[q6_KBytes-2:], one)
			default:
				binary.LittleEndian.PutUint16(blk, one)
			}
		}
		// Mins matter too: with dmin 1 the minimum term is an integer as
		// well. Set it on every other block to test both paths.
		if typ == Q4_K || typ == Q5_K || typ == Q2_K {
			off := 2
			if typ == Q2_K {
				off = 82
			}
			for b := 0; b < rows*nb; b += 2 {
				binary.LittleEndian.PutUint16(w[b*typ.BlockBytes()+off:], one)
			}
		}
		x := make([]byte, maxTok*int(xrb))
		for j := range maxTok {
			xf := make([]float32, n)
			for i := range xf {
				xf[i] = float32(r.IntN(255) - 127)
			}
			for b := 0; b < n; b += xt.BlockSize() {
				xf[b] = 127 // so that the activations' scale is exactly ±1
			}
			copy(x[j*int(xrb):], mustQuantize(t, xt, xf))
		}
		want := make([]float64, rows*maxTok)
		for i := range rows {
			wd := mustDequantize(t, typ, w[i*int(wrb):(i+1)*int(wrb)], n)
			for j := range maxTok {
				xd := mustDequantize(t, xt, x[j*int(xrb):(j+1)*int(xrb)], n)
				for k := range n {
					want[j*rows+i] += float64(wd[k]) * float64(xd[k])
				}
				if math.Abs(want[j*rows+i]) >= 1<<24 || want[j*rows+i] != math.Trunc(want[j*rows+i]) {
					t.Fatalf("%s: test data gives a non-integer or too large dot product %g", typ, want[j*rows+i])
				}
			}
		}
		for _, s := range kernelSets {
			o := &s.table[typ]
			for i := range rows {
				for j := range maxTok {
					got := o.dot(n, w[i*int(wrb):(i+1)*int(wrb)], x[j*int(xrb):(j+1)*int(xrb)])
					if float64(got) != want[j*rows+i] {
						t.Errorf("%s %s dot: row %d token %d = %g, want %g", s.name, typ, i, j, got, want[j*rows+i])
					}
				}
			}
			if o.rows == nil {
				continue
			}
			for ntok := 1; ntok <= maxTok; ntok++ {
				out := make([]float32, ntok*rows)
				o.rows(n, w, int(wrb), rows, x, int(xrb), ntok, out, rows)
				for k, got := range out {
					if float64(got) != want[k] {
						t.Errorf("%s %s rows (ntok %d): row %d token %d = %g, want %g", s.name, typ, ntok, k%rows, k/rows, got, want[k])
					}
				}
			}
		}
	}
}
