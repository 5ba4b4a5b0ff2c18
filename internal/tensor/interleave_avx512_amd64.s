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
// the rows' d_w (dw) times the token's d_x (at xd), the product rounded
// first as ggml rounds it.
#define UTOK(iacc, xd, dw, tmp, facc) \
	VCVTDQ2PS iacc, iacc; \
	VMULPS.BCST xd, dw, tmp; \
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
	UTOK(Y0, 4(R12), Y24, Y25, Y4)
	UTOK(Y1, 4(R12)(R13*1), Y24, Y26, Y5)
	UTOK(Y2, 4(R12)(R13*2), Y24, Y27, Y6)
	UTOK(Y3, 4(R12)(R14*1), Y24, Y28, Y7)
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

// dotU8x16x4VNNI is dotU8x8x4VNNI on 512-bit registers for pairs of
// groups: the lower half of each register holds group 2p, the upper group
// 2p+1 (R8 bytes further on), and the 16 rows' sums are stored at once
// (they are adjacent in dst). Zen 5 executes 512-bit VPDPBUSD in one
// pass, so a pair takes about the time of one group.
#define ZVEC(g, zw, yw) \
	VMOVDQU32 32+32*g(AX), yw; \
	VINSERTI64X4 $1, 32+32*g(AX)(R8*1), zw, zw; \
	VPDPBUSD.BCST 2+4*g(BX), zw, Z0; \
	VPDPBUSD.BCST 2+4*g(BX)(R11*1), zw, Z1; \
	VPDPBUSD.BCST 2+4*g(BX)(R11*2), zw, Z2; \
	VPDPBUSD.BCST 2+4*g(BX)(DI*1), zw, Z3

// func dotU8x16x4VNNI(w *byte, pairs int, nb int, x *byte, xstride uintptr, xd *byte, xdstride uintptr, dst *float32, dstride uintptr)
TEXT ·dotU8x16x4VNNI(SB), NOSPLIT, $0-72
	MOVQ w+0(FP), AX
	MOVQ pairs+8(FP), R9
	MOVQ x+24(FP), R10
	MOVQ xstride+32(FP), R11
	MOVQ xdstride+48(FP), R13
	MOVQ dst+56(FP), DX
	MOVQ dstride+64(FP), R15
	SHLQ $2, R15
	LEAQ (R11)(R11*2), DI
	LEAQ (R13)(R13*2), R14
	MOVQ nb+16(FP), R8
	IMULQ $288, R8

pair:
	MOVQ R10, BX
	MOVQ xd+40(FP), R12
	MOVQ nb+16(FP), CX
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

zblk:
	VPBROADCASTD (R12), Z0
	VPBROADCASTD (R12)(R13*1), Z1
	VPBROADCASTD (R12)(R13*2), Z2
	VPBROADCASTD (R12)(R14*1), Z3
	ZVEC(0, Z16, Y16)
	ZVEC(1, Z17, Y17)
	ZVEC(2, Z18, Y18)
	ZVEC(3, Z19, Y19)
	ZVEC(4, Z20, Y20)
	ZVEC(5, Z21, Y21)
	ZVEC(6, Z22, Y22)
	ZVEC(7, Z23, Y23)
	VMOVUPS (AX), Y24
	VINSERTF64X4 $1, (AX)(R8*1), Z24, Z24
	UTOK(Z0, 4(R12), Z24, Z25, Z4)
	UTOK(Z1, 4(R12)(R13*1), Z24, Z26, Z5)
	UTOK(Z2, 4(R12)(R13*2), Z24, Z27, Z6)
	UTOK(Z3, 4(R12)(R14*1), Z24, Z28, Z7)
	ADDQ $288, AX
	ADDQ $34, BX
	ADDQ $8, R12
	DECQ CX
	JNZ zblk

	VMOVUPS Z4, (DX)
	VMOVUPS Z5, (DX)(R15*1)
	VMOVUPS Z6, (DX)(R15*2)
	LEAQ (R15)(R15*2), SI
	VMOVUPS Z7, (DX)(SI*1)
	ADDQ $64, DX
	ADDQ R8, AX
	DECQ R9
	JNZ pair
	VZEROUPPER
	RET
