package hw

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// cgroupUnlimited is where cgroup v1 limits stop meaning anything: the
// kernel writes "no limit" as the largest page-aligned int64 (whose exact
// value depends on the page size), and no machine has 4 EiB.
const cgroupUnlimited = 1 << 62

// A cgroupMount is a cgroup hierarchy mounted in this mount namespace.
type cgroupMount struct {
	v2          bool
	controllers []string // v1 only: "cpu", "cpuacct", "memory", ...
	root        string   // the hierarchy path mounted (usually "/")
	point       string   // where, as a name in the sysFS
}

// A cgroupMembership is one line of /proc/self/cgroup.
type cgroupMembership struct {
	v2          bool
	controllers []string
	path        string
}

// cgroups knows where this process's control groups are.
type cgroups struct {
	mounts      []cgroupMount
	memberships []cgroupMembership
}

func readCgroups(s sysFS) (*cgroups, error) {
	mi, err := s.read("proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	mounts, err := parseMountinfo(mi)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path("proc/self/mountinfo"), err)
	}
	pc, err := s.read("proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	members, err := parseProcCgroup(pc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path("proc/self/cgroup"), err)
	}
	return &cgroups{mounts: mounts, memberships: members}, nil
}

// parseMountinfo returns the cgroup mounts listed in /proc/self/mountinfo:
// "36 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory".
func parseMountinfo(data []byte) ([]cgroupMount, error) {
	var mounts []cgroupMount
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 3 {
			return nil, fmt.Errorf("line %d: malformed: %.80q", i+1, line)
		}
		var m cgroupMount
		switch g[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			for _, o := range strings.Split(g[2], ",") {
				if o != "rw" && o != "ro" && !strings.Contains(o, "=") {
					m.controllers = append(m.controllers, o)
				}
			}
		default:
			continue
		}
		point, err := fsName(unescapeMountinfo(f[4]))
		if err != nil {
			return nil, fmt.Errorf("line %d: mount point: %w", i+1, err)
		}
		m.root, m.point = unescapeMountinfo(f[3]), point
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// unescapeMountinfo undoes the kernel's octal escapes of space, tab,
// newline and backslash ("\040").
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseProcCgroup parses /proc/self/cgroup: "4:memory:/user.slice" (v1),
// "0::/user.slice/session-1.scope" (v2).
func parseProcCgroup(data []byte) ([]cgroupMembership, error) {
	var ms []cgroupMembership
	for i, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			return nil, fmt.Errorf("line %d: malformed: %.80q", i+1, line)
		}
		m := cgroupMembership{path: f[2]}
		if f[0] == "0" && f[1] == "" {
			m.v2 = true
		} else {
			for _, c := range strings.Split(f[1], ",") {
				m.controllers = append(m.controllers, strings.TrimPrefix(c, "name="))
			}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// dirs returns the cgroup directories that govern controller, each from
// this process's cgroup up to the top of the mounted hierarchy: the v1
// hierarchy that has the controller, if mounted, and the v2 one. Limits
// apply at every level, so callers take the tightest.
func (cg *cgroups) dirs(controller string) (v1, v2 []string) {
	for _, m := range cg.memberships {
		for _, mnt := range cg.mounts {
			switch {
			case m.v2 && mnt.v2:
				v2 = ancestry(mnt, m.path)
			case !m.v2 && !mnt.v2 && slices.Contains(m.controllers, controller) &&
				slices.Contains(mnt.controllers, controller):
				v1 = ancestry(mnt, m.path)
			}
		}
	}
	return v1, v2
}

// ancestry lists the directories from the cgroup at hierarchy path p up
// to the mount point of mnt.
func ancestry(mnt cgroupMount, p string) []string {
	p, root := path.Clean(p), path.Clean(mnt.root)
	var rel string
	switch {
	case root == "/":
		rel = p
	case p == root:
		rel = "/"
	case strings.HasPrefix(p, root+"/"):
		rel = p[len(root):]
	default:
		// The process's cgroup is outside what is mounted here (a
		// container looking at part of its host's hierarchy): only
		// the mount's own level is visible.
		return []string{mnt.point}
	}
	var dirs []string
	for {
		dirs = append(dirs, path.Join(mnt.point, rel))
		if rel == "/" {
			return dirs
		}
		rel = path.Dir(rel)
	}
}

// cpuQuota returns the tightest CPU bandwidth limit, in CPUs, and the file
// that sets it; 0 when there is none.
func (cg *cgroups) cpuQuota(s sysFS) (quota float64, source string, err error) {
	v1, v2 := cg.dirs("cpu")
	var errs []error
	consider := func(q float64, file string) {
		if q > 0 && (quota == 0 || q < quota) {
			quota, source = q, s.path(file)
		}
	}
	for _, d := range v2 {
		file := path.Join(d, "cpu.max")
		str, err := s.readString(file)
		if err != nil {
			continue // the root cgroup has no cpu.max
		}
		f := strings.Fields(str)
		if len(f) != 2 {
			errs = append(errs, fmt.Errorf("%s: malformed %q", s.path(file), str))
			continue
		}
		if f[0] == "max" {
			continue
		}
		q, err1 := strconv.ParseInt(f[0], 10, 64)
		p, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
			errs = append(errs, fmt.Errorf("%s: malformed %q", s.path(file), str))
			continue
		}
		consider(float64(q)/float64(p), file)
	}
	for _, d := range v1 {
		qf, pf := path.Join(d, "cpu.cfs_quota_us"), path.Join(d, "cpu.cfs_period_us")
		q, err := s.readInt(qf)
		if err != nil {
			continue
		}
		if q < 0 {
			continue // -1: no quota
		}
		p, err := s.readInt(pf)
		if err != nil || p <= 0 || q == 0 {
			errs = append(errs, fmt.Errorf("%s: quota %d with period %d (%v)", s.path(qf), q, p, err))
			continue
		}
		consider(float64(q)/float64(p), qf)
	}
	return quota, source, errors.Join(errs...)
}

// cgroupMemory is the tightest memory limit along this process's cgroup
// path and the room left under it.
type cgroupMemory struct {
	limit  int64  // bytes; 0: none
	source string // the file that sets it
	usage  int64  // this cgroup's usage, page cache included
	room   int64  // smallest (limit - working set) along the path
}

// memory reads the cgroup memory limits. The working set is usage minus
// inactive file cache (as the kubelet and cAdvisor count it): the kernel
// reclaims that cache before it lets the cgroup hit its limit, and
// counting it would make a server that memory-maps its model files look
// out of memory as soon as it had read them once.
func (cg *cgroups) memory(s sysFS) (cgroupMemory, error) {
	var m cgroupMemory
	var errs []error
	level := func(dir string, v2 bool) {
		limitFile, usageFile, inactiveKey := "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
		if v2 {
			limitFile, usageFile, inactiveKey = "memory.max", "memory.current", "inactive_file"
		}
		str, err := s.readString(path.Join(dir, limitFile))
		if err != nil || str == "max" {
			return
		}
		limit, err := strconv.ParseInt(str, 10, 64)
		if err != nil || limit < 0 {
			errs = append(errs, fmt.Errorf("%s: bad limit %q", s.path(path.Join(dir, limitFile)), str))
			return
		}
		if limit >= cgroupUnlimited {
			return
		}
		usage, err := s.readInt(path.Join(dir, usageFile))
		if err != nil {
			errs = append(errs, err)
			return
		}
		working := usage
		if stat, err := s.read(path.Join(dir, "memory.stat")); err == nil {
			if inactive, ok := statValue(stat, inactiveKey); ok && inactive <= usage {
				working -= inactive
			}
		}
		room := max(limit-working, 0)
		if m.limit == 0 {
			// The first limited level is the one closest to us.
			m.limit, m.source, m.usage, m.room = limit, s.path(path.Join(dir, limitFile)), usage, room
			return
		}
		if limit < m.limit {
			m.limit, m.source = limit, s.path(path.Join(dir, limitFile))
		}
		m.room = min(m.room, room)
	}
	v1, v2 := cg.dirs("memory")
	for _, d := range v1 {
		level(d, false)
	}
	for _, d := range v2 {
		level(d, true)
	}
	return m, errors.Join(errs...)
}

// statValue finds "key value" in a memory.stat file.
func statValue(stat []byte, key string) (int64, bool) {
	for line := range strings.Lines(string(stat)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil && n >= 0 && n < math.MaxInt64
		}
	}
	return 0, false
}
