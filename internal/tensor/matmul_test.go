package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/raym33/ainative/internal/leaktest"
)

func TestPoolFor(t *testing.T) {
	leaktest.Check(t) // Close must stop every worker
	for _, threads := range []int{0, 1, 2, 3, 7} {
		p := NewPool(threads)
		if got := p.Threads(); got != max(threads, 1) {
			t.Errorf("NewPool(%d).Threads() = %d", threads, got)
		}
		for _, n := range []int{0, 1, 2, 5, 64, 1001} {
			hits := make([]atomic.Int32, n)
			var calls atomic.Int32
			p.For(n, func(lo, hi int) {
				calls.Add(1)
				if lo >= hi {
					t.Errorf("threads %d n %d: empty chunk [%d,%d)", threads, n, lo, hi)
				}
				for i := lo; i < hi; i++ {
					hits[i].Add(1)
				}
			})
			for i := range hits {
				if h := hits[i].Load(); h != 1 {
					t.Fatalf("threads %d n %d: index %d visited %d times", threads, n, i, h)
				}
			}
			if c := int(calls.Load()); c > p.Threads() {
				t.Errorf("threads %d n %d: %d chunks", threads, n, c)
			}
		}
		p.Close()
		p.Close() // idempotent
	}
}

func TestPoolPanic(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	func() {
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(fmt.Sprint(r), "boom") {
				t.Errorf("recovered %v, want the loop body's panic", r)
			}
		}()
		p.For(30, func(lo, hi int) {
			if lo == 0 {
				return
			}
			panic("boom") // in a worker goroutine
		})
	}()
	// The pool still works after a panic.
	var sum atomic.Int64
	p.For(100, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sum.Add(int64(i))
		}
	})
	if sum.Load() != 4950 {
		t.Errorf("sum after panic = %d", sum.Load())
	}
}

func TestPoolConcurrentCallers(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	done := make(chan int64)
	for range 4 {
		go func() {
			var s atomic.Int64
			for range 50 {
				p.For(10, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						s.Add(1)
					}
				})
			}
			done <- s.Load()
		}()
	}
	for range 4 {
		if s := <-done; s != 500 {
			t.Errorf("caller counted %d, want 500", s)
		}
	}
}

// matmulCols is the row length of typ the MatMul tests use: a whole
// number of blocks that is not a multiple of the K-quant or SIMD unroll
// sizes where the block size allows.
func matmulCols(typ Type) int {
	switch typ.BlockSize() {
	case QK:
		return 7 * QK
	case 1:
		return 3*QK + 5
	}
	return 2 * QKK
}

func randomMatrix(r *rand.Rand, typ Type, rows, cols int) *Matrix {
	w := testVector(r, rows*cols)
	rb, _ := typ.RowBytes(int64(cols))
	m := &Matrix{Type: typ, Rows: rows, Cols: cols, Data: make([]byte, int(rb)*rows)}
	for i := range rows {
		copy(m.Row(i), testWeights(nil, r, typ, w[i*cols:(i+1)*cols]))
	}
	return m
}

// refMatMul computes MatMul with refDot from dequantized weights and
// activations quantized to VecDotType and dequantized again; it also
// returns each output's rounding scale.
func refMatMul(t *testing.T, w *Matrix, x []float32, n int) (want, mag []float64) {
	xt := VecDotType(w.Type)
	xb := make([][]byte, n)
	xd := make([][]float32, n)
	for j := range n {
		xb[j] = mustQuantize(t, xt, x[j*w.Cols:(j+1)*w.Cols])
		xd[j] = mustDequantize(t, xt, xb[j], w.Cols)
	}
	want, mag = make([]float64, n*w.Rows), make([]float64, n*w.Rows)
	for i := range w.Rows {
		wd := mustDequantize(t, w.Type, w.Row(i), w.Cols)
		for j := range n {
			want[j*w.Rows+i], mag[j*w.Rows+i] = refDot(w.Type, w.Row(i), wd, xb[j], xd[j])
		}
	}
	return want, mag
}

func TestMatMul(t *testing.T) {
	leaktest.Check(t)
	r := rand.New(rand.NewPCG(13, 14))
	for _, typ := range computeTypes {
		cols := matmulCols(typ)
		for _, rows := range []int{1, 7, 37} {
			w := randomMatrix(r, typ, rows, cols)
			for _, n := range []int{1, 2, 5, 9} {
				x := testVector(r, n*cols+QK)[:n*cols]
				want, mag := refMatMul(t, w, x, n)
				for _, threads := range []int{1, 2, 3} {
					p := NewPool(threads)
					dst := make([]float32, n*rows+3)
					dst[n*rows] = 42 // beyond the output: must stay
					p.MatMul(dst, w, x, n)
					p.Close()
					if dst[n*rows] != 42 {
						t.Fatalf("%s: MatMul wrote past n*Rows", typ)
					}
					for k := range n * rows {
						if d := math.Abs(float64(dst[k]) - want[k]); d > dotBound*mag[k]+1e-30 {
							t.Fatalf("%s %dx%d n=%d threads=%d: dst[%d] = %g, want %g (magnitude %g)", typ, rows, cols, n, threads, k, dst[k], want[k], mag[k])
						}
					}
				}
			}
		}
	}
}

