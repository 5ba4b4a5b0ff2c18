//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"
#include "kq_amd64.h"

// Kernels for Q2_K, Q3_K and IQ4_XS times Q8_K activations, in the frame
// of the other K-quants (kq_amd64.s): the integer products of a super-block,
// sub-block scales included, are summed exactly in int32 and scaled by
// d_w*d_x once per super-block; for Q2_K the minimum term
// dmin_w*d_x*sum_j(m_j * bsum_j) is subtracted.
//
// Both formats keep their 2-bit fields as the 256 elements' groups g of
// 32 (g = 4c + j): bits 2j of qs[32c:32c+32]; group g spans sub-blocks
// 2g and 2g+1. Registers: as in kq_amd64.h; Y0 one 32-byte chunk of qs,
// Y8-Y11 float accumulators, Y12-Y15 isum.

SPLAT32(k0F, 0x0f0f0f0f0f0f0f0f)
SPLAT32(k03, 0x0303030303030303)
SPLAT32(k04, 0x0404040404040404)
SPLAT32(k20, 0x2020202020202020)

SPLAT32(k03d, 0x0000000300000003)
SPLAT32(k20w, 0x0020002000200020)

// The 16 levels of IQ4_NL/IQ4_XS as int8, in both 128-bit lanes.
DATA kIQ4NL<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA kIQ4NL<>+8(SB)/8, $0x7159453526190d01
DATA kIQ4NL<>+16(SB)/8, $0xf6eaddcfbfad9881
DATA kIQ4NL<>+24(SB)/8, $0x7159453526190d01
GLOBL kIQ4NL<>(SB), RODATA|NOPTR, $32

// Dword shifts of the IQ4_XS high scale bits: [0, 2, ..., 14].
DATA kIQ4XSShift<>+0(SB)/8, $0x0000000200000000
DATA kIQ4XSShift<>+8(SB)/8, $0x0000000600000004
DATA kIQ4XSShift<>+16(SB)/8, $0x0000000a00000008
DATA kIQ4XSShift<>+24(SB)/8, $0x0000000e0000000c
GLOBL kIQ4XSShift<>(SB), RODATA|NOPTR, $32

// Dword shifts of the Q3_K high scale bits: [0, 2, 4, 6].
DATA kQ3Shift<>+0(SB)/8, $0x0000000200000000
DATA kQ3Shift<>+8(SB)/8, $0x0000000600000004
GLOBL kQ3Shift<>(SB), RODATA|NOPTR, $16

