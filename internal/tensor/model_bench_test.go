package tensor

import (
	"math/rand/v2"
	"testing"
)

// qwenModel holds the weight matrices of a Qwen2.5-0.5B-shaped model
// (hidden 896, 24 layers, FFN 4864, 14 query and 2 KV heads of 64, vocab
// 151936, output tied to the embeddings), with random weights.
type qwenModel struct {
	layers [][]*Matrix // per layer: q, k, v, o, gate, up, down
	output *Matrix
	bytes  int64
}

// qwenTypes returns the weight type of each matrix of layer i for a file
// type: Q8_0 everywhere, or Q4_K_M with llama.cpp's rules and fallbacks
// for rows of 896 (not a multiple of 256): Q5_0 instead of Q4_K and Q8_0
// instead of Q6_K, so only ffn_down keeps K-quants; attn_v and ffn_down
// get more bits in the first and last eighth of the layers and every
// third one between.
func qwenTypes(ftype string, i int) (q, k, v, o, gate, up, down Type) {
	if ftype == "Q8_0" {
		return Q8_0, Q8_0, Q8_0, Q8_0, Q8_0, Q8_0, Q8_0
	}
	const n = 24
	more := i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
	v, down = Q5_0, Q4_K
	if more {
		v, down = Q8_0, Q6_K
	}
	return Q5_0, Q5_0, v, Q5_0, Q5_0, Q5_0, down
}

func newQwenModel(ftype string) *qwenModel {
	r := rand.New(rand.NewPCG(5, 5))
	const hidden, ffn, kv, vocab = 896, 4864, 128, 151936
	m := &qwenModel{}
	for i := range 24 {
		q, k, v, o, gate, up, down := qwenTypes(ftype, i)
		layer := []*Matrix{
			tiledMatrix(r, q, hidden, hidden),
			tiledMatrix(r, k, kv, hidden),
			tiledMatrix(r, v, kv, hidden),
			tiledMatrix(r, o, hidden, hidden),
			tiledMatrix(r, gate, ffn, hidden),
			tiledMatrix(r, up, ffn, hidden),
			tiledMatrix(r, down, hidden, ffn),
		}
		for _, w := range layer {
			m.bytes += int64(len(w.Data))
		}
		m.layers = append(m.layers, layer)
	}
	m.output = tiledMatrix(r, Q8_0, vocab, hidden)
	m.bytes += int64(len(m.output.Data))
	return m
}

// forward runs every matrix product of a forward pass over n tokens,
// the output layer only for the last token (as llama.cpp's benchmark
// does), with the input sizes a real pass has.
func (m *qwenModel) forward(p *Pool, table *opsTable, n int, x, ffnX, dst []float32) {
	for _, l := range m.layers {
		for j, w := range l {
			in := x
			if j == 6 {
				in = ffnX
			}
			p.matMul(table, dst, w, in, n)
		}
	}
	p.matMul(table, dst, m.output, x[(n-1)*896:], 1)
}

// BenchmarkQwen measures the matrix products of the Qwen2.5-0.5B shape on
// 2 threads with each SIMD kernel set, the targets: decode streams every weight once per
// token (GB/s is that rate; the machine reads about 22 GB/s), and a
// 512-token prompt (tok/s; llama.cpp does 100.7 for Q8_0 on 2 threads,
// attention and the other operations included).
func BenchmarkQwen(b *testing.B) {
	for _, ftype := range []string{"Q8_0", "Q4_K_M"} {
		m := newQwenModel(ftype)
		p := NewPool(2)
		r := rand.New(rand.NewPCG(6, 6))
		for _, n := range []int{1, 512} {
			x, ffnX := testVector(r, n*896), testVector(r, n*4864)
			dst := make([]float32, max(n*4864, 151936)) // logits of one token only
			name := ftype + "/decode"
			if n > 1 {
				name = ftype + "/prompt512"
			}
			for _, set := range kernelSets {
				if set.table == &goOps {
					continue // minutes
				}
				b.Run(name+"/"+set.name, func(b *testing.B) {
					for b.Loop() {
						m.forward(p, set.table, n, x, ffnX, dst)
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(n)/sec, "tok/s")
					if n == 1 {
						b.ReportMetric(float64(m.bytes)/sec/1e9, "GB/s")
						b.ReportMetric(float64(m.bytes)/1e6, "MB")
					}
				})
			}
		}
		p.Close()
	}
}
