package image

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/initsys"
	"github.com/raym33/ainative/internal/kmod/kmodtest"
)

type entry struct {
	mode cpio.FileMode
	data string // file content or link target
}

// readArchive reads one archive from r.
func readArchive(t *testing.T, r io.Reader) map[string]entry {
	t.Helper()
	cr := cpio.NewReader(r)
	out := map[string]entry{}
	for {
		h, err := cr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[h.Name]; dup {
			t.Errorf("%s twice in the archive", h.Name)
		}
		b, _ := io.ReadAll(cr)
		data := string(b)
		if h.Linkname != "" {
			data = h.Linkname
		}
		out[h.Name] = entry{h.Mode, data}
	}
	return out
}

func TestArchive(t *testing.T) {
	var buf bytes.Buffer
	a := NewArchive(&buf)
	if err := a.Bytes("/etc/x/y.txt", []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	a.Symlink("bin/sh", "/init")
	a.Dir("tmp", 0o777|os.ModeSticky)
	a.Dir("etc", 0o755) // exists already: no second entry
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	got := readArchive(t, &buf)
	if e := got["etc/x/y.txt"]; e.data != "hello" || e.mode != cpio.TypeReg|0o640 {
		t.Errorf("file: %+v", e)
	}
	if e := got["bin/sh"]; e.data != "/init" || e.mode&cpio.ModeType != cpio.TypeSymlink {
		t.Errorf("symlink: %+v", e)
	}
	if e := got["tmp"]; e.mode != cpio.TypeDir|cpio.ModeSticky|0o777 {
		t.Errorf("tmp: %v", e.mode)
	}
	for _, d := range []string{"etc", "etc/x", "bin"} {
		if !got[d].mode.IsDir() {
			t.Errorf("parent %s missing", d)
		}
	}

	a = NewArchive(io.Discard)
	if err := a.Bytes("/", nil, 0o644); err == nil {
		t.Error("the root accepted as a file name")
	}
	a = NewArchive(io.Discard)
	if err := a.File("short", strings.NewReader("ab"), 5, 0o644); err == nil || !strings.Contains(err.Error(), "short read") {
		t.Errorf("short file: %v", err)
	}
	if err := a.Close(); err == nil {
		t.Error("Close after a failed write succeeded")
	}
}

// fakeBzImage returns the start of an x86 bzImage whose setup header
// points at version.
func fakeBzImage(version string) []byte {
	b := make([]byte, 0x600)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x20e:], 0x300)
	copy(b[0x500:], version+"\x00")
	return b
}

func TestKernelVersion(t *testing.T) {
	v, err := KernelVersion(bytes.NewReader(fakeBzImage("6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP")))
	if err != nil || v != "6.1.0-56-amd64" {
		t.Errorf("%q %v", v, err)
	}
	if _, err := KernelVersion(bytes.NewReader(make([]byte, 0x600))); err == nil || !strings.Contains(err.Error(), "HdrS") {
		t.Errorf("err = %v", err)
	}
	if _, err := KernelVersion(bytes.NewReader([]byte("short"))); err == nil {
		t.Error("short file accepted")
	}
}

func FuzzKernelVersion(f *testing.F) {
	f.Add(fakeBzImage("6.9.0 #1"))
	f.Add(fakeBzImage(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := KernelVersion(bytes.NewReader(b))
		if err == nil && (v == "" || strings.ContainsAny(v, " \x00")) {
			t.Fatalf("bad version %q", v)
		}
	})
}

// skipOrFail skips t for a missing prerequisite, except under CI=true,
// where scripts/ci-deps.sh provides it and its absence fails the test.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("under CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

