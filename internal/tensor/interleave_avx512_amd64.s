//go:build !purego

#include "textflag.h"

// The interleaved kernel with VNNI (see interleave.go): 8 rows times 4
// tokens of Q8_0 activations, the weights stored unsigned (w+128). One
// VPDPBUSD.BCST multiplies a weight vector by four activations of a
// token, broadcast from memory, and adds the products into the token's
// eight row sums, where AVX2 takes five instructions. Each token's sums
// start a block from -128*sum(x) (the one-token activation table of
// q32_avx512_amd64.s: int32 -128*sum(q), float32 d per block), which
// takes the offset back out exactly.
//
// Y0-Y3 are the tokens' int32 sums of the block in progress, Y4-Y7 their
// float accumulators (lane r: row r), Y16-Y23 the weight vectors, Y24
// the rows' scales, Y25-Y28 scratch.
//
// Registers: AX weight block, BX activation block of token 0, R11
// xstride, DI 3*xstride, R12 the tokens' table blocks, R13 their stride
// in bytes, R14 3*R13, CX blocks left, R9 groups left, R10 activations,
// DX dst, R15 dstride in bytes.

#define UVEC(g, yw) \
	VMOVDQU32 32+32*g(AX), yw; \
	VPDPBUSD.BCST 2+4*g(BX), yw, Y0; \
	VPDPBUSD.BCST 2+4*g(BX)(R11*1), yw, Y1; \
	VPDPBUSD.BCST 2+4*g(BX)(R11*2), yw, Y2; \
	VPDPBUSD.BCST 2+4*g(BX)(DI*1), yw, Y3

// UTOK adds a token's block, its int sums in iacc, into facc scaled by
// the rows' d_w (Y24) times the token's d_x (at xd), the product rounded
// first as ggml rounds it.
#define UTOK(iacc, xd, tmp, facc) \
	VCVTDQ2PS iacc, iacc; \
	VMULPS.BCST xd, Y24, tmp; \
	VFMADD231PS tmp, iacc, facc

// func dotU8x8x4VNNI(w *byte, groups int, nb int, x *byte, xstride uintptr, xd *byte, xdstride uintptr, dst *float32, dstride uintptr)
TEXT ·dotU8x8x4VNNI(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), AX
	MOVQ groups+8(FP), R9
	MOVQ x+24(FP), R10
	MOVQ xstride+32(FP), R11
	MOVQ xdstride+48(FP), R13
	MOVQ dst+56(FP), DX
	MOVQ dstride+64(FP), R15
	SHLQ $2, R15
	LEAQ (R11)(R11*2), DI
	LEAQ (R13)(R13*2), R14

group:
	MOVQ R10, BX
	MOVQ xd+40(FP), R12
	MOVQ nb+16(FP), CX
	VPXORD Y4, Y4, Y4
	VPXORD Y5, Y5, Y5
	VPXORD Y6, Y6, Y6
	VPXORD Y7, Y7, Y7

blk:
	VPBROADCASTD (R12), Y0
	VPBROADCASTD (R12)(R13*1), Y1
	VPBROADCASTD (R12)(R13*2), Y2
	VPBROADCASTD (R12)(R14*1), Y3
	UVEC(0, Y16)
	UVEC(1, Y17)
	UVEC(2, Y18)
	UVEC(3, Y19)
	UVEC(4, Y20)
	UVEC(5, Y21)
	UVEC(6, Y22)
	UVEC(7, Y23)
	VMOVUPS (AX), Y24
	UTOK(Y0, 4(R12), Y25, Y4)
	UTOK(Y1, 4(R12)(R13*1), Y26, Y5)
	UTOK(Y2, 4(R12)(R13*2), Y27, Y6)
	UTOK(Y3, 4(R12)(R14*1), Y28, Y7)
	ADDQ $288, AX
	ADDQ $34, BX
	ADDQ $8, R12
	DECQ CX
	JNZ blk

	VMOVUPS Y4, (DX)
	VMOVUPS Y5, (DX)(R15*1)
	VMOVUPS Y6, (DX)(R15*2)
	LEAQ (R15)(R15*2), R8
	VMOVUPS Y7, (DX)(R8*1)
	ADDQ $32, DX
	DECQ R9
	JNZ group
	VZEROUPPER
	RET
