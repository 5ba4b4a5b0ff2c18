package hw

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tree describes a fake machine: files by path relative to the root,
// and symbolic links (name -> target) as sysfs has them.
type tree struct {
	files map[string]string
	links map[string]string
}

func newTree() tree { return tree{files: map[string]string{}, links: map[string]string{}} }

// write lays the tree out under a new temporary directory and returns it.
func (tr tree) write(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range tr.files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range tr.links {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// x86CPU describes the CPUs of an x86 /proc/cpuinfo.
type x86CPU struct {
	n                         int
	vendor, model             string
	family, modelNo, stepping int
	flags                     string
	pkg, core                 func(cpu int) int
}

func (c x86CPU) cpuinfo() string {
	var b strings.Builder
	for i := range c.n {
		fmt.Fprintf(&b, "processor\t: %d\nvendor_id\t: %s\ncpu family\t: %d\nmodel\t\t: %d\n", i, c.vendor, c.family, c.modelNo)
		fmt.Fprintf(&b, "model name\t: %s\nstepping\t: %d\nmicrocode\t: 0x2b000590\ncpu MHz\t\t: 2000.000\n", c.model, c.stepping)
		if c.pkg != nil {
			fmt.Fprintf(&b, "physical id\t: %d\nsiblings\t: %d\ncore id\t\t: %d\n", c.pkg(i), c.n, c.core(i))
		}
		fmt.Fprintf(&b, "fpu\t\t: yes\nflags\t\t: %s\nbugs\t\t: spectre_v1\npower management:\n\n", c.flags)
	}
	return b.String()
}

// topology writes sysfs topology: each CPU's package and the list of
// hardware threads on its core, in the file named siblingsFile
// (core_cpus_list on current kernels, thread_siblings_list before 5.7).
func (tr tree) topology(n int, pkg func(int) int, siblings func(int) string, siblingsFile string) {
	tr.files["sys/devices/system/cpu/online"] = fmt.Sprintf("0-%d\n", n-1)
	tr.files["sys/devices/system/cpu/possible"] = fmt.Sprintf("0-%d\n", n-1)
	for i := range n {
		dir := fmt.Sprintf("sys/devices/system/cpu/cpu%d/topology/", i)
		tr.files[dir+"physical_package_id"] = fmt.Sprintf("%d\n", pkg(i))
		tr.files[dir+siblingsFile] = siblings(i) + "\n"
	}
}

type cacheSpec struct {
	level     int
	typ, size string
	shared    func(cpu int) string
}

// caches writes each CPU's sysfs cache directories.
func (tr tree) caches(n int, specs ...cacheSpec) {
	for i := range n {
		for j, c := range specs {
			dir := fmt.Sprintf("sys/devices/system/cpu/cpu%d/cache/index%d/", i, j)
			tr.files[dir+"level"] = fmt.Sprintf("%d\n", c.level)
			tr.files[dir+"type"] = c.typ + "\n"
			tr.files[dir+"size"] = c.size + "\n"
			tr.files[dir+"coherency_line_size"] = "64\n"
			tr.files[dir+"shared_cpu_list"] = c.shared(i) + "\n"
		}
	}
}

// pci adds a PCI device as sysfs has it: a directory under
// /sys/devices, linked from /sys/bus/pci/devices, with a driver link
// when driver is not empty. Extra files go into the device directory.
func (tr tree) pci(addr string, class, vendor, device int, driver string, extra map[string]string) {
	dir := "sys/devices/pci0000:00/" + addr
	tr.files[dir+"/class"] = fmt.Sprintf("0x%06x\n", class)
	tr.files[dir+"/vendor"] = fmt.Sprintf("0x%04x\n", vendor)
	tr.files[dir+"/device"] = fmt.Sprintf("0x%04x\n", device)
	for k, v := range extra {
		tr.files[dir+"/"+k] = v
	}
	tr.links["sys/bus/pci/devices/"+addr] = "../../../devices/pci0000:00/" + addr
	if driver != "" {
		tr.links[dir+"/driver"] = "../../../bus/pci/drivers/" + driver
	}
}

// cpulistOf writes a CPU list, for siblings and shared caches.
func cpulistOf(cpus ...int) string { return CPUSet(cpus).String() }

const (
	kiB = 1 << 10
	miB = 1 << 20
	giB = 1 << 30
)

// emptyFS has no files at all.
type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
