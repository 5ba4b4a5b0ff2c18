//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"
#include "kq_amd64.h"

// Kernels for IQ3_S and IQ3_XXS times Q8_K activations. Per sub-block of
// 32 the eight grid entries (4 magnitudes each, in element order) are
// loaded one by one into a vector, the signs become a byte mask that
// negates the matching activations, and VPMADDUBSW/VPMADDWD add magnitude
// times activation times the sub-block's multiplier 2*ls+1 into an exact
// int32 sum per super-block, scaled by d_w*d_x (and 1/4 for IQ3_XXS) as
// in ggml. Scalar loads, not VPGATHERDD: on AMD Zen 3 that made the
// one-token kernels 1.2x (IQ3_S) and 1.8x (IQ3_XXS) faster in CPU time.
//
// Registers: as in kq_amd64.h; Y0 the eight multipliers as int16 (both
// lanes), Y2 magnitudes, Y3 sign mask, Y4 the multiplier of a sub-block,
// R14 the grid, DX and (IQ3_S) DI or R13 indices (the x4 kernels keep
// DX and R13 on the stack meanwhile), Y8-Y11 float accumulators, Y12-Y15
// isum. IQ3_S computes its eight 9-bit indices in a vector and moves them
// to DX and the scratch register two at a time (storing them and reading
// them back was slower than the gather).

SPLAT32(k0F, 0x0f0f0f0f0f0f0f0f)
SPLAT32(kFF, -1)
SPLAT32(k1w, 0x0001000100010001)
SPLAT32(k1d, 0x0000000100000001)
SPLAT32(k7Fd, 0x0000007f0000007f)

// Byte k of a 32-bit mask to bytes 8k..8k+7 (VPSHUFB, per 128-bit lane).
DATA kShufB<>+0(SB)/8, $0x0000000000000000
DATA kShufB<>+8(SB)/8, $0x0101010101010101
DATA kShufB<>+16(SB)/8, $0x0202020202020202
DATA kShufB<>+24(SB)/8, $0x0303030303030303
GLOBL kShufB<>(SB), RODATA|NOPTR, $32

// Byte i of each 8 has every bit set but bit i: OR with a mask byte gives
// 0xFF exactly where bit i of that byte is set.
SPLAT32(kBitM, 0x7fbfdfeff7fbfdfe)

// Dword shifts [0, 1, ..., 7] (the ninth index bits of IQ3_S).
DATA kShift07<>+0(SB)/8, $0x0000000100000000
DATA kShift07<>+8(SB)/8, $0x0000000300000002
DATA kShift07<>+16(SB)/8, $0x0000000500000004
DATA kShift07<>+24(SB)/8, $0x0000000700000006
GLOBL kShift07<>(SB), RODATA|NOPTR, $32

// Dword shifts [0, 7, 14, 21] (the sign indices of IQ3_XXS).
DATA kShift7<>+0(SB)/8, $0x0000000700000000
DATA kShift7<>+8(SB)/8, $0x000000150000000e
GLOBL kShift7<>(SB), RODATA|NOPTR, $16

// 0x80 where the 4-bit index has an odd number of bits set: the eighth
// sign bit of IQ3_XXS (each sign byte has even parity).
DATA kPar<>+0(SB)/8, $0x8000008000808000
DATA kPar<>+8(SB)/8, $0x0080800080000080
GLOBL kPar<>(SB), RODATA|NOPTR, $16

// Byte 0 of dword k of a 128-bit value duplicated into both lanes to
// bytes 8k..8k+7 (VPSHUFB).
DATA kShufDW<>+0(SB)/8, $0x0000000000000000
DATA kShufDW<>+8(SB)/8, $0x0404040404040404
DATA kShufDW<>+16(SB)/8, $0x0808080808080808
DATA kShufDW<>+24(SB)/8, $0x0c0c0c0c0c0c0c0c
GLOBL kShufDW<>(SB), RODATA|NOPTR, $32

