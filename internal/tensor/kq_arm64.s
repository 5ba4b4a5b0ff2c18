//go:build !purego

#include "textflag.h"
#include "asm_arm64.h"

// Kernels for the K-quants (256-element super-blocks) times Q8_K
// activations (292-byte blocks: d f32, qs[256], bsums[16] int16), NEON.
//
// As in ggml, the integer products of a whole super-block, sub-block
// scales included, are summed exactly in int32 (isum); per super-block the
// sum is scaled by d_w*d_x, and for Q4_K/Q5_K the minimum term
// dmin_w*d_x*sum_j(m_j * bsum_j) is subtracted. Each kernel is built with
// SDOT and with SMULL/SADALP (see asm_arm64.h).
//
// Activations are read in element order with post-incremented pointers:
// x1 R9, x4 R9-R12 (one per row). Weights: R8 at the super-block.
// Constants: V24 = 0x0F bytes; Q5_K: V28 = 0x01, V15 = 0x02 bytes; Q6_K:
// V25 = 0x30, V26 = 0x20 bytes.

// KSCALES reads d, dmin and the packed scales of the Q4_K/Q5_K block at
// R8, leaving R8 at qh (Q5_K) or qs (Q4_K): V16 = [d, dmin] as halves in
// every 32-bit lane, V17 = scales 0-3 and V18 = scales 4-7 as int32, V19 =
// the eight mins as int16. The 12 bytes hold, per byte j: sc_j = b[j]&63,
// m_j = b[j+4]&63 for j < 4; for j >= 4 the low 4 bits are in b[j+4]
// (scale low nibble, min high) and the top 2 bits in the top bits of
// b[j-4] (scale) and b[j] (min). In 64-bit words: u = b[0:8] gives
// [sc0-3, m0-3] & 63 and the top bits of both; b[8:12] gives the low bits
// of [sc4-7, m4-7].
#define KSCALES \
	VLD1R.P 4(R8), [V16.S4]; \
	MOVD.P 8(R8), R14; \
	MOVWU.P 4(R8), R15; \
	AND $0x3f3f3f3f3f3f3f3f, R14, R16; \
	LSR $6, R14, R14; \
	AND $0x0303030303030303, R14, R14; \
	LSRW $4, R15, R17; \
	ORR R17<<32, R15, R15; \
	AND $0x0f0f0f0f0f0f0f0f, R15, R15; \
	ORR R14<<4, R15, R15; \
	FMOVD R16, F17; \
	VMOV R15, V17.D[1]; \
	VUZP1 V17.S4, V17.S4, V18.S4; \
	VUZP2 V17.S4, V17.S4, V19.S4; \
	VUXTL V18.B8, V18.H8; \
	VUXTL V19.B8, V19.H8; \
	VUXTL V18.H4, V17.S4; \
	VUXTL2 V18.H8, V18.S4

// Q4KW unpacks the next 32 quant bytes at R8 (sub-blocks 2c and 2c+1):
// V2, V3 = low nibbles (elements 0-15, 16-31 of sub-block 2c), V0, V1 =
// high nibbles (sub-block 2c+1).
#define Q4KW \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	VAND V24.B16, V0.B16, V2.B16; \
	VAND V24.B16, V1.B16, V3.B16; \
	VUSHR $4, V0.B16, V0.B16; \
	VUSHR $4, V1.B16, V1.B16

// Q5KW is Q4KW with the fifth bits from qh (V26, V27): bit 0 of each qh
// byte goes to bit 4 of the low nibbles (SLI keeps the nibble, inserts
// the bit above it), bit 1 to bit 4 of the high nibbles (the bit, moved
// to 0x10, plus the byte shifted down by 4: USRA); qh then moves down two
// bits for the next chunk. V28 = 0x01 and V15 = 0x02 bytes; scratch V14.
#define Q5KW \
	VLD1.P 32(R8), [V2.B16, V3.B16]; \
	VAND V15.B16, V26.B16, V14.B16; \
	VSHL $3, V14.B16, V0.B16; \
	VUSRA $4, V2.B16, V0.B16; \
	VAND V15.B16, V27.B16, V14.B16; \
	VSHL $3, V14.B16, V1.B16; \
	VUSRA $4, V3.B16, V1.B16; \
	VAND V28.B16, V26.B16, V14.B16; \
	VSLI $4, V14.B16, V2.B16; \
	VAND V28.B16, V27.B16, V14.B16; \
	VSLI $4, V14.B16, V3.B16; \
	VUSHR $2, V26.B16, V26.B16; \
	VUSHR $2, V27.B16, V27.B16

