//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

// AVX-512 (F, BW, VL, VNNI) kernels for Q8_0, Q4_0 and Q5_0 weights times
// Q8_0 activations, on 256-bit registers (Y0-Y31).
//
// VPDPBUSD multiplies unsigned bytes by signed bytes and adds each group
// of four products to an int32 lane: one instruction for AVX2's
// VPSIGNB, VPMADDUBSW, VPMADDWD. Its unsigned operand is the weights:
// Q4_0 and Q5_0 quants unpacked without their offset (0..15, 0..31), Q8_0
// quants with their sign bit flipped (w+128). The offset comes back
// exactly through the activations' sums: dot(w-o, x) = dot(w, x) - o*sum(x),
// and the lanes of each block start from -o*sum(x) instead of zero.
//
// The activations are first laid out in a table (prepQ8_0x1, prepQ8_0x4),
// once per call for all the weight rows of the call:
//
//   - one token, 8 bytes per block: int32 -o*sum(q), float32 d;
//   - four tokens, 176 bytes per block: the quants of the four tokens
//     interleaved by 4-byte group (bytes 0-127: for g = 0..3, groups g of
//     tokens 0-3 then groups g+4 of tokens 0-3), int32 -o*sum(q) of each
//     token (128-143), float32 d of each token, twice (144-175).
//
// With the interleaved quants the four tokens share the lanes of one
// register: VPSHUFD broadcasts weight group g (and g+4) across a 128-bit
// lane, and one VPDPBUSD adds its products with group g of all four
// tokens. A block then takes 4 VPDPBUSD, one conversion and one FMA for
// all four tokens, where AVX2 takes three integer instructions, a
// conversion, a permutation and an FMA per token.

SPLAT32(k0F, 0x0f0f0f0f0f0f0f0f)
SPLAT32(k10, 0x1010101010101010)
SPLAT32(k80, 0x8080808080808080)

// VPSRLVQ counts: the low 128-bit lane keeps the low nibbles, the high
// lane gets the high ones.
DATA kNibShift<>+0(SB)/8, $0
DATA kNibShift<>+8(SB)/8, $0
DATA kNibShift<>+16(SB)/8, $4
DATA kNibShift<>+24(SB)/8, $4
GLOBL kNibShift<>(SB), RODATA|NOPTR, $32

// Weight loaders: the 32 quants of the block at off(AX) into yw as
// unsigned bytes in element order (k: a free mask register). Constants:
// Y31 = k80 (Q8_0) or k0F, Y30 = kNibShift, Y29 = k10.
#define WQ8_0(off, yw, k) VPXORD 2+off(AX), Y31, yw
#define WQ4_0(off, yw, k) VBROADCASTI128 2+off(AX), yw; VPSRLVQ Y30, yw, yw; VPANDD Y31, yw, yw
#define WQ5_0(off, yw, k) VBROADCASTI128 6+off(AX), yw; VPSRLVQ Y30, yw, yw; VPANDD Y31, yw, yw; KMOVD 2+off(AX), k; VPADDB Y29, yw, k, yw

#define CONSTS_Q8_0 VMOVDQU64 k80<>(SB), Y31
#define CONSTS_Q4_0 VMOVDQU64 k0F<>(SB), Y31; VMOVDQU64 kNibShift<>(SB), Y30
#define CONSTS_Q5_0 CONSTS_Q4_0; VMOVDQU64 k10<>(SB), Y29

// ---- four tokens ----

// T4BLK adds block woff(AX) of one weight row times the table block at
// toff(BX) into acc (lanes t and t+4: token t). The chain of four
// VPDPBUSD is no bottleneck: consecutive blocks overlap (two chains
// measured the same).
#define T4BLK(W, woff, toff, k, yw, ys, ys2, yp, xp, yd, xd, acc) \
	W(woff, yw, k); \
	VMOVDQU toff+128(BX), xp; \
	VPSHUFD $0x00, yw, ys; \
	VPDPBUSD toff+0(BX), ys, yp; \
	VPSHUFD $0x55, yw, ys2; \
	VPDPBUSD toff+32(BX), ys2, yp; \
	VPSHUFD $0xaa, yw, ys; \
	VPDPBUSD toff+64(BX), ys, yp; \
	VPSHUFD $0xff, yw, ys2; \
	VPDPBUSD toff+96(BX), ys2, yp; \
	VCVTDQ2PS yp, yp; \
	VPBROADCASTW woff(AX), xd; \
	VCVTPH2PS xd, yd; \
	VMULPS toff+144(BX), yd, yd; \
	VFMADD231PS yd, yp, acc

