//go:build !linux

package hw

import "errors"

func liveAffinity() (CPUSet, error) {
	return nil, errors.New("CPU affinity is only read on Linux")
}
