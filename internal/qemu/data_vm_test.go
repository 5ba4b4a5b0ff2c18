package qemu_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raym33/ainative/internal/image"
	"github.com/raym33/ainative/internal/qemu"
)

var plainImage struct {
	once sync.Once
	dir  string
	err  error
}

// plainImageDir builds one image without models, shared by the data
// disk tests.
func plainImageDir(t *testing.T, bin string) string {
	t.Helper()
	plainImage.once.Do(func() {
		plainImage.dir = filepath.Join(filepath.Dir(bin), "plain-image")
		out, err := exec.Command(bin, "image", "build", "-o", plainImage.dir).CombinedOutput()
		if err != nil {
			plainImage.err = fmt.Errorf("image build: %v\n%s", err, out)
		}
	})
	if plainImage.err != nil {
		t.Fatal(plainImage.err)
	}
	return plainImage.dir
}

// vmCommand runs `ainative vm -c` and returns its stdout, stderr and
// exit status.
func vmCommand(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(ainative(t), append([]string{"vm", "--timeout", "4m"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("vm %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func e2fsck(t *testing.T) string {
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

// TestVMStatePersistsByDefault checks that `vm` keeps a data disk per
// image in the cache directory (made and formatted on the host), so that
// a file written in one boot is there in the next, and that --ephemeral
// boots without it.
func TestVMStatePersistsByDefault(t *testing.T) {
	needQEMU(t)
	img := plainImageDir(t, ainative(t))
	env := []string{"XDG_CACHE_HOME=" + t.TempDir()}
	if out, errOut, st := vmCommand(t, env, "--image", img, "-c", "echo hi > /var/lib/ainative/probe"); st != 0 {
		t.Fatalf("first boot: status %d, stdout %q, stderr %q", st, out, errOut)
	}
	if out, errOut, st := vmCommand(t, env, "--image", img, "-c", "cat /var/lib/ainative/probe"); st != 0 || out != "hi\n" {
		t.Fatalf("second boot: status %d, stdout %q (want hi), stderr %q", st, out, errOut)
	}
	out, errOut, st := vmCommand(t, env, "--image", img, "--ephemeral", "-c", "cat /var/lib/ainative/probe")
	if st == 0 || out != "" || !strings.Contains(errOut, "no such file") {
		t.Errorf("--ephemeral boot sees the state: status %d, stdout %q, stderr %q", st, out, errOut)
	}
}

// TestVMDataDiskSurvivesKill boots with a blank data disk, which PID 1
// formats; writes and syncs a file, then kills QEMU (a power cut). The
// next boot finds the file, shuts down cleanly, and e2fsck then finds
// the file system clean.
func TestVMDataDiskSurvivesKill(t *testing.T) {
	needQEMU(t)
	fsck := e2fsck(t)
	img := plainImageDir(t, ainative(t))
	m, err := image.ReadManifest(img)
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(t.TempDir(), "data.img")
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 256<<20); err != nil {
		t.Fatal(err)
	}

	vm, con, typeIn := startVM(t, &qemu.Config{
		Kernel: filepath.Join(img, m.Kernel), Initrd: filepath.Join(img, m.Initramfs), DataDisk: disk,
	}, 4*time.Minute)
	con.expect(t, "formatted the blank data disk", 2*time.Minute)
	con.expect(t, prompt, 2*time.Minute)
	fmt.Fprintf(typeIn, "echo hi > /var/lib/ainative/probe; echo kept > /root/note; sync; echo SYNCED$((1))\r")
	con.expect(t, "SYNCED1", 2*time.Minute)
	// Unsynced writes may be lost; the file system must not be.
	fmt.Fprintf(typeIn, "echo unsynced > /var/lib/ainative/late\r")
	vm.Kill()
	if code, _ := vm.Wait(); qemu.Classify("amd64", code) != qemu.Killed {
		t.Fatalf("QEMU ended with %d before it was killed", code)
	}

	out, errOut, st := vmCommand(t, nil, "--image", img, "--data", disk, "-c", "cat /var/lib/ainative/probe /root/note; df /var/lib/ainative")
	if st != 0 || !strings.HasPrefix(out, "hi\nkept\n") || !strings.Contains(out, "/dev/vda") {
		t.Fatalf("boot after the kill: status %d, stdout %q, stderr %q", st, out, errOut)
	}
	if b, err := exec.Command(fsck, "-f", "-n", disk).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck after a clean shutdown: %v\n%s", err, b)
	}
}

// TestVMForeignDataDisk boots with a data disk that holds something other
// than a file system: PID 1 must not format it, must say so, and must
// still run the command with the state in memory.
func TestVMForeignDataDisk(t *testing.T) {
	needQEMU(t)
	img := plainImageDir(t, ainative(t))
	disk := filepath.Join(t.TempDir(), "foreign.img")
	junk := bytes.Repeat([]byte("not a file system "), 64<<20/18)
	if err := os.WriteFile(disk, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, st := vmCommand(t, nil, "--image", img, "--data", disk, "--console", "-c", "echo x > /var/lib/ainative/probe && cat /var/lib/ainative/probe")
	if st != 0 || out != "x\n" || !strings.Contains(errOut, "not an ext4 file system; not formatting it") {
		t.Errorf("status %d, stdout %q, console %q", st, out, errOut)
	}
	if b, err := os.ReadFile(disk); err != nil || !bytes.Equal(b, junk) {
		t.Errorf("the foreign disk was changed (%v)", err)
	}
}

// TestVMDiskImageBootsUEFI writes a disk image with `image build --disk`
// and boots it under OVMF with fresh variables, as a new machine or a
// cloud VM would: the firmware starts the ESP's \EFI\BOOT\BOOTX64.EFI
// (no UEFI shell), which starts the kernel's EFI stub with the
// initramfs and command line, and PID 1 mounts the data partition.
func TestVMDiskImageBootsUEFI(t *testing.T) {
	needQEMU(t)
	fw, err := qemu.FindOVMF()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (scripts/ci-deps.sh installs ovmf)", err)
		}
		t.Skip(err)
	}
	// The image directory is the one the other VM tests share.
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := image.WriteDisk(disk, plainImageDir(t, ainative(t)), 3<<30); err != nil {
		t.Fatal(err)
	}
	vm, con, typeIn := startVM(t, &qemu.Config{BootDisk: disk, Firmware: fw}, 5*time.Minute)
	con.expect(t, "data disk mounted", 4*time.Minute)
	con.expect(t, prompt, time.Minute)
	fmt.Fprintf(typeIn, "echo hi > /var/lib/ainative/probe && cat /var/lib/ainative/probe && df /var/lib/ainative; echo DONE$((1))\r")
	out := con.expect(t, "DONE1", 2*time.Minute)
	if !strings.Contains(out, "hi\r\n") || !strings.Contains(out, "/dev/vda4") {
		t.Errorf("writing to the data partition: %q", out)
	}
	fmt.Fprintf(typeIn, "poweroff\r")
	code, err := vm.WaitTimeout(2 * time.Minute)
	if err != nil || code != 0 {
		t.Errorf("power-off: QEMU status %d, %v", code, err)
	}
	if strings.Contains(con.String(), "EXT4-fs error") {
		t.Error("the kernel reported an ext4 error")
	}
	if strings.Contains(con.String(), "startup.nsh") {
		t.Error("the firmware went through the UEFI shell, not BOOTX64.EFI")
	}
	if !strings.Contains(con.String(), "data disk unmounted") {
		t.Error("PID 1 did not unmount the data partition")
	}
}

// TestVMDiskImageBootsArm64 does the same with an arm64 image under
// qemu-system-aarch64 and AAVMF (TCG): the firmware starts the ESP's
// \EFI\BOOT\BOOTAA64.EFI, and PID 1 mounts the data partition.
func TestVMDiskImageBootsArm64(t *testing.T) {
	needQEMU(t)
	_, errQEMU := qemu.Binary("arm64")
	code, template, errFW := qemu.FindFirmwareSplit("arm64")
	if err := errors.Join(errQEMU, errFW); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (scripts/ci-deps.sh installs them)", err)
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	cmd := exec.Command(ainative(t), "image", "build", "--arch", "arm64", "-o", img)
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("image build --arch arm64: %v\n%s", err, out)
	}
	disk := filepath.Join(dir, "disk.img")
	if err := image.WriteDisk(disk, img, image.MinDiskSize); err != nil {
		t.Fatal(err)
	}
	if arch, err := image.DiskArch(disk); err != nil || arch != "arm64" {
		t.Fatalf("DiskArch: %q, %v", arch, err)
	}
	vars, err := qemu.DiskVars(disk, template)
	if err != nil {
		t.Fatal(err)
	}
	vm, con, typeIn := startVM(t, &qemu.Config{Arch: "arm64", BootDisk: disk, Firmware: code, FirmwareVars: vars}, 8*time.Minute)
	con.expect(t, "data disk mounted", 6*time.Minute)
	con.expect(t, prompt, 2*time.Minute)
	fmt.Fprintf(typeIn, "uname -m; echo hi > /var/lib/ainative/probe && cat /var/lib/ainative/probe; echo DONE$((1))\r")
	out := con.expect(t, "DONE1", 2*time.Minute)
	if !strings.Contains(out, "aarch64\r\n") || !strings.Contains(out, "hi\r\n") {
		t.Errorf("uname and the data partition: %q", out)
	}
	fmt.Fprintf(typeIn, "poweroff\r")
	if _, err := vm.WaitTimeout(2 * time.Minute); err != nil {
		t.Errorf("power-off: %v", err)
	}
	if strings.Contains(con.String(), "startup.nsh") {
		t.Error("the firmware went through the UEFI shell, not BOOTAA64.EFI")
	}
	if !strings.Contains(con.String(), "data disk unmounted") {
		t.Error("PID 1 did not unmount the data partition")
	}
}
