package initsys

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ExitPort values that PID 1 writes to QEMU's isa-debug-exit device before
// powering off. QEMU then exits with (value<<1)|1, so `ainative vm` can
// tell a clean shutdown from a PID 1 failure and both from a kernel panic
// or reset (QEMU's own 0 under -no-reboot) and from QEMU's errors (1).
const (
	ExitPortClean   = 0x10 // QEMU exits 33
	ExitPortFailure = 0x11 // QEMU exits 35
)

// QEMU exit statuses produced by the ExitPort values.
const (
	QEMUExitClean   = ExitPortClean<<1 | 1
	QEMUExitFailure = ExitPortFailure<<1 | 1
)

// ModelsDiskParam is the kernel parameter naming the block device of the
// models disk (`ainative vm` passes ainative.models=/dev/vda).
const ModelsDiskParam = "ainative.models"

// bootParams are the ainative.* kernel command-line parameters.
type bootParams struct {
	exitPort   int64 // I/O port of isa-debug-exit; 0: none
	hostname   string
	modelsDisk string // block device holding the SquashFS models disk
	dataDisk   string // block device holding the data file system
	// statusAllow are peers admitted to the status page without a token.
	statusAllow []netip.Prefix
}

// parseCmdline reads the ainative.* parameters of a kernel command line.
// A malformed one is left out and reported in the error, with the others
// still returned: a typo in a boot parameter must not keep the machine
// from booting to a console.
func parseCmdline(cmdline string) (bootParams, error) {
	var p bootParams
	var errs []error
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "ainative.exitport":
			port, err := strconv.ParseInt(v, 0, 32)
			if err != nil || port <= 0 || port > 0xffff {
				errs = append(errs, fmt.Errorf("kernel command line: ainative.exitport=%q is not an I/O port", v))
				continue
			}
			p.exitPort = port
		case "ainative.hostname":
			p.hostname = v
		case ModelsDiskParam:
			if !strings.HasPrefix(v, "/dev/") || strings.Contains(v, "..") {
				errs = append(errs, fmt.Errorf("kernel command line: %s=%q is not a /dev path", ModelsDiskParam, v))
				continue
			}
			p.modelsDisk = v
		case DataDiskParam:
			if label, ok := strings.CutPrefix(v, partLabelPrefix); ok && label != "" && !strings.ContainsAny(label, "/") {
				p.dataDisk = v
				continue
			}
			if !strings.HasPrefix(v, "/dev/") || strings.Contains(v, "..") {
				errs = append(errs, fmt.Errorf("kernel command line: %s=%q is not a /dev path or PARTLABEL=NAME", DataDiskParam, v))
				continue
			}
			p.dataDisk = v
		case StatusAllowParam:
			allow, err := parseAllow(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("kernel command line: %s: %w", StatusAllowParam, err))
				continue
			}
			p.statusAllow = append(p.statusAllow, allow...)
		}
	}
	return p, errors.Join(errs...)
}

// writeExitPort writes value to the isa-debug-exit port through /dev/port
// (CONFIG_DEVPORT). QEMU exits at once, so this only returns on failure.
func writeExitPort(port int64, value byte) error {
	f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt([]byte{value}, port)
	return err
}

// powerOff syncs and powers the machine off (or reboots). In a VM started
// by `ainative vm`, it first reports through the exit port whether the
// shutdown is clean.
func powerOff(params bootParams, reboot, failed bool) error {
	syncDisks()
	if params.exitPort != 0 && !reboot {
		v := byte(ExitPortClean)
		if failed {
			v = ExitPortFailure
		}
		if err := writeExitPort(params.exitPort, v); err != nil {
			fmt.Fprintf(os.Stderr, "ainative: exit port: %v\n", err)
		}
	}
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	}
	return unix.Reboot(cmd)
}
