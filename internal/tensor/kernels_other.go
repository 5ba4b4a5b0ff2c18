//go:build purego || !(amd64 || arm64)

package tensor

// archInit is the per-architecture seam: a kernels_<arch>.go file (built
// without the purego tag) replaces entries of ops with SIMD kernels when
// the CPU has the features they need. Here the portable Go kernels stay.
func archInit() {}