// KTOK multiplies the unpacked chunk with the next 64 activations at
// (Rt) and adds the products, times the scales in lanes i and i+1 of
// V(sc), into the int32 lanes of V(isum). Scratch V4-V7, V8, V9.
#define KTOK(DOT, Rt, sc, i, isum) \
	VLD1.P 64(Rt), [V4.B16, V5.B16, V6.B16, V7.B16]; \
	ZERO(8); \
	DOT(8, 2, 4); \
	DOT(8, 3, 5); \
	ZERO(9); \
	DOT(9, 0, 6); \
	DOT(9, 1, 7); \
	MLA_S(isum, 8, sc, i); \
	MLA_S(isum, 9, sc, i+1)

// KMINS reads the bsums at (Rt) and leaves sum_j(m_j * bsum_j) as four
// int32 lanes in V(d). Scratch V4, V5.
#define KMINS(Rt, d) \
	VLD1.P 32(Rt), [V4.H8, V5.H8]; \
	VADDP V5.H8, V4.H8, V4.H8; \
	SMULL_4S(d, 4, 19); \
	SMLAL2_4S(d, 4, 19)

// K1SB is one Q4_K/Q5_K super-block of the one-row kernel (W: Q4KW or
// Q5KW; QH: nothing or Q5KQH). V10, V11 sum the integer products (low and
// high nibbles, two dependency chains), V20 the scaled sums, V21 the
// minimum terms.
#define K1SB(W, QH, DOT) \
	VLD1R.P 4(R9), [V12.S4]; \
	KSCALES; \
	QH; \
	ZERO(10); \
	ZERO(11); \
	W; \
	KTOK(DOT, R9, 17, 0, 10); \
	W; \
	KTOK(DOT, R9, 17, 2, 11); \
	W; \
	KTOK(DOT, R9, 18, 0, 10); \
	W; \
	KTOK(DOT, R9, 18, 2, 11); \
	KMINS(R9, 13); \
	FCVTL_4S(16, 16); \
	FMUL_S(16, 16, 12, 0); \
	VADD V11.S4, V10.S4, V10.S4; \
	SCVTF_4S(10, 10); \
	SCVTF_4S(13, 13); \
	FMLA_S(20, 10, 16, 0); \
	FMLS_S(21, 13, 16, 1)

// Q5KQH loads the 32 qh bytes at R8 into V26, V27.
#define Q5KQH VLD1.P 32(R8), [V26.B16, V27.B16]

#define NOQH

#define K1ROWS(SB) \
	VMOVI $0x0f, V24.B16; \
	VMOVI $0x01, V28.B16; \
	VMOVI $0x02, V15.B16; \
row: \
	MOVD R0, R8; \
	MOVD R3, R9; \
	MOVD R4, R10; \
	ZERO(20); \
	ZERO(21); \
sb: \
	SB; \
	SUBS $1, R10; \
	BNE sb; \
	FADD_4S(20, 20, 21); \
	HSUM4(20); \
	FMOVS.P F20, 4(R5); \
	NEXTROW(row)

// K4SB is one Q4_K/Q5_K super-block of the four-row kernel: V10-V13
// integer sums, V20-V23 float accumulators, one per row; V29 gathers the
// rows' d_x, V25 and V29 then hold d*d_x and dmin*d_x.
#define K4SB(W, QH, DOT) \
	VLD1R.P 4(R9), [V29.S4]; \
	VLD1.P 4(R10), V29.S[1]; \
	VLD1.P 4(R11), V29.S[2]; \
	VLD1.P 4(R12), V29.S[3]; \
	KSCALES; \
	QH; \
	ZERO(10); \
	ZERO(11); \
	ZERO(12); \
	ZERO(13); \
	W; \
	KTOK(DOT, R9, 17, 0, 10); \
	KTOK(DOT, R10, 17, 0, 11); \
	KTOK(DOT, R11, 17, 0, 12); \
	KTOK(DOT, R12, 17, 0, 13); \
	W; \
	KTOK(DOT, R9, 17, 2, 10); \
	KTOK(DOT, R10, 17, 2, 11); \
	KTOK(DOT, R11, 17, 2, 12); \
	KTOK(DOT, R12, 17, 2, 13); \
	W; \
	KTOK(DOT, R9, 18, 0, 10); \
	KTOK(DOT, R10, 18, 0, 11); \
	KTOK(DOT, R11, 18, 0, 12); \
	KTOK(DOT, R12, 18, 0, 13); \
	W; \
	KTOK(DOT, R9, 18, 2, 10); \
	KTOK(DOT, R10, 18, 2, 11); \
	KTOK(DOT, R11, 18, 2, 12); \
	KTOK(DOT, R12, 18, 2, 13); \
	FCVTL_4S(16, 16); \
	FMUL_S(25, 29, 16, 0); \
	FMUL_S(29, 29, 16, 1); \
	ACC4(FMLA_S, 10, 25); \
	KMINS(R9, 6); \
	KMINS(R10, 7); \
	KMINS(R11, 8); \
	KMINS(R12, 9); \
	ACC4(FMLS_S, 6, 29)