// kQ2Pat row g (32 bytes) picks, per 128-bit lane of a register holding
// the 16 Q2_K scales in each lane, scale 2g (low lane) or 2g+1 (high lane)
// into every int16 word, zero-extended (index 0x80 writes 0).
DATA kQ2Pat<>+0(SB)/8, $0x8000800080008000
DATA kQ2Pat<>+8(SB)/8, $0x8000800080008000
DATA kQ2Pat<>+16(SB)/8, $0x8001800180018001
DATA kQ2Pat<>+24(SB)/8, $0x8001800180018001
DATA kQ2Pat<>+32(SB)/8, $0x8002800280028002
DATA kQ2Pat<>+40(SB)/8, $0x8002800280028002
DATA kQ2Pat<>+48(SB)/8, $0x8003800380038003
DATA kQ2Pat<>+56(SB)/8, $0x8003800380038003
DATA kQ2Pat<>+64(SB)/8, $0x8004800480048004
DATA kQ2Pat<>+72(SB)/8, $0x8004800480048004
DATA kQ2Pat<>+80(SB)/8, $0x8005800580058005
DATA kQ2Pat<>+88(SB)/8, $0x8005800580058005
DATA kQ2Pat<>+96(SB)/8, $0x8006800680068006
DATA kQ2Pat<>+104(SB)/8, $0x8006800680068006
DATA kQ2Pat<>+112(SB)/8, $0x8007800780078007
DATA kQ2Pat<>+120(SB)/8, $0x8007800780078007
DATA kQ2Pat<>+128(SB)/8, $0x8008800880088008
DATA kQ2Pat<>+136(SB)/8, $0x8008800880088008
DATA kQ2Pat<>+144(SB)/8, $0x8009800980098009
DATA kQ2Pat<>+152(SB)/8, $0x8009800980098009
DATA kQ2Pat<>+160(SB)/8, $0x800a800a800a800a
DATA kQ2Pat<>+168(SB)/8, $0x800a800a800a800a
DATA kQ2Pat<>+176(SB)/8, $0x800b800b800b800b
DATA kQ2Pat<>+184(SB)/8, $0x800b800b800b800b
DATA kQ2Pat<>+192(SB)/8, $0x800c800c800c800c
DATA kQ2Pat<>+200(SB)/8, $0x800c800c800c800c
DATA kQ2Pat<>+208(SB)/8, $0x800d800d800d800d
DATA kQ2Pat<>+216(SB)/8, $0x800d800d800d800d
DATA kQ2Pat<>+224(SB)/8, $0x800e800e800e800e
DATA kQ2Pat<>+232(SB)/8, $0x800e800e800e800e
DATA kQ2Pat<>+240(SB)/8, $0x800f800f800f800f
DATA kQ2Pat<>+248(SB)/8, $0x800f800f800f800f
GLOBL kQ2Pat<>(SB), RODATA|NOPTR, $256

// ---- Q2_K: scales[16], qs[64], d f16 at 80, dmin f16 at 82 ----

// Q2KSCALES sets Y5 = the 16 scales (low nibbles) as bytes in both 128-bit
// lanes and Y1 = the 16 mins (high nibbles) as int16.
#define Q2KSCALES \
	VBROADCASTI128 0(AX), Y5; \
	VPSRLW $4, X5, X1; \
	VPAND k0F<>(SB), X1, X1; \
	VPMOVZXBW X1, Y1; \
	VPAND k0F<>(SB), Y5, Y5

// Q2KW sets Y2 = the quants of group g at shift sh of chunk Y0, and Y4
// the int16 scales of its two sub-blocks: one VPSHUFB of Y5 with kQ2Pat's
// row g picks scale 2g into the low lane's words and 2g+1 into the high
// lane's, zero-extended. Q2KW0 is the shift-0 group.
#define Q2KW(sh, g) \
	VPSRLW $sh, Y0, Y2; \
	VPAND k03<>(SB), Y2, Y2; \
	VPSHUFB kQ2Pat<>+(g*32)(SB), Y5, Y4

#define Q2KW0(g) \
	VPAND k03<>(SB), Y0, Y2; \
	VPSHUFB kQ2Pat<>+(g*32)(SB), Y5, Y4

// UTOK adds to isum the products of unsigned weights Y2 (Q2_K's, and
// Q3_K's before their offset) and a token's 32 activations at yoff,
// times the int16 scales Y4.
#define UTOK(yoff, T, isum) \
	VPMADDUBSW yoff T, Y2, Y6; \
	VPMADDWD Y4, Y6, Y6; \
	VPADDD Y6, isum, isum

// Q2KDMIN sets X4 = [d, dmin].
#define Q2KDMIN VMOVD 80(AX), X4; VCVTPH2PS X4, X4

// Q2KEND folds a token's super-block into acc: d*d_x*isum minus
// dmin*d_x*sum(m_j * bsum_j); Y1 = mins, X4 = [d, dmin].
#define Q2KEND(T, isum, acc) \
	VCVTDQ2PS isum, isum; \
	VBROADCASTSS 0 T, X6; \
	VMULPS X4, X6, X6; \
	VBROADCASTSS X6, Y7; \
	VFMADD231PS Y7, isum, acc; \
	VMOVSHDUP X6, X6; \
	VBROADCASTSS X6, Y6; \
	VPMADDWD 260 T, Y1, Y7; \
	VCVTDQ2PS Y7, Y7; \
	VFNMADD231PS Y6, Y7, acc

