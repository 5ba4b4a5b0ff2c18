package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// computeTypes are the types with kernels, in the order tests report them.
var computeTypes = []Type{F32, F16, BF16, Q8_0, Q8_1, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K,
	IQ4_NL, IQ4_XS, IQ3_XXS, IQ3_S}

// testVector returns n values in blocks of 32 that exercise the quantizers:
// Gaussian blocks at various scales, all-zero and constant blocks, a block
// with one outlier, and tiny and large magnitudes.
func testVector(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for b := 0; b < n; b += QK {
		blk := x[b:min(b+QK, n)]
		scale := float32(math.Pow(10, r.Float64()*4-3)) // 1e-3 .. 10
		switch r.IntN(10) {
		case 0: // all zero
		case 1: // constant
			c := float32(r.NormFloat64()) * scale
			for i := range blk {
				blk[i] = c
			}
		case 2: // one outlier
			for i := range blk {
				blk[i] = float32(r.NormFloat64()) * scale
			}
			blk[r.IntN(len(blk))] = 20 * scale
		case 3: // tiny
			for i := range blk {
				blk[i] = float32(r.NormFloat64()) * 1e-7
			}
		case 4: // large (but finite in F16 for every scale ggml stores)
			for i := range blk {
				blk[i] = float32(r.NormFloat64()) * 1000
			}
		default:
			for i := range blk {
				blk[i] = float32(r.NormFloat64()) * scale
			}
		}
	}
	return x
}

func mustQuantize(t testing.TB, typ Type, x []float32) []byte {
	t.Helper()
	rb, err := typ.RowBytes(int64(len(x)))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, rb)
	if err := Quantize(typ, b, x); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDequantize(t testing.TB, typ Type, b []byte, n int) []float32 {
	t.Helper()
	y := make([]float32, n)
	if err := Dequantize(typ, y, b); err != nil {
		t.Fatal(err)
	}
	return y
}

// blockBound is the largest error a round trip through typ may make on the
// values of one 32-element block, from how the format rounds: the step of
// its grid (plus the clamp at one end of the symmetric formats), the F16
// rounding of its scale and offset, and F16's subnormal floor. The K-quants
// are bounded per super-block instead (superBlockBound).
func blockBound(typ Type, x []float32) float64 {
	var amax, lo, hi float64 = 0, math.Inf(1), math.Inf(-1)
	for _, v := range x {
		amax = max(amax, math.Abs(float64(v)))
		lo, hi = min(lo, float64(v)), max(hi, float64(v))
	}
	const f16 = 1.0 / 1024     // relative rounding of a stored F16 (with margin)
	const floor = 0x1p-24 * 32 // subnormal F16 scales, times the largest quant
	switch typ {
	case F32:
		return 0
	case F16:
		return amax*f16 + 0x1p-25
	case BF16:
		return amax / 128
	case Q8_0, Q8_1:
		return amax*(1.0/254+f16) + floor*4
	case Q4_0:
		return amax*(1.0/8+f16) + floor
	case Q5_0:
		return amax*(1.0/16+f16) + floor
	case Q4_1:
		return (hi-lo)*(1.0/30+f16) + math.Abs(lo)*f16 + floor
	case Q5_1:
		return (hi-lo)*(1.0/62+f16) + math.Abs(lo)*f16 + floor
	case IQ4_NL:
		// Levels up to 24/254 of the range apart, the scale fitted by
		// least squares (measured: 0.106).
		return amax*0.13 + floor*127
	}
	return math.Inf(1)
}

// superBlockBound is, for the 256-element formats, the largest error of
// one element relative to the largest magnitude in its super-block: about
// one quantization step (the scales are fitted and stored with 6 or 8
// bits, so an element can land a full step away). Q2_K, Q3_K and IQ4_XS
// are bounded by what they measure (0.32, 0.24, 0.088) plus a margin.
var superBlockBound = map[Type]float64{Q2_K: 0.4, Q3_K: 0.3, Q4_K: 1.0 / 8, Q5_K: 1.0 / 16, Q6_K: 1.0 / 32, Q8_K: 1.0/254 + 1e-6,
	IQ4_XS: 0.11}

// gaussRMSBound is the relative RMS error allowed on Gaussian data, the
// usual measure of these formats' quality (measured: 0.083, 0.041, 0.020;
// Q2_K 0.29, Q3_K 0.15, IQ4_NL and IQ4_XS 0.077).
var gaussRMSBound = map[Type]float64{Q4_K: 0.1, Q5_K: 0.05, Q6_K: 0.025, Q8_K: 0.012,
	Q2_K: 0.33, Q3_K: 0.17, IQ4_NL: 0.085, IQ4_XS: 0.085}

