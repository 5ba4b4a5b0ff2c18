//go:build !purego

package tensor

func init() {
	// Test and benchmark every kernel set this CPU runs, whatever
	// AINATIVE_SIMD chose for ops. Emulators (qemu-aarch64) have the dot
	// product, so both sets run there.
	kernelSets = []kernelSet{{"neon", &neonOps}, {"purego", &goOps}}
	if haveDotProd {
		kernelSets = append([]kernelSet{{"sdot", &sdotOps}}, kernelSets...)
	}
}
