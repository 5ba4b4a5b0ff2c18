//go:build !purego

#include "textflag.h"
#include "asm_amd64.h"

// Kernels for the 32-element block formats. Two skeletons:
//
//   - signed weights (Q8_0, Q4_0, Q5_0, IQ4_NL) times Q8_0 activations (34-byte
//     blocks): per block d_w*d_x times the integer dot product, which
//     VPMADDUBSW computes as |w| * (x with w's sign);
//   - unsigned weights (Q4_1, Q5_1: x = d*q + m) times Q8_1 activations
//     (36-byte blocks: d, s = d*sum(q), qs): per block d_w*d_x*dot(q, x)
//     + m_w*s_x, as ggml computes it.
//
// A W_ macro loads the block at off(AX) into Y0 as 32 bytes (signed or
// unsigned per skeleton); it may use Y1 and Y3 as scratch.
//
// Registers: SI weight row, AX weight block, BX activation block, CX
// blocks left, R8 wstride, R9 rows left, R10 activation row, R11 nb (x1)
// or xstride (x4), DI 3*xstride, R12 nb (x4) or dst (x1), R13 dst, DX
// dstride in bytes.

SPLAT32(k0F, 0x0f0f0f0f0f0f0f0f)
SPLAT32(k08, 0x0808080808080808)
SPLAT32(kF0, 0xf0f0f0f0f0f0f0f0)
SPLAT32(k10, 0x1010101010101010)
SPLAT32(kFF, -1)
SPLAT32(k80, 0x8080808080808080)

// The 16 levels of IQ4_NL as int8, in both 128-bit lanes.
DATA kIQ4NL<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA kIQ4NL<>+8(SB)/8, $0x7159453526190d01
DATA kIQ4NL<>+16(SB)/8, $0xf6eaddcfbfad9881
DATA kIQ4NL<>+24(SB)/8, $0x7159453526190d01
GLOBL kIQ4NL<>(SB), RODATA|NOPTR, $32

// Byte k of a 32-bit mask to bytes 8k..8k+7 (VPSHUFB, per 128-bit lane).
DATA kShufB<>+0(SB)/8, $0x0000000000000000
DATA kShufB<>+8(SB)/8, $0x0101010101010101
DATA kShufB<>+16(SB)/8, $0x0202020202020202
DATA kShufB<>+24(SB)/8, $0x0303030303030303
GLOBL kShufB<>(SB), RODATA|NOPTR, $32

// Byte i of each 8 has every bit set but bit i: OR with a mask byte gives
// 0xFF exactly where bit i of that byte is set.
SPLAT32(kBitM, 0x7fbfdfeff7fbfdfe)

// VPERMPS index of the odd lanes.
DATA kOdd<>+0(SB)/8, $0x0000000300000001
DATA kOdd<>+8(SB)/8, $0x0000000700000005
DATA kOdd<>+16(SB)/8, $0x0000000300000001
DATA kOdd<>+24(SB)/8, $0x0000000700000005
GLOBL kOdd<>(SB), RODATA|NOPTR, $32

// NIBBLES loads 16 bytes at addr into Y0 as 32 nibbles: low nibbles in
// bytes 0-15 (elements 0-15), high nibbles in bytes 16-31.
#define NIBBLES(addr) VMOVDQU addr, X0; VPSRLW $4, X0, X1; VINSERTI128 $1, X1, Y0, Y0; VPAND C0F, Y0, Y0

// HIBITS expands the 32-bit mask at addr into Y1: byte j is 0xFF when
// bit j is set, else 0.
#define HIBITS(addr) VPBROADCASTD addr, Y1; VPSHUFB CSHUF, Y1, Y1; VPOR CBITM, Y1, Y1; VPCMPEQB CFF, Y1, Y1

