//go:build !purego

#include "textflag.h"
#include "asm_arm64.h"

// Activation quantizers, byte for byte the portable ones (q8Block,
// quantizeQ8_K, FP32ToFP16), which follow ggml's x86 code:
//
//   - Q8_0/Q8_1: d = amax/127 stored as F16, multiplier 127/amax (0 when
//     amax is 0), each product rounded to float32 (FMUL, not fused), then
//     to the nearest integer, ties to even (FCVTNS), saturated to int8
//     (SQXTN twice). Q8_1 adds s = d*sum(q) from the saturated quants.
//   - Q8_K: the value of largest magnitude (the first such) gives
//     iscale = -127/max; q = the exact product iscale*x rounded half to
//     even, by one FMA with 1.5*2^23 (the fused nearest_int of llama.cpp's
//     FMA builds), capped at 127 and truncated to int8; bsums are the
//     sums of each 16 stored quants.
//   - F16: FCVTN rounds to nearest even with IEEE subnormals and keeps a
//     NaN's payload, as VCVTPS2PH does (Linux leaves FPCR at its default:
//     round to nearest, no flush to zero, no default NaN).

// Q8BLOCK quantizes the 32 floats at R0 (advancing it) into 32 int8 in V0
// (elements 0-15) and V1 (16-31); leaves d in S17. V29 = 0, S30 = 127.
#define Q8BLOCK \
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]; \
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]; \
	FABS_4S(8, 0); \
	FABS_4S(9, 1); \
	FABS_4S(10, 2); \
	FABS_4S(11, 3); \
	FABS_4S(12, 4); \
	FABS_4S(13, 5); \
	FABS_4S(14, 6); \
	FABS_4S(15, 7); \
	FMAX_4S(8, 8, 9); \
	FMAX_4S(10, 10, 11); \
	FMAX_4S(12, 12, 13); \
	FMAX_4S(14, 14, 15); \
	FMAX_4S(8, 8, 10); \
	FMAX_4S(12, 12, 14); \
	FMAX_4S(8, 8, 12); \
	FMAXV(16, 8); \
	FDIVS F30, F16, F17; \
	FDIVS F16, F30, F18; \
	FCMPS F29, F16; \
	FCSELS EQ, F29, F18, F18; \
	FMUL_S(0, 0, 18, 0); \
	FMUL_S(1, 1, 18, 0); \
	FMUL_S(2, 2, 18, 0); \
	FMUL_S(3, 3, 18, 0); \
	FMUL_S(4, 4, 18, 0); \
	FMUL_S(5, 5, 18, 0); \
	FMUL_S(6, 6, 18, 0); \
	FMUL_S(7, 7, 18, 0); \
	FCVTNS_4S(0, 0); \
	FCVTNS_4S(1, 1); \
	FCVTNS_4S(2, 2); \
	FCVTNS_4S(3, 3); \
	FCVTNS_4S(4, 4); \
	FCVTNS_4S(5, 5); \
	FCVTNS_4S(6, 6); \
	FCVTNS_4S(7, 7); \
	SQXTN_4H(0, 0); \
	SQXTN2_8H(0, 1); \
	SQXTN_4H(2, 2); \
	SQXTN2_8H(2, 3); \
	SQXTN_4H(4, 4); \
	SQXTN2_8H(4, 5); \
	SQXTN_4H(6, 6); \
	SQXTN2_8H(6, 7); \
	SQXTN_8B(0, 0); \
	SQXTN2_16B(0, 2); \
	SQXTN_8B(1, 4); \
	SQXTN2_16B(1, 6)

#define Q8SETUP \
	ZERO(29); \
	FMOVS $127.0, F30

// func quantizeQ8_0NEON(x *float32, y *byte, nb int)
TEXT ·quantizeQ8_0NEON(SB), NOSPLIT, $0-24
	MOVD x+0(FP), R0
	MOVD y+8(FP), R1
	MOVD nb+16(FP), R2
	Q8SETUP

q80:
	Q8BLOCK
	FCVTSH F17, F17
	FMOVS  F17, R9
	MOVH.P R9, 2(R1)
	VST1.P [V0.B16, V1.B16], 32(R1)
	SUBS   $1, R2
	BNE    q80
	RET

