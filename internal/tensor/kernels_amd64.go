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
	avx2Ops, kernelsName = ops, "avx2"
	if haveAVX512 {
		installAVX512(&ops)
		avx512Ops, kernelsName = ops, "avx512"
	}
	switch os.Getenv("AINATIVE_SIMD") {
	case "avx2":
		ops, kernelsName = avx2Ops, "avx2"
	case "none":
		ops, kernelsName = goOps, "go"
	}
	vmathAVX2 = kernelsName != "go"
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
		{Q2_K, dotQ2_Kx1AVX2, dotQ2_Kx4AVX2, nil},
		{Q3_K, dotQ3_Kx1AVX2, dotQ3_Kx4AVX2, nil},
		{Q4_K, dotQ4_Kx1AVX2, dotQ4_Kx4AVX2, nil},
		{IQ4_NL, dotIQ4_NLx1AVX2, dotIQ4_NLx4AVX2, nil},
		{IQ4_XS, dotIQ4_XSx1AVX2, dotIQ4_XSx4AVX2, nil},
		{IQ3_S, dotIQ3_Sx1AVX2, dotIQ3_Sx4AVX2, nil},
		{IQ3_XXS, dotIQ3_XXSx1AVX2, dotIQ3_XXSx4AVX2, nil},
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
	installInterleaved(table)
	table[Q8_0].fromFloat = asmQuantizer(QK, q8_0Bytes, quantizeQ8_0AVX2)
	table[Q8_1].fromFloat = asmQuantizer(QK, q8_1Bytes, quantizeQ8_1AVX2)
	table[Q8_K].fromFloat = asmQuantizer(QKK, q8_KBytes, quantizeQ8_KAVX2)
	table[F16].fromFloat = asmConverter(2, fp32ToFP16AVX2, quantizeF16)
	table[F16].mmFromFloat = asmConverter(4, roundF16AVX2, roundF16)
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
func dotQ2_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ2_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ3_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ3_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ4_NLx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ4_NLx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ4_XSx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ4_XSx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ3_Sx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ3_Sx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ3_XXSx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ3_XXSx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

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
