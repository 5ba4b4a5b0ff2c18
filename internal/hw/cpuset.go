package hw

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxCPUs bounds the CPU numbers a cpulist may name. Linux allows at most
// 8192 (NR_CPUS); the margin keeps a corrupt list from allocating much.
const maxCPUs = 1 << 16

// A CPUSet is a sorted set of CPU numbers. It is written as Linux writes
// CPU lists (sysfs cpulist files, Cpus_allowed_list): "0-3,8,10-11".
type CPUSet []int

// ParseCPUList parses a Linux CPU list such as "0-3,8,10-11". The empty
// string (or a lone newline, as sysfs writes it) is the empty set, nil.
func ParseCPUList(s string) (CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var set CPUSet
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseCPUNumber(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = parseCPUNumber(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", s, err)
			}
			if b < a {
				return nil, fmt.Errorf("cpu list %q: range %q runs backwards", s, part)
			}
		}
		for c := a; c <= b; c++ {
			set = append(set, c)
		}
		if len(set) > maxCPUs {
			return nil, fmt.Errorf("cpu list %q: more than %d CPUs", s, maxCPUs)
		}
	}
	slices.Sort(set)
	return slices.Compact(set), nil
}

func parseCPUNumber(s string) (int, error) {
	// Only plain decimal digits: strconv.Atoi would also take "+1".
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad CPU number %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n >= maxCPUs {
		return 0, fmt.Errorf("CPU number %q out of range [0,%d)", s, maxCPUs)
	}
	return n, nil
}

// String writes the set as a CPU list, with runs collapsed to ranges.
func (s CPUSet) String() string {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	return b.String()
}

// MarshalText writes the set as a CPU list, so that JSON shows "0-63"
// rather than 64 numbers.
func (s CPUSet) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a CPU list.
func (s *CPUSet) UnmarshalText(b []byte) error {
	set, err := ParseCPUList(string(b))
	if err != nil {
		return err
	}
	*s = set
	return nil
}

// Contains reports whether cpu is in the set.
func (s CPUSet) Contains(cpu int) bool {
	_, ok := slices.BinarySearch(s, cpu)
	return ok
}