// TestMatMulAcrossScales runs MatMul on activations whose magnitude
// changes by orders of magnitude from one stretch to the next
// (testVector), over many seeds: a kernel that keeps partial sums in
// vector lanes must not let a block of large values, whose lanes cancel
// only when summed, swallow a block of small ones. The AVX2 Q3_K kernels
// did (10 of 30 seeds beyond the bound, one by 2.6e-4 of the products' magnitude)
// until they summed each super-block's lanes as integers.
func TestMatMulAcrossScales(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 54))
		for _, typ := range computeTypes {
			cols := 2 * QKK
			if typ.BlockSize() != QKK {
				cols = 16 * QK
			}
			if typ.BlockSize() == 1 {
				cols = 3*QK + 5
			}
			w := randomMatrix(r, typ, 19, cols)
			for _, n := range []int{1, 4, 8} {
				x := testVector(r, n*cols)
				want, mag := refMatMul(t, w, x, n)
				dst := make([]float32, n*w.Rows)
				p.MatMul(dst, w, x, n)
				for k := range dst {
					if d := math.Abs(float64(dst[k]) - want[k]); d > dotBound*mag[k]+1e-30 {
						t.Fatalf("seed %d %s n=%d: dst[%d] = %g, want %g (magnitude %g)", seed, typ, n, k, dst[k], want[k], mag[k])
					}
				}
			}
		}
	}
}

func TestNewMatrix(t *testing.T) {
	if _, err := NewMatrix(Q8_0, 2, 32, make([]byte, 2*q8_0Bytes)); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		t          Type
		rows, cols int
		n          int
		want       string
	}{
		{Q8_0, 2, 32, 67, "needs 68 bytes, has 67"},
		{Q8_0, 2, 33, 68, "not a multiple"},
		{Q8_0, 0, 32, 0, "shape 0x32"},
		{IQ2_XXS, 1, 256, 66, "not supported"},
		{Type(99), 1, 1, 1, "unknown type"},
	} {
		_, err := NewMatrix(c.t, c.rows, c.cols, make([]byte, c.n))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewMatrix(%s, %d, %d, %d bytes) = %v, want an error with %q", c.t, c.rows, c.cols, c.n, err, c.want)
		}
	}
}

func TestMatMulPanics(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	w := &Matrix{Type: Q8_0, Rows: 2, Cols: 32, Data: make([]byte, 2*q8_0Bytes)}
	for name, f := range map[string]func(){
		"short x":   func() { p.MatMul(make([]float32, 2), w, make([]float32, 31), 1) },
		"short dst": func() { p.MatMul(make([]float32, 1), w, make([]float32, 32), 1) },
		"bad data": func() {
			p.MatMul(make([]float32, 2), &Matrix{Type: Q8_0, Rows: 2, Cols: 32, Data: make([]byte, 10)}, make([]float32, 32), 1)
		},
		"unsupported": func() {
			p.MatMul(make([]float32, 2), &Matrix{Type: IQ2_XXS, Rows: 2, Cols: 256, Data: make([]byte, 132)}, make([]float32, 256), 1)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestMatMulSerial checks that MatMulSerial gives bit for bit what a
// Pool's MatMul gives, whatever the Pool's split of rows and tokens.
func TestMatMulSerial(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	p := NewPool(3)
	defer p.Close()
	var s Scratch
	for _, typ := range computeTypes {
		cols := matmulCols(typ)
		for _, rows := range []int{1, 7, 300} {
			w := randomMatrix(r, typ, rows, cols)
			for _, n := range []int{1, 2, 5, 9} {
				x := testVector(r, n*cols)
				want := make([]float32, n*rows)
				p.MatMul(want, w, x, n)
				got := make([]float32, n*rows+1)
				got[n*rows] = 42
				MatMulSerial(got, w, x, n, &s)
				if got[n*rows] != 42 {
					t.Fatalf("%s: MatMulSerial wrote past n*Rows", typ)
				}
				for k := range want {
					if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
						t.Fatalf("%s %dx%d n=%d: serial dst[%d] = %g, pool %g", typ, rows, cols, n, k, got[k], want[k])
					}
				}
			}
		}
	}
}
