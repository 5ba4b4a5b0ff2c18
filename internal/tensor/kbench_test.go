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

// BenchmarkInterleaved measures the interleaved path (interleave.go) of
// each type that has one, on one thread with data in cache: the repack of
// 64 rows of 1792 elements, then the kernel on ntok tokens (4 at a time),
// against the row kernel on the same tokens (Rows/.../ntok=4 in
// BenchmarkRows measures one call of it). GMAC/s counts multiply-adds.
func BenchmarkInterleaved(b *testing.B) {
	const rows, cols = 64, 1792
	r := rand.New(rand.NewPCG(3, 3))
	for _, t := range benchTypes {
		il := ops[t].il
		if il == nil {
			continue
		}
		w := tiledMatrix(r, t, rows, cols)
		nb := cols / QK
		xrow := nb * q8_0Bytes
		const maxN = 16
		x := make([]byte, maxN*xrow)
		xds := nb * il.xdPer
		xd := make([]float32, maxN*xds)
		for i := range maxN {
			xq := x[i*xrow : (i+1)*xrow]
			ops[Q8_0].fromFloat(xq, testVector(r, cols))
			il.xd(xd[i*xds:(i+1)*xds], xq)
		}
		out := make([]float32, maxN*rows)
		w8 := make([]byte, rows/ilRows*nb*ilBlockBytes)
		for _, ntok := range []int{4, 16} {
			b.Run(fmt.Sprintf("%s/ntok=%d/repack", t, ntok), func(b *testing.B) {
				for b.Loop() {
					il.repack(w8, w.Data, w.rowBytes(), rows/ilRows, nb)
					for t := 0; t < ntok; t += 4 {
						il.rows4(w8, rows/ilRows, nb, x[t*xrow:], xrow, xd[t*xds:], out[t*rows:], rows)
					}
				}
				b.ReportMetric(float64(rows*cols*ntok)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
			b.Run(fmt.Sprintf("%s/ntok=%d/rows", t, ntok), func(b *testing.B) {
				k := ops[t].rows
				for b.Loop() {
					for t := 0; t < ntok; t += 4 {
						k(cols, w.Data, w.rowBytes(), rows, x[t*xrow:], xrow, 4, out[t*rows:], rows)
					}
				}
				b.ReportMetric(float64(rows*cols*ntok)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GMAC/s")
			})
		}
	}
}
