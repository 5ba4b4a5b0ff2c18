package kmod

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/raym33/ainative/internal/kmod/kmodtest"
)

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
	info, err := ParseInfo(kmodtest.Module("license=GPL", "depends=virtio,net-failover", "name=virtio_net", "alias=virtio:d00000001v*"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "virtio_net" || !slices.Equal(info.Depends, []string{"virtio", "net_failover"}) {
		t.Errorf("info = %+v", info)
	}
	info, err = ParseInfo(kmodtest.Module("depends="))
	if err != nil || len(info.Depends) != 0 {
		t.Errorf("empty depends: %+v %v", info, err)
	}
	if _, err := ParseInfo([]byte("not elf")); err == nil || !strings.Contains(err.Error(), "not an ELF module") {
		t.Errorf("err = %v", err)
	}
}

func TestResolveOrdersDependenciesAcrossCompressions(t *testing.T) {
	dir := t.TempDir()
	writeModule(t, filepath.Join(dir, "kernel/drivers/a.ko"), kmodtest.Module("name=a", "depends=b,c"))
	writeModule(t, filepath.Join(dir, "kernel/drivers/b.ko.xz"), kmodtest.Module("name=b", "depends=c"))
	writeModule(t, filepath.Join(dir, "kernel/lib/c.ko.zst"), kmodtest.Module("name=c", "depends=builtin-one"))
	writeModule(t, filepath.Join(dir, "kernel/net/d-dash.ko.gz"), kmodtest.Module("name=d_dash", "depends="))
	writeModule(t, filepath.Join(dir, "kernel/x/cyc1.ko"), kmodtest.Module("name=cyc1", "depends=cyc2"))
	writeModule(t, filepath.Join(dir, "kernel/x/cyc2.ko"), kmodtest.Module("name=cyc2", "depends=cyc1"))
	writeModule(t, filepath.Join(dir, "kernel/x/needs-missing.ko"), kmodtest.Module("depends=ghost"))
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
	f.Add(kmodtest.Module("name=x", "depends=a,b"))
	f.Add(kmodtest.Module(""))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseInfo(data)
		if err == nil && info.Name != Canonical(info.Name) {
			t.Fatalf("name %q not canonical", info.Name)
		}
	})
}
