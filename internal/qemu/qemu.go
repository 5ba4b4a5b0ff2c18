// Package qemu boots an ainative image in QEMU: KVM when /dev/kvm really
// works (on some hosts, nested ones for instance, the device exists but
// cannot create a VM), TCG otherwise; the serial console on standard I/O;
// host loopback ports forwarded to guest ports; and always -no-reboot
// with the kernel's panic=-1, so that a guest panic ends the VM instead
// of hanging it.
//
// On amd64 the guest reports how it ended through QEMU's isa-debug-exit
// device (see initsys.ExitPortClean), which Outcome decodes: a clean
// power-off, a PID 1 failure, and a kernel panic or reset (QEMU's own
// status 0 under -no-reboot) are told apart.
package qemu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/atomicfile"
	"github.com/raym33/ainative/internal/initsys"
)

// Forward maps a TCP port on the host's loopback to a port in the guest.
type Forward struct {
	Host, Guest int
}

// ParseForward reads "HOST:GUEST" (HOST 0 picks a free port).
func ParseForward(s string) (Forward, error) {
	h, g, ok := strings.Cut(s, ":")
	host, err1 := strconv.Atoi(h)
	guest, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || host < 0 || host > 65535 || guest <= 0 || guest > 65535 {
		return Forward{}, fmt.Errorf("forward %q: want HOST:GUEST port numbers, e.g. 8080:8080 (HOST 0: any free port)", s)
	}
	return Forward{Host: host, Guest: guest}, nil
}

// Config is one VM.
type Config struct {
	Arch      string // amd64 (default) or arm64
	Kernel    string
	Initrd    string
	Append    string // extra kernel command-line parameters
	MemoryMiB int    // default 1024
	CPUs      int    // default 2
	// Accel is "auto" (default: KVM when usable), "kvm" or "tcg".
	Accel    string
	Forwards []Forward
	// Disks are raw images attached read-only as virtio disks (vda, vdb...).
	Disks []string
	// DataDisk is a raw image attached writable after Disks, as the data
	// disk PID 1 mounts at /var/lib/ainative (initsys.DataDiskParam
	// names it). QEMU locks it: a second VM on the same disk fails to start.
	DataDisk string
	// DataDiskReadOnly attaches DataDisk read-only: PID 1 then mounts it
	// read-only and says so (a way to look at a state without changing it).
	DataDiskReadOnly bool
	// BootDisk, instead of Kernel and Initrd, boots a disk image (from
	// `image build --disk`) with the UEFI firmware Firmware (OVMF),
	// attached writable as the first virtio disk. The kernel command line
	// is the disk's own; Append and the exit port are not used, so a
	// clean power-off and a panic both end QEMU with status 0. The guest
	// gets no network card (see Args).
	BootDisk, Firmware string
	// FirmwareVars, with BootDisk, is a writable copy of the firmware's
	// variable store (OVMF_VARS): Firmware is then the code alone
	// (OVMF_CODE), and both are attached as flash, so that boot entries
	// written by the guest survive a reboot. Empty: Firmware is one
	// image whose variables live in RAM.
	FirmwareVars string
	// Interactive attaches the console to the terminal with QEMU's
	// monitor multiplexed on it (Ctrl-A x quits, Ctrl-A h helps).
	// Otherwise the console is Stdin and Stdout.
	Interactive    bool
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ExtraSerial are files for the second and further serial ports
	// (ttyS1, ttyS2): the output of `vm -c`'s command.
	ExtraSerial []*os.File
}

// Binary returns the QEMU system emulator for arch, or an error that says
// how to install it.
func Binary(arch string) (string, error) {
	name := map[string]string{"amd64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64"}[arch]
	if name == "" {
		return "", fmt.Errorf("no QEMU for architecture %q", arch)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := map[string]string{"amd64": "qemu-system-x86", "arm64": "qemu-system-arm"}[arch]
		return "", fmt.Errorf("%s not found in $PATH: install QEMU (Debian/Ubuntu: apt-get install %s; Fedora: dnf install %s)", name, pkg, pkg)
	}
	return p, nil
}