#define W_Q8_0(off) VMOVDQU 2+off(AX), Y0
#define W_Q4_0(off) NIBBLES(2+off(AX)); VPSUBB CHI, Y0, Y0
// Q5_0: nibble | 0xF0 where the fifth bit is clear = (nibble | bit<<4) - 16.
#define W_Q5_0(off) NIBBLES(6+off(AX)); HIBITS(2+off(AX)); VPANDN CHI, Y1, Y1; VPOR Y1, Y0, Y0
// IQ4_NL: the nibbles index the level table CHI (kIQ4NL); VPSHUFB takes
// the table from a register, which it is in the one-token kernels
// (W_IQ4_NLR).
#define W_IQ4_NL(off) NIBBLES(2+off(AX)); VMOVDQU CHI, Y3; VPSHUFB Y0, Y3, Y0
#define W_IQ4_NLR(off) NIBBLES(2+off(AX)); VPSHUFB Y0, CHI, Y0
#define W_Q4_1(off) NIBBLES(4+off(AX))
#define W_Q5_1(off) NIBBLES(8+off(AX)); HIBITS(4+off(AX)); VPAND CHI, Y1, Y1; VPOR Y1, Y0, Y0

// The W_ macros name their constants C0F (0x0F bytes), CSHUF (kShufB),
// CBITM (kBitM), CFF (all ones) and CHI (the type's high-part constant:
// 0x08 for Q4_0, 0xF0 for Q5_0, 0x10 for Q5_1; the level table for
// IQ4_NL). The one-token kernels,
// which have registers to spare, hold them in Y10-Y14 (REGCONSTS) to spare
// the load ports; the four-token kernels, which amortize them over four
// tokens, read them from memory.
#define REGCONSTS(hi) \
	VMOVDQU k0F<>(SB), Y10; \
	VMOVDQU kShufB<>(SB), Y11; \
	VMOVDQU kBitM<>(SB), Y12; \
	VPCMPEQB Y13, Y13, Y13; \
	VMOVDQU hi<>(SB), Y14

// ---- signed weights x Q8_0 ----

// SBLK1 adds the block pair at woff(AX), xoff(BX) into acc. The scales are
// converted straight from memory (VCVTPH2PS reads 8 bytes, inside either
// block; only the first half is used).
#define SBLK1(W, woff, xoff, acc) \
	W(woff); \
	VMOVDQU 2+xoff(BX), Y1; \
	VPSIGNB Y0, Y0, Y2; \
	I8DOT(Y0, Y2, Y1); \
	VCVTDQ2PS Y1, Y1; \
	VCVTPH2PS woff(AX), X3; \
	VCVTPH2PS xoff(BX), X4; \
	VMULSS X4, X3, X3; \
	VBROADCASTSS X3, Y3; \
	VFMADD231PS Y3, Y1, acc

// SKX1 is the body of a signed x1 kernel for weight blocks of WB bytes.
#define SKX1(W, WB) \
	ONES16(Y15); \
row: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R11, CX; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	CMPQ CX, $2; \
	JLT tail; \
pair: \
	PREFETCHT0 PF1DIST(AX); \
	SBLK1(W, 0, 0, Y8); \
	SBLK1(W, WB, 34, Y9); \
	ADDQ $(2*WB), AX; \
	ADDQ $68, BX; \
	SUBQ $2, CX; \
	CMPQ CX, $2; \
	JGE pair; \
tail: \
	TESTQ CX, CX; \
	JZ done; \
	SBLK1(W, 0, 0, Y8); \
done: \
	VADDPS Y9, Y8, Y8; \
	HSUM8(Y8, X8, X9); \
	VMOVSS X8, (R12); \
	NEXTROW(R12, row)

// STOK leaves in p the eight int32 partial sums of the block pair of the
// activation block's qs at xq and the weights in Y0 (|w| in Y1).
#define STOK(xq, p) VMOVDQU xq, p; I8DOT(Y0, Y1, p)

// PFDIST is how far ahead of the weights in use the x4 kernels prefetch
// into L2: MatMul's row chunk (chunkBytes), so that the next chunk comes
// from memory while this one is computed.
#define PFDIST 65536