// T4ROWS is the body of a four-token kernel for weight blocks of WB
// bytes: rows one at a time, blocks two at a time.
#define T4ROWS(W, WB) \
	SHLQ $2, DX; \
row: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R11, CX; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	CMPQ CX, $2; \
	JLT tail; \
pair: \
	T4BLK(W, 0, 0, K1, Y0, Y1, Y16, Y2, X2, Y3, X3, Y8); \
	T4BLK(W, WB, 176, K2, Y4, Y5, Y18, Y6, X6, Y7, X7, Y9); \
	ADDQ $(2*WB), AX; \
	ADDQ $352, BX; \
	SUBQ $2, CX; \
	CMPQ CX, $2; \
	JGE pair; \
tail: \
	TESTQ CX, CX; \
	JZ done; \
	T4BLK(W, 0, 0, K1, Y0, Y1, Y16, Y2, X2, Y3, X3, Y8); \
done: \
	VADDPS Y9, Y8, Y8; \
	VEXTRACTF128 $1, Y8, X9; \
	VADDPS X9, X8, X8; \
	STORE4(R12, DX, BX); \
	NEXTROW(R12, row)

#define T4ARGS \
	MOVQ w+0(FP), SI; \
	MOVQ wstride+8(FP), R8; \
	MOVQ rows+16(FP), R9; \
	MOVQ t+24(FP), R10; \
	MOVQ nb+32(FP), R11; \
	MOVQ dst+40(FP), R12; \
	MOVQ dstride+48(FP), DX

// ---- one token ----

// T1BLK adds block woff(AX) of a weight row times activation block
// xoff(BX), table entry toff(DI), into acc.
#define T1BLK(W, woff, xoff, toff, k, yw, yp, xp, yd, xd, acc) \
	W(woff, yw, k); \
	VMOVD toff(DI), xp; \
	VPDPBUSD 2+xoff(BX), yw, yp; \
	VCVTDQ2PS yp, yp; \
	VPBROADCASTW woff(AX), xd; \
	VCVTPH2PS xd, yd; \
	VMULPS.BCST toff+4(DI), yd, yd; \
	VFMADD231PS yd, yp, acc

#define T1ROWS(W, WB) \
row: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R13, DI; \
	MOVQ R11, CX; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	CMPQ CX, $2; \
	JLT tail; \
pair: \
	T1BLK(W, 0, 0, 0, K1, Y0, Y2, X2, Y3, X3, Y8); \
	T1BLK(W, WB, 34, 8, K2, Y4, Y6, X6, Y7, X7, Y9); \
	ADDQ $(2*WB), AX; \
	ADDQ $68, BX; \
	ADDQ $16, DI; \
	SUBQ $2, CX; \
	CMPQ CX, $2; \
	JGE pair; \
tail: \
	TESTQ CX, CX; \
	JZ done; \
	T1BLK(W, 0, 0, 0, K1, Y0, Y2, X2, Y3, X3, Y8); \
done: \
	VADDPS Y9, Y8, Y8; \
	HSUM8(Y8, X8, X9); \
	VMOVSS X8, (R12); \
	NEXTROW(R12, row)

#define T1ARGS \
	MOVQ w+0(FP), SI; \
	MOVQ wstride+8(FP), R8; \
	MOVQ rows+16(FP), R9; \
	MOVQ x+24(FP), R10; \
	MOVQ t+32(FP), R13; \
	MOVQ nb+40(FP), R11; \
	MOVQ dst+48(FP), R12

// func dotQ8_0x4VNNI(w *byte, wstride uintptr, rows int, t *byte, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ8_0x4VNNI(SB), NOSPLIT, $0-56
	T4ARGS
	CONSTS_Q8_0
	T4ROWS(WQ8_0, 34)

// func dotQ4_0x4VNNI(w *byte, wstride uintptr, rows int, t *byte, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_0x4VNNI(SB), NOSPLIT, $0-56
	T4ARGS
	CONSTS_Q4_0
	T4ROWS(WQ4_0, 18)

// func dotQ5_0x4VNNI(w *byte, wstride uintptr, rows int, t *byte, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_0x4VNNI(SB), NOSPLIT, $0-56
	T4ARGS
	CONSTS_Q5_0
	T4ROWS(WQ5_0, 22)

