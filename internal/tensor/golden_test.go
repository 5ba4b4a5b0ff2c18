package tensor_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/tensor"
	"github.com/raym33/ainative/internal/testdata"
)

// goldenRMS bounds the relative RMS error of each tensor type in the
// quantized fixtures against their F32 file (measured on the
// fixtures: F16 is exact because the F32 file is its upcast).
var goldenRMS = map[tensor.Type]float64{
	tensor.F32:  0,
	tensor.F16:  0,
	tensor.BF16: 0.005,
	tensor.Q8_0: 0.006,
	tensor.Q4_0: 0.12,
	tensor.Q4_1: 0.1,
	tensor.Q5_0: 0.06,
	tensor.Q5_1: 0.05,
	tensor.Q4_K: 0.11,
	tensor.Q5_K: 0.055,
	tensor.Q6_K: 0.03,
	// Measured 0.30, 0.15, 0.076, 0.077 and 0.17 (IQ3_S in qwen2-IQ3_S
	// against qwen2-F32).
	tensor.Q2_K:   0.35,
	tensor.Q3_K:   0.18,
	tensor.IQ4_NL: 0.09,
	tensor.IQ4_XS: 0.09,
	tensor.IQ3_S:  0.2,
}

// TestGoldenDequantize dequantizes every tensor of every quantized
// fixture written by llama.cpp and compares it with the F32 original. A
// wrong bit layout gives errors of order 1, far above these bounds.
func TestGoldenDequantize(t *testing.T) {
	ref := openModel(t, "llama-F32.gguf")
	for _, variant := range []string{"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_M", "Q5_K_M", "Q6_K",
		"Q2_K", "Q3_K_M", "IQ4_NL", "IQ4_XS", "qwen2-Q3_K_L", "qwen2-IQ3_S"} {
		t.Run(variant, func(t *testing.T) {
			f, ref := fixturePair(t, variant, ref)
			seen := map[tensor.Type]int{}
			for i := range f.Tensors {
				info := &f.Tensors[i]
				bound, ok := goldenRMS[info.Type]
				if !ok {
					t.Fatalf("%s: unexpected type %s", info.Name, info.Type)
				}
				seen[info.Type]++
				want := f32Tensor(t, ref, info.Name)
				got := make([]float32, info.Elements())
				if err := tensor.Dequantize(info.Type, got, f.TensorData(info)); err != nil {
					t.Fatalf("%s: %v", info.Name, err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d elements, F32 file has %d", info.Name, len(got), len(want))
				}
				var se, sx float64
				for k := range got {
					d := float64(got[k]) - float64(want[k])
					se += d * d
					sx += float64(want[k]) * float64(want[k])
				}
				if rel := math.Sqrt(se / sx); !(rel <= bound) {
					t.Errorf("%s (%s): relative RMS error %.4g > %.4g", info.Name, info.Type, rel, bound)
				}
			}
			t.Logf("tensor types: %v", seen)
		})
	}
}

// TestGoldenQuantize re-quantizes the F32 weights with Quantize and
// compares the bytes with what llama.cpp's quantizer wrote (reference
// quantizers, no importance matrix). Q8_0 is left out: Quantize(Q8_0) is
// the activation quantizer, which rounds differently from the weight one.
func TestGoldenQuantize(t *testing.T) {
	ref := openModel(t, "llama-F32.gguf")
	// Each variant is checked on the types it is the first to bring.
	checked := map[tensor.Type]bool{}
	for _, variant := range []string{"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_M", "Q5_K_M", "Q6_K",
		"Q2_K", "Q3_K_M", "IQ4_NL", "IQ4_XS", "qwen2-Q3_K_L"} {
		t.Run(variant, func(t *testing.T) {
			// The race and arm64 runs (-short, under the race detector or
			// emulation) quantize two files; the plain run all of them.
			if testing.Short() && variant != "Q4_K_M" && variant != "IQ4_XS" {
				t.Skip("-short: the plain run checks every file")
			}
			f, ref := fixturePair(t, variant, ref)
			blocks, differ := map[tensor.Type]int{}, map[tensor.Type]int{}
			for i := range f.Tensors {
				info := &f.Tensors[i]
				switch {
				case info.Type == tensor.F32 || info.Type == tensor.Q8_0:
					continue
				case checked[info.Type] && !strings.HasPrefix(variant, "qwen2"):
					continue
				}
				x := f32Tensor(t, ref, info.Name)
				want := f.TensorData(info)
				got := make([]byte, len(want))
				if err := tensor.Quantize(info.Type, got, x); err != nil {
					t.Fatalf("%s: %v", info.Name, err)
				}
				bb := info.Type.BlockBytes()
				for b := 0; b < len(want); b += bb {
					blocks[info.Type]++
					if !bytes.Equal(got[b:b+bb], want[b:b+bb]) {
						differ[info.Type]++
					}
				}
			}
			for typ, n := range blocks {
				checked[typ] = true
				// The C compiler contracts multiplies and adds in ways
				// Quantize only partly reproduces (see fma32), which flips
				// a rare quant or, in the scale searches of Q4_K and Q5_K,
				// a near-tie choice (measured: 1 in 40000 legacy blocks, 1
				// in 3000 of Q2_K, Q3_K and the IQ4 types, about 1% of
				// Q4_K, Q5_K and Q6_K blocks). A layout or algorithm bug
				// changes most blocks.
				limit := n / 1000
				if typ == tensor.Q4_K || typ == tensor.Q5_K || typ == tensor.Q6_K {
					limit = n / 50
				}
				if differ[typ] > limit {
					t.Errorf("%s: %d of %d blocks differ from llama.cpp's", typ, differ[typ], n)
				}
				t.Logf("%s: %d of %d blocks differ", typ, differ[typ], n)
			}
		})
	}
}

// fixturePair opens the quantized fixture named by variant, a llama
// variant ("Q4_0") or a file name without extension ("qwen2-Q3_K_L"), and
// the F32 file it was quantized from (llamaF32 for the llama ones).
func fixturePair(t *testing.T, variant string, llamaF32 *gguf.File) (q, f32 *gguf.File) {
	t.Helper()
	arch, _, ok := strings.Cut(variant, "-")
	if !ok {
		return openModel(t, "llama-"+variant+".gguf"), llamaF32
	}
	return openModel(t, variant+".gguf"), openModel(t, arch+"-F32.gguf")
}

func openModel(t *testing.T, name string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(testdata.Path(t, "models", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func f32Tensor(t *testing.T, f *gguf.File, name string) []float32 {
	t.Helper()
	info, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("%s: no tensor %q", f.Path, name)
	}
	if info.Type != tensor.F32 {
		t.Fatalf("%s: %s is %s, want F32", f.Path, name, info.Type)
	}
	x := make([]float32, info.Elements())
	if err := tensor.Dequantize(tensor.F32, x, f.TensorData(info)); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", name, err))
	}
	return x
}
