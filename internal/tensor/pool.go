package tensor

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Pool is a fixed set of workers that run the parallel loops of a forward
// pass. A Pool of T threads owns T-1 goroutines; the goroutine calling For
// or MatMul does the remaining share of the work itself, so a one-thread
// Pool runs everything inline.
//
// A Pool runs one loop at a time: For and MatMul may be called from
// several goroutines, but they take turns (one forward pass uses a Pool at
// a time; give concurrent passes a Pool each). A loop body must not call
// back into the same Pool, which would deadlock.
type Pool struct {
	threads int
	mu      sync.Mutex // held by the loop in progress
	jobs    []chan job // one per worker goroutine
	wg      sync.WaitGroup
	exited  sync.WaitGroup
	closed  bool

	panicMu  sync.Mutex
	panicked any // first panic of a loop body, re-raised by the caller

	scratch []byte // MatMul's converted activations, reused across calls
}

type job struct {
	fn     func(lo, hi int)
	lo, hi int
}

// NewPool starts a Pool of the given number of threads (at least 1).
func NewPool(threads int) *Pool {
	threads = max(threads, 1)
	p := &Pool{threads: threads, jobs: make([]chan job, threads-1)}
	for i := range p.jobs {
		ch := make(chan job, 1)
		p.jobs[i] = ch
		p.exited.Add(1)
		go p.worker(ch)
	}
	return p
}

func (p *Pool) worker(jobs <-chan job) {
	defer p.exited.Done()
	for j := range jobs {
		p.run(j)
	}
}

// run executes one chunk, turning a panic in the loop body into a value
// the calling goroutine re-raises, so a bug does not kill the process from
// a worker goroutine that has no stack in common with the caller.
func (p *Pool) run(j job) {
	defer p.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			p.panicMu.Lock()
			if p.panicked == nil {
				p.panicked = r
			}
			p.panicMu.Unlock()
		}
	}()
	j.fn(j.lo, j.hi)
}

// Threads reports the number of threads the Pool computes with.
func (p *Pool) Threads() int { return p.threads }

// Close stops the worker goroutines and waits for them to exit. It is safe
// to call more than once; the Pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, ch := range p.jobs {
		close(ch)
	}
	p.exited.Wait()
	p.scratch = nil
}

// For runs fn over [0,n) split into contiguous chunks, one per thread (or
// fewer when n is small), and returns when all are done. A panic in fn is
// re-raised here.
func (p *Pool) For(n int, fn func(lo, hi int)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.forLocked(n, fn)
}

func (p *Pool) forLocked(n int, fn func(lo, hi int)) {
	if p.closed {
		panic("tensor: Pool used after Close")
	}
	if n <= 0 {
		return
	}
	chunks := min(p.threads, n)
	if chunks == 1 {
		fn(0, n)
		return
	}
	p.wg.Add(chunks)
	for c := 1; c < chunks; c++ {
		p.jobs[c-1] <- job{fn, c * n / chunks, (c + 1) * n / chunks}
	}
	p.run(job{fn, 0, n / chunks})
	p.wg.Wait()
	if r := p.panicked; r != nil {
		p.panicked = nil
		panic(fmt.Sprintf("tensor: parallel loop body panicked: %v", r))
	}
}

// forEach runs fn(i) for every i in [0,n), handing out indices one at a
// time to whichever thread is free, so that uneven work or a descheduled
// thread does not leave the others idle. The caller holds p.mu.
func (p *Pool) forEach(n int, fn func(i int)) {
	var next atomic.Int64
	p.forLocked(min(n, p.threads), func(int, int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			fn(i)
		}
	})
}
