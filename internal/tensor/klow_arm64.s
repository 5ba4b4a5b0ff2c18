//go:build !purego

#include "textflag.h"
#include "asm_arm64.h"
#include "klow_arm64.h"

// Kernels for Q2_K, Q3_K and IQ4_XS times Q8_K activations (292-byte
// blocks: d f32, qs[256], bsums[16] int16) and IQ4_NL times Q8_0 (34-byte
// blocks: d f16, qs[32]), NEON, each with SDOT and with SMULL/SADALP (see
// asm_arm64.h); the frame and what the results equal: klow_arm64.h.
//
// Q2_K and Q3_K keep their 2-bit fields as the 256 elements' groups of 32:
// group 4c+k is bits 2k of qs[32c:32c+32], sub-blocks 8c+2k and 8c+2k+1.
// Both use the bsums of Q8_K as the Go kernels do: Q2_K for its minimum
// term, Q3_K to take 4 times them off the sums of its unsigned 3-bit
// quants.

// Q2W0, Q2W(s): the 2-bit fields at bit s of the 32 qs bytes in V0, V1,
// into V2, V3 (elements 0-15 and 16-31 of the group). V25 = 0x03 bytes.
#define Q2W0 \
	VAND V25.B16, V0.B16, V2.B16; \
	VAND V25.B16, V1.B16, V3.B16

#define Q2W(s) \
	VUSHR $s, V0.B16, V2.B16; \
	VUSHR $s, V1.B16, V3.B16; \
	VAND V25.B16, V2.B16, V2.B16; \
	VAND V25.B16, V3.B16, V3.B16

// Q2TOK multiplies V2, V3 (two sub-blocks of 16) with the next 32
// activations at (Rt) and adds the products times the int32 scales in
// lanes i and i+1 of V(sc) to V(isum). Scratch V4, V5, V8, V9.
#define Q2TOK(DOT, Rt, isum, sc, i) \
	VLD1.P 32(Rt), [V4.B16, V5.B16]; \
	ZERO(8); \
	DOT(8, 2, 4); \
	ZERO(9); \
	DOT(9, 3, 5); \
	MLA_S(isum, 8, sc, i); \
	MLA_S(isum, 9, sc, i+1)

// ---- Q2_K: scales[16], qs[64], d f16, dmin f16 ----
//
// V16-V19: the scales (low nibbles) as int32; V14, V15: the mins (high
// nibbles) as int16. V24 = 0x0F, V25 = 0x03 bytes.
#define Q2KSB(DOT, DX, ZI, TOKS, RED, BSUMS) \
	DX; \
	VLD1.P 16(R8), [V16.B16]; \
	VUSHR $4, V16.B16, V15.B16; \
	VUXTL V15.B8, V14.H8; \
	VUXTL2 V15.B16, V15.H8; \
	VAND V24.B16, V16.B16, V16.B16; \
	VUXTL V16.B8, V18.H8; \
	VUXTL2 V16.B16, V19.H8; \
	VUXTL V18.H4, V16.S4; \
	VUXTL2 V18.H8, V17.S4; \
	VUXTL V19.H4, V18.S4; \
	VUXTL2 V19.H8, V19.S4; \
	ZI; \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	Q2W0; \
	TOKS(Q2TOK, DOT, 16, 0); \
	Q2W(2); \
	TOKS(Q2TOK, DOT, 16, 2); \
	Q2W(4); \
	TOKS(Q2TOK, DOT, 17, 0); \
	Q2W(6); \
	TOKS(Q2TOK, DOT, 17, 2); \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	Q2W0; \
	TOKS(Q2TOK, DOT, 18, 0); \
	Q2W(2); \
	TOKS(Q2TOK, DOT, 18, 2); \
	Q2W(4); \
	TOKS(Q2TOK, DOT, 19, 0); \
	Q2W(6); \
	TOKS(Q2TOK, DOT, 19, 2); \
	MOVWU.P 4(R8), R14; \
	FMOVS R14, F26; \
	FCVTL_4S(26, 26); \
	RED; \
	BSUMS; \
	FMUL_S(30, 29, 26, 0); \
	FMUL_S(31, 29, 26, 1); \
	SCVTF_4S(10, 10); \
	SCVTF_4S(11, 11); \
	FMUL_4S(10, 10, 30); \
	FMUL_4S(11, 11, 31); \
	FSUB_4S(10, 10, 11); \
	FADD_4S(20, 20, 10)

