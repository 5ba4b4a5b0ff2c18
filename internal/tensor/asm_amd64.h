// Shared macros of the amd64 kernels (AVX2, FMA, F16C).
//
// Register conventions in every kernel: Y15 holds sixteen int16 ones (for
// VPMADDWD pair sums); Y8-Y11 are float accumulators.

// ONES16 sets every int16 lane of r to 1.
#define ONES16(r) VPCMPEQW r, r, r; VPSRLW $15, r, r

// I8DOT multiplies the signed bytes of w (|w| in aw) and x (a register,
// clobbered) and leaves eight int32 sums of four products each in x.
// VPMADDUBSW needs one unsigned operand: |w| * (x with w's sign) has the
// same products, and |w| <= 128 keeps the pair sums within int16.
#define I8DOT(w, aw, x) VPSIGNB w, x, x; VPMADDUBSW x, aw, x; VPMADDWD Y15, x, x

// HSUM8 adds the eight floats of y (scratch t) into the low lane of y's
// X register.
#define HSUM8(y, x, t) VEXTRACTF128 $1, y, t; VADDPS t, x, x; VMOVHLPS x, x, t; VADDPS t, x, x; VMOVSHDUP x, t; VADDSS t, x, x

// HSUM4X8 reduces the accumulators Y8..Y11 to their four sums in X8
// (lane t = sum of Y(8+t)), clobbering Y9-Y11.
#define HSUM4X8 VHADDPS Y9, Y8, Y8; VHADDPS Y11, Y10, Y10; VHADDPS Y10, Y8, Y8; VEXTRACTF128 $1, Y8, X9; VADDPS X9, X8, X8

// STORE4 writes the four lanes of X8 to (out), (out)(stride*1),
// (out)(stride*2) and (out)(stride*3), using tmp for the address.
#define STORE4(out, stride, tmp) VMOVSS X8, (out); VEXTRACTPS $1, X8, (out)(stride*1); LEAQ (out)(stride*2), tmp; VEXTRACTPS $2, X8, (tmp); VEXTRACTPS $3, X8, (tmp)(stride*1)

// LANEIDX sets every int32 lane of y to i (an index for VPERMPS), using AX.
#define LANEIDX(i, y) MOVL $i, AX; VMOVD AX, X6; VPBROADCASTD X6, y
