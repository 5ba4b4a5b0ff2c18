package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// typeOps holds the row functions of one type. Functions are given whole
// rows of validated length: len(dst) or n elements, a whole number of
// blocks, and byte slices of exactly the matching size.
type typeOps struct {
	toFloat   func(dst []float32, src []byte)
	fromFloat func(dst []byte, src []float32)
	// dot computes the dot product of n elements of this type (w) with n
	// elements of dotType (x).
	dot     func(n int, w, x []byte) float32
	dotType Type
	// rows is MatMul's kernel: the dot products of consecutive weight
	// rows with one or several activation rows (see dotRows). Nil means
	// a loop over dot.
	rows dotRows
	// mmType and mmFromFloat, when set, are how MatMul hands activations
	// to rows instead of dotType: the F16 and BF16 SIMD kernels take F32
	// activations already rounded through the weight type.
	mmType      Type
	mmFromFloat func(dst []byte, src []float32)
	// il, when set, is MatMul's interleaved path for several tokens
	// (interleave.go).
	il *interleaved
}

// dotRows computes out[t*ostride+r] = dot(weight row r, activation row t)
// for r < rows and t < ntok, each row n elements, weight rows wrow bytes
// apart and activation rows xrow bytes apart. Kernels handle ntok up to
// maxTok at once, reading each weight row once for all of them.
type dotRows func(n int, w []byte, wrow, rows int, x []byte, xrow, ntok int, out []float32, ostride int)

// maxTok is the largest ntok a dotRows is called with.
const maxTok = 4

// mmInput returns the type and the converter of the activations MatMul
// hands to the rows kernel of t.
func (table *opsTable) mmInput(t Type) (Type, func(dst []byte, src []float32)) {
	o := &table[t]
	if o.mmFromFloat != nil {
		return o.mmType, o.mmFromFloat
	}
	return o.dotType, table[o.dotType].fromFloat
}

// rowsByDot is the dotRows of kernels that have only a dot product.
func rowsByDot(dot func(n int, w, x []byte) float32) dotRows {
	return func(n int, w []byte, wrow, rows int, x []byte, xrow, ntok int, out []float32, ostride int) {
		for r := range rows {
			wr := w[r*wrow:]
			for t := range ntok {
				out[t*ostride+r] = dot(n, wr, x[t*xrow:])
			}
		}
	}
}

// ops is indexed by Type. It is filled with the portable Go kernels at
// init; archInit (one per architecture, see kernels_*.go) then replaces
// entries with SIMD versions where the CPU supports them. goOps keeps the
// portable set, the baseline that tests and benchmarks compare against.
var ops, goOps opsTable

// kernelsName names the set ops holds, for logs and benchmark reports.
var kernelsName = "go"

// Kernels names the kernel set in use: "avx512" or "avx2" on amd64,
// "sdot" or "neon" on arm64, "go" for the portable kernels.
func Kernels() string { return kernelsName }

// opsTable holds the kernels of every type, indexed by Type.
type opsTable [MXFP4 + 1]typeOps

func init() {
	ops[F32] = typeOps{dequantF32, quantizeF32, dotF32, F32, nil, 0, nil, nil}
	ops[F16] = typeOps{dequantF16, quantizeF16, dotF16, F16, nil, 0, nil, nil}
	ops[BF16] = typeOps{dequantBF16, quantizeBF16, dotBF16, BF16, nil, 0, nil, nil}
	ops[Q4_0] = typeOps{dequantQ4_0, quantizeQ4_0, dotQ4_0, Q8_0, nil, 0, nil, nil}
	ops[Q4_1] = typeOps{dequantQ4_1, quantizeQ4_1, dotQ4_1, Q8_1, nil, 0, nil, nil}
	ops[Q5_0] = typeOps{dequantQ5_0, quantizeQ5_0, dotQ5_0, Q8_0, nil, 0, nil, nil}
	ops[Q5_1] = typeOps{dequantQ5_1, quantizeQ5_1, dotQ5_1, Q8_1, nil, 0, nil, nil}
	ops[Q8_0] = typeOps{dequantQ8_0, quantizeQ8_0, dotQ8_0, Q8_0, nil, 0, nil, nil}
	ops[Q8_1] = typeOps{dequantQ8_1, quantizeQ8_1, dotQ8_1, Q8_1, nil, 0, nil, nil}
	ops[Q4_K] = typeOps{dequantQ4_K, quantizeQ4_K, dotQ4_K, Q8_K, nil, 0, nil, nil}
	ops[Q5_K] = typeOps{dequantQ5_K, quantizeQ5_K, dotQ5_K, Q8_K, nil, 0, nil, nil}
	ops[Q6_K] = typeOps{dequantQ6_K, quantizeQ6_K, dotQ6_K, Q8_K, nil, 0, nil, nil}
	ops[Q8_K] = typeOps{dequantQ8_K, quantizeQ8_K, dotQ8_K, Q8_K, nil, 0, nil, nil}
	ops[Q2_K] = typeOps{dequantQ2_K, quantizeQ2_K, dotQ2_K, Q8_K, nil, 0, nil, nil}
	ops[Q3_K] = typeOps{dequantQ3_K, quantizeQ3_K, dotQ3_K, Q8_K, nil, 0, nil, nil}
	ops[IQ4_NL] = typeOps{dequantIQ4_NL, quantizeIQ4_NL, dotIQ4_NL, Q8_0, nil, 0, nil, nil}
	ops[IQ4_XS] = typeOps{dequantIQ4_XS, quantizeIQ4_XS, dotIQ4_XS, Q8_K, nil, 0, nil, nil}
	ops[IQ3_XXS] = typeOps{dequantIQ3_XXS, quantizeIQ3_XXS, dotIQ3_XXS, Q8_K, nil, 0, nil, nil}
	ops[IQ3_S] = typeOps{dequantIQ3_S, quantizeIQ3_S, dotIQ3_S, Q8_K, nil, 0, nil, nil}
	goOps = ops
	archInit()
}

