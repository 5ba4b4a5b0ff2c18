//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

// Float kernels: F32, F16 and BF16 weights. MatMul gives them F32
// activations (for F16 and BF16 already rounded to that type, as ggml
// does); VecDot's F16 and BF16 products take activations of the weight
// type. Rows have any length: 32 elements per iteration, then 8, then one
// at a time.
//
// A load macro (asm_amd64.h's LF32, LF16, LBF16) puts 8 elements at addr
// into a Y register as floats; the scalar one puts element 0 at (base)
// into an X register's low lane (using DX for the 16-bit types).

#define SF32(base, x) VMOVSS (base), x
#define SF16(base, x) MOVWLZX (base), DX; VMOVD DX, x; VCVTPH2PS x, x
#define SBF16(base, x) MOVWLZX (base), DX; SHLL $16, DX; VMOVD DX, x

// FX1 is the body of a one-token kernel: W/SW load weights of WES bytes
// per element, X/SX activations of XES bytes. R11 holds the element count.
#define FX1(W, SW, WES, X, SX, XES) \
row: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R11, CX; \
	ZEROACC; \
	CMPQ CX, $32; \
	JLT by8; \
loop32: \
	PREFETCHT0 PF1DIST(AX); \
	PREFETCHT0 PF1DIST+64(AX); \
	W(0(AX), Y0); X(0(BX), Y4); VFMADD231PS Y4, Y0, Y8; \
	W(8*WES(AX), Y1); X(8*XES(BX), Y5); VFMADD231PS Y5, Y1, Y9; \
	W(16*WES(AX), Y2); X(16*XES(BX), Y6); VFMADD231PS Y6, Y2, Y10; \
	W(24*WES(AX), Y3); X(24*XES(BX), Y7); VFMADD231PS Y7, Y3, Y11; \
	ADDQ $(32*WES), AX; \
	ADDQ $(32*XES), BX; \
	SUBQ $32, CX; \
	CMPQ CX, $32; \
	JGE loop32; \
by8: \
	CMPQ CX, $8; \
	JLT last; \
	W(0(AX), Y0); X(0(BX), Y4); VFMADD231PS Y4, Y0, Y8; \
	ADDQ $(8*WES), AX; \
	ADDQ $(8*XES), BX; \
	SUBQ $8, CX; \
	JMP by8; \
last: \
	VADDPS Y9, Y8, Y8; \
	VADDPS Y11, Y10, Y10; \
	VADDPS Y10, Y8, Y8; \
	HSUM8(Y8, X8, X9); \
	TESTQ CX, CX; \
	JZ store; \
one: \
	SW(AX, X0); SX(BX, X4); VFMADD231SS X4, X0, X8; \
	ADDQ $WES, AX; \
	ADDQ $XES, BX; \
	DECQ CX; \
	JNZ one; \
store: \
	VMOVSS X8, (R12); \
	NEXTROW(R12, row)

// FTOK4 multiplies the weights in y by 8 F32 activations of each token
// at xoff and adds into the accumulators a0..a3.
#define FTOK4(y, xoff, a0, a1, a2, a3) \
	VFMADD231PS xoff(BX), y, a0; \
	VFMADD231PS xoff(BX)(R11*1), y, a1; \
	VFMADD231PS xoff(BX)(R11*2), y, a2; \
	VFMADD231PS xoff(BX)(DI*1), y, a3

#define STOK4(xoff) \
	VFMADD231SS xoff(BX), X0, X12; \
	VFMADD231SS xoff(BX)(R11*1), X0, X13; \
	VFMADD231SS xoff(BX)(R11*2), X0, X14; \
	VFMADD231SS xoff(BX)(DI*1), X0, X15

// FTOK3 multiplies token t's 8 activations at xq by the weights of the
// three rows in Y0-Y2 and adds into that token's accumulators a0-a2.
#define FTOK3(xq, a0, a1, a2) \
	VMOVUPS xq, Y3; \
	VFMADD231PS Y3, Y0, a0; \
	VFMADD231PS Y3, Y1, a1; \
	VFMADD231PS Y3, Y2, a2

// STORE4X is STORE4 of the four lanes of x.
#define STORE4X(x, out, stride, tmp) VMOVSS x, (out); VEXTRACTPS $1, x, (out)(stride*1); LEAQ (out)(stride*2), tmp; VEXTRACTPS $2, x, (tmp); VEXTRACTPS $3, x, (tmp)(stride*1)

// FX4TRIO computes rows three at a time while at least three remain,
// when the element count (R12) is a multiple of 8: each weight vector
// is converted once for four tokens and each activation vector loaded
// once for three rows, 7 loads for 12 FMAs (row4 has 5 for 4), each
// FMA with an accumulator of its own (row r, token t in Y(4+4r+t)).
// It falls through to row4 for the rows left, or returns.
#define FX4TRIO(W, WES) \
trio: \
	CMPQ R9, $3; \
	JLT row4; \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	ZEROACC; \
	VXORPS Y12, Y12, Y12; \
	VXORPS Y13, Y13, Y13; \
	VXORPS Y14, Y14, Y14; \
	VXORPS Y15, Y15, Y15; \