#define Q2KCONST \
	VMOVI $0x0f, V24.B16; \
	VMOVI $0x03, V25.B16

// ---- Q3_K: hmask[32], qs[64], scales[12], d f16 ----
//
// Q3H adds the high bits, bit 0 of the hmask bytes in V6, V7 moved to
// 0x04, to the 2-bit fields in V2, V3, and moves V6, V7 down one bit for
// the next group. V28 = 0x04 bytes.
#define Q3H \
	VSHL $2, V6.B16, V8.B16; \
	VSHL $2, V7.B16, V9.B16; \
	VAND V28.B16, V8.B16, V8.B16; \
	VAND V28.B16, V9.B16, V9.B16; \
	VORR V8.B16, V2.B16, V2.B16; \
	VORR V9.B16, V3.B16, V3.B16; \
	VUSHR $1, V6.B16, V6.B16; \
	VUSHR $1, V7.B16, V7.B16

// Q3KSCALES unpacks the 12 scale bytes at 64(R8) (R8 at qs): V16-V19 =
// the 16 scales less 32 as int32, V14, V15 as int16. In 64-bit words:
// the low nibbles of b[0:8] are the low 4 bits of scales 0-7, the high
// nibbles those of 8-15; the top 2 bits are bit pairs 0, 2, 4, 6 of
// b[8:12] for scales 0-3, 4-7, 8-11, 12-15. V27 = 0x20 bytes.
#define Q3KSCALES \
	MOVD 64(R8), R15; \
	MOVWU 72(R8), R16; \
	AND $0x0f0f0f0f0f0f0f0f, R15, R17; \
	LSR $4, R15, R15; \
	AND $0x0f0f0f0f0f0f0f0f, R15, R15; \
	ANDW $0x03030303, R16, R19; \
	LSRW $2, R16, R20; \
	ANDW $0x03030303, R20, R20; \
	ORR R20<<32, R19, R19; \
	LSRW $4, R16, R20; \
	ANDW $0x03030303, R20, R20; \
	LSRW $6, R16, R21; \
	ANDW $0x03030303, R21, R21; \
	ORR R21<<32, R20, R20; \
	ORR R19<<4, R17, R17; \
	ORR R20<<4, R15, R15; \
	VMOV R17, V16.D[0]; \
	VMOV R15, V16.D[1]; \
	VSUB V27.B16, V16.B16, V16.B16; \
	SXTL_8H(14, 16); \
	SXTL2_8H(15, 16); \
	SXTL_4S(16, 14); \
	SXTL2_4S(17, 14); \
	SXTL_4S(18, 15); \
	SXTL2_4S(19, 15)

#define Q3KSB(DOT, DX, ZI, TOKS, RED, BSUMS) \
	DX; \
	VLD1.P 32(R8), [V6.B16, V7.B16]; \
	Q3KSCALES; \
	DWH(76); \
	ZI; \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	Q2W0; \
	Q3H; \
	TOKS(Q2TOK, DOT, 16, 0); \
	Q2W(2); \
	Q3H; \
	TOKS(Q2TOK, DOT, 16, 2); \
	Q2W(4); \
	Q3H; \
	TOKS(Q2TOK, DOT, 17, 0); \
	Q2W(6); \
	Q3H; \
	TOKS(Q2TOK, DOT, 17, 2); \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	Q2W0; \
	Q3H; \
	TOKS(Q2TOK, DOT, 18, 0); \
	Q2W(2); \
	Q3H; \
	TOKS(Q2TOK, DOT, 18, 2); \
	Q2W(4); \
	Q3H; \
	TOKS(Q2TOK, DOT, 19, 0); \
	Q2W(6); \
	Q3H; \
	TOKS(Q2TOK, DOT, 19, 2); \
	ADD $14, R8; \
	RED; \
	BSUMS; \
	VSHL $2, V11.S4, V11.S4; \
	VSUB V11.S4, V10.S4, V10.S4; \
	EPIFMA

#define Q3KCONST \
	VMOVI $0x03, V25.B16; \
	VMOVI $0x20, V27.B16; \
	VMOVI $0x04, V28.B16

