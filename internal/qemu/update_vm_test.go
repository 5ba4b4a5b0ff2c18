package qemu_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/image"
	"github.com/raym33/ainative/internal/qemu"
	"github.com/raym33/ainative/internal/update"
)

// diskBoot is one boot of a disk image under OVMF with its own variable
// store, an update bundle attached as /dev/vdb.
type diskBoot struct {
	t      *testing.T
	vm     *qemu.VM
	con    *console
	typeIn io.Writer
}

func bootDisk(t *testing.T, disk, code, vars, bundle string) *diskBoot {
	t.Helper()
	vm, con, typeIn := startVM(t, &qemu.Config{BootDisk: disk, Firmware: code, FirmwareVars: vars, Disks: []string{bundle}}, 6*time.Minute)
	return &diskBoot{t: t, vm: vm, con: con, typeIn: typeIn}
}

// logged waits until want is anywhere on the console, leaving expect's
// position alone: PID 1's log lines and the shell's prompt come in
// either order.
func (c *console) logged(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(c.String(), want) {
		select {
		case <-c.notify:
		case <-c.exited:
			if !strings.Contains(c.String(), want) {
				t.Fatalf("QEMU exited before %q appeared on the console", want)
			}
		case <-deadline:
			t.Fatalf("no %q on the console after %v", want, timeout)
		}
	}
}

// run types a shell command and returns its output.
func (b *diskBoot) run(cmd string, timeout time.Duration) string {
	b.t.Helper()
	fmt.Fprintf(b.typeIn, "%s; echo DONE$((6*7))\r", cmd)
	return b.con.expect(b.t, "DONE42", timeout)
}

// waitExit waits for QEMU to end: a reboot ends it (-no-reboot).
func (b *diskBoot) waitExit(timeout time.Duration) {
	b.t.Helper()
	if code, err := b.vm.WaitTimeout(timeout); err != nil || code != 0 {
		b.t.Fatalf("QEMU status %d, %v", code, err)
	}
}

// TestVMDiskUpdateRollback boots a disk image under OVMF with persistent
// NVRAM: slot A first (through the ESP's BOOTX64.EFI, as on fresh
// firmware), whose
// healthy boot writes the boot entries; a broken update into slot B
// (its initramfs does not unpack: the kernel panics) is tried once and
// the machine comes back on A from the firmware's own boot entry; a good
// update then boots from B and is committed.
func TestVMDiskUpdateRollback(t *testing.T) {
	needQEMU(t)
	code, template, err := qemu.FindOVMFSplit()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (scripts/ci-deps.sh installs ovmf)", err)
		}
		t.Skip(err)
	}
	img := plainImageDir(t, ainative(t))
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.img")
	if err := image.WriteDisk(disk, img, image.MinDiskSize); err != nil {
		t.Fatal(err)
	}
	vars, err := qemu.DiskVars(disk, template)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.bundle")
	if _, err := image.WriteUpdateBundle(good, img, "v2-good", nil); err != nil {
		t.Fatal(err)
	}
	m, err := image.ReadManifest(img)
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk-initrd")
	os.WriteFile(junk, []byte(strings.Repeat("not an initramfs\n", 4096)), 0o644)
	paths, order := update.BundleFiles(filepath.Join(img, m.Kernel), junk)
	bm, err := update.NewManifest("v2-broken", "amd64", image.DiskCmdline("amd64"), paths, order)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.bundle")
	f, err := os.Create(broken)
	if err != nil {
		t.Fatal(err)
	}
	if err := update.WriteBundle(f, bm, paths, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Boot 1: fresh NVRAM, so the removable-media path, the ESP's
	// BOOTX64.EFI; PID 1 commits slot A, which writes its boot entry.
	b := bootDisk(t, disk, code, vars, broken)
	b.con.expect(t, prompt, 5*time.Minute)
	if strings.Contains(b.con.String(), "startup.nsh") {
		t.Error("the first boot went through the UEFI shell, not BOOTX64.EFI")
	}
	b.con.logged(t, "slot a committed", time.Minute)
	out := b.run("ainative update /dev/vdb", 3*time.Minute)
	if !strings.Contains(out, "installed version v2-broken into slot b") {
		t.Fatalf("update: %q", out)
	}
	out = b.run("ainative update --status", time.Minute)
	for _, want := range []string{"current slot:   a", "committed slot: a", "next boot:      b", "version v2-broken"} {
		if !strings.Contains(out, want) {
			t.Errorf("status after the update lacks %q: %q", want, out)
		}
	}
	fmt.Fprintf(b.typeIn, "reboot\r")
	b.waitExit(2 * time.Minute)

	// Boot 2: BootNext starts slot B once; its kernel panics, ending
	// QEMU (a real machine would reset).
	b = bootDisk(t, disk, code, vars, good)
	b.con.expect(t, `starting Boot0B0B "ainative B"`, 3*time.Minute)
	b.con.expect(t, "Kernel panic", 5*time.Minute)
	b.waitExit(time.Minute)

	// Boot 3: BootOrder starts slot A again, straight from the firmware.
	b = bootDisk(t, disk, code, vars, good)
	b.con.expect(t, `starting Boot0A0A "ainative A"`, 3*time.Minute)
	b.con.expect(t, "booted from slot a", 5*time.Minute)
	b.con.expect(t, prompt, 2*time.Minute)
	out = b.run("ainative update --status && ainative update /dev/vdb", 3*time.Minute)
	if !strings.Contains(out, "current slot:   a") || !strings.Contains(out, "installed version v2-good into slot b") {
		t.Fatalf("back on A, then the good update: %q", out)
	}
	if strings.Contains(b.con.String(), "startup.nsh") {
		t.Error("the firmware went through the UEFI shell instead of the slot's boot entry")
	}
	fmt.Fprintf(b.typeIn, "reboot\r")
	b.waitExit(2 * time.Minute)

	// Boot 4: slot B on trial, healthy, committed.
	b = bootDisk(t, disk, code, vars, good)
	b.con.expect(t, `starting Boot0B0B "ainative B"`, 3*time.Minute)
	b.con.expect(t, `booted from slot b" committed=a trial=true`, 5*time.Minute)
	b.con.expect(t, prompt, 5*time.Minute)
	b.con.logged(t, "slot b committed", time.Minute)
	out = b.run("ainative update --status", time.Minute)
	for _, want := range []string{"current slot:   b", "committed slot: b", "version v2-good"} {
		if !strings.Contains(out, want) {
			t.Errorf("status on B lacks %q: %q", want, out)
		}
	}
	fmt.Fprintf(b.typeIn, "poweroff\r")
	b.waitExit(2 * time.Minute)
}
