//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

// Four-token float kernels (F32, F16, BF16 weights; F32 activations) that
// take four weight rows at a time. float_amd64.s's kernel loads eight
// activations of each token per eight weights of one row, five loads per
// four FMAs, and the load ports bound it; here the activations serve
// sixteen FMAs, which then bound it. AVX-512's extra registers make room:
// sixteen accumulators (row r, token t in Y(4r+t)), four rows of weights
// (Y16-Y19) and four of activations (Y20-Y23). Rows come in fours and
// their length is a multiple of 8 (the Go side sends the rest to the AVX2
// kernel).
//
// Registers: SI weight row quad, R8 wstride, R15 3*wstride, R9 quads
// left, R10 activations, R11 xstride, DI 3*xstride, R12 element count,
// R13 dst, DX dstride in bytes. The weight loaders (LF32, LF16, LBF16)
// and HSUM4 are asm_amd64.h's.

#define R4ARGS \
	MOVQ w+0(FP), SI; \
	MOVQ wstride+8(FP), R8; \
	MOVQ quads+16(FP), R9; \
	MOVQ x+24(FP), R10; \
	MOVQ xstride+32(FP), R11; \
	MOVQ n+40(FP), R12; \
	MOVQ dst+48(FP), R13; \
	MOVQ dstride+56(FP), DX

// FTOK4R multiplies the weights of rows 0-3 (Y16-Y19) by eight
// activations of each token (loaded into Y20-Y23); row r, token t
// accumulates in Y(4r+t).
#define FTOK4R \
	VMOVUPS (BX), Y20; \
	VMOVUPS (BX)(R11*1), Y21; \
	VMOVUPS (BX)(R11*2), Y22; \
	VMOVUPS (BX)(DI*1), Y23; \
	VFMADD231PS Y20, Y16, Y0; \
	VFMADD231PS Y21, Y16, Y1; \
	VFMADD231PS Y22, Y16, Y2; \
	VFMADD231PS Y23, Y16, Y3; \
	VFMADD231PS Y20, Y17, Y4; \
	VFMADD231PS Y21, Y17, Y5; \
	VFMADD231PS Y22, Y17, Y6; \
	VFMADD231PS Y23, Y17, Y7; \
	VFMADD231PS Y20, Y18, Y8; \
	VFMADD231PS Y21, Y18, Y9; \
	VFMADD231PS Y22, Y18, Y10; \
	VFMADD231PS Y23, Y18, Y11; \
	VFMADD231PS Y20, Y19, Y12; \
	VFMADD231PS Y21, Y19, Y13; \
	VFMADD231PS Y22, Y19, Y14; \
	VFMADD231PS Y23, Y19, Y15

// STOREROW stores the four token sums of row r (in X8's lanes) at
// r*4(R13).
#define STOREROW(r) LEAQ (r*4)(R13), AX; STORE4(AX, DX, BX)

// R4STORE reduces the sixteen accumulators, stores the row quad's sums and
// moves on to the next quad (R9: quads left).
#define R4STORE \
	HSUM4(Y0, Y1, Y2, Y3, X0, X1); \
	HSUM4(Y4, Y5, Y6, Y7, X4, X5); \
	HSUM4(Y8, Y9, Y10, Y11, X8, X9); \
	HSUM4(Y12, Y13, Y14, Y15, X12, X13); \
	VMOVAPS X8, X9; \
	VMOVAPS X0, X8; \
	STOREROW(0); \
	VMOVAPS X4, X8; \
	STOREROW(1); \
	VMOVAPS X9, X8; \
	STOREROW(2); \
	VMOVAPS X12, X8; \
	STOREROW(3); \
	ADDQ $16, R13; \
	LEAQ (SI)(R8*4), SI; \
	DECQ R9

// FX4RG is the loop of the four-token float kernels: N elements of each
// of the four weight rows a pass, loaded by W into W0-W3 and multiplied
// by FTOK; FOLD brings the accumulators down to 256 bits.
#define FX4RG(W, WES, N, W0, W1, W2, W3, FTOK, FOLD) \
	LEAQ (R11)(R11*2), DI; \
	SHLQ $2, DX; \
	LEAQ (R8)(R8*2), R15; \
