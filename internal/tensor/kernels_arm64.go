//go:build !purego

package tensor

import (
	"os"

	"golang.org/x/sys/cpu"
)

// The arm64 kernels need only Advanced SIMD (NEON), which every arm64
// CPU has. The integer dot products use SDOT where the CPU has the dot
// product extension (FEAT_DotProd: optional in ARMv8.2, required from
// ARMv8.4; Cortex-A55/A76 and later, Neoverse, Apple M) and widening
// multiplies (SMULL, SADALP) where it has not (Cortex-A53/A72, as in the
// Raspberry Pi 3 and 4). Both sets are built from the same assembly
// macros and tested against the portable kernels.
var haveDotProd = cpu.ARM64.HasASIMDDP

// neonOps and sdotOps are the kernel sets this CPU can run (sdotOps is
// zero without the dot product): the plain NEON kernels, and the same
// with the SDOT integer kernels. ops is the best of them, unless the
// environment variable AINATIVE_SIMD says otherwise: "neon" keeps to the
// plain kernels, "none" to the portable ones (to compare whole runs;
// tests and benchmarks use the tables directly).
var neonOps, sdotOps opsTable

func archInit() {
	neonOps = goOps
	installNEON(&neonOps, false)
	ops, kernelsName = neonOps, "neon"
	if haveDotProd {
		sdotOps = goOps
		installNEON(&sdotOps, true)
		ops, kernelsName = sdotOps, "sdot"
	}
	switch os.Getenv("AINATIVE_SIMD") {
	case "neon":
		ops, kernelsName = neonOps, "neon"
	case "none":
		ops, kernelsName = goOps, "go"
	}
}

// installNEON puts the NEON kernels into table, with the SDOT integer
// kernels if dotProd is set.
func installNEON(table *opsTable, dotProd bool) {
	type pair struct {
		k1 kernel1
		k4 kernel4
	}
	integer := []struct {
		t          Type
		sdot, neon pair
	}{
		{Q8_0, pair{dotQ8_0x1SDOT, dotQ8_0x4SDOT}, pair{dotQ8_0x1NEON, dotQ8_0x4NEON}},
		{Q4_0, pair{dotQ4_0x1SDOT, dotQ4_0x4SDOT}, pair{dotQ4_0x1NEON, dotQ4_0x4NEON}},
		{Q5_0, pair{dotQ5_0x1SDOT, dotQ5_0x4SDOT}, pair{dotQ5_0x1NEON, dotQ5_0x4NEON}},
		{Q4_1, pair{dotQ4_1x1SDOT, dotQ4_1x4SDOT}, pair{dotQ4_1x1NEON, dotQ4_1x4NEON}},
		{Q5_1, pair{dotQ5_1x1SDOT, dotQ5_1x4SDOT}, pair{dotQ5_1x1NEON, dotQ5_1x4NEON}},
		{Q4_K, pair{dotQ4_Kx1SDOT, dotQ4_Kx4SDOT}, pair{dotQ4_Kx1NEON, dotQ4_Kx4NEON}},
		{Q5_K, pair{dotQ5_Kx1SDOT, dotQ5_Kx4SDOT}, pair{dotQ5_Kx1NEON, dotQ5_Kx4NEON}},
		{Q6_K, pair{dotQ6_Kx1SDOT, dotQ6_Kx4SDOT}, pair{dotQ6_Kx1NEON, dotQ6_Kx4NEON}},
		{Q2_K, pair{dotQ2_Kx1SDOT, dotQ2_Kx4SDOT}, pair{dotQ2_Kx1NEON, dotQ2_Kx4NEON}},
		{Q3_K, pair{dotQ3_Kx1SDOT, dotQ3_Kx4SDOT}, pair{dotQ3_Kx1NEON, dotQ3_Kx4NEON}},
		{IQ4_NL, pair{dotIQ4_NLx1SDOT, dotIQ4_NLx4SDOT}, pair{dotIQ4_NLx1NEON, dotIQ4_NLx4NEON}},
		{IQ4_XS, pair{dotIQ4_XSx1SDOT, dotIQ4_XSx4SDOT}, pair{dotIQ4_XSx1NEON, dotIQ4_XSx4NEON}},
		{IQ3_S, pair{dotIQ3_Sx1SDOT, dotIQ3_Sx4SDOT}, pair{dotIQ3_Sx1NEON, dotIQ3_Sx4NEON}},
		{IQ3_XXS, pair{dotIQ3_XXSx1SDOT, dotIQ3_XXSx4SDOT}, pair{dotIQ3_XXSx1NEON, dotIQ3_XXSx4NEON}},
	}
	for _, k := range integer {
		p := k.neon
		if dotProd {
			p = k.sdot
		}
		o := &table[k.t]
		o.dot = asmDot(k.t, o.dotType, p.k1)
		o.rows = asmRows(k.t, o.dotType, p.k1, p.k4)
	}

	o := &table[F32]
	o.dot = asmDot(F32, F32, dotF32x1NEON)
	o.rows = asmRows(F32, F32, dotF32x1NEON, dotF32x4NEON)
	// F16 and BF16: VecDot takes activations of the weight type, MatMul
	// F32 activations already rounded through it.
	for _, k := range []struct {
		t       Type
		vecDot  kernel1
		k1      kernel1
		k4      kernel4
		mmInput func(dst []byte, src []float32)
	}{
		{F16, dotF16F16x1NEON, dotF16x1NEON, dotF16x4NEON, asmConverter(4, roundF16NEON, roundF16)},
		{BF16, dotBF16BF16x1NEON, dotBF16x1NEON, dotBF16x4NEON, roundBF16},
	} {
		o := &table[k.t]
		o.dot = asmDot(k.t, k.t, k.vecDot)
		o.mmType = F32
		o.mmFromFloat = k.mmInput
		o.rows = asmRows(k.t, F32, k.k1, k.k4)
	}

	table[Q8_0].fromFloat = asmQuantizer(QK, q8_0Bytes, quantizeQ8_0NEON)
	table[Q8_1].fromFloat = asmQuantizer(QK, q8_1Bytes, quantizeQ8_1NEON)
	table[Q8_K].fromFloat = asmQuantizer(QKK, q8_KBytes, quantizeQ8_KNEON)
	table[F16].fromFloat = asmConverter(2, fp32ToFP16NEON, quantizeF16)
}

