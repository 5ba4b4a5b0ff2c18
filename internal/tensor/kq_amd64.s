//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

// Kernels for the K-quants (256-element super-blocks) times Q8_K
// activations (292-byte blocks: d f32, qs[256], bsums[16] int16).
//
// As in ggml, the integer products of a whole super-block, sub-block
// scales included, are summed exactly in int32 (isum); per super-block the
// sum is scaled by d_w*d_x, and for Q4_K/Q5_K the minimum term
// dmin_w*d_x*sum_j(m_j * bsum_j) is subtracted.
//
// Token addresses are passed to the macros as a suffix T: (BX) for the
// first token, (BX)(R11*1), (BX)(R11*2) and (BX)(DI*1) for the others.
// Registers: as in q32_amd64.s; Y8-Y11 float accumulators, Y12-Y15 isum.

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
DATA k20<>+0(SB)/8, $0x2020202020202020
DATA k20<>+8(SB)/8, $0x2020202020202020
DATA k20<>+16(SB)/8, $0x2020202020202020
DATA k20<>+24(SB)/8, $0x2020202020202020
GLOBL k20<>(SB), RODATA|NOPTR, $32
DATA k30<>+0(SB)/8, $0x3030303030303030
DATA k30<>+8(SB)/8, $0x3030303030303030
DATA k30<>+16(SB)/8, $0x3030303030303030
DATA k30<>+24(SB)/8, $0x3030303030303030
GLOBL k30<>(SB), RODATA|NOPTR, $32
// Dword shifts of the Q4_K/Q5_K scale unpacking: [0, 0, 0, 4].
DATA kKShift<>+0(SB)/8, $0x0000000000000000
DATA kKShift<>+8(SB)/8, $0x0000000400000000
GLOBL kKShift<>(SB), RODATA|NOPTR, $16
// Masks [0x3f.., 0x0f.., 0x3f.., 0x0f..].
DATA kKMaskLo<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA kKMaskLo<>+8(SB)/8, $0x0f0f0f0f3f3f3f3f
GLOBL kKMaskLo<>(SB), RODATA|NOPTR, $16
// Masks [0, 0x30.., 0, 0x30..].
DATA kKMaskHi<>+0(SB)/8, $0x3030303000000000
DATA kKMaskHi<>+8(SB)/8, $0x3030303000000000
GLOBL kKMaskHi<>(SB), RODATA|NOPTR, $16
// VPSHUFB patterns broadcasting int16 lane k (k = 0..7), 32 bytes each.
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
// VPSHUFB patterns [a x8, a+1 x8] for a = 0, 2, ..., 14, 16 bytes each.
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

// KSCALES unpacks the eight 6-bit scales and mins of the Q4_K/Q5_K block
// at AX: Y0 = scales as int16 (both 128-bit lanes), X1 = mins as int16.
// The 12 bytes hold, per byte lane j: sc_j = b[j]&63, m_j = b[j+4]&63 for
// j < 4; for j >= 4 the low 4 bits are in b[j+4] (scale low, min high
// nibble) and the top 2 bits in the top bits of b[j-4] and b[j].
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

// Q4KCHUNK unpacks the 64 quants at qoff(AX) (sub-blocks 2c and 2c+1)
// into Y2 (low nibbles) and Y3 (high), and their scales, from the
// shuffle patterns at s0 and s0+32, into Y4 and Y5 as int16.
#define Q4KCHUNK(qoff, s0) \
	VMOVDQU qoff(AX), Y2; \
	VPSRLW $4, Y2, Y3; \
	VPAND k0F<>(SB), Y2, Y2; \
	VPAND k0F<>(SB), Y3, Y3; \
	VPSHUFB kK4Shuf<>+s0(SB), Y0, Y4; \
	VPSHUFB kK4Shuf<>+32+s0(SB), Y0, Y5

