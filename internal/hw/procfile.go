package hw

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// A cpuinfoBlock is one processor's "key : value" lines from /proc/cpuinfo.
type cpuinfoBlock map[string]string

// parseCPUInfo splits /proc/cpuinfo into its blank-line separated blocks.
// Keys keep their spelling ("model name", "CPU implementer"); the lines
// before the first "processor" key and any trailing block without one
// (32-bit ARM's "Hardware") are kept as blocks too, so callers look for
// the keys they need rather than trusting positions.
func parseCPUInfo(data []byte) ([]cpuinfoBlock, error) {
	var blocks []cpuinfoBlock
	var cur cpuinfoBlock
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimRight(line, " \t\r")
		if len(line) == 0 {
			cur = nil
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("line %d: no colon in %.40q", i+1, line)
		}
		key := string(bytes.TrimSpace(k))
		if key == "" {
			return nil, fmt.Errorf("line %d: empty key", i+1)
		}
		if cur == nil {
			cur = cpuinfoBlock{}
			blocks = append(blocks, cur)
		}
		cur[key] = string(bytes.TrimSpace(v))
	}
	return blocks, nil
}

// parseMeminfo parses /proc/meminfo ("MemTotal:  24684084 kB") and a NUMA
// node's meminfo ("Node 0 MemTotal:  3893452 kB") into bytes by key.
// Lines without a unit (HugePages_Total) are counts and kept as they are.
func parseMeminfo(data []byte) (map[string]int64, error) {
	m := map[string]int64{}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: no colon in %.40q", i+1, line)
		}
		if f := strings.Fields(k); len(f) == 3 && f[0] == "Node" {
			k = f[2] // NUMA node meminfo: "Node <n> <key>"
		}
		k = strings.TrimSpace(k)
		f := strings.Fields(v)
		if len(f) == 0 || len(f) > 2 {
			return nil, fmt.Errorf("line %d: %s: bad value %.40q", i+1, k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("line %d: %s: bad number %.40q", i+1, k, f[0])
		}
		if len(f) == 2 {
			if f[1] != "kB" {
				return nil, fmt.Errorf("line %d: %s: unknown unit %.10q", i+1, k, f[1])
			}
			if n > 1<<53 {
				return nil, fmt.Errorf("line %d: %s: %d kB is too large", i+1, k, n)
			}
			n *= 1024
		}
		m[k] = n
	}
	return m, nil
}

// parseSize parses a sysfs cache size such as "32K", "1024K" or "8M".
func parseSize(s string) (int64, error) {
	orig := s
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	if mult != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return 0, fmt.Errorf("bad size %q", orig)
	}
	return n * mult, nil
}
