//go:build !purego

package tensor

func init() {
	// Test and benchmark every kernel set this CPU runs, whatever
	// AINATIVE_SIMD chose for ops.
	switch {
	case haveAVX512:
		kernelSets = []kernelSet{{"avx512", &avx512Ops}, {"avx2", &avx2Ops}, {"purego", &goOps}}
	case haveAVX2:
		kernelSets = []kernelSet{{"avx2", &avx2Ops}, {"purego", &goOps}}
	}
}
