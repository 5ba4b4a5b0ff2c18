// Shared macros of the arm64 kernels (Advanced SIMD, optionally the dot
// product extension).
//
// Go's arm64 assembler has no mnemonics for most NEON arithmetic (float
// vector arithmetic, conversions, narrowing, by-element forms, SDOT), so
// those are encoded here as WORDs. Their operands are register NUMBERS,
// not names: SDOT(4, 0, 2) is sdot v4.4s, v0.16b, v2.16b. Each macro
// names the instruction it encodes; the encodings were taken from
// llvm-mc and are checked by disassembling the test binary
// (llvm-objdump) and by the tests, which compare every kernel with the
// portable Go code.
//
// Register conventions: V30 and V31 are scratch for I8DOTNEON and are
// not used otherwise.

// Integer dot products and multiplies.
#define SDOT(d, n, m) WORD $(0x4e809400 | (m)<<16 | (n)<<5 | (d)) // sdot vd.4s, vn.16b, vm.16b
#define SMULL_8H(d, n, m) WORD $(0x0e20c000 | (m)<<16 | (n)<<5 | (d)) // smull vd.8h, vn.8b, vm.8b
#define SMULL2_8H(d, n, m) WORD $(0x4e20c000 | (m)<<16 | (n)<<5 | (d)) // smull2 vd.8h, vn.16b, vm.16b
#define SMULL_4S(d, n, m) WORD $(0x0e60c000 | (m)<<16 | (n)<<5 | (d)) // smull vd.4s, vn.4h, vm.4h
#define SMLAL2_4S(d, n, m) WORD $(0x4e608000 | (m)<<16 | (n)<<5 | (d)) // smlal2 vd.4s, vn.8h, vm.8h
#define SADALP_4S(d, n) WORD $(0x4e606800 | (n)<<5 | (d)) // sadalp vd.4s, vn.8h
#define SADDLV_B(d, n) WORD $(0x4e303800 | (n)<<5 | (d)) // saddlv hd, vn.16b
#define SMIN_4S(d, n, m) WORD $(0x4ea06c00 | (m)<<16 | (n)<<5 | (d)) // smin vd.4s, vn.4s, vm.4s
// mla vd.4s, vn.4s, vm.s[i]
#define MLA_S(d, n, m, i) WORD $(0x6f800000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
#define ZERO(d) WORD $(0x6f00e400 | (d)) // movi vd.2d, #0
#define SMLAL_4S(d, n, m) WORD $(0x0e608000 | (m)<<16 | (n)<<5 | (d)) // smlal vd.4s, vn.4h, vm.4h
#define MLA_4S(d, n, m) WORD $(0x4ea09400 | (m)<<16 | (n)<<5 | (d)) // mla vd.4s, vn.4s, vm.4s
#define ADDP_4S(d, n, m) WORD $(0x4ea0bc00 | (m)<<16 | (n)<<5 | (d)) // addp vd.4s, vn.4s, vm.4s
#define ADDV_S(d, n) WORD $(0x4eb1b800 | (n)<<5 | (d)) // addv sd, vn.4s

// Widening (sign-extending) moves: sshll with shift 0.
#define SXTL_8H(d, n) WORD $(0x0f08a400 | (n)<<5 | (d)) // sxtl vd.8h, vn.8b
#define SXTL2_8H(d, n) WORD $(0x4f08a400 | (n)<<5 | (d)) // sxtl2 vd.8h, vn.16b
#define SXTL_4S(d, n) WORD $(0x0f10a400 | (n)<<5 | (d)) // sxtl vd.4s, vn.4h
#define SXTL2_4S(d, n) WORD $(0x4f10a400 | (n)<<5 | (d)) // sxtl2 vd.4s, vn.8h