DATA kQuarter<>+0(SB)/4, $0.25
GLOBL kQuarter<>(SB), RODATA|NOPTR, $4

// IQ3TOK adds one token's products to isum.
#define IQ3TOK(yoff, T, isum) \
	VMOVDQU yoff T, Y6; \
	VPXOR Y3, Y6, Y6; \
	VPSUBB Y3, Y6, Y6; \
	VPMADDUBSW Y6, Y2, Y6; \
	VPMADDWD Y4, Y6, Y6; \
	VPADDD Y6, isum, isum

// IQ3END folds isum into acc scaled by d*d_x; X7 = d.
#define IQ3END(T, isum, acc) \
	VMULSS 0 T, X7, X6; \
	VBROADCASTSS X6, Y6; \
	VCVTDQ2PS isum, isum; \
	VFMADD231PS Y6, isum, acc

#define IQ3D VPINSRW $0, 0(AX), X7, X7; VCVTPH2PS X7, X7

// GRID8 loads the grid entries of indices IDX(a, 0, DX) .. IDX(a, 7, DX)
// into Y2 (entry k in dword k).
#define GRID8(IDX, a) \
	IDX(a, 0, DX); VMOVD (R14)(DX*4), X2; \
	IDX(a, 1, DX); VPINSRD $1, (R14)(DX*4), X2, X2; \
	IDX(a, 2, DX); VPINSRD $2, (R14)(DX*4), X2, X2; \
	IDX(a, 3, DX); VPINSRD $3, (R14)(DX*4), X2, X2; \
	IDX(a, 4, DX); VMOVD (R14)(DX*4), X5; \
	IDX(a, 5, DX); VPINSRD $1, (R14)(DX*4), X5, X5; \
	IDX(a, 6, DX); VPINSRD $2, (R14)(DX*4), X5, X5; \
	IDX(a, 7, DX); VPINSRD $3, (R14)(DX*4), X5, X5; \
	VINSERTI128 $1, X5, Y2, Y2

// IDXBYTE reads index k from byte k at qoff(AX).
#define IDXBYTE(qoff, k, r) MOVBLZX (qoff+k)(AX), r

// GRID4 loads into x the grid entries of the four dword indices of X1,
// through DX and the scratch register t.
#define GRID4(x, t) \
	VMOVQ X1, t; \
	MOVL t, DX; \
	SHRQ $32, t; \
	VMOVD (R14)(DX*4), x; \
	VPINSRD $1, (R14)(t*4), x, x; \
	VPEXTRQ $1, X1, t; \
	MOVL t, DX; \
	SHRQ $32, t; \
	VPINSRD $2, (R14)(DX*4), x, x; \
	VPINSRD $3, (R14)(t*4), x, x

// SAVEREGS and LOADREGS keep the x4 kernels' dstride (DX) and dst (R13)
// while they serve as index registers.
#define SAVEREGS MOVQ DX, 32(SP); MOVQ R13, 40(SP)
#define LOADREGS MOVQ 32(SP), DX; MOVQ 40(SP), R13

// ---- IQ3_S: d f16, qs[64] at 2, qh[8] at 66, signs[32] at 74, scales[4] at 106 ----

// IQ3SSCALES sets Y0 = 2*ls+1 for the eight sub-blocks, ls nibble ib%2
// of scales[ib/2].
#define IQ3SSCALES \
	VMOVD 106(AX), X0; \
	VPSRLW $4, X0, X2; \
	VPUNPCKLBW X2, X0, X0; \
	VPAND k0F<>(SB), X0, X0; \
	VPMOVZXBW X0, X0; \
	VPSLLW $1, X0, X0; \
	VPOR k1w<>(SB), X0, X0; \
	VPERMQ $0x44, Y0, Y0

