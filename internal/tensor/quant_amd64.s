//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

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
	HMAX8(Y4, X4, X5); \
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

DATA kMagic<>+0(SB)/4, $0x4b400000
GLOBL kMagic<>(SB), RODATA|NOPTR, $4

DATA kMinus127<>+0(SB)/4, $-127.0
GLOBL kMinus127<>(SB), RODATA|NOPTR, $4

DATA kOne<>+0(SB)/4, $1.0
GLOBL kOne<>(SB), RODATA|NOPTR, $4

DATA k127i<>+0(SB)/4, $127
GLOBL k127i<>(SB), RODATA|NOPTR, $4

// Q8KQUANT32 quantizes the 32 floats at off(SI) with the multiplier in
// Y6: q = round-half-even(iscale*x) exactly, via one FMA with 1.5*2^23
// (ggml's nearest_int with the multiply fused, as compilers contract it),
// capped at 127. Stores 32 int8 at qo(DI) and the two 16-element sums
// at bo(DI).
#define Q8KQUANT32(off, qo, bo) \
	VMOVUPS off(SI), Y0; \
	VMOVUPS 32+off(SI), Y1; \
	VMOVUPS 64+off(SI), Y2; \
	VMOVUPS 96+off(SI), Y3; \
	VFMADD213PS Y13, Y6, Y0; \
	VFMADD213PS Y13, Y6, Y1; \
	VFMADD213PS Y13, Y6, Y2; \
	VFMADD213PS Y13, Y6, Y3; \
	VPSUBD Y13, Y0, Y0; \
	VPSUBD Y13, Y1, Y1; \
	VPSUBD Y13, Y2, Y2; \
	VPSUBD Y13, Y3, Y3; \
	VPMINSD Y11, Y0, Y0; \
	VPMINSD Y11, Y1, Y1; \
	VPMINSD Y11, Y2, Y2; \
	VPMINSD Y11, Y3, Y3; \
	VPADDD Y1, Y0, Y4; \
	VPADDD Y3, Y2, Y5; \
	VPHADDD Y5, Y4, Y4; \
	VPHADDD Y4, Y4, Y4; \
	VEXTRACTI128 $1, Y4, X5; \
	VPADDD X5, X4, X4; \
	VPACKSSDW X4, X4, X4; \
	VMOVD X4, bo(DI); \
	PACKQS(qo)

// func quantizeQ8_KAVX2(x *float32, y *byte, nb int)
TEXT ·quantizeQ8_KAVX2(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DI
	MOVQ         nb+16(FP), CX
	VBROADCASTSS kSign<>(SB), Y14
	VBROADCASTSS kMagic<>(SB), Y13
	VMOVDQU      kPackPerm<>(SB), Y12
	VPBROADCASTD k127i<>(SB), Y11

blockK:
	// amax over the 256 values.
	VXORPS Y4, Y4, Y4
	XORQ   AX, AX

amaxK:
	VANDNPS (SI)(AX*1), Y14, Y0
	VANDNPS 32(SI)(AX*1), Y14, Y1
	VMAXPS  Y0, Y4, Y4
	VMAXPS  Y1, Y4, Y4
	ADDQ    $64, AX
	CMPQ    AX, $1024
	JLT     amaxK
	HMAX8(Y4, X4, X5)
	VXORPS       X5, X5, X5
	VUCOMISS     X5, X4
	JNE          findK
	JP           findK

	// All zero: d, quants and sums are 0.
	VXORPS  Y0, Y0, Y0
	XORQ    AX, AX

zeroK:
	VMOVDQU Y0, (DI)(AX*1)
	ADDQ    $32, AX
	CMPQ    AX, $288
	JLT     zeroK
	MOVL    $0, 288(DI)
	JMP     nextK

findK:
	// The first value whose magnitude is amax gives the sign.
	VBROADCASTSS X4, Y5
	XORQ         AX, AX

scanK:
	VANDNPS   (SI)(AX*4), Y14, Y0
	VCMPPS    $0, Y5, Y0, Y0
	VMOVMSKPS Y0, DX
	TESTL     DX, DX
	JNZ       foundK
	ADDQ      $8, AX
	CMPQ      AX, $256
	JLT       scanK
	JMP       nextK // not reached for finite input

foundK:
	BSFL  DX, DX
	ADDQ  DX, AX
	VMOVSS (SI)(AX*4), X0
	VMOVSS kMinus127<>(SB), X6
	VDIVSS X0, X6, X6     // iscale = -127/max
	VMOVSS kOne<>(SB), X7
	VDIVSS X6, X7, X7     // d = 1/iscale
	VMOVSS X7, (DI)
	VBROADCASTSS X6, Y6
	Q8KQUANT32(0, 4, 260)
	Q8KQUANT32(128, 36, 264)
	Q8KQUANT32(256, 68, 268)
	Q8KQUANT32(384, 100, 272)
	Q8KQUANT32(512, 132, 276)
	Q8KQUANT32(640, 164, 280)
	Q8KQUANT32(768, 196, 284)
	Q8KQUANT32(896, 228, 288)

nextK:
	ADDQ $1024, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  blockK
	VZEROUPPER
	RET
