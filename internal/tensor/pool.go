package tensor

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a fixed set of workers that run the parallel loops of a forward
// pass. A Pool of T threads owns T-1 goroutines; the goroutine calling For
// or MatMul does the remaining share of the work itself, so a one-thread
// Pool runs everything inline.
//
// A decode step runs a few hundred short loops, a few tens of
// microseconds each, so handing work over must cost far less than that:
// workers and the caller spin for a while on an atomic counter before
// they park on a channel (waking a parked goroutine costs tens of
// microseconds; ggml's thread pool spins for the same reason).
//
// A Pool runs one loop at a time: For and MatMul may be called from
// several goroutines, but they take turns (one forward pass uses a Pool at
// a time; give concurrent passes a Pool each). A loop body must not call
// back into the same Pool, which would deadlock.
type Pool struct {
	threads int
	mu      sync.Mutex // held by the loop in progress
	workers []*worker
	exited  sync.WaitGroup
	closed  bool

	pending atomic.Int32 // chunks handed to workers and not yet done
	waiting atomic.Bool  // the caller is parked on done
	done    chan struct{}

	panicMu  sync.Mutex
	panicked any // first panic of a loop body, re-raised by the caller

	mmBuf mmBuffers // MatMul's scratch, reused across calls

	// forEach's loop in progress; eachBody, built once, runs it, so that
	// handing out a loop allocates nothing.
	eachN    int
	eachNext atomic.Int64
	eachFn   func(i, slot int)
	eachBody func(lo, hi int)

	mm                   mmState // MatMul's call in progress
	mmConv, mmRows, mmTk func(i, slot int)
}

// worker is one worker goroutine's mailbox. A job is posted by writing
// job and then incrementing seq; the worker runs each seq once.
type worker struct {
	seq      atomic.Uint64
	job      job
	sleeping atomic.Bool
	wake     chan struct{} // buffered: a wake-up is never lost
	stop     atomic.Bool
}

type job struct {
	fn     func(lo, hi int)
	lo, hi int
}

// spinFor is how long an idle worker or a waiting caller polls before it
// parks: longer than the serial work between two loops of a decode step.
const spinFor = 200 * time.Microsecond

// NewPool starts a Pool of the given number of threads (at least 1).
func NewPool(threads int) *Pool {
	threads = max(threads, 1)
	p := &Pool{threads: threads, done: make(chan struct{}, 1)}
	p.eachBody = p.runEach
	p.mmConv, p.mmRows, p.mmTk = p.mmConvRow, p.mmRowChunk, p.mmTokChunk
	for range threads - 1 {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		p.exited.Add(1)
		go p.work(w)
	}
	return p
}

func (p *Pool) work(w *worker) {
	defer p.exited.Done()
	// Weights are usually a memory-mapped file, which can shrink under
	// us (truncated or replaced in place): a fault reading it becomes a
	// panic that run recovers and the caller re-raises, so that the
	// caller can turn it into an error instead of the process dying of
	// SIGBUS. The setting is per goroutine and this one is ours.
	debug.SetPanicOnFault(true)
	var last uint64
	for {
		if !spinUntil(func() bool { return w.seq.Load() != last || w.stop.Load() }) {
			// Announce the sleep, then look again: the poster either sees
			// sleeping and sends a wake-up, or we see its job.
			w.sleeping.Store(true)
			if w.seq.Load() == last && !w.stop.Load() {
				<-w.wake
			}
			w.sleeping.Store(false)
			continue
		}
		if w.stop.Load() {
			return
		}
		last = w.seq.Load()
		p.run(w.job)
		if p.pending.Add(-1) == 0 && p.waiting.Load() {
			select {
			case p.done <- struct{}{}:
			default:
			}
		}
	}
}

// spinUntil polls cond for up to spinFor and reports whether it came true.
func spinUntil(cond func() bool) bool {
	var deadline time.Time
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		if i&255 == 255 {
			now := time.Now()
			if deadline.IsZero() {
				deadline = now.Add(spinFor)
			} else if now.After(deadline) {
				return false
			}
			runtime.Gosched() // let a descheduled peer run
		}
	}
}

// run executes one chunk, turning a panic in the loop body into a value
// the calling goroutine re-raises, so a bug does not kill the process from
// a worker goroutine that has no stack in common with the caller.
func (p *Pool) run(j job) {
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
	for _, w := range p.workers {
		w.stop.Store(true)
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	p.exited.Wait()
	p.mmBuf = mmBuffers{}
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
	p.pending.Store(int32(chunks - 1))
	for c := 1; c < chunks; c++ {
		w := p.workers[c-1]
		w.job = job{fn, c * n / chunks, (c + 1) * n / chunks}
		w.seq.Add(1)
		if w.sleeping.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	p.run(job{fn, 0, n / chunks})
	if !spinUntil(func() bool { return p.pending.Load() == 0 }) {
		// Announce the wait, then look again; a wake-up left over from an
		// earlier loop only costs one more look.
		p.waiting.Store(true)
		for p.pending.Load() != 0 {
			<-p.done
		}
		p.waiting.Store(false)
	}
	if r := p.panicked; r != nil {
		p.panicked = nil
		panic(&LoopPanic{Value: r})
	}
}

// LoopPanic is what For and MatMul panic with when a loop body panicked:
// Value is the body's panic value (a runtime.Error with an Addr method
// for a memory fault, see debug.SetPanicOnFault).
type LoopPanic struct{ Value any }

func (e *LoopPanic) Error() string {
	return fmt.Sprintf("tensor: parallel loop body panicked: %v", e.Value)
}

// Unwrap returns Value when it is an error.
func (e *LoopPanic) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// forEach runs fn(i, slot) for every i in [0,n), handing out indices one
// at a time to whichever thread is free, so that uneven work or a
// descheduled thread does not leave the others idle. slot, below
// p.threads, is the thread's: no two calls running at once share one, so
// fn can keep scratch space per slot. The caller holds p.mu.
func (p *Pool) forEach(n int, fn func(i, slot int)) {
	p.eachN, p.eachFn = n, fn
	p.eachNext.Store(0)
	p.forLocked(min(n, p.threads), p.eachBody)
	p.eachFn = nil
}

// runEach is one thread's share of forEach's loop. forEach splits
// min(n, threads) into as many chunks, so lo is the thread's own index.
func (p *Pool) runEach(lo, _ int) {
	for {
		i := int(p.eachNext.Add(1) - 1)
		if i >= p.eachN {
			return
		}
		p.eachFn(i, lo)
	}
}