func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 64 * QKK
	x := testVector(r, n)
	for _, typ := range computeTypes {
		if !testsQuantize(typ) {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			y := mustDequantize(t, typ, mustQuantize(t, typ, x), n)
			if rel, ok := superBlockBound[typ]; ok {
				for b := 0; b < n; b += QKK {
					var amax float64
					for _, v := range x[b : b+QKK] {
						amax = max(amax, math.Abs(float64(v)))
					}
					// 1e-6: blocks too small for the F16 super-block scale
					// quantize to zero.
					bound := rel*amax + 1e-6
					for i := b; i < b+QKK; i++ {
						if e := math.Abs(float64(y[i] - x[i])); e > bound {
							t.Fatalf("element %d: %g -> %g, error %.3g > bound %.3g", i, x[i], y[i], e, bound)
						}
					}
				}
				return
			}
			for b := 0; b < n; b += QK {
				bound := blockBound(typ, x[b:b+QK])
				for i := b; i < b+QK; i++ {
					if e := math.Abs(float64(y[i] - x[i])); e > bound {
						t.Fatalf("element %d: %g -> %g, error %.3g > bound %.3g", i, x[i], y[i], e, bound)
					}
				}
			}
		})
	}
}

func TestQuantizeGaussianRMS(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := make([]float32, 64*QKK)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for typ, bound := range gaussRMSBound {
		y := mustDequantize(t, typ, mustQuantize(t, typ, x), len(x))
		var se, sx float64
		for i := range x {
			d := float64(y[i] - x[i])
			se += d * d
			sx += float64(x[i]) * float64(x[i])
		}
		if rel := math.Sqrt(se / sx); rel > bound {
			t.Errorf("%s: relative RMS error %.4f > %.4f", typ, rel, bound)
		}
	}
}

// TestQuantizeExactInputs checks that values a format can represent come
// back unchanged: constant blocks and small integers times a power of two.
func TestQuantizeExactInputs(t *testing.T) {
	// Q8_0, Q8_1 (scale amax/127) and Q4_K, Q5_K (6-bit scales and mins)
	// cannot store these constants exactly.
	for _, typ := range []Type{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q6_K, Q8_K} {
		for _, c := range []float32{0, 1, -2.5, 0.125} {
			x := make([]float32, 2*QKK)
			for i := range x {
				x[i] = c
			}
			y := mustDequantize(t, typ, mustQuantize(t, typ, x), len(x))
			for i := range y {
				if math.Abs(float64(y[i]-c)) > 1e-6*math.Abs(float64(c)) {
					t.Errorf("%s: constant %g came back as %g at %d", typ, c, y[i], i)
					break
				}
			}
		}
	}
}

// dotBound is how far a kernel may be from refDot, relative to its
// magnitude: float32 rounding, summed in a different order.
const dotBound = 2e-5

// refDot is the float64 dot product of w (type typ: bytes wb, dequantized
// wd) and x (VecDotType(typ): bytes xb, dequantized xd), and the scale of
// the rounding error a float32 kernel makes on it, sum |w_i x_i|.
//
// For Q4_1 and Q5_1 the offset term is m*s with s read from the Q8_1
// block, as in ggml: s = d*sum(q) is computed from d before its F16
// rounding, so it is not the sum of the dequantized x (the two differ a
// lot when d is an F16 subnormal). For Q2_K, Q4_K and Q5_K the kernels compute
// the scale and the minimum terms apart, and the two can cancel: the
// rounding scale counts both.
func refDot(typ Type, wb []byte, wd []float32, xb []byte, xd []float32) (want, mag float64) {
	switch typ {
	case Q4_1, Q5_1:
		for b := range len(wd) / QK {
			m := float64(fp16At(wb[b*typ.BlockBytes()+2:]))
			s := float64(fp16At(xb[b*q8_1Bytes+2:]))
			want += m * s
			mag += math.Abs(m * s)
			for i := b * QK; i < (b+1)*QK; i++ {
				p := (float64(wd[i]) - m) * float64(xd[i])
				want += p
				mag += math.Abs(p)
			}
		}
		return want, mag
	case Q2_K:
		for i := range wd {
			blk := wb[i/QKK*q2_KBytes:]
			dm := float64(fp16At(blk[82:])) * float64(blk[i%QKK/16]>>4)
			p := float64(wd[i]) * float64(xd[i])
			want += p
			mag += math.Abs((float64(wd[i])+dm)*float64(xd[i])) + math.Abs(dm*float64(xd[i]))
		}
		return want, mag
	case Q4_K, Q5_K:
		for i := range wd {
			blk := wb[i/QKK*typ.BlockBytes():]
			_, m := scaleMinK4(i%QKK/32, blk[4:16])
			dm := float64(fp16At(blk[2:])) * float64(m)
			p := float64(wd[i]) * float64(xd[i])
			want += p
			mag += math.Abs((float64(wd[i])+dm)*float64(xd[i])) + math.Abs(dm*float64(xd[i]))
		}
		return want, mag
	}
	for i := range wd {
		p := float64(wd[i]) * float64(xd[i])
		want += p
		mag += math.Abs(p)
	}
	return want, mag
}

