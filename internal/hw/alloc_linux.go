package hw

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// allocWords maps n words of anonymous memory outside the Go heap, so
// that a measurement's hundreds of MiB go back to the system as soon as
// it ends instead of waiting for a GC, and asks for transparent huge
// pages so that TLB misses do not stand between the loads and DRAM.
func allocWords(n int) ([]uint64, func(), error) {
	b, err := unix.Mmap(-1, 0, n*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, err
	}
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // advice only; kernels without THP refuse it
	words := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), n)
	return words, func() { unix.Munmap(b) }, nil
}