// KVM ioctls (linux/kvm.h).
const (
	kvmGetAPIVersion = 0xAE00
	kvmCreateVM      = 0xAE01
	kvmAPIVersion    = 12
)

// KVMUsable reports whether this process can run a KVM guest on this
// host's architecture, and if not, why. Opening /dev/kvm is not enough:
// on nested hosts it may even create a VM and then fail when QEMU sets
// up the vCPU (e.g. "failed to set MSR 0x10a"), so the last check starts
// QEMU itself with KVM, paused, and quits it (about 50 ms).
func KVMUsable(arch string) (bool, string) {
	if ok, why := kvmDevice(arch); !ok {
		return false, why
	}
	bin, err := Binary(arch)
	if err != nil {
		return false, err.Error()
	}
	machine := map[string]string{"amd64": "pc", "arm64": "virt"}[arch]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-accel", "kvm", "-cpu", "host", "-machine", machine,
		"-S", "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "stdio")
	cmd.Stdin = strings.NewReader("quit\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if i := strings.LastIndex(msg, "qemu-system"); i >= 0 {
			msg = msg[i:]
		}
		return false, fmt.Sprintf("QEMU cannot start a KVM vCPU here (%v): %s", err, firstLine(msg))
	}
	return true, ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// kvmDevice checks /dev/kvm with the KVM API itself.
func kvmDevice(arch string) (bool, string) {
	if arch != goArch() {
		return false, "guest architecture differs from the host's"
	}
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Sprintf("/dev/kvm: %v", err)
	}
	defer unix.Close(fd)
	v, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), kvmGetAPIVersion, 0)
	if errno != 0 || v != kvmAPIVersion {
		return false, fmt.Sprintf("KVM_GET_API_VERSION: %d %v", v, errno)
	}
	vm, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), kvmCreateVM, 0)
	if errno != 0 {
		return false, fmt.Sprintf("KVM_CREATE_VM: %v (nested virtualisation without KVM support?)", errno)
	}
	unix.Close(int(vm))
	return true, ""
}

// userNetGateway is the address QEMU's user network (slirp) gives the
// host, from which forwarded connections arrive in the guest.
const userNetGateway = "10.0.2.2"

// exitPort is the isa-debug-exit I/O port on amd64.
const exitPort = 0xf4

