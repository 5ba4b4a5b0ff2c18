//go:build !purego

#include "textflag.h"
#include "asm_arm64.h"
#include "klow_arm64.h"

// Kernels for IQ3_XXS and IQ3_S times Q8_K activations, NEON, each with
// SDOT and with SMULL/SADALP (see asm_arm64.h); the frame and what the
// results equal: klow_arm64.h.
//
// A sub-block of 32 elements is eight grid indices, four values each.
// NEON has no gather: the grid entries (four unsigned bytes, up to 62)
// are loaded one at a time into the lanes of V2 (elements 0-15) and V3
// (16-31), and the sign bits of each eight elements become a 64-bit mask
// of 0xFF bytes by a table lookup (ksignMasks for the 7-bit sign indices
// of IQ3_XXS, byteSignMasks for the plain sign bytes of IQ3_S) into V6
// and V7; (v XOR mask) - mask negates where the mask is set. The
// sub-block's products are then multiplied by its scale 2*ls+1 (V9 in
// every lane). R24 holds the grid, R25 the mask table; R15 walks the grid
// indices, R17 counts sub-blocks.

// XXSG: the grid entry of the next IQ3_XXS index, into lane of V(v).
#define XXSG(v, lane) \
	MOVBU.P 1(R15), R19; \
	MOVWU (R24)(R19<<2), R19; \
	VMOV R19, v.S[lane]

// SG: the same for IQ3_S, whose index has a ninth bit, bit k of the
// sub-block's qh byte (R20).
#define SG(k, v, lane) \
	MOVBU.P 1(R15), R19; \
	UBFX $k, R20, $1, R21; \
	ORR R21<<8, R19, R19; \
	MOVWU (R24)(R19<<2), R19; \
	VMOV R19, v.S[lane]

// XXSSIGN: the mask of the 7-bit sign index at bit lsb of R20.
#define XXSSIGN(lsb, v, lane) \
	UBFX $lsb, R20, $7, R21; \
	MOVD (R25)(R21<<3), R21; \
	VMOV R21, v.D[lane]

// SSIGN: the mask of the next IQ3_S sign byte (R22).
#define SSIGN(v, lane) \
	MOVBU.P 1(R22), R21; \
	MOVD (R25)(R21<<3), R21; \
	VMOV R21, v.D[lane]

// IQ3SCALE puts the sub-block multiplier 2*R21+1 in every lane of V9, and
// applies the sign masks V6, V7 to V2, V3.
#define IQ3SCALE \
	LSLW $1, R21, R21; \
	ORRW $1, R21, R21; \
	VDUP R21, V9.S4; \
	VEOR V6.B16, V2.B16, V2.B16; \
	VEOR V7.B16, V3.B16, V3.B16; \
	VSUB V6.B16, V2.B16, V2.B16; \
	VSUB V7.B16, V3.B16, V3.B16

// IQ3TOK: one sub-block times the next 32 activations, times V9, into
// V(isum).
#define IQ3TOK(DOT, Rt, isum, sc, i) \
	VLD1.P 32(Rt), [V4.B16, V5.B16]; \
	ZERO(8); \
	DOT(8, 2, 4); \
	DOT(8, 3, 5); \
	MLA_4S(isum, 8, 9)

// ---- IQ3_XXS: d f16, qs[64], then per sub-block a u32: four 7-bit
// sign indices and the 4-bit scale on top ----
#define IQ3XXSSB(DOT, DX, ZI, TOKS, RED, SKIP) \
	DX; \
	DWH(0); \
	ADD $2, R8, R15; \
	ADD $66, R8, R16; \
	ZI; \
	MOVD $8, R17; \
sub: \
	XXSG(V2, 0); \
	XXSG(V2, 1); \
	XXSG(V2, 2); \
	XXSG(V2, 3); \
	XXSG(V3, 0); \
	XXSG(V3, 1); \
	XXSG(V3, 2); \
	XXSG(V3, 3); \
	MOVWU.P 4(R16), R20; \
	XXSSIGN(0, V6, 0); \
	XXSSIGN(7, V6, 1); \
	XXSSIGN(14, V7, 0); \
	XXSSIGN(21, V7, 1); \
	LSRW $28, R20, R21; \
	IQ3SCALE; \
	TOKS(IQ3TOK, DOT, 0, 0); \
	SUBS $1, R17; \
	BNE sub; \
	ADD $98, R8; \
	SKIP; \
	RED; \
	EPIFMA

// IQ3_XXS's block scales are quarters: the sums are scaled at the end, as
// the Go kernel does.
#define XXSFIN \
	FMOVS $0.25, F21; \
	FMUL_S(20, 20, 21, 0)