// PTOK leaves in p and q the eight int32 partial sums of the activation
// block's qs at xq with the weights of the first row (Y0, |w| in Y1) and
// of the second (Y2, |w| in Y3).
#define PTOK(xq, p, q) \
	VMOVDQU xq, p; \
	VPSIGNB Y2, p, q; \
	VPMADDUBSW q, Y3, q; \
	VPMADDWD Y15, q, q; \
	I8DOT(Y0, Y1, p)

// SCALE4 sets Y into [d_w*d_t for t < 4] x 2, the weight scale at wd and
// X12 holding the four activation scales as floats (X is Y's X register).
#define SCALE4(wd, Y, X) \
	VPBROADCASTW wd, X; \
	VCVTPH2PS X, X; \
	VMULPS X, X12, X; \
	VINSERTF128 $1, X, Y, Y

// DSCALES sets X12 to the four activation blocks' scales as floats.
#define DSCALES \
	VMOVD (BX), X12; \
	VPINSRW $1, (BX)(R11*1), X12, X12; \
	VPINSRW $2, (BX)(R11*2), X12, X12; \
	VPINSRW $3, (BX)(DI*1), X12, X12; \
	VCVTPH2PS X12, X12

// ZIPADD sets a to [a0+a2, b0+b2, a1+a3, b1+b3] per 128-bit lane, and
// ZIPADDQ a to [a0+a1, a2+a3, b0+b1, b2+b3] on such pairs: together, four
// tokens' partial sums become one vector with token t in lanes t and t+4,
// as two levels of VPHADDD would: with these unpacks and adds in place of
// VPHADDD, the Q8_0 four-token kernel took 0.85-0.91x the time on the AMD
// EPYC (AVX2) measured (go test -bench Rows/Q8_0/ntok=4). Y13 is scratch.
#define ZIPADD(b, a) \
	VPUNPCKLDQ b, a, Y13; \
	VPUNPCKHDQ b, a, a; \
	VPADDD Y13, a, a

#define ZIPADDQ(b, a) \
	VPUNPCKLQDQ b, a, Y13; \
	VPUNPCKHQDQ b, a, a; \
	VPADDD Y13, a, a

// SKX4 is the body of a signed x4 kernel. Rows are taken two at a time
// (R14 the second row's block), so that the activations and their scales
// are loaded once for both; a last odd row goes through the one-row loop.
// Per row and block, the four tokens' partial sums are reduced with
// ZIPADD/ZIPADDQ to one vector holding token t's two half sums in lanes t and
// t+4 (exact int32), converted once and scaled once by [d_w*d_t] x 2:
// one conversion and one FMA a block instead of one per token, and no
// lane permutes.
#define SKX4(W, WB) \
	LEAQ (R11)(R11*2), DI; \
	SHLQ $2, DX; \
	ONES16(Y15); \
pair: \
	CMPQ R9, $2; \
	JLT row4; \
	MOVQ SI, AX; \
	LEAQ (SI)(R8*1), R14; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
pblk: \
	PREFETCHT1 PFDIST(AX); \
	PREFETCHT1 PFDIST(R14); \
	XCHGQ AX, R14; \
	W(0); \
	XCHGQ AX, R14; \
	VMOVDQA Y0, Y2; \
	W(0); \
	VPSIGNB Y0, Y0, Y1; \
	VPSIGNB Y2, Y2, Y3; \
	PTOK(2(BX), Y4, Y5); \
	PTOK(2(BX)(R11*1), Y6, Y7); \
	ZIPADD(Y6, Y4); \
	ZIPADD(Y7, Y5); \
	PTOK(2(BX)(R11*2), Y6, Y7); \
	PTOK(2(BX)(DI*1), Y10, Y11); \
	ZIPADD(Y10, Y6); \
	ZIPADD(Y11, Y7); \
	ZIPADDQ(Y6, Y4); \
	ZIPADDQ(Y7, Y5); \
	VCVTDQ2PS Y4, Y4; \
	VCVTDQ2PS Y5, Y5; \
	DSCALES; \
	SCALE4((AX), Y0, X0); \
	VFMADD231PS Y0, Y4, Y8; \
	SCALE4((R14), Y2, X2); \
	VFMADD231PS Y2, Y5, Y9; \
	ADDQ $WB, AX; \
	ADDQ $WB, R14; \
	ADDQ $34, BX; \
	DECQ CX; \
	JNZ pblk; \
	VEXTRACTF128 $1, Y8, X10; \
	VADDPS X10, X8, X8; \
	STORE4(R13, DX, BX); \
	VEXTRACTF128 $1, Y9, X10; \
	VADDPS X10, X9, X8; \
	ADDQ $4, R13; \
	STORE4(R13, DX, BX); \
	ADDQ $4, R13; \
	LEAQ (SI)(R8*2), SI; \
	SUBQ $2, R9; \
	JNZ pair; \
	VZEROUPPER; \
	RET; \
