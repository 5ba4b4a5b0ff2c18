package tensor

import (
	"slices"
	"testing"
)

// FuzzKernels feeds arbitrary bytes, as a hostile GGUF file could hold, to
// Dequantize, VecDot and MatMul of every type with kernels: any values
// (NaN, Inf, subnormal scales) may come out, but nothing may panic or
// read out of bounds. (Agreement of the SIMD and Go kernels is
// TestKernelsAgainstGo's: on garbage the two float summation orders can
// cancel differently without bound.)
func FuzzKernels(f *testing.F) {
	f.Add(uint8(8), uint8(1), []byte("\x00\x3c\x01\x02\x03"))
	f.Add(uint8(12), uint8(2), make([]byte, 600))
	f.Add(uint8(14), uint8(0), []byte{0xff, 0x7b, 0x00, 0x80})
	f.Add(uint8(1), uint8(3), []byte{0x00, 0x7c, 0x01, 0x7c, 0xff, 0xff})
	// The low-bit types: one seed each (computeTypes index), with bytes
	// that reach the top grid indices, every sign and the F16 extremes.
	for _, typ := range []Type{Q2_K, Q3_K, IQ4_NL, IQ4_XS, IQ3_XXS, IQ3_S} {
		f.Add(uint8(slices.Index(computeTypes, typ)), uint8(typ), []byte{0xff, 0x7b, 0xff, 0xfe, 0x01, 0x80, 0x00, 0x7c, 0x55})
	}
	f.Fuzz(func(t *testing.T, typSel, blocks uint8, data []byte) {
		typ := computeTypes[int(typSel)%len(computeTypes)]
		nb := 1 + int(blocks)%4
		n := nb * typ.BlockSize()
		if typ.BlockSize() == 1 {
			n = 1 + int(blocks)%67
		}
		rb, _ := typ.RowBytes(int64(n))
		w := make([]byte, 3*rb) // three rows, repeating the fuzz bytes
		for i := range w {
			if len(data) > 0 {
				w[i] = data[i%len(data)]
			}
		}
		y := make([]float32, n)
		if err := Dequantize(typ, y, w[:rb]); err != nil {
			t.Fatal(err)
		}
		xt := VecDotType(typ)
		xrb, _ := xt.RowBytes(int64(n))
		x := make([]byte, xrb)
		for i := range x {
			if len(data) > 0 {
				x[i] = data[(i*7+3)%len(data)]
			}
		}
		VecDot(typ, n, w[:rb], x)
		goOps[typ].dot(n, w[:rb], x)
		p := NewPool(2)
		defer p.Close()
		m := &Matrix{Type: typ, Rows: 3, Cols: n, Data: w}
		xf := make([]float32, 5*n)
		for i := range xf {
			xf[i] = y[i%n]
		}
		p.MatMul(make([]float32, 5*3), m, xf, 5)
	})
}
