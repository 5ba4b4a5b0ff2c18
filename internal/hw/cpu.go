package hw

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// CPU identifies the processor and the instruction-set extensions that
// the inference kernels choose between.
type CPU struct {
	Arch       string `json:"arch"`             // GOARCH spelling: amd64, arm64
	Vendor     string `json:"vendor,omitempty"` // "AuthenticAMD", "GenuineIntel", "ARM", ...
	ModelName  string `json:"model_name,omitempty"`
	X86        *X86ID `json:"x86,omitempty"`
	ARM        *ARMID `json:"arm,omitempty"`
	Hypervisor bool   `json:"hypervisor,omitempty"` // running in a virtual machine

	Features Features `json:"features"`
	// FeatureSource says where Features came from: "cpuid+cpuinfo" on the
	// live system (the CPU's own report, kept only where the kernel agrees),
	// "cpuid" when /proc/cpuinfo has no flags, "cpuinfo" when reading a
	// tree other than the live one.
	FeatureSource string `json:"feature_source"`
	// FeatureMismatches lists the features where the CPU and the kernel
	// disagree, e.g. "avx512f: cpuid has it, /proc/cpuinfo does not" when
	// the kernel masked it. Such a feature is reported absent.
	FeatureMismatches []string `json:"feature_mismatches,omitempty"`
}

// X86ID is an x86 processor's family, model and stepping (decimal, with
// the extended fields folded in, as /proc/cpuinfo shows them).
type X86ID struct {
	Family   int `json:"family"`
	Model    int `json:"model"`
	Stepping int `json:"stepping"`
}

// ARMID holds the fields of an arm64 core's MIDR register, as
// /proc/cpuinfo shows them. On a big.LITTLE system it describes the first
// CPU; ModelName names every kind of core present.
type ARMID struct {
	Implementer int `json:"implementer"`
	Part        int `json:"part"`
	Variant     int `json:"variant"`
	Revision    int `json:"revision"`
}

// Features are the instruction-set extensions that matter for inference
// kernels. A feature is true only when the CPU has it and the operating
// system lets programs use it.
type Features struct {
	// amd64
	SSE42      bool `json:"sse4_2,omitempty"`
	AVX        bool `json:"avx,omitempty"`
	AVX2       bool `json:"avx2,omitempty"`
	FMA        bool `json:"fma,omitempty"`
	F16C       bool `json:"f16c,omitempty"`
	AVX512F    bool `json:"avx512f,omitempty"`
	AVX512BW   bool `json:"avx512bw,omitempty"`
	AVX512VL   bool `json:"avx512vl,omitempty"`
	AVX512VNNI bool `json:"avx512_vnni,omitempty"`
	AVX512BF16 bool `json:"avx512_bf16,omitempty"`
	AVXVNNI    bool `json:"avx_vnni,omitempty"`
	AMXTile    bool `json:"amx_tile,omitempty"` // Linux also needs arch_prctl(ARCH_REQ_XCOMP_PERM) before use
	AMXInt8    bool `json:"amx_int8,omitempty"`
	AMXBF16    bool `json:"amx_bf16,omitempty"`

	// arm64
	NEON    bool `json:"neon,omitempty"`    // ASIMD
	DotProd bool `json:"dotprod,omitempty"` // SDOT/UDOT (asimddp)
	I8MM    bool `json:"i8mm,omitempty"`    // SMMLA/UMMLA
	SVE     bool `json:"sve,omitempty"`
	SVE2    bool `json:"sve2,omitempty"`
	FP16    bool `json:"fp16,omitempty"` // half-precision SIMD arithmetic (asimdhp)
	BF16    bool `json:"bf16,omitempty"` // BFDOT/BFMMLA
}

// feature ties one Features field to its spellings.
type feature struct {
	arch  string
	name  string          // as printed and in JSON
	flag  string          // in /proc/cpuinfo's flags or Features line
	id    cpuid.FeatureID // in github.com/klauspost/cpuid
	field func(*Features) *bool
}

