//go:build purego || !amd64

package tensor

// vmathAVX2 is false where there is no assembly for Softmax and SwiGLU.
const vmathAVX2 = false

func softmaxAVX2([]float32, float32)      { panic("unreachable") }
func swigluAVX2Slices(gate, up []float32) { panic("unreachable") }