#define Q2KSB1 \
	VPXOR Y12, Y12, Y12; \
	Q2KSCALES; \
	VMOVDQU 16(AX), Y0; \
	Q2KW0(0); UTOK(4, T0, Y12); \
	Q2KW(2, 1); UTOK(36, T0, Y12); \
	Q2KW(4, 2); UTOK(68, T0, Y12); \
	Q2KW(6, 3); UTOK(100, T0, Y12); \
	VMOVDQU 48(AX), Y0; \
	Q2KW0(4); UTOK(132, T0, Y12); \
	Q2KW(2, 5); UTOK(164, T0, Y12); \
	Q2KW(4, 6); UTOK(196, T0, Y12); \
	Q2KW(6, 7); UTOK(228, T0, Y12); \
	Q2KDMIN; \
	Q2KEND(T0, Y12, Y8)

#define Q2KSB4T(TOK) \
	ZERO4ISUM; \
	Q2KSCALES; \
	VMOVDQU 16(AX), Y0; \
	Q2KW0(0); TOK4(TOK, 4); \
	Q2KW(2, 1); TOK4(TOK, 36); \
	Q2KW(4, 2); TOK4(TOK, 68); \
	Q2KW(6, 3); TOK4(TOK, 100); \
	VMOVDQU 48(AX), Y0; \
	Q2KW0(4); TOK4(TOK, 132); \
	Q2KW(2, 5); TOK4(TOK, 164); \
	Q2KW(4, 6); TOK4(TOK, 196); \
	Q2KW(6, 7); TOK4(TOK, 228); \
	Q2KDMIN; \
	Q2KEND(T0, Y12, Y8); \
	Q2KEND(T1, Y13, Y9); \
	Q2KEND(T2, Y14, Y10); \
	Q2KEND(T3, Y15, Y11)

#define Q2KSB4 Q2KSB4T(UTOK)

// kQ3Pat row g (32 bytes) picks, per 128-bit lane of a register holding
// the 16 Q3_K scales in each lane, scale 2g (low lane) or 2g+1 (high lane)
// into the high byte of every int16 word, the low byte 0 (index 0x80).
DATA kQ3Pat<>+0(SB)/8, $0x0080008000800080
DATA kQ3Pat<>+8(SB)/8, $0x0080008000800080
DATA kQ3Pat<>+16(SB)/8, $0x0180018001800180
DATA kQ3Pat<>+24(SB)/8, $0x0180018001800180
DATA kQ3Pat<>+32(SB)/8, $0x0280028002800280
DATA kQ3Pat<>+40(SB)/8, $0x0280028002800280
DATA kQ3Pat<>+48(SB)/8, $0x0380038003800380
DATA kQ3Pat<>+56(SB)/8, $0x0380038003800380
DATA kQ3Pat<>+64(SB)/8, $0x0480048004800480
DATA kQ3Pat<>+72(SB)/8, $0x0480048004800480
DATA kQ3Pat<>+80(SB)/8, $0x0580058005800580
DATA kQ3Pat<>+88(SB)/8, $0x0580058005800580
DATA kQ3Pat<>+96(SB)/8, $0x0680068006800680
DATA kQ3Pat<>+104(SB)/8, $0x0680068006800680
DATA kQ3Pat<>+112(SB)/8, $0x0780078007800780
DATA kQ3Pat<>+120(SB)/8, $0x0780078007800780
DATA kQ3Pat<>+128(SB)/8, $0x0880088008800880
DATA kQ3Pat<>+136(SB)/8, $0x0880088008800880
DATA kQ3Pat<>+144(SB)/8, $0x0980098009800980
DATA kQ3Pat<>+152(SB)/8, $0x0980098009800980
DATA kQ3Pat<>+160(SB)/8, $0x0a800a800a800a80
DATA kQ3Pat<>+168(SB)/8, $0x0a800a800a800a80
DATA kQ3Pat<>+176(SB)/8, $0x0b800b800b800b80
DATA kQ3Pat<>+184(SB)/8, $0x0b800b800b800b80
DATA kQ3Pat<>+192(SB)/8, $0x0c800c800c800c80
DATA kQ3Pat<>+200(SB)/8, $0x0c800c800c800c80
DATA kQ3Pat<>+208(SB)/8, $0x0d800d800d800d80
DATA kQ3Pat<>+216(SB)/8, $0x0d800d800d800d80
DATA kQ3Pat<>+224(SB)/8, $0x0e800e800e800e80
DATA kQ3Pat<>+232(SB)/8, $0x0e800e800e800e80
DATA kQ3Pat<>+240(SB)/8, $0x0f800f800f800f80
DATA kQ3Pat<>+248(SB)/8, $0x0f800f800f800f80
GLOBL kQ3Pat<>(SB), RODATA|NOPTR, $256

