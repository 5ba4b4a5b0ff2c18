package initsys

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// virtualConsole matches the kernel's virtual consoles, /dev/tty1 to
// /dev/tty63 (tty0 is "the current one", not a console of its own).
var virtualConsole = regexp.MustCompile(`^/dev/tty[1-9][0-9]?$`)

// errNoDisplay says why a virtual console gets no shell.
var errNoDisplay = errors.New("no display: no framebuffer and no PCI display controller")

// displayPresent reports whether the machine has a display for its
// virtual consoles: a framebuffer (/sys/class/graphics/fbN), or a PCI
// display controller (class 0x03, VGA text mode among them). Without
// one, as in `ainative vm` (QEMU with -nodefaults), the kernel's VT
// layer still makes /dev/tty1, but a shell there is seen by nobody and
// only takes CPU time from the boot. sys is the sysfs root.
func displayPresent(sys string) bool {
	if fbs, _ := filepath.Glob(filepath.Join(sys, "class/graphics/fb[0-9]*")); len(fbs) > 0 {
		return true
	}
	devs, _ := os.ReadDir(filepath.Join(sys, "bus/pci/devices"))
	for _, d := range devs {
		b, err := os.ReadFile(filepath.Join(sys, "bus/pci/devices", d.Name(), "class"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "0x03") {
			return true
		}
	}
	return false
}