// Saturating narrowing.
#define SQXTN_4H(d, n) WORD $(0x0e614800 | (n)<<5 | (d)) // sqxtn vd.4h, vn.4s
#define SQXTN2_8H(d, n) WORD $(0x4e614800 | (n)<<5 | (d)) // sqxtn2 vd.8h, vn.4s
#define SQXTN_8B(d, n) WORD $(0x0e214800 | (n)<<5 | (d)) // sqxtn vd.8b, vn.8h
#define SQXTN2_16B(d, n) WORD $(0x4e214800 | (n)<<5 | (d)) // sqxtn2 vd.16b, vn.8h

// Float arithmetic on four lanes.
#define FADD_4S(d, n, m) WORD $(0x4e20d400 | (m)<<16 | (n)<<5 | (d)) // fadd vd.4s, vn.4s, vm.4s
#define FADDP_4S(d, n, m) WORD $(0x6e20d400 | (m)<<16 | (n)<<5 | (d)) // faddp vd.4s, vn.4s, vm.4s
#define FMUL_4S(d, n, m) WORD $(0x6e20dc00 | (m)<<16 | (n)<<5 | (d)) // fmul vd.4s, vn.4s, vm.4s
#define FSUB_4S(d, n, m) WORD $(0x4ea0d400 | (m)<<16 | (n)<<5 | (d)) // fsub vd.4s, vn.4s, vm.4s
#define FMLA_4S(d, n, m) WORD $(0x4e20cc00 | (m)<<16 | (n)<<5 | (d)) // fmla vd.4s, vn.4s, vm.4s (fused)
#define FABS_4S(d, n) WORD $(0x4ea0f800 | (n)<<5 | (d)) // fabs vd.4s, vn.4s
#define FMAX_4S(d, n, m) WORD $(0x4e20f400 | (m)<<16 | (n)<<5 | (d)) // fmax vd.4s, vn.4s, vm.4s
#define FMAXNM_4S(d, n, m) WORD $(0x4e20c400 | (m)<<16 | (n)<<5 | (d)) // fmaxnm vd.4s, vn.4s, vm.4s
#define FMINNM_4S(d, n, m) WORD $(0x4ea0c400 | (m)<<16 | (n)<<5 | (d)) // fminnm vd.4s, vn.4s, vm.4s
#define FMAXV(d, n) WORD $(0x6e30f800 | (n)<<5 | (d)) // fmaxv sd, vn.4s
#define FMAXNMV(d, n) WORD $(0x6e30c800 | (n)<<5 | (d)) // fmaxnmv sd, vn.4s
#define FMINNMV(d, n) WORD $(0x6eb0c800 | (n)<<5 | (d)) // fminnmv sd, vn.4s
// fmla vd.4s, vn.4s, vm.s[i]
#define FMLA_S(d, n, m, i) WORD $(0x4f801000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// fmls vd.4s, vn.4s, vm.s[i]
#define FMLS_S(d, n, m, i) WORD $(0x4f805000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// fmul vd.4s, vn.4s, vm.s[i]
#define FMUL_S(d, n, m, i) WORD $(0x4f809000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// fmul sd, sn, vm.s[i] (scalar)
#define FMULSS_S(d, n, m, i) WORD $(0x5f809000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))

// Conversions.
#define SCVTF_4S(d, n) WORD $(0x4e21d800 | (n)<<5 | (d)) // scvtf vd.4s, vn.4s
#define FCVTNS_4S(d, n) WORD $(0x4e21a800 | (n)<<5 | (d)) // fcvtns vd.4s, vn.4s
#define FCVTL_4S(d, n) WORD $(0x0e217800 | (n)<<5 | (d)) // fcvtl vd.4s, vn.4h
#define FCVTL2_4S(d, n) WORD $(0x4e217800 | (n)<<5 | (d)) // fcvtl2 vd.4s, vn.8h
#define FCVTN_4H(d, n) WORD $(0x0e216800 | (n)<<5 | (d)) // fcvtn vd.4h, vn.4s
#define FCVTN2_8H(d, n) WORD $(0x4e216800 | (n)<<5 | (d)) // fcvtn2 vd.8h, vn.4s

