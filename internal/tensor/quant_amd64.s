//go:build !purego

#include "textflag.h"

// Activation quantizers, bit for bit ggml's AVX2 quantize_row_q8_0/q8_1:
// d = amax/127 stored as F16, multiplier 127/amax (0 when amax is 0),
// VROUNDPS to nearest even, saturating packs to int8.

DATA kSign<>+0(SB)/4, $0x80000000
GLOBL kSign<>(SB), RODATA|NOPTR, $4

DATA k127<>+0(SB)/4, $127.0
GLOBL k127<>(SB), RODATA|NOPTR, $4

// Dword order that undoes VPACKSSDW/VPACKSSWB's per-lane interleaving.
DATA kPackPerm<>+0(SB)/4, $0
DATA kPackPerm<>+4(SB)/4, $4
DATA kPackPerm<>+8(SB)/4, $1
DATA kPackPerm<>+12(SB)/4, $5
DATA kPackPerm<>+16(SB)/4, $2
DATA kPackPerm<>+20(SB)/4, $6
DATA kPackPerm<>+24(SB)/4, $3
DATA kPackPerm<>+28(SB)/4, $7
GLOBL kPackPerm<>(SB), RODATA|NOPTR, $32

// Q8BLOCK quantizes the 32 floats at (SI) into Y0-Y3 as int32 and leaves
// d (float) in X5. Y14 = sign mask, Y13 = 127.0 broadcast.
#define Q8BLOCK \
	VMOVUPS (SI), Y0; \
	VMOVUPS 32(SI), Y1; \
	VMOVUPS 64(SI), Y2; \
	VMOVUPS 96(SI), Y3; \
	VANDNPS Y0, Y14, Y4; \
	VANDNPS Y1, Y14, Y5; \
	VMAXPS Y5, Y4, Y4; \
	VANDNPS Y2, Y14, Y5; \
	VMAXPS Y5, Y4, Y4; \
	VANDNPS Y3, Y14, Y5; \
	VMAXPS Y5, Y4, Y4; \
	VEXTRACTF128 $1, Y4, X5; \
	VMAXPS X5, X4, X4; \
	VMOVHLPS X4, X4, X5; \
	VMAXPS X5, X4, X4; \
	VMOVSHDUP X4, X5; \
	VMAXSS X5, X4, X4; \
	VDIVSS X13, X4, X5; \
	VDIVSS X4, X13, X6; \
	VXORPS X7, X7, X7; \
	VCMPPS $4, X7, X4, X7; \
	VANDPS X7, X6, X6; \
	VBROADCASTSS X6, Y6; \
	VMULPS Y6, Y0, Y0; \
	VMULPS Y6, Y1, Y1; \
	VMULPS Y6, Y2, Y2; \
	VMULPS Y6, Y3, Y3; \
	VROUNDPS $0, Y0, Y0; \
	VROUNDPS $0, Y1, Y1; \
	VROUNDPS $0, Y2, Y2; \
	VROUNDPS $0, Y3, Y3; \
	VCVTPS2DQ Y0, Y0; \
	VCVTPS2DQ Y1, Y1; \
	VCVTPS2DQ Y2, Y2; \
	VCVTPS2DQ Y3, Y3

// PACKQS packs Y0-Y3 to 32 int8 and stores them at off(DI).
#define PACKQS(off) \
	VPACKSSDW Y1, Y0, Y4; \
	VPACKSSDW Y3, Y2, Y5; \
	VPACKSSWB Y5, Y4, Y4; \
	VPERMD Y4, Y12, Y4; \
	VMOVDQU Y4, off(DI)

#define Q8SETUP \
	VBROADCASTSS kSign<>(SB), Y14; \
	VBROADCASTSS k127<>(SB), Y13; \
	VMOVDQU kPackPerm<>(SB), Y12

// func quantizeQ8_0AVX2(x *float32, y *byte, nb int)
TEXT ·quantizeQ8_0AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ nb+16(FP), CX
	Q8SETUP

q80:
	Q8BLOCK
	VCVTPS2PH $0, X5, X5
	VPEXTRW   $0, X5, (DI)
	PACKQS(2)
	ADDQ $128, SI
	ADDQ $34, DI
	DECQ CX
	JNZ  q80
	VZEROUPPER
	RET

// func quantizeQ8_1AVX2(x *float32, y *byte, nb int)
TEXT ·quantizeQ8_1AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ nb+16(FP), CX
	Q8SETUP

q81:
	Q8BLOCK
	// s = d * sum of the quants (before packing: they are within int8).
	VPADDD       Y1, Y0, Y6
	VPADDD       Y3, Y2, Y7
	VPADDD       Y7, Y6, Y6
	VEXTRACTI128 $1, Y6, X7
	VPADDD       X7, X6, X6
	VPSHUFD      $0x4e, X6, X7
	VPADDD       X7, X6, X6
	VPSHUFD      $0xb1, X6, X7
	VPADDD       X7, X6, X6
	VCVTDQ2PS    X6, X6
	VMULSS       X6, X5, X6
	VCVTPS2PH    $0, X6, X6
	VPEXTRW      $0, X6, 2(DI)
	VCVTPS2PH    $0, X5, X5
	VPEXTRW      $0, X5, (DI)
	PACKQS(4)
	ADDQ $128, SI
	ADDQ $36, DI
	DECQ CX
	JNZ  q81
	VZEROUPPER
	RET

// func roundF16AVX2(x *float32, y *byte, n int)
// y = x rounded to F16 (nearest even) and back, 8 at a time; n % 8 == 0.
TEXT ·roundF16AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   rdone

r8:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, X0
	VCVTPH2PS X0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       r8

rdone:
	VZEROUPPER
	RET

// func fp32ToFP16AVX2(x *float32, y *byte, n int)
// n % 8 == 0.
TEXT ·fp32ToFP16AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   hdone

h8:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	DECQ      CX
	JNZ       h8

hdone:
	VZEROUPPER
	RET
