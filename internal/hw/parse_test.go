package hw

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CPUSet
		str  string
	}{
		{"", nil, ""},
		{"\n", nil, ""},
		{"0", CPUSet{0}, "0"},
		{"0-3\n", CPUSet{0, 1, 2, 3}, "0-3"},
		{"0-1,4,6-7", CPUSet{0, 1, 4, 6, 7}, "0-1,4,6-7"},
		{"8,0-2,1", CPUSet{0, 1, 2, 8}, "0-2,8"},
		{"5-5", CPUSet{5}, "5"},
	} {
		got, err := ParseCPUList(tc.in)
		if err != nil {
			t.Errorf("ParseCPUList(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, want %v", tc.in, []int(got), []int(tc.want))
		}
		if s := got.String(); s != tc.str {
			t.Errorf("ParseCPUList(%q).String() = %q, want %q", tc.in, s, tc.str)
		}
	}
	for _, bad := range []string{"-", "0-", "-1", "3-1", "a", "1,,2", "+1", "0x1", "1-2-3", "0-65536", "99999999999999999999", "0-7:2/4"} {
		if set, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) = %v, want an error", bad, set)
		}
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"", "0", "0-3", "0-1,4,6-7\n", "3-1", "0-65535", "1,1,1", "0-7:2/4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseCPUList(s)
		if err != nil {
			return
		}
		if len(set) > maxCPUs || !slices.IsSorted(set) || len(slices.Compact(slices.Clone(set))) != len(set) {
			t.Fatalf("ParseCPUList(%q): %d CPUs, sorted %v", s, len(set), slices.IsSorted(set))
		}
		again, err := ParseCPUList(set.String())
		if err != nil || !reflect.DeepEqual(again, set) {
			t.Fatalf("round trip of %q through %q: %v, %v", s, set.String(), again, err)
		}
	})
}

func TestParseCPUInfo(t *testing.T) {
	in := "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2\npower management:\n\n" +
		"processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu\n\n\n"
	blocks, err := parseCPUInfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []cpuinfoBlock{
		{"processor": "0", "model name": "AMD EPYC", "flags": "fpu avx2", "power management": ""},
		{"processor": "1", "model name": "AMD EPYC", "flags": "fpu"},
	}
	if !reflect.DeepEqual(blocks, want) {
		t.Errorf("got %v, want %v", blocks, want)
	}
	// A feature counts only if every CPU has it.
	if f := cpuFlags(blocks); !f["fpu"] || f["avx2"] {
		t.Errorf("common flags = %v", f)
	}
	for _, bad := range []string{"processor 0\n", ": 0\n"} {
		if _, err := parseCPUInfo([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseCPUInfo(%q): error %v, want one naming line 1", bad, err)
		}
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	f.Add([]byte(x86CPU{n: 2, vendor: "AuthenticAMD", model: "AMD EPYC", family: 25, modelNo: 17, stepping: 1,
		flags: "avx2 fma", pkg: func(int) int { return 0 }, core: func(i int) int { return i }}.cpuinfo()))
	f.Add([]byte(rk3588().files["proc/cpuinfo"]))
	f.Add([]byte("processor : 0\n\n\nCPU part : 0xzzz\nCPU implementer : -1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := parseCPUInfo(data)
		if err != nil {
			return
		}
		if len(blocks) > len(data) {
			t.Fatalf("%d blocks from %d bytes", len(blocks), len(data))
		}
		// Whatever parsed must also identify without panicking.
		for _, arch := range []string{"amd64", "arm64"} {
			c := detectCPU(arch, blocks, false)
			_ = c.Features.Names()
		}
		detectCores(sysFS{root: "/nonexistent", fsys: emptyFS{}}, blocks, false, nil, func(error) {})
	})
}

func TestParseMeminfo(t *testing.T) {
	m, err := parseMeminfo([]byte("MemTotal:       24684084 kB\nMemAvailable:   24443616 kB\nHugePages_Total:       0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"MemTotal": 24684084 * 1024, "MemAvailable": 24443616 * 1024, "HugePages_Total": 0}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %v, want %v", m, want)
	}
	node, err := parseMeminfo([]byte("Node 1 MemTotal:        3893452 kB\nNode 1 MemFree:         3677892 kB\n"))
	if err != nil || node["MemTotal"] != 3893452*1024 {
		t.Errorf("node meminfo: %v, %v", node, err)
	}
	for _, bad := range []string{"MemTotal 1 kB", "MemTotal: x kB", "MemTotal: 1 MB", "MemTotal: -1 kB", "MemTotal: 99999999999999999 kB", "MemTotal:"} {
		if _, err := parseMeminfo([]byte(bad)); err == nil {
			t.Errorf("parseMeminfo(%q): no error", bad)
		}
	}
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add([]byte("MemTotal:       24684084 kB\nMemAvailable:   24443616 kB\n"))
	f.Add([]byte("Node 0 MemTotal:  1 kB\nHugePages_Total: 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMeminfo(data)
		if err != nil {
			return
		}
		for k, v := range m {
			if v < 0 {
				t.Fatalf("%s = %d", k, v)
			}
		}
	})
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"32K": 32 << 10, "1024K": 1 << 20, "8M": 8 << 20, "1G": 1 << 30, "512": 512} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "K", "-1K", "1T", "99999999999G"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): no error", bad)
		}
	}
}

