package hwtest

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/raym33/ainative/internal/hw"
)

// recorder collects a check's failures instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestCheckCanFail makes sure the check notices a wrong model name,
// feature, CPU count and memory size.
func TestCheckCanFail(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads Linux's /proc")
	}
	info, err := hw.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	CheckAgainstProc(&r, info)
	if len(r.errors) > 0 {
		t.Fatalf("the live machine fails its own check: %q", r.errors)
	}
	info.CPU.ModelName += " (not)"
	info.Cores.Logical++
	info.Memory.Total++
	info.CPU.Features.AVX2 = !info.CPU.Features.AVX2
	info.CPU.Features.NEON = !info.CPU.Features.NEON
	CheckAgainstProc(&r, info)
	want := 4
	if info.CPU.FeatureSource != "cpuid+cpuinfo" {
		want = 3 // emulated: features are not compared with the host's cpuinfo
	}
	if len(r.errors) != want {
		t.Errorf("%d failures, want %d: %q", len(r.errors), want, r.errors)
	}
}
