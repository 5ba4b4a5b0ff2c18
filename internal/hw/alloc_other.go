//go:build !linux

package hw

func allocWords(n int) ([]uint64, func(), error) {
	return make([]uint64, n), func() {}, nil
}
