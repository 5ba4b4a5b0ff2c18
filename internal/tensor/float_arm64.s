//go:build !purego

#include "textflag.h"
#include "asm_arm64.h"

// Float kernels: F32, F16 and BF16 weights. MatMul gives them F32
// activations (for F16 and BF16 already rounded to that type, as ggml
// does); VecDot's F16 and BF16 products take activations of the weight
// type. Rows have any length: 16 elements per iteration (four-row
// kernels: 8), then 4, then one at a time. F16 is widened with FCVTL
// (exact), BF16 by putting its 16 bits above 16 zero bits (ZIP with the
// zero register V29).
//
// Load macros, each advancing Rp: L16 reads 16 elements into a0..a3 as
// floats, L8 8 into a0, a1, L4 4 into a, L1 one into the float register
// a (scratch R15). Vector registers are given by name and by number (n),
// for the native and the WORD-encoded instructions.

#define F32L16(Rp, a0, a1, a2, a3, n0, n1, n2, n3) VLD1.P 64(Rp), [a0.S4, a1.S4, a2.S4, a3.S4]
#define F32L4(Rp, a, n) VLD1.P 16(Rp), [a.S4]
#define F32L1(Rp, a, n) FMOVS.P 4(Rp), a

#define F16L16(Rp, a0, a1, a2, a3, n0, n1, n2, n3) \
	VLD1.P 32(Rp), [a0.H8, a1.H8]; \
	FCVTL_4S(n2, n1); \
	FCVTL2_4S(n3, n1); \
	FCVTL2_4S(n1, n0); \
	FCVTL_4S(n0, n0)
#define F16L4(Rp, a, n) VLD1.P 8(Rp), [a.H4]; FCVTL_4S(n, n)
#define F16L1(Rp, a, n) MOVHU.P 2(Rp), R15; FMOVS R15, a; FCVTHS a, a

#define BF16L16(Rp, a0, a1, a2, a3, n0, n1, n2, n3) \
	VLD1.P 32(Rp), [a0.H8, a1.H8]; \
	VZIP1 a1.H8, V29.H8, a2.H8; \
	VZIP2 a1.H8, V29.H8, a3.H8; \
	VZIP2 a0.H8, V29.H8, a1.H8; \
	VZIP1 a0.H8, V29.H8, a0.H8
#define BF16L4(Rp, a, n) VLD1.P 8(Rp), [a.H4]; VZIP1 a.H8, V29.H8, a.H8
#define BF16L1(Rp, a, n) MOVHU.P 2(Rp), R15; LSLW $16, R15; FMOVS R15, a

// FX1 is the body of a one-row kernel: W loads weights (R8), X
// activations (R9); R10 counts elements. V16-V19 accumulate.
#define FX1(W4, W16, W1, X4, X16, X1) \
	VEOR V29.B16, V29.B16, V29.B16; \
row: \
	MOVD R0, R8; \
	MOVD R3, R9; \
	MOVD R4, R10; \
	ZERO(16); \
	ZERO(17); \
	ZERO(18); \
	ZERO(19); \
	CMP $16, R10; \
	BLT by4; \
loop16: \
	W16(R8, V0, V1, V2, V3, 0, 1, 2, 3); \
	X16(R9, V4, V5, V6, V7, 4, 5, 6, 7); \
	VFMLA V0.S4, V4.S4, V16.S4; \
	VFMLA V1.S4, V5.S4, V17.S4; \
	VFMLA V2.S4, V6.S4, V18.S4; \
	VFMLA V3.S4, V7.S4, V19.S4; \
	SUB $16, R10; \
	CMP $16, R10; \
	BGE loop16; \
by4: \
	CMP $4, R10; \
	BLT last; \
	W4(R8, V0, 0); \
	X4(R9, V4, 4); \
	VFMLA V0.S4, V4.S4, V16.S4; \
	SUB $4, R10; \
	B by4; \
last: \
	FADD_4S(16, 16, 17); \
	FADD_4S(18, 18, 19); \
	FADD_4S(16, 16, 18); \
	HSUM4(16); \
	CBZ R10, store; \
one: \
	W1(R8, F0, 0); \
	X1(R9, F4, 4); \
	FMADDS F0, F16, F4, F16; \
	SUBS $1, R10; \
	BNE one; \
store: \
	FMOVS.P F16, 4(R5); \
	NEXTROW(row)

