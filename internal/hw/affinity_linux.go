package hw

import "golang.org/x/sys/unix"

// liveAffinity returns the CPUs the calling thread may run on. Go starts
// all its threads with the process's mask, so this is the process's.
func liveAffinity() (CPUSet, error) {
	// The dynamic set reaches past the fixed CPUSet's 1024 CPUs.
	set := unix.NewCPUSet(maxCPUs)
	if err := unix.SchedGetaffinityDynamic(0, set); err != nil {
		return nil, err
	}
	var cpus CPUSet
	for i := range maxCPUs {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}
