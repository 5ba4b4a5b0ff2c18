// Shared part of the K-quant kernels (kq_amd64.s, kq_avx512_amd64.s):
// the constant tables, the unpacking of Q4_K, Q5_K and Q6_K blocks, and the
// row and super-block loops. Each including file gets its own copy of the
// tables (file-local symbols cannot be shared between assembly files).
//
// Registers: SI weight row, AX weight block, BX activation block, CX
// super-blocks left, R8 wstride, R9 rows left, R10 activation row, R11 nb
// (x1) or xstride (x4), DI 3*xstride, R12 nb (x4) or dst (x1), R13 dst, DX
// dstride in bytes. Activation blocks are Q8_K's, 292 bytes: d f32,
// qs[256], bsums[16] int16.
//
// The including file defines the byte constants k0F, k10 and k30 (with
// SPLAT32, in the order of its other 32-byte tables: the linker lays
// them out in the order of definition).

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

// T0..T3 address the activation block of token 0..3.
#define T0 (BX)
#define T1 (BX)(R11*1)
#define T2 (BX)(R11*2)
#define T3 (BX)(DI*1)

// TOK4 applies a token step TOK(yoff, T, isum) of the four-token
// kernels to each token, token t summing into Y(12+t); ZERO4ISUM clears
// those sums.
#define TOK4(TOK, yoff) \
	TOK(yoff, T0, Y12); \
	TOK(yoff, T1, Y13); \
	TOK(yoff, T2, Y14); \
	TOK(yoff, T3, Y15)

#define ZERO4ISUM VPXOR Y12, Y12, Y12; VPXOR Y13, Y13, Y13; VPXOR Y14, Y14, Y14; VPXOR Y15, Y15, Y15

// ---- Q4_K, Q5_K: d, dmin f16, scales[12], (Q5_K: qh[32]), qs ----

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

// ---- Q6_K: ql[128], qh[64], scales[16] int8, d f16 at 208 ----

// Q6KLOAD loads 128-element chunk n: Y0 = ql[64n:], Y1 = ql[64n+32:],
// Y5 = qh[32n:].
#define Q6KLOAD(l1, l2, h) VMOVDQU l1(AX), Y0; VMOVDQU l2(AX), Y1; VMOVDQU h(AX), Y5

// Q6KW0..3 build quants 32k..32k+31 of the chunk, unsigned (0..63), in Y2.
#define Q6KW0 VPAND k0F<>(SB), Y0, Y2; VPSLLW $4, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2
#define Q6KW1 VPAND k0F<>(SB), Y1, Y2; VPSLLW $2, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2
#define Q6KW2 VPSRLW $4, Y0, Y2; VPAND k0F<>(SB), Y2, Y2; VPAND k30<>(SB), Y5, Y3; VPOR Y3, Y2, Y2
#define Q6KW3 VPSRLW $4, Y1, Y2; VPAND k0F<>(SB), Y2, Y2; VPSRLW $2, Y5, Y3; VPAND k30<>(SB), Y3, Y3; VPOR Y3, Y2, Y2

// KX1 and KX4 are the row and super-block loops around a super-block
// macro SB for weight blocks of WB bytes. KX4 prefetches into L2 the
// weights 64 KiB ahead (MatMul's row chunk, chunkBytes: the next chunk
// comes from memory while this one is computed), four lines a block.
#ifndef PFD
#define PFD 32768
#endif
#define KX1(SB, WB) \
row: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R11, CX; \
	VXORPS Y8, Y8, Y8; \
sb: \
	PREFETCHT0 PF1DIST(AX); \
	PREFETCHT0 PF1DIST+64(AX); \
	PREFETCHT0 PF1DIST+128(AX); \
	SB; \
	ADDQ $WB, AX; \
	ADDQ $292, BX; \
	DECQ CX; \
	JNZ sb; \
	HSUM8(Y8, X8, X9); \
	VMOVSS X8, (R12); \
	NEXTROW(R12, row)

// KX4L is the loop of KX4 and KX4N: ZERO clears the accumulators, END
// leaves the four tokens' sums in X8.
#define KX4L(SB, WB, ZERO, END) \
	LEAQ (R11)(R11*2), DI; \
	SHLQ $2, DX; \
row4: \
	MOVQ SI, AX; \
	MOVQ R10, BX; \
	MOVQ R12, CX; \
	ZERO; \
sb4: \
	PREFETCHT1 65536(AX); \
	PREFETCHT1 65600(AX); \
	PREFETCHT1 65664(AX); \
	PREFETCHT1 65728(AX); \
	SB; \
	ADDQ $WB, AX; \
	ADDQ $292, BX; \
	DECQ CX; \
	JNZ sb4; \
	END; \
	STORE4(R13, DX, BX); \
	NEXTROW(R13, row4)

#define KX4(SB, WB) KX4L(SB, WB, ZEROACC, HSUM4X8)

// KX4N is KX4 for kernels that keep the four tokens' sums in the lanes
// of X8 themselves.
#define ZEROX8 VXORPS X8, X8, X8
#define NOSUM
#define KX4N(SB, WB) KX4L(SB, WB, ZEROX8, NOSUM)

// ISUM4 folds the four tokens' int32 sums Y12-Y15 into the lanes of X8
// (token t in lane t): each register's lanes are summed as integers
// (VPHADDD, exact), converted, and added times d_x*d, d in every lane of
// XD (the product rounded first, as ggml rounds it). For the kernels
// that keep one sum per super-block and token (KX4N).
#define ISUM4(XD) \
	VPHADDD Y13, Y12, Y12; \
	VPHADDD Y15, Y14, Y14; \
	VPHADDD Y14, Y12, Y12; \
	VEXTRACTI128 $1, Y12, X13; \
	VPADDD X13, X12, X12; \
	VCVTDQ2PS X12, X12; \
	VMOVSS 0 T0, X14; \
	VINSERTPS $0x10, 0 T1, X14, X14; \
	VINSERTPS $0x20, 0 T2, X14, X14; \
	VINSERTPS $0x30, 0 T3, X14, X14; \
	VMULPS XD, X14, X14; \
	VFMADD231PS X14, X12, X8

// ISUM1 folds one token's int32 sums isum (xi: its X register) into lane 0
// of xacc: the lanes summed as integers (exact), converted, and added
// times d_x*d, d in lane 0 of XD (the product rounded first).
#define ISUM1(T, isum, xi, XD, xacc) \
	VEXTRACTI128 $1, isum, X6; \
	VPADDD X6, xi, xi; \
	VPSHUFD $0x4e, xi, X6; \
	VPADDD X6, xi, xi; \
	VPSHUFD $0xb1, xi, X6; \
	VPADDD X6, xi, xi; \
	VCVTDQ2PS xi, xi; \
	VMULSS 0 T, XD, X6; \
	VFMADD231SS X6, xi, xacc