// FX4 is the body of a four-row kernel with F32 activations (R9-R12);
// R13 counts elements. Two sets of accumulators (V16-V19, V20-V23) hide
// the FMA latency; the last elements go one at a time, the four rows'
// activations gathered in one register (V4), into V24.
#define FX4(W4, W8, W1) \
	VEOR V29.B16, V29.B16, V29.B16; \
row4: \
	MOVD R0, R8; \
	X4PTRS; \
	MOVD R5, R13; \
	ZERO(16); \
	ZERO(17); \
	ZERO(18); \
	ZERO(19); \
	ZEROACC; \
	ZERO(24); \
	CMP $8, R13; \
	BLT by4x4; \
loop8x4: \
	W8(R8, V0, V1, 0, 1); \
	VLD1.P 32(R9), [V4.S4, V5.S4]; \
	VLD1.P 32(R10), [V6.S4, V7.S4]; \
	VLD1.P 32(R11), [V8.S4, V9.S4]; \
	VLD1.P 32(R12), [V10.S4, V11.S4]; \
	VFMLA V0.S4, V4.S4, V16.S4; \
	VFMLA V0.S4, V6.S4, V17.S4; \
	VFMLA V0.S4, V8.S4, V18.S4; \
	VFMLA V0.S4, V10.S4, V19.S4; \
	VFMLA V1.S4, V5.S4, V20.S4; \
	VFMLA V1.S4, V7.S4, V21.S4; \
	VFMLA V1.S4, V9.S4, V22.S4; \
	VFMLA V1.S4, V11.S4, V23.S4; \
	SUB $8, R13; \
	CMP $8, R13; \
	BGE loop8x4; \
by4x4: \
	CMP $4, R13; \
	BLT lastx4; \
	W4(R8, V0, 0); \
	VLD1.P 16(R9), [V4.S4]; \
	VLD1.P 16(R10), [V6.S4]; \
	VLD1.P 16(R11), [V8.S4]; \
	VLD1.P 16(R12), [V10.S4]; \
	VFMLA V0.S4, V4.S4, V16.S4; \
	VFMLA V0.S4, V6.S4, V17.S4; \
	VFMLA V0.S4, V8.S4, V18.S4; \
	VFMLA V0.S4, V10.S4, V19.S4; \
	SUB $4, R13; \
lastx4: \
	CBZ R13, sumx4; \
onex4: \
	W1(R8, F0, 0); \
	VLD1.P 4(R9), V4.S[0]; \
	VLD1.P 4(R10), V4.S[1]; \
	VLD1.P 4(R11), V4.S[2]; \
	VLD1.P 4(R12), V4.S[3]; \
	FMLA_S(24, 4, 0, 0); \
	SUBS $1, R13; \
	BNE onex4; \
sumx4: \
	FADD_4S(20, 20, 16); \
	FADD_4S(21, 21, 17); \
	FADD_4S(22, 22, 18); \
	FADD_4S(23, 23, 19); \
	HSUM4X4; \
	FADD_4S(20, 20, 24); \
	STORE4; \
	NEXTROW(row4)

#define F32L8(Rp, a0, a1, n0, n1) VLD1.P 32(Rp), [a0.S4, a1.S4]
#define F16L8(Rp, a0, a1, n0, n1) VLD1.P 16(Rp), [a0.H8]; FCVTL2_4S(n1, n0); FCVTL_4S(n0, n0)
#define BF16L8(Rp, a0, a1, n0, n1) VLD1.P 16(Rp), [a0.H8]; VZIP2 a0.H8, V29.H8, a1.H8; VZIP1 a0.H8, V29.H8, a0.H8

// func dotF32x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotF32x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(F32L4, F32L16, F32L1, F32L4, F32L16, F32L1)

// func dotF16x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotF16x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(F16L4, F16L16, F16L1, F32L4, F32L16, F32L1)

// func dotBF16x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotBF16x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(BF16L4, BF16L16, BF16L1, F32L4, F32L16, F32L1)

// func dotF16F16x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotF16F16x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(F16L4, F16L16, F16L1, F16L4, F16L16, F16L1)

// func dotBF16BF16x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotBF16BF16x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	FX1(BF16L4, BF16L16, BF16L1, BF16L4, BF16L16, BF16L1)

// func dotF32x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotF32x4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	FX4(F32L4, F32L8, F32L1)

// func dotF16x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotF16x4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	FX4(F16L4, F16L8, F16L1)

// func dotBF16x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotBF16x4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	FX4(BF16L4, BF16L8, BF16L1)