// Args returns QEMU's command line (without the binary) and the
// accelerator chosen.
func (c *Config) Args() (args []string, accel string, err error) {
	arch := c.Arch
	if arch == "" {
		arch = "amd64"
	}
	mem, cpus := c.MemoryMiB, c.CPUs
	if mem <= 0 {
		mem = 1024
	}
	if cpus <= 0 {
		cpus = 2
	}
	switch c.Accel {
	case "", "auto":
		accel = "tcg"
		if ok, _ := KVMUsable(arch); ok {
			accel = "kvm"
		}
	case "kvm":
		if ok, why := KVMUsable(arch); !ok {
			return nil, "", fmt.Errorf("KVM not usable: %s", why)
		}
		accel = "kvm"
	case "tcg":
		accel = "tcg"
	default:
		return nil, "", fmt.Errorf("accel %q: want auto, kvm or tcg", c.Accel)
	}
	cpu := "max"
	switch {
	case accel == "kvm":
		cpu = "host"
	case arch == "arm64":
		// The architected pointer authentication (QARMA) is costly to
		// emulate; the implementation-defined one is cheap, and the
		// guest only needs it to be consistent.
		cpu = "max,pauth-impdef=on"
	}
	accelArg := accel
	if accel == "tcg" && cpus > 1 {
		// One host thread runs every vCPU in turn. With QEMU's
		// multi-threaded TCG, the kernel's live patching of its own
		// code (int3 breakpoints while other CPUs run it) oopsed about
		// one boot in ten here; serialized vCPUs see the patch whole.
		accelArg = "tcg,thread=single"
	}
	cmdline := []string{"panic=-1", "oops=panic"}
	args = []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", accelArg, "-cpu", cpu, "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus)}
	if c.BootDisk != "" {
		if strings.Contains(c.BootDisk, ",") || strings.Contains(c.Firmware, ",") || strings.Contains(c.FirmwareVars, ",") {
			return nil, "", fmt.Errorf("disk %q or firmware %q %q: QEMU cannot take a comma in it", c.BootDisk, c.Firmware, c.FirmwareVars)
		}
		machine := map[string]string{"amd64": "q35", "arm64": "virt"}[arch]
		if machine == "" {
			return nil, "", fmt.Errorf("architecture %q: want amd64 or arm64", arch)
		}
		switch {
		case c.FirmwareVars != "":
			args = append(args, "-machine", machine,
				"-drive", fmt.Sprintf("if=pflash,format=raw,unit=0,readonly=on,file=%s", c.Firmware),
				"-drive", fmt.Sprintf("if=pflash,format=raw,unit=1,file=%s", c.FirmwareVars))
		case arch == "arm64":
			// AAVMF keeps its variables in the second flash device.
			return nil, "", fmt.Errorf("booting an arm64 disk needs the firmware's variable store (AAVMF_VARS)")
		default:
			args = append(args, "-bios", c.Firmware, "-machine", machine)
		}
		args = append(args, "-drive", fmt.Sprintf("file=%s,if=virtio,format=raw,cache=writeback", c.BootDisk))
		for _, d := range c.Disks {
			if strings.Contains(d, ",") {
				return nil, "", fmt.Errorf("disk path %q: QEMU cannot take a comma in it", d)
			}
			args = append(args, "-drive", fmt.Sprintf("file=%s,if=virtio,format=raw,readonly=on", d))
		}
		// No network card: OVMF would try PXE and HTTP boot on it for
		// minutes before its shell runs startup.nsh.
		if c.Interactive {
			args = append(args, "-serial", "mon:stdio")
		} else {
			args = append(args, "-serial", "stdio")
		}
		return args, accel, nil
	}
	args = append(args, "-kernel", c.Kernel, "-initrd", c.Initrd)
	switch arch {
	case "amd64":
		args = append(args, "-machine", "pc",
			"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=0x01", exitPort))
		// no_timer_check: under TCG on a busy host the kernel's IO-APIC
		// timer check can miss its window and panic ("IO-APIC + timer
		// doesn't work"); the check is for broken boards, not for QEMU.
		cmdline = append(cmdline, "console=ttyS0", "no_timer_check", fmt.Sprintf("ainative.exitport=%#x", exitPort))
	case "arm64":
		args = append(args, "-machine", "virt")
		cmdline = append(cmdline, "console=ttyAMA0")
	default:
		return nil, "", fmt.Errorf("architecture %q: want amd64 or arm64", arch)
	}
	for i, d := range c.Disks {
		if strings.Contains(d, ",") {
			return nil, "", fmt.Errorf("disk path %q: QEMU cannot take a comma in it", d)
		}
		args = append(args, "-drive", fmt.Sprintf("file=%s,if=virtio,format=raw,readonly=on,index=%d", d, i))
	}
	if d := c.DataDisk; d != "" {
		if strings.Contains(d, ",") {
			return nil, "", fmt.Errorf("data disk path %q: QEMU cannot take a comma in it", d)
		}
		// cache=writeback with flushes passed on: the guest's sync and
		// the journal's barriers reach the host's disk.
		mode := "cache=writeback,discard=unmap"
		if c.DataDiskReadOnly {
			mode = "readonly=on"
		}
		args = append(args, "-drive", fmt.Sprintf("file=%s,if=virtio,format=raw,%s,index=%d", d, mode, len(c.Disks)))
		cmdline = append(cmdline, fmt.Sprintf("%s=%s", initsys.DataDiskParam, VirtioDisk(len(c.Disks))))
	}
	netdev := "user,id=net0"
	for _, f := range c.Forwards {
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
		if f.Guest == initsys.StatusPort {
			// The forward reaches the guest from the user network's
			// gateway; only the host's loopback can open it, so the
			// status page may admit it without a token.
			cmdline = append(cmdline, initsys.StatusAllowParam+"="+userNetGateway)
		}
	}
	args = append(args, "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0")
	if c.Interactive {
		args = append(args, "-serial", "mon:stdio")
	} else {
		args = append(args, "-serial", "stdio")
	}
	for i := range c.ExtraSerial {
		// The files reach QEMU as descriptors 3, 4...; it reopens them by path.
		args = append(args, "-serial", fmt.Sprintf("file:/proc/self/fd/%d", 3+i))
	}
	if c.Append != "" {
		cmdline = append(cmdline, c.Append)
	}
	args = append(args, "-append", strings.Join(cmdline, " "))
	return args, accel, nil
}

