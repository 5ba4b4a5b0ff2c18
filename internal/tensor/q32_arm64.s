//go:build !purego

#include "textflag.h"
#include "asm_arm64.h"

// Kernels for the 32-element block formats (NEON). Two skeletons:
//
//   - signed weights (Q8_0, Q4_0, Q5_0) times Q8_0 activations (34-byte
//     blocks): per block d_w*d_x times the integer dot product;
//   - unsigned weights (Q4_1, Q5_1: x = d*q + m) times Q8_1 activations
//     (36-byte blocks: d, s = d*sum(q), qs): per block
//     d_w*d_x*dot(q, x) + m_w*s_x, as ggml computes it.
//
// Weights are unpacked to signed bytes (the unsigned quants, at most 31,
// are valid int8 too) so one signed dot product serves both. Each kernel
// is built twice from the same macros: with SDOT (I8DOTSDOT) and with
// SMULL/SADALP (I8DOTNEON) for cores without the dot product extension.
//
// A W_ macro loads the weight block at R8, advancing R8 past it: the
// scale (Q4_1, Q5_1: scale and minimum) replicated into every lane of Vs
// (ld1r, which writes the whole register, so no block waits for the
// previous one's lane inserts), the 32 quants into Va (elements 0-15) and
// Vb (16-31). It uses V14, V29 and R15 as scratch.
//
// Constants: V24 = 0x0F bytes; V25, V26 the byte shuffles that spread
// the 32-bit fifth-bit mask of Q5_0/Q5_1 (bytes 0-1 and 2-3) over 16
// lanes each, V27 = bit k in lane k mod 8; V28 = 0x08 (Q4_0) or 0x1F
// (Q5_1) bytes.
//
// Registers x1: R8 weight block, R9 activation block, R10 blocks left;
// V20, V21 float accumulators (even and odd blocks), V22, V23 the m*s
// sums of the unsigned kernels. x4: R8 weight block, R9-R12 activation
// blocks of the four rows, R13 blocks left; V20-V23 accumulators, one per
// row, V8 the m*s sums.

#define CONSTS(hi) \
	VMOVI $0x0f, V24.B16; \
	VMOVQ $0x0000000000000000, $0x0101010101010101, V25; \
	VMOVQ $0x0202020202020202, $0x0303030303030303, V26; \
	VMOVQ $0x8040201008040201, $0x8040201008040201, V27; \
	VMOVI $hi, V28.B16

// NIBBLES splits the 16 bytes at R8 into their low (Va) and high (Vb)
// nibbles: elements 0-15 and 16-31.
#define NIBBLES(a, b) \
	VLD1.P 16(R8), [b.B16]; \
	VAND V24.B16, b.B16, a.B16; \
	VUSHR $4, b.B16, b.B16

// QHMASK expands the 32-bit mask in R15: byte j of Va (elements 0-15)
// and Vb (16-31) is 0xFF where bit j is set.
#define QHMASK(a, b) \
	VDUP R15, V29.S4; \
	VTBL V25.B16, [V29.B16], a.B16; \
	VTBL V26.B16, [V29.B16], b.B16; \
	VCMTST V27.B16, a.B16, a.B16; \
	VCMTST V27.B16, b.B16, b.B16

// Q5NIBBLES puts the nibbles of the 16 bytes at R8 under the high bits
// of the masks in Va and Vb: BIT inserts the low nibbles (mask 0x0F),
// SRI the high ones.
#define Q5NIBBLES(a, b) \
	VLD1.P 16(R8), [V14.B16]; \
	VBIT V24.B16, V14.B16, a.B16; \
	VSRI $4, V14.B16, b.B16

#define W_Q8_0(s, a, b) \
	VLD1R.P 2(R8), [s.H4]; \
	VLD1.P 32(R8), [a.B16, b.B16]

#define W_Q4_0(s, a, b) \
	VLD1R.P 2(R8), [s.H4]; \
	NIBBLES(a, b); \
	VSUB V28.B16, a.B16, a.B16; \
	VSUB V28.B16, b.B16, b.B16

// Q5_0: q - 16 = nibble | 0xF0 where the fifth bit is clear: the mask of
// the inverted bits gives the high four bits.
#define W_Q5_0(s, a, b) \
	VLD1R.P 2(R8), [s.H4]; \
	MOVWU.P 4(R8), R15; \
	MVNW R15, R15; \
	QHMASK(a, b); \
	Q5NIBBLES(a, b)

#define W_Q4_1(s, a, b) \
	VLD1R.P 4(R8), [s.S4]; \
	NIBBLES(a, b)

// Q5_1: nibble | 0xF0 where the fifth bit is set, masked to 0x1F.
#define W_Q5_1(s, a, b) \
	VLD1R.P 4(R8), [s.S4]; \
	MOVWU.P 4(R8), R15; \
	QHMASK(a, b); \
	Q5NIBBLES(a, b); \
	VAND V28.B16, a.B16, a.B16; \
	VAND V28.B16, b.B16, b.B16

