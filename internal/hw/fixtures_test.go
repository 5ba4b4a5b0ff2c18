package hw

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// discover runs a Prober over the tree and fails t on error.
func discover(t *testing.T, tr tree, arch string) *Info {
	t.Helper()
	p := Prober{Root: tr.write(t), Arch: arch}
	info, err := p.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Whatever was found must survive a JSON round trip (CPUSet's
	// text form in particular).
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	var back Info
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, info) {
		t.Errorf("JSON round trip changed the info:\n got %+v\nwant %+v", back, *info)
	}
	return info
}

// checkWarnings requires that every warning mentions one of the files
// and that every file is mentioned.
func checkWarnings(t *testing.T, info *Info, files ...string) {
	t.Helper()
	for _, w := range info.Warnings {
		if !slices.ContainsFunc(files, func(f string) bool { return strings.Contains(w, f) }) {
			t.Errorf("unexpected warning: %s", w)
		}
	}
	for _, f := range files {
		if !slices.ContainsFunc(info.Warnings, func(w string) bool { return strings.Contains(w, f) }) {
			t.Errorf("no warning about %s in %q", f, info.Warnings)
		}
	}
}

func checkEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// xeonNVIDIA is a two-socket server (4 cores with 2 threads each) with two
// NVIDIA GPUs, one without a driver, and its management controller's VGA,
// running in a systemd service under cgroup v2 with CPU and memory limits
// on the service and a tighter memory room on its parent slice.
func xeonNVIDIA() tree {
	tr := newTree()
	pkg := func(i int) int { return i / 4 }
	tr.files["proc/cpuinfo"] = x86CPU{
		n: 8, vendor: "GenuineIntel", model: "Intel(R) Xeon(R) Platinum 8480+",
		family: 6, modelNo: 143, stepping: 8,
		flags: "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 avx512f avx512dq avx512bw avx512vl " +
			"avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8",
		pkg: pkg, core: func(i int) int { return i % 4 / 2 },
	}.cpuinfo()
	tr.topology(8, pkg, func(i int) string { return cpulistOf(i&^1, i|1) }, "core_cpus_list")
	tr.caches(8,
		cacheSpec{1, "Data", "48K", func(i int) string { return cpulistOf(i&^1, i|1) }},
		cacheSpec{1, "Instruction", "32K", func(i int) string { return cpulistOf(i&^1, i|1) }},
		cacheSpec{2, "Unified", "2048K", func(i int) string { return cpulistOf(i&^1, i|1) }},
		cacheSpec{3, "Unified", "107520K", func(i int) string { return [...]string{"0-3", "4-7"}[i/4] }},
	)
	tr.files["proc/meminfo"] = "MemTotal:       67108864 kB\nMemFree:        50331648 kB\nMemAvailable:   62914560 kB\n" +
		"Buffers:            2016 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n"
	tr.files["proc/sys/kernel/osrelease"] = "6.8.0-45-generic\n"
	tr.files["proc/self/status"] = "Name:\tainative\nCpus_allowed:\t1f\nCpus_allowed_list:\t0-4\nMems_allowed_list:\t0-1\n"
	tr.files["proc/self/cgroup"] = "0::/system.slice/ainative.service\n"
	tr.files["proc/self/mountinfo"] = "22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw\n" +
		"25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	svc := "sys/fs/cgroup/system.slice/ainative.service/"
	tr.files[svc+"cpu.max"] = "250000 100000\n"
	tr.files[svc+"memory.max"] = "8589934592\n"
	tr.files[svc+"memory.current"] = "3221225472\n"
	tr.files[svc+"memory.stat"] = "anon 2147483648\nfile 1073741824\nactive_file 0\ninactive_file 1073741824\n"
	tr.files["sys/fs/cgroup/system.slice/cpu.max"] = "max 100000\n"
	tr.files["sys/fs/cgroup/system.slice/memory.max"] = "17179869184\n"
	tr.files["sys/fs/cgroup/system.slice/memory.current"] = "16106127360\n"
	tr.files["sys/fs/cgroup/system.slice/memory.stat"] = "anon 16106127360\ninactive_file 0\n"
	tr.files["sys/fs/cgroup/cgroup.controllers"] = "cpuset cpu io memory pids\n"
	for n, cpus := range []string{"0-3", "4-7"} {
		dir := "sys/devices/system/node/node" + string(rune('0'+n)) + "/"
		tr.files[dir+"cpulist"] = cpus + "\n"
		tr.files[dir+"meminfo"] = "Node " + string(rune('0'+n)) + " MemTotal:       33554432 kB\nNode 0 MemFree:        30000000 kB\n"
	}
	tr.files["sys/devices/system/node/possible"] = "0-1\n"
	tr.files["sys/devices/system/node/has_cpu"] = "0-1\n"

	tr.pci("0000:00:00.0", 0x060000, 0x8086, 0x09a2, "", nil)
	tr.pci("0000:03:00.0", 0x030000, 0x1a03, 0x2000, "ast", nil)
	tr.pci("0000:18:00.0", 0x030200, 0x10de, 0x2330, "nvidia", nil)
	tr.pci("0000:3b:00.0", 0x030200, 0x10de, 0x2331, "", nil)
	tr.files["proc/driver/nvidia/gpus/0000:18:00.0/information"] = "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 300\n" +
		"GPU UUID: \t GPU-2b4c0a8e-0000-0000-0000-000000000000\nVideo BIOS: \t 96.00.99.00.01\nBus Type: \t PCIe\n" +
		"DMA Size: \t 52 bits\nBus Location: \t 0000:18:00.0\nDevice Minor: \t 0\nGPU Excluded:\t No\n"
	tr.files["usr/share/hwdata/pci.ids"] = "# test database\n#\n" +
		"10de  NVIDIA Corporation\n\t2330  GH100 [H100 SXM5 80GB]\n\t\t10de 16c1  H100 SXM5 80GB\n\t2331  GH100 [H100 PCIe]\n" +
		"1a03  ASPEED Technology, Inc.\n\t1150  AST1150 PCI-to-PCI Bridge\n\t2000  ASPEED Graphics Family\n\t\t15d9 0832  X10SRL-F\n" +
		"8086  Intel Corporation\n\t09a2  Ice Lake Memory Map/VT-d\n" +
		"C 00  Unclassified device\n\t00  Non-VGA unclassified device\n"
	return tr
}