var featureTable = []feature{
	{"amd64", "sse4_2", "sse4_2", cpuid.SSE42, func(f *Features) *bool { return &f.SSE42 }},
	{"amd64", "avx", "avx", cpuid.AVX, func(f *Features) *bool { return &f.AVX }},
	{"amd64", "avx2", "avx2", cpuid.AVX2, func(f *Features) *bool { return &f.AVX2 }},
	{"amd64", "fma", "fma", cpuid.FMA3, func(f *Features) *bool { return &f.FMA }},
	{"amd64", "f16c", "f16c", cpuid.F16C, func(f *Features) *bool { return &f.F16C }},
	{"amd64", "avx512f", "avx512f", cpuid.AVX512F, func(f *Features) *bool { return &f.AVX512F }},
	{"amd64", "avx512bw", "avx512bw", cpuid.AVX512BW, func(f *Features) *bool { return &f.AVX512BW }},
	{"amd64", "avx512vl", "avx512vl", cpuid.AVX512VL, func(f *Features) *bool { return &f.AVX512VL }},
	{"amd64", "avx512_vnni", "avx512_vnni", cpuid.AVX512VNNI, func(f *Features) *bool { return &f.AVX512VNNI }},
	{"amd64", "avx512_bf16", "avx512_bf16", cpuid.AVX512BF16, func(f *Features) *bool { return &f.AVX512BF16 }},
	{"amd64", "avx_vnni", "avx_vnni", cpuid.AVXVNNI, func(f *Features) *bool { return &f.AVXVNNI }},
	{"amd64", "amx_tile", "amx_tile", cpuid.AMXTILE, func(f *Features) *bool { return &f.AMXTile }},
	{"amd64", "amx_int8", "amx_int8", cpuid.AMXINT8, func(f *Features) *bool { return &f.AMXInt8 }},
	{"amd64", "amx_bf16", "amx_bf16", cpuid.AMXBF16, func(f *Features) *bool { return &f.AMXBF16 }},

	{"arm64", "neon", "asimd", cpuid.ASIMD, func(f *Features) *bool { return &f.NEON }},
	{"arm64", "dotprod", "asimddp", cpuid.ASIMDDP, func(f *Features) *bool { return &f.DotProd }},
	{"arm64", "i8mm", "i8mm", cpuid.I8MM, func(f *Features) *bool { return &f.I8MM }},
	{"arm64", "sve", "sve", cpuid.SVE, func(f *Features) *bool { return &f.SVE }},
	{"arm64", "sve2", "sve2", cpuid.SVE2, func(f *Features) *bool { return &f.SVE2 }},
	{"arm64", "fp16", "asimdhp", cpuid.ASIMDHP, func(f *Features) *bool { return &f.FP16 }},
	{"arm64", "bf16", "bf16", cpuid.BF16, func(f *Features) *bool { return &f.BF16 }},
}

// Names lists the features present, in a fixed order, as spelled in JSON.
func (f Features) Names() []string {
	var names []string
	for _, ft := range featureTable {
		if *ft.field(&f) {
			names = append(names, ft.name)
		}
	}
	return names
}

// cpuFlags returns the features /proc/cpuinfo lists for every processor
// (x86 "flags", arm64 "Features"), or nil when it lists none.
func cpuFlags(blocks []cpuinfoBlock) map[string]bool {
	var common map[string]bool
	for _, b := range blocks {
		line, ok := b["flags"]
		if !ok {
			line, ok = b["Features"]
		}
		if !ok {
			continue
		}
		these := map[string]bool{}
		for _, f := range strings.Fields(line) {
			these[f] = true
		}
		if common == nil {
			common = these
			continue
		}
		// A feature counts only when every CPU has it: a thread may run
		// on any of them.
		for f := range common {
			if !these[f] {
				delete(common, f)
			}
		}
	}
	return common
}

// detectCPU fills in the CPU from /proc/cpuinfo and, on the live system,
// from the processor itself (cpuid on x86, HWCAP on arm64).
func detectCPU(arch string, blocks []cpuinfoBlock, live bool) CPU {
	c := CPU{Arch: arch}
	flags := cpuFlags(blocks)
	if live && foreignFlags(arch, flags) {
		// Under user-mode emulation (qemu-aarch64 on an x86 host)
		// /proc/cpuinfo describes the host, not the CPU this process
		// sees: trust only the processor's own report.
		flags = nil
	}
	switch arch {
	case "amd64", "386":
		identifyX86(&c, blocks)
		c.Hypervisor = flags["hypervisor"]
	case "arm64", "arm":
		identifyARM(&c, blocks)
	}
	if live {
		fillFromCPUID(&c)
	}

	for _, ft := range featureTable {
		if ft.arch != arch {
			continue
		}
		inFlags := flags[ft.flag]
		has := inFlags
		if live {
			inCPUID := cpuid.CPU.Supports(ft.id)
			has = inCPUID
			if flags != nil {
				// The kernel may hide a feature it cannot support (no
				// XSAVE state for AMX) or was told to (clearcpuid=):
				// keep only what both report.
				has = inCPUID && inFlags
				if inCPUID != inFlags {
					c.FeatureMismatches = append(c.FeatureMismatches, mismatch(ft.name, inCPUID))
				}
			}
		}
		*ft.field(&c.Features) = has
	}
	switch {
	case !live:
		c.FeatureSource = "cpuinfo"
	case flags == nil:
		c.FeatureSource = "cpuid"
	default:
		c.FeatureSource = "cpuid+cpuinfo"
	}
	return c
}

// foreignFlags reports whether /proc/cpuinfo's flags are of another
// architecture than arch.
func foreignFlags(arch string, flags map[string]bool) bool {
	switch arch {
	case "arm64", "arm":
		return flags["sse2"] || flags["lm"]
	case "amd64", "386":
		return flags["asimd"] || flags["aes"] && flags["fp"] && !flags["sse2"]
	}
	return false
}

