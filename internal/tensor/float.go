package tensor

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Plain float types. ggml converts F32 activations to F16 (BF16) before a
// product with F16 (BF16) weights, so those dot products take two rows of
// the same 16-bit type; F32 weights take F32 activations.

func dequantF32(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func quantizeF32(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func dequantF16(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = FP16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func quantizeF16(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FP32ToFP16(v))
	}
}

func dequantBF16(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = BF16ToFP32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func quantizeBF16(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], FP32ToBF16(v))
	}
}

// The float dot products keep four partial sums, as SIMD code does; the
// order of float additions is the only thing that differs from ggml.

func dotF32(n int, w, x []byte) float32 {
	w, x = w[:4*n], x[:4*n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += f32At(w[4*i:]) * f32At(x[4*i:])
		s1 += f32At(w[4*i+4:]) * f32At(x[4*i+4:])
		s2 += f32At(w[4*i+8:]) * f32At(x[4*i+8:])
		s3 += f32At(w[4*i+12:]) * f32At(x[4*i+12:])
	}
	for ; i < n; i++ {
		s0 += f32At(w[4*i:]) * f32At(x[4*i:])
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF16(n int, w, x []byte) float32 {
	w, x = w[:2*n], x[:2*n]
	var s0, s1 float32
	i := 0
	for ; i+2 <= n; i += 2 {
		s0 += fp16At(w[2*i:]) * fp16At(x[2*i:])
		s1 += fp16At(w[2*i+2:]) * fp16At(x[2*i+2:])
	}
	for ; i < n; i++ {
		s0 += fp16At(w[2*i:]) * fp16At(x[2*i:])
	}
	return s0 + s1
}

func bf16At(b []byte) float32 { return BF16ToFP32(binary.LittleEndian.Uint16(b)) }

func dotBF16(n int, w, x []byte) float32 {
	w, x = w[:2*n], x[:2*n]
	var s0, s1 float32
	i := 0
	for ; i+2 <= n; i += 2 {
		s0 += bf16At(w[2*i:]) * bf16At(x[2*i:])
		s1 += bf16At(w[2*i+2:]) * bf16At(x[2*i+2:])
	}
	for ; i < n; i++ {
		s0 += bf16At(w[2*i:]) * bf16At(x[2*i:])
	}
	return s0 + s1
}

// roundF16 and roundBF16 write src rounded through F16 (BF16) as F32: the
// activations ggml's F16 (BF16) products see, in the form the SIMD
// kernels read.
func roundF16(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(FP16ToFP32(FP32ToFP16(v))))
	}
}

func roundBF16(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(BF16ToFP32(FP32ToBF16(v))))
	}
}

// Dot returns the dot product of two float32 vectors of equal length with
// the F32 kernel (SIMD where available), for the float work of a forward
// pass such as attention scores. It panics if the lengths differ.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic("tensor: Dot of vectors of different lengths")
	}
	if len(a) == 0 {
		return 0
	}
	return ops[F32].dot(len(a), f32Bytes(a), f32Bytes(b))
}

// f32Bytes views x as the little-endian bytes of F32 data (the package
// builds only on little-endian machines).
func f32Bytes(x []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}
