//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"
#include "kq_amd64.h"

// AVX-512 (VNNI, VL, BW) kernels for the K-quants times Q8_K activations:
// kq_amd64.s's kernels with VPDPWSSD (int16 pair products added to int32
// lanes) doing VPMADDWD's and VPADDD's work, and Q6_K's quants taken
// unsigned (0..63) so that VPMADDUBSW needs no sign transfer: the offset
// of 32 comes back through the activations' block sums, exactly, as
// -32 * sum_j(scale_j * bsum_j), one more VPDPWSSD per token. (The sums
// must be those of the quants, as Quantize writes them; the Q4_K and Q5_K
// products rely on them in every kernel set already.)
//
// The one-token Q4_K and Q5_K kernels gained nothing measurable over
// AVX2's and are not here. Per super-block each token keeps two int32
// sums (two dependency chains), added before they are scaled as the AVX2
// kernels scale theirs.
//
// Registers: as in kq_amd64.h; Y8-Y11 float accumulators, Y12-Y19 int32
// sums, Y24-Y26 per super-block constants (d and dmin in Y25 and Y26;
// Q6_K's scales, scaled scales and d in Y24-Y26). The constant tables, the unpacking macros (KSCALES, Q4KCHUNK,
// Q5KCHUNK, Q6KLOAD, Q6KW0..3) and the loops (KX1, KX4) are kq_amd64.h's.

SPLAT32(k0F, 0x0f0f0f0f0f0f0f0f)
SPLAT32(k10, 0x1010101010101010)
SPLAT32(k30, 0x3030303030303030)
SPLAT32(kM32, 0xffe0ffe0ffe0ffe0) // int16 -32

// ---- Q4_K, Q5_K ----

// KDV: Y25 = d, Y26 = dmin of the block at AX.
#define KDV VPBROADCASTW (AX), X6; VCVTPH2PS X6, Y25; VPBROADCASTW 2(AX), X7; VCVTPH2PS X7, Y26

// KTOKV adds one token's products with the quants of Y2 (activations at
// ylo) and Y3 (at yhi), scaled by Y4 and Y5, to ilo and ihi.
#define KTOKV(ylo, yhi, T, ilo, ihi) \
	VPMADDUBSW ylo T, Y2, Y6; \
	VPDPWSSD Y4, Y6, ilo; \
	VPMADDUBSW yhi T, Y3, Y7; \
	VPDPWSSD Y5, Y7, ihi

// KENDV folds a token's super-block into acc as kq_amd64.s's KEND does,
// in the same order, so that results are bit for bit AVX2's (the F16 KV
// cache rounds K and V, and a kernel that rounded differently flipped
// enough of those roundings to move the tiny MoE fixtures' routing
// probabilities by 1e-2): acc += d*d_x * isum (isum = ilo + ihi; ihi is
// then scratch), then acc -= dmin*d_x * sum(m_j * bsum_j) in lanes 0-3
// (X1 = the mins).
#define KENDV(T, ilo, ihi, acc) \
	VPADDD ihi, ilo, ilo; \
	VCVTDQ2PS ilo, ilo; \
	VMULPS.BCST 0 T, Y25, Y6; \
	VFMADD231PS Y6, ilo, acc; \
	VMULPS.BCST 0 T, Y26, Y7; \
	VMOVDQU 260 T, Y6; \
	VEXTRACTI128 $1, Y6, X2; \
	VPHADDW X2, X6, X6; \
	VPMADDWD X1, X6, X6; \
	VCVTDQ2PS Y6, Y6; \
	VFNMADD231PS Y7, Y6, acc

#define ZERO2(a, b) VPXORD a, a, a; VPXORD b, b, b
#define ZERO8 ZERO2(Y12, Y13); ZERO2(Y14, Y15); ZERO2(Y16, Y17); ZERO2(Y18, Y19)

#define KTOK4V(ylo, yhi) \
	KTOKV(ylo, yhi, T0, Y12, Y16); \
	KTOKV(ylo, yhi, T1, Y13, Y17); \
	KTOKV(ylo, yhi, T2, Y14, Y18); \
	KTOKV(ylo, yhi, T3, Y15, Y19)

#define KEND4V \
	KDV; \
	KENDV(T0, Y12, Y16, Y8); \
	KENDV(T1, Y13, Y17, Y9); \
	KENDV(T2, Y14, Y18, Y10); \
	KENDV(T3, Y15, Y19, Y11)

#define Q4KSB4V \
	ZERO8; \
	KSCALES; \
	Q4KCHUNK(16, 0); KTOK4V(4, 36); \
	Q4KCHUNK(48, 64); KTOK4V(68, 100); \
	Q4KCHUNK(80, 128); KTOK4V(132, 164); \
	Q4KCHUNK(112, 192); KTOK4V(196, 228); \
	KEND4V

#define Q5KSB4V \
	ZERO8; \
	KSCALES; \
	Q5KCHUNK(48, 0, VPSLLW, 4, VPSLLW, 3); KTOK4V(4, 36); \
	Q5KCHUNK(80, 64, VPSLLW, 2, VPSLLW, 1); KTOK4V(68, 100); \
	Q5KCHUNK(112, 128, VPSRLW, 0, VPSRLW, 1); KTOK4V(132, 164); \
	Q5KCHUNK(144, 192, VPSRLW, 2, VPSRLW, 3); KTOK4V(196, 228); \
	KEND4V

