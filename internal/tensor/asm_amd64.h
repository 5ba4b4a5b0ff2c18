// Shared macros of the amd64 kernels (AVX2, FMA, F16C).
//
// Register conventions in every kernel: Y15 holds sixteen int16 ones (for
// VPMADDWD pair sums); Y8-Y11 are float accumulators.
//
// Constant tables are file-local symbols (name<>), which one assembly
// file cannot share with another: a file that needs a table defines its
// own copy, with SPLAT32 or by including a header that holds the table
// (kq_amd64.h).

// SPLAT32 defines the 32-byte file-local table name<> holding four
// copies of the 64-bit value v.
#define SPLAT32(name, v) \
	DATA name<>+0(SB)/8, $v; \
	DATA name<>+8(SB)/8, $v; \
	DATA name<>+16(SB)/8, $v; \
	DATA name<>+24(SB)/8, $v; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

// X1ARGS and X4ARGS load the arguments of the one-token and four-token
// kernels:
//
//	x1: SI w, R8 wstride, R9 rows, R10 x, R11 nb, R12 dst
//	x4: SI w, R8 wstride, R9 rows, R10 x, R11 xstride, R12 nb, R13 dst,
//	    DX dstride
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

// PF1DIST is how far ahead of the weights in use the one-token (decode)
// kernels prefetch into L1. Decode streams every weight once from memory,
// and one core's hardware prefetcher alone does not keep enough lines in
// flight while the core computes: on a 2-core AMD EPYC (AVX2), 2 KiB
// ahead made decode 1.1-1.3x faster (Qwen2.5-0.5B-shaped Q8_0, Q4_K_M and
// F16 files, a Llama 3.2 1B-shaped Q4_K_M; 2-8 KiB gave about the same,
// 32 KiB little or nothing). On a 2-core Zen 5 EPYC, 4 KiB did 1.05x
// 2 KiB's Q8_0 decode and 1.07x its Q4_K_M decode (means of three and
// two interleaved runs; 1 KiB was slower, 6-8 KiB no better). Builds can
// set it: -asmflags=-D=PF1DIST=N.
#ifndef PF1DIST
#define PF1DIST 4096
#endif

// ZEROACC zeroes the float accumulators Y8-Y11.
#define ZEROACC VXORPS Y8, Y8, Y8; VXORPS Y9, Y9, Y9; VXORPS Y10, Y10, Y10; VXORPS Y11, Y11, Y11

// NEXTROW ends a kernel's row loop: the output pointer out advances by
// one float and the weight row (SI) by wstride (R8); while rows remain
// (R9) it jumps to loop, else the kernel returns.
#define NEXTROW(out, loop) \
	ADDQ $4, out; \
	ADDQ R8, SI; \
	DECQ R9; \
	JNZ loop; \
	VZEROUPPER; \
	RET

// ONES16 sets every int16 lane of r to 1.
#define ONES16(r) VPCMPEQW r, r, r; VPSRLW $15, r, r

// I8DOT multiplies the signed bytes of w (|w| in aw) and x (a register,
// clobbered) and leaves eight int32 sums of four products each in x.
// VPMADDUBSW needs one unsigned operand: |w| * (x with w's sign) has the
// same products, and |w| <= 128 keeps the pair sums within int16.
#define I8DOT(w, aw, x) VPSIGNB w, x, x; VPMADDUBSW x, aw, x; VPMADDWD Y15, x, x

// LF32, LF16 and LBF16 load eight F32, F16 or BF16 values at addr into y
// as floats.
#define LF32(addr, y) VMOVUPS addr, y
#define LF16(addr, y) VCVTPH2PS addr, y
#define LBF16(addr, y) VPMOVZXWD addr, y; VPSLLD $16, y, y

// HSUM8 adds the eight floats of y (scratch t) into the low lane of y's
// X register.
#define HSUM8(y, x, t) VEXTRACTF128 $1, y, t; VADDPS t, x, x; VMOVHLPS x, x, t; VADDPS t, x, x; VMOVSHDUP x, t; VADDSS t, x, x

// HMAX8 leaves the largest of the eight floats of y (scratch t) in the
// low lane of y's X register.
#define HMAX8(y, x, t) VEXTRACTF128 $1, y, t; VMAXPS t, x, x; VMOVHLPS x, x, t; VMAXPS t, x, x; VMOVSHDUP x, t; VMAXSS t, x, x

// HSUM4 reduces a, b, c, d (clobbered) to their four sums in a's X
// register xa (lane t = sum of the t-th), using b's X register xb.
#define HSUM4(a, b, c, d, xa, xb) VHADDPS b, a, a; VHADDPS d, c, c; VHADDPS c, a, a; VEXTRACTF128 $1, a, xb; VADDPS xb, xa, xa

// HSUM4X8 reduces the accumulators Y8..Y11 to their four sums in X8
// (lane t = sum of Y(8+t)), clobbering Y9-Y11.
#define HSUM4X8 HSUM4(Y8, Y9, Y10, Y11, X8, X9)

// STORE4 writes the four lanes of X8 to (out), (out)(stride*1),
// (out)(stride*2) and (out)(stride*3), using tmp for the address.
#define STORE4(out, stride, tmp) VMOVSS X8, (out); VEXTRACTPS $1, X8, (out)(stride*1); LEAQ (out)(stride*2), tmp; VEXTRACTPS $2, X8, (tmp); VEXTRACTPS $3, X8, (tmp)(stride*1)

// LANEIDX sets every int32 lane of y to i (an index for VPERMPS), using AX.
#define LANEIDX(i, y) MOVL $i, AX; VMOVD AX, X6; VPBROADCASTD X6, y