// Q5KCHUNK is Q4KCHUNK plus the fifth bits: bit 2c and 2c+1 of each qh
// byte, moved to bit 4 by SH0 $n0 and SH1 $n1.
#define Q5KCHUNK(qoff, s0, SH0, n0, SH1, n1) \
	Q4KCHUNK(qoff, s0); \
	VMOVDQU 16(AX), Y6; \
	SH0 $n0, Y6, Y7; \
	VPAND k10<>(SB), Y7, Y7; \
	VPOR Y7, Y2, Y2; \
	SH1 $n1, Y6, Y7; \
	VPAND k10<>(SB), Y7, Y7; \
	VPOR Y7, Y3, Y3

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
	Q4KCHUNK(16, 0); KTOK(4, 36, (BX), Y12); \
	Q4KCHUNK(48, 64); KTOK(68, 100, (BX), Y12); \
	Q4KCHUNK(80, 128); KTOK(132, 164, (BX), Y12); \
	Q4KCHUNK(112, 192); KTOK(196, 228, (BX), Y12); \
	KDMIN; \
	KEND((BX), Y12, Y8)

#define KTOK4(ylo, yhi) \
	KTOK(ylo, yhi, (BX), Y12); \
	KTOK(ylo, yhi, (BX)(R11*1), Y13); \
	KTOK(ylo, yhi, (BX)(R11*2), Y14); \
	KTOK(ylo, yhi, (BX)(DI*1), Y15)

#define KEND4 \
	KDMIN; \
	KEND((BX), Y12, Y8); \
	KEND((BX)(R11*1), Y13, Y9); \
	KEND((BX)(R11*2), Y14, Y10); \
	KEND((BX)(DI*1), Y15, Y11)

#define ZERO4ISUM VPXOR Y12, Y12, Y12; VPXOR Y13, Y13, Y13; VPXOR Y14, Y14, Y14; VPXOR Y15, Y15, Y15

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
	Q5KCHUNK(48, 0, VPSLLW, 4, VPSLLW, 3); KTOK(4, 36, (BX), Y12); \
	Q5KCHUNK(80, 64, VPSLLW, 2, VPSLLW, 1); KTOK(68, 100, (BX), Y12); \
	Q5KCHUNK(112, 128, VPSRLW, 0, VPSRLW, 1); KTOK(132, 164, (BX), Y12); \
	Q5KCHUNK(144, 192, VPSRLW, 2, VPSRLW, 3); KTOK(196, 228, (BX), Y12); \
	KDMIN; \
	KEND((BX), Y12, Y8)

#define Q5KSB4 \
	ZERO4ISUM; \
	KSCALES; \
	Q5KCHUNK(48, 0, VPSLLW, 4, VPSLLW, 3); KTOK4(4, 36); \
	Q5KCHUNK(80, 64, VPSLLW, 2, VPSLLW, 1); KTOK4(68, 100); \
	Q5KCHUNK(112, 128, VPSRLW, 0, VPSRLW, 1); KTOK4(132, 164); \
	Q5KCHUNK(144, 192, VPSRLW, 2, VPSRLW, 3); KTOK4(196, 228); \
	KEND4

// ---- Q6_K: ql[128], qh[64], scales[16] int8, d f16 at 208 ----

// Q6KLOAD loads 128-element chunk n: Y0 = ql[64n:], Y1 = ql[64n+32:],
// Y5 = qh[32n:].
#define Q6KLOAD(l1, l2, h) VMOVDQU l1(AX), Y0; VMOVDQU l2(AX), Y1; VMOVDQU h(AX), Y5