#define K4ROWS(SB) \
	VMOVI $0x0f, V24.B16; \
	VMOVI $0x01, V28.B16; \
	VMOVI $0x02, V15.B16; \
row4: \
	MOVD R0, R8; \
	X4PTRS; \
	MOVD R5, R13; \
	ZEROACC; \
sb4: \
	SB; \
	SUBS $1, R13; \
	BNE sb4; \
	HSUM4X4; \
	STORE4; \
	NEXTROW(row4)

// ---- Q6_K: ql[128], qh[64], scales[16] int8, d f16 at 208 ----
//
// Each 128-element half n takes ql[64n:64n+64] (V0-V3) and
// qh[32n:32n+32] (V4, V5). Its sub-block k (16 elements) is
//
//	k = 0, 1: ql[16k:]    & 0xF | (qh[16k:]    & 0x03) << 4
//	k = 2, 3: ql[16k:]    & 0xF | (qh[16k-32:] & 0x0C) << 2
//	k = 4, 5: ql[16k-64:] >> 4  | (qh[16k-64:] & 0x30)
//	k = 6, 7: ql[16k-64:] >> 4  | (qh[16k-96:] & 0xC0) >> 2
//
// minus 32: Q6LO, Q6HI and Q6HI0 build it in V6 (scratch V7): the qh bits
// moved to 0x30, then the low nibble inserted under them (BIT with the
// mask 0x0F) or the high nibble added (USRA). R14 walks ql, R15 qh.

#define Q6LO(ql, qh, n) \
	VSHL $n, qh.B16, V7.B16; \
	VAND V25.B16, V7.B16, V6.B16; \
	VBIT V24.B16, ql.B16, V6.B16; \
	VSUB V26.B16, V6.B16, V6.B16

#define Q6HI(ql, qh, n) \
	VUSHR $n, qh.B16, V7.B16; \
	VAND V25.B16, V7.B16, V6.B16; \
	VUSRA $4, ql.B16, V6.B16; \
	VSUB V26.B16, V6.B16, V6.B16

// Q6HI0 is Q6HI without a shift of qh (shifts by 0 do not encode).
#define Q6HI0(ql, qh) \
	VAND V25.B16, qh.B16, V6.B16; \
	VUSRA $4, ql.B16, V6.B16; \
	VSUB V26.B16, V6.B16, V6.B16

// Q6SCALES reads the 16 scales and d of the block at R8: V16-V19 = the
// scales as int32 (four per register), S28 = d. Sets R14 and R15.
#define Q6SCALES \
	ADD $192, R8, R14; \
	VLD1 (R14), [V16.B16]; \
	MOVHU 208(R8), R15; \
	FMOVS R15, F28; \
	FCVTHS F28, F28; \
	SXTL_8H(17, 16); \
	SXTL2_8H(19, 16); \
	SXTL_4S(16, 17); \
	SXTL2_4S(17, 17); \
	SXTL_4S(18, 19); \
	SXTL2_4S(19, 19); \
	MOVD R8, R14; \
	ADD $128, R8, R15

// Q6HALF unpacks the ql and qh of one half and runs TOK(sub-block k's
// quants in V6, scale register, lane) for its eight sub-blocks.
#define Q6HALF(TOK, s0, s1) \
	VLD1.P 64(R14), [V0.B16, V1.B16, V2.B16, V3.B16]; \
	VLD1.P 32(R15), [V4.B16, V5.B16]; \
	Q6LO(V0, V4, 4); \
	TOK(s0, 0); \
	Q6LO(V1, V5, 4); \
	TOK(s0, 1); \
	Q6LO(V2, V4, 2); \
	TOK(s0, 2); \
	Q6LO(V3, V5, 2); \
	TOK(s0, 3); \
	Q6HI0(V0, V4); \
	TOK(s1, 0); \
	Q6HI0(V1, V5); \
	TOK(s1, 1); \
	Q6HI(V2, V4, 2); \
	TOK(s1, 2); \
	Q6HI(V3, V5, 2); \
	TOK(s1, 3)

// Q6TOK1: one sub-block times the next 16 activations at R9, into V10
// (even lanes) or V11 (odd): two dependency chains.
#define Q6TOK1_SD(sc, i) \
	VLD1.P 16(R9), [V8.B16]; \
	ZERO(9); \
	I8DOTSDOT(9, 6, 8); \
	MLA_S(10+(i&1), 9, sc, i)

#define Q6TOK1_NE(sc, i) \
	VLD1.P 16(R9), [V8.B16]; \
	ZERO(9); \
	I8DOTNEON(9, 6, 8); \
	MLA_S(10+(i&1), 9, sc, i)