// I8DOTSDOT and I8DOTNEON add the dot products of the signed bytes of
// Va and Vb, four bytes at a time, into the four int32 lanes of Vacc:
// with SDOT, or with widening multiplies and pairwise adds (ARMv8.0).
// The kernels are written once, taking one of the two as a parameter.
// Which bytes go to which lane differs, but every kernel sums the lanes.
#define I8DOTSDOT(acc, a, b) SDOT(acc, a, b)
#define I8DOTNEON(acc, a, b) SMULL_8H(30, a, b); SMULL2_8H(31, a, b); SADALP_4S(acc, 30); SADALP_4S(acc, 31)

// ACC4 converts the int32 lanes of V(a)..V(a+3) to float and adds (OP
// FMLA_S) or subtracts (OP FMLS_S) V(a+t) times lane t of V(s) to or from
// the float accumulator V(20+t): the end of a four-row block.
#define ACC4(OP, a, s) \
	SCVTF_4S(a, a); \
	SCVTF_4S(a+1, a+1); \
	SCVTF_4S(a+2, a+2); \
	SCVTF_4S(a+3, a+3); \
	OP(20, a, s, 0); \
	OP(21, a+1, s, 1); \
	OP(22, a+2, s, 2); \
	OP(23, a+3, s, 3)

// ZEROACC zeroes the float accumulators V20-V23.
#define ZEROACC ZERO(20); ZERO(21); ZERO(22); ZERO(23)

// NEXTROW ends a kernel's row loop: the weight row (R0) advances by
// wstride (R1); while rows remain (R2) it jumps to loop, else the kernel
// returns.
#define NEXTROW(loop) \
	ADD R1, R0; \
	SUBS $1, R2; \
	BNE loop; \
	RET

// HSUM4 leaves the sum of the four lanes of Vr in its lane 0.
#define HSUM4(r) FADDP_4S(r, r, r); FADDP_4S(r, r, r)

// HSUM4X4 reduces the float accumulators V20-V23 to one vector V20 whose
// lane t is the sum of the lanes of V(20+t). Clobbers V22.
#define HSUM4X4 FADDP_4S(20, 20, 21); FADDP_4S(22, 22, 23); FADDP_4S(20, 20, 22)

// STORE4 writes the four lanes of V20 to (R6), (R6)(R7), (R6)(2*R7) and
// (R6)(3*R7), using R14, then advances R6 by one float.
#define STORE4 \
	VST1 V20.S[0], (R6); \
	ADD R7, R6, R14; \
	VST1 V20.S[1], (R14); \
	ADD R7, R14, R14; \
	VST1 V20.S[2], (R14); \
	ADD R7, R14, R14; \
	VST1 V20.S[3], (R14); \
	ADD $4, R6

// The argument loads of the kernel pairs (see kernels_arm64.go):
//
//	x1: R0 w, R1 wstride, R2 rows, R3 x, R4 nb, R5 dst
//	x4: R0 w, R1 wstride, R2 rows, R3 x, R4 xstride, R5 nb, R6 dst,
//	    R7 dstride in bytes; R9-R12 point at the four activation rows
#define X1ARGS \
	MOVD w+0(FP), R0; \
	MOVD wstride+8(FP), R1; \
	MOVD rows+16(FP), R2; \
	MOVD x+24(FP), R3; \
	MOVD nb+32(FP), R4; \
	MOVD dst+40(FP), R5

#define X4ARGS \
	MOVD w+0(FP), R0; \
	MOVD wstride+8(FP), R1; \
	MOVD rows+16(FP), R2; \
	MOVD x+24(FP), R3; \
	MOVD xstride+32(FP), R4; \
	MOVD nb+40(FP), R5; \
	MOVD dst+48(FP), R6; \
	MOVD dstride+56(FP), R7; \
	LSL $2, R7

// X4PTRS points R9-R12 at the four activation rows.
#define X4PTRS \
	MOVD R3, R9; \
	ADD R4, R3, R10; \
	ADD R4, R10, R11; \
	ADD R4, R11, R12
