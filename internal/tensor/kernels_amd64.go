//go:build !purego

package tensor

import (
	"os"

	"golang.org/x/sys/cpu"
)

// The amd64 kernels need AVX2 for the integer dot products, FMA for the
// float accumulation and F16C for the F16 scales of the blocks (all three
// arrived together with Haswell and Zen).
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// avx2Ops and avx512Ops are the kernel sets this CPU can run (zero where
// it lacks the features): the AVX2 kernels, and those with the AVX-512
// kernels that beat them put in (kernels_avx512_amd64.go). ops is the
// best of them, unless the environment variable AINATIVE_SIMD says
// otherwise: "avx2" keeps to AVX2, "none" to the portable kernels (to
// compare whole runs; tests and benchmarks use the tables directly).
var avx2Ops, avx512Ops opsTable

func archInit() {
	if !haveAVX2 {
		return
	}
	installAVX2(&ops)
	avx2Ops = ops
	if haveAVX512 {
		installAVX512(&ops)
		avx512Ops = ops
	}
	switch os.Getenv("AINATIVE_SIMD") {
	case "avx2":
		ops = avx2Ops
	case "none":
		ops = goOps
	}
}

// installAVX2 puts the AVX2 kernels into table.
func installAVX2(table *opsTable) {
	for _, k := range []struct {
		t      Type
		k1     kernel1
		k4     kernel4
		vecDot kernel1 // for F16 and BF16, whose MatMul kernels take F32
	}{
		{Q8_0, dotQ8_0x1AVX2, dotQ8_0x4AVX2, nil},
		{Q4_0, dotQ4_0x1AVX2, dotQ4_0x4AVX2, nil},
		{Q5_0, dotQ5_0x1AVX2, dotQ5_0x4AVX2, nil},
		{Q4_1, dotQ4_1x1AVX2, dotQ4_1x4AVX2, nil},
		{Q5_1, dotQ5_1x1AVX2, dotQ5_1x4AVX2, nil},
		{Q4_K, dotQ4_Kx1AVX2, dotQ4_Kx4AVX2, nil},
		{Q5_K, dotQ5_Kx1AVX2, dotQ5_Kx4AVX2, nil},
		{Q6_K, dotQ6_Kx1AVX2, dotQ6_Kx4AVX2, nil},
		{F32, dotF32x1AVX2, dotF32x4AVX2, nil},
		{F16, dotF16x1AVX2, dotF16x4AVX2, dotF16F16x1AVX2},
		{BF16, dotBF16x1AVX2, dotBF16x4AVX2, dotBF16BF16x1AVX2},
	} {
		o := &table[k.t]
		if k.vecDot == nil {
			o.dot = asmDot(k.t, o.dotType, k.k1)
			o.rows = asmRows(k.t, o.dotType, k.k1, k.k4)
			continue
		}
		o.dot = asmDot(k.t, k.t, k.vecDot)
		o.mmType = F32
		o.mmFromFloat = roundF16
		if k.t == BF16 {
			o.mmFromFloat = roundBF16
		}
		o.rows = asmRows(k.t, F32, k.k1, k.k4)
	}
	table[Q8_0].fromFloat = func(dst []byte, src []float32) {
		if nb := len(src) / QK; nb > 0 {
			_ = dst[nb*q8_0Bytes-1]
			quantizeQ8_0AVX2(&src[0], &dst[0], nb)
		}
	}
	table[Q8_1].fromFloat = func(dst []byte, src []float32) {
		if nb := len(src) / QK; nb > 0 {
			_ = dst[nb*q8_1Bytes-1]
			quantizeQ8_1AVX2(&src[0], &dst[0], nb)
		}
	}
	table[Q8_K].fromFloat = func(dst []byte, src []float32) {
		if nb := len(src) / QKK; nb > 0 {
			_ = dst[nb*q8_KBytes-1]
			quantizeQ8_KAVX2(&src[0], &dst[0], nb)
		}
	}
	table[F16].fromFloat = func(dst []byte, src []float32) {
		n := len(src) &^ 7
		if n > 0 {
			_ = dst[2*n-1]
			fp32ToFP16AVX2(&src[0], &dst[0], n)
		}
		quantizeF16(dst[2*n:], src[n:])
	}
	table[F16].mmFromFloat = func(dst []byte, src []float32) {
		n := len(src) &^ 7
		if n > 0 {
			_ = dst[4*n-1]
			roundF16AVX2(&src[0], &dst[0], n)
		}
		roundF16(dst[4*n:], src[n:])
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

//go:noescape
func dotQ4_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ6_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ6_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotF32x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotF32x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotF16x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotF16x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotBF16x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotBF16x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotF16F16x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotBF16BF16x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func quantizeQ8_0AVX2(x *float32, y *byte, nb int)

//go:noescape
func quantizeQ8_1AVX2(x *float32, y *byte, nb int)

//go:noescape
func roundF16AVX2(x *float32, y *byte, n int)

//go:noescape
func fp32ToFP16AVX2(x *float32, y *byte, n int)

//go:noescape
func quantizeQ8_KAVX2(x *float32, y *byte, nb int)
