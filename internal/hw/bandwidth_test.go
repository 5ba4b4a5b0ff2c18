package hw

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/leaktest"
	"github.com/raym33/ainative/internal/testdata"
)

func TestSumWords(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 255, 256, 1000, 4096 + 13} {
		p := make([]uint64, n)
		var want uint64
		for i := range p {
			p[i] = rng.Uint64() // sums wrap around, which all kernels must do alike
			want += p[i]
		}
		if got := sumWords(p); got != want {
			t.Errorf("%s: sum of %d words = %d, want %d", readKernel, n, got, want)
		}
		if got := sumGeneric(p); got != want {
			t.Errorf("generic: sum of %d words = %d, want %d", n, got, want)
		}
	}
	// A sub-slice that does not start on a 32-byte boundary.
	p := make([]uint64, 1001)
	for i := range p {
		p[i] = uint64(i)
	}
	if got, want := sumWords(p[3:]), sumGeneric(p[3:]); got != want {
		t.Errorf("unaligned: %d, want %d", got, want)
	}
}

func TestSumBelow(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 1000, 1<<32 - 1, 1 << 32, 1<<32 + 1, 5 << 31, 1<<40 + 7} {
		// Reference: n(n-1)/2 in exact arithmetic, then modulo 2^64.
		want := new(big.Int).SetUint64(n)
		want.Mul(want, new(big.Int).SetUint64(max(n, 1)-1))
		want.Rsh(want, 1)
		want.And(want, new(big.Int).SetUint64(math.MaxUint64))
		if got := sumBelow(n); got != want.Uint64() {
			t.Errorf("sumBelow(%d) = %d, want %d", n, got, want.Uint64())
		}
	}
}

func TestMeasureReadBandwidth(t *testing.T) {
	leaktest.Check(t)
	threads := min(2, runtime.GOMAXPROCS(0))
	// Small buffers (caches hold them): this checks the mechanics, the
	// benchmarks below measure.
	bw, err := MeasureReadBandwidth(context.Background(), threads, 2<<20+123)
	if err != nil {
		t.Fatal(err)
	}
	if bw.Threads != threads || bw.Bytes != 2<<20 || bw.Passes != bandwidthPasses || bw.Kernel != readKernel {
		t.Errorf("got %+v", bw)
	}
	if bw.GBs <= 0 || bw.BestGBs < bw.GBs {
		t.Errorf("rates: median %v, best %v", bw.GBs, bw.BestGBs)
	}
}

func TestMeasureReadBandwidthErrors(t *testing.T) {
	leaktest.Check(t)
	ctx := context.Background()
	for _, tc := range []struct {
		threads int
		bytes   int64
		want    string
	}{
		{0, 1 << 20, "0 threads"},
		{runtime.GOMAXPROCS(0) + 1, 1 << 30, "GOMAXPROCS"},
		{1, 4095, "less than a page"},
		{1, -1, "less than a page"},
	} {
		_, err := MeasureReadBandwidth(ctx, tc.threads, tc.bytes)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MeasureReadBandwidth(%d, %d): error %v, want one about %q", tc.threads, tc.bytes, err, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := MeasureReadBandwidth(cancelled, 1, 1<<20); err != context.Canceled {
		t.Errorf("cancelled: error %v", err)
	}
}

// BenchmarkSum compares the read kernel with the plain Go loop it falls
// back to, on a buffer the L1 cache holds (where the loop's own speed
// shows) and one far beyond the last-level cache (where only memory
// bandwidth does). Compare the MB/s of kernel=... with kernel=go.
func BenchmarkSum(b *testing.B) {
	for _, size := range []int{16 << 10, 512 << 10, 256 << 20} {
		buf, free, err := allocWords(size / 8)
		if err != nil {
			b.Fatal(err)
		}
		for i := range buf {
			buf[i] = uint64(i)
		}
		for _, k := range []struct {
			name string
			sum  func([]uint64) uint64
		}{{readKernel, sumWords}, {"go", sumGeneric}} {
			b.Run(fmt.Sprintf("size=%s/kernel=%s", strings.ReplaceAll(FormatBytes(int64(size)), " ", ""), k.name), func(b *testing.B) {
				b.SetBytes(int64(size))
				var sink uint64
				for b.Loop() {
					sink += k.sum(buf)
				}
				_ = sink
			})
		}
		free()
	}
}

// BenchmarkReadBandwidth measures as `ainative hw` does and reports the
// figure as a ratio of llama.cpp's project's STREAM-like read bandwidth
// on this kind of machine (the fixtures' bench/bandwidth.jsonl), measured
// with the same thread count.
func BenchmarkReadBandwidth(b *testing.B) {
	ref := readReference(b)
	for threads := 1; threads <= min(2, runtime.GOMAXPROCS(0)); threads++ {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			var bw Bandwidth
			for b.Loop() {
				var err error
				if bw, err = MeasureReadBandwidth(context.Background(), threads, DefaultBandwidthBytes); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(bw.GBs, "GB/s")
			b.ReportMetric(bw.BestGBs, "best-GB/s")
			if r, ok := ref[threads]; ok {
				b.ReportMetric(bw.GBs/r, "x-reference")
			}
		})
	}
}

// readReference returns read_gbs by thread count from the reference file.
func readReference(b *testing.B) map[int]float64 {
	f, err := os.Open(testdata.Path(b, "bench", "bandwidth.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ref := map[int]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Threads int     `json:"threads"`
			ReadGBs float64 `json:"read_gbs"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			b.Fatalf("bandwidth.jsonl: %v", err)
		}
		ref[line.Threads] = line.ReadGBs
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return ref
}
