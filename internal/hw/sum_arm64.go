//go:build !purego

package hw

// NEON (ASIMD) is part of every arm64 CPU.
const readKernel = "neon"

// sumNEON adds up p, whose length must be a multiple of 16 words, with
// 128-bit loads into eight accumulators.
//
//go:noescape
func sumNEON(p []uint64) uint64

func sumWords(p []uint64) uint64 {
	n := len(p) &^ 15
	return sumNEON(p[:n]) + sumGeneric(p[n:])
}