row4: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	VXORPS Y8, Y8, Y8; \
blk4: \
	PREFETCHT1 PFDIST(AX); \
	W(0); \
	VPSIGNB Y0, Y0, Y1; \
	STOK(2(BX), Y4); \
	STOK(2(BX)(R11*1), Y5); \
	STOK(2(BX)(R11*2), Y6); \
	STOK(2(BX)(DI*1), Y7); \
	ZIPADD(Y5, Y4); \
	ZIPADD(Y7, Y6); \
	ZIPADDQ(Y6, Y4); \
	VCVTDQ2PS Y4, Y4; \
	DSCALES; \
	SCALE4((AX), Y2, X2); \
	VFMADD231PS Y2, Y4, Y8; \
	ADDQ $WB, AX; \
	ADDQ $34, BX; \
	DECQ CX; \
	JNZ blk4; \
	VEXTRACTF128 $1, Y8, X9; \
	VADDPS X9, X8, X8; \
	STORE4(R13, DX, BX); \
	NEXTROW(R13, row4)

// ---- unsigned weights (with offset) x Q8_1 ----

// UBLK1 adds the block pair at woff(AX), xoff(BX): d_w*d_x*dot into acc,
// and m_w*s_x into lane 2 of macc.
#define UBLK1(W, woff, xoff, acc, macc) \
	W(woff); \
	VMOVDQU 4+xoff(BX), Y1; \
	VPMADDUBSW Y1, Y0, Y1; \
	VPMADDWD Y15, Y1, Y1; \
	VCVTDQ2PS Y1, Y1; \
	VMOVD woff(AX), X3; \
	VMOVD xoff(BX), X4; \
	VPUNPCKLWD X4, X3, X3; \
	VCVTPH2PS X3, X3; \
	VMOVSHDUP X3, X4; \
	VMULPS X4, X3, X3; \
	VADDPS X3, macc, macc; \
	VBROADCASTSS X3, Y3; \
	VFMADD231PS Y3, Y1, acc

#define UKX1(W, WB) \
	ONES16(Y15); \
row: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R11, CX; \
	VXORPS Y8, Y8, Y8; \
	VXORPS Y9, Y9, Y9; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7; \
	CMPQ CX, $2; \
	JLT tail; \
pair: \
	PREFETCHT0 PF1DIST(AX); \
	UBLK1(W, 0, 0, Y8, X6); \
	UBLK1(W, WB, 36, Y9, X7); \
	ADDQ $(2*WB), AX; \
	ADDQ $72, BX; \
	SUBQ $2, CX; \
	CMPQ CX, $2; \
	JGE pair; \
tail: \
	TESTQ CX, CX; \
	JZ done; \
	UBLK1(W, 0, 0, Y8, X6); \
done: \
	VADDPS Y9, Y8, Y8; \
	HSUM8(Y8, X8, X9); \
	VADDPS X7, X6, X6; \
	VMOVHLPS X6, X6, X6; \
	VADDSS X6, X8, X8; \
	VMOVSS X8, (R12); \
	NEXTROW(R12, row)