DATA kInv256<>+0(SB)/4, $0x3b800000
GLOBL kInv256<>(SB), RODATA|NOPTR, $4

// ---- Q3_K: hmask[32], qs[64], scales[12], d f16 at 108 ----

// Q3KSCALES sets Y1 = the 16 scales minus 32, as signed bytes in both
// 128-bit lanes: low
// nibbles from scales[0:8] (sub-blocks 0-7) and their high nibbles
// (8-15), top 2 bits of sub-block j from bits 2*(j/4) of scales[8+j%4].
#define Q3KSCALES \
	VMOVQ 96(AX), X1; \
	VPSRLW $4, X1, X2; \
	VPUNPCKLQDQ X2, X1, X1; \
	VPAND k0F<>(SB), X1, X1; \
	VPBROADCASTD 104(AX), X2; \
	VPSRLVD kQ3Shift<>(SB), X2, X2; \
	VPAND k03<>(SB), X2, X2; \
	VPSLLW $4, X2, X2; \
	VPOR X2, X1, X1; \
	VPSUBB k20<>(SB), X1, X1; \
	VINSERTI128 $1, X1, Y1, Y1

// Q3KW sets Y2 = the quants of group g at shift sh of chunk Y0 plus 4,
// unsigned (0-7): the low 2 bits, and bit 2 from bit g of the hmask bytes
// in Y5, which SH $n moves there; Y4 = the scales of its two sub-blocks
// times 256 as int16: VPSHUFB of Y1 (the 16 scales in both lanes) with
// kQ3Pat's row g puts scale 2g (low lane) or 2g+1 (high lane) into each
// word's high byte, which saves a sign extension per group. The factor
// 256 stays exact through int32 sums and conversion and is taken out of
// d in Q3KD. The -4 is applied once per super-block in Q3KOFF, through
// the activations' block sums, which saves the sign handling of every
// product (VPMADDUBSW takes the unsigned quants as they are). Q3KW0 is
// group 0 (no shift of qs), Q3KW2 group 2 (no shift of the hmask).
#define Q3KW(sh, SH, n, g) \
	VPSRLW $sh, Y0, Y2; \
	VPAND k03<>(SB), Y2, Y2; \
	SH $n, Y5, Y3; \
	Q3KHI(Y3, g)

#define Q3KW0(SH, n, g) \
	VPAND k03<>(SB), Y0, Y2; \
	SH $n, Y5, Y3; \
	Q3KHI(Y3, g)

#define Q3KW2(sh, g) \
	VPSRLW $sh, Y0, Y2; \
	VPAND k03<>(SB), Y2, Y2; \
	Q3KHI(Y5, g)