// ---- Q6_K: ql[128], qh[64], scales[16] int8, d f16 at 208 ----

// Q6KSC sets X24 = the 16 scales (bytes), Y25 = -32 * scale as int16
// and Y26 = d.
#define Q6KSC \
	VMOVDQU64 192(AX), X24; \
	VPMOVSXBW X24, Y25; \
	VPMULLW kM32<>(SB), Y25, Y25; \
	VPBROADCASTW 208(AX), X6; \
	VCVTPH2PS X6, Y26

// Q6KPREPV: Y4 = the int16 scales of Y2's two 16-element groups.
#define Q6KPREPV(poff) VPSHUFB kQ6Pat<>+poff(SB), X24, X4; VPMOVSXBW X4, Y4

#define Q6KTOKV(yoff, T, isum) \
	VPMADDUBSW yoff T, Y2, Y6; \
	VPDPWSSD Y4, Y6, isum

// Q6KENDV folds the super-block's sum, ilo + ihi summed over the lanes
// (xi: ilo's low half)
// in int32, into lane 0 of acc scaled by d*d_x (rounded first, as ggml
// does). The lanes are summed before conversion because they do not hold
// the signed products: the offset's -32*scale*bsum terms sit in other
// lanes than the unsigned quants' products they cancel, and lane sums
// kept in float across super-blocks of very different scales lost 1e-4
// of the dot product's magnitude (TestMatMulAcrossScales).
#define Q6KENDV(T, ilo, ihi, xi, acc) \
	VPADDD ihi, ilo, ilo; \
	ISUM1(T, ilo, xi, X26, acc)

// Q6KEND4V does Q6KENDV's work for the four tokens at once: Y12-Y15 plus
// Y16-Y19 summed across lanes and folded into X8 (ISUM4); the kernel
// then stores X8 as it is (KX4N).
#define Q6KEND4V \
	VPADDD Y16, Y12, Y12; \
	VPADDD Y17, Y13, Y13; \
	VPADDD Y18, Y14, Y14; \
	VPADDD Y19, Y15, Y15; \
	ISUM4(X26)

#define Q6KSB1V \
	ZERO2(Y12, Y13); \
	Q6KSC; \
	VPDPWSSD 260 T0, Y25, Y13; \
	Q6KLOAD(0, 32, 128); \
	Q6KW0; Q6KPREPV(0); Q6KTOKV(4, T0, Y12); \
	Q6KW1; Q6KPREPV(16); Q6KTOKV(36, T0, Y13); \
	Q6KW2; Q6KPREPV(32); Q6KTOKV(68, T0, Y12); \
	Q6KW3; Q6KPREPV(48); Q6KTOKV(100, T0, Y13); \
	Q6KLOAD(64, 96, 160); \
	Q6KW0; Q6KPREPV(64); Q6KTOKV(132, T0, Y12); \
	Q6KW1; Q6KPREPV(80); Q6KTOKV(164, T0, Y13); \
	Q6KW2; Q6KPREPV(96); Q6KTOKV(196, T0, Y12); \
	Q6KW3; Q6KPREPV(112); Q6KTOKV(228, T0, Y13); \
	Q6KENDV(T0, Y12, Y13, X12, X8)

#define Q6KTOK4V(yoff, a, b, c, d) \
	Q6KTOKV(yoff, T0, a); \
	Q6KTOKV(yoff, T1, b); \
	Q6KTOKV(yoff, T2, c); \
	Q6KTOKV(yoff, T3, d)

#define Q6KLO(yoff) Q6KTOK4V(yoff, Y12, Y13, Y14, Y15)
#define Q6KHI(yoff) Q6KTOK4V(yoff, Y16, Y17, Y18, Y19)

#define Q6KSB4V \
	ZERO8; \
	Q6KSC; \
	VPDPWSSD 260 T0, Y25, Y16; \
	VPDPWSSD 260 T1, Y25, Y17; \
	VPDPWSSD 260 T2, Y25, Y18; \
	VPDPWSSD 260 T3, Y25, Y19; \
	Q6KLOAD(0, 32, 128); \
	Q6KW0; Q6KPREPV(0); Q6KLO(4); \
	Q6KW1; Q6KPREPV(16); Q6KHI(36); \
	Q6KW2; Q6KPREPV(32); Q6KLO(68); \
	Q6KW3; Q6KPREPV(48); Q6KHI(100); \
	Q6KLOAD(64, 96, 160); \
	Q6KW0; Q6KPREPV(64); Q6KLO(132); \
	Q6KW1; Q6KPREPV(80); Q6KHI(164); \
	Q6KW2; Q6KPREPV(96); Q6KLO(196); \
	Q6KW3; Q6KPREPV(112); Q6KHI(228); \
	Q6KEND4V

// func dotQ4_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_Kx4VNNI(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(Q4KSB4V, 144)

// func dotQ5_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_Kx4VNNI(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(Q5KSB4V, 176)

// func dotQ6_Kx1VNNI(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ6_Kx1VNNI(SB), NOSPLIT, $0-48
	X1ARGS
	KX1(Q6KSB1V, 210)

// func dotQ6_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ6_Kx4VNNI(SB), NOSPLIT, $0-64
	X4ARGS
	KX4N(Q6KSB4V, 210)
