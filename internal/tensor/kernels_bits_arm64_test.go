//go:build !purego

package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// bitExactTypes are the types whose arm64 kernels promise the portable
// kernels' results bit for bit (klow_arm64.h).
var bitExactTypes = []Type{Q2_K, Q3_K, IQ4_NL, IQ4_XS, IQ3_S, IQ3_XXS}

// f16Offsets are the byte offsets of the F16 scales in a block of t.
func f16Offsets(t Type) []int {
	switch t {
	case Q2_K:
		return []int{80, 82}
	case Q3_K:
		return []int{108}
	}
	return []int{0}
}

// extremeF16 are scales at the edges of F16: zeros, the smallest and
// largest subnormals, the smallest normal, ±1, ±65504.
var extremeF16 = []uint16{0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x7bff, 0xfbff}

// randomF16 returns a finite F16: an extreme one, one of any magnitude,
// or (half of the time) one between 1/4 and 4, where the blocks' terms
// are alike in size and every rounding of their sum shows.
func randomF16(r *rand.Rand) uint16 {
	switch r.IntN(4) {
	case 0:
		return extremeF16[r.IntN(len(extremeF16))]
	case 1:
		for {
			h := uint16(r.Uint32())
			if h&0x7c00 != 0x7c00 {
				return h
			}
		}
	}
	return uint16(r.IntN(2))<<15 | uint16(13+r.IntN(4))<<10 | uint16(r.IntN(1024))
}

// bitsEqual reports whether a and b are the same float, any NaN equal
// to any other (their payloads are not part of the promise).
func bitsEqual(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// TestKernelsBitIdentical checks that the arm64 kernels of the low-bit
// types return exactly the portable kernels' results, dot products and
// MatMul rows for one to four tokens: on weight blocks of random bytes
// (every scale nibble and sign pattern) whose F16 scales include the
// extremes, the first row holding every grid index of the IQ3 types in
// turn; and on activations both from the quantizer and of raw random
// bytes (int8 -128, bsums that do not match the quants, scales near 1
// for one row, from 1e-30 to 1e30 for another).
func TestKernelsBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, typ := range bitExactTypes {
		xt := VecDotType(typ)
		for _, nb := range []int{1, 2, 9, 16} {
			n := nb * typ.BlockSize()
			const rows = 5
			wrb, _ := typ.RowBytes(int64(n))
			xrb, _ := xt.RowBytes(int64(n))
			bb := typ.BlockBytes()
			w := make([]byte, rows*int(wrb))
			for i := range w {
				w[i] = byte(r.Uint32())
			}
			for b := 0; b < rows*nb; b++ {
				blk := w[b*bb : (b+1)*bb]
				for _, off := range f16Offsets(typ) {
					binary.LittleEndian.PutUint16(blk[off:], randomF16(r))
				}
				if (typ == IQ3_S || typ == IQ3_XXS) && b < nb {
					for i := range QKK / 4 { // grid indices b*64 + i, mod 256
						blk[2+i] = byte(64*b + i)
					}
					if typ == IQ3_S { // the ninth bit: 0 for blocks 0-3, 1 for 4-7
						for i := range QKK / 32 {
							blk[2+QKK/4+i] = byte(0xff * (b / 4 % 2))
						}
					}
				}
			}
			x := make([]byte, maxTok*int(xrb))
			for j := range maxTok {
				xr := x[j*int(xrb) : (j+1)*int(xrb)]
				if j%2 == 0 {
					copy(xr, mustQuantize(t, xt, testVector(r, n)))
					continue
				}
				for i := range xr {
					xr[i] = byte(r.Uint32())
				}
				xbb := xt.BlockBytes()
				for b := 0; b < len(xr)/xbb; b++ {
					if xt == Q8_0 {
						binary.LittleEndian.PutUint16(xr[b*xbb:], randomF16(r))
						continue
					}
					d := float32(math.Pow(10, r.Float64()*60-30))
					if j == 1 {
						d = float32(0.5 + r.Float64())
					}
					if r.IntN(2) == 0 {
						d = -d
					}
					binary.LittleEndian.PutUint32(xr[b*xbb:], math.Float32bits(d))
				}
			}
			want := make([]float32, maxTok*rows)
			for j := range maxTok {
				for i := range rows {
					want[j*rows+i] = goOps[typ].dot(n, w[i*int(wrb):(i+1)*int(wrb)], x[j*int(xrb):(j+1)*int(xrb)])
				}
			}
			for _, s := range kernelSets {
				if s.table == &goOps {
					continue
				}
				o := &s.table[typ]
				for j := range maxTok {
					for i := range rows {
						got := o.dot(n, w[i*int(wrb):(i+1)*int(wrb)], x[j*int(xrb):(j+1)*int(xrb)])
						if !bitsEqual(got, want[j*rows+i]) {
							t.Errorf("%s %s nb=%d dot row %d token %d = %g (%#x), Go gives %g (%#x)", s.name, typ, nb, i, j,
								got, math.Float32bits(got), want[j*rows+i], math.Float32bits(want[j*rows+i]))
						}
					}
				}
				for ntok := 1; ntok <= maxTok; ntok++ {
					out := make([]float32, ntok*rows)
					o.rows(n, w, int(wrb), rows, x, int(xrb), ntok, out, rows)
					for k, got := range out {
						if !bitsEqual(got, want[k]) {
							t.Errorf("%s %s nb=%d rows (ntok %d) row %d token %d = %g, Go gives %g", s.name, typ, nb, ntok, k%rows, k/rows, got, want[k])
						}
					}
				}
			}
		}
	}
}

