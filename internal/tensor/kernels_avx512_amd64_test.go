//go:build !purego

package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func init() {
	// Test and benchmark every kernel set this CPU runs, whatever
	// AINATIVE_SIMD chose for ops.
	switch {
	case haveAVX512:
		kernelSets = []kernelSet{{"avx512", &avx512Ops}, {"avx2", &avx2Ops}, {"purego", &goOps}}
	case haveAVX2:
		kernelSets = []kernelSet{{"avx2", &avx2Ops}, {"purego", &goOps}}
	}
}

// TestAVX512MatchesAVX2 checks that the AVX-512 Q2_K, Q3_K, IQ4_XS, Q4_K
// and Q5_K kernels give AVX2's results bit for bit (they scale each
// super-block in the same order): the F16 KV cache rounds K and V, and a
// kernel that rounded
// differently flipped enough of those roundings to move the MoE fixtures'
// routing probabilities by 1e-2 (TestRoutingMatchesLlamaCpp).
func TestAVX512MatchesAVX2(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 here")
	}
	r := rand.New(rand.NewPCG(71, 72))
	for _, typ := range []Type{Q2_K, Q3_K, IQ4_XS, Q4_K, Q5_K} {
		const rows, cols = 13, 3 * QKK
		w := randomMatrix(r, typ, rows, cols)
		xs := testVector(r, 4*cols)
		xt, conv := avx2Ops.mmInput(typ)
		xrb, _ := xt.RowBytes(cols)
		x := make([]byte, 4*int(xrb))
		for i := range 4 {
			conv(x[i*int(xrb):(i+1)*int(xrb)], xs[i*cols:(i+1)*cols])
		}
		for _, ntok := range []int{1, 4} {
			want := make([]float32, ntok*rows)
			got := make([]float32, ntok*rows)
			avx2Ops[typ].rows(cols, w.Data, w.rowBytes(), rows, x, int(xrb), ntok, want, rows)
			avx512Ops[typ].rows(cols, w.Data, w.rowBytes(), rows, x, int(xrb), ntok, got, rows)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s, %d tokens: out[%d] = %g with AVX-512, %g with AVX2", typ, ntok, i, got[i], want[i])
				}
			}
		}
	}
}