// opsFor returns the kernels of t, or nil when t has none.
func opsFor(t Type) *typeOps {
	if int(t) < len(ops) && ops[t].dot != nil {
		return &ops[t]
	}
	return nil
}

// checkRow validates a row of n elements of t against a byte slice.
func checkRow(op string, t Type, n int, b []byte) (*typeOps, error) {
	o := opsFor(t)
	if o == nil {
		if !t.Known() {
			return nil, fmt.Errorf("tensor: %s: unknown type %d", op, uint32(t))
		}
		return nil, fmt.Errorf("tensor: %s: type %s is not supported", op, t)
	}
	want, err := t.RowBytes(int64(n))
	if err != nil {
		return nil, fmt.Errorf("tensor: %s: %w", op, err)
	}
	if int64(len(b)) != want {
		return nil, fmt.Errorf("tensor: %s: %d elements of %s take %d bytes, got %d", op, n, t, want, len(b))
	}
	return o, nil
}

// Dequantize converts len(dst) elements of type t from src, which must hold
// exactly t.RowBytes(len(dst)) bytes.
func Dequantize(t Type, dst []float32, src []byte) error {
	o, err := checkRow("dequantize", t, len(dst), src)
	if err != nil {
		return err
	}
	o.toFloat(dst, src)
	return nil
}

// Quantize converts src into type t; dst must hold exactly
// t.RowBytes(len(src)) bytes.
//
// For the activation types (Q8_0, Q8_1, Q8_K, F16, BF16, F32) the result is
// bit for bit what llama.cpp's CPU backend produces on x86 with AVX2, F16C
// and FMA, because those bytes are what the integer dot products of a
// forward pass consume. For the other types it follows ggml's reference
// quantizers (quantize_row_*_ref; for the IQ types the quantize_iq4_* and
// quantize_row_iq3_*_impl paths llama.cpp's model quantizer takes), which
// is what GGUF files made without an importance matrix contain.
func Quantize(t Type, dst []byte, src []float32) error {
	o, err := checkRow("quantize", t, len(src), dst)
	if err != nil {
		return err
	}
	o.fromFloat(dst, src)
	return nil
}

// VecDotType is the type activations are converted to before a dot product
// with weights of type t (ggml's vec_dot_type): Q8_0 for Q4_0, Q5_0 and
// Q8_0; Q8_1 for Q4_1 and Q5_1; Q8_K for the K-quants; the type itself for
// F32, F16 and BF16. It returns t for types without kernels.
func VecDotType(t Type) Type {
	if o := opsFor(t); o != nil {
		return o.dotType
	}
	return t
}

// VecDot returns the dot product of n elements: w of type t and x of type
// VecDotType(t), each exactly RowBytes(n) long.
//
// It panics when t has no kernels (check t.Supported or Matrix.Validate
// when loading a model) or when the lengths are wrong: both are
// programming errors, and a dot product has no error to return.
func VecDot(t Type, n int, w, x []byte) float32 {
	o, err := checkRow("VecDot weights", t, n, w)
	if err == nil {
		_, err = checkRow("VecDot activations", o.dotType, n, x)
	}
	if err != nil {
		panic(err)
	}
	return o.dot(n, w, x)
}

// Little-endian field access shared by the block formats.

func fp16At(b []byte) float32 { return FP16ToFP32(binary.LittleEndian.Uint16(b)) }

func f32At(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

func putFP16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, FP32ToFP16(f)) }

func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
