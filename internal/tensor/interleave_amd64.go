//go:build !purego

package tensor

// installInterleaved gives the signed 32-element types of table their
// interleaved path (interleave.go).
func installInterleaved(table *opsTable) {
	for _, k := range []struct {
		t      Type
		repack func(w *byte, wstride uintptr, groups, nb int, dst *byte)
	}{
		{Q8_0, repackQ8_0x8AVX2},
		{Q4_0, repackQ4_0x8AVX2},
		{Q5_0, repackQ5_0x8AVX2},
		{IQ4_NL, repackIQ4_NLx8AVX2},
	} {
		table[k.t].il = &interleaved{repack: ilRepack(k.repack, k.t.BlockBytes()), rows4: ilRows4}
	}
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

// ilRows4 wraps the interleaved kernel, checking every bound the asm
// relies on.
func ilRows4(w8 []byte, groups, nb int, x []byte, xrow int, xd []float32, out []float32, ostride int) {
	if groups <= 0 {
		return
	}
	if nb <= 0 {
		for t := range 4 {
			clear(out[t*ostride : t*ostride+ilRows*groups])
		}
		return
	}
	_, _ = w8[groups*nb*ilBlockBytes-1], x[3*xrow+nb*q8_0Bytes-1]
	_, _ = xd[4*nb-1], out[3*ostride+ilRows*groups-1]
	dotI8x8x4AVX2(&w8[0], groups, nb, &x[0], uintptr(xrow), &xd[0], uintptr(4*nb), &out[0], uintptr(ostride))
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
