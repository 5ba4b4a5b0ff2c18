package hw

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Cores counts the processors and says how many of them this process may
// actually use.
type Cores struct {
	Logical  int    `json:"logical"`  // online CPUs (hardware threads)
	Physical int    `json:"physical"` // cores, SMT siblings counted once
	Sockets  int    `json:"sockets"`
	Online   CPUSet `json:"online"`
	// Allowed is this process's CPU affinity (sched_getaffinity), which
	// already reflects a cgroup cpuset.
	Allowed CPUSet `json:"allowed"`
	// AllowedPhysical counts the cores that have at least one allowed CPU.
	AllowedPhysical int `json:"allowed_physical"`
	// CgroupQuota is the cgroup CPU bandwidth limit in CPUs (quota/period,
	// the smallest along the cgroup path); 0 when there is none.
	CgroupQuota       float64 `json:"cgroup_cpu_quota,omitempty"`
	CgroupQuotaSource string  `json:"cgroup_cpu_quota_source,omitempty"` // the file that sets it
	// Effective is how many CPUs' worth of time this process can get:
	// the allowed CPUs, capped by the quota.
	Effective float64 `json:"effective"`
}

// DefaultThreads is the thread count for CPU inference: one per physical
// core (a second hardware thread on a core adds little to memory-bound
// matrix-vector work and slows compute-bound work), no more than the
// process may use under its affinity mask and cgroup quota, and at least 1.
func (c Cores) DefaultThreads() int {
	n := c.AllowedPhysical
	if n == 0 {
		n = c.Physical // topology known, affinity not
	}
	if a := len(c.Allowed); a > 0 && (n == 0 || a < n) {
		n = a
	}
	if c.CgroupQuota > 0 {
		// Threads beyond the quota get throttled in turn, and a matmul
		// waits for its slowest thread.
		n = min(n, int(math.Floor(c.CgroupQuota)))
	}
	return max(n, 1)
}

// coreKey identifies the physical core a CPU belongs to.
type coreKey struct {
	pkg  int
	core string // the core's sibling list, or die:core id
}

// detectCores counts CPUs, cores and sockets, and works out which of them
// this process may use.
func detectCores(s sysFS, blocks []cpuinfoBlock, live bool, cg *cgroups, warn func(error)) Cores {
	c, keys := countCores(s, blocks, warn)
	c.Allowed = affinity(s, live, c.Online, warn)
	allowed := map[coreKey]bool{}
	for _, cpu := range c.Allowed {
		if k, ok := keys[cpu]; ok {
			allowed[k] = true
		}
	}
	c.AllowedPhysical = len(allowed)
	if cg != nil {
		var err error
		c.CgroupQuota, c.CgroupQuotaSource, err = cg.cpuQuota(s)
		warn(err)
	}
	c.Effective = float64(len(c.Allowed))
	if q := c.CgroupQuota; q > 0 && q < c.Effective {
		c.Effective = q
	}
	return c
}

// countCores counts CPUs, cores and sockets from sysfs topology, falling
// back to /proc/cpuinfo's "physical id" and "core id". It returns each
// CPU's core.
func countCores(s sysFS, blocks []cpuinfoBlock, warn func(error)) (Cores, map[int]coreKey) {
	var c Cores
	online, err := s.readString("sys/devices/system/cpu/online")
	if err == nil {
		c.Online, err = ParseCPUList(online)
		if err != nil {
			err = fmt.Errorf("%s: %w", s.path("sys/devices/system/cpu/online"), err)
		}
	}
	if err != nil {
		warn(err)
		c.Online = cpuinfoProcessors(blocks)
	}
	c.Logical = len(c.Online)

	keys := sysfsCoreKeys(s, c.Online)
	if len(keys) < len(c.Online) {
		if k := cpuinfoCoreKeys(blocks); len(k) >= len(c.Online) && len(k) > 0 {
			keys = k
		} else {
			warn(fmt.Errorf("CPU topology unknown (no sysfs topology, no physical id/core id in /proc/cpuinfo): counting each CPU as a core"))
			keys = map[int]coreKey{}
			for _, cpu := range c.Online {
				keys[cpu] = coreKey{pkg: 0, core: strconv.Itoa(cpu)}
			}
		}
	}
	cores := map[coreKey]bool{}
	pkgs := map[int]bool{}
	for _, cpu := range c.Online {
		if k, ok := keys[cpu]; ok {
			cores[k] = true
			pkgs[k.pkg] = true
		}
	}
	c.Physical, c.Sockets = len(cores), len(pkgs)
	return c, keys
}