func TestXeonNVIDIACgroup2(t *testing.T) {
	info := discover(t, xeonNVIDIA(), "amd64")
	checkWarnings(t, info)
	c := info.CPU
	checkEqual(t, "vendor", c.Vendor, "GenuineIntel")
	checkEqual(t, "model name", c.ModelName, "Intel(R) Xeon(R) Platinum 8480+")
	checkEqual(t, "x86 id", *c.X86, X86ID{Family: 6, Model: 143, Stepping: 8})
	checkEqual(t, "feature source", c.FeatureSource, "cpuinfo")
	want := []string{"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
		"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"}
	if got := c.Features.Names(); !slices.Equal(got, want) {
		t.Errorf("features = %q, want %q", got, want)
	}
	checkEqual(t, "kernel", info.Kernel, "6.8.0-45-generic")

	k := info.Cores
	checkEqual(t, "logical", k.Logical, 8)
	checkEqual(t, "physical", k.Physical, 4)
	checkEqual(t, "sockets", k.Sockets, 2)
	checkEqual(t, "allowed", k.Allowed.String(), "0-4")
	checkEqual(t, "allowed physical", k.AllowedPhysical, 3) // cores {0,1} {2,3} {4,5}
	checkEqual(t, "quota", k.CgroupQuota, 2.5)
	if !strings.HasSuffix(k.CgroupQuotaSource, "/sys/fs/cgroup/system.slice/ainative.service/cpu.max") {
		t.Errorf("quota source = %q", k.CgroupQuotaSource)
	}
	checkEqual(t, "effective", k.Effective, 2.5)
	checkEqual(t, "default threads", info.DefaultThreads(), 2)

	wantCaches := []Cache{
		{Level: 1, Type: "data", SizeBytes: 48 * kiB, LineBytes: 64, SharedBy: 2, Instances: 4},
		{Level: 1, Type: "instruction", SizeBytes: 32 * kiB, LineBytes: 64, SharedBy: 2, Instances: 4},
		{Level: 2, Type: "unified", SizeBytes: 2 * miB, LineBytes: 64, SharedBy: 2, Instances: 4},
		{Level: 3, Type: "unified", SizeBytes: 105 * miB, LineBytes: 64, SharedBy: 4, Instances: 2},
	}
	if !reflect.DeepEqual(info.Caches, wantCaches) {
		t.Errorf("caches = %+v\nwant %+v", info.Caches, wantCaches)
	}
	if llc, ok := info.LastLevelCache(); !ok || llc.Name() != "L3" {
		t.Errorf("last level cache = %+v, %v", llc, ok)
	}

	m := info.Memory
	checkEqual(t, "total", m.Total, 64*giB)
	checkEqual(t, "available", m.Available, 60*giB)
	checkEqual(t, "cgroup limit", m.CgroupLimit, 8*giB)
	if !strings.HasSuffix(m.CgroupLimitSource, "/sys/fs/cgroup/system.slice/ainative.service/memory.max") {
		t.Errorf("cgroup limit source = %q", m.CgroupLimitSource)
	}
	checkEqual(t, "cgroup usage", m.CgroupUsage, 3*giB)
	// The service has 8 GiB - (3 - 1 inactive) = 6 GiB of room, but its
	// slice only 16 - 15 = 1 GiB.
	checkEqual(t, "cgroup room", m.CgroupAvailable, 1*giB)
	checkEqual(t, "effective memory", info.EffectiveMemory(), 1*giB)

	wantNUMA := []NUMANode{{ID: 0, CPUs: CPUSet{0, 1, 2, 3}, MemTotalBytes: 32 * giB}, {ID: 1, CPUs: CPUSet{4, 5, 6, 7}, MemTotalBytes: 32 * giB}}
	if !reflect.DeepEqual(info.NUMA, wantNUMA) {
		t.Errorf("NUMA = %+v, want %+v", info.NUMA, wantNUMA)
	}

	wantAccel := []Accelerator{
		{Kind: "display", Bus: "pci", Address: "0000:03:00.0", Class: "0x030000", VendorID: "0x1a03", DeviceID: "0x2000",
			Vendor: "ASPEED", Name: "ASPEED Graphics Family", NameSource: "pci.ids", Driver: "ast"},
		{Kind: "gpu", Bus: "pci", Address: "0000:18:00.0", Class: "0x030200", VendorID: "0x10de", DeviceID: "0x2330",
			Vendor: "NVIDIA", Name: "NVIDIA H100 80GB HBM3", NameSource: "driver", Driver: "nvidia"},
		{Kind: "gpu", Bus: "pci", Address: "0000:3b:00.0", Class: "0x030200", VendorID: "0x10de", DeviceID: "0x2331",
			Vendor: "NVIDIA", Name: "GH100 [H100 PCIe]", NameSource: "pci.ids"},
	}
	if !reflect.DeepEqual(info.Accelerators, wantAccel) {
		t.Errorf("accelerators =\n%+v\nwant\n%+v", info.Accelerators, wantAccel)
	}
}