by8x3: \
	W(0(AX), Y0); \
	W(0(AX)(R8*1), Y1); \
	W(0(AX)(R8*2), Y2); \
	FTOK3(0(BX), Y4, Y8, Y12); \
	FTOK3(0(BX)(R11*1), Y5, Y9, Y13); \
	FTOK3(0(BX)(R11*2), Y6, Y10, Y14); \
	FTOK3(0(BX)(DI*1), Y7, Y11, Y15); \
	ADDQ $(8*WES), AX; \
	ADDQ $32, BX; \
	SUBQ $8, CX; \
	JNZ by8x3; \
	HSUM4(Y4, Y5, Y6, Y7, X4, X5); \
	STORE4X(X4, R13, R14, BX); \
	HSUM4X8; \
	ADDQ $4, R13; \
	STORE4(R13, R14, BX); \
	HSUM4(Y12, Y13, Y14, Y15, X12, X13); \
	ADDQ $4, R13; \
	STORE4X(X12, R13, R14, BX); \
	ADDQ $4, R13; \
	LEAQ (SI)(R8*2), SI; \
	ADDQ R8, SI; \
	SUBQ $3, R9; \
	JNZ trio; \
	VZEROUPPER; \
	RET

// FX4 is the body of a four-token kernel with F32 activations; R12 holds
// the element count. Two sets of accumulators (Y8-Y11, Y12-Y15) hide the
// FMA latency; the scalar tail sums into X12-X15.
#define FX4(W, SW, WES) \
	LEAQ (R11)(R11*2), DI; \
	SHLQ $2, DX; \
	MOVQ DX, R14; \
	TESTQ $7, R12; \
	JNZ row4; \
	FX4TRIO(W, WES); \
row4: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	ZEROACC; \
	VXORPS Y12, Y12, Y12; \
	VXORPS Y13, Y13, Y13; \
	VXORPS Y14, Y14, Y14; \
	VXORPS Y15, Y15, Y15; \
	CMPQ CX, $16; \
	JLT by8x4; \
loop16x4: \
	W(0(AX), Y0); \
	W(8*WES(AX), Y1); \
	FTOK4(Y0, 0, Y8, Y9, Y10, Y11); \
	FTOK4(Y1, 32, Y12, Y13, Y14, Y15); \
	ADDQ $(16*WES), AX; \
	ADDQ $64, BX; \
	SUBQ $16, CX; \
	CMPQ CX, $16; \
	JGE loop16x4; \
by8x4: \
	CMPQ CX, $8; \
	JLT lastx4; \
	W(0(AX), Y0); \
	FTOK4(Y0, 0, Y8, Y9, Y10, Y11); \
	ADDQ $(8*WES), AX; \
	ADDQ $32, BX; \
	SUBQ $8, CX; \
lastx4: \
	VADDPS Y12, Y8, Y8; \
	VADDPS Y13, Y9, Y9; \
	VADDPS Y14, Y10, Y10; \
	VADDPS Y15, Y11, Y11; \
	VXORPS X12, X12, X12; \
	VXORPS X13, X13, X13; \
	VXORPS X14, X14, X14; \
	VXORPS X15, X15, X15; \
	TESTQ CX, CX; \
	JZ sumx4; \
onex4: \
	SW(AX, X0); \
	STOK4(0); \
	ADDQ $WES, AX; \
	ADDQ $4, BX; \
	DECQ CX; \
	JNZ onex4; \
sumx4: \
	HSUM4X8; \
	VUNPCKLPS X13, X12, X12; \
	VUNPCKLPS X15, X14, X14; \
	VMOVLHPS X14, X12, X12; \
	VADDPS X12, X8, X8; \
	STORE4(R13, R14, BX); \
	NEXTROW(R13, row4)

// func dotF32x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotF32x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(LF32, SF32, 4, LF32, SF32, 4)

// func dotF16x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotF16x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(LF16, SF16, 2, LF32, SF32, 4)

// func dotBF16x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotBF16x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(LBF16, SBF16, 2, LF32, SF32, 4)

// func dotF16F16x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotF16F16x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(LF16, SF16, 2, LF16, SF16, 2)

// func dotBF16BF16x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotBF16BF16x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(LBF16, SBF16, 2, LBF16, SBF16, 2)

// func dotF32x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotF32x4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	FX4(LF32, SF32, 4)

// func dotF16x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotF16x4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	FX4(LF16, SF16, 2)

// func dotBF16x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotBF16x4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	FX4(LBF16, SBF16, 2)
