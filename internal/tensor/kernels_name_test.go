package tensor

import "testing"

func TestKernelsName(t *testing.T) {
	switch got := Kernels(); got {
	case "go":
		if ops[Q8_0].rows != nil {
			t.Errorf("Kernels() = %q but Q8_0 has assembly rows kernels", got)
		}
	case "avx512", "avx2", "sdot", "neon":
		if ops[Q8_0].rows == nil {
			t.Errorf("Kernels() = %q but Q8_0 runs the portable kernel", got)
		}
	default:
		t.Errorf("Kernels() = %q, not a known kernel set", got)
	}
}