// laptopAMDGPU is a Meteor Lake laptop (4 CPUs shown, no SMT, a pre-5.7
// kernel's thread_siblings_list) with an AMD GPU whose model nothing names
// and an Intel NPU, in a Docker container under cgroup v1.
func laptopAMDGPU() tree {
	tr := newTree()
	tr.files["proc/cpuinfo"] = x86CPU{
		n: 4, vendor: "GenuineIntel", model: "Intel(R) Core(TM) Ultra 7 155H",
		family: 6, modelNo: 170, stepping: 4,
		flags: "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 avx_vnni",
		pkg:   func(int) int { return 0 }, core: func(i int) int { return i },
	}.cpuinfo()
	tr.topology(4, func(int) int { return 0 }, func(i int) string { return cpulistOf(i) }, "thread_siblings_list")
	tr.files["proc/meminfo"] = "MemTotal:       16384000 kB\nMemFree:        10000000 kB\nMemAvailable:   12582912 kB\n"
	tr.files["proc/self/status"] = "Cpus_allowed_list:\t0-3\n"
	tr.files["proc/self/cgroup"] = "12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n"
	tr.files["proc/self/mountinfo"] = "30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n" +
		"31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n" +
		"32 25 0:28 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd\n" +
		"33 25 0:29 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n"
	tr.files["sys/fs/cgroup/memory/memory.limit_in_bytes"] = "9223372036854771712\n"
	tr.files["sys/fs/cgroup/memory/memory.usage_in_bytes"] = "8589934592\n"
	tr.files["sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes"] = "4294967296\n"
	tr.files["sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes"] = "1073741824\n"
	tr.files["sys/fs/cgroup/memory/docker/abc/memory.stat"] = "cache 536870912\nrss 536870912\ntotal_inactive_file 536870912\n"
	tr.files["sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us"] = "-1\n"
	tr.files["sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us"] = "100000\n"
	tr.files["sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us"] = "200000\n"
	tr.files["sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us"] = "100000\n"

	tr.pci("0000:03:00.0", 0x030000, 0x1002, 0x744c, "amdgpu", map[string]string{"mem_info_vram_total": "25769803776\n"})
	tr.pci("0000:00:0b.0", 0x120000, 0x8086, 0x7d1d, "intel_vpu", nil)
	tr.pci("0000:00:1f.3", 0x040380, 0x8086, 0x7e28, "snd_hda_intel", nil)
	tr.links["sys/class/accel/accel0/device"] = "../../../0000:00:0b.0"
	tr.files["sys/class/accel/accel0/dev"] = "261:0\n"
	return tr
}

