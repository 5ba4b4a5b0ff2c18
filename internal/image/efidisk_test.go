package image

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/raym33/ainative/internal/datafs"
	"github.com/raym33/ainative/internal/efiboot"
	"github.com/raym33/ainative/internal/update"
)

// fakeImage writes an image directory with small stand-ins for the
// kernel and initramfs (the layout does not look inside them).
func fakeImage(t *testing.T, m Manifest) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"vmlinuz": "kernel", "initramfs.cpio.gz": "initramfs", ManifestName: ""} {
		if name == ManifestName {
			body = `{"arch":"` + m.Arch + `","kernel":"vmlinuz","initramfs":"initramfs.cpio.gz","models_disk":"` + m.ModelsDisk + `"}`
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWriteDiskLayout(t *testing.T) {
	dir := fakeImage(t, Manifest{Arch: "amd64"})
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := WriteDisk(path, dir, MinDiskSize+(5<<20)); err != nil {
		t.Fatal(err)
	}
	d, err := diskfs.Open(path, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	table, ok := d.Table.(*gpt.Table)
	if !ok {
		t.Fatalf("partition table %T, want GPT", d.Table)
	}
	var names []string
	for _, p := range table.Partitions {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "ainative-esp,ainative-root-a,ainative-root-b,ainative-data" {
		t.Fatalf("partitions %s", got)
	}
	if table.Partitions[0].Type != gpt.EFISystemPartition {
		t.Errorf("partition 1 type %s, want the EFI system partition", table.Partitions[0].Type)
	}
	esp, err := d.GetFilesystem(1)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"/vmlinuz": "kernel", "/initrd": "initramfs", "/startup.nsh": `\vmlinuz initrd=\initrd `, efiboot.RemovablePath("amd64"): "MZ"} {
		f, err := esp.OpenFile(name, os.O_RDONLY)
		if err != nil {
			t.Fatalf("ESP %s: %v", name, err)
		}
		b, _ := io.ReadAll(f)
		if !strings.HasPrefix(string(b), want) {
			t.Errorf("ESP %s = %q, want it to start with %q", name, b, want)
		}
		if name == "/startup.nsh" && !strings.HasSuffix(string(b), " ainative.slot=a\r\n") {
			t.Errorf("startup.nsh %q does not boot as slot A", b)
		}
		if name == efiboot.RemovablePath("amd64") && !bytes.Contains(b, efiboot.UCS2(`initrd=\initrd `+strings.Join(DiskCmdline("amd64"), " ")+" ainative.slot=a")) {
			t.Errorf("%s does not start the kernel with slot A's command line", name)
		}
	}
	raw, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Slot A holds the system, as an update would have written it; B is
	// blank until the first update.
	a, b := table.Partitions[1], table.Partitions[2]
	m, err := update.ReadSlot(file.New(raw, true), int64(a.Start)*512, int64(a.Size))
	if err != nil {
		t.Fatalf("slot A: %v", err)
	}
	if len(m.Files) != 2 || m.Files[0].Name != "vmlinuz" || m.Files[0].Size != int64(len("kernel")) || !slices.Contains(m.Cmdline, "ainative.data=PARTLABEL=ainative-data") {
		t.Errorf("slot A manifest %+v", m)
	}
	if _, err := update.ReadSlot(file.New(raw, true), int64(b.Start)*512, int64(b.Size)); err == nil {
		t.Error("slot B holds a system")
	}
	bundle := filepath.Join(t.TempDir(), "b.bundle")
	bm, err := WriteUpdateBundle(bundle, dir, "v9", nil)
	if err != nil {
		t.Fatal(err)
	}
	bf, err := os.Open(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	if vm, err := update.Verify(bf, nil, nil); err != nil || vm.Version != "v9" || bm.Files[1].SHA256 != m.Files[1].SHA256 {
		t.Errorf("bundle: %+v %v", vm, err)
	}
	data := table.Partitions[3]
	c, err := datafs.Probe(io.NewSectionReader(raw, int64(data.Start)*512, int64(data.Size)))
	if err != nil || c.Kind != datafs.Ext4 || c.Label != datafs.Label {
		t.Errorf("data partition: %+v, %v", c, err)
	}
}

func TestWriteDiskRefuses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "disk.img")
	for _, tc := range []struct {
		m    Manifest
		size int64
		want string
	}{
		{Manifest{Arch: "amd64"}, MinDiskSize - 1, "at least"},
		{Manifest{Arch: "riscv64"}, DefaultDiskSize, "amd64 and arm64"},
		{Manifest{Arch: "amd64", ModelsDisk: ModelsDiskName}, DefaultDiskSize, "models disk"},
	} {
		if err := WriteDisk(out, fakeImage(t, tc.m), tc.size); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v, %d bytes: %v, want an error saying %q", tc.m, tc.size, err, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("a disk was written")
		}
	}
}
