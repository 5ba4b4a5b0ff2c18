package synth

import (
	"hash/fnv"
	"io"
	"math/rand/v2"
	"runtime"

	"github.com/raym33/ainative/internal/tensor"
)

// chunkFloats bounds the values generated at once: rows are produced in
// chunks of about this many values, in parallel, and written in order.
const chunkFloats = 1 << 18

// vector adds a 1-D tensor, stored as F32 as llama.cpp stores norms,
// biases and rope factors.
func (g *gen) vector(name string, n int, w weight) {
	g.add(name, tensor.F32, []uint64{uint64(n)}, n, 1, w)
}

// matrix adds a weight matrix of rows rows of cols values, in the type
// the file type's rules give it.
func (g *gen) matrix(name string, cols, rows int, w weight) {
	g.add(name, g.picker.pick(name, cols), []uint64{uint64(cols), uint64(rows)}, cols, rows, w)
}

// experts adds n expert matrices of rows rows of cols values, stacked
// in one 3-D tensor as llama.cpp stores them (GGUF dims {cols, rows, n}).
func (g *gen) experts(name string, cols, rows, n int, w weight) {
	g.add(name, g.picker.pick(name, cols), []uint64{uint64(cols), uint64(rows), uint64(n)}, cols, rows*n, w)
}

func (g *gen) add(name string, typ tensor.Type, dims []uint64, cols, rows int, w weight) {
	if g.err != nil {
		return
	}
	rb, err := typ.RowBytes(int64(cols))
	if err != nil {
		g.err = err
		return
	}
	size := rb * int64(rows)
	g.total += size
	h := fnv.New64a()
	h.Write([]byte(name))
	key := h.Sum64()
	write := func(out io.Writer) error {
		return g.stream(out, typ, cols, rows, int(rb), key, w)
	}
	g.err = g.b.AddTensorFunc(name, typ, dims, write, size)
}

// stream generates, converts and writes a tensor chunk by chunk, with
// one worker per CPU and at most two chunks per worker in memory.
func (g *gen) stream(out io.Writer, typ tensor.Type, cols, rows, rowBytes int, key uint64, w weight) error {
	per := max(1, chunkFloats/cols)
	chunks := (rows + per - 1) / per
	workers := min(runtime.GOMAXPROCS(0), chunks)
	type result struct {
		buf []byte
		err error
	}
	results := make([]chan result, chunks)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	jobs := make(chan int)
	slots := make(chan struct{}, 2*workers) // bounds chunks in flight
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(jobs)
		for c := range chunks {
			select {
			case slots <- struct{}{}:
			case <-quit:
				return
			}
			select {
			case jobs <- c:
			case <-quit:
				return
			}
		}
	}()
	for range workers {
		go func() {
			vals := make([]float32, per*cols)
			for c := range jobs {
				lo, hi := c*per, min(rows, (c+1)*per)
				v := vals[:(hi-lo)*cols]
				fill(v, w, g.o.Seed, key, uint64(c), lo*cols)
				buf := make([]byte, (hi-lo)*rowBytes)
				var err error
				for r := range hi - lo {
					if err = tensor.Quantize(typ, buf[r*rowBytes:(r+1)*rowBytes], v[r*cols:(r+1)*cols]); err != nil {
						break
					}
				}
				results[c] <- result{buf, err}
			}
		}()
	}
	for c := range chunks {
		r := <-results[c]
		if r.err != nil {
			return r.err
		}
		if _, err := out.Write(r.buf); err != nil {
			return err
		}
		<-slots
		g.progress(int64(len(r.buf)))
	}
	return nil
}

// fill draws one chunk's values. Fixed values are taken from offset.
func fill(v []float32, w weight, seed, key, chunk uint64, offset int) {
	if w.fixed != nil {
		copy(v, w.fixed[offset:])
		return
	}
	rng := rand.New(rand.NewPCG(seed^key, chunk*0x9e3779b97f4a7c15+key))
	for i := range v {
		v[i] = w.mean + w.std*float32(rng.NormFloat64())
	}
}

func (g *gen) progress(n int64) {
	if g.o.Progress == nil {
		return
	}
	g.mu.Lock()
	g.done += n
	done := g.done
	g.mu.Unlock()
	g.o.Progress(done, g.total)
}
