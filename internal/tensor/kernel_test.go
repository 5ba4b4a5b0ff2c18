package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelsAgainstGo checks the kernels in use (SIMD where the CPU has
// them) against the portable Go ones: the dot products and MatMul's row
// kernels, for block counts that are not multiples of any unrolling, odd
// row counts, every token count and row strides with padding.
func TestKernelsAgainstGo(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, typ := range computeTypes {
		xt := VecDotType(typ)
		bs := typ.BlockSize()
		lengths := []int{1, 2, 3, 4, 5, 7, 9, 17, 28}
		if bs == 1 {
			lengths = []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257}
		}
		for _, nb := range lengths {
			n := nb * bs
			if bs == 1 {
				n = nb
			}
			wrb, _ := typ.RowBytes(int64(n))
			xrb, _ := xt.RowBytes(int64(n))
			const rows = 5
			wrow, xrow := int(wrb)+7, int(xrb)+3 // padded strides
			w := make([]byte, rows*wrow)
			wd := make([][]float32, rows)
			for i := range rows {
				copy(w[i*wrow:], mustQuantize(t, typ, testVector(r, n)))
				wd[i] = mustDequantize(t, typ, w[i*wrow:i*wrow+int(wrb)], n)
			}
			x := make([]byte, maxTok*xrow)
			xd := make([][]float32, maxTok)
			for j := range maxTok {
				copy(x[j*xrow:], mustQuantize(t, xt, testVector(r, n)))
				xd[j] = mustDequantize(t, xt, x[j*xrow:j*xrow+int(xrb)], n)
			}
			check := func(what string, i, j int, got float32) {
				t.Helper()
				want, mag := refDot(typ, w[i*wrow:], wd[i], x[j*xrow:], xd[j])
				goDot := goOps[typ].dot(n, w[i*wrow:i*wrow+int(wrb)], x[j*xrow:j*xrow+int(xrb)])
				if d := math.Abs(float64(got) - want); d > dotBound*mag+1e-30 {
					t.Fatalf("%s %s n=%d row %d token %d: %g, want %g (Go kernel %g)", typ, what, n, i, j, got, want, goDot)
				}
			}
			for i := range rows {
				for j := range maxTok {
					check("dot", i, j, ops[typ].dot(n, w[i*wrow:i*wrow+int(wrb)], x[j*xrow:j*xrow+int(xrb)]))
				}
			}
			k := ops[typ].rows
			if k == nil {
				continue
			}
			for _, nrows := range []int{1, 2, 3, 5} {
				for ntok := 1; ntok <= maxTok; ntok++ {
					const ostride = 11
					out := make([]float32, ntok*ostride)
					for i := range out {
						out[i] = float32(math.NaN())
					}
					k(n, w[:(nrows-1)*wrow+int(wrb)], wrow, nrows, x[:(ntok-1)*xrow+int(xrb)], xrow, ntok, out, ostride)
					for j := range ntok {
						for i := range ostride {
							got := out[j*ostride+i]
							if i >= nrows {
								if !math.IsNaN(float64(got)) {
									t.Fatalf("%s rows: wrote out[%d*%d+%d] beyond %d rows", typ, j, ostride, i, nrows)
								}
								continue
							}
							check("rows", i, j, got)
						}
					}
				}
			}
		}
	}
}
