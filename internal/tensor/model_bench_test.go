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
// type, with llama.cpp's rules (llama-quant.cpp, no importance matrix) and
// its fallbacks for rows of 896, not a multiple of 256: Q4_K becomes
// Q5_0, Q5_K Q5_1, Q6_K Q8_0, and Q2_K, Q3_K and the IQ types IQ4_NL, so
// only ffn_down (rows of 4864) keeps K-quants and IQ types. Q4_K_M:
// attn_v and ffn_down get more bits in the first and last eighth of the
// layers and every third one between. The others (Qwen2.5-0.5B has 7
// query heads per KV head): Q2_K: attn_v Q4_K, attn_output and ffn_down
// Q3_K; Q3_K_M: attn_v Q5_K in the first 2 layers then Q4_K, attn_output
// Q4_K, ffn_down Q5_K in the first 16th then Q4_K (no Q3_K survives);
// IQ4_XS: attn_v Q5_K, ffn_down Q5_K in the first eighth; IQ3_S: attn_v
// Q4_K.
func qwenTypes(ftype string, i int) (q, k, v, o, gate, up, down Type) {
	const n = 24
	switch ftype {
	case "Q8_0":
		return Q8_0, Q8_0, Q8_0, Q8_0, Q8_0, Q8_0, Q8_0
	case "Q2_K":
		return IQ4_NL, IQ4_NL, Q5_0, IQ4_NL, IQ4_NL, IQ4_NL, Q3_K
	case "Q3_K_M":
		v, down = Q5_0, Q4_K
		if i < 2 {
			v = Q5_1
		}
		if i < n/16 {
			down = Q5_K
		}
		return IQ4_NL, IQ4_NL, v, Q5_0, IQ4_NL, IQ4_NL, down
	case "IQ4_XS":
		down = IQ4_XS
		if i < n/8 {
			down = Q5_K
		}
		return IQ4_NL, IQ4_NL, Q5_1, IQ4_NL, IQ4_NL, IQ4_NL, down
	case "IQ3_S":
		return IQ4_NL, IQ4_NL, Q5_0, IQ4_NL, IQ4_NL, IQ4_NL, IQ3_S
	}
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
	for _, ftype := range []string{"Q8_0", "Q4_K_M", "Q2_K", "Q3_K_M", "IQ4_XS", "IQ3_S"} {
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
