//go:build !purego

package hw

import "github.com/klauspost/cpuid/v2"

var readKernel = "go"

func init() {
	if cpuid.CPU.Supports(cpuid.AVX2) {
		readKernel = "avx2"
	}
}

// sumAVX2 adds up p, whose length must be a multiple of 32 words, with
// 256-bit loads into eight accumulators.
//
//go:noescape
func sumAVX2(p []uint64) uint64

func sumWords(p []uint64) uint64 {
	if readKernel != "avx2" {
		return sumGeneric(p)
	}
	n := len(p) &^ 31
	return sumAVX2(p[:n]) + sumGeneric(p[n:])
}
