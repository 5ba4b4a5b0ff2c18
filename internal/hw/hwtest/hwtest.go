// Package hwtest checks what package hw reports about the machine the
// tests run on against that machine's /proc, read here with the plainest
// code possible so that a bug in hw's parsers cannot hide itself.
package hwtest

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/raym33/ainative/internal/hw"
)

// CheckAgainstProc fails t where info disagrees with /proc/cpuinfo and
// /proc/meminfo: the model name, the number of logical CPUs, the avx2 and
// fma flags (asimd on arm64), and MemTotal. It skips t off Linux.
func CheckAgainstProc(t testing.TB, info *hw.Info) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads Linux's /proc")
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	var (
		modelName  string
		processors int
		flags      map[string]bool
	)
	for line := range strings.Lines(string(cpuinfo)) {
		k, v, _ := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "processor":
			processors++
		case k == "model name" && modelName == "":
			modelName = v
		case (k == "flags" || k == "Features") && flags == nil:
			flags = map[string]bool{}
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
		}
	}
	if modelName != "" && info.CPU.ModelName != modelName {
		t.Errorf("model name = %q, /proc/cpuinfo says %q", info.CPU.ModelName, modelName)
	}
	if info.Cores.Logical != processors {
		t.Errorf("logical CPUs = %d, /proc/cpuinfo lists %d", info.Cores.Logical, processors)
	}
	f := info.CPU.Features
	for _, c := range []struct {
		arch, flag string
		got        bool
	}{
		{"amd64", "avx2", f.AVX2},
		{"amd64", "fma", f.FMA},
		{"arm64", "asimd", f.NEON},
	} {
		// Under user-mode emulation /proc/cpuinfo is the host's, and
		// Discover trusts the processor alone ("cpuid"): nothing to
		// compare then.
		if c.arch == runtime.GOARCH && info.CPU.FeatureSource == "cpuid+cpuinfo" && c.got != flags[c.flag] {
			t.Errorf("feature %s = %v, but /proc/cpuinfo %s that flag", c.flag, c.got, map[bool]string{true: "has", false: "lacks"}[flags[c.flag]])
		}
	}

	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(meminfo)) {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/meminfo MemTotal: %v", err)
			}
			if info.Memory.Total != kb*1024 {
				t.Errorf("memory total = %d, /proc/meminfo MemTotal = %d", info.Memory.Total, kb*1024)
			}
			return
		}
	}
	t.Error("/proc/meminfo has no MemTotal")
}
