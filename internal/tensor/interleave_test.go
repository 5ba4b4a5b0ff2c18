package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// ilDecode returns the scale and the 32 int8 values of one block of a
// type with an interleaved path, straight from the format.
func ilDecode(t Type, blk []byte) (float32, [QK]int8) {
	var q [QK]int8
	switch t {
	case Q8_0:
		for j := range QK {
			q[j] = int8(blk[2+j])
		}
	case Q4_0:
		for j := range QK / 2 {
			q[j], q[j+16] = int8(blk[2+j]&15)-8, int8(blk[2+j]>>4)-8
		}
	case Q5_0:
		qh := binary.LittleEndian.Uint32(blk[2:])
		for j := range QK / 2 {
			lo := blk[6+j]&15 | byte(qh>>j&1)<<4
			hi := blk[6+j]>>4 | byte(qh>>(j+16)&1)<<4
			q[j], q[j+16] = int8(lo)-16, int8(hi)-16
		}
	case IQ4_NL:
		for j := range QK / 2 {
			q[j], q[j+16] = kvaluesIQ4NL[blk[2+j]&15], kvaluesIQ4NL[blk[2+j]>>4]
		}
	default:
		panic("no interleaved path for " + t.String())
	}
	return fp16At(blk), q
}

// ilRepackRef is the repack written out from interleave.go's layout,
// with the weights XORed with flip.
func ilRepackRef(t Type, w []byte, wrow, groups, nb int, flip byte) []byte {
	out := make([]byte, groups*nb*ilBlockBytes)
	bb := t.BlockBytes()
	for g := range groups {
		for b := range nb {
			o := out[(g*nb+b)*ilBlockBytes:]
			for r := range ilRows {
				d, q := ilDecode(t, w[(g*ilRows+r)*wrow+b*bb:])
				binary.LittleEndian.PutUint32(o[4*r:], math.Float32bits(d))
				for v := range QK / 4 {
					for k := range 4 {
						o[4*ilRows+32*v+4*r+k] = byte(q[4*v+k]) ^ flip
					}
				}
			}
		}
	}
	return out
}

// ilRows4Ref computes what rows4 must, in its order: per block the exact
// integer sum, converted, times d_w*d_x rounded to float32, fused into
// the row's sum. w8's weights are XORed with flip; xd holds the scales
// of the activation blocks.
func ilRows4Ref(w8 []byte, groups, nb int, x []byte, xrow int, xd []float32, out []float32, ostride int, flip byte) {
	for g := range groups {
		for r := range ilRows {
			for t := range 4 {
				var acc float32
				for b := range nb {
					blk := w8[(g*nb+b)*ilBlockBytes:]
					var s int32
					for j := range QK {
						v, k := j/4, j%4
						s += int32(int8(blk[4*ilRows+32*v+4*r+k]^flip)) * int32(int8(x[t*xrow+b*q8_0Bytes+2+j]))
					}
					dw := math.Float32frombits(binary.LittleEndian.Uint32(blk[4*r:]))
					acc = exactFMA32(float32(s), dw*xd[t*nb+b], acc)
				}
				out[t*ostride+g*ilRows+r] = acc
			}
		}
	}
}

