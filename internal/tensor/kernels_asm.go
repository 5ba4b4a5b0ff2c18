//go:build !purego && (amd64 || arm64)

package tensor

// What the assembly kernel sets of every architecture share: the kernel
// signatures and the wrappers that check every bound the assembly relies
// on before handing it raw pointers.

// An asm kernel pair for one weight type. x1 computes dst[r] for r < rows,
// the dot product of weight row r (at w + r*wstride) with the activation
// row x; x4 computes dst[t*dstride + r] for four activation rows at x +
// t*xstride, reading each weight row once for all four. nb is the number
// of blocks of a row (of elements for the float types).
type (
	kernel1 func(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
	kernel4 func(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
)

// blockBytes is the number of bytes of xt that go with one block of t.
func blockBytes(t, xt Type) int {
	return xt.BlockBytes() * t.BlockSize() / xt.BlockSize()
}

// asmDot wraps a one-row kernel as the dot product of weights of type t
// with activations of type xt.
func asmDot(t, xt Type, k1 kernel1) func(n int, w, x []byte) float32 {
	bs, bb, xbb := t.BlockSize(), t.BlockBytes(), blockBytes(t, xt)
	return func(n int, w, x []byte) float32 {
		nb := n / bs
		if nb == 0 {
			return 0
		}
		_, _ = w[nb*bb-1], x[nb*xbb-1] // the asm must not read past either
		var s float32
		k1(&w[0], 0, 1, &x[0], nb, &s)
		return s
	}
}

// asmRows wraps a kernel pair as the dotRows of t with activations of
// type xt, checking every bound the asm relies on.
func asmRows(t, xt Type, k1 kernel1, k4 kernel4) dotRows {
	bs, bb, xbb := t.BlockSize(), t.BlockBytes(), blockBytes(t, xt)
	return func(n int, w []byte, wrow, rows int, x []byte, xrow, ntok int, out []float32, ostride int) {
		nb := n / bs
		if nb == 0 || rows == 0 || ntok == 0 {
			for t := range ntok {
				clear(out[t*ostride : t*ostride+rows])
			}
			return
		}
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

// asmQuantizer wraps an activation quantizer that converts nb whole
// blocks of bs floats into bb bytes each.
func asmQuantizer(bs, bb int, k func(x *float32, y *byte, nb int)) func(dst []byte, src []float32) {
	return func(dst []byte, src []float32) {
		if nb := len(src) / bs; nb > 0 {
			_ = dst[nb*bb-1] // the asm must not write past dst
			k(&src[0], &dst[0], nb)
		}
	}
}

// asmConverter wraps a float conversion that takes whole groups of 8
// floats to es bytes each; tail, the portable conversion, does the rest.
func asmConverter(es int, k func(x *float32, y *byte, n int), tail func(dst []byte, src []float32)) func(dst []byte, src []float32) {
	return func(dst []byte, src []float32) {
		n := len(src) &^ 7
		if n > 0 {
			_ = dst[es*n-1]
			k(&src[0], &dst[0], n)
		}
		tail(dst[es*n:], src[n:])
	}
}