// func quantizeQ8_1NEON(x *float32, y *byte, nb int)
TEXT ·quantizeQ8_1NEON(SB), NOSPLIT, $0-24
	MOVD x+0(FP), R0
	MOVD y+8(FP), R1
	MOVD nb+16(FP), R2
	Q8SETUP

q81:
	Q8BLOCK
	// s = d * the sum of the stored quants.
	SADDLV_B(20, 0)
	SADDLV_B(21, 1)
	VMOV    V20.H[0], R9
	VMOV    V21.H[0], R10
	MOVH    R9, R9
	MOVH    R10, R10
	ADD     R10, R9
	SCVTFWS R9, F19
	FMULS   F19, F17, F19
	FCVTSH  F19, F19
	FMOVS   F19, R10
	FCVTSH  F17, F17
	FMOVS   F17, R9
	MOVH    R9, (R1)
	MOVH    R10, 2(R1)
	ADD     $4, R1
	VST1.P  [V0.B16, V1.B16], 32(R1)
	SUBS    $1, R2
	BNE     q81
	RET

// func fp32ToFP16NEON(x *float32, y *byte, n int)
// n % 8 == 0.
TEXT ·fp32ToFP16NEON(SB), NOSPLIT, $0-24
	MOVD x+0(FP), R0
	MOVD y+8(FP), R1
	MOVD n+16(FP), R2
	LSR  $3, R2
	CBZ  R2, hdone

h8:
	VLD1.P 32(R0), [V0.S4, V1.S4]
	FCVTN_4H(2, 0)
	FCVTN2_8H(2, 1)
	VST1.P [V2.H8], 16(R1)
	SUBS   $1, R2
	BNE    h8

hdone:
	RET

// func roundF16NEON(x *float32, y *byte, n int)
// y = x rounded to F16 (nearest even) and back; n % 8 == 0.
TEXT ·roundF16NEON(SB), NOSPLIT, $0-24
	MOVD x+0(FP), R0
	MOVD y+8(FP), R1
	MOVD n+16(FP), R2
	LSR  $3, R2
	CBZ  R2, rdone

r8:
	VLD1.P 32(R0), [V0.S4, V1.S4]
	FCVTN_4H(2, 0)
	FCVTN2_8H(2, 1)
	FCVTL_4S(0, 2)
	FCVTL2_4S(1, 2)
	VST1.P [V0.S4, V1.S4], 32(R1)
	SUBS   $1, R2
	BNE    r8

rdone:
	RET

// Q8KQUANT32 quantizes the next 32 floats at R0 with the multiplier in
// lane 0 of V1 (see above) into 32 bytes at R1 and two bsums at R11.
// V28 = 1.5*2^23 (float bits, also the integer subtracted), V27 = 127.
#define Q8KQUANT32 \
	VLD1.P 64(R0), [V2.S4, V3.S4, V4.S4, V5.S4]; \
	VLD1.P 64(R0), [V6.S4, V7.S4, V8.S4, V9.S4]; \
	VMOV V28.B16, V10.B16; \
	VMOV V28.B16, V11.B16; \
	VMOV V28.B16, V12.B16; \
	VMOV V28.B16, V13.B16; \
	VMOV V28.B16, V14.B16; \
	VMOV V28.B16, V15.B16; \
	VMOV V28.B16, V16.B16; \
	VMOV V28.B16, V17.B16; \
	FMLA_S(10, 2, 1, 0); \
	FMLA_S(11, 3, 1, 0); \
	FMLA_S(12, 4, 1, 0); \
	FMLA_S(13, 5, 1, 0); \
	FMLA_S(14, 6, 1, 0); \
	FMLA_S(15, 7, 1, 0); \
	FMLA_S(16, 8, 1, 0); \
	FMLA_S(17, 9, 1, 0); \
	VSUB V28.S4, V10.S4, V10.S4; \
	VSUB V28.S4, V11.S4, V11.S4; \
	VSUB V28.S4, V12.S4, V12.S4; \
	VSUB V28.S4, V13.S4, V13.S4; \
	VSUB V28.S4, V14.S4, V14.S4; \
	VSUB V28.S4, V15.S4, V15.S4; \
	VSUB V28.S4, V16.S4, V16.S4; \
	VSUB V28.S4, V17.S4, V17.S4; \
	SMIN_4S(10, 10, 27); \
	SMIN_4S(11, 11, 27); \
	SMIN_4S(12, 12, 27); \
	SMIN_4S(13, 13, 27); \
	SMIN_4S(14, 14, 27); \
	SMIN_4S(15, 15, 27); \
	SMIN_4S(16, 16, 27); \
	SMIN_4S(17, 17, 27); \
	VUZP1 V11.H8, V10.H8, V10.H8; \
	VUZP1 V13.H8, V12.H8, V12.H8; \
	VUZP1 V15.H8, V14.H8, V14.H8; \
	VUZP1 V17.H8, V16.H8, V16.H8; \
	VUZP1 V12.B16, V10.B16, V10.B16; \
	VUZP1 V16.B16, V14.B16, V14.B16; \
	VST1.P [V10.B16], 16(R1); \
	VST1.P [V14.B16], 16(R1); \
	SADDLV_B(18, 10); \
	SADDLV_B(19, 14); \
	VST1.P V18.H[0], 2(R11); \
	VST1.P V19.H[0], 2(R11)

