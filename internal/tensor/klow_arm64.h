// The frame of the arm64 kernels for Q2_K, Q3_K, IQ4_NL, IQ4_XS, IQ3_S
// and IQ3_XXS (klow_arm64.s, iq3_arm64.s).
//
// Unlike the older arm64 kernels, these return exactly what the portable
// Go kernels return on arm64, bit for bit: the integer sum of a block
// (super-block, or 32-element block for IQ4_NL) is exact in int32 whatever
// the order (wrapping arithmetic is a ring), and the float work that
// follows is the Go kernel's, in its order and with its roundings: per
// block sum = fma(d_w*d_x, float(isum), sum), the multiply-add Go's
// compiler fuses on arm64; for Q2_K, whose Go code rounds both products,
// sum += (d_x*d)*float(isum) - (d_x*dmin)*float(summ). The four-row
// kernels do the same in four float lanes, one per activation row, so a
// lane is the one-row result. kernels_bits_arm64_test.go checks it.
//
// Registers: R8 walks the weights, R9 (x1) and R9-R12 (x4) the
// activation rows; R10 (x1) and R13 (x4) count blocks. Per block, the
// integer sums collect in V10 (x1) or V10-V13 (x4, one per row), which
// RED1/RED4 reduce to lanes of V10; V29 holds d_x (lane t for row t; x1
// uses lane 0), V26 d_w (lane 0; Q2_K dmin in lane 1), V20 the float
// sums. V30 and V31 are scratch for I8DOTNEON and the epilogues.

// The activation scales: DX1, DX4 for Q8_K (f32); DXH1, DXH4 for Q8_0
// (f16).
#define DX1 VLD1R.P 4(R9), [V29.S4]
#define DX4 \
	VLD1R.P 4(R9), [V29.S4]; \
	VLD1.P 4(R10), V29.S[1]; \
	VLD1.P 4(R11), V29.S[2]; \
	VLD1.P 4(R12), V29.S[3]
#define DXH1 \
	MOVHU.P 2(R9), R14; \
	FMOVS R14, F29; \
	FCVTHS F29, F29
#define DXH4 \
	VLD1.P 2(R9), V29.H[0]; \
	VLD1.P 2(R10), V29.H[1]; \
	VLD1.P 2(R11), V29.H[2]; \
	VLD1.P 2(R12), V29.H[3]; \
	FCVTL_4S(29, 29)

// DWH loads the f16 at off(R8) into lane 0 of V26 as a float.
#define DWH(off) \
	MOVHU off(R8), R14; \
	FMOVS R14, F26; \
	FCVTHS F26, F26

// ZI1, ZI4 zero the integer sums.
#define ZI1 ZERO(10)
#define ZI4 ZERO(10); ZERO(11); ZERO(12); ZERO(13)

// TOKS1, TOKS4 run TOK(DOT, activation pointer, integer sum, sc, i) for
// each activation row.
#define TOKS1(TOK, DOT, sc, i) TOK(DOT, R9, 10, sc, i)
#define TOKS4(TOK, DOT, sc, i) \
	TOK(DOT, R9, 10, sc, i); \
	TOK(DOT, R10, 11, sc, i); \
	TOK(DOT, R11, 12, sc, i); \
	TOK(DOT, R12, 13, sc, i)

// TREE leaves in lane t of V(a) the sum of the lanes of V(a), V(b),
// V(c), V(d) for t = 0, 1, 2, 3; clobbers V(c).
#define TREE(a, b, c, d) ADDP_4S(a, a, b); ADDP_4S(c, c, d); ADDP_4S(a, a, c)

#define RED1 ADDV_S(10, 10)
#define RED4 TREE(10, 11, 12, 13)

// SKIP1, SKIP4 step the activation rows over the bsums of Q8_K.
#define SKIP1 ADD $32, R9
#define SKIP4 ADD $32, R9; ADD $32, R10; ADD $32, R11; ADD $32, R12

// BSUM reads the 16 int16 bsums at (Rt) and leaves in V(d) four int32
// lanes summing to sum_j bsum_j * w_j, with the int16 w_0..7 in V(lo) and
// w_8..15 in V(hi). Scratch V4, V5.
#define BSUM(Rt, d, lo, hi) \
	VLD1.P 32(Rt), [V4.H8, V5.H8]; \
	SMULL_4S(d, 4, lo); \
	SMLAL2_4S(d, 4, lo); \
	SMLAL_4S(d, 5, hi); \
	SMLAL2_4S(d, 5, hi)

// BSUMS1, BSUMS4 put sum_j bsum_j * w_j (V14, V15 as for BSUM) in lanes of
// V11 as RED1/RED4 do for the integer sums. Scratch V3.
#define BSUMS1 BSUM(R9, 11, 14, 15); ADDV_S(11, 11)
#define BSUMS4 \
	BSUM(R9, 11, 14, 15); \
	BSUM(R10, 12, 14, 15); \
	BSUM(R11, 13, 14, 15); \
	BSUM(R12, 3, 14, 15); \
	TREE(11, 12, 13, 3)

// EPIFMA ends a block: V20 = fma(d_w*d_x, float(V10), V20), lane by lane.
#define EPIFMA \
	FMUL_S(30, 29, 26, 0); \
	SCVTF_4S(10, 10); \
	FMLA_4S(20, 10, 30)

#define NOFIN

// ROWS1 and ROWS4 are the row loops around a block macro SB; FIN runs on
// the float sums V20 of a row before they are stored.
#define ROWS1(SB, FIN) \
row: \
	MOVD R0, R8; \
	MOVD R3, R9; \
	MOVD R4, R10; \
	ZERO(20); \
blk: \
	SB; \
	SUBS $1, R10; \
	BNE blk; \
	FIN; \
	FMOVS.P F20, 4(R5); \
	NEXTROW(row)

#define ROWS4(SB, FIN) \
row4: \
	MOVD R0, R8; \
	X4PTRS; \
	MOVD R5, R13; \
	ZERO(20); \
blk4: \
	SB; \
	SUBS $1, R13; \
	BNE blk4; \
	FIN; \
	STORE4; \
	NEXTROW(row4)