// sysfsCoreKeys reads each online CPU's topology directory.
func sysfsCoreKeys(s sysFS, online CPUSet) map[int]coreKey {
	keys := map[int]coreKey{}
	for _, cpu := range online {
		dir := fmt.Sprintf("sys/devices/system/cpu/cpu%d/topology/", cpu)
		pkg, err := s.readInt(dir + "physical_package_id")
		if err != nil {
			continue
		}
		// The set of hardware threads sharing the core identifies it
		// without relying on core_id, which on some arm64 systems is
		// only unique within a cluster.
		var core string
		for _, f := range []string{"core_cpus_list", "thread_siblings_list"} {
			if l, err := s.readString(dir + f); err == nil {
				if set, err := ParseCPUList(l); err == nil && set.Contains(cpu) {
					core = set.String()
					break
				}
			}
		}
		if core == "" {
			id, err := s.readInt(dir + "core_id")
			if err != nil {
				continue
			}
			die, _ := s.readInt(dir + "die_id")
			core = fmt.Sprintf("%d:%d", die, id)
		}
		keys[cpu] = coreKey{pkg: int(pkg), core: core}
	}
	return keys
}

func cpuinfoCoreKeys(blocks []cpuinfoBlock) map[int]coreKey {
	keys := map[int]coreKey{}
	for _, b := range blocks {
		cpu, err1 := strconv.Atoi(b["processor"])
		pkg, err2 := strconv.Atoi(b["physical id"])
		core, err3 := strconv.Atoi(b["core id"])
		if err1 == nil && err2 == nil && err3 == nil {
			keys[cpu] = coreKey{pkg: pkg, core: strconv.Itoa(core)}
		}
	}
	return keys
}

// cpuinfoProcessors lists the "processor" numbers in /proc/cpuinfo.
func cpuinfoProcessors(blocks []cpuinfoBlock) CPUSet {
	var set CPUSet
	for _, b := range blocks {
		if n, err := strconv.Atoi(b["processor"]); err == nil && n >= 0 && n < maxCPUs {
			set = append(set, n)
		}
	}
	set, _ = ParseCPUList(set.String()) // sort and dedupe
	return set
}

// statusAffinity reads Cpus_allowed_list from /proc/self/status: the
// file-based view of the affinity mask, for trees other than the live one.
func statusAffinity(s sysFS) (CPUSet, error) {
	b, err := s.read("proc/self/status")
	if err != nil {
		return nil, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			set, err := ParseCPUList(v)
			if err != nil {
				return nil, fmt.Errorf("%s: Cpus_allowed_list: %w", s.path("proc/self/status"), err)
			}
			return set, nil
		}
	}
	return nil, fmt.Errorf("%s: no Cpus_allowed_list", s.path("proc/self/status"))
}

// affinity returns the CPUs this process may run on: from the kernel on
// the live system, from /proc/self/status in a tree of files. When
// neither answers, every online CPU is assumed allowed, with a warning.
func affinity(s sysFS, live bool, online CPUSet, warn func(error)) CPUSet {
	if live {
		set, err := liveAffinity()
		if err == nil && len(set) > 0 {
			return set
		}
		if err == nil {
			err = errors.New("empty mask")
		}
		warn(fmt.Errorf("sched_getaffinity: %w", err))
	}
	set, err := statusAffinity(s)
	if err == nil && len(set) > 0 {
		return set
	}
	warn(err)
	return online
}
