//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

// Vector math of the attention softmax and the SwiGLU activation, eight
// floats at a time: exp by ggml_v_expf's algorithm with its fused
// multiply-adds, as ggml's AVX2 build evaluates it. The callers
// (vmath_amd64.go) pass lengths that are multiples of 8.

SPLAT32(kShift, 0x4b4000004b400000)
SPLAT32(kLog2e, 0x3fb8aa3b3fb8aa3b)
SPLAT32(kLn2Hi, 0x3f3172003f317200)
SPLAT32(kLn2Lo, 0x35bfbe8e35bfbe8e)
SPLAT32(kC4, 0x3c0720103c072010)
SPLAT32(kC3, 0x3d2b9f173d2b9f17)
SPLAT32(kC2, 0x3e2aaf333e2aaf33)
SPLAT32(kC1, 0x3efffedb3efffedb)
SPLAT32(kC0, 0x3f7ffff63f7ffff6)
SPLAT32(kOne, 0x3f8000003f800000)
SPLAT32(k126, 0x42fc000042fc0000)
SPLAT32(k192, 0x4340000043400000)
SPLAT32(kAbs, 0x7fffffff7fffffff)
SPLAT32(k82, 0x8200000082000000)
SPLAT32(k7F, 0x7f0000007f000000)

// VEXP sets Y5 = exp(Y0) using Y1-Y9 (and the labels expbig, expdone):
// z = x/ln2 rounded into the low mantissa bits of 1.5*2^23, n = z - that,
// b = x - n*ln2 (ln2 in two parts), exp(x) = 2^n + 2^n*j(b), j a
// polynomial. Where some lane's 2^n does not fit a float32 exponent
// (|n| > 126) the scale is built in two factors, or the result saturates
// to 0 or +Inf (|n| > 192), as in expf (vmath.go).
#define VEXP \
	VMOVUPS kShift<>(SB), Y1; \
	VFMADD231PS kLog2e<>(SB), Y0, Y1; \
	VSUBPS kShift<>(SB), Y1, Y2; \
	VMOVAPS Y0, Y3; \
	VFNMADD231PS kLn2Hi<>(SB), Y2, Y3; \
	VFNMADD231PS kLn2Lo<>(SB), Y2, Y3; \
	VPSLLD $23, Y1, Y4; \
	VPADDD kOne<>(SB), Y4, Y5; \
	VANDPS kAbs<>(SB), Y2, Y6; \
	VCMPPS $0x1e, k126<>(SB), Y6, Y6; \
	VMULPS Y3, Y3, Y1; \
	VMOVUPS kC3<>(SB), Y7; \
	VFMADD231PS kC4<>(SB), Y3, Y7; \
	VMOVUPS kC1<>(SB), Y8; \
	VFMADD231PS kC2<>(SB), Y3, Y8; \
	VFMADD213PS Y8, Y1, Y7; \
	VMULPS kC0<>(SB), Y3, Y9; \
	VFMADD213PS Y9, Y1, Y7; \
	VMOVMSKPS Y6, AX; \
	TESTL AX, AX; \
	JNZ expbig; \
	VFMADD213PS Y5, Y7, Y5; \
	JMP expdone; \
expbig: \
	VXORPS Y1, Y1, Y1; \
	VCMPPS $0x12, Y1, Y2, Y1; \
	VANDPS k82<>(SB), Y1, Y1; \
	VPADDD k7F<>(SB), Y1, Y3; \
	VPSUBD Y1, Y4, Y8; \
	VANDPS kAbs<>(SB), Y2, Y9; \
	VCMPPS $0x1e, k192<>(SB), Y9, Y9; \
	VMULPS Y3, Y3, Y1; \
	VFMADD213PS Y8, Y7, Y8; \
	VMULPS Y3, Y8, Y8; \
	VFMADD213PS Y5, Y7, Y5; \
	VBLENDVPS Y6, Y8, Y5, Y5; \
	VBLENDVPS Y9, Y1, Y5, Y5; \
expdone:

// func scaleMaxAVX2(x *float32, n int, scale float32) float32
// x[i] *= scale for i < n; returns the largest result (-Inf if n is 0).
TEXT ·scaleMaxAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS scale+16(FP), Y1
	MOVL $0xff800000, AX
	VMOVD AX, X2
	VBROADCASTSS X2, Y2
	SHRQ $3, CX
	JZ smdone
smloop:
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	VMAXPS Y0, Y2, Y2
	ADDQ $32, SI
	DECQ CX
	JNZ smloop
smdone:
	VEXTRACTF128 $1, Y2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXPS X3, X2, X2
	VMOVSS X2, ret+24(FP)
	VZEROUPPER
	RET

// func expSubSumAVX2(x *float32, n int, sub float32) float64
// x[i] = exp(x[i] - sub) for i < n; returns the sum of the results,
// accumulated in float64 (eight partial sums).
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS sub+16(FP), Y12
	VXORPD Y13, Y13, Y13
	VXORPD Y14, Y14, Y14
	SHRQ $3, CX
	JZ esdone
esloop:
	VMOVUPS (SI), Y0
	VSUBPS Y12, Y0, Y0
	VEXP
	VMOVUPS Y5, (SI)
	VCVTPS2PD X5, Y10
	VADDPD Y10, Y13, Y13
	VEXTRACTF128 $1, Y5, X11
	VCVTPS2PD X11, Y11
	VADDPD Y11, Y14, Y14
	ADDQ $32, SI
	DECQ CX
	JNZ esloop
esdone:
	VADDPD Y14, Y13, Y13
	VEXTRACTF128 $1, Y13, X14
	VADDPD X14, X13, X13
	VPERMILPD $1, X13, X14
	VADDSD X14, X13, X13
	VMOVSD X13, ret+24(FP)
	VZEROUPPER
	RET

// func scaleAVX2(x *float32, n int, s float32)
// x[i] *= s for i < n.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Y1
	SHRQ $3, CX
	JZ scdone
scloop:
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	DECQ CX
	JNZ scloop
scdone:
	VZEROUPPER
	RET

// func swigluAVX2(gate, up *float32, n int)
// gate[i] = gate[i] / (1 + exp(-gate[i])) * up[i] for i < n, as
// ggml_v_silu and ggml_vec_swiglu_f32 compute it.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), SI
	MOVQ up+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ swdone
swloop:
	VMOVUPS (SI), Y11
	VXORPS Y0, Y0, Y0
	VSUBPS Y11, Y0, Y0
	VEXP
	VADDPS kOne<>(SB), Y5, Y5
	VDIVPS Y5, Y11, Y11
	VMULPS (DI), Y11, Y11
	VMOVUPS Y11, (SI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ swloop
swdone:
	VZEROUPPER
	RET