// ---- IQ4_NL (d f16, qs[16]) and IQ4_XS (d f16, scales_h u16,
// scales_l[4], qs[128]) ----
//
// IQ4W looks the nibbles of the 16 bytes in src up in the level table
// V28: V2 = the levels of the low nibbles (the block's first 16
// elements), V3 of the high ones. V24 = 0x0F bytes.
#define IQ4W(src) \
	VAND V24.B16, src.B16, V2.B16; \
	VUSHR $4, src.B16, V3.B16; \
	VTBL V2.B16, [V28.B16], V2.B16; \
	VTBL V3.B16, [V28.B16], V3.B16

// IQ4TOK: one 32-element sub-block times the next 32 activations, times
// the int32 scale in lane i of V(sc), into V(isum).
#define IQ4TOK(DOT, Rt, isum, sc, i) \
	VLD1.P 32(Rt), [V4.B16, V5.B16]; \
	ZERO(8); \
	DOT(8, 2, 4); \
	DOT(8, 3, 5); \
	MLA_S(isum, 8, sc, i)

// NLTOK: one IQ4_NL block times the next 32 activations, into V(isum).
#define NLTOK(DOT, Rt, isum, sc, i) \
	VLD1.P 32(Rt), [V4.B16, V5.B16]; \
	DOT(isum, 2, 4); \
	DOT(isum, 3, 5)

#define IQ4NLSB(DOT, DX, ZI, TOKS, RED) \
	DX; \
	DWH(0); \
	ADD $2, R8; \
	VLD1.P 16(R8), [V0.B16]; \
	IQ4W(V0); \
	ZI; \
	TOKS(NLTOK, DOT, 0, 0); \
	RED; \
	EPIFMA

// IQ4XSSCALES unpacks the eight 6-bit scales of the IQ4_XS block at R8,
// less 32, into V16 (0-3) and V17 (4-7) as int32: the 2-bit fields of
// scales_h and the nibbles of scales_l are spread to one byte each by
// shifts and masks (bit i of field j to bit i of byte j), then combined.
// V27 = 0x20 bytes.
#define IQ4XSSCALES \
	MOVHU 2(R8), R15; \
	MOVWU 4(R8), R16; \
	ORR R15<<24, R15, R15; \
	AND $0x000000ff000000ff, R15, R15; \
	ORR R15<<12, R15, R15; \
	AND $0x000f000f000f000f, R15, R15; \
	ORR R15<<6, R15, R15; \
	AND $0x0303030303030303, R15, R15; \
	ORR R16<<16, R16, R16; \
	AND $0x0000ffff0000ffff, R16, R16; \
	ORR R16<<8, R16, R16; \
	AND $0x00ff00ff00ff00ff, R16, R16; \
	ORR R16<<4, R16, R16; \
	AND $0x0f0f0f0f0f0f0f0f, R16, R16; \
	ORR R15<<4, R16, R16; \
	VMOV R16, V16.D[0]; \
	VSUB V27.B16, V16.B16, V16.B16; \
	SXTL_8H(16, 16); \
	SXTL2_4S(17, 16); \
	SXTL_4S(16, 16)

#define IQ4XSSB(DOT, DX, ZI, TOKS, RED, SKIP) \
	DX; \
	DWH(0); \
	IQ4XSSCALES; \
	ADD $8, R8; \
	ZI; \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	IQ4W(V0); \
	TOKS(IQ4TOK, DOT, 16, 0); \
	IQ4W(V1); \
	TOKS(IQ4TOK, DOT, 16, 1); \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	IQ4W(V0); \
	TOKS(IQ4TOK, DOT, 16, 2); \
	IQ4W(V1); \
	TOKS(IQ4TOK, DOT, 16, 3); \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	IQ4W(V0); \
	TOKS(IQ4TOK, DOT, 17, 0); \
	IQ4W(V1); \
	TOKS(IQ4TOK, DOT, 17, 1); \
	VLD1.P 32(R8), [V0.B16, V1.B16]; \
	IQ4W(V0); \
	TOKS(IQ4TOK, DOT, 17, 2); \
	IQ4W(V1); \
	TOKS(IQ4TOK, DOT, 17, 3); \
	SKIP; \
	RED; \
	EPIFMA

#define IQ4CONST \
	VMOVI $0x0f, V24.B16; \
	VMOVI $0x20, V27.B16; \
	MOVD $·kvaluesIQ4NL(SB), R14; \
	VLD1 (R14), [V28.B16]