#define XXSCONST \
	MOVD $·iq3xxsGrid(SB), R24; \
	MOVD $·ksignMasks(SB), R25

// ---- IQ3_S: d f16, qs[64], qh[8], signs[32], scales[4] ----
//
// R16 walks qh, R22 the signs; R23 holds the scale nibbles, sub-block 0
// lowest.
#define IQ3SSB(DOT, DX, ZI, TOKS, RED, SKIP) \
	DX; \
	DWH(0); \
	ADD $2, R8, R15; \
	ADD $66, R8, R16; \
	ADD $74, R8, R22; \
	MOVWU 106(R8), R23; \
	ZI; \
	MOVD $8, R17; \
sub: \
	MOVBU.P 1(R16), R20; \
	SG(0, V2, 0); \
	SG(1, V2, 1); \
	SG(2, V2, 2); \
	SG(3, V2, 3); \
	SG(4, V3, 0); \
	SG(5, V3, 1); \
	SG(6, V3, 2); \
	SG(7, V3, 3); \
	SSIGN(V6, 0); \
	SSIGN(V6, 1); \
	SSIGN(V7, 0); \
	SSIGN(V7, 1); \
	ANDW $15, R23, R21; \
	LSRW $4, R23, R23; \
	IQ3SCALE; \
	TOKS(IQ3TOK, DOT, 0, 0); \
	SUBS $1, R17; \
	BNE sub; \
	ADD $110, R8; \
	SKIP; \
	RED; \
	EPIFMA

#define SCONST \
	MOVD $·iq3sGrid(SB), R24; \
	MOVD $·byteSignMasks(SB), R25

#define SB1_IQ3_XXS_SD IQ3XXSSB(I8DOTSDOT, DX1, ZI1, TOKS1, RED1, SKIP1)
#define SB1_IQ3_XXS_NE IQ3XXSSB(I8DOTNEON, DX1, ZI1, TOKS1, RED1, SKIP1)
#define SB4_IQ3_XXS_SD IQ3XXSSB(I8DOTSDOT, DX4, ZI4, TOKS4, RED4, SKIP4)
#define SB4_IQ3_XXS_NE IQ3XXSSB(I8DOTNEON, DX4, ZI4, TOKS4, RED4, SKIP4)
#define SB1_IQ3_S_SD IQ3SSB(I8DOTSDOT, DX1, ZI1, TOKS1, RED1, SKIP1)
#define SB1_IQ3_S_NE IQ3SSB(I8DOTNEON, DX1, ZI1, TOKS1, RED1, SKIP1)
#define SB4_IQ3_S_SD IQ3SSB(I8DOTSDOT, DX4, ZI4, TOKS4, RED4, SKIP4)
#define SB4_IQ3_S_NE IQ3SSB(I8DOTNEON, DX4, ZI4, TOKS4, RED4, SKIP4)

// func dotIQ3_XXSx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ3_XXSx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	XXSCONST
	ROWS1(SB1_IQ3_XXS_SD, XXSFIN)

// func dotIQ3_XXSx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ3_XXSx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	XXSCONST
	ROWS1(SB1_IQ3_XXS_NE, XXSFIN)

// func dotIQ3_XXSx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ3_XXSx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	XXSCONST
	ROWS4(SB4_IQ3_XXS_SD, XXSFIN)

// func dotIQ3_XXSx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ3_XXSx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	XXSCONST
	ROWS4(SB4_IQ3_XXS_NE, XXSFIN)

// func dotIQ3_Sx1SDOT(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ3_Sx1SDOT(SB), NOSPLIT, $0-48
	X1ARGS
	SCONST
	ROWS1(SB1_IQ3_S_SD, NOFIN)

// func dotIQ3_Sx1NEON(w *byte, wstride uintptr, rows int, x *byte, nb int, dst *float32)
TEXT ·dotIQ3_Sx1NEON(SB), NOSPLIT, $0-48
	X1ARGS
	SCONST
	ROWS1(SB1_IQ3_S_NE, NOFIN)

// func dotIQ3_Sx4SDOT(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ3_Sx4SDOT(SB), NOSPLIT, $0-64
	X4ARGS
	SCONST
	ROWS4(SB4_IQ3_S_SD, NOFIN)

// func dotIQ3_Sx4NEON(w *byte, wstride uintptr, rows int, x *byte, xstride uintptr, nb int, dst *float32, dstride uintptr)
TEXT ·dotIQ3_Sx4NEON(SB), NOSPLIT, $0-64
	X4ARGS
	SCONST
	ROWS4(SB4_IQ3_S_NE, NOFIN)
