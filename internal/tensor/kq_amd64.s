//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"
#include "kq_amd64.h"

// Kernels for the K-quants (256-element super-blocks) times Q8_K
// activations (292-byte blocks: d f32, qs[256], bsums[16] int16).
//
// As in ggml, the integer products of a whole super-block, sub-block
// scales included, are summed exactly in int32 (isum); per super-block the
// sum is scaled by d_w*d_x, and for Q4_K/Q5_K the minimum term
// dmin_w*d_x*sum_j(m_j * bsum_j) is subtracted.
//
// Token addresses are passed to the macros as a suffix T: T0 = (BX) for
// the first token, T1, T2 and T3 for the others (see kq_amd64.h).
// Registers: as in kq_amd64.h; Y8-Y11 float accumulators, Y12-Y15 isum.

SPLAT32(k0F, 0x0f0f0f0f0f0f0f0f)
SPLAT32(k10, 0x1010101010101010)
SPLAT32(k20, 0x2020202020202020)
SPLAT32(k30, 0x3030303030303030)

// ---- Q4_K, Q5_K ----

// KTOK adds one token's products with the unsigned quants of Y2 (at
// activation offset ylo) and Y3 (at yhi), scaled by Y4 and Y5, to isum.
#define KTOK(ylo, yhi, T, isum) \
	VPMADDUBSW ylo T, Y2, Y6; \
	VPMADDWD Y4, Y6, Y6; \
	VPMADDUBSW yhi T, Y3, Y7; \
	VPMADDWD Y5, Y7, Y7; \
	VPADDD Y6, isum, isum; \
	VPADDD Y7, isum, isum

// KDMIN sets X4 = [d, dmin] of the Q4_K/Q5_K block at AX.
#define KDMIN VMOVD (AX), X4; VCVTPH2PS X4, X4

// KEND folds a token's super-block into acc: d*d_x*isum minus
// dmin*d_x*sum(m_j * bsum_j); X1 = mins, X4 = [d, dmin].
#define KEND(T, isum, acc) \
	VCVTDQ2PS isum, isum; \
	VBROADCASTSS 0 T, X6; \
	VMULPS X4, X6, X6; \
	VBROADCASTSS X6, Y7; \
	VFMADD231PS Y7, isum, acc; \
	VMOVSHDUP X6, X6; \
	VBROADCASTSS X6, Y6; \
	VMOVDQU 260 T, Y7; \
	VEXTRACTI128 $1, Y7, X2; \
	VPHADDW X2, X7, X7; \
	VPMADDWD X1, X7, X7; \
	VCVTDQ2PS Y7, Y7; \
	VFNMADD231PS Y6, Y7, acc

#define Q4KSB1 \
	VPXOR Y12, Y12, Y12; \
	KSCALES; \
	Q4KCHUNK(16, 0); KTOK(4, 36, T0, Y12); \
	Q4KCHUNK(48, 64); KTOK(68, 100, T0, Y12); \
	Q4KCHUNK(80, 128); KTOK(132, 164, T0, Y12); \
	Q4KCHUNK(112, 192); KTOK(196, 228, T0, Y12); \
	KDMIN; \
	KEND(T0, Y12, Y8)

#define KTOK4(ylo, yhi) \
	KTOK(ylo, yhi, T0, Y12); \
	KTOK(ylo, yhi, T1, Y13); \
	KTOK(ylo, yhi, T2, Y14); \
	KTOK(ylo, yhi, T3, Y15)

#define KEND4 \
	KDMIN; \
	KEND(T0, Y12, Y8); \
	KEND(T1, Y13, Y9); \
	KEND(T2, Y14, Y10); \
	KEND(T3, Y15, Y11)

#define Q4KSB4 \
	ZERO4ISUM; \
	KSCALES; \
	Q4KCHUNK(16, 0); KTOK4(4, 36); \
	Q4KCHUNK(48, 64); KTOK4(68, 100); \
	Q4KCHUNK(80, 128); KTOK4(132, 164); \
	Q4KCHUNK(112, 192); KTOK4(196, 228); \
	KEND4

#define Q5KSB1 \
	VPXOR Y12, Y12, Y12; \
	KSCALES; \
	Q5KCHUNK(48, 0, VPSLLW, 4, VPSLLW, 3); KTOK(4, 36, T0, Y12); \
	Q5KCHUNK(80, 64, VPSLLW, 2, VPSLLW, 1); KTOK(68, 100, T0, Y12); \
	Q5KCHUNK(112, 128, VPSRLW, 0, VPSRLW, 1); KTOK(132, 164, T0, Y12); \
	Q5KCHUNK(144, 192, VPSRLW, 2, VPSRLW, 3); KTOK(196, 228, T0, Y12); \
	KDMIN; \
	KEND(T0, Y12, Y8)

