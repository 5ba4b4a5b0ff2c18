package hw

// Memory is the machine's memory and what this process's cgroup lets it
// use. Sizes are in bytes; 0 means unknown, or for the cgroup fields no
// limit.
type Memory struct {
	Total     int64 `json:"total_bytes"`     // MemTotal
	Available int64 `json:"available_bytes"` // MemAvailable: free plus reclaimable

	// CgroupLimit is the tightest cgroup memory limit along this process's
	// cgroup path (v2 memory.max, v1 memory.limit_in_bytes).
	CgroupLimit       int64  `json:"cgroup_limit_bytes,omitempty"`
	CgroupLimitSource string `json:"cgroup_limit_source,omitempty"`
	// CgroupUsage is the usage of the cgroup that sets the closest limit,
	// page cache included.
	CgroupUsage int64 `json:"cgroup_usage_bytes,omitempty"`
	// CgroupAvailable is the room left under the limits: the smallest
	// limit minus working set (usage less inactive file cache) along the
	// path.
	CgroupAvailable int64 `json:"cgroup_available_bytes,omitempty"`
}

// Effective is how much memory this process can still allocate without
// swapping or meeting its cgroup's OOM killer: the smaller of the system's
// available memory and the room under the cgroup limit; 0 when unknown
// (or when nothing is left).
func (m Memory) Effective() int64 {
	avail := m.Available
	if avail == 0 {
		avail = m.Total // kernels before 3.14 have no MemAvailable
	}
	if m.CgroupLimit > 0 && (avail == 0 || m.CgroupAvailable < avail) {
		return m.CgroupAvailable
	}
	return avail
}

// Meminfo reads the live system's /proc/meminfo: bytes by key
// ("MemTotal", "MemAvailable", "Cached", ...), and plain counts for the
// keys without a unit ("HugePages_Total").
func Meminfo() (map[string]int64, error) {
	return newSysFS("/").meminfo("proc/meminfo")
}

func detectMemory(s sysFS, cg *cgroups, warn func(error)) Memory {
	var m Memory
	if mi, err := s.meminfo("proc/meminfo"); err != nil {
		warn(err)
	} else {
		m.Total, m.Available = mi["MemTotal"], mi["MemAvailable"]
	}
	if cg != nil {
		cm, err := cg.memory(s)
		if err != nil {
			warn(err)
		}
		m.CgroupLimit, m.CgroupLimitSource = cm.limit, cm.source
		m.CgroupUsage, m.CgroupAvailable = cm.usage, cm.room
	}
	return m
}