// Q6KW0..3 build quants 32k..32k+31 of the chunk (0..63) in Y2.
#define Q6KW0 VPAND k0F<>(SB), Y0, Y2; VPSLLW $4, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2
#define Q6KW1 VPAND k0F<>(SB), Y1, Y2; VPSLLW $2, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2
#define Q6KW2 VPSRLW $4, Y0, Y2; VPAND k0F<>(SB), Y2, Y2; VPAND k30<>(SB), Y5, Y3; VPOR Y3, Y2, Y2
#define Q6KW3 VPSRLW $4, Y1, Y2; VPAND k0F<>(SB), Y2, Y2; VPSRLW $2, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2

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
	Q6KW0; Q6KPREP(0); Q6KTOK(4, (BX), Y12); \
	Q6KW1; Q6KPREP(16); Q6KTOK(36, (BX), Y12); \
	Q6KW2; Q6KPREP(32); Q6KTOK(68, (BX), Y12); \
	Q6KW3; Q6KPREP(48); Q6KTOK(100, (BX), Y12); \
	Q6KLOAD(64, 96, 160); \
	Q6KW0; Q6KPREP(64); Q6KTOK(132, (BX), Y12); \
	Q6KW1; Q6KPREP(80); Q6KTOK(164, (BX), Y12); \
	Q6KW2; Q6KPREP(96); Q6KTOK(196, (BX), Y12); \
	Q6KW3; Q6KPREP(112); Q6KTOK(228, (BX), Y12); \
	Q6KD; \
	Q6KEND((BX), Y12, Y8)

#define Q6KTOK4(yoff) \
	Q6KTOK(yoff, (BX), Y12); \
	Q6KTOK(yoff, (BX)(R11*1), Y13); \
	Q6KTOK(yoff, (BX)(R11*2), Y14); \
	Q6KTOK(yoff, (BX)(DI*1), Y15)

#define Q6KSB4 \
	ZERO4ISUM; \
	Q6KLOAD(0, 32, 128); \
	Q6KW0; Q6KPREP(0); Q6KTOK4(4); \
	Q6KW1; Q6KPREP(16); Q6KTOK4(36); \
	Q6KW2; Q6KPREP(32); Q6KTOK4(68); \
	Q6KW3; Q6KPREP(48); Q6KTOK4(100); \
	Q6KLOAD(64, 96, 160); \
	Q6KW0; Q6KPREP(64); Q6KTOK4(132); \
	Q6KW1; Q6KPREP(80); Q6KTOK4(164); \
	Q6KW2; Q6KPREP(96); Q6KTOK4(196); \
	Q6KW3; Q6KPREP(112); Q6KTOK4(228); \
	Q6KD; \
	Q6KEND((BX), Y12, Y8); \
	Q6KEND((BX)(R11*1), Y13, Y9); \
	Q6KEND((BX)(R11*2), Y14, Y10); \
	Q6KEND((BX)(DI*1), Y15, Y11)

// KX1 and KX4 are the row and super-block loops around a super-block
// macro SB for weight blocks of WB bytes.
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

// func dotQ4_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_Kx1AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ x+24(FP), R10
	MOVQ nb+32(FP), R11
	MOVQ dst+40(FP), R12
	KX1(Q4KSB1, 144)

// func dotQ4_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_Kx4AVX2(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ x+24(FP), R10
	MOVQ xstride+32(FP), R11
	MOVQ nb+40(FP), R12
	MOVQ dst+48(FP), R13
	MOVQ dstride+56(FP), DX
	KX4(Q4KSB4, 144)

// func dotQ5_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_Kx1AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ x+24(FP), R10
	MOVQ nb+32(FP), R11
	MOVQ dst+40(FP), R12
	KX1(Q5KSB1, 176)

// func dotQ5_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_Kx4AVX2(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ x+24(FP), R10
	MOVQ xstride+32(FP), R11
	MOVQ nb+40(FP), R12
	MOVQ dst+48(FP), R13
	MOVQ dstride+56(FP), DX
	KX4(Q5KSB4, 176)

// func dotQ6_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ6_Kx1AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ x+24(FP), R10
	MOVQ nb+32(FP), R11
	MOVQ dst+40(FP), R12
	KX1(Q6KSB1, 210)

// func dotQ6_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ6_Kx4AVX2(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ wstride+8(FP), R8
	MOVQ rows+16(FP), R9
	MOVQ x+24(FP), R10
	MOVQ xstride+32(FP), R11
	MOVQ nb+40(FP), R12
	MOVQ dst+48(FP), R13
	MOVQ dstride+56(FP), DX
	KX4(Q6KSB4, 210)
