package quantize

import (
	"math"

	"github.com/raym33/ainative/internal/tensor"
)

// quantizeRow converts one row as ggml_quantize_chunk does for a model
// file. It differs from tensor.Quantize only for Q8_0: tensor makes the
// Q8_0 of activations as the AVX2 kernel does (127/amax, round to
// nearest even), while model files get quantize_row_q8_0_ref (1/(amax/127),
// round half away from zero), and the two differ in about 0.4% of blocks.
func quantizeRow(t tensor.Type, dst []byte, src []float32) error {
	if t != tensor.Q8_0 || len(src)%tensor.QK != 0 || len(dst) != len(src)/tensor.QK*q8_0Bytes {
		return tensor.Quantize(t, dst, src)
	}
	quantizeQ8_0Ref(dst, src)
	return nil
}

const q8_0Bytes = 2 + tensor.QK

// quantizeQ8_0Ref is ggml's quantize_row_q8_0_ref.
func quantizeQ8_0Ref(dst []byte, src []float32) {
	for i := range len(src) / tensor.QK {
		x := src[i*tensor.QK : (i+1)*tensor.QK]
		b := dst[i*q8_0Bytes : (i+1)*q8_0Bytes]
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		h := tensor.FP32ToFP16(d)
		b[0], b[1] = byte(h), byte(h>>8)
		for j, v := range x {
			b[2+j] = byte(int8(math.Round(float64(v * id)))) // roundf: half away from zero
		}
	}
}
