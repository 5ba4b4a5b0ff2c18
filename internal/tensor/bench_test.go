package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchTypes are the weight types benchmarked.
var benchTypes = []Type{F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
	IQ4_NL, IQ4_XS, IQ3_XXS, IQ3_S}

// BenchmarkVecDot measures one dot product of a 4864-element row (the
// longest row of the Qwen2.5-0.5B shape) with each kernel set
// (kernelSets). Bytes are those of the weight row, so the
// reported MB/s is the rate at which weights are consumed.
func BenchmarkVecDot(b *testing.B) {
	const n = 4864
	r := rand.New(rand.NewPCG(1, 1))
	for _, t := range benchTypes {
		wf, xf := testVector(r, n), testVector(r, n)
		w := testWeights(b, r, t, wf)
		x := mustQuantize(b, VecDotType(t), xf)
		for _, set := range kernelSets {
			o := &set.table[t]
			b.Run(t.String()+"/"+set.name, func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				var s float32
				for b.Loop() {
					s += o.dot(n, w, x)
				}
				sink = s
			})
		}
	}
}

var sink float32

// tiledMatrix returns a rows x cols matrix of type t filled by repeating a
// few distinct quantized rows: quantizing hundreds of megabytes for a
// benchmark would take longer than the benchmark.
func tiledMatrix(r *rand.Rand, t Type, rows, cols int) *Matrix {
	const distinct = 16
	rb, _ := t.RowBytes(int64(cols))
	m := &Matrix{Type: t, Rows: rows, Cols: cols, Data: make([]byte, int(rb)*rows)}
	for i := range min(distinct, rows) {
		copy(m.Row(i), testWeights(nil, r, t, testVector(r, cols)))
	}
	for i := distinct; i < rows; i++ {
		copy(m.Row(i), m.Row(i%distinct))
	}
	return m
}

// qwenShapes are the distinct matrix shapes of Qwen2.5-0.5B (rows x cols).
var qwenShapes = [][2]int{{896, 896}, {4864, 896}, {896, 4864}, {151936, 896}}

// BenchmarkMatMul runs MatMul on 2 threads for the Qwen2.5-0.5B shapes at
// decode (n=1) and prompt sizes, with each kernel set (kernelSets), the
// portable one only where it takes less than seconds. Bytes are the
// weights', so MB/s is the weight streaming rate; tok/s is a metric.
func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	p := NewPool(2)
	defer p.Close()
	for _, t := range []Type{Q8_0, Q5_0, Q4_K, Q6_K, F16} {
		for _, shape := range qwenShapes {
			if shape[1]%t.BlockSize() != 0 {
				continue
			}
			w := tiledMatrix(r, t, shape[0], shape[1])
			for _, n := range []int{1, 64, 512} {
				if n == 512 && shape[0] > 10000 {
					continue // nobody computes logits for a whole prompt
				}
				x := testVector(r, n*shape[1])
				dst := make([]float32, n*shape[0])
				for _, set := range kernelSets {
					if set.table == &goOps && n*shape[0]*shape[1] > 64*896*896 {
						continue // the portable kernels would take seconds
					}
					b.Run(fmt.Sprintf("%s/%dx%d/n=%d/%s", t, shape[0], shape[1], n, set.name), func(b *testing.B) {
						b.SetBytes(int64(len(w.Data)))
						for b.Loop() {
							p.matMul(set.table, dst, w, x, n)
						}
						b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
					})
				}
			}
		}
	}
}

// BenchmarkQuantize measures the conversion of one 4864-element
// activation row to each activation type, as MatMul does per token.
func BenchmarkQuantize(b *testing.B) {
	const n = 4864
	x := testVector(rand.New(rand.NewPCG(4, 4)), n)
	for _, t := range []Type{Q8_0, Q8_1, Q8_K, F16, BF16} {
		rb, _ := t.RowBytes(n)
		dst := make([]byte, rb)
		for _, set := range kernelSets {
			o := &set.table[t]
			b.Run(t.String()+"/"+set.name, func(b *testing.B) {
				b.SetBytes(4 * n)
				for b.Loop() {
					o.fromFloat(dst, x)
				}
			})
		}
	}
}

// BenchmarkPoolFor measures the fixed cost of one parallel loop (wake the
// workers, wait for them), paid by every MatMul.
func BenchmarkPoolFor(b *testing.B) {
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			for b.Loop() {
				p.For(threads, func(lo, hi int) {})
			}
		})
		p.Close()
	}
}