// IQ3SW loads sub-block ib: grid indices qs[8ib:8ib+8] with bit k of
// qh[ib] as ninth bit (qoff = 2+8ib, hoff = 66+ib), signs at soff =
// 74+4ib, multiplier lane at poff = 32ib.
#define IQ3SW(qoff, hoff, soff, poff, T) \
	VPMOVZXBD qoff(AX), Y1; \
	VPBROADCASTD hoff(AX), Y7; \
	VPSRLVD kShift07<>(SB), Y7, Y7; \
	VPAND k1d<>(SB), Y7, Y7; \
	VPSLLD $8, Y7, Y7; \
	VPOR Y7, Y1, Y1; \
	GRID4(X2, T); \
	VEXTRACTI128 $1, Y1, X1; \
	GRID4(X5, T); \
	VINSERTI128 $1, X5, Y2, Y2; \
	VPBROADCASTD soff(AX), Y3; \
	VPSHUFB kShufB<>(SB), Y3, Y3; \
	VPOR kBitM<>(SB), Y3, Y3; \
	VPCMPEQB kFF<>(SB), Y3, Y3; \
	VPSHUFB kK4Shuf<>+poff(SB), Y0, Y4

#define IQ3SSB1 \
	VPXOR Y12, Y12, Y12; \
	IQ3SSCALES; \
	IQ3SW(2, 66, 74, 0, DI); IQ3TOK(4, T0, Y12); \
	IQ3SW(10, 67, 78, 32, DI); IQ3TOK(36, T0, Y12); \
	IQ3SW(18, 68, 82, 64, DI); IQ3TOK(68, T0, Y12); \
	IQ3SW(26, 69, 86, 96, DI); IQ3TOK(100, T0, Y12); \
	IQ3SW(34, 70, 90, 128, DI); IQ3TOK(132, T0, Y12); \
	IQ3SW(42, 71, 94, 160, DI); IQ3TOK(164, T0, Y12); \
	IQ3SW(50, 72, 98, 192, DI); IQ3TOK(196, T0, Y12); \
	IQ3SW(58, 73, 102, 224, DI); IQ3TOK(228, T0, Y12); \
	IQ3D; \
	IQ3END(T0, Y12, Y8)

#define IQ3SSB4 \
	SAVEREGS; \
	ZERO4ISUM; \
	IQ3SSCALES; \
	IQ3SW(2, 66, 74, 0, R13); TOK4(IQ3TOK, 4); \
	IQ3SW(10, 67, 78, 32, R13); TOK4(IQ3TOK, 36); \
	IQ3SW(18, 68, 82, 64, R13); TOK4(IQ3TOK, 68); \
	IQ3SW(26, 69, 86, 96, R13); TOK4(IQ3TOK, 100); \
	IQ3SW(34, 70, 90, 128, R13); TOK4(IQ3TOK, 132); \
	IQ3SW(42, 71, 94, 160, R13); TOK4(IQ3TOK, 164); \
	IQ3SW(50, 72, 98, 192, R13); TOK4(IQ3TOK, 196); \
	IQ3SW(58, 73, 102, 224, R13); TOK4(IQ3TOK, 228); \
	LOADREGS; \
	IQ3D; \
	IQ3END(T0, Y12, Y8); \
	IQ3END(T1, Y13, Y9); \
	IQ3END(T2, Y14, Y10); \
	IQ3END(T3, Y15, Y11)

// ---- IQ3_XXS: d f16, qs[64] at 2, then per sub-block a u32 at 66+4ib ----

// IQ3XXSSCALES sets Y0 = 2*ls+1 for the eight sub-blocks, ls the top 4
// bits of each u32.
#define IQ3XXSSCALES \
	VMOVDQU 66(AX), Y0; \
	VPSRLD $28, Y0, Y0; \
	VPACKUSDW Y0, Y0, Y0; \
	VPERMQ $0x88, Y0, Y0; \
	VPSLLW $1, Y0, Y0; \
	VPOR k1w<>(SB), Y0, Y0