func TestLaptopAMDGPUNPUCgroup1(t *testing.T) {
	info := discover(t, laptopAMDGPU(), "amd64")
	checkWarnings(t, info, "sys/devices/system/cpu/cpu0/cache")
	want := []string{"sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni"}
	if got := info.CPU.Features.Names(); !slices.Equal(got, want) {
		t.Errorf("features = %q, want %q", got, want)
	}
	k := info.Cores
	checkEqual(t, "logical", k.Logical, 4)
	checkEqual(t, "physical", k.Physical, 4)
	checkEqual(t, "sockets", k.Sockets, 1)
	checkEqual(t, "quota", k.CgroupQuota, 2.0)
	if !strings.HasSuffix(k.CgroupQuotaSource, "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us") {
		t.Errorf("quota source = %q", k.CgroupQuotaSource)
	}
	checkEqual(t, "default threads", info.DefaultThreads(), 2)
	if info.Caches != nil {
		t.Errorf("caches = %+v, want none (no sysfs cache directories)", info.Caches)
	}
	if info.NUMA != nil {
		t.Errorf("NUMA = %+v, want none (no /sys/devices/system/node)", info.NUMA)
	}

	m := info.Memory
	checkEqual(t, "cgroup limit", m.CgroupLimit, 4*giB)
	checkEqual(t, "cgroup usage", m.CgroupUsage, 1*giB)
	checkEqual(t, "cgroup room", m.CgroupAvailable, 4*giB-giB/2)
	checkEqual(t, "effective memory", info.EffectiveMemory(), 4*giB-giB/2)

	wantAccel := []Accelerator{
		{Kind: "npu", Bus: "pci", Address: "0000:00:0b.0", Class: "0x120000", VendorID: "0x8086", DeviceID: "0x7d1d",
			Vendor: "Intel", Driver: "intel_vpu", AccelNode: "accel0"},
		{Kind: "gpu", Bus: "pci", Address: "0000:03:00.0", Class: "0x030000", VendorID: "0x1002", DeviceID: "0x744c",
			Vendor: "AMD", Driver: "amdgpu", MemoryBytes: 24 * giB},
	}
	if !reflect.DeepEqual(info.Accelerators, wantAccel) {
		t.Errorf("accelerators =\n%+v\nwant\n%+v", info.Accelerators, wantAccel)
	}
}

// rk3588 is an ARM board: four Cortex-A55 and four Cortex-A76 cores, a
// Mali GPU and an NPU on the platform bus (device tree), no cgroup files.
func rk3588() tree {
	tr := newTree()
	var b strings.Builder
	for i := range 8 {
		part := "0xd05"
		if i >= 4 {
			part = "0xd0b"
		}
		b.WriteString("processor\t: " + string(rune('0'+i)) + "\nBogoMIPS\t: 48.00\n" +
			"Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n" +
			"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x2\nCPU part\t: " + part + "\nCPU revision\t: 0\n\n")
	}
	tr.files["proc/cpuinfo"] = b.String()
	tr.topology(8, func(int) int { return 0 }, func(i int) string { return cpulistOf(i) }, "core_cpus_list")
	tr.files["proc/meminfo"] = "MemTotal:       16199264 kB\nMemAvailable:   15000000 kB\n"
	tr.files["proc/self/status"] = "Cpus_allowed_list:\t0-7\n"

	tr.links["sys/class/accel/accel0/device"] = "../../../devices/platform/fdab0000.npu"
	tr.links["sys/devices/platform/fdab0000.npu/driver"] = "../../../bus/platform/drivers/rocket"
	tr.files["sys/devices/platform/fdab0000.npu/of_node/compatible"] = "rockchip,rk3588-rknn-core\x00"
	tr.links["sys/class/drm/card0/device"] = "../../../devices/platform/fb000000.gpu"
	tr.links["sys/class/drm/renderD128/device"] = "../../../devices/platform/fb000000.gpu"
	tr.links["sys/class/drm/card0-HDMI-A-1/device"] = "../../../devices/platform/fb000000.gpu"
	tr.links["sys/devices/platform/fb000000.gpu/driver"] = "../../../bus/platform/drivers/panthor"
	tr.files["sys/devices/platform/fb000000.gpu/of_node/compatible"] = "rockchip,rk3588-mali\x00arm,mali-valhall-csf\x00"
	return tr
}