func TestDefaultKernel(t *testing.T) {
	if _, err := DefaultKernel("mips"); err == nil {
		t.Error("mips accepted")
	}
	// A test binary's build info lists no dependencies, so DefaultKernel
	// itself cannot work here: look the kernel up with the version go.mod
	// requires.
	mod, _ := kernelModule("amd64")
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", mod).Output()
	if err != nil {
		skipOrFail(t, "go list -m %s: %v", mod, err)
	}
	p, err := moduleKernel(mod, strings.TrimSpace(string(out)))
	if err != nil {
		skipOrFail(t, "default kernel unavailable here (no module cache or proxy): %v", err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, err := KernelVersion(f); err != nil || v == "" {
		t.Errorf("default kernel %s: version %q, %v", p, v, err)
	}
}

// fakeELF writes a minimal ELF executable for machine, with an
// interpreter (dynamic) or without (static).
func fakeELF(t *testing.T, path string, machine elf.Machine, dynamic bool) {
	t.Helper()
	var b bytes.Buffer
	hdr := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: 1, Ehsize: 64, Phentsize: 56}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS], hdr.Ident[elf.EI_DATA], hdr.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), 1
	if dynamic {
		hdr.Phoff, hdr.Phnum = 64, 1
	}
	binary.Write(&b, binary.LittleEndian, hdr)
	if dynamic {
		binary.Write(&b, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 120, Filesz: 1})
		b.WriteByte(0)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestCheckStatic(t *testing.T) {
	dir := t.TempDir()
	fakeELF(t, filepath.Join(dir, "static"), elf.EM_X86_64, false)
	fakeELF(t, filepath.Join(dir, "dynamic"), elf.EM_X86_64, true)
	if err := checkStatic(filepath.Join(dir, "static"), "amd64"); err != nil {
		t.Error(err)
	}
	if err := checkStatic(filepath.Join(dir, "dynamic"), "amd64"); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("dynamic: %v", err)
	}
	if err := checkStatic(filepath.Join(dir, "static"), "arm64"); err == nil || !strings.Contains(err.Error(), "not arm64") {
		t.Errorf("wrong arch: %v", err)
	}
}