// UTOK adds one activation row's block (qs at xq) into acc, for unsigned
// weights (no sign transfer): Y0 = w, lane idx of Y2 holds d_w*d_x.
#define UTOK(xq, idx, acc) \
	VMOVDQU xq, Y4; \
	VPMADDUBSW Y4, Y0, Y4; \
	VPMADDWD Y15, Y4, Y4; \
	VCVTDQ2PS Y4, Y4; \
	VPERMPS Y2, idx, Y5; \
	VFMADD231PS Y5, Y4, acc

// UKX4: Y2 = [d_w*d_t, m_w*s_t] for t = 0..3; Y6 sums the m*s lanes.
#define UKX4(W, WB) \
	LEAQ (R11)(R11*2), DI; \
	SHLQ $2, DX; \
	ONES16(Y15); \
	LANEIDX(0, Y12); \
	LANEIDX(2, Y13); \
	LANEIDX(4, Y14); \
	LANEIDX(6, Y7); \
row4: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	VXORPS Y6, Y6, Y6; \
	ZEROACC; \
blk4: \
	W(0); \
	VMOVD (BX), X2; \
	VPINSRD $1, (BX)(R11*1), X2, X2; \
	VPINSRD $2, (BX)(R11*2), X2, X2; \
	VPINSRD $3, (BX)(DI*1), X2, X2; \
	VCVTPH2PS X2, Y2; \
	VMOVD (AX), X3; \
	VCVTPH2PS X3, X3; \
	VBROADCASTSD X3, Y3; \
	VMULPS Y3, Y2, Y2; \
	VADDPS Y2, Y6, Y6; \
	UTOK(4(BX), Y12, Y8); \
	UTOK(4(BX)(R11*1), Y13, Y9); \
	UTOK(4(BX)(R11*2), Y14, Y10); \
	UTOK(4(BX)(DI*1), Y7, Y11); \
	ADDQ $WB, AX; \
	ADDQ $36, BX; \
	DECQ CX; \
	JNZ blk4; \
	HSUM4X8; \
	VMOVDQU kOdd<>(SB), Y1; \
	VPERMPS Y6, Y1, Y6; \
	VADDPS X6, X8, X8; \
	STORE4(R13, DX, BX); \
	NEXTROW(R13, row4)

// ---- interleaving repack (see interleave.go) ----

// RROW decodes row r's block at (AX) into the int8s of reg with W, and
// prefetches the block PFDIST ahead into L2 as the four-token kernels do:
// for a few tokens the repack, which reads the weights from memory, is
// what waits for them.
#define SIGNED(r)
#define UNSIGNED(r) VPXOR k80<>(SB), r, r

#define RROW(W, reg) PREFETCHT1 PFDIST(AX); W(0); VMOVDQA Y0, reg

// RPK8 is the body of a repack of 8-row groups of blocks of WB bytes:
// each block of the 8 rows is decoded row by row into Y4-Y11, an 8x8
// matrix of int32 (row r, elements 4g..4g+3) that is then transposed in
// registers and passed through F (SIGNED: stored as is; UNSIGNED: sign
// bits flipped, w+128, for the VNNI kernel); the scales are gathered four
// rows at a time into X0 and X1.
//
// Registers: SI the group's first row, R8 wstride, R11 3*wstride, R9
// groups left, R10 row 0's block, R12 row 4's, CX blocks left, DI dst.
#define RPK8(W, WB, F) \
	MOVQ w+0(FP), SI; \
	MOVQ wstride+8(FP), R8; \
	MOVQ groups+16(FP), R9; \
	MOVQ dst+32(FP), DI; \
	LEAQ (R8)(R8*2), R11; \
rgrp: \
	MOVQ SI, R10; \
	MOVQ nb+24(FP), CX; \
