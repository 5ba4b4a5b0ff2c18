//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

// The interleaved kernel (see interleave.go): 8 rows times 4 tokens of
// Q8_0 activations. Y0-Y3 are the tokens' int32 sums of the block in
// progress, Y4-Y7 their float accumulators (lane r: row r), Y8 the
// weight vector, Y9 its absolute values, Y10-Y13 scratch, Y15 int16 ones.
//
// Registers: AX weight block, BX activation block of token 0, R11
// xstride, DI 3*xstride, R12 the tokens' block scales, R13 their stride
// in bytes, R14 3*R13, CX blocks left, R9 groups left, R10 activations,
// DX dst, R15 dstride in bytes.

// VTOK multiplies token t's four activations at xaddr, broadcast to the
// eight rows, by the weight vector (|w| times x with w's sign) and adds
// the eight int32 sums into acc.
#define VTOK(xaddr, acc, tmp) \
	VPBROADCASTD xaddr, tmp; \
	VPSIGNB Y8, tmp, tmp; \
	VPMADDUBSW tmp, Y9, tmp; \
	VPMADDWD Y15, tmp, tmp; \
	VPADDD tmp, acc, acc

// VTOK0 is VTOK for the block's first vector: it sets acc.
#define VTOK0(xaddr, acc) \
	VPBROADCASTD xaddr, acc; \
	VPSIGNB Y8, acc, acc; \
	VPMADDUBSW acc, Y9, acc; \
	VPMADDWD Y15, acc, acc

#define VEC0 \
	VMOVDQU 32(AX), Y8; \
	VPABSB Y8, Y9; \
	VTOK0(2(BX), Y0); \
	VTOK0(2(BX)(R11*1), Y1); \
	VTOK0(2(BX)(R11*2), Y2); \
	VTOK0(2(BX)(DI*1), Y3)

#define VEC(g) \
	VMOVDQU 32+32*g(AX), Y8; \
	VPABSB Y8, Y9; \
	VTOK(2+4*g(BX), Y0, Y10); \
	VTOK(2+4*g(BX)(R11*1), Y1, Y11); \
	VTOK(2+4*g(BX)(R11*2), Y2, Y12); \
	VTOK(2+4*g(BX)(DI*1), Y3, Y13)

// FTOK adds a token's block, its int sums in iacc, into facc scaled by
// the rows' d_w (at (AX)) times the token's d_x (at xd), the product
// rounded first as ggml rounds it.
#define FTOK(iacc, xd, facc) \
	VCVTDQ2PS iacc, iacc; \
	VBROADCASTSS xd, Y10; \
	VMULPS (AX), Y10, Y10; \
	VFMADD231PS Y10, iacc, facc

// func dotI8x8x4AVX2(w *byte, groups int, nb int, x *byte, xstride uintptr, xd *float32, xdstride uintptr, dst *float32, dstride uintptr)
TEXT ·dotI8x8x4AVX2(SB), NOSPLIT, $0-72
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
	ONES16(Y15)

group:
	MOVQ R10, BX
	MOVQ xd+40(FP), R12
	MOVQ nb+16(FP), CX
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

blk:
	VEC0
	VEC(1)
	VEC(2)
	VEC(3)
	VEC(4)
	VEC(5)
	VEC(6)
	VEC(7)
	FTOK(Y0, (R12), Y4)
	FTOK(Y1, (R12)(R13*1), Y5)
	FTOK(Y2, (R12)(R13*2), Y6)
	FTOK(Y3, (R12)(R14*1), Y7)
	ADDQ $288, AX
	ADDQ $34, BX
	ADDQ $4, R12
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
