//go:build purego || !(amd64 || arm64)

package hw

const readKernel = "go"

func sumWords(p []uint64) uint64 { return sumGeneric(p) }
