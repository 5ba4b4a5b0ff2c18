//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

// Four-token float kernels (F32, F16, BF16 weights; F32 activations) that
// take two weight rows at a time. float_amd64.s's kernel loads eight
// activations of each token per eight weights of one row, five loads per
// four FMAs, and the load ports bound it; with two rows the activations
// serve eight FMAs, which then bound it. The sixteen registers AVX-512
// adds hold the activations. Rows come in pairs and their length is a
// multiple of 8 (the Go side sends the rest to the AVX2 kernel).
//
// Registers: SI weight row pair, R14 its second row, R8 wstride, R9 row
// pairs left, R10 activations, R11 xstride, DI 3*xstride, R12 element
// count, R13 dst, DX dstride in bytes; Y8-Y11 and Y12-Y15 the two rows'
// accumulators (token t in Y8+t and Y12+t).

#define LF32(off, base, y) VMOVUPS off(base), y
#define LF16(off, base, y) VCVTPH2PS off(base), y
#define LBF16(off, base, y) VPMOVZXWD off(base), y; VPSLLD $16, y, y

// FTOK2 multiplies weights y0 (row 0) and y1 (row 1) by eight activations
// of each token, loaded at xoff into Y16-Y19.
#define FTOK2(y0, y1, xoff) \
	VMOVUPS xoff(BX), Y16; \
	VMOVUPS xoff(BX)(R11*1), Y17; \
	VMOVUPS xoff(BX)(R11*2), Y18; \
	VMOVUPS xoff(BX)(DI*1), Y19; \
	VFMADD231PS Y16, y0, Y8; \
	VFMADD231PS Y17, y0, Y9; \
	VFMADD231PS Y18, y0, Y10; \
	VFMADD231PS Y19, y0, Y11; \
	VFMADD231PS Y16, y1, Y12; \
	VFMADD231PS Y17, y1, Y13; \
	VFMADD231PS Y18, y1, Y14; \
	VFMADD231PS Y19, y1, Y15

// HSUM4 reduces a, b, c, d (clobbered) to their four sums in a's X
// register (lane t = sum of the t-th).
#define HSUM4(a, b, c, d, xa, xb) VHADDPS b, a, a; VHADDPS d, c, c; VHADDPS c, a, a; VEXTRACTF128 $1, a, xb; VADDPS xb, xa, xa

#define FX4R2(W, WES) \
	LEAQ (R11)(R11*2), DI; \
	SHLQ $2, DX; \
pair: \
	MOVQ SI, AX; \
	LEAQ (SI)(R8*1), R14; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11; \
	VXORPS Y12, Y12, Y12; \
	VXORPS Y13, Y13, Y13; \
	VXORPS Y14, Y14, Y14; \
	VXORPS Y15, Y15, Y15; \
loop: \
	W(0, AX, Y0); \
	W(0, R14, Y1); \
	FTOK2(Y0, Y1, 0); \
	ADDQ $(8*WES), AX; \
	ADDQ $(8*WES), R14; \
	ADDQ $32, BX; \
	SUBQ $8, CX; \
	JNZ loop; \
	HSUM4(Y8, Y9, Y10, Y11, X8, X9); \
	STORE4(R13, DX, BX); \
	HSUM4(Y12, Y13, Y14, Y15, X12, X13); \
	VMOVAPS X12, X8; \
	LEAQ 4(R13), AX; \
	STORE4(AX, DX, BX); \
	ADDQ $8, R13; \
	LEAQ (SI)(R8*2), SI; \
	DECQ R9; \
	JNZ pair; \
	VZEROUPPER; \
	RET

#define X4ARGS \
	MOVQ w+0(FP), SI; \
	MOVQ wstride+8(FP), R8; \
	MOVQ pairs+16(FP), R9; \
	MOVQ x+24(FP), R10; \
	MOVQ xstride+32(FP), R11; \
	MOVQ n+40(FP), R12; \
	MOVQ dst+48(FP), R13; \
	MOVQ dstride+56(FP), DX

// func dotF32x4R2(w *byte, wstride uintptr, pairs int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotF32x4R2(SB), NOSPLIT, $0-64
	X4ARGS
	FX4R2(LF32, 4)

// func dotF16x4R2(w *byte, wstride uintptr, pairs int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotF16x4R2(SB), NOSPLIT, $0-64
	X4ARGS
	FX4R2(LF16, 2)

// func dotBF16x4R2(w *byte, wstride uintptr, pairs int, x *byte, xstride uintptr, n int, dst *float32, dstride uintptr)
TEXT ·dotBF16x4R2(SB), NOSPLIT, $0-64
	X4ARGS
	FX4R2(LBF16, 2)
