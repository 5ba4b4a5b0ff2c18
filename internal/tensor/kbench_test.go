package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkRows measures MatMul's kernels of each kernel set alone on one
// thread, on data in cache: 64 weight rows of 1792 elements (7
// super-blocks) times 1 or 4 activation rows.
// The metric GMAC/s counts multiply-adds.
func BenchmarkRows(b *testing.B) {
	const rows, cols = 64, 1792
	r := rand.New(rand.NewPCG(3, 3))
	for _, t := range benchTypes {
		if cols%t.BlockSize() != 0 {
			continue
		}
		w := tiledMatrix(r, t, rows, cols)
		xs := testVector(r, 4*cols)
		out := make([]float32, 4*rows)
		for _, ntok := range []int{1, 4} {
			for _, set := range kernelSets {
				xt, conv := set.table.mmInput(t)
				xrb, _ := xt.RowBytes(cols)
				x := make([]byte, 4*int(xrb))
				for i := range 4 {
					conv(x[i*int(xrb):(i+1)*int(xrb)], xs[i*cols:(i+1)*cols])
				}
				k := set.table[t].rows
				if k == nil {
					k = rowsByDot(set.table[t].dot)
				}
				b.Run(fmt.Sprintf("%s/ntok=%d/%s", t, ntok, set.name), func(b *testing.B) {
					for b.Loop() {
						k(cols, w.Data, w.rowBytes(), rows, x, int(xrb), ntok, out, rows)
					}
					b.ReportMetric(float64(rows*cols*ntok)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
				})
			}
		}
	}
}
