package hw

import "fmt"

// A NUMANode is a group of CPUs with the memory closest to them.
type NUMANode struct {
	ID            int    `json:"id"`
	CPUs          CPUSet `json:"cpus"`
	MemTotalBytes int64  `json:"mem_total_bytes"` // 0: unknown
}

// detectNUMA lists /sys/devices/system/node/node*. A kernel built without
// NUMA support has no such directory; the machine is then one node, which
// the caller can see from an empty list.
func detectNUMA(s sysFS, warn func(error)) []NUMANode {
	const dir = "sys/devices/system/node"
	if !s.exists(dir) {
		return nil
	}
	ids, err := s.numberedEntries(dir, "node")
	if err != nil {
		warn(err)
		return nil
	}
	var nodes []NUMANode
	for _, id := range ids {
		n := NUMANode{ID: id}
		nodeDir := fmt.Sprintf("%s/node%d/", dir, id)
		if l, err := s.readString(nodeDir + "cpulist"); err != nil {
			warn(err)
		} else if n.CPUs, err = ParseCPUList(l); err != nil {
			warn(s.wrap(nodeDir+"cpulist", err))
		}
		if mi, err := s.meminfo(nodeDir + "meminfo"); err != nil {
			warn(err)
		} else {
			n.MemTotalBytes = mi["MemTotal"]
		}
		nodes = append(nodes, n)
	}
	return nodes
}