func TestARM64BigLittlePlatformDevices(t *testing.T) {
	info := discover(t, rk3588(), "arm64")
	// No cgroup files is a kernel without cgroups: not worth a warning.
	checkWarnings(t, info, "sys/devices/system/cpu/cpu0/cache")
	c := info.CPU
	checkEqual(t, "arch", c.Arch, "arm64")
	checkEqual(t, "vendor", c.Vendor, "ARM")
	checkEqual(t, "model name", c.ModelName, "Cortex-A55 + Cortex-A76")
	checkEqual(t, "arm id", *c.ARM, ARMID{Implementer: 0x41, Part: 0xd05, Variant: 2, Revision: 0})
	want := []string{"neon", "dotprod", "fp16"}
	if got := c.Features.Names(); !slices.Equal(got, want) {
		t.Errorf("features = %q, want %q", got, want)
	}
	checkEqual(t, "physical", info.Cores.Physical, 8)
	checkEqual(t, "default threads", info.DefaultThreads(), 8)
	checkEqual(t, "effective memory", info.EffectiveMemory(), 15000000*kiB)
	wantAccel := []Accelerator{
		{Kind: "npu", Bus: "platform", Address: "fdab0000.npu", Name: "rockchip,rk3588-rknn-core", NameSource: "devicetree",
			Driver: "rocket", AccelNode: "accel0"},
		{Kind: "gpu", Bus: "platform", Address: "fb000000.gpu", Name: "rockchip,rk3588-mali", NameSource: "devicetree",
			Driver: "panthor"},
	}
	if !reflect.DeepEqual(info.Accelerators, wantAccel) {
		t.Errorf("accelerators =\n%+v\nwant\n%+v", info.Accelerators, wantAccel)
	}
}

func TestARM64ServerFeatures(t *testing.T) {
	// AWS Graviton3 (Neoverse-V1).
	cpuinfo := "processor\t: 0\nBogoMIPS\t: 2100.00\n" +
		"Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc " +
		"dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng\n" +
		"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd40\nCPU revision\t: 1\n"
	blocks, err := parseCPUInfo([]byte(cpuinfo))
	if err != nil {
		t.Fatal(err)
	}
	c := detectCPU("arm64", blocks, false)
	checkEqual(t, "model name", c.ModelName, "Neoverse-V1")
	want := []string{"neon", "dotprod", "i8mm", "sve", "fp16", "bf16"}
	if got := c.Features.Names(); !slices.Equal(got, want) {
		t.Errorf("features = %q, want %q", got, want)
	}
}

// qemuVM is a small QEMU guest: no sysfs topology or caches, the
// emulated Bochs VGA and a virtio GPU, and no /proc/self/status.
func qemuVM() tree {
	tr := newTree()
	tr.files["proc/cpuinfo"] = x86CPU{
		n: 2, vendor: "GenuineIntel", model: "Intel Xeon Processor (Icelake)",
		family: 6, modelNo: 134, stepping: 0,
		flags: "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 hypervisor",
		pkg:   func(int) int { return 0 }, core: func(i int) int { return i },
	}.cpuinfo()
	tr.files["proc/meminfo"] = "MemTotal:        2097152 kB\nMemAvailable:    1048576 kB\n"
	tr.pci("0000:00:02.0", 0x030000, 0x1234, 0x1111, "bochs-drm", nil)
	tr.pci("0000:00:03.0", 0x030000, 0x1af4, 0x1050, "virtio-pci", nil)
	tr.pci("0000:00:04.0", 0x020000, 0x1af4, 0x1000, "virtio-pci", nil)
	return tr
}