#define Q6K1SB(TOK) \
	VLD1R.P 4(R9), [V12.S4]; \
	Q6SCALES; \
	ZERO(10); \
	ZERO(11); \
	Q6HALF(TOK, 16, 17); \
	Q6HALF(TOK, 18, 19); \
	ADD $32, R9; \
	ADD $210, R8; \
	FMULSS_S(28, 28, 12, 0); \
	VADD V11.S4, V10.S4, V10.S4; \
	SCVTF_4S(10, 10); \
	FMLA_S(20, 10, 28, 0)

// Q6TOK4: one sub-block times the next 16 activations of each row, into
// V10-V13.
#define Q6TOK4(DOT, sc, i) \
	VLD1.P 16(R9), [V8.B16]; \
	ZERO(9); \
	DOT(9, 6, 8); \
	MLA_S(10, 9, sc, i); \
	VLD1.P 16(R10), [V8.B16]; \
	ZERO(9); \
	DOT(9, 6, 8); \
	MLA_S(11, 9, sc, i); \
	VLD1.P 16(R11), [V8.B16]; \
	ZERO(9); \
	DOT(9, 6, 8); \
	MLA_S(12, 9, sc, i); \
	VLD1.P 16(R12), [V8.B16]; \
	ZERO(9); \
	DOT(9, 6, 8); \
	MLA_S(13, 9, sc, i)

#define Q6TOK4_SD(sc, i) Q6TOK4(I8DOTSDOT, sc, i)
#define Q6TOK4_NE(sc, i) Q6TOK4(I8DOTNEON, sc, i)

#define Q6K4SB(TOK) \
	VLD1R.P 4(R9), [V29.S4]; \
	VLD1.P 4(R10), V29.S[1]; \
	VLD1.P 4(R11), V29.S[2]; \
	VLD1.P 4(R12), V29.S[3]; \
	Q6SCALES; \
	ZERO(10); \
	ZERO(11); \
	ZERO(12); \
	ZERO(13); \
	Q6HALF(TOK, 16, 17); \
	Q6HALF(TOK, 18, 19); \
	ADD $32, R9; \
	ADD $32, R10; \
	ADD $32, R11; \
	ADD $32, R12; \
	ADD $210, R8; \
	FMUL_S(29, 29, 28, 0); \
	ACC4(FMLA_S, 10, 29)

#define SB1_Q4_K_SD K1SB(Q4KW, NOQH, I8DOTSDOT)
#define SB1_Q5_K_SD K1SB(Q5KW, Q5KQH, I8DOTSDOT)
#define SB1_Q6_K_SD Q6K1SB(Q6TOK1_SD)
#define SB1_Q4_K_NE K1SB(Q4KW, NOQH, I8DOTNEON)
#define SB1_Q5_K_NE K1SB(Q5KW, Q5KQH, I8DOTNEON)
#define SB1_Q6_K_NE Q6K1SB(Q6TOK1_NE)

// func dotQ4_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_Kx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	K1ROWS(SB1_Q4_K_SD)

// func dotQ5_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_Kx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	K1ROWS(SB1_Q5_K_SD)

// func dotQ6_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ6_Kx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	VMOVI $0x30, V25.B16
	VMOVI $0x20, V26.B16
	K1ROWS(SB1_Q6_K_SD)

// func dotQ4_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_Kx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	K1ROWS(SB1_Q4_K_NE)

// func dotQ5_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_Kx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	K1ROWS(SB1_Q5_K_NE)

// func dotQ6_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ6_Kx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	VMOVI $0x30, V25.B16
	VMOVI $0x20, V26.B16
	K1ROWS(SB1_Q6_K_NE)

#define SB4_Q4_K_SD K4SB(Q4KW, NOQH, I8DOTSDOT)
#define SB4_Q5_K_SD K4SB(Q5KW, Q5KQH, I8DOTSDOT)
#define SB4_Q6_K_SD Q6K4SB(Q6TOK4_SD)
#define SB4_Q4_K_NE K4SB(Q4KW, NOQH, I8DOTNEON)
#define SB4_Q5_K_NE K4SB(Q5KW, Q5KQH, I8DOTNEON)
#define SB4_Q6_K_NE Q6K4SB(Q6TOK4_NE)

// func dotQ4_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_Kx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	K4ROWS(SB4_Q4_K_SD)

// func dotQ5_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_Kx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	K4ROWS(SB4_Q5_K_SD)

// func dotQ6_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ6_Kx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	VMOVI $0x30, V25.B16
	VMOVI $0x20, V26.B16
	K4ROWS(SB4_Q6_K_SD)

// func dotQ4_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_Kx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	K4ROWS(SB4_Q4_K_NE)

// func dotQ5_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_Kx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	K4ROWS(SB4_Q5_K_NE)

// func dotQ6_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ6_Kx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	VMOVI $0x30, V25.B16
	VMOVI $0x20, V26.B16
	K4ROWS(SB4_Q6_K_NE)