#define Q3KHI(H, g) \
	VPAND k04<>(SB), H, Y3; \
	VPOR Y3, Y2, Y2; \
	VPSHUFB kQ3Pat<>+(g*32)(SB), Y1, Y4

// Q3KSCALES4 sets Y7 = the 16 scales times 4*256 as int16 (-32768 to
// 31744), for Q3KOFF.
#define Q3KSCALES4 VPMOVSXBW X1, Y7; VPSLLW $10, Y7, Y7

// Q3KOFF subtracts from isum what the quants' offset of -4 contributes:
// 4 * sum_j(scale_j * bsum_j), the block sums of the Q8_K activations
// at 260; Y7 = the scales times 4 (Q3KSCALES4). Exact in int32.
#define Q3KOFF(T, isum) \
	VPMADDWD 260 T, Y7, Y6; \
	VPSUBD Y6, isum, isum

// Q3KEND folds isum into acc scaled by d*d_x; X7 = d/256 (Q3KW's factor).
#define Q3KEND(T, isum, acc) \
	VMULSS 0 T, X7, X6; \
	VBROADCASTSS X6, Y6; \
	VCVTDQ2PS isum, isum; \
	VFMADD231PS Y6, isum, acc

// Q3KSUM is Q3KEND for Q3_K: it folds isum into lane 0 of acc, its eight
// lanes summed as integers first (exact: wrapping int32 adds end at the
// super-block's sum, which fits). Q3_K's lanes hold the unsigned quants'
// products and the offset's block sums in different lanes, large parts
// that cancel only across lanes; added lane by lane to the other
// super-blocks' in float32, they lost a super-block of small activations
// beside one of large ones (TestMatMulAcrossScales: 10 of 30 seeds beyond
// the bound, where the portable kernel is exact). It costs the Q3_K
// kernels: 0.81-0.88x their speed in cache in two sets of three
// interleaved runs (go test -bench Rows/Q3_K).
// xi and xacc are isum's and acc's X registers.
#define Q3KSUM(T, isum, xi, xacc) ISUM1(T, isum, xi, X7, xacc)

#define Q3KD VPINSRW $0, 108(AX), X7, X7; VCVTPH2PS X7, X7; VMULSS kInv256<>(SB), X7, X7

#define Q3KSB1 \
	VPXOR Y12, Y12, Y12; \
	Q3KSCALES; \
	VMOVDQU 0(AX), Y5; \
	VMOVDQU 32(AX), Y0; \
	Q3KW0(VPSLLW, 2, 0); UTOK(4, T0, Y12); \
	Q3KW(2, VPSLLW, 1, 1); UTOK(36, T0, Y12); \
	Q3KW2(4, 2); UTOK(68, T0, Y12); \
	Q3KW(6, VPSRLW, 1, 3); UTOK(100, T0, Y12); \
	VMOVDQU 64(AX), Y0; \
	Q3KW0(VPSRLW, 2, 4); UTOK(132, T0, Y12); \
	Q3KW(2, VPSRLW, 3, 5); UTOK(164, T0, Y12); \
	Q3KW(4, VPSRLW, 4, 6); UTOK(196, T0, Y12); \
	Q3KW(6, VPSRLW, 5, 7); UTOK(228, T0, Y12); \
	Q3KSCALES4; \
	Q3KOFF(T0, Y12); \
	Q3KD; \
	Q3KSUM(T0, Y12, X12, X8)