#define SB1_Q2_K_SD Q2KSB(I8DOTSDOT, DX1, ZI1, TOKS1, RED1, BSUMS1)
#define SB1_Q2_K_NE Q2KSB(I8DOTNEON, DX1, ZI1, TOKS1, RED1, BSUMS1)
#define SB4_Q2_K_SD Q2KSB(I8DOTSDOT, DX4, ZI4, TOKS4, RED4, BSUMS4)
#define SB4_Q2_K_NE Q2KSB(I8DOTNEON, DX4, ZI4, TOKS4, RED4, BSUMS4)
#define SB1_Q3_K_SD Q3KSB(I8DOTSDOT, DX1, ZI1, TOKS1, RED1, BSUMS1)
#define SB1_Q3_K_NE Q3KSB(I8DOTNEON, DX1, ZI1, TOKS1, RED1, BSUMS1)
#define SB4_Q3_K_SD Q3KSB(I8DOTSDOT, DX4, ZI4, TOKS4, RED4, BSUMS4)
#define SB4_Q3_K_NE Q3KSB(I8DOTNEON, DX4, ZI4, TOKS4, RED4, BSUMS4)
#define SB1_IQ4_NL_SD IQ4NLSB(I8DOTSDOT, DXH1, ZI1, TOKS1, RED1)
#define SB1_IQ4_NL_NE IQ4NLSB(I8DOTNEON, DXH1, ZI1, TOKS1, RED1)
#define SB4_IQ4_NL_SD IQ4NLSB(I8DOTSDOT, DXH4, ZI4, TOKS4, RED4)
#define SB4_IQ4_NL_NE IQ4NLSB(I8DOTNEON, DXH4, ZI4, TOKS4, RED4)
#define SB1_IQ4_XS_SD IQ4XSSB(I8DOTSDOT, DX1, ZI1, TOKS1, RED1, SKIP1)
#define SB1_IQ4_XS_NE IQ4XSSB(I8DOTNEON, DX1, ZI1, TOKS1, RED1, SKIP1)
#define SB4_IQ4_XS_SD IQ4XSSB(I8DOTSDOT, DX4, ZI4, TOKS4, RED4, SKIP4)
#define SB4_IQ4_XS_NE IQ4XSSB(I8DOTNEON, DX4, ZI4, TOKS4, RED4, SKIP4)

// func dotQ2_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ2_Kx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	Q2KCONST
	ROWS1(SB1_Q2_K_SD, NOFIN)

// func dotQ2_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ2_Kx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	Q2KCONST
	ROWS1(SB1_Q2_K_NE, NOFIN)

// func dotQ2_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ2_Kx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	Q2KCONST
	ROWS4(SB4_Q2_K_SD, NOFIN)

// func dotQ2_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ2_Kx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	Q2KCONST
	ROWS4(SB4_Q2_K_NE, NOFIN)

// func dotQ3_Kx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ3_Kx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	Q3KCONST
	ROWS1(SB1_Q3_K_SD, NOFIN)

// func dotQ3_Kx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotQ3_Kx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	Q3KCONST
	ROWS1(SB1_Q3_K_NE, NOFIN)

// func dotQ3_Kx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ3_Kx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	Q3KCONST
	ROWS4(SB4_Q3_K_SD, NOFIN)

// func dotQ3_Kx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotQ3_Kx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	Q3KCONST
	ROWS4(SB4_Q3_K_NE, NOFIN)

// func dotIQ4_NLx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ4_NLx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	IQ4CONST
	ROWS1(SB1_IQ4_NL_SD, NOFIN)

// func dotIQ4_NLx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ4_NLx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	IQ4CONST
	ROWS1(SB1_IQ4_NL_NE, NOFIN)

// func dotIQ4_NLx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ4_NLx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	IQ4CONST
	ROWS4(SB4_IQ4_NL_SD, NOFIN)

// func dotIQ4_NLx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ4_NLx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	IQ4CONST
	ROWS4(SB4_IQ4_NL_NE, NOFIN)

// func dotIQ4_XSx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ4_XSx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	IQ4CONST
	ROWS1(SB1_IQ4_XS_SD, NOFIN)

// func dotIQ4_XSx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ4_XSx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	IQ4CONST
	ROWS1(SB1_IQ4_XS_NE, NOFIN)

// func dotIQ4_XSx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ4_XSx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	IQ4CONST
	ROWS4(SB4_IQ4_XS_SD, NOFIN)

// func dotIQ4_XSx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ4_XSx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	IQ4CONST
	ROWS4(SB4_IQ4_XS_NE, NOFIN)
