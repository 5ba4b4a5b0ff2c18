package hw_test

import (
	"context"
	"fmt"
	"log"
	"runtime"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/raym33/ainative/internal/hw"
	"github.com/raym33/ainative/internal/hw/hwtest"
)

func TestLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads Linux's /proc and /sys")
	}
	info, err := hw.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hwtest.CheckAgainstProc(t, info)
	if len(info.CPU.FeatureMismatches) > 0 {
		t.Logf("cpuid and /proc/cpuinfo disagree: %q", info.CPU.FeatureMismatches)
	}
	// runtime.NumCPU is the affinity mask as Go saw it at start-up.
	if n := len(info.Cores.Allowed); n != runtime.NumCPU() {
		t.Errorf("allowed CPUs = %d, runtime.NumCPU() = %d", n, runtime.NumCPU())
	}
	if n := info.DefaultThreads(); n < 1 || n > len(info.Cores.Allowed) {
		t.Errorf("default threads = %d with %d CPUs allowed", n, len(info.Cores.Allowed))
	}
	if hw.DefaultThreads() != info.DefaultThreads() {
		t.Errorf("DefaultThreads() = %d, Info.DefaultThreads() = %d", hw.DefaultThreads(), info.DefaultThreads())
	}
	if e := info.EffectiveMemory(); e <= 0 || e > info.Memory.Total {
		t.Errorf("effective memory = %d of %d", e, info.Memory.Total)
	}
	if mi, err := hw.Meminfo(); err != nil || mi["MemTotal"] != info.Memory.Total {
		t.Errorf("Meminfo: MemTotal %d, %v; Discover says %d", mi["MemTotal"], err, info.Memory.Total)
	}
	for _, w := range info.Warnings {
		t.Logf("warning: %s", w)
	}
}

// The inference engine's view: kernels by feature, threads by cores,
// model budget by memory. Each printed value is checked against an
// independent source: the kernel chosen from the discovered features
// against the one golang.org/x/sys/cpu's detection gives, the threads
// against the CPUs Go may run on, the budget against the memory total.
func ExampleDiscover() {
	info, err := hw.Discover(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	f := info.CPU.Features
	kernel := "generic"
	switch {
	case f.AVX2 && f.FMA:
		kernel = "avx2"
	case f.NEON && f.DotProd:
		kernel = "neon-dotprod"
	}
	want := "generic"
	switch {
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		want = "avx2"
	case cpu.ARM64.HasASIMD && cpu.ARM64.HasASIMDDP:
		want = "neon-dotprod"
	}
	threads := info.DefaultThreads()
	budget := info.EffectiveMemory()
	fmt.Println(kernel == want, threads >= 1 && threads <= runtime.NumCPU(), budget > 0 && budget <= info.Memory.Total)
	// Output: true true true
}