quad: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	VXORPS Y0, Y0, Y0; VXORPS Y1, Y1, Y1; VXORPS Y2, Y2, Y2; VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; VXORPS Y5, Y5, Y5; VXORPS Y6, Y6, Y6; VXORPS Y7, Y7, Y7; \
	VXORPS Y8, Y8, Y8; VXORPS Y9, Y9, Y9; VXORPS Y10, Y10, Y10; VXORPS Y11, Y11, Y11; \
	VXORPS Y12, Y12, Y12; VXORPS Y13, Y13, Y13; VXORPS Y14, Y14, Y14; VXORPS Y15, Y15, Y15; \
loop4: \
	W((AX), W0); \
	W((AX)(R8*1), W1); \
	W((AX)(R8*2), W2); \
	W((AX)(R15*1), W3); \
	FTOK; \
	ADDQ $(N*WES), AX; \
	ADDQ $(4*N), BX; \
	SUBQ $N, CX; \
	JNZ loop4; \
	FOLD; \
	R4STORE; \
	JNZ quad; \
	VZEROUPPER; \
	RET

#define NOFOLD
#define FX4R4(W, WES) FX4RG(W, WES, 8, Y16, Y17, Y18, Y19, FTOK4R, NOFOLD)

// func dotF16x4R4(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotF16x4R4(SB), NOSPLIT, $0-64
	R4ARGS
	FX4R4(LF16, 2)

// func dotF32x4R4(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotF32x4R4(SB), NOSPLIT, $0-64
	R4ARGS
	FX4R4(LF32, 4)

// func dotBF16x4R4(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotBF16x4R4(SB), NOSPLIT, $0-64
	R4ARGS
	FX4R4(LBF16, 2)

// The same kernels on 512-bit registers, for lengths that are multiples
// of 16: Zen 5 executes a 512-bit FMA in one pass (Zen 4 in two, so there
// they match the 256-bit kernels). Each accumulator's upper half is added
// to its lower before the 256-bit reduction.

#define FTOK4RZ \
	VMOVUPS (BX), Z20; \
	VMOVUPS (BX)(R11*1), Z21; \
	VMOVUPS (BX)(R11*2), Z22; \
	VMOVUPS (BX)(DI*1), Z23; \
	VFMADD231PS Z20, Z16, Z0; \
	VFMADD231PS Z21, Z16, Z1; \
	VFMADD231PS Z22, Z16, Z2; \
	VFMADD231PS Z23, Z16, Z3; \
	VFMADD231PS Z20, Z17, Z4; \
	VFMADD231PS Z21, Z17, Z5; \
	VFMADD231PS Z22, Z17, Z6; \
	VFMADD231PS Z23, Z17, Z7; \
	VFMADD231PS Z20, Z18, Z8; \
	VFMADD231PS Z21, Z18, Z9; \
	VFMADD231PS Z22, Z18, Z10; \
	VFMADD231PS Z23, Z18, Z11; \
	VFMADD231PS Z20, Z19, Z12; \
	VFMADD231PS Z21, Z19, Z13; \
	VFMADD231PS Z22, Z19, Z14; \
	VFMADD231PS Z23, Z19, Z15

// ZFOLD adds the upper half of z into its lower half y.
#define ZFOLD(z, y) VEXTRACTF64X4 $1, z, Y16; VADDPS Y16, y, y

#define ZFOLD16 \
	ZFOLD(Z0, Y0); ZFOLD(Z1, Y1); ZFOLD(Z2, Y2); ZFOLD(Z3, Y3); \
	ZFOLD(Z4, Y4); ZFOLD(Z5, Y5); ZFOLD(Z6, Y6); ZFOLD(Z7, Y7); \
	ZFOLD(Z8, Y8); ZFOLD(Z9, Y9); ZFOLD(Z10, Y10); ZFOLD(Z11, Y11); \
	ZFOLD(Z12, Y12); ZFOLD(Z13, Y13); ZFOLD(Z14, Y14); ZFOLD(Z15, Y15)

#define FX4R4Z(W, WES) FX4RG(W, WES, 16, Z16, Z17, Z18, Z19, FTOK4RZ, ZFOLD16)

// func dotF16x4R4Z(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotF16x4R4Z(SB), NOSPLIT, $0-64
	R4ARGS
	FX4R4Z(LF16, 2)

// func dotF32x4R4Z(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotF32x4R4Z(SB), NOSPLIT, $0-64
	R4ARGS
	FX4R4Z(LF32, 4)

// func dotBF16x4R4Z(w *byte, wstride uintptr, quads int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotBF16x4R4Z(SB), NOSPLIT, $0-64
	R4ARGS
	FX4R4Z(LBF16, 2)
