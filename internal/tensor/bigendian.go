//go:build armbe || arm64be || m68k || mips || mips64 || mips64p32 || ppc || ppc64 || s390 || s390x || shbe || sparc || sparc64

package tensor

// GGUF data is little-endian and is used in place, memory-mapped; the
// kernels read it as native words. Refuse to build rather than compute
// garbage on a big-endian machine.
var _ = tensorRequiresLittleEndian
