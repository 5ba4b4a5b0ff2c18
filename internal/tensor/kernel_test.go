package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// kernelSet is a named table of kernels.
type kernelSet struct {
	name  string
	table *opsTable
}

// kernelSets are the kernel tables tests and benchmarks compare, the
// portable ones last: here the kernels in use; a per-architecture test
// file replaces it with every set the CPU can run.
var kernelSets = []kernelSet{{"simd", &ops}, {"purego", &goOps}}

// TestKernelsAgainstGo checks every kernel set against the reference: the
// dot products and MatMul's row kernels, for block counts that are not
// multiples of any unrolling, odd row counts, every token count and row
// strides with padding.
func TestKernelsAgainstGo(t *testing.T) {
	for _, s := range kernelSets {
		t.Run(s.name, func(t *testing.T) { checkKernels(t, s.table) })
	}
}

func checkKernels(t *testing.T, table *opsTable) {
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
				copy(w[i*wrow:], testWeights(t, r, typ, testVector(r, n)))
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
					check("dot", i, j, table[typ].dot(n, w[i*wrow:i*wrow+int(wrb)], x[j*xrow:j*xrow+int(xrb)]))
				}
			}
			k := table[typ].rows
			if k == nil {
				continue
			}
			// MatMul's activations may be in another form (F32 for
			// F16 and BF16 weights): same values, other bytes.
			if mt, conv := table.mmInput(typ); mt != xt {
				mrb, _ := mt.RowBytes(int64(n))
				mrow := int(mrb) + 5
				mx := make([]byte, maxTok*mrow)
				for j := range maxTok {
					conv(mx[j*mrow:j*mrow+int(mrb)], xd[j])
				}
				x, xrow, xrb = mx, mrow, mrb
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

// TestQuantizersAgainstGo checks the activation quantizers in use (SIMD
// where available) byte for byte against the portable ones, on finite
// inputs: mixed blocks, exact ties, random bit patterns.
func TestQuantizersAgainstGo(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	inputs := [][]float32{testVector(r, 64*QKK)}
	ties := make([]float32, QKK)
	for i := range ties {
		ties[i] = float32(i%QK) - 15.5 // with amax 127 below: multiplier 1
	}
	ties[0] = 127
	inputs = append(inputs, ties)
	bits := make([]float32, 32*QKK)
	for i := range bits {
		for {
			bits[i] = math.Float32frombits(r.Uint32())
			if !math.IsNaN(float64(bits[i])) && !math.IsInf(float64(bits[i]), 0) {
				break
			}
		}
	}
	inputs = append(inputs, bits)
	for _, typ := range []Type{Q8_0, Q8_1, Q8_K, F16, BF16} {
		for k, x := range inputs {
			for _, n := range []int{QKK, len(x)} {
				want, got := mustQuantize(t, typ, x[:n]), mustQuantize(t, typ, x[:n])
				goOps[typ].fromFloat(want, x[:n])
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s input %d: byte %d (block %d) = %#02x, Go gives %#02x", typ, k, i, i/typ.BlockBytes(), got[i], want[i])
					}
				}
			}
		}
	}
	// MatMul's F32 form of F16/BF16 activations, odd lengths included.
	for _, typ := range []Type{F16, BF16} {
		mt, conv := ops.mmInput(typ)
		if mt != F32 {
			continue
		}
		for _, n := range []int{1, 7, 8, 9, 100, 4864} {
			x := bits[:n]
			got := make([]byte, 4*n)
			conv(got, x)
			y := make([]float32, n)
			Dequantize(typ, y, mustQuantize(t, typ, x))
			want := mustQuantize(t, F32, y)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s MatMul activations n=%d: byte %d = %#02x, want %#02x", typ, n, i, got[i], want[i])
				}
			}
		}
	}
}
