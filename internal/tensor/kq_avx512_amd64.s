//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

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
// sums (two dependency chains) and ends as (d*isum - dmin*summ) * d_x, where summ =
// sum_j(m_j * bsum_j) comes from one VPDPWSSD with the mins repeated per
// 16-element half.
//
// Registers: as in kq_amd64.s (SI weight row, AX weight block, BX
// activation block, CX, R8-R13, DX, DI); Y8-Y11 float accumulators,
// Y12-Y19 int32 sums, Y24-Y26 per super-block constants (mins or Q6_K's
// scaled scales, d, dmin).
//
// The constant tables and the unpacking macros are those of kq_amd64.s
// (file-local symbols cannot be shared between assembly files).

DATA k0F<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA k0F<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA k0F<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA k0F<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL k0F<>(SB), RODATA|NOPTR, $32
DATA k10<>+0(SB)/8, $0x1010101010101010
DATA k10<>+8(SB)/8, $0x1010101010101010
DATA k10<>+16(SB)/8, $0x1010101010101010
DATA k10<>+24(SB)/8, $0x1010101010101010
GLOBL k10<>(SB), RODATA|NOPTR, $32
DATA k30<>+0(SB)/8, $0x3030303030303030
DATA k30<>+8(SB)/8, $0x3030303030303030
DATA k30<>+16(SB)/8, $0x3030303030303030
DATA k30<>+24(SB)/8, $0x3030303030303030
GLOBL k30<>(SB), RODATA|NOPTR, $32
// int16 -32.
DATA kM32<>+0(SB)/8, $0xffe0ffe0ffe0ffe0
DATA kM32<>+8(SB)/8, $0xffe0ffe0ffe0ffe0
DATA kM32<>+16(SB)/8, $0xffe0ffe0ffe0ffe0
DATA kM32<>+24(SB)/8, $0xffe0ffe0ffe0ffe0
GLOBL kM32<>(SB), RODATA|NOPTR, $32
DATA kKShift<>+0(SB)/8, $0x0000000000000000
DATA kKShift<>+8(SB)/8, $0x0000000400000000
GLOBL kKShift<>(SB), RODATA|NOPTR, $16
DATA kKMaskLo<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA kKMaskLo<>+8(SB)/8, $0x0f0f0f0f3f3f3f3f
GLOBL kKMaskLo<>(SB), RODATA|NOPTR, $16
DATA kKMaskHi<>+0(SB)/8, $0x3030303000000000
DATA kKMaskHi<>+8(SB)/8, $0x3030303000000000
GLOBL kKMaskHi<>(SB), RODATA|NOPTR, $16
DATA kK4Shuf<>+0(SB)/8, $0x0100010001000100
DATA kK4Shuf<>+8(SB)/8, $0x0100010001000100
DATA kK4Shuf<>+16(SB)/8, $0x0100010001000100
DATA kK4Shuf<>+24(SB)/8, $0x0100010001000100
DATA kK4Shuf<>+32(SB)/8, $0x0302030203020302
DATA kK4Shuf<>+40(SB)/8, $0x0302030203020302
DATA kK4Shuf<>+48(SB)/8, $0x0302030203020302
DATA kK4Shuf<>+56(SB)/8, $0x0302030203020302
DATA kK4Shuf<>+64(SB)/8, $0x0504050405040504
DATA kK4Shuf<>+72(SB)/8, $0x0504050405040504
DATA kK4Shuf<>+80(SB)/8, $0x0504050405040504
DATA kK4Shuf<>+88(SB)/8, $0x0504050405040504
DATA kK4Shuf<>+96(SB)/8, $0x0706070607060706
DATA kK4Shuf<>+104(SB)/8, $0x0706070607060706
DATA kK4Shuf<>+112(SB)/8, $0x0706070607060706
DATA kK4Shuf<>+120(SB)/8, $0x0706070607060706
DATA kK4Shuf<>+128(SB)/8, $0x0908090809080908
DATA kK4Shuf<>+136(SB)/8, $0x0908090809080908
DATA kK4Shuf<>+144(SB)/8, $0x0908090809080908
DATA kK4Shuf<>+152(SB)/8, $0x0908090809080908
DATA kK4Shuf<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kK4Shuf<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kK4Shuf<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kK4Shuf<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA kK4Shuf<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kK4Shuf<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kK4Shuf<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kK4Shuf<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA kK4Shuf<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kK4Shuf<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kK4Shuf<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA kK4Shuf<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL kK4Shuf<>(SB), RODATA|NOPTR, $256
DATA kQ6Pat<>+0(SB)/8, $0x0000000000000000
DATA kQ6Pat<>+8(SB)/8, $0x0101010101010101
DATA kQ6Pat<>+16(SB)/8, $0x0202020202020202
DATA kQ6Pat<>+24(SB)/8, $0x0303030303030303
DATA kQ6Pat<>+32(SB)/8, $0x0404040404040404
DATA kQ6Pat<>+40(SB)/8, $0x0505050505050505
DATA kQ6Pat<>+48(SB)/8, $0x0606060606060606
DATA kQ6Pat<>+56(SB)/8, $0x0707070707070707
DATA kQ6Pat<>+64(SB)/8, $0x0808080808080808
DATA kQ6Pat<>+72(SB)/8, $0x0909090909090909
DATA kQ6Pat<>+80(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA kQ6Pat<>+88(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA kQ6Pat<>+96(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA kQ6Pat<>+104(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA kQ6Pat<>+112(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA kQ6Pat<>+120(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL kQ6Pat<>(SB), RODATA|NOPTR, $128

// ---- Q4_K, Q5_K ----

// KSCALES: Y0 = the eight 6-bit scales as int16 (both lanes), X1 = the
// mins as int16 (see kq_amd64.s).
#define KSCALES \
	VMOVDQU 4(AX), X0; \
	VPSHUFD $0x98, X0, X1; \
	VPSRLVD kKShift<>(SB), X1, X1; \
	VPAND kKMaskLo<>(SB), X1, X1; \
	VPSHUFD $0x40, X0, X0; \
	VPSRLD $2, X0, X0; \
	VPAND kKMaskHi<>(SB), X0, X0; \
	VPOR X1, X0, X0; \
	VPMOVZXBW X0, Y1; \
	VPERMQ $0x44, Y1, Y0; \
	VEXTRACTI128 $1, Y1, X1

// KMINS16: Y24 = the mins, each repeated for the two 16-element halves of
// its sub-block (word k: min of elements 16k..16k+15, as the bsums).
#define KMINS16 VPUNPCKLWD X1, X1, X6; VPUNPCKHWD X1, X1, X7; VINSERTI32X4 $1, X7, Y6, Y24

// KDV: Y25 = d, Y26 = dmin of the block at AX.
#define KDV VPBROADCASTW (AX), X6; VCVTPH2PS X6, Y25; VPBROADCASTW 2(AX), X7; VCVTPH2PS X7, Y26

#define Q4KCHUNK(qoff, s0) \
	VMOVDQU qoff(AX), Y2; \
	VPSRLW $4, Y2, Y3; \
	VPAND k0F<>(SB), Y2, Y2; \
	VPAND k0F<>(SB), Y3, Y3; \
	VPSHUFB kK4Shuf<>+s0(SB), Y0, Y4; \
	VPSHUFB kK4Shuf<>+32+s0(SB), Y0, Y5

#define Q5KCHUNK(qoff, s0, SH0, n0, SH1, n1) \
	Q4KCHUNK(qoff, s0); \
	VMOVDQU 16(AX), Y6; \
	SH0 $n0, Y6, Y7; \
	VPAND k10<>(SB), Y7, Y7; \
	VPOR Y7, Y2, Y2; \
	SH1 $n1, Y6, Y7; \
	VPAND k10<>(SB), Y7, Y7; \
	VPOR Y7, Y3, Y3

// KTOKV adds one token's products with the quants of Y2 (activations at
// ylo) and Y3 (at yhi), scaled by Y4 and Y5, to ilo and ihi.
#define KTOKV(ylo, yhi, T, ilo, ihi) \
	VPMADDUBSW ylo T, Y2, Y6; \
	VPDPWSSD Y4, Y6, ilo; \
	VPMADDUBSW yhi T, Y3, Y7; \
	VPDPWSSD Y5, Y7, ihi

// KENDV folds a token's super-block into acc: (d*isum - dmin*summ)*d_x,
// isum = ilo + ihi (ihi is then scratch).
#define KENDV(T, ilo, ihi, acc) \
	VPADDD ihi, ilo, ilo; \
	VCVTDQ2PS ilo, ilo; \
	VPXORD ihi, ihi, ihi; \
	VPDPWSSD 260 T, Y24, ihi; \
	VCVTDQ2PS ihi, ihi; \
	VMULPS Y25, ilo, ilo; \
	VFNMADD231PS Y26, ihi, ilo; \
	VFMADD231PS.BCST 0 T, ilo, acc

#define ZERO2(a, b) VPXORD a, a, a; VPXORD b, b, b
#define ZERO8 ZERO2(Y12, Y13); ZERO2(Y14, Y15); ZERO2(Y16, Y17); ZERO2(Y18, Y19)

#define T0 (BX)
#define T1 (BX)(R11*1)
#define T2 (BX)(R11*2)
#define T3 (BX)(DI*1)

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
	KMINS16; \
	Q4KCHUNK(16, 0); KTOK4V(4, 36); \
	Q4KCHUNK(48, 64); KTOK4V(68, 100); \
	Q4KCHUNK(80, 128); KTOK4V(132, 164); \
	Q4KCHUNK(112, 192); KTOK4V(196, 228); \
	KEND4V

#define Q5KSB4V \
	ZERO8; \
	KSCALES; \
	KMINS16; \
	Q5KCHUNK(48, 0, VPSLLW, 4, VPSLLW, 3); KTOK4V(4, 36); \
	Q5KCHUNK(80, 64, VPSLLW, 2, VPSLLW, 1); KTOK4V(68, 100); \
	Q5KCHUNK(112, 128, VPSRLW, 0, VPSRLW, 1); KTOK4V(132, 164); \
	Q5KCHUNK(144, 192, VPSRLW, 2, VPSRLW, 3); KTOK4V(196, 228); \
	KEND4V

// ---- Q6_K: ql[128], qh[64], scales[16] int8, d f16 at 208 ----

#define Q6KLOAD(l1, l2, h) VMOVDQU l1(AX), Y0; VMOVDQU l2(AX), Y1; VMOVDQU h(AX), Y5

// Q6KW0..3 build the unsigned quants 32k..32k+31 of the chunk in Y2.
#define Q6KW0 VPAND k0F<>(SB), Y0, Y2; VPSLLW $4, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2
#define Q6KW1 VPAND k0F<>(SB), Y1, Y2; VPSLLW $2, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2
#define Q6KW2 VPSRLW $4, Y0, Y2; VPAND k0F<>(SB), Y2, Y2; VPAND k30<>(SB), Y5, Y3; VPOR Y3, Y2, Y2
#define Q6KW3 VPSRLW $4, Y1, Y2; VPAND k0F<>(SB), Y2, Y2; VPSRLW $2, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2

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

// Q6KENDV folds isum = ilo + ihi into acc scaled by d*d_x.
#define Q6KENDV(T, ilo, ihi, acc) \
	VPADDD ihi, ilo, ilo; \
	VCVTDQ2PS ilo, ilo; \
	VMULPS.BCST 0 T, ilo, ilo; \
	VFMADD231PS Y26, ilo, acc

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
	Q6KENDV(T0, Y12, Y13, Y8)

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
	Q6KENDV(T0, Y12, Y16, Y8); \
	Q6KENDV(T1, Y13, Y17, Y9); \
	Q6KENDV(T2, Y14, Y18, Y10); \
	Q6KENDV(T3, Y15, Y19, Y11)

// KX1 and KX4: the row and super-block loops (as in kq_amd64.s).
#define KX1(SB, WB) \
row: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R11, CX; \
	VXORPS Y8, Y8, Y8; \
sb: \
	SB; \
	ADDQ $WB, AX; \
	ADDQ $292, BX; \
	DECQ CX; \
	JNZ sb; \
	HSUM8(Y8, X8, X9); \
	VMOVSS X8, (R12); \
	ADDQ $4, R12; \
	ADDQ R8, SI; \
	DECQ R9; \
	JNZ row; \
	VZEROUPPER; \
	RET

#define KX4(SB, WB) \
	LEAQ (R11)(R11*2), DI; \
	SHLQ $2, DX; \
row4: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y10, Y10, Y10; \
	VXORPS Y11, Y11, Y11; \
sb4: \
	SB; \
	ADDQ $WB, AX; \
	ADDQ $292, BX; \
	DECQ CX; \
	JNZ sb4; \
	HSUM4X8; \
	STORE4(R13, DX, BX); \
	ADDQ $4, R13; \
	ADDQ R8, SI; \
	DECQ R9; \
	JNZ row4; \
	VZEROUPPER; \
	RET

#define X1ARGS \
	MOVQ w+0(FP), SI; \
	MOVQ wstride+8(FP), R8; \
	MOVQ rows+16(FP), R9; \
	MOVQ x+24(FP), R10; \
	MOVQ nb+32(FP), R11; \
	MOVQ dst+40(FP), R12

#define X4ARGS \
	MOVQ w+0(FP), SI; \
	MOVQ wstride+8(FP), R8; \
	MOVQ rows+16(FP), R9; \
	MOVQ x+24(FP), R10; \
	MOVQ xstride+32(FP), R11; \
	MOVQ nb+40(FP), R12; \
	MOVQ dst+48(FP), R13; \
	MOVQ dstride+56(FP), DX

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
	KX4(Q6KSB4V, 210)