#define Q3KSB4T(TOK, END) \
	ZERO4ISUM; \
	Q3KSCALES; \
	VMOVDQU 0(AX), Y5; \
	VMOVDQU 32(AX), Y0; \
	Q3KW0(VPSLLW, 2, 0); TOK4(TOK, 4); \
	Q3KW(2, VPSLLW, 1, 1); TOK4(TOK, 36); \
	Q3KW2(4, 2); TOK4(TOK, 68); \
	Q3KW(6, VPSRLW, 1, 3); TOK4(TOK, 100); \
	VMOVDQU 64(AX), Y0; \
	Q3KW0(VPSRLW, 2, 4); TOK4(TOK, 132); \
	Q3KW(2, VPSRLW, 3, 5); TOK4(TOK, 164); \
	Q3KW(4, VPSRLW, 4, 6); TOK4(TOK, 196); \
	Q3KW(6, VPSRLW, 5, 7); TOK4(TOK, 228); \
	Q3KSCALES4; \
	Q3KOFF(T0, Y12); \
	Q3KOFF(T1, Y13); \
	Q3KOFF(T2, Y14); \
	Q3KOFF(T3, Y15); \
	Q3KD; \
	END

#define Q3KSUM4X8 \
	Q3KSUM(T0, Y12, X12, X8); \
	Q3KSUM(T1, Y13, X13, X9); \
	Q3KSUM(T2, Y14, X14, X10); \
	Q3KSUM(T3, Y15, X15, X11)

#define Q3KSB4 Q3KSB4T(UTOK, Q3KSUM4X8)

// The four-token Q3_K kernel with VNNI: VPDPWSSD does UTOK's VPMADDWD
// and VPADDD, and the four tokens' lanes are summed together (Q3KSUM4),
// which gives the AVX2 kernel's results bit for bit: the same exact int32
// sums, scaled and added in the same order.
#define UTOKV(yoff, T, isum) \
	VPMADDUBSW yoff T, Y2, Y6; \
	VPDPWSSD Y4, Y6, isum

// Q3KSUM4 is Q3KSUM for tokens 0-3 (isum Y12-Y15) into the lanes of X8.
#define Q3KSUM4 VBROADCASTSS X7, X6; ISUM4(X6)

#define Q3KSB4V Q3KSB4T(UTOKV, Q3KSUM4)

// STOK adds to isum the products of signed weights Y2 (|Y2| in Y3)
// and a token's 32 activations at yoff, times the int16 scales Y4:
// VPMADDUBSW needs one unsigned side, so the activations take the
// weights' signs.
#define STOK(yoff, T, isum) \
	VMOVDQU yoff T, Y6; \
	VPSIGNB Y2, Y6, Y6; \
	VPMADDUBSW Y6, Y3, Y6; \
	VPMADDWD Y4, Y6, Y6; \
	VPADDD Y6, isum, isum

// STOKV is STOK with VNNI (VPDPWSSD for VPMADDWD and VPADDD).
#define STOKV(yoff, T, isum) \
	VMOVDQU yoff T, Y6; \
	VPSIGNB Y2, Y6, Y6; \
	VPMADDUBSW Y6, Y3, Y6; \
	VPDPWSSD Y4, Y6, isum

// ---- IQ4_XS: d f16, scales_h u16 at 2, scales_l[4] at 4, qs[128] at 8 ----

// IQ4XSSCALES sets Y0 = the eight scales minus 32 as int16, in both
// lanes (for kK4Shuf): low 4 bits nibble ib%2 of scales_l[ib/2], high 2
// bits bits 2*ib of scales_h; and Y1 = the level table.
#define IQ4XSSCALES \
	VMOVD 4(AX), X0; \
	VPSRLW $4, X0, X2; \
	VPUNPCKLBW X2, X0, X0; \
	VPAND k0F<>(SB), X0, X0; \
	VPMOVZXBW X0, X0; \
	VPBROADCASTD 2(AX), X2; \
	VPSRLVD kIQ4XSShift<>(SB), X2, X3; \
	VPSRLVD kIQ4XSShift<>+16(SB), X2, X2; \
	VPAND k03d<>(SB), X3, X3; \
	VPAND k03d<>(SB), X2, X2; \
	VPACKUSDW X2, X3, X3; \
	VPSLLW $4, X3, X3; \
	VPOR X3, X0, X0; \
	VPSUBW k20w<>(SB), X0, X0; \
	VPERMQ $0x44, Y0, Y0; \
	VMOVDQU kIQ4NL<>(SB), Y1

