package hw

import (
	"reflect"
	"strings"
	"testing"
)

// TestFeatureTable keeps the table and the Features struct in step: every
// field has one entry whose name is the field's JSON name.
func TestFeatureTable(t *testing.T) {
	typ := reflect.TypeFor[Features]()
	if len(featureTable) != typ.NumField() {
		t.Errorf("%d table entries for %d fields", len(featureTable), typ.NumField())
	}
	for i := range typ.NumField() {
		field := typ.Field(i)
		jsonName, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		var f Features
		reflect.ValueOf(&f).Elem().Field(i).SetBool(true)
		if names := f.Names(); len(names) != 1 || names[0] != jsonName {
			t.Errorf("field %s (json %q): table names it %q", field.Name, jsonName, names)
		}
	}
}

func TestWriteText(t *testing.T) {
	info := discover(t, xeonNVIDIA(), "amd64")
	info.Bandwidth = []Bandwidth{{Threads: 2, Bytes: 256 << 20, Passes: 9, GBs: 21.5, BestGBs: 22.4, Kernel: "avx2"}}
	var b strings.Builder
	if err := info.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"CPU\n", "  model            Intel(R) Xeon(R) Platinum 8480+\n",
		"  isa              sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx_vnni amx_tile amx_int8 amx_bf16\n",
		"  physical         4 in 2 sockets\n", "  cgroup quota     2.5 CPUs (/", "  default threads  2\n",
		"  L3               105 MiB x 2 (shared by 4 CPUs)\n",
		"  cgroup usage     3 GiB, room 1 GiB\n", "  effective        1 GiB\n",
		"  node 1           CPUs 4-7, 32 GiB\n",
		"  read, 2 threads  21.5 GB/s (median of 9 passes over 256 MiB, best 22.4; avx2)\n",
		"  0000:18:00.0     gpu  NVIDIA H100 80GB HBM3 [10de:2330], driver nvidia, memory unknown\n",
		"  0000:3b:00.0     gpu  NVIDIA GH100 [H100 PCIe] [10de:2331], no driver, memory unknown\n",
		"  0000:03:00.0     display  ASPEED Graphics Family [1a03:2000], driver ast, memory unknown\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	for line := range strings.Lines(out) {
		if strings.HasSuffix(line, " \n") {
			t.Errorf("trailing space in %q", line)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 32 << 20: "32 MiB", 23<<30 + 1<<29: "23.5 GiB", 1 << 60: "1 EiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDefaultThreads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cores Cores
		want  int
	}{
		{"SMT: one per core", Cores{Logical: 16, Physical: 8, Allowed: CPUSet{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, AllowedPhysical: 8}, 8},
		{"affinity", Cores{Logical: 16, Physical: 8, Allowed: CPUSet{0, 1, 2}, AllowedPhysical: 2}, 2},
		{"quota rounds down", Cores{Physical: 8, Allowed: CPUSet{0, 1, 2, 3, 4, 5, 6, 7}, AllowedPhysical: 8, CgroupQuota: 3.9}, 3},
		{"tiny quota", Cores{Physical: 8, AllowedPhysical: 8, CgroupQuota: 0.5}, 1},
		{"topology unknown", Cores{Allowed: CPUSet{0, 1, 2, 3}}, 4},
		{"affinity unknown", Cores{Physical: 6}, 6},
		{"nothing known", Cores{}, 1},
	} {
		if got := tc.cores.DefaultThreads(); got != tc.want {
			t.Errorf("%s: DefaultThreads() = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestEffectiveMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Memory
		want int64
	}{
		{"no cgroup limit", Memory{Total: 64 * giB, Available: 60 * giB}, 60 * giB},
		{"cgroup tighter", Memory{Total: 64 * giB, Available: 60 * giB, CgroupLimit: 8 * giB, CgroupAvailable: 5 * giB}, 5 * giB},
		{"system tighter", Memory{Total: 64 * giB, Available: 2 * giB, CgroupLimit: 8 * giB, CgroupAvailable: 5 * giB}, 2 * giB},
		{"cgroup full", Memory{Total: 64 * giB, Available: 60 * giB, CgroupLimit: 8 * giB}, 0},
		{"no MemAvailable", Memory{Total: 4 * giB}, 4 * giB},
		{"nothing known", Memory{}, 0},
	} {
		if got := tc.m.Effective(); got != tc.want {
			t.Errorf("%s: Effective() = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// BenchmarkDiscover shows what DefaultThreads costs a caller that asks
// the live system each time.
func BenchmarkDiscover(b *testing.B) {
	for b.Loop() {
		if _, err := Discover(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