// VirtioDisk is the guest's device name of the virtio disk at index i
// (/dev/vda, /dev/vdb...).
func VirtioDisk(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('a'+(i-1)%26)) + name
	}
	return "/dev/vd" + name
}

// OVMFPaths are where distributions install OVMF, QEMU's UEFI firmware
// for x86-64, as one file holding code and variables.
var OVMFPaths = []string{
	"/usr/share/ovmf/OVMF.fd",          // Debian, Ubuntu
	"/usr/share/edk2/ovmf/OVMF.fd",     // Fedora (older)
	"/usr/share/edk2-ovmf/x64/OVMF.fd", // Arch
	"/usr/share/qemu/ovmf-x86_64.bin",  // openSUSE
}

// FindOVMF returns the first OVMF firmware found, or an error that says
// how to install it.
func FindOVMF() (string, error) {
	for _, p := range OVMFPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no OVMF UEFI firmware in %s: install it (Debian/Ubuntu: apt-get install ovmf; Fedora: dnf install edk2-ovmf)", strings.Join(OVMFPaths, ", "))
}

// OVMFSplit are where distributions install OVMF as separate code and
// variable-store templates, which `vm --disk` needs for boot entries
// that persist: {code, vars}.
var OVMFSplit = [][2]string{
	{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},           // Debian, Ubuntu
	{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},                 // older Debian
	{"/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"},       // Fedora
	{"/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"},   // Arch
	{"/usr/share/qemu/ovmf-x86_64-code.bin", "/usr/share/qemu/ovmf-x86_64-vars.bin"}, // openSUSE
}

// AAVMFSplit are where distributions install the arm64 UEFI firmware
// (EDK2's ArmVirtQemu, "AAVMF" on Debian) as code and variable-store
// templates: {code, vars}.
var AAVMFSplit = [][2]string{
	{"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"},                                // Debian, Ubuntu
	{"/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw", "/usr/share/edk2/aarch64/vars-template-pflash.raw"}, // Fedora
	{"/usr/share/edk2/aarch64/QEMU_CODE.fd", "/usr/share/edk2/aarch64/QEMU_VARS.fd"},                    // Arch
}

// FindFirmwareSplit returns the UEFI firmware's code and variable-store
// template for arch (OVMF for amd64, AAVMF for arm64), or an error that
// says how to install them.
func FindFirmwareSplit(arch string) (code, vars string, err error) {
	if arch == "arm64" {
		if code, vars, ok := findPair(AAVMFSplit); ok {
			return code, vars, nil
		}
		return "", "", fmt.Errorf("no arm64 UEFI firmware (AAVMF_CODE/AAVMF_VARS) found: install it (Debian/Ubuntu: apt-get install qemu-efi-aarch64; Fedora: dnf install edk2-aarch64)")
	}
	return FindOVMFSplit()
}

// FindOVMFSplit returns the first OVMF code and variable-store template
// found, or an error that says how to install them.
func FindOVMFSplit() (code, vars string, err error) {
	if code, vars, ok := findPair(OVMFSplit); ok {
		return code, vars, nil
	}
	return "", "", fmt.Errorf("no OVMF code and variable store (OVMF_CODE/OVMF_VARS) found: install it (Debian/Ubuntu: apt-get install ovmf; Fedora: dnf install edk2-ovmf)")
}

// findPair returns the first pair of files that both exist.
func findPair(pairs [][2]string) (a, b string, ok bool) {
	for _, p := range pairs {
		_, err1 := os.Stat(p[0])
		_, err2 := os.Stat(p[1])
		if err1 == nil && err2 == nil {
			return p[0], p[1], true
		}
	}
	return "", "", false
}

// FreePort returns a TCP port that is free on the host's loopback now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// VM is a running QEMU.
type VM struct {
	Accel  string
	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	killed atomic.Bool
}