func TestQEMUGuest(t *testing.T) {
	info := discover(t, qemuVM(), "amd64")
	c := info.CPU
	if !c.Hypervisor {
		t.Error("hypervisor flag not seen")
	}
	checkEqual(t, "X86", *c.X86, X86ID{Family: 6, Model: 134, Stepping: 0})
	k := info.Cores
	checkEqual(t, "logical (from cpuinfo)", k.Logical, 2)
	checkEqual(t, "physical (from cpuinfo)", k.Physical, 2)
	checkEqual(t, "allowed (assumed all online)", k.Allowed.String(), "0-1")
	checkEqual(t, "default threads", info.DefaultThreads(), 2)
	checkWarnings(t, info, "sys/devices/system/cpu/online", "proc/self/status", "sys/devices/system/cpu/cpu0/cache")
	wantAccel := []Accelerator{
		{Kind: "gpu", Bus: "pci", Address: "0000:00:02.0", Class: "0x030000", VendorID: "0x1234", DeviceID: "0x1111",
			Vendor: "QEMU", Name: "QEMU standard VGA (Bochs)", NameSource: "builtin", Driver: "bochs-drm", Virtual: true},
		{Kind: "gpu", Bus: "pci", Address: "0000:00:03.0", Class: "0x030000", VendorID: "0x1af4", DeviceID: "0x1050",
			Vendor: "Red Hat (virtio)", Name: "virtio GPU", NameSource: "builtin", Driver: "virtio-pci", Virtual: true},
	}
	if !reflect.DeepEqual(info.Accelerators, wantAccel) {
		t.Errorf("accelerators =\n%+v\nwant\n%+v", info.Accelerators, wantAccel)
	}
}

// TestGarbage feeds nonsense in every file: Discover must report what it
// could not read and carry on, never panic.
func TestGarbage(t *testing.T) {
	tr := newTree()
	junk := "\x00\xff\xfe garbage \n::: \n0-\n-1\nmax max max\n"
	for _, f := range []string{
		"proc/cpuinfo", "proc/meminfo", "proc/self/status", "proc/self/cgroup", "proc/self/mountinfo",
		"sys/devices/system/cpu/online", "sys/devices/system/cpu/cpu0/topology/physical_package_id",
		"sys/devices/system/cpu/cpu0/topology/core_cpus_list", "sys/devices/system/cpu/cpu0/cache/index0/level",
		"sys/devices/system/cpu/cpu0/cache/index0/size", "sys/devices/system/node/node0/cpulist",
		"sys/devices/system/node/node0/meminfo",
	} {
		tr.files[f] = junk
	}
	tr.pci("0000:00:02.0", 0x030000, 0x10de, 0x2330, "nvidia", nil)
	tr.files["sys/devices/pci0000:00/0000:00:02.0/class"] = junk
	tr.pci("0000:00:03.0", 0x030000, 0x10de, 0x2330, "nvidia", map[string]string{"mem_info_vram_total": junk})
	tr.files["proc/driver/nvidia/gpus/0000:00:03.0/information"] = junk
	tr.files["usr/share/misc/pci.ids"] = junk
	info := discover(t, tr, "amd64")
	if len(info.Warnings) < 5 {
		t.Errorf("only %d warnings for a tree of garbage: %q", len(info.Warnings), info.Warnings)
	}
	if n := info.DefaultThreads(); n != 1 {
		t.Errorf("default threads = %d, want 1", n)
	}
	if len(info.Accelerators) != 1 || info.Accelerators[0].Name != "" {
		t.Errorf("accelerators = %+v, want the one readable device, unnamed", info.Accelerators)
	}
	var b strings.Builder
	if err := info.WriteText(&b); err != nil {
		t.Fatal(err)
	}
}

func TestMissingRoot(t *testing.T) {
	p := Prober{Root: t.TempDir() + "/nonexistent"}
	if _, err := p.Discover(context.Background()); err == nil {
		t.Error("no error for a missing root")
	}
}

func TestCancelledDiscover(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := Prober{Root: xeonNVIDIA().write(t)}
	if _, err := p.Discover(ctx); err == nil {
		t.Error("no error from a cancelled context")
	}
}