// ---- signed weights x Q8_0 ----

// SBLK1 adds the block at R8 times the one at R9 into V(acc).
#define SBLK1(W, DOT, acc) \
	W(V16, V0, V1); \
	VLD1.P 2(R9), V16.H[1]; \
	VLD1.P 32(R9), [V2.B16, V3.B16]; \
	ZERO(4); \
	DOT(4, 0, 2); \
	DOT(4, 1, 3); \
	FCVTL_4S(17, 16); \
	FMULSS_S(17, 17, 17, 1); \
	SCVTF_4S(4, 4); \
	FMLA_S(acc, 4, 17, 0)

// UBLK1 adds the block at R8 times the one at R9: d_w*d_x*dot into
// V(acc), and m_w*s_x into lane 1 of V(macc).
#define UBLK1(W, DOT, acc, macc) \
	W(V16, V0, V1); \
	VLD1.P 4(R9), V16.S[1]; \
	VLD1.P 32(R9), [V2.B16, V3.B16]; \
	ZERO(4); \
	DOT(4, 0, 2); \
	DOT(4, 1, 3); \
	FCVTL_4S(17, 16); \
	VEXT $8, V17.B16, V17.B16, V18.B16; \
	FMUL_4S(17, 17, 18); \
	FADD_4S(macc, macc, 17); \
	SCVTF_4S(4, 4); \
	FMLA_S(acc, 4, 17, 0)

// KX1 is the body of a one-row kernel: the row loop around BLK, which
// processes one block into the accumulator numbered by its argument;
// blocks alternate between two accumulators to hide the FMA latency. END
// adds anything beyond V20 into lane 0 of V20.
#define KX1(BLK, END) \
row: \
	MOVD R0, R8; \
	MOVD R3, R9; \
	MOVD R4, R10; \
	ZEROACC; \
	CMP $2, R10; \
	BLT tail; \
pair: \
	BLK(20); \
	BLK(21); \
	SUB $2, R10; \
	CMP $2, R10; \
	BGE pair; \
tail: \
	CBZ R10, done; \
	BLK(20); \
done: \
	FADD_4S(20, 20, 21); \
	HSUM4(20); \
	END; \
	FMOVS.P F20, 4(R5); \
	NEXTROW(row)

// UEND adds lane 1 of V22+V23 (the m*s sums) to the result.
#define UEND \
	FADD_4S(22, 22, 23); \
	VDUP V22.S[1], V23.S4; \
	FADDS F23, F20, F20

#define NOEND

// STOK multiplies the weights in V0/V1 with the activation block at
// (Rt), advancing Rt, into the int32 lanes of V(acc), and gathers the
// scale into lane t of V17 (lane 0 replicated: the first write of V17
// covers the whole register).
#define STOK(DOT, Rt, t, acc) \
	VLD1.P 2(Rt), V17.H[t]; \
	VLD1.P 32(Rt), [V2.B16, V3.B16]; \
	ZERO(acc); \
	DOT(acc, 0, 2); \
	DOT(acc, 1, 3)

#define SBLK4(W, DOT) \
	W(V16, V0, V1); \
	VLD1R.P 2(R9), [V17.H4]; \
	VLD1.P 32(R9), [V2.B16, V3.B16]; \
	ZERO(4); \
	DOT(4, 0, 2); \
	DOT(4, 1, 3); \
	STOK(DOT, R10, 1, 5); \
	STOK(DOT, R11, 2, 6); \
	STOK(DOT, R12, 3, 7); \
	FCVTL_4S(18, 16); \
	FCVTL_4S(19, 17); \
	FMUL_S(19, 19, 18, 0); \
	ACC4(FMLA_S, 4, 19)

// UTOK is STOK for Q8_1 activations: [d, s] goes to lane t of V17.
#define UTOK(DOT, Rt, t, acc) \
	VLD1.P 4(Rt), V17.S[t]; \
	VLD1.P 32(Rt), [V2.B16, V3.B16]; \
	ZERO(acc); \
	DOT(acc, 0, 2); \
	DOT(acc, 1, 3)

// UBLK4: V18 = [d_w, m_w, ...], V19 = [d_t, s_t] pairs, split into V29
// (the d_t) and V19 (the s_t); V8 sums m_w*s_t.
#define UBLK4(W, DOT) \
	W(V16, V0, V1); \
	VLD1R.P 4(R9), [V17.S4]; \
	VLD1.P 32(R9), [V2.B16, V3.B16]; \
	ZERO(4); \
	DOT(4, 0, 2); \
	DOT(4, 1, 3); \
	UTOK(DOT, R10, 1, 5); \
	UTOK(DOT, R11, 2, 6); \
	UTOK(DOT, R12, 3, 7); \
	FCVTL_4S(18, 16); \
	FCVTL_4S(19, 17); \
	FCVTL2_4S(17, 17); \
	VUZP1 V17.S4, V19.S4, V29.S4; \
	VUZP2 V17.S4, V19.S4, V19.S4; \
	FMUL_S(29, 29, 18, 0); \
	FMLA_S(8, 19, 18, 1); \
	ACC4(FMLA_S, 4, 29)