// IQ4XSW sets Y2 = the 32 levels of the sub-block at qoff (low nibbles
// the first 16 elements), Y3 = |Y2|, Y4 = its scale in every int16 lane
// (kK4Shuf pattern at soff).
#define IQ4XSW(qoff, soff) \
	VMOVDQU qoff(AX), X2; \
	VPSRLW $4, X2, X3; \
	VINSERTI128 $1, X3, Y2, Y2; \
	VPAND k0F<>(SB), Y2, Y2; \
	VPSHUFB Y2, Y1, Y2; \
	VPSIGNB Y2, Y2, Y3; \
	VPSHUFB kK4Shuf<>+soff(SB), Y0, Y4

#define IQ4XSD VPINSRW $0, 0(AX), X7, X7; VCVTPH2PS X7, X7

#define IQ4XSSB1 \
	VPXOR Y12, Y12, Y12; \
	IQ4XSSCALES; \
	IQ4XSW(8, 0); STOK(4, T0, Y12); \
	IQ4XSW(24, 32); STOK(36, T0, Y12); \
	IQ4XSW(40, 64); STOK(68, T0, Y12); \
	IQ4XSW(56, 96); STOK(100, T0, Y12); \
	IQ4XSW(72, 128); STOK(132, T0, Y12); \
	IQ4XSW(88, 160); STOK(164, T0, Y12); \
	IQ4XSW(104, 192); STOK(196, T0, Y12); \
	IQ4XSW(120, 224); STOK(228, T0, Y12); \
	IQ4XSD; \
	Q3KEND(T0, Y12, Y8)

#define IQ4XSSB4T(TOK) \
	ZERO4ISUM; \
	IQ4XSSCALES; \
	IQ4XSW(8, 0); TOK4(TOK, 4); \
	IQ4XSW(24, 32); TOK4(TOK, 36); \
	IQ4XSW(40, 64); TOK4(TOK, 68); \
	IQ4XSW(56, 96); TOK4(TOK, 100); \
	IQ4XSW(72, 128); TOK4(TOK, 132); \
	IQ4XSW(88, 160); TOK4(TOK, 164); \
	IQ4XSW(104, 192); TOK4(TOK, 196); \
	IQ4XSW(120, 224); TOK4(TOK, 228); \
	IQ4XSD; \
	Q3KEND(T0, Y12, Y8); \
	Q3KEND(T1, Y13, Y9); \
	Q3KEND(T2, Y14, Y10); \
	Q3KEND(T3, Y15, Y11)

#define IQ4XSSB4 IQ4XSSB4T(STOK)

// The four-token Q2_K and IQ4_XS kernels with VNNI: the same as AVX2's
// but for VPDPWSSD, so bit for bit the same results.
#define Q2KSB4V Q2KSB4T(UTOKV)
#define IQ4XSSB4V IQ4XSSB4T(STOKV)

// func dotIQ4_XSx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ4_XSx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	KX1(IQ4XSSB1, 136)

// func dotIQ4_XSx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ4_XSx4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(IQ4XSSB4, 136)

// func dotQ2_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ2_Kx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	KX1(Q2KSB1, 84)

// func dotQ2_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ2_Kx4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(Q2KSB4, 84)

// func dotQ3_Kx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ3_Kx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	KX1(Q3KSB1, 110)

// func dotQ3_Kx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ3_Kx4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(Q3KSB4, 110)

// func dotQ3_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ3_Kx4VNNI(SB), NOSPLIT, $0-64
	X4ARGS
	KX4N(Q3KSB4V, 110)

// func dotQ2_Kx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ2_Kx4VNNI(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(Q2KSB4V, 84)

// func dotIQ4_XSx4VNNI(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ4_XSx4VNNI(SB), NOSPLIT, $0-64
	X4ARGS
	KX4(IQ4XSSB4V, 136)
