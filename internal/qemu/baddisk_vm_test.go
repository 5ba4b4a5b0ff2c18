package qemu_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/datafs"
	"github.com/raym33/ainative/internal/image"
	"github.com/raym33/ainative/internal/qemu"
)

// ext4 superblock fields the tests below change (offsets in the
// superblock, which starts 1024 bytes into the disk).
const (
	sbStart       = 1024
	sbLogBlock    = 0x18  // s_log_block_size
	sbLabel       = 0x78  // s_volume_name, 16 bytes
	sbChecksum    = 0x3fc // s_checksum: crc32c of the bytes before it
	sbLen         = 1024
	smallDataDisk = datafs.MinSize
)

// patchSuperblock applies change to the superblock of the ext4 image at
// path and, with fixChecksum, recomputes its checksum as mke2fs would.
func patchSuperblock(t *testing.T, path string, fixChecksum bool, change func(sb []byte)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb := make([]byte, sbLen)
	if _, err := f.ReadAt(sb, sbStart); err != nil {
		t.Fatal(err)
	}
	change(sb)
	if fixChecksum {
		// ext4 keeps crc32c without the final inversion Go applies.
		sum := ^crc32.Checksum(sb[:sbChecksum], crc32.MakeTable(crc32.Castagnoli))
		binary.LittleEndian.PutUint32(sb[sbChecksum:], sum)
	}
	if _, err := f.WriteAt(sb, sbStart); err != nil {
		t.Fatal(err)
	}
}

// TestVMFullDataDiskFromAnotherMachineReadOnly fills a small data disk
// from the guest: the write fails with a clear message and the shell
// goes on. The full disk, relabelled as another machine's and attached
// read-only, then still boots to the shell, which says all three.
func TestVMFullDataDiskFromAnotherMachineReadOnly(t *testing.T) {
	needQEMU(t)
	img := plainImageDir(t, ainative(t))
	disk := filepath.Join(t.TempDir(), "small.img")
	if err := datafs.CreateImage(disk, smallDataDisk); err != nil {
		t.Fatal(err)
	}
	out, errOut, st := vmCommand(t, nil, "--image", img, "--data", disk, "-c",
		"cat /dev/zero > /var/lib/ainative/fill; echo x > /var/lib/ainative/more; echo alive")
	if st != 0 || out != "alive\n" || !strings.Contains(errOut, "no space left on device") {
		t.Fatalf("filling the disk: status %d, stdout %q, stderr %q", st, out, errOut)
	}

	patchSuperblock(t, disk, true, func(sb []byte) {
		copy(sb[sbLabel:sbLabel+16], append([]byte("elsewhere"), make([]byte, 7)...))
	})
	m, err := image.ReadManifest(img)
	if err != nil {
		t.Fatal(err)
	}
	vm, con, typeIn := startVM(t, &qemu.Config{
		Kernel: filepath.Join(img, m.Kernel), Initrd: filepath.Join(img, m.Initramfs),
		DataDisk: disk, DataDiskReadOnly: true,
	}, 4*time.Minute)
	con.expect(t, prompt, 3*time.Minute)
	boot := con.String()
	for _, want := range []string{"data disk has another label", `label=elsewhere`, "is read-only: mounted it read-only", "data disk is full"} {
		if !strings.Contains(boot, want) {
			t.Errorf("the boot does not say %q", want)
		}
	}
	fmt.Fprintf(typeIn, "ls /var/lib/ainative; echo y > /var/lib/ainative/y; echo DONE$((1))\r")
	got := con.expect(t, "DONE1", 2*time.Minute)
	if !strings.Contains(got, "fill") || !strings.Contains(got, "read-only file system") {
		t.Errorf("on the read-only disk: %q", got)
	}
	fmt.Fprintf(typeIn, "poweroff\r")
	if code, err := vm.WaitTimeout(2 * time.Minute); err != nil || qemu.Classify("amd64", code) != qemu.Clean {
		t.Errorf("power-off: QEMU status %d, %v", code, err)
	}
}

// TestVMCorruptDataDisk boots with an ext4 data disk whose superblock the
// kernel refuses: PID 1 says so, runs the command with the state in
// memory, and leaves the disk as it was (no reformatting).
func TestVMCorruptDataDisk(t *testing.T) {
	needQEMU(t)
	img := plainImageDir(t, ainative(t))
	disk := filepath.Join(t.TempDir(), "corrupt.img")
	if err := datafs.CreateImage(disk, smallDataDisk); err != nil {
		t.Fatal(err)
	}
	patchSuperblock(t, disk, true, func(sb []byte) {
		binary.LittleEndian.PutUint32(sb[sbLogBlock:], 40) // a block size of 2^50 bytes
	})
	before, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, st := vmCommand(t, nil, "--image", img, "--data", disk, "--console", "-c", "echo x > /var/lib/ainative/probe && cat /var/lib/ainative/probe")
	if st != 0 || out != "x\n" || !strings.Contains(errOut, "(corrupt? dmesg says more); state is kept in memory") || strings.Contains(errOut, "Kernel panic") {
		t.Errorf("status %d, stdout %q, console %q", st, out, errOut)
	}
	if after, err := os.ReadFile(disk); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the corrupt disk was changed (%v)", err)
	}
}