func TestVecDot(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range computeTypes {
		for _, n := range []int{QKK, 3 * QKK, 11 * QKK} {
			wf, xf := testVector(r, n), testVector(r, n)
			w := testWeights(t, r, typ, wf)
			xt := VecDotType(typ)
			x := mustQuantize(t, xt, xf)
			wd, xd := mustDequantize(t, typ, w, n), mustDequantize(t, xt, x, n)
			want, mag := refDot(typ, w, wd, x, xd)
			got := float64(VecDot(typ, n, w, x))
			if math.Abs(got-want) > dotBound*mag+1e-30 {
				t.Errorf("%s n=%d: VecDot = %g, dequantized dot = %g (sum |w x| = %g)", typ, n, got, want, mag)
			}
		}
	}
}

func TestVecDotType(t *testing.T) {
	want := map[Type]Type{
		F32: F32, F16: F16, BF16: BF16,
		Q4_0: Q8_0, Q5_0: Q8_0, Q8_0: Q8_0,
		Q4_1: Q8_1, Q5_1: Q8_1,
		Q2_K: Q8_K, Q3_K: Q8_K, Q4_K: Q8_K, Q5_K: Q8_K, Q6_K: Q8_K,
		IQ4_NL: Q8_0, IQ4_XS: Q8_K, IQ3_XXS: Q8_K, IQ3_S: Q8_K,
	}
	for w, x := range want {
		if got := VecDotType(w); got != x {
			t.Errorf("VecDotType(%s) = %s, want %s", w, got, x)
		}
	}
}

// TestQ8_0Activations pins the details of ggml's AVX2 activation quantizer.
func TestQ8_0Activations(t *testing.T) {
	// amax 127 gives the multiplier 1, so halves are exact ties: they round
	// to even (VROUNDPS), not away from zero (roundf, the _ref quantizer).
	x := make([]float32, QK)
	copy(x, []float32{127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -127})
	b := mustQuantize(t, Q8_0, x)
	if d := binary.LittleEndian.Uint16(b); d != 0x3c00 {
		t.Errorf("d = %#04x, want 1.0", d)
	}
	want := []int8{127, 0, 2, 2, 0, -2, -2, 126, -127}
	for i, w := range want {
		if got := int8(b[2+i]); got != w {
			t.Errorf("q[%d] = %d for %g, want %d", i, got, x[i], w)
		}
	}

	// The multiplier is 127/amax, not 1/d: find an amax where they differ
	// in the last bit and a value whose quant depends on it.
	r := rand.New(rand.NewPCG(7, 8))
	found := false
	for range 100000 {
		amax := float32(r.Float64()*10 + 0.1)
		id, id2 := 127/amax, 1/(amax/127)
		if id == id2 {
			continue
		}
		for k := range 127 {
			// the tie between k and k+1, in units of the multiplier
			v := (float32(k) + 0.5) / id
			if math.RoundToEven(float64(v*id)) == math.RoundToEven(float64(v*id2)) {
				continue
			}
			x := make([]float32, QK)
			x[0], x[1] = amax, v
			b := mustQuantize(t, Q8_0, x)
			if got, want := int8(b[3]), int8(math.RoundToEven(float64(v*id))); got != want {
				t.Fatalf("amax %g, x %g: q = %d, want %d (multiplier 127/amax)", amax, v, got, want)
			}
			found = true
			break
		}
		if found {
			break
		}
	}
	if !found {
		t.Fatal("found no input that tells 127/amax from 1/d apart")
	}
}

func TestQ8_1Sum(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := testVector(r, 8*QK)
	b := mustQuantize(t, Q8_1, x)
	for i := range 8 {
		blk := b[i*q8_1Bytes : (i+1)*q8_1Bytes]
		var amax float32
		for _, v := range x[i*QK : (i+1)*QK] {
			amax = max(amax, abs32(v))
		}
		var sum int32
		for _, q := range blk[4:] {
			sum += int32(int8(q))
		}
		// s uses d before its F16 rounding.
		if got, want := binary.LittleEndian.Uint16(blk[2:]), FP32ToFP16(amax/127*float32(sum)); got != want {
			t.Errorf("block %d: s = %#04x, want %#04x", i, got, want)
		}
	}
}