func TestBuildWithDistributionKernel(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ainative")
	fakeELF(t, bin, elf.EM_X86_64, false)
	// A dpkg -x tree: boot/vmlinuz-R beside lib/modules/R.
	tree := filepath.Join(dir, "deb")
	kernel := filepath.Join(tree, "boot", "vmlinuz-6.9.9-test")
	os.MkdirAll(filepath.Dir(kernel), 0o755)
	os.WriteFile(kernel, fakeBzImage("6.9.9-test #1"), 0o644)
	mods := filepath.Join(tree, "lib", "modules", "6.9.9-test")
	for name, deps := range map[string]string{"virtio_net": "net_failover,virtio", "net_failover": "failover", "failover": "", "virtio": "", "evdev": ""} {
		p := filepath.Join(mods, "kernel", name+".ko")
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, kmodtest.Module("name="+name, "depends="+deps), 0o644)
	}
	os.WriteFile(filepath.Join(mods, "modules.builtin"), []byte("kernel/drivers/virtio/virtio_pci.ko\n"), 0o644)
	model := filepath.Join(dir, "m.gguf")
	os.WriteFile(model, []byte("GGUF fake"), 0o644)

	out := filepath.Join(dir, "img")
	m, err := Build(context.Background(), Options{
		Out: out, Arch: "amd64", Binary: bin, Kernel: kernel, Links: []string{"generate", "sh"},
		Models: []string{model}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.KernelRelease != "6.9.9-test" || strings.Join(m.Modules, ",") != "failover,net_failover,virtio,virtio_net,evdev" || m.ModelsDisk != "" {
		t.Errorf("manifest %+v", m)
	}
	if m2, err := ReadManifest(out); err != nil || m2.Initramfs != m.Initramfs {
		t.Errorf("ReadManifest: %+v %v", m2, err)
	}
	f, err := os.Open(filepath.Join(out, m.Initramfs))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := readArchive(t, f)
	if e := got["init"]; e.mode != cpio.TypeReg|0o755 {
		t.Errorf("init: %v", e.mode)
	}
	for _, l := range []string{"bin/ainative", "bin/sh", "bin/generate"} {
		if got[l].data != "/init" {
			t.Errorf("%s -> %q", l, got[l].data)
		}
	}
	if got["models/m.gguf"].data != "GGUF fake" {
		t.Error("model missing")
	}
	if got["etc/ainative/modules"].data != "failover\nnet_failover\nvirtio\nvirtio_net\nevdev\n" {
		t.Errorf("modules list %q", got["etc/ainative/modules"].data)
	}
	if _, ok := got["lib/modules/6.9.9-test/kernel/virtio_net.ko"]; !ok {
		t.Error("virtio_net.ko not copied")
	}
	if _, err := initsys.ParseConfig("services.json", strings.NewReader(got["etc/ainative/services.json"].data)); err != nil {
		t.Errorf("services.json: %v", err)
	}

	// A model over the limit goes to the SquashFS models disk.
	m, err = Build(context.Background(), Options{Out: out, Arch: "amd64", Binary: bin, Kernel: kernel,
		Models: []string{model}, MaxInitramfsModel: 4, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(filepath.Join(out, ModelsDiskName))
	if err != nil || m.ModelsDisk != ModelsDiskName || !bytes.HasPrefix(disk, []byte("hsqs")) ||
		!bytes.Contains(disk, []byte("GGUF fake")) || !bytes.Contains(disk, []byte("m.gguf")) {
		t.Errorf("models disk: manifest %+v, %d bytes, %v", m, len(disk), err)
	}
	// Two models with one name are refused.
	os.MkdirAll(filepath.Join(dir, "other"), 0o755)
	os.WriteFile(filepath.Join(dir, "other", "m.gguf"), nil, 0o644)
	_, err = Build(context.Background(), Options{Out: out, Arch: "amd64", Binary: bin, Kernel: kernel,
		Models: []string{model, filepath.Join(dir, "other", "m.gguf")}})
	if err == nil || !strings.Contains(err.Error(), "both be /models/m.gguf") {
		t.Errorf("duplicate model names: %v", err)
	}
	// A build that fails half-way must not leave the old manifest
	// describing a mix of new and old files as a complete image.
	_, err = Build(context.Background(), Options{Out: out, Arch: "amd64", Binary: bin, Kernel: dir, ModulesDir: "none"})
	if err == nil || !strings.Contains(err.Error(), "copying the kernel") {
		t.Fatalf("kernel that cannot be copied: %v", err)
	}
	if _, err := ReadManifest(out); err == nil {
		t.Error("after a failed build, the image directory still has a manifest")
	}
	// A kernel without modules where they are looked for.
	os.RemoveAll(mods)
	_, err = Build(context.Background(), Options{Out: out, Arch: "amd64", Binary: bin, Kernel: kernel})
	if err == nil || !strings.Contains(err.Error(), "--modules DIR") {
		t.Errorf("missing modules: %v", err)
	}
}

func TestWithCommand(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.cpio")
	var buf bytes.Buffer
	a := NewArchive(&buf)
	a.Bytes("init", []byte("x"), 0o755)
	a.Close()
	os.WriteFile(base, buf.Bytes(), 0o644)
	out := filepath.Join(dir, "cmd.cpio")
	if err := WithCommand(out, base, "echo hi"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if !bytes.HasPrefix(b, buf.Bytes()) {
		t.Fatal("the image archive is not kept as is")
	}
	got := readArchive(t, bytes.NewReader(b[buf.Len():]))
	if got[strings.TrimPrefix(initsys.CommandPath, "/")].data != "echo hi" {
		t.Errorf("second archive: %+v", got)
	}
	if err := WithCommand(out, filepath.Join(dir, "missing"), "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing image: %v", err)
	}
}

// Two builds writing the models disk of one image directory at once
// (two `vm` runs sharing the cache) both succeed and leave one whole disk
// and no temporary file.
func TestWriteModelsDiskConcurrently(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(model, bytes.Repeat([]byte("GGUF weights "), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "img")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(out, ModelsDiskName)
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- writeModelsDisk(disk, []string{model}, filepath.Base) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	b, err := os.ReadFile(disk)
	if err != nil || !bytes.HasPrefix(b, []byte("hsqs")) || len(b)%4096 != 0 {
		t.Errorf("models disk: %d bytes, %v", len(b), err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("image directory holds %v, want only %s", names, ModelsDiskName)
	}
}

func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache", "img")
	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Another open file description (as another process has) cannot
	// take the lock while it is held, and can once it is released.
	tryLock := func() error {
		f, err := os.Open(dir + ".lock")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err := tryLock(); err != unix.EWOULDBLOCK {
		t.Errorf("lock taken twice: %v", err)
	}
	unlock()
	if err := tryLock(); err != nil {
		t.Errorf("lock not released: %v", err)
	}
}