// byteSignMasks expands a byte of IQ3_S sign bits into eight byte masks,
// 0xFF for each set bit (a negative value), for the NEON kernels, which
// have no instruction for it (ksignMasks does the same for IQ3_XXS).
var byteSignMasks = func() (t [256]uint64) {
	for i := range t {
		for j := range 8 {
			if i>>j&1 != 0 {
				t[i] |= 0xff << (8 * j)
			}
		}
	}
	return t
}()

//go:noescape
func dotQ8_0x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ8_0x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_0x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_0x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_0x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_0x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_1x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_1x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_1x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_1x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ6_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ6_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ8_0x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ8_0x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_0x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_0x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_0x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_0x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_1x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_1x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_1x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_1x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ4_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ4_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ5_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ5_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ6_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ6_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotF32x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotF32x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotF16x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotF16x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotBF16x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotBF16x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotF16F16x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotBF16BF16x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func quantizeQ8_0NEON(x *float32, y *byte, nb int)

//go:noescape
func quantizeQ8_1NEON(x *float32, y *byte, nb int)

//go:noescape
func quantizeQ8_KNEON(x *float32, y *byte, nb int)

//go:noescape
func fp32ToFP16NEON(x *float32, y *byte, n int)

//go:noescape
func roundF16NEON(x *float32, y *byte, n int)

//go:noescape
func dotQ2_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ2_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ2_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ2_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ3_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ3_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotQ3_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotQ3_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ4_NLx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ4_NLx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ4_NLx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ4_NLx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ4_XSx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ4_XSx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ4_XSx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ4_XSx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ3_Sx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ3_Sx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ3_Sx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ3_Sx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ3_XXSx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ3_XXSx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)

//go:noescape
func dotIQ3_XXSx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)

//go:noescape
func dotIQ3_XXSx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
