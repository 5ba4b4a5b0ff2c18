package model_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