rblk: \
	LEAQ (R10)(R8*4), R12; \
	MOVQ R10, AX; RROW(W, Y4); \
	LEAQ (R10)(R8*1), AX; RROW(W, Y5); \
	LEAQ (R10)(R8*2), AX; RROW(W, Y6); \
	LEAQ (R10)(R11*1), AX; RROW(W, Y7); \
	MOVQ R12, AX; RROW(W, Y8); \
	LEAQ (R12)(R8*1), AX; RROW(W, Y9); \
	LEAQ (R12)(R8*2), AX; RROW(W, Y10); \
	LEAQ (R12)(R11*1), AX; RROW(W, Y11); \
	VPUNPCKLDQ Y5, Y4, Y0; \
	VPUNPCKHDQ Y5, Y4, Y1; \
	VPUNPCKLDQ Y7, Y6, Y2; \
	VPUNPCKHDQ Y7, Y6, Y3; \
	VPUNPCKLDQ Y9, Y8, Y12; \
	VPUNPCKHDQ Y9, Y8, Y13; \
	VPUNPCKLDQ Y11, Y10, Y14; \
	VPUNPCKHDQ Y11, Y10, Y15; \
	VPUNPCKLQDQ Y2, Y0, Y4; \
	VPUNPCKHQDQ Y2, Y0, Y5; \
	VPUNPCKLQDQ Y3, Y1, Y6; \
	VPUNPCKHQDQ Y3, Y1, Y7; \
	VPUNPCKLQDQ Y14, Y12, Y8; \
	VPUNPCKHQDQ Y14, Y12, Y9; \
	VPUNPCKLQDQ Y15, Y13, Y10; \
	VPUNPCKHQDQ Y15, Y13, Y11; \
	VPERM2I128 $0x20, Y8, Y4, Y0; \
	VPERM2I128 $0x20, Y9, Y5, Y1; \
	VPERM2I128 $0x20, Y10, Y6, Y2; \
	VPERM2I128 $0x20, Y11, Y7, Y3; \
	VPERM2I128 $0x31, Y8, Y4, Y12; \
	VPERM2I128 $0x31, Y9, Y5, Y13; \
	VPERM2I128 $0x31, Y10, Y6, Y14; \
	VPERM2I128 $0x31, Y11, Y7, Y15; \
	F(Y0); F(Y1); F(Y2); F(Y3); F(Y12); F(Y13); F(Y14); F(Y15); \
	VMOVDQU Y0, 32(DI); \
	VMOVDQU Y1, 64(DI); \
	VMOVDQU Y2, 96(DI); \
	VMOVDQU Y3, 128(DI); \
	VMOVDQU Y12, 160(DI); \
	VMOVDQU Y13, 192(DI); \
	VMOVDQU Y14, 224(DI); \
	VMOVDQU Y15, 256(DI); \
	MOVWLZX (R10), AX; \
	VMOVD AX, X0; \
	MOVWLZX (R12), AX; \
	VMOVD AX, X1; \
	VPINSRW $1, (R10)(R8*1), X0, X0; \
	VPINSRW $1, (R12)(R8*1), X1, X1; \
	VPINSRW $2, (R10)(R8*2), X0, X0; \
	VPINSRW $2, (R12)(R8*2), X1, X1; \
	VPINSRW $3, (R10)(R11*1), X0, X0; \
	VPINSRW $3, (R12)(R11*1), X1, X1; \
	VPUNPCKLQDQ X1, X0, X0; \
	VCVTPH2PS X0, Y0; \
	VMOVUPS Y0, (DI); \
	ADDQ $WB, R10; \
	ADDQ $288, DI; \
	DECQ CX; \
	JNZ rblk; \
	LEAQ (SI)(R8*8), SI; \
	DECQ R9; \
	JNZ rgrp; \
	VZEROUPPER; \
	RET

#define C0F Y10
#define CSHUF Y11
#define CBITM Y12
#define CFF Y13
#define CHI Y14

// func dotQ8_0x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ8_0x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	REGCONSTS(k08)
	SKX1(W_Q8_0, 34)

// func dotQ4_0x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_0x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	REGCONSTS(k08)
	SKX1(W_Q4_0, 18)

// func dotQ5_0x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_0x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	REGCONSTS(kF0)
	SKX1(W_Q5_0, 22)

// func dotIQ4_NLx1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ4_NLx1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	REGCONSTS(kIQ4NL)
	SKX1(W_IQ4_NLR, 18)