func TestCgroupAncestry(t *testing.T) {
	for _, tc := range []struct {
		mnt  cgroupMount
		path string
		want []string
	}{
		{cgroupMount{root: "/", point: "sys/fs/cgroup"}, "/a/b", []string{"sys/fs/cgroup/a/b", "sys/fs/cgroup/a", "sys/fs/cgroup"}},
		{cgroupMount{root: "/", point: "sys/fs/cgroup"}, "/", []string{"sys/fs/cgroup"}},
		// Docker without a cgroup namespace bind-mounts its own cgroup.
		{cgroupMount{root: "/docker/abc", point: "sys/fs/cgroup/memory"}, "/docker/abc", []string{"sys/fs/cgroup/memory"}},
		{cgroupMount{root: "/docker/abc", point: "sys/fs/cgroup/memory"}, "/docker/abc/x", []string{"sys/fs/cgroup/memory/x", "sys/fs/cgroup/memory"}},
		// Outside what is mounted: only the mount itself is visible.
		{cgroupMount{root: "/docker/abc", point: "sys/fs/cgroup/memory"}, "/docker/abcd", []string{"sys/fs/cgroup/memory"}},
	} {
		if got := ancestry(tc.mnt, tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("ancestry(%+v, %q) = %q, want %q", tc.mnt, tc.path, got, tc.want)
		}
	}
}

func TestParseMountinfoEscapes(t *testing.T) {
	mounts, err := parseMountinfo([]byte(`40 31 0:37 / /sys/fs/cgroup/my\040dir rw - cgroup cgroup rw,cpu,cpuacct` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupMount{{controllers: []string{"cpu", "cpuacct"}, root: "/", point: "sys/fs/cgroup/my dir"}}
	if !reflect.DeepEqual(mounts, want) {
		t.Errorf("got %+v, want %+v", mounts, want)
	}
}

func FuzzParseCgroupFiles(f *testing.F) {
	f.Add([]byte(xeonNVIDIA().files["proc/self/mountinfo"]), []byte(xeonNVIDIA().files["proc/self/cgroup"]))
	f.Add([]byte(laptopAMDGPU().files["proc/self/mountinfo"]), []byte(laptopAMDGPU().files["proc/self/cgroup"]))
	f.Add([]byte("1 2 3 /.. /../x - cgroup2 c rw\n"), []byte("0::/../..\n"))
	f.Fuzz(func(t *testing.T, mountinfo, cgroup []byte) {
		mounts, err1 := parseMountinfo(mountinfo)
		members, err2 := parseProcCgroup(cgroup)
		if err1 != nil || err2 != nil {
			return
		}
		cg := &cgroups{mounts: mounts, memberships: members}
		for _, c := range []string{"cpu", "memory"} {
			v1, v2 := cg.dirs(c)
			for _, d := range append(v1, v2...) {
				if strings.HasPrefix(d, "/") || strings.Contains("/"+d+"/", "/../") {
					t.Fatalf("directory %q escapes the root", d)
				}
			}
		}
	})
}

func TestParsePCIIDs(t *testing.T) {
	db := xeonNVIDIA().files["usr/share/hwdata/pci.ids"]
	for _, tc := range []struct {
		vendor, device uint16
		vn, dn         string
	}{
		{0x10de, 0x2331, "NVIDIA Corporation", "GH100 [H100 PCIe]"},
		{0x10de, 0x16c1, "NVIDIA Corporation", ""}, // a subsystem id, not a device
		{0x1a03, 0x2000, "ASPEED Technology, Inc.", "ASPEED Graphics Family"},
		{0x8086, 0x0000, "Intel Corporation", ""},
		{0x1234, 0x1111, "", ""},
	} {
		vn, dn, err := parsePCIIDs(strings.NewReader(db), tc.vendor, tc.device)
		if err != nil || vn != tc.vn || dn != tc.dn {
			t.Errorf("%04x:%04x = %q, %q, %v; want %q, %q", tc.vendor, tc.device, vn, dn, err, tc.vn, tc.dn)
		}
	}
	long := "10de  NVIDIA\n\t" + strings.Repeat("x", 100<<10) + "\n"
	if _, _, err := parsePCIIDs(strings.NewReader(long), 0x10de, 0x2330); err == nil {
		t.Error("no error for a 100 KiB line")
	}
}

func FuzzParsePCIIDs(f *testing.F) {
	f.Add([]byte(xeonNVIDIA().files["usr/share/hwdata/pci.ids"]), uint16(0x10de), uint16(0x2330))
	f.Add([]byte("10de  \n\t2330\n\t\t\n"), uint16(0x10de), uint16(0x2330))
	f.Fuzz(func(t *testing.T, data []byte, vendor, device uint16) {
		vn, dn, _ := parsePCIIDs(bytes.NewReader(data), vendor, device)
		if len(vn) > len(data) || len(dn) > len(data) {
			t.Fatalf("names longer than the input")
		}
	})
}
