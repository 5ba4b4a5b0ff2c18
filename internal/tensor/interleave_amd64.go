//go:build !purego

package tensor

import "unsafe"

// ilRepacks are the repacks of the types with an interleaved path: to
// signed int8 weights for the AVX2 kernel, to unsigned (w+128) ones for
// the VNNI kernel.
var ilRepacks = []struct {
	t                Type
	signed, unsigned func(w *byte, wstride uintptr, groups, nb int, dst *byte)
}{
	{Q8_0, repackQ8_0x8AVX2, repackQ8_0x8U},
	{Q4_0, repackQ4_0x8AVX2, repackQ4_0x8U},
	{Q5_0, repackQ5_0x8AVX2, repackQ5_0x8U},
	{IQ4_NL, repackIQ4_NLx8AVX2, repackIQ4_NLx8U},
}

// installInterleaved gives the signed 32-element types of table their
// interleaved path (interleave.go) with the AVX2 kernel.
func installInterleaved(table *opsTable) {
	for _, k := range ilRepacks {
		table[k.t].il = &interleaved{repack: ilRepack(k.signed, k.t.BlockBytes()), xdPer: 1, xd: q8Scales, rows4: ilRows4}
	}
}

// installInterleavedVNNI gives them the path with the VNNI kernel.
func installInterleavedVNNI(table *opsTable) {
	for _, k := range ilRepacks {
		table[k.t].il = &interleaved{repack: ilRepack(k.unsigned, k.t.BlockBytes()), flip: 0x80, xdPer: 2, xd: q8SumsVNNI, rows4: ilRows4VNNI}
	}
}

// q8SumsVNNI is q8Sums with the one-token activation table's asm.
func q8SumsVNNI(xd []float32, xq []byte) {
	nb := len(xd) / 2
	if nb == 0 {
		return
	}
	_, _ = xq[nb*q8_0Bytes-1], xd[2*nb-1]
	prepQ8_0x1(&xq[0], nb, 7, (*byte)(unsafe.Pointer(&xd[0])))
}

// ilRepack wraps a repack, checking every bound the asm relies on.
func ilRepack(k func(w *byte, wstride uintptr, groups, nb int, dst *byte), bb int) func(dst, w []byte, wrow, groups, nb int) {
	return func(dst, w []byte, wrow, groups, nb int) {
		if groups <= 0 || nb <= 0 {
			return
		}
		_, _ = w[(ilRows*groups-1)*wrow+nb*bb-1], dst[groups*nb*ilBlockBytes-1]
		k(&w[0], uintptr(wrow), groups, nb, &dst[0])
	}
}

// ilRows4 wraps the AVX2 interleaved kernel, checking every bound the
// asm relies on.
func ilRows4(w8 []byte, groups, nb int, x []byte, xrow int, xd []float32, out []float32, ostride int) {
	if ilEmpty(groups, nb, out, ostride) {
		return
	}
	_, _ = w8[groups*nb*ilBlockBytes-1], x[3*xrow+nb*q8_0Bytes-1]
	_, _ = xd[4*nb-1], out[3*ostride+ilRows*groups-1]
	dotI8x8x4AVX2(&w8[0], groups, nb, &x[0], uintptr(xrow), &xd[0], uintptr(4*nb), &out[0], uintptr(ostride))
}

// ilRows4VNNI wraps the VNNI interleaved kernel, checking every bound the
// asm relies on.
func ilRows4VNNI(w8 []byte, groups, nb int, x []byte, xrow int, xd []float32, out []float32, ostride int) {
	if ilEmpty(groups, nb, out, ostride) {
		return
	}
	_, _ = w8[groups*nb*ilBlockBytes-1], x[3*xrow+nb*q8_0Bytes-1]
	_, _ = xd[4*2*nb-1], out[3*ostride+ilRows*groups-1]
	xdp := (*byte)(unsafe.Pointer(&xd[0]))
	if pairs := groups / 2; pairs > 0 {
		dotU8x16x4VNNI(&w8[0], pairs, nb, &x[0], uintptr(xrow), xdp, uintptr(8*nb), &out[0], uintptr(ostride))
	}
	if groups%2 == 1 {
		g := groups - 1
		dotU8x8x4VNNI(&w8[g*nb*ilBlockBytes], 1, nb, &x[0], uintptr(xrow), xdp, uintptr(8*nb), &out[g*ilRows], uintptr(ostride))
	}
}

// ilEmpty reports whether a kernel call has nothing for the asm: no
// groups, or no blocks (then the sums are zero).
func ilEmpty(groups, nb int, out []float32, ostride int) bool {
	if groups <= 0 {
		return true
	}
	if nb <= 0 {
		for t := range 4 {
			clear(out[t*ostride : t*ostride+ilRows*groups])
		}
		return true
	}
	return false
}

//go:noescape
func dotI8x8x4AVX2(w *byte, groups int, nb int, x *byte, xstride uintptr, xd *float32, xdstride uintptr, dst *float32, dstride uintptr)

//go:noescape
func repackQ8_0x8AVX2(w *byte, wstride uintptr, groups int, nb int, dst *byte)

//go:noescape
func repackQ4_0x8AVX2(w *byte, wstride uintptr, groups int, nb int, dst *byte)

//go:noescape
func repackQ5_0x8AVX2(w *byte, wstride uintptr, groups int, nb int, dst *byte)

//go:noescape
func repackIQ4_NLx8AVX2(w *byte, wstride uintptr, groups int, nb int, dst *byte)

//go:noescape
func dotU8x16x4VNNI(w *byte, pairs int, nb int, x *byte, xstride uintptr, xd *byte, xdstride uintptr, dst *float32, dstride uintptr)

//go:noescape
func dotU8x8x4VNNI(w *byte, groups int, nb int, x *byte, xstride uintptr, xd *byte, xdstride uintptr, dst *float32, dstride uintptr)

//go:noescape
func repackQ8_0x8U(w *byte, wstride uintptr, groups int, nb int, dst *byte)

//go:noescape
func repackQ4_0x8U(w *byte, wstride uintptr, groups int, nb int, dst *byte)

//go:noescape
func repackQ5_0x8U(w *byte, wstride uintptr, groups int, nb int, dst *byte)

//go:noescape
func repackIQ4_NLx8U(w *byte, wstride uintptr, groups int, nb int, dst *byte)
