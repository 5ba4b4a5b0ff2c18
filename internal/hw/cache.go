package hw

import (
	"fmt"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// A Cache is one level of CPU cache as seen from CPU 0.
type Cache struct {
	Level     int    `json:"level"`
	Type      string `json:"type"` // "data", "instruction" or "unified"
	SizeBytes int64  `json:"size_bytes"`
	LineBytes int    `json:"line_bytes,omitempty"`
	// SharedBy is how many CPUs share one instance (1 or 2 for a private
	// L1 or L2, a whole CCX or socket for an L3); 0 when unknown.
	SharedBy int `json:"shared_by,omitempty"`
	// Instances counts the copies of this cache among the online CPUs;
	// 0 when unknown.
	Instances int `json:"instances,omitempty"`
}

// Name is the usual short name: "L1d", "L1i", "L2", "L3".
func (c Cache) Name() string {
	switch c.Type {
	case "data":
		return fmt.Sprintf("L%dd", c.Level)
	case "instruction":
		return fmt.Sprintf("L%di", c.Level)
	}
	return fmt.Sprintf("L%d", c.Level)
}

// detectCaches reads cpu0's cache directories in sysfs, counting instances
// across the online CPUs; on the live system without them (some VMs and
// sandboxes) it asks the CPU.
func detectCaches(s sysFS, online CPUSet, live bool, warn func(error)) []Cache {
	const cpuDir = "sys/devices/system/cpu/"
	idx, err := s.numberedEntries(cpuDir+"cpu0/cache", "index")
	if err != nil || len(idx) == 0 {
		if live {
			return cpuidCaches()
		}
		if err != nil {
			warn(err)
		}
		return nil
	}
	var caches []Cache
	for _, i := range idx {
		dir := fmt.Sprintf(cpuDir+"cpu0/cache/index%d/", i)
		level, err := s.readInt(dir + "level")
		if err != nil {
			warn(err)
			continue
		}
		typ, err := s.readString(dir + "type")
		if err != nil {
			warn(err)
			continue
		}
		sizeStr, err := s.readString(dir + "size")
		if err != nil {
			warn(err)
			continue
		}
		size, err := parseSize(sizeStr)
		if err != nil {
			warn(s.wrap(dir+"size", err))
			continue
		}
		c := Cache{Level: int(level), Type: strings.ToLower(typ), SizeBytes: size}
		if line, err := s.readInt(dir + "coherency_line_size"); err == nil && line > 0 && line <= 4096 {
			c.LineBytes = int(line)
		}
		if l, err := s.readString(dir + "shared_cpu_list"); err == nil {
			if set, err := ParseCPUList(l); err == nil {
				c.SharedBy = len(set)
			}
		}
		c.Instances = cacheInstances(s, online, i)
		caches = append(caches, c)
	}
	return caches
}

// cacheInstances counts the distinct shared_cpu_list values of cache
// index i across the online CPUs.
func cacheInstances(s sysFS, online CPUSet, i int) int {
	seen := map[string]bool{}
	for _, cpu := range online {
		l, err := s.readString(fmt.Sprintf("sys/devices/system/cpu/cpu%d/cache/index%d/shared_cpu_list", cpu, i))
		if err != nil {
			return 0
		}
		seen[l] = true
	}
	return len(seen)
}

func cpuidCaches() []Cache {
	var caches []Cache
	add := func(level int, typ string, size int) {
		if size > 0 {
			caches = append(caches, Cache{Level: level, Type: typ, SizeBytes: int64(size), LineBytes: cpuid.CPU.CacheLine})
		}
	}
	add(1, "data", cpuid.CPU.Cache.L1D)
	add(1, "instruction", cpuid.CPU.Cache.L1I)
	add(2, "unified", cpuid.CPU.Cache.L2)
	add(3, "unified", cpuid.CPU.Cache.L3)
	return caches
}

// lastLevel returns the largest-numbered data or unified cache.
func lastLevel(caches []Cache) (Cache, bool) {
	i := -1
	for j, c := range caches {
		if c.Type != "instruction" && (i < 0 || c.Level > caches[i].Level) {
			i = j
		}
	}
	if i < 0 {
		return Cache{}, false
	}
	return caches[i], true
}