// func dotQ4_1x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ4_1x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	REGCONSTS(k10)
	UKX1(W_Q4_1, 20)

// func dotQ5_1x1AVX2(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ5_1x1AVX2(SB), NOSPLIT, $0-48
	X1ARGS
	REGCONSTS(k10)
	UKX1(W_Q5_1, 24)

#undef C0F
#undef CSHUF
#undef CBITM
#undef CFF
#define C0F k0F<>(SB)
#define CSHUF kShufB<>(SB)
#define CBITM kBitM<>(SB)
#define CFF kFF<>(SB)

// func dotQ8_0x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ8_0x4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
#undef CHI
#define CHI k08<>(SB)
	SKX4(W_Q8_0, 34)

// func dotQ4_0x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_0x4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
#undef CHI
#define CHI k08<>(SB)
	SKX4(W_Q4_0, 18)

// func dotQ5_0x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_0x4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
#undef CHI
#define CHI kF0<>(SB)
	SKX4(W_Q5_0, 22)

// func dotIQ4_NLx4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ4_NLx4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
#undef CHI
#define CHI kIQ4NL<>(SB)
	SKX4(W_IQ4_NL, 18)

// func dotQ4_1x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ4_1x4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
#undef CHI
#define CHI k10<>(SB)
	UKX4(W_Q4_1, 20)

// func dotQ5_1x4AVX2(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ5_1x4AVX2(SB), NOSPLIT, $0-64
	X4ARGS
#undef CHI
#define CHI k10<>(SB)
	UKX4(W_Q5_1, 24)

// func repackQ8_0x8AVX2(w *byte, wstride uintptr, groups int, nb int, dst *byte)
TEXT ·repackQ8_0x8AVX2(SB), NOSPLIT, $0-40
	RPK8(W_Q8_0, 34, SIGNED)

// func repackQ4_0x8AVX2(w *byte, wstride uintptr, groups int, nb int, dst *byte)
TEXT ·repackQ4_0x8AVX2(SB), NOSPLIT, $0-40
#undef CHI
#define CHI k08<>(SB)
	RPK8(W_Q4_0, 18, SIGNED)

// func repackQ5_0x8AVX2(w *byte, wstride uintptr, groups int, nb int, dst *byte)
TEXT ·repackQ5_0x8AVX2(SB), NOSPLIT, $0-40
#undef CHI
#define CHI kF0<>(SB)
	RPK8(W_Q5_0, 22, SIGNED)

// func repackIQ4_NLx8AVX2(w *byte, wstride uintptr, groups int, nb int, dst *byte)
TEXT ·repackIQ4_NLx8AVX2(SB), NOSPLIT, $0-40
#undef CHI
#define CHI kIQ4NL<>(SB)
	RPK8(W_IQ4_NL, 18, SIGNED)

// func repackQ8_0x8U(w *byte, wstride uintptr, groups int, nb int, dst *byte)
TEXT ·repackQ8_0x8U(SB), NOSPLIT, $0-40
	RPK8(W_Q8_0, 34, UNSIGNED)

// func repackQ4_0x8U(w *byte, wstride uintptr, groups int, nb int, dst *byte)
TEXT ·repackQ4_0x8U(SB), NOSPLIT, $0-40
#undef CHI
#define CHI k08<>(SB)
	RPK8(W_Q4_0, 18, UNSIGNED)

// func repackQ5_0x8U(w *byte, wstride uintptr, groups int, nb int, dst *byte)
TEXT ·repackQ5_0x8U(SB), NOSPLIT, $0-40
#undef CHI
#define CHI kF0<>(SB)
	RPK8(W_Q5_0, 22, UNSIGNED)

// func repackIQ4_NLx8U(w *byte, wstride uintptr, groups int, nb int, dst *byte)
TEXT ·repackIQ4_NLx8U(SB), NOSPLIT, $0-40
#undef CHI
#define CHI kIQ4NL<>(SB)
	RPK8(W_IQ4_NL, 18, UNSIGNED)