// IQ3XXSW loads sub-block ib: grid indices at qoff = 2+8ib, the u32 at
// aoff = 66+4ib (four 7-bit sign fields, each completed by its parity
// bit into the sign byte, as ggml's ksigns table holds them), multiplier
// lane at poff = 32ib.
#define IQ3XXSW(qoff, aoff, poff) \
	GRID8(IDXBYTE, qoff); \
	VPBROADCASTD aoff(AX), X1; \
	VPSRLVD kShift7<>(SB), X1, X1; \
	VPAND k7Fd<>(SB), X1, X1; \
	VPSRLD $4, X1, X3; \
	VPXOR X1, X3, X3; \
	VMOVDQU kPar<>(SB), X6; \
	VPSHUFB X3, X6, X3; \
	VPOR X3, X1, X1; \
	VINSERTI128 $1, X1, Y1, Y1; \
	VPSHUFB kShufDW<>(SB), Y1, Y3; \
	VPOR kBitM<>(SB), Y3, Y3; \
	VPCMPEQB kFF<>(SB), Y3, Y3; \
	VPSHUFB kK4Shuf<>+poff(SB), Y0, Y4

#define IQ3XXSD IQ3D; VMULSS kQuarter<>(SB), X7, X7

#define IQ3XXSSB1 \
	VPXOR Y12, Y12, Y12; \
	IQ3XXSSCALES; \
	IQ3XXSW(2, 66, 0); IQ3TOK(4, T0, Y12); \
	IQ3XXSW(10, 70, 32); IQ3TOK(36, T0, Y12); \
	IQ3XXSW(18, 74, 64); IQ3TOK(68, T0, Y12); \
	IQ3XXSW(26, 78, 96); IQ3TOK(100, T0, Y12); \
	IQ3XXSW(34, 82, 128); IQ3TOK(132, T0, Y12); \
	IQ3XXSW(42, 86, 160); IQ3TOK(164, T0, Y12); \
	IQ3XXSW(50, 90, 192); IQ3TOK(196, T0, Y12); \
	IQ3XXSW(58, 94, 224); IQ3TOK(228, T0, Y12); \
	IQ3XXSD; \
	IQ3END(T0, Y12, Y8)

#define IQ3XXSSB4 \
	SAVEREGS; \
	ZERO4ISUM; \
	IQ3XXSSCALES; \
	IQ3XXSW(2, 66, 0); TOK4(IQ3TOK, 4); \
	IQ3XXSW(10, 70, 32); TOK4(IQ3TOK, 36); \
	IQ3XXSW(18, 74, 64); TOK4(IQ3TOK, 68); \
	IQ3XXSW(26, 78, 96); TOK4(IQ3TOK, 100); \
	IQ3XXSW(34, 82, 128); TOK4(IQ3TOK, 132); \
	IQ3XXSW(42, 86, 160); TOK4(IQ3TOK, 164); \
	IQ3XXSW(50, 90, 192); TOK4(IQ3TOK, 196); \
	IQ3XXSW(58, 94, 224); TOK4(IQ3TOK, 228); \
	LOADREGS; \
	IQ3XXSD; \
	IQ3END(T0, Y12, Y8); \
	IQ3END(T1, Y13, Y9); \
	IQ3END(T2, Y14, Y10); \
	IQ3END(T3, Y15, Y11)

// func dotIQ3_Sx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ3_Sx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	LEAQ ·iq3sGrid(SB), R14
	KX1(IQ3SSB1, 110)

// func dotIQ3_Sx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ3_Sx4AVX2(SB), NOSPLIT, $48-64
	X4ARGS
	LEAQ ·iq3sGrid(SB), R14
	KX4(IQ3SSB4, 110)

// func dotIQ3_XXSx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ3_XXSx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	LEAQ ·iq3xxsGrid(SB), R14
	KX1(IQ3XXSSB1, 98)

// func dotIQ3_XXSx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ3_XXSx4AVX2(SB), NOSPLIT, $48-64
	X4ARGS
	LEAQ ·iq3xxsGrid(SB), R14
	KX4(IQ3XXSSB4, 98)
