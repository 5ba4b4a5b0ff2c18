package hw

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Bandwidth is one measurement of memory read bandwidth.
type Bandwidth struct {
	Threads int   `json:"threads"`
	Bytes   int64 `json:"bytes"` // all threads' buffers together
	Passes  int   `json:"passes"`
	// GBs is the median pass's rate in GB/s (1e9 bytes per second): what
	// the process typically gets. On a shared machine (a VM, other busy
	// processes) single passes range widely both ways; BestGBs, STREAM's
	// figure, is what the hardware gave when least disturbed.
	GBs     float64 `json:"gbs"`
	BestGBs float64 `json:"best_gbs"` // the fastest pass's
	Kernel  string  `json:"kernel"`   // read loop used: "avx2", "neon" or "go"
}

// DefaultBandwidthBytes is the buffer size MeasureReadBandwidth is meant
// to be used with: eight times a 32 MiB L3, so that caches serve a
// negligible part of each pass.
const DefaultBandwidthBytes = 256 << 20

// bandwidthPasses is how many timed passes make a measurement, after one
// untimed pass that faults in the pages and trains the prefetchers.
const bandwidthPasses = 9

// MeasureReadBandwidth measures how fast threads threads together read
// memory, STREAM-style: each thread owns a private buffer of bytes/threads
// (allocated and first written by that thread, so it is local to its NUMA
// node) and sums it with the widest loads the CPU has, several
// accumulators wide; all threads start each pass together and the pass
// lasts until the last one finishes. The result is in GB/s (1e9 bytes per
// second), the median and the best of several passes.
//
// bytes should be well beyond the last-level cache (DefaultBandwidthBytes
// is) and must fit in memory. Every thread needs a P of its own:
// threads may not exceed GOMAXPROCS, or they would take turns and the
// figure would be meaningless.
func MeasureReadBandwidth(ctx context.Context, threads int, bytes int64) (Bandwidth, error) {
	if threads < 1 {
		return Bandwidth{}, fmt.Errorf("hw: bandwidth: %d threads", threads)
	}
	if p := runtime.GOMAXPROCS(0); threads > p {
		return Bandwidth{}, fmt.Errorf("hw: bandwidth: %d threads but GOMAXPROCS is %d: they could not all run at once", threads, p)
	}
	const page = 4096
	per := bytes / int64(threads) / page * page
	if per < page {
		return Bandwidth{}, fmt.Errorf("hw: bandwidth: %d bytes is less than a page per thread for %d threads", bytes, threads)
	}
	words := int(per / 8)
	// Every word is its index, so each pass's sum is known in advance:
	// a kernel that skipped or misread data would not go unnoticed.
	want := sumBelow(uint64(words))

	quit := make(chan struct{})
	ready := make(chan error, threads)
	sums := make(chan uint64, threads)
	starts := make([]chan struct{}, threads)
	var wg sync.WaitGroup
	defer func() {
		close(quit)
		wg.Wait()
	}()
	for i := range threads {
		starts[i] = make(chan struct{}, 1)
		wg.Go(func() {
			// One OS thread per worker for the whole measurement, as
			// a native STREAM would have.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			buf, free, err := allocWords(words)
			if err != nil {
				ready <- err
				return
			}
			defer free()
			for j := range buf {
				buf[j] = uint64(j)
			}
			ready <- nil
			for {
				select {
				case <-starts[i]:
					sums <- sumWords(buf)
				case <-quit:
					return
				}
			}
		})
	}
	for range threads {
		if err := <-ready; err != nil {
			return Bandwidth{}, fmt.Errorf("hw: bandwidth: allocating %d bytes: %w", per, err)
		}
	}

	var rates []float64
	for pass := range bandwidthPasses + 1 {
		if err := ctx.Err(); err != nil {
			return Bandwidth{}, err
		}
		t0 := time.Now()
		for _, s := range starts {
			s <- struct{}{}
		}
		for range threads {
			if got := <-sums; got != want {
				return Bandwidth{}, fmt.Errorf("hw: bandwidth: %s read kernel summed %d, want %d", readKernel, got, want)
			}
		}
		elapsed := time.Since(t0)
		if pass > 0 {
			rates = append(rates, float64(per)*float64(threads)/elapsed.Seconds()/1e9)
		}
	}
	slices.Sort(rates)
	return Bandwidth{
		Threads: threads,
		Bytes:   per * int64(threads),
		Passes:  len(rates),
		GBs:     rates[len(rates)/2],
		BestGBs: rates[len(rates)-1],
		Kernel:  readKernel,
	}, nil
}

// sumBelow is 0 + 1 + ... + n-1 modulo 2^64, as the kernels' wrapping
// sums compute it. n(n-1)/2 would overflow before the division for n
// beyond 2^32 (a 32 GiB buffer): halve the even factor first.
func sumBelow(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	if n%2 == 0 {
		return n / 2 * (n - 1)
	}
	return n * ((n - 1) / 2)
}

// sumGeneric adds up p in plain Go. Eight independent accumulators let
// the CPU keep several loads in flight instead of waiting on one add
// chain; it is the fallback and the reference for the assembly kernels.
func sumGeneric(p []uint64) uint64 {
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	for len(p) >= 8 {
		q := p[:8:8]
		s0 += q[0]
		s1 += q[1]
		s2 += q[2]
		s3 += q[3]
		s4 += q[4]
		s5 += q[5]
		s6 += q[6]
		s7 += q[7]
		p = p[8:]
	}
	for _, v := range p {
		s0 += v
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}
