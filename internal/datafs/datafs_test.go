package datafs

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// needE2fsck skips without e2fsck, except under CI, where
// scripts/ci-deps.sh installs e2fsprogs.
func needE2fsck(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"e2fsck", "/usr/sbin/e2fsck", "/sbin/e2fsck"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("e2fsck not found (scripts/ci-deps.sh installs e2fsprogs)")
	}
	t.Skip("e2fsck not found: install e2fsprogs")
	return ""
}

// TestCreateImageIsCleanExt4 checks the formatter's output with e2fsck,
// for a small disk and one of the default size; the VM tests of
// internal/qemu check that the kernel mounts it.
func TestCreateImageIsCleanExt4(t *testing.T) {
	e2fsck := needE2fsck(t)
	// 736 MiB + 8 KiB: groups of unequal sizes, where go-diskfs alone
	// makes 4088 inodes a group, which the kernel rejects.
	for _, size := range []int64{MinSize, 736<<20 + 8192, 4 << 30} {
		path := filepath.Join(t.TempDir(), "data.img")
		if err := CreateImage(path, size); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(e2fsck, "-f", "-n", path).CombinedOutput()
		if err != nil {
			t.Fatalf("size %d: e2fsck: %v\n%s", size, err, out)
		}
		if bytes.Contains(out, []byte("?")) {
			t.Fatalf("size %d: e2fsck asked to repair something:\n%s", size, out)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c, err := Probe(f)
		fi, _ := f.Stat()
		if err != nil || c.Kind != Ext4 || c.Label != Label {
			t.Fatalf("size %d: Probe = %+v, %v; want ext4 labelled %s", size, c, err, Label)
		}
		sb := make([]byte, 4096)
		if _, err := f.ReadAt(sb, 0); err != nil {
			t.Fatal(err)
		}
		if ipg := binary.LittleEndian.Uint32(sb[sbOffset+0x28:]); ipg == 0 || ipg%(blockSize/inodeSize) != 0 {
			t.Errorf("size %d: %d inodes per group, not whole inode-table blocks", size, ipg)
		}
		if fi.Size() != size {
			t.Errorf("size %d: file is %d bytes", size, fi.Size())
		}
		// Sparse: the zeros of the journal and inode tables take no room.
		if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; size > MinSize && used > size/16 {
			t.Errorf("a new %d GiB disk takes %d MiB on the host; want it sparse", size>>30, used>>20)
		}
	}
}

func TestCreateImageRefusesExistingAndBadSizes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.img")
	if err := os.WriteFile(path, []byte("state"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CreateImage(path, MinSize); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("CreateImage over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "state" {
		t.Fatalf("existing file changed to %q", b)
	}
	for _, size := range []int64{0, -1, MinSize - 1, MaxSize + 1} {
		p := filepath.Join(dir, "bad.img")
		if err := CreateImage(p, size); err == nil || !strings.Contains(err.Error(), "want") {
			t.Errorf("size %d: %v", size, err)
		}
		if _, err := os.Stat(p); err == nil {
			t.Errorf("size %d: a file was left behind", size)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestProbe(t *testing.T) {
	img := func(at int, b []byte) *bytes.Reader {
		d := make([]byte, 2<<20)
		copy(d[at:], b)
		return bytes.NewReader(d)
	}
	for _, tc := range []struct {
		name string
		disk *bytes.Reader
		want Kind
		what string
	}{
		{"blank", img(0, nil), Blank, "blank"},
		{"gpt", img(512, []byte("EFI PART")), Other, "GPT"},
		{"mbr", img(510, []byte{0x55, 0xAA}), Other, "MBR"},
		{"squashfs", img(0, []byte("hsqs")), Other, "SquashFS"},
		{"data late in the first MiB", img(probeSize-1, []byte{1}), Other, "unknown"},
		{"data after the first MiB", img(probeSize, []byte{1}), Blank, "blank"},
		{"ext4", img(sbMagicOffset, []byte{0x53, 0xEF}), Ext4, "ext4"},
	} {
		c, err := Probe(tc.disk)
		if err != nil || c.Kind != tc.want || !strings.Contains(c.What, tc.what) {
			t.Errorf("%s: Probe = %+v, %v; want kind %d, %q", tc.name, c, err, tc.want, tc.what)
		}
	}
	if _, err := Probe(bytes.NewReader(make([]byte, 100))); err == nil {
		t.Error("Probe of a 100-byte disk: no error")
	}
}

func FuzzProbe(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 4096))
	sb := make([]byte, 4096)
	copy(sb[sbMagicOffset:], []byte{0x53, 0xEF})
	copy(sb[sbLabelOffset:], "0123456789abcdefXYZ")
	f.Add(sb)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Probe(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(c.Label) > 16 || c.What == "" {
			t.Fatalf("Probe = %+v", c)
		}
	})
}