// func dotQ4_0x1VNNI(w *byte, wstride uintptr, rows int, x *byte, t *byte, nb int, dst *float32)
TEXT ·dotQ4_0x1VNNI(SB), NOSPLIT, $0-56
	T1ARGS
	CONSTS_Q4_0
	T1ROWS(WQ4_0, 18)

// func dotQ5_0x1VNNI(w *byte, wstride uintptr, rows int, x *byte, t *byte, nb int, dst *float32)
TEXT ·dotQ5_0x1VNNI(SB), NOSPLIT, $0-56
	T1ARGS
	CONSTS_Q5_0
	T1ROWS(WQ5_0, 22)

// ---- activation tables ----

// func prepQ8_0x4(x *byte, xstride uintptr, nb int, shift int, t *byte)
//
// The four-token table of nb Q8_0 blocks of the rows at x + i*xstride,
// with offset o = 1<<shift.
TEXT ·prepQ8_0x4(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), BX
	MOVQ xstride+8(FP), R11
	MOVQ nb+16(FP), CX
	MOVQ shift+24(FP), AX
	MOVQ t+32(FP), DI
	VMOVQ AX, X15
	LEAQ (R11)(R11*2), R12
	VPCMPEQB Y14, Y14, Y14
	VPABSB Y14, Y14 // bytes of 1
	VPXOR X13, X13, X13
prep4:
	VMOVDQU 2(BX), Y0
	VMOVDQU 2(BX)(R11*1), Y1
	VMOVDQU 2(BX)(R11*2), Y2
	VMOVDQU 2(BX)(R12*1), Y3
	// A 4x4 transpose of dwords in each 128-bit lane.
	VPUNPCKLDQ Y1, Y0, Y4
	VPUNPCKHDQ Y1, Y0, Y5
	VPUNPCKLDQ Y3, Y2, Y6
	VPUNPCKHDQ Y3, Y2, Y7
	VPUNPCKLQDQ Y6, Y4, Y0
	VPUNPCKHQDQ Y6, Y4, Y1
	VPUNPCKLQDQ Y7, Y5, Y2
	VPUNPCKHQDQ Y7, Y5, Y3
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	// -o*sum(q) per token.
	VPXOR Y4, Y4, Y4
	VPDPBUSD Y0, Y14, Y4
	VPDPBUSD Y1, Y14, Y4
	VPDPBUSD Y2, Y14, Y4
	VPDPBUSD Y3, Y14, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD X5, X4, X4
	VPSLLD X15, X4, X4
	VPSUBD X4, X13, X4
	VMOVDQU X4, 128(DI)
	// d per token, twice.
	MOVWLZX (BX), AX
	VMOVD AX, X6
	VPINSRW $1, (BX)(R11*1), X6, X6
	VPINSRW $2, (BX)(R11*2), X6, X6
	VPINSRW $3, (BX)(R12*1), X6, X6
	VCVTPH2PS X6, X6
	VINSERTF128 $1, X6, Y6, Y6
	VMOVUPS Y6, 144(DI)
	ADDQ $34, BX
	ADDQ $176, DI
	DECQ CX
	JNZ prep4
	VZEROUPPER
	RET

// func prepQ8_0x1(x *byte, nb int, shift int, t *byte)
//
// The one-token table of nb Q8_0 blocks at x, with offset o = 1<<shift.
TEXT ·prepQ8_0x1(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), BX
	MOVQ nb+8(FP), CX
	MOVQ shift+16(FP), AX
	MOVQ t+24(FP), DI
	VMOVQ AX, X15
	VPCMPEQB Y14, Y14, Y14
	VPABSB Y14, Y14
	VPXOR X13, X13, X13
prep1:
	VPXOR Y4, Y4, Y4
	VPDPBUSD 2(BX), Y14, Y4
	VEXTRACTI128 $1, Y4, X5
	VPADDD X5, X4, X4
	VPSHUFD $0x4e, X4, X5
	VPADDD X5, X4, X4
	VPSHUFD $0xb1, X4, X5
	VPADDD X5, X4, X4
	VPSLLD X15, X4, X4
	VPSUBD X4, X13, X4
	VMOVD X4, (DI)
	MOVWLZX (BX), AX
	VMOVD AX, X6
	VCVTPH2PS X6, X6
	VMOVSS X6, 4(DI)
	ADDQ $34, BX
	ADDQ $8, DI
	DECQ CX
	JNZ prep1
	VZEROUPPER
	RET