func mismatch(name string, inCPUID bool) string {
	if inCPUID {
		return name + ": cpuid has it, /proc/cpuinfo does not"
	}
	return name + ": /proc/cpuinfo has it, cpuid does not"
}

// fillFromCPUID completes what /proc/cpuinfo left out (some sandboxes
// hide it) with the processor's own report.
func fillFromCPUID(c *CPU) {
	if c.Vendor == "" {
		c.Vendor = cpuid.CPU.VendorString
	}
	if c.ModelName == "" {
		c.ModelName = strings.TrimSpace(cpuid.CPU.BrandName)
	}
	if c.Arch == "amd64" && c.X86 == nil && cpuid.CPU.Family != 0 {
		c.X86 = &X86ID{Family: cpuid.CPU.Family, Model: cpuid.CPU.Model, Stepping: cpuid.CPU.Stepping}
	}
	if cpuid.CPU.Supports(cpuid.HYPERVISOR) {
		c.Hypervisor = true
	}
}

func identifyX86(c *CPU, blocks []cpuinfoBlock) {
	for _, b := range blocks {
		if _, ok := b["vendor_id"]; !ok {
			continue
		}
		c.Vendor = b["vendor_id"]
		c.ModelName = b["model name"]
		fam, err1 := strconv.Atoi(b["cpu family"])
		mod, err2 := strconv.Atoi(b["model"])
		step, err3 := strconv.Atoi(b["stepping"])
		if err1 == nil && err2 == nil && err3 == nil {
			c.X86 = &X86ID{Family: fam, Model: mod, Stepping: step}
		}
		return
	}
}

func identifyARM(c *CPU, blocks []cpuinfoBlock) {
	var names []string
	for _, b := range blocks {
		impl, err1 := strconv.ParseInt(b["CPU implementer"], 0, 32)
		part, err2 := strconv.ParseInt(b["CPU part"], 0, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if c.ARM == nil {
			variant, _ := strconv.ParseInt(b["CPU variant"], 0, 32)
			rev, _ := strconv.ParseInt(b["CPU revision"], 0, 32)
			c.ARM = &ARMID{Implementer: int(impl), Part: int(part), Variant: int(variant), Revision: int(rev)}
			c.Vendor = armImplementers[int(impl)]
			if c.Vendor == "" {
				c.Vendor = fmt.Sprintf("implementer 0x%02x", impl)
			}
		}
		name := armParts[[2]int{int(impl), int(part)}]
		if name == "" {
			name = fmt.Sprintf("%s part 0x%03x", armImplementers[int(impl)], part)
			name = strings.TrimSpace(name)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	// A "model name" line (some kernels and 32-bit ARM) is the kernel's
	// own word and wins.
	for _, b := range blocks {
		if m := b["model name"]; m != "" {
			c.ModelName = m
			return
		}
	}
	c.ModelName = strings.Join(names, " + ")
}

// armImplementers maps MIDR implementer codes to names (from Linux's
// arch/arm64/include/asm/cputype.h).
var armImplementers = map[int]string{
	0x41: "ARM", 0x42: "Broadcom", 0x43: "Cavium", 0x46: "Fujitsu",
	0x48: "HiSilicon", 0x4e: "NVIDIA", 0x50: "APM", 0x51: "Qualcomm",
	0x61: "Apple", 0x6d: "Microsoft", 0xc0: "Ampere",
}

// armParts names the Arm Ltd. cores found in servers and boards that run
// inference (Graviton, Grace, Altra, Raspberry Pi, Orange Pi ...).
var armParts = map[[2]int]string{
	{0x41, 0xd03}: "Cortex-A53", {0x41, 0xd04}: "Cortex-A35", {0x41, 0xd05}: "Cortex-A55",
	{0x41, 0xd07}: "Cortex-A57", {0x41, 0xd08}: "Cortex-A72", {0x41, 0xd09}: "Cortex-A73",
	{0x41, 0xd0a}: "Cortex-A75", {0x41, 0xd0b}: "Cortex-A76", {0x41, 0xd0c}: "Neoverse-N1",
	{0x41, 0xd0d}: "Cortex-A77", {0x41, 0xd40}: "Neoverse-V1", {0x41, 0xd41}: "Cortex-A78",
	{0x41, 0xd44}: "Cortex-X1", {0x41, 0xd46}: "Cortex-A510", {0x41, 0xd47}: "Cortex-A710",
	{0x41, 0xd48}: "Cortex-X2", {0x41, 0xd49}: "Neoverse-N2", {0x41, 0xd4b}: "Cortex-A78C",
	{0x41, 0xd4d}: "Cortex-A715", {0x41, 0xd4e}: "Cortex-X3", {0x41, 0xd4f}: "Neoverse-V2",
	{0x41, 0xd80}: "Cortex-A520", {0x41, 0xd81}: "Cortex-A720", {0x41, 0xd82}: "Cortex-X4",
	{0x41, 0xd84}: "Neoverse-V3", {0x41, 0xd8e}: "Neoverse-N3",
}