// TestKernelsBitIdenticalGarbage is the same check on blocks and
// activations of nothing but random bytes, as a hostile file could hold
// (NaN and Inf scales included): the results may be anything, but the
// same anything. (Fuzzing cannot run under qemu-user, whose emulated
// process cannot start the fuzzer's workers; this takes its place.)
func TestKernelsBitIdenticalGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(63, 64))
	for iter := range 300 {
		for _, typ := range bitExactTypes {
			xt := VecDotType(typ)
			n := (1 + iter%3) * typ.BlockSize()
			wrb, _ := typ.RowBytes(int64(n))
			xrb, _ := xt.RowBytes(int64(n))
			w, x := make([]byte, wrb), make([]byte, maxTok*int(xrb))
			for i := range w {
				w[i] = byte(r.Uint32())
			}
			for i := range x {
				x[i] = byte(r.Uint32())
			}
			want := make([]float32, maxTok)
			for j := range want {
				want[j] = goOps[typ].dot(n, w, x[j*int(xrb):(j+1)*int(xrb)])
			}
			for _, s := range kernelSets {
				if s.table == &goOps {
					continue
				}
				out := make([]float32, maxTok)
				s.table[typ].rows(n, w, int(wrb), 1, x, int(xrb), maxTok, out, 1)
				for j, got := range out {
					dot := s.table[typ].dot(n, w, x[j*int(xrb):(j+1)*int(xrb)])
					if !bitsEqual(got, want[j]) || !bitsEqual(dot, want[j]) {
						t.Fatalf("%s %s case %d token %d = %g (%#x) in rows, %g (%#x) in dot; Go gives %g (%#x)", s.name, typ, iter, j,
							got, math.Float32bits(got), dot, math.Float32bits(dot), want[j], math.Float32bits(want[j]))
					}
				}
			}
		}
	}
}

// TestKernelsBitIdenticalCover makes sure the test above compares the
// assembly: the portable table has no rows kernel for the six types (MatMul
// falls back to dot), every arm64 kernel set has its own.
func TestKernelsBitIdenticalCover(t *testing.T) {
	sets := 0
	for _, s := range kernelSets {
		if s.table == &goOps {
			continue
		}
		sets++
		for _, typ := range bitExactTypes {
			if goOps[typ].rows != nil {
				t.Fatalf("%s: the portable table has a rows kernel; this test can no longer tell them apart", typ)
			}
			if s.table[typ].rows == nil {
				t.Errorf("%s %s: no assembly kernel", s.name, typ)
			}
		}
	}
	if sets == 0 {
		t.Fatal("no arm64 kernel set to test")
	}
}