// func quantizeQ8_KNEON(x *float32, y *byte, nb int)
TEXT ·quantizeQ8_KNEON(SB), NOSPLIT, $0-24
	MOVD   x+0(FP), R0
	MOVD   y+8(FP), R1
	MOVD   nb+16(FP), R2
	MOVW   $0x4b400000, R9
	VDUP   R9, V28.S4
	MOVW   $127, R9
	VDUP   R9, V27.S4
	FMOVS  $-127.0, F26
	FMOVS  $1.0, F25

blockK:
	// The largest and the smallest value (NaNs skipped, as the portable
	// code skips them; the zero start is its amax = 0).
	MOVD R0, R9
	MOVD $16, R10
	ZERO(16)
	ZERO(17)
	ZERO(18)
	ZERO(19)
	ZERO(20)
	ZERO(21)
	ZERO(22)
	ZERO(23)

extremaK:
	VLD1.P 64(R9), [V0.S4, V1.S4, V2.S4, V3.S4]
	FMAXNM_4S(16, 16, 0)
	FMAXNM_4S(17, 17, 1)
	FMAXNM_4S(18, 18, 2)
	FMAXNM_4S(19, 19, 3)
	FMINNM_4S(20, 20, 0)
	FMINNM_4S(21, 21, 1)
	FMINNM_4S(22, 22, 2)
	FMINNM_4S(23, 23, 3)
	SUBS $1, R10
	BNE  extremaK
	FMAXNM_4S(16, 16, 17)
	FMAXNM_4S(18, 18, 19)
	FMAXNM_4S(16, 16, 18)
	FMAXNMV(16, 16)
	FMINNM_4S(20, 20, 21)
	FMINNM_4S(22, 22, 23)
	FMINNM_4S(20, 20, 22)
	FMINNMV(20, 20)

	// The value of largest magnitude is the maximum or the minimum; if
	// both have it, the first element that does.
	FNEGS F20, F21
	FCMPS F21, F16
	BGT   posK
	BMI   negK
	FCMPS $(0.0), F16
	BEQ   zeroK
	MOVD  R0, R9
	MOVD  $256, R10

scanK:
	FMOVS.P 4(R9), F0
	FABSS   F0, F1
	FCMPS   F16, F1
	BEQ     quantK
	SUBS    $1, R10
	BNE     scanK

	// Not reached for finite input.
posK:
	FMOVS F16, F0
	B     quantK

negK:
	FMOVS F20, F0

quantK:
	FDIVS   F0, F26, F1 // iscale = -127/max
	FDIVS   F1, F25, F2 // d = 1/iscale
	FMOVS.P F2, 4(R1)
	ADD     $256, R1, R11
	Q8KQUANT32
	Q8KQUANT32
	Q8KQUANT32
	Q8KQUANT32
	Q8KQUANT32
	Q8KQUANT32
	Q8KQUANT32
	Q8KQUANT32
	MOVD    R11, R1
	B       nextK

zeroK:
	// All zero: d, quants and sums are 0.
	ZERO(0)
	ZERO(1)
	MOVD $9, R10

zeroLoopK:
	VST1.P [V0.B16, V1.B16], 32(R1)
	SUBS   $1, R10
	BNE    zeroLoopK
	MOVW   ZR, (R1)
	ADD    $4, R1
	ADD    $1024, R0

nextK:
	SUBS $1, R2
	BNE  blockK
	RET