func TestQ8_KActivations(t *testing.T) {
	x := make([]float32, QKK)
	// The value of largest magnitude is negative here: iscale = -127/max
	// is positive and the block's extreme maps to -127.
	x[0] = -254
	x[1] = 1   // 0.5: tie, rounds to even 0
	x[2] = 3   // 1.5 -> 2
	x[3] = -5  // -2.5 -> -2
	x[4] = 254 // +127
	b := mustQuantize(t, Q8_K, x)
	if d := f32At(b); d != 2 {
		t.Errorf("d = %g, want 2", d)
	}
	for i, w := range []int8{-127, 0, 2, -2, 127} {
		if got := int8(b[4+i]); got != w {
			t.Errorf("q[%d] = %d, want %d", i, got, w)
		}
	}
	if s := int16(binary.LittleEndian.Uint16(b[4+QKK:])); s != 0 {
		t.Errorf("bsums[0] = %d, want 0", s)
	}
	// An all-zero block quantizes to all zeros, d included.
	z := mustQuantize(t, Q8_K, make([]float32, QKK))
	for i, v := range z {
		if v != 0 {
			t.Fatalf("zero block: byte %d = %d", i, v)
		}
	}
}

func TestUnsupportedTypes(t *testing.T) {
	for _, typ := range []Type{IQ2_XXS, IQ2_XS, IQ1_S, TQ1_0, I8, F64, MXFP4, Type(5), Type(1000)} {
		n := typ.BlockSize()
		if n == 0 {
			n = QKK
		}
		rb, _ := typ.RowBytes(int64(n))
		err := Dequantize(typ, make([]float32, n), make([]byte, rb))
		if err == nil || !strings.Contains(err.Error(), "not supported") && !strings.Contains(err.Error(), "unknown type") {
			t.Errorf("Dequantize(%s): err = %v, want a not-supported error", typ, err)
		}
		if err := Quantize(typ, make([]byte, rb), make([]float32, n)); err == nil {
			t.Errorf("Quantize(%s) succeeded", typ)
		}
		m := Matrix{Type: typ, Rows: 1, Cols: n, Data: make([]byte, rb)}
		if err := m.Validate(); err == nil {
			t.Errorf("Matrix{%s}.Validate() succeeded", typ)
		}
		if typ.Supported() {
			t.Errorf("%s reports Supported", typ)
		}
	}
}

func TestLengthErrors(t *testing.T) {
	if err := Dequantize(Q4_0, make([]float32, 32), make([]byte, 17)); err == nil {
		t.Error("Dequantize accepted a short source")
	}
	if err := Dequantize(Q4_0, make([]float32, 33), make([]byte, 18)); err == nil {
		t.Error("Dequantize accepted a partial block")
	}
	if err := Quantize(Q4_K, make([]byte, q4_KBytes+1), make([]float32, QKK)); err == nil {
		t.Error("Quantize accepted a long destination")
	}
	for _, typ := range computeTypes {
		if !typ.Supported() {
			t.Errorf("%s has kernels but does not report Supported", typ)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("VecDot with a short row did not panic")
		}
	}()
	VecDot(Q8_0, 64, make([]byte, 68), make([]byte, 34))
}

// TestNonFinite feeds NaN and Inf to every quantizer: garbage out is fine,
// a panic is not.
func TestNonFinite(t *testing.T) {
	x := make([]float32, QKK)
	x[3] = float32(math.NaN())
	x[40] = float32(math.Inf(1))
	x[77] = float32(math.Inf(-1))
	x[100] = 3e38
	for _, typ := range computeTypes {
		if !testsQuantize(typ) {
			continue
		}
		b := mustQuantize(t, typ, x)
		mustDequantize(t, typ, b, len(x))
		xq := mustQuantize(t, VecDotType(typ), x)
		VecDot(typ, len(x), b, xq)
	}
}

func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, n := range []int{0, 1, 7, 8, 31, 32, 33, 100, 4864} {
		a, b := testVector(r, n), testVector(r, n)
		var want, mag float64
		for i := range a {
			want += float64(a[i]) * float64(b[i])
			mag += math.Abs(float64(a[i]) * float64(b[i]))
		}
		if got := float64(Dot(a, b)); math.Abs(got-want) > dotBound*mag {
			t.Errorf("n=%d: Dot = %g, want %g", n, got, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Dot of different lengths did not panic")
		}
	}()
	Dot(make([]float32, 3), make([]float32, 4))
}
