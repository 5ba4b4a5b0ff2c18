package tensor

import (
	"fmt"
	"math"
)

// Type is a ggml tensor element type. The numeric values are ggml's
// (enum ggml_type) and appear as such in GGUF files.
type Type uint32

const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
)

// QK is the block size of the 32-element quantization formats and QKK that
// of the 256-element "K-quant" super-blocks.
const (
	QK  = 32
	QKK = 256
)

type typeInfo struct {
	name       string
	blockSize  int // elements per block
	blockBytes int // bytes per block
	supported  bool
}

// types lists every ggml type a GGUF file may name, so that files using
// types the engine cannot compute with can still be listed and their sizes
// checked. supported marks the ones with kernels.
var types = map[Type]typeInfo{
	F32:     {"F32", 1, 4, true},
	F16:     {"F16", 1, 2, true},
	BF16:    {"BF16", 1, 2, true},
	Q4_0:    {"Q4_0", QK, 2 + QK/2, true},
	Q4_1:    {"Q4_1", QK, 2 + 2 + QK/2, true},
	Q5_0:    {"Q5_0", QK, 2 + 4 + QK/2, true},
	Q5_1:    {"Q5_1", QK, 2 + 2 + 4 + QK/2, true},
	Q8_0:    {"Q8_0", QK, 2 + QK, true},
	Q8_1:    {"Q8_1", QK, 2 + 2 + QK, true},
	Q2_K:    {"Q2_K", QKK, QKK/16 + QKK/4 + 2 + 2, true},
	Q3_K:    {"Q3_K", QKK, QKK/8 + QKK/4 + 12 + 2, true},
	Q4_K:    {"Q4_K", QKK, 2 + 2 + 12 + QKK/2, true},
	Q5_K:    {"Q5_K", QKK, 2 + 2 + 12 + QKK/8 + QKK/2, true},
	Q6_K:    {"Q6_K", QKK, QKK/2 + QKK/4 + QKK/16 + 2, true},
	Q8_K:    {"Q8_K", QKK, 4 + QKK + QKK/16*2, true},
	IQ2_XXS: {"IQ2_XXS", QKK, 2 + QKK/4, false},
	IQ2_XS:  {"IQ2_XS", QKK, 2 + QKK/4 + QKK/32, false},
	IQ3_XXS: {"IQ3_XXS", QKK, 2 + 3*QKK/8, true},
	IQ1_S:   {"IQ1_S", QKK, 2 + QKK/8 + QKK/16, false},
	IQ4_NL:  {"IQ4_NL", QK, 2 + QK/2, true},
	IQ3_S:   {"IQ3_S", QKK, 2 + QKK/4 + QKK/8 + QKK/32 + 4, true},
	IQ2_S:   {"IQ2_S", QKK, 2 + QKK/4 + QKK/16, false},
	IQ4_XS:  {"IQ4_XS", QKK, 2 + 2 + QKK/64 + QKK/2, true},
	I8:      {"I8", 1, 1, false},
	I16:     {"I16", 1, 2, false},
	I32:     {"I32", 1, 4, false},
	I64:     {"I64", 1, 8, false},
	F64:     {"F64", 1, 8, false},
	IQ1_M:   {"IQ1_M", QKK, QKK/8 + QKK/16 + QKK/32, false},
	TQ1_0:   {"TQ1_0", QKK, 2 + 4*13, false},
	TQ2_0:   {"TQ2_0", QKK, 2 + QKK/4, false},
	MXFP4:   {"MXFP4", QK, 1 + QK/2, false},
}

// Known reports whether t is a ggml type this package knows the layout of.
func (t Type) Known() bool { _, ok := types[t]; return ok }

// Supported reports whether the engine has kernels for t.
func (t Type) Supported() bool { return types[t].supported }

func (t Type) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block of t (1 for plain types).
func (t Type) BlockSize() int { return types[t].blockSize }

// BlockBytes is the size in bytes of one block of t.
func (t Type) BlockBytes() int { return types[t].blockBytes }

// ParseType maps a type name such as "Q4_K" to its Type.
func ParseType(name string) (Type, error) {
	for t, info := range types {
		if info.name == name {
			return t, nil
		}
	}
	return 0, fmt.Errorf("tensor: unknown type %q", name)
}

// RowBytes is the size in bytes of n elements of type t. It fails when t is
// unknown or n is not a whole number of blocks.
func (t Type) RowBytes(n int64) (int64, error) {
	info, ok := types[t]
	if !ok {
		return 0, fmt.Errorf("tensor: unknown type %d", uint32(t))
	}
	if n < 0 || n%int64(info.blockSize) != 0 {
		return 0, fmt.Errorf("tensor: %d elements is not a multiple of the %s block size %d", n, info.name, info.blockSize)
	}
	return n / int64(info.blockSize) * int64(info.blockBytes), nil
}

// Bytes is the size in bytes of a tensor of type t with the given shape
// (ggml order: dims[0] is the row length). It fails on an unknown type, a
// row length that is not a whole number of blocks, or a size that overflows.
func (t Type) Bytes(dims []uint64) (int64, error) {
	if len(dims) == 0 {
		return 0, fmt.Errorf("tensor: shape has no dimensions")
	}
	if dims[0] > math.MaxInt64 {
		return 0, fmt.Errorf("tensor: dimension %d is too large", dims[0])
	}
	size, err := t.RowBytes(int64(dims[0]))
	if err != nil {
		return 0, err
	}
	for _, d := range dims[1:] {
		if d != 0 && uint64(size) > math.MaxInt64/d {
			return 0, fmt.Errorf("tensor: shape %v of %s overflows", dims, t)
		}
		size *= int64(d)
	}
	return size, nil
}
