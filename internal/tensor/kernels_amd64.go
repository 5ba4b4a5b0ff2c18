//go:build !purego

package tensor

import (
	"golang.org/x/sys/cpu"
)

// The amd64 kernels need AVX2 for the integer dot products, FMA for the
// float accumulation and F16C for the F16 scales of the blocks (all three
// arrived together with Haswell and Zen).
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// An asm kernel pair for one weight type. x1 computes dst[r] for r < rows,
// the dot product of weight row r (at w + r*wstride) with the activation
// row x; x4 computes dst[t*dstride + r] for four activation rows at x +
// t*xstride, reading each weight row once for all four. nb is the number
// of blocks of a row.
type (
	kernel1 func(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
	kernel4 func(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
)

func archInit() {
	if !haveAVX2 {
		return
	}
	useAsm(Q8_0, dotQ8_0x1AVX2, dotQ8_0x4AVX2)
	useAsm(Q4_0, dotQ4_0x1AVX2, dotQ4_0x4AVX2)
	useAsm(Q5_0, dotQ5_0x1AVX2, dotQ5_0x4AVX2)
	useAsm(Q4_1, dotQ4_1x1AVX2, dotQ4_1x4AVX2)
	useAsm(Q5_1, dotQ5_1x1AVX2, dotQ5_1x4AVX2)
}

// useAsm installs an asm kernel pair as both the dot product and the
// MatMul kernel of t.
func useAsm(t Type, k1 kernel1, k4 kernel4) {
	o := &ops[t]
	bs, bb := t.BlockSize(), t.BlockBytes()
	xbb := o.dotType.BlockBytes() * bs / o.dotType.BlockSize()
	o.dot = func(n int, w, x []byte) float32 {
		nb := n / bs
		if nb == 0 {
			return 0
		}
		_, _ = w[nb*bb-1], x[nb*xbb-1] // the asm must not read past either
		var s float32
		k1(&w[0], 0, 1, &x[0], nb, &s)
		return s
	}
	o.rows = func(n int, w []byte, wrow, rows int, x []byte, xrow, ntok int, out []float32, ostride int) {
		nb := n / bs
		if nb == 0 || rows == 0 || ntok == 0 {
			for t := range ntok {
				clear(out[t*ostride : t*ostride+rows])
			}
			return
		}
		// Bounds checks for everything the asm touches.
		_, _ = w[(rows-1)*wrow+nb*bb-1], x[(ntok-1)*xrow+nb*xbb-1]
		_ = out[(ntok-1)*ostride+rows-1]
		if ntok == 4 {
			k4(&w[0], uintptr(wrow), rows, &x[0], uintptr(xrow), nb, &out[0], uintptr(ostride))
			return
		}
		for t := range ntok {
			k1(&w[0], uintptr(wrow), rows, &x[t*xrow], nb, &out[t*ostride])
		}
	}
}

//go:noescape
func dotQ8_0x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ8_0x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_0x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_0x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_0x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_0x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_1x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_1x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_1x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_1x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
