package model_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/raym33/ainative/internal/gguf"
	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/model"
	"github.com/raym33/ainative/internal/model/synth"
	"github.com/raym33/ainative/internal/tensor"
)

// synthFile synthesizes a model once into the temporary directory and
// reuses it across benchmark runs (synthesis is deterministic).
func synthFile(b *testing.B, shape, typ string) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("ainative-bench-%s-%s.gguf", shape, typ))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	m, err := synth.New(synth.Options{Shape: shape, Type: typ, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.WriteFile(context.Background(), path); err != nil {
		b.Fatal(err)
	}
	return path
}

var bandwidth = sync.OnceValues(func() (hw.Bandwidth, error) {
	return hw.MeasureReadBandwidth(context.Background(), 2, hw.DefaultBandwidthBytes)
})

// BenchmarkForward measures decode (one token a step, from an empty
// cache) and prompt processing at 2 threads. Decode is reported against
// the machine's read bandwidth measured in the same run: decode streams
// every weight once a token, so weights×tok/s over bandwidth is the
// fraction of the hardware limit reached. The real-sized shape is
// skipped in -short mode.
func BenchmarkForward(b *testing.B) {
	for _, tc := range []struct{ shape, typ string }{
		{"tiny", "Q8_0"},
		{"qwen2.5-0.5b", "Q8_0"},
		{"qwen2.5-0.5b", "Q4_K_M"},
	} {
		if testing.Short() && tc.shape != "tiny" {
			continue
		}
		b.Run(tc.shape+"/"+tc.typ, func(b *testing.B) {
			f, err := gguf.Open(synthFile(b, tc.shape, tc.typ))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			m, err := model.Load(f, model.Options{Threads: 2, ContextLength: 512, KVType: tensor.F16})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			b.Run("decode", func(b *testing.B) {
				seq := m.NewSequence()
				var logits []float32
				for i := 0; b.Loop(); i++ {
					if seq.Len() == 128 {
						seq.Truncate(0)
					}
					if logits, err = m.Forward(ctx, seq, []int32{int32(i % 500)}, model.OutputLast, logits[:0]); err != nil {
						b.Fatal(err)
					}
				}
				tps := float64(b.N) / b.Elapsed().Seconds()
				gbs := tps * float64(m.WeightBytes()) / 1e9
				b.ReportMetric(tps, "tok/s")
				b.ReportMetric(gbs, "GB/s")
				if bw, err := bandwidth(); err == nil && bw.GBs > 0 {
					b.ReportMetric(gbs/bw.GBs, "of-bandwidth")
				}
			})
			b.Run("prompt512", func(b *testing.B) {
				tokens := make([]int32, 512)
				for i := range tokens {
					tokens[i] = int32(i*13) % 500
				}
				seq := m.NewSequence()
				var logits []float32
				for b.Loop() {
					seq.Truncate(0)
					if logits, err = m.Forward(ctx, seq, tokens, model.OutputLast, logits[:0]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(512*float64(b.N)/b.Elapsed().Seconds(), "tok/s")
			})
		})
	}
}

// BenchmarkDecodeParallel measures decode steps of N sequences in one
// batch (bench --parallel's work: Qwen2.5-0.5B shape, Q8_0, a 64-token
// prompt each, then steps until 192 positions, then back to 64), one
// op a step. tok/s is aggregate. cpu-ms/tok is the process's CPU time
// per token, a figure that a busy machine disturbs less than wall time
// when the pool has one thread (BENCH_THREADS=1: no thread spins
// waiting for another). Skipped in -short mode.
func BenchmarkDecodeParallel(b *testing.B) {
	if testing.Short() {
		b.Skip("real-sized model")
	}
	threads := 2
	if v, err := strconv.Atoi(os.Getenv("BENCH_THREADS")); err == nil && v > 0 {
		threads = v
	}
	typ := cmp.Or(os.Getenv("BENCH_TYPE"), "Q8_0")
	f, err := gguf.Open(synthFile(b, "qwen2.5-0.5b", typ))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const prompt, ctxLen = 64, 192
	m, err := model.Load(f, model.Options{Threads: threads, ContextLength: ctxLen, KVType: tensor.F16})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	for _, n := range []int{1, 4, 8, 16} {
		b.Run(fmt.Sprintf("n%d", n), func(b *testing.B) {
			c, err := m.NewCache(model.CacheOptions{MaxSeqs: n, Cells: n * ctxLen})
			if err != nil {
				b.Fatal(err)
			}
			var batch model.Batch
			var out []float32
			for s := range n {
				batch.Reset()
				for i := range prompt {
					batch.Add(int32((s*131+i*17)%500), i, model.SeqID(s), i == prompt-1)
				}
				if out, err = m.Decode(ctx, c, &batch, out[:0]); err != nil {
					b.Fatal(err)
				}
			}
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				if c.SeqLen(0) == ctxLen {
					for s := range n {
						if err := c.Remove(model.SeqID(s), prompt); err != nil {
							b.Fatal(err)
						}
					}
				}
				batch.Reset()
				for s := range n {
					batch.Add(int32((s*7+i*13)%500), c.SeqLen(model.SeqID(s)), model.SeqID(s), true)
				}
				if out, err = m.Decode(ctx, c, &batch, out[:0]); err != nil {
					b.Fatal(err)
				}
			}
			toks := float64(b.N * n)
			b.ReportMetric(toks/b.Elapsed().Seconds(), "tok/s")
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1e3/toks, "cpu-ms/tok")
		})
	}
}