#define Q5KSB4 \
	ZERO4ISUM; \
	KSCALES; \
	Q5KCHUNK(48, 0, VPSLLW, 4, VPSLLW, 3); KTOK4(4, 36); \
	Q5KCHUNK(80, 64, VPSLLW, 2, VPSLLW, 1); KTOK4(68, 100); \
	Q5KCHUNK(112, 128, VPSRLW, 0, VPSRLW, 1); KTOK4(132, 164); \
	Q5KCHUNK(144, 192, VPSRLW, 2, VPSRLW, 3); KTOK4(196, 228); \
	KEND4

// ---- Q6_K ----

// Q6KPREP makes Y2 signed (q-32), Y3 = |Y2|, and Y4 the int16 scales of
// its two 16-element groups (shuffle pattern at poff).
#define Q6KPREP(poff) \
	VPSUBB k20<>(SB), Y2, Y2; \
	VPSIGNB Y2, Y2, Y3; \
	VMOVDQU 192(AX), X4; \
	VPSHUFB kQ6Pat<>+poff(SB), X4, X4; \
	VPMOVSXBW X4, Y4

#define Q6KTOK(yoff, T, isum) \
	VMOVDQU yoff T, Y6; \
	VPSIGNB Y2, Y6, Y6; \
	VPMADDUBSW Y6, Y3, Y6; \
	VPMADDWD Y4, Y6, Y6; \
	VPADDD Y6, isum, isum

// Q6KEND folds isum into acc scaled by d*d_x; X7 = d.
#define Q6KEND(T, isum, acc) \
	VMULSS 0 T, X7, X6; \
	VBROADCASTSS X6, Y6; \
	VCVTDQ2PS isum, isum; \
	VFMADD231PS Y6, isum, acc

#define Q6KD VPINSRW $0, 208(AX), X7, X7; VCVTPH2PS X7, X7

#define Q6KSB1 \
	VPXOR Y12, Y12, Y12; \
	Q6KLOAD(0, 32, 128); \
	Q6KW0; Q6KPREP(0); Q6KTOK(4, T0, Y12); \
	Q6KW1; Q6KPREP(16); Q6KTOK(36, T0, Y12); \
	Q6KW2; Q6KPREP(32); Q6KTOK(68, T0, Y12); \
	Q6KW3; Q6KPREP(48); Q6KTOK(100, T0, Y12); \
	Q6KLOAD(64, 96, 160); \
	Q6KW0; Q6KPREP(64); Q6KTOK(132, T0, Y12); \
	Q6KW1; Q6KPREP(80); Q6KTOK(164, T0, Y12); \
	Q6KW2; Q6KPREP(96); Q6KTOK(196, T0, Y12); \
	Q6KW3; Q6KPREP(112); Q6KTOK(228, T0, Y12); \
	Q6KD; \
	Q6KEND(T0, Y12, Y8)

#define Q6KSB4 \
	ZERO4ISUM; \
	Q6KLOAD(0, 32, 128); \
	Q6KW0; Q6KPREP(0); TOK4(Q6KTOK, 4); \
	Q6KW1; Q6KPREP(16); TOK4(Q6KTOK, 36); \
	Q6KW2; Q6KPREP(32); TOK4(Q6KTOK, 68); \
	Q6KW3; Q6KPREP(48); TOK4(Q6KTOK, 100); \
	Q6KLOAD(64, 96, 160); \
	Q6KW0; Q6KPREP(64); TOK4(Q6KTOK, 132); \
	Q6KW1; Q6KPREP(80); TOK4(Q6KTOK, 164); \
	Q6KW2; Q6KPREP(96); TOK4(Q6KTOK, 196); \
	Q6KW3; Q6KPREP(112); TOK4(Q6KTOK, 228); \
	Q6KD; \
	Q6KEND(T0, Y12, Y8); \
	Q6KEND(T1, Y13, Y9); \
	Q6KEND(T2, Y14, Y10); \
	Q6KEND(T3, Y15, Y11)

// func dotQ4_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_Kx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	KX1(Q4KSB1, 144)

// func dotQ4_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_Kx4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(Q4KSB4, 144)

// func dotQ5_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_Kx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	KX1(Q5KSB1, 176)

// func dotQ5_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_Kx4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(Q5KSB4, 176)

// func dotQ6_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ6_Kx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	KX1(Q6KSB1, 210)

// func dotQ6_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ6_Kx4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(Q6KSB4, 210)