// TestInterleaved checks each kernel set's interleaved path against the
// reference: the repack byte for byte, the kernel bit for bit, on blocks
// of random bytes (every quant value, -128 included) with real scales,
// padded activation rows and a padded output stride.
func TestInterleaved(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	found := false
	for _, s := range kernelSets {
		for _, typ := range []Type{Q8_0, Q4_0, Q5_0, IQ4_NL} {
			il := s.table[typ].il
			if il == nil {
				continue
			}
			found = true
			for _, nb := range []int{1, 7} {
				for _, groups := range []int{1, 3, 4} {
					bb := typ.BlockBytes()
					wrow := nb*bb + 5 // rows need not be adjacent
					w := make([]byte, groups*ilRows*wrow)
					for i := range w {
						w[i] = byte(r.Uint32())
					}
					for i := range groups * ilRows {
						for b := range nb {
							putFP16(w[i*wrow+b*bb:], float32(r.NormFloat64()*0.01))
						}
					}
					want8 := ilRepackRef(typ, w, wrow, groups, nb, il.flip)
					got8 := make([]byte, len(want8)+1)
					got8[len(want8)] = 0x5a
					il.repack(got8, w, wrow, groups, nb)
					if got8[len(want8)] != 0x5a {
						t.Fatalf("%s %s: repack wrote past its output", s.name, typ)
					}
					for i := range want8 {
						if got8[i] != want8[i] {
							t.Fatalf("%s %s nb=%d groups=%d: repacked byte %d = %#x, want %#x", s.name, typ, nb, groups, i, got8[i], want8[i])
						}
					}

					xrow := nb*q8_0Bytes + 3
					x := make([]byte, 4*xrow)
					xd := make([]float32, 4*nb)
					xds := make([]float32, 4*nb*il.xdPer)
					for tk := range 4 {
						xq := mustQuantize(t, Q8_0, testVector(r, nb*QK))
						copy(x[tk*xrow:], xq)
						q8Scales(xd[tk*nb:(tk+1)*nb], xq)
						il.xd(xds[tk*nb*il.xdPer:(tk+1)*nb*il.xdPer], xq)
						if il.xdPer == 2 {
							want := make([]float32, 2*nb)
							q8Sums(want, xq)
							for i := range want {
								if math.Float32bits(xds[tk*2*nb+i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s: activation table value %d = %#x, want %#x", s.name, i, math.Float32bits(xds[tk*2*nb+i]), math.Float32bits(want[i]))
								}
							}
						}
					}
					ostride := groups*ilRows + 2
					want := make([]float32, 4*ostride)
					got := make([]float32, 4*ostride)
					for i := range got {
						want[i], got[i] = 42, 42
					}
					ilRows4Ref(want8, groups, nb, x, xrow, xd, want, ostride, il.flip)
					il.rows4(want8, groups, nb, x, xrow, xds, got, ostride)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %s nb=%d groups=%d: out[%d] = %g, want %g", s.name, typ, nb, groups, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	if !found {
		t.Skip("no kernel set here has an interleaved path")
	}
}

// TestMatrixInterleave checks MatMul on a matrix that keeps an
// interleaved copy: bit for bit what it gives without the copy where both
// take the interleaved path (8 tokens and more) or neither does (one
// token), within the reference's bounds from four tokens, and the same
// from MatMulSerial.
func TestMatrixInterleave(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	p := NewPool(2)
	defer p.Close()
	var s Scratch
	for _, typ := range computeTypes {
		cols := matmulCols(typ)
		for _, rows := range []int{7, 37} {
			w := randomMatrix(r, typ, rows, cols)
			kept := *w
			got := kept.Interleave()
			want := ops[typ].il != nil && rows >= ilRows
			if got != want {
				t.Fatalf("%s %d rows: Interleave() = %v, want %v", typ, rows, got, want)
			}
			if got != (InterleavedBytes(&kept) > 0) || kept.Interleave() != got {
				t.Fatalf("%s: InterleavedBytes %d after Interleave() = %v, or a second call differs", typ, InterleavedBytes(&kept), got)
			}
			for _, n := range []int{1, 4, 5, 8, 9} {
				x := testVector(r, n*cols)
				plain := make([]float32, n*rows)
				p.MatMul(plain, w, x, n)
				out := make([]float32, n*rows)
				p.MatMul(out, &kept, x, n)
				serial := make([]float32, n*rows)
				MatMulSerial(serial, &kept, x, n, &s)
				ref, mag := refMatMul(t, w, x, n)
				for k := range out {
					if math.Float32bits(serial[k]) != math.Float32bits(out[k]) {
						t.Fatalf("%s %dx%d n=%d: serial dst[%d] = %g, pool %g", typ, rows, cols, n, k, serial[k], out[k])
					}
					if (n == 1 || n >= ilMinTok || !got) && math.Float32bits(plain[k]) != math.Float32bits(out[k]) {
						t.Fatalf("%s %dx%d n=%d: dst[%d] = %g with the copy, %g without", typ, rows, cols, n, k, out[k], plain[k])
					}
					if d := math.Abs(float64(out[k]) - ref[k]); d > dotBound*mag[k]+1e-30 {
						t.Fatalf("%s %dx%d n=%d: dst[%d] = %g, want %g (magnitude %g)", typ, rows, cols, n, k, out[k], ref[k], mag[k])
					}
				}
			}
		}
	}
}
