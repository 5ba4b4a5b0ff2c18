// Package hw finds out what hardware a process has to run inference on:
// the CPU and its vector extensions, how many cores it may use (affinity
// and cgroup quota), caches, memory and the cgroup limit on it, NUMA
// nodes, GPUs and NPUs, and, measured, memory read bandwidth.
//
// Everything comes from Linux's own descriptions of the machine, /proc
// and /sys, read through a root directory so that tests can describe any
// machine with a tree of files; on the live system the CPU's own report
// (cpuid, HWCAP) is cross-checked against the kernel's. What cannot be
// read is reported as unknown (a zero or empty field, and a warning),
// never guessed.
//
// `ainative generate` and `bench` take their default thread count from
// [DefaultThreads], and `bench` relates decode speed to
// [MeasureReadBandwidth]. [CPU.Features] reports the extensions the
// tensor kernels choose between, but package tensor detects them itself
// (golang.org/x/sys/cpu, the same CPUID bits) so that the engine does not
// depend on this package. [Info.EffectiveMemory] is meant for the
// runtime's model memory budget, which does not exist yet.
package hw

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
)

// Info describes the machine as this process sees it.
type Info struct {
	Kernel       string        `json:"kernel,omitempty"` // release, from /proc/sys/kernel/osrelease
	CPU          CPU           `json:"cpu"`
	Cores        Cores         `json:"cores"`
	Caches       []Cache       `json:"caches"`
	Memory       Memory        `json:"memory"`
	NUMA         []NUMANode    `json:"numa"`
	Accelerators []Accelerator `json:"accelerators"`
	// Bandwidth holds memory read bandwidth measurements. Discover leaves
	// it empty (measuring takes a second and hundreds of MiB); callers
	// that measure with MeasureReadBandwidth put the results here to
	// report them with the rest.
	Bandwidth []Bandwidth `json:"bandwidth,omitempty"`
	// Warnings says what could not be read or made sense of, naming the
	// file. The fields concerned are left unknown.
	Warnings []string `json:"warnings,omitempty"`
}

// DefaultThreads is the thread count for CPU inference; see
// [Cores.DefaultThreads].
func (i *Info) DefaultThreads() int { return i.Cores.DefaultThreads() }

// EffectiveMemory is how many bytes this process can still use; see
// [Memory.Effective].
func (i *Info) EffectiveMemory() int64 { return i.Memory.Effective() }

// LastLevelCache returns the largest-numbered data or unified cache (the
// L3 on most machines), and whether any is known.
func (i *Info) LastLevelCache() (Cache, bool) { return lastLevel(i.Caches) }

// A Prober reads hardware facts from a Linux system. The zero Prober
// reads the live system.
type Prober struct {
	// Root is where the system's / is; "" or "/" means the live system,
	// which also lets the Prober ask the CPU itself and the kernel
	// (sched_getaffinity). Anything else is a tree of files laid out like
	// /proc and /sys, and only files are read.
	Root string
	// Arch is the GOARCH of the system under Root; "" means runtime.GOARCH.
	// Only meaningful for a tree other than the live system.
	Arch string
	// Logger receives a debug line per warning; nil means slog.Default().
	Logger *slog.Logger
}

// Discover describes the live system.
func Discover(ctx context.Context) (*Info, error) {
	var p Prober
	return p.Discover(ctx)
}

// DefaultThreads discovers the live system and returns its default
// inference thread count; see [Cores.DefaultThreads].
func DefaultThreads() int {
	info, err := Discover(context.Background())
	if err != nil {
		return max(runtime.GOMAXPROCS(0), 1)
	}
	return info.DefaultThreads()
}

// Discover reads everything but bandwidth. A missing or unreadable file
// makes a warning, not an error: the error is for a context that ends or a
// Root that does not exist.
func (p *Prober) Discover(ctx context.Context) (*Info, error) {
	root := p.Root
	live := root == "" || root == "/"
	if live {
		root = "/"
	}
	arch := p.Arch
	if arch == "" || live {
		arch = runtime.GOARCH
	}
	s := newSysFS(root)
	if !s.exists(".") {
		return nil, fmt.Errorf("hw: root %s does not exist", root)
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	info := &Info{}
	warn := func(err error) {
		if err == nil {
			return
		}
		log.Debug("hw: discovery", "warning", err)
		info.Warnings = append(info.Warnings, err.Error())
	}

	if k, err := s.readString("proc/sys/kernel/osrelease"); err == nil {
		info.Kernel = k
	}
	var blocks []cpuinfoBlock
	if b, err := s.read("proc/cpuinfo"); err != nil {
		warn(err)
	} else if blocks, err = parseCPUInfo(b); err != nil {
		warn(s.wrap("proc/cpuinfo", err))
	}
	info.CPU = detectCPU(arch, blocks, live)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	cg, err := readCgroups(s)
	if err != nil {
		// No /proc/self/cgroup, or no mountinfo: a kernel without
		// cgroups, or a tree that does not describe them.
		if !errors.Is(err, fs.ErrNotExist) {
			warn(err)
		}
		cg = nil
	}
	info.Cores = detectCores(s, blocks, live, cg, warn)
	info.Caches = detectCaches(s, info.Cores.Online, live, warn)
	info.Memory = detectMemory(s, cg, warn)
	info.NUMA = detectNUMA(s, warn)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info.Accelerators = detectAccelerators(s, warn)
	return info, ctx.Err()
}
