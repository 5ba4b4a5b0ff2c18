package kmod

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// fakeModule builds a minimal ELF64 relocatable file whose .modinfo holds
// the given key=value strings: enough for ParseInfo, not for the kernel.
func fakeModule(kv ...string) []byte {
	modinfo := []byte(strings.Join(kv, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	modOff := uint64(ehsize)
	strOff := modOff + uint64(len(modinfo))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7
	var b bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shOff, Ehsize: ehsize, Shentsize: shentsize, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&b, binary.LittleEndian, hdr)
	b.Write(modinfo)
	b.Write(shstr)
	b.Write(make([]byte, shOff-uint64(b.Len())))
	for _, sh := range []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Off: modOff, Size: uint64(len(modinfo)), Addralign: 1},
		{Name: 10, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstr)), Addralign: 1},
	} {
		binary.Write(&b, binary.LittleEndian, sh)
	}
	return b.Bytes()
}

func writeModule(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	switch filepath.Ext(path) {
	case ".xz":
		w, _ := xz.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case ".zst":
		w, _ := zstd.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case ".gz":
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	default:
		buf.Write(data)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseInfo(t *testing.T) {
	info, err := ParseInfo(fakeModule("license=GPL", "depends=virtio,net-failover", "name=virtio_net", "alias=virtio:d00000001v*"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "virtio_net" || !slices.Equal(info.Depends, []string{"virtio", "net_failover"}) {
		t.Errorf("info = %+v", info)
	}
	info, err = ParseInfo(fakeModule("depends="))
	if err != nil || len(info.Depends) != 0 {
		t.Errorf("empty depends: %+v %v", info, err)
	}
	if _, err := ParseInfo([]byte("not elf")); err == nil || !strings.Contains(err.Error(), "not an ELF module") {
		t.Errorf("err = %v", err)
	}
}

func TestResolveOrdersDependenciesAcrossCompressions(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, filepath.Join(dir, "kernel/drivers/a.ko"), fakeModule("name=a", "depends=b,c"))
	writeModule(t, filepath.Join(dir, "kernel/drivers/b.ko.xz"), fakeModule("name=b", "depends=c"))
	writeModule(t, filepath.Join(dir, "kernel/lib/c.ko.zst"), fakeModule("name=c", "depends=builtin-one"))
	writeModule(t, filepath.Join(dir, "kernel/net/d-dash.ko.gz"), fakeModule("name=d_dash", "depends="))
	writeModule(t, filepath.Join(dir, "kernel/x/cyc1.ko"), fakeModule("name=cyc1", "depends=cyc2"))
	writeModule(t, filepath.Join(dir, "kernel/x/cyc2.ko"), fakeModule("name=cyc2", "depends=cyc1"))
	writeModule(t, filepath.Join(dir, "kernel/x/needs-missing.ko"), fakeModule("depends=ghost"))
	os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/foo/builtin-one.ko\n"), 0o644)

	ix, err := NewIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ix.Resolve("a", "d-dash", "builtin_one", "b")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	if got := strings.Join(names, ","); got != "c,b,a,d_dash" {
		t.Errorf("order = %s, want c,b,a,d_dash", got)
	}
	if !ix.Builtin("builtin-one") || ix.Path("b") == "" {
		t.Error("index lookups failed")
	}
	if _, err := ix.Resolve("cyc1"); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
	if _, err := ix.Resolve("needs-missing"); err == nil || !strings.Contains(err.Error(), "ghost (needed by needs_missing) not found") {
		t.Errorf("missing dep: %v", err)
	}
	if _, err := ix.Resolve("nope"); err == nil || !strings.Contains(err.Error(), "module nope not found in "+dir) {
		t.Errorf("missing: %v", err)
	}
}

func FuzzParseInfo(f *testing.F) {
	f.Add(fakeModule("name=x", "depends=a,b"))
	f.Add(fakeModule(""))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseInfo(data)
		if err == nil && info.Name != Canonical(info.Name) {
			t.Fatalf("name %q not canonical", info.Name)
		}
	})
}
