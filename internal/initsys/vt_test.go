package initsys

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDisplayPresent(t *testing.T) {
	write := func(root, rel, body string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	headless := t.TempDir() // QEMU -nodefaults: a host bridge, ISA bridge, network card
	write(headless, "bus/pci/devices/0000:00:00.0/class", "0x060000\n")
	write(headless, "bus/pci/devices/0000:00:01.0/class", "0x060100\n")
	write(headless, "bus/pci/devices/0000:00:02.0/class", "0x020000\n")
	write(headless, "class/graphics/fbcon/uevent", "") // fbcon alone is no framebuffer
	if displayPresent(headless) {
		t.Error("a machine without a display has one")
	}
	vga := t.TempDir()
	write(vga, "bus/pci/devices/0000:00:02.0/class", "0x030000\n")
	if !displayPresent(vga) {
		t.Error("a PCI VGA controller is no display")
	}
	fb := t.TempDir()
	write(fb, "class/graphics/fb0/uevent", "")
	if !displayPresent(fb) {
		t.Error("a framebuffer is no display")
	}
	if displayPresent(filepath.Join(t.TempDir(), "missing")) {
		t.Error("no sysfs at all counts as a display")
	}
	for tty, want := range map[string]bool{"/dev/tty1": true, "/dev/tty12": true, "/dev/tty0": false, "/dev/ttyS0": false, "/dev/ttyAMA0": false, "/dev/tty": false} {
		if got := virtualConsole.MatchString(tty); got != want {
			t.Errorf("%s virtual console: %v, want %v", tty, got, want)
		}
	}
}