// KX4 is the body of a four-row kernel around the block macro BLK; END
// adds anything beyond the accumulators into V20 after their reduction.
#define KX4(BLK, END) \
row4: \
	MOVD R0, R8; \
	X4PTRS; \
	MOVD R5, R13; \
	ZEROACC; \
	ZERO(8); \
blk4: \
	BLK; \
	SUBS $1, R13; \
	BNE blk4; \
	HSUM4X4; \
	END; \
	STORE4; \
	NEXTROW(row4)

#define UEND4 FADD_4S(20, 20, 8)

// Block macros with the weight format and dot product bound, for KX1
// and KX4.
#define B1_Q8_0_SD(acc) SBLK1(W_Q8_0, I8DOTSDOT, acc)
#define B1_Q4_0_SD(acc) SBLK1(W_Q4_0, I8DOTSDOT, acc)
#define B1_Q5_0_SD(acc) SBLK1(W_Q5_0, I8DOTSDOT, acc)
#define B1_Q4_1_SD(acc) UBLK1(W_Q4_1, I8DOTSDOT, acc, acc+2)
#define B1_Q5_1_SD(acc) UBLK1(W_Q5_1, I8DOTSDOT, acc, acc+2)
#define B1_Q8_0_NE(acc) SBLK1(W_Q8_0, I8DOTNEON, acc)
#define B1_Q4_0_NE(acc) SBLK1(W_Q4_0, I8DOTNEON, acc)
#define B1_Q5_0_NE(acc) SBLK1(W_Q5_0, I8DOTNEON, acc)
#define B1_Q4_1_NE(acc) UBLK1(W_Q4_1, I8DOTNEON, acc, acc+2)
#define B1_Q5_1_NE(acc) UBLK1(W_Q5_1, I8DOTNEON, acc, acc+2)

// func dotQ8_0x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ8_0x1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x08)
	KX1(B1_Q8_0_SD, NOEND)

// func dotQ4_0x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_0x1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x08)
	KX1(B1_Q4_0_SD, NOEND)

// func dotQ5_0x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_0x1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x08)
	KX1(B1_Q5_0_SD, NOEND)

// func dotQ4_1x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_1x1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x1f)
	KX1(B1_Q4_1_SD, UEND)

// func dotQ5_1x1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_1x1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x1f)
	KX1(B1_Q5_1_SD, UEND)

// func dotQ8_0x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ8_0x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x08)
	KX1(B1_Q8_0_NE, NOEND)

// func dotQ4_0x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_0x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x08)
	KX1(B1_Q4_0_NE, NOEND)

// func dotQ5_0x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_0x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x08)
	KX1(B1_Q5_0_NE, NOEND)

// func dotQ4_1x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_1x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x1f)
	KX1(B1_Q4_1_NE, UEND)

// func dotQ5_1x1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_1x1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	CONSTS(0x1f)
	KX1(B1_Q5_1_NE, UEND)

// func dotQ8_0x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ8_0x4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x08)
	KX4(SBLK4(W_Q8_0, I8DOTSDOT), NOEND)

// func dotQ4_0x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_0x4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x08)
	KX4(SBLK4(W_Q4_0, I8DOTSDOT), NOEND)

// func dotQ5_0x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_0x4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x08)
	KX4(SBLK4(W_Q5_0, I8DOTSDOT), NOEND)

// func dotQ4_1x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_1x4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x1f)
	KX4(UBLK4(W_Q4_1, I8DOTSDOT), UEND4)

// func dotQ5_1x4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_1x4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x1f)
	KX4(UBLK4(W_Q5_1, I8DOTSDOT), UEND4)

// func dotQ8_0x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ8_0x4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x08)
	KX4(SBLK4(W_Q8_0, I8DOTNEON), NOEND)

// func dotQ4_0x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_0x4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x08)
	KX4(SBLK4(W_Q4_0, I8DOTNEON), NOEND)

// func dotQ5_0x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_0x4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x08)
	KX4(SBLK4(W_Q5_0, I8DOTNEON), NOEND)

// func dotQ4_1x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_1x4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x1f)
	KX4(UBLK4(W_Q4_1, I8DOTNEON), UEND4)

// func dotQ5_1x4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_1x4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	CONSTS(0x1f)
	KX4(UBLK4(W_Q5_1, I8DOTNEON), UEND4)