// Start starts QEMU. Forwards with Host 0 get a free port first (written
// back into c.Forwards).
func Start(ctx context.Context, c *Config) (*VM, error) {
	bin, err := Binary(cmp.Or(c.Arch, "amd64"))
	if err != nil {
		return nil, err
	}
	for i := range c.Forwards {
		if c.Forwards[i].Host == 0 {
			if c.Forwards[i].Host, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	args, accel, err := c.Args()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	var stdinW *os.File
	if c.Interactive {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	} else {
		cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
		// Our own pipe for the console input: exec.Cmd would wait for
		// its copy of a non-file reader, which may block forever after
		// QEMU is gone. Without Stdin, QEMU gets an empty one, never
		// our terminal.
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		cmd.Stdin = r
		stdinW = w
		if c.Stdin != nil {
			go func() {
				io.Copy(w, c.Stdin)
				w.Close()
			}()
		} else {
			w.Close()
		}
	}
	cmd.ExtraFiles = c.ExtraSerial
	// QEMU dies with us rather than running on as an orphan.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		if stdinW != nil {
			stdinW.Close()
		}
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	vm := &VM{Accel: accel, cmd: cmd, done: make(chan struct{})}
	go func() {
		vm.err = cmd.Wait()
		if stdinW != nil && c.Stdin != nil {
			stdinW.Close() // ends the copy at its next write
		}
		close(vm.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			vm.Kill()
		case <-vm.done:
		}
	}()
	return vm, nil
}

// Kill stops QEMU at once.
func (vm *VM) Kill() {
	vm.killed.Store(true)
	_ = vm.cmd.Process.Kill()
}

// Done is closed when QEMU has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Wait waits for QEMU to exit and returns its exit status: -1 if Kill
// stopped it, -2 if it died of another signal (QEMU aborts on some
// internal errors).
func (vm *VM) Wait() (int, error) {
	<-vm.done
	var ee *exec.ExitError
	if vm.err != nil && !errors.As(vm.err, &ee) {
		return 0, vm.err
	}
	code := vm.cmd.ProcessState.ExitCode()
	if code == -1 && !vm.killed.Load() {
		code = -2
	}
	return code, nil
}

// WaitTimeout is Wait with a deadline, after which QEMU is killed.
func (vm *VM) WaitTimeout(d time.Duration) (int, error) {
	select {
	case <-vm.done:
	case <-time.After(d):
		vm.Kill()
		<-vm.done
		return -1, fmt.Errorf("VM still running after %v; killed", d)
	}
	return vm.Wait()
}

// Outcome is how a guest ended, decoded from QEMU's exit status.
type Outcome int

// The outcomes.
const (
	Clean     Outcome = iota // PID 1 powered off cleanly
	Failure                  // PID 1 reported a failure
	Reset                    // kernel panic, triple fault, reboot, or the monitor's quit
	QEMUError                // QEMU itself failed (bad options, missing files)
	Killed                   // QEMU was killed (timeout)
)

func (o Outcome) String() string {
	return [...]string{"clean power-off", "guest failure", "guest kernel panic or reset", "QEMU error", "killed"}[o]
}

// Classify decodes QEMU's exit status for arch.
func Classify(arch string, status int) Outcome {
	switch {
	case status == -1:
		return Killed
	case status < 0:
		return QEMUError
	case arch == "arm64" && status == 0:
		// No exit device: a power-off and a panic both end with 0.
		return Clean
	case status == initsys.QEMUExitClean:
		return Clean
	case status == initsys.QEMUExitFailure:
		return Failure
	case status == 0:
		return Reset
	}
	return QEMUError
}

func goArch() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	switch unix.ByteSliceToString(u.Machine[:]) {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return ""
}

// DiskVars returns the variable store kept beside a disk image
// (DISK.vars), copying template there first if it is missing: each disk
// keeps its own NVRAM, as a machine does, so the boot entries its system
// writes survive a reboot of the VM.
func DiskVars(disk, template string) (string, error) {
	vars := disk + ".vars"
	if _, err := os.Stat(vars); err == nil {
		return vars, nil
	}
	in, err := os.Open(template)
	if err != nil {
		return "", err
	}
	defer in.Close()
	return vars, atomicfile.Write(vars, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}
