package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/raym33/ainative/internal/datafs"
	"github.com/raym33/ainative/internal/image"
	"github.com/raym33/ainative/internal/initsys"
	"github.com/raym33/ainative/internal/qemu"
)

func init() { register(newVMCmd) }

// vmError is a failure of `ainative vm` with its own exit status.
type vmError struct {
	code int
	msg  string
}

func (e *vmError) Error() string { return e.msg }
func (e *vmError) ExitCode() int { return e.code }

func newVMCmd() *cobra.Command {
	var (
		flags      imageFlags
		imageDir   string
		command    string
		memory     int
		cpus       int
		accel      string
		forwards   []string
		statusPort int
		timeout    time.Duration
		console    bool
		kernelArgs string
		dataDisk   string
		dataSize   string
		ephemeral  bool
		bootDisk   string
		attach     []string
		bootTimes  int
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "vm [-c COMMAND]",
		Short: "Boot the ainative image in QEMU (KVM when usable, TCG otherwise)",
		Long: `Build the image (if needed; or use --image DIR) and boot it in QEMU with
the serial console on this terminal (Ctrl-A x quits, Ctrl-A h helps).
PID 1's status page (guest port 8080) is forwarded to a host loopback
port, printed at start; the kernel command line admits that forward
without the token other machines need.

State persists: PID 1 mounts a data disk at /var/lib/ainative (the model
store, the bus's database, policy, and /root with the shell history).
By default it is a file per image in the cache directory, made on first
use; --data FILE chooses another (a blank file is formatted at boot),
and --ephemeral boots without one, keeping state in memory only.

With -c COMMAND the guest runs COMMAND in its shell instead of the
consoles, its standard output and error come here, and the VM powers off
and exits with the command's status.

With --boot-times the VM boots to its shell prompt and its services
ready, powers off, and prints where the time went: each stage in ms
since QEMU started (PID 1 records its own on the kernel's clock and
serves them at /boot on its status page); --boot-times=N boots N times
and prints the medians, --json prints them as JSON.

Exit status: 0 after a clean power-off; with -c, the command's status;
123 when PID 1 reports a failure, 124 on --timeout, 125 when QEMU could
not run, 126 on a guest kernel panic or unexpected reset.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			hasCommand := cmd.Flags().Changed("command")
			ctx := cmd.Context()
			if bootDisk != "" {
				return runVMDisk(ctx, bootDisk, attach, memory, cpus, accel, timeout, hasCommand)
			}
			dir := imageDir
			if dir == "" {
				var err error
				if dir, err = cachedImage(ctx, cmd, &flags); err != nil {
					return &vmError{qemu.ExitHost, err.Error()}
				}
			}
			m, err := image.ReadManifest(dir)
			if err != nil {
				return &vmError{qemu.ExitHost, err.Error()}
			}
			cfg := &qemu.Config{
				Arch: m.Arch, Kernel: filepath.Join(dir, m.Kernel), Initrd: filepath.Join(dir, m.Initramfs),
				MemoryMiB: memory, CPUs: cpus, Accel: accel, Append: kernelArgs,
			}
			if m.ModelsDisk != "" {
				cfg.Disks = append(cfg.Disks, filepath.Join(dir, m.ModelsDisk))
				cfg.Append = strings.TrimSpace(cfg.Append + " " + initsys.ModelsDiskParam + "=/dev/vda")
			}
			if ephemeral && cmd.Flags().Changed("data") {
				return &vmError{qemu.ExitHost, "--data and --ephemeral exclude each other"}
			}
			if !ephemeral {
				size, err := parseSize(dataSize)
				if err != nil {
					return &vmError{qemu.ExitHost, "--data-size: " + err.Error()}
				}
				if cfg.DataDisk, err = vmDataDisk(dir, imageDir == "", dataDisk, size); err != nil {
					return &vmError{qemu.ExitHost, err.Error()}
				}
				if !hasCommand {
					fmt.Fprintf(os.Stderr, "ainative vm: data disk %s (--ephemeral: none)\n", cfg.DataDisk)
				}
			}
			cfg.Forwards = append(cfg.Forwards, qemu.Forward{Host: statusPort, Guest: initsys.StatusPort})
			for _, f := range forwards {
				fw, err := qemu.ParseForward(f)
				if err != nil {
					return &vmError{qemu.ExitHost, err.Error()}
				}
				cfg.Forwards = append(cfg.Forwards, fw)
			}
			if bootTimes > 0 {
				if hasCommand {
					return &vmError{qemu.ExitHost, "--boot-times boots to the shell prompt; it cannot run -c"}
				}
				return runVMBootTimes(ctx, cfg, bootTimes, timeout, asJSON, console)
			}
			if asJSON {
				return &vmError{qemu.ExitHost, "--json goes with --boot-times"}
			}
			if hasCommand {
				if m.Arch != "amd64" {
					// The output travels on ttyS1/ttyS2 and the status through
					// isa-debug-exit, which arm64's virt machine lacks.
					return &vmError{qemu.ExitHost, "vm -c needs an amd64 image; boot arm64 images interactively"}
				}
				return runVMCommand(ctx, cfg, command, timeout, console)
			}
			return runVMInteractive(ctx, cfg, timeout)
		},
	}
	flags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&imageDir, "image", "", "boot this image directory (from 'ainative image build') instead of building one")
	fl.StringVarP(&command, "command", "c", "", "run COMMAND in the guest's shell, print its output, power off, exit with its status")
	fl.IntVarP(&memory, "memory", "m", 1024, "guest memory in MiB")
	fl.IntVar(&cpus, "cpus", 2, "guest CPUs")
	fl.StringVar(&accel, "accel", "auto", "accelerator: auto (KVM when usable), kvm or tcg")
	fl.StringArrayVar(&forwards, "forward", nil, "forward host loopback port to guest port, HOST:GUEST (repeatable)")
	fl.IntVar(&statusPort, "status-port", 0, "host port for PID 1's status page (0: a free one)")
	fl.DurationVar(&timeout, "timeout", 0, "kill the VM after this long (0: never; with -c: 10m)")
	fl.BoolVar(&console, "console", false, "with -c or --boot-times, also show the guest's console (kernel and PID 1 messages) on standard error")
	fl.StringVar(&dataDisk, "data", "", "data disk image for /var/lib/ainative (default: one per image in the cache directory)")
	fl.StringVar(&dataSize, "data-size", "16G", "size of a data disk made here (sparse: it takes room as it fills)")
	fl.StringVar(&bootDisk, "disk", "", "boot this disk image (from 'ainative image build --disk') with UEFI firmware (OVMF, AAVMF on arm64); it keeps its own state, and its firmware variables in DISK.vars")
	fl.StringArrayVar(&attach, "attach", nil, "with --disk: a file attached read-only as the next virtio disk (/dev/vdb...), e.g. an update bundle for 'ainative update /dev/vdb' (repeatable)")
	fl.BoolVar(&ephemeral, "ephemeral", false, "no data disk: state lives in memory and is gone at power-off")
	fl.IntVar(&bootTimes, "boot-times", 0, "boot to the shell prompt and the services ready, power off, and print where the time went; =N: the median of N boots")
	fl.Lookup("boot-times").NoOptDefVal = "1"
	fl.BoolVar(&asJSON, "json", false, "with --boot-times, print the stages as JSON")
	fl.StringVar(&kernelArgs, "append", "loglevel=4", "extra kernel command-line parameters")
	return cmd
}

// cachedImage builds the image into the user's cache directory, keyed by
// this binary and the image options, unless it is there already.
func cachedImage(ctx context.Context, cmd *cobra.Command, flags *imageFlags) (string, error) {
	if err := flags.resolveModels(ctx); err != nil {
		return "", err
	}
	opts := flags.options(cmd, "")
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintln(h, opts.ModelNames) // the models' names in the guest (maps print sorted)
	for _, p := range append([]string{self, opts.Binary, opts.Kernel, opts.Services}, opts.Models...) {
		if p == "" {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return "", err
		}
		// The binary is hashed whole; large inputs by name, size and time.
		if p == self || fi.Size() < 64<<20 {
			_, err = io.Copy(h, f)
		} else {
			fmt.Fprintf(h, "%s %d %d", p, fi.Size(), fi.ModTime().UnixNano())
		}
		f.Close()
		if err != nil {
			return "", err
		}
	}
	ob, _ := json.Marshal(opts)
	h.Write(ob)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "ainative", "images", hex.EncodeToString(h.Sum(nil))[:16])
	// Another `vm` may be building the same image: wait for it, then use
	// its result, rather than build into the same files at once.
	unlock, err := image.LockDir(dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := image.ReadManifest(dir); err == nil {
		return dir, nil
	}
	opts.Out = dir
	if _, err := image.Build(ctx, opts); err != nil {
		return "", fmt.Errorf("building the image: %w", err)
	}
	return dir, nil
}

// vmDataDisk returns the data disk to attach: path when given, otherwise
// one in the cache directory for the image in dir (keyed by its cache
// name when cached, by its absolute path when given with --image). A
// missing disk is made, formatted, with size bytes; an existing file is
// used as it is (PID 1 formats it only if it is blank).
func vmDataDisk(dir string, cached bool, path string, size int64) (string, error) {
	if path == "" {
		key := filepath.Base(dir)
		if !cached {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return "", err
			}
			sum := sha256.Sum256([]byte(abs))
			key = "dir-" + hex.EncodeToString(sum[:])[:16]
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		path = filepath.Join(cache, "ainative", "data", key+".img")
	}
	fi, err := os.Stat(path)
	if err == nil {
		if !fi.Mode().IsRegular() && fi.Mode()&os.ModeDevice == 0 {
			return "", fmt.Errorf("data disk %s is not a file or a block device", path)
		}
		return path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("data disk: %w", err)
	}
	if err := datafs.CreateImage(path, size); err != nil {
		if _, serr := os.Stat(path); serr == nil {
			return path, nil // another `vm` made it meanwhile
		}
		return "", err
	}
	return path, nil
}

// parseSize reads a size in bytes with an optional K, M, G or T suffix
// (powers of 1024).
func parseSize(s string) (int64, error) {
	num, shift := strings.TrimSpace(s), 0
	if num != "" {
		switch strings.ToUpper(num[len(num)-1:]) {
		case "K":
			shift = 10
		case "M":
			shift = 20
		case "G":
			shift = 30
		case "T":
			shift = 40
		}
		if shift != 0 {
			num = num[:len(num)-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %q: want a positive number of bytes with an optional K, M, G or T suffix, e.g. 16G", s)
	}
	return n << shift, nil
}

// runVMDisk boots a disk image with UEFI firmware on this terminal. Its kernel
// command line is on the disk, so -c and the exit port do not apply, and
// a clean power-off cannot be told from a panic (both end with status 0).
func runVMDisk(ctx context.Context, disk string, attach []string, memory, cpus int, accel string, timeout time.Duration, hasCommand bool) error {
	if hasCommand {
		return &vmError{qemu.ExitHost, "--disk boots the disk's own command line; -c needs an image directory"}
	}
	if _, err := os.Stat(disk); err != nil {
		return &vmError{qemu.ExitHost, err.Error()}
	}
	arch, err := image.DiskArch(disk)
	if err != nil {
		return &vmError{qemu.ExitHost, err.Error()}
	}
	cfg := &qemu.Config{Arch: arch, BootDisk: disk, MemoryMiB: memory, CPUs: cpus, Accel: accel, Interactive: true, Disks: attach}
	code, template, err := qemu.FindFirmwareSplit(arch)
	if err == nil {
		cfg.Firmware = code
		if cfg.FirmwareVars, err = qemu.DiskVars(disk, template); err != nil {
			return &vmError{qemu.ExitHost, fmt.Sprintf("firmware variables for %s: %v", disk, err)}
		}
	} else if arch == "arm64" {
		return &vmError{qemu.ExitHost, err.Error()}
	} else {
		// One-file OVMF: it boots, but its NVRAM is lost at every run,
		// so each boot goes through startup.nsh and updates cannot
		// switch slots.
		fw, err := qemu.FindOVMF()
		if err != nil {
			return &vmError{qemu.ExitHost, err.Error()}
		}
		fmt.Fprintf(os.Stderr, "ainative vm: no OVMF_CODE/OVMF_VARS pair; boot entries will not persist\n")
		cfg.Firmware = fw
	}
	fw := cfg.Firmware
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		return &vmError{qemu.ExitHost, err.Error()}
	}
	fmt.Fprintf(os.Stderr, "ainative vm: booting %s with %s and %s; Ctrl-A x quits\n", disk, fw, vm.Accel)
	var status int
	if timeout > 0 {
		status, err = vm.WaitTimeout(timeout)
	} else {
		status, err = vm.Wait()
	}
	if err != nil {
		return &vmError{qemu.ExitTimeout, err.Error()}
	}
	if status != 0 {
		return &vmError{qemu.ExitHost, fmt.Sprintf("QEMU exited with status %d", status)}
	}
	return nil
}

func printForwards(cfg *qemu.Config) {
	for _, f := range cfg.Forwards {
		what := ""
		if f.Guest == initsys.StatusPort {
			what = " (status page)"
		}
		fmt.Fprintf(os.Stderr, "ainative vm: http://127.0.0.1:%d/ -> guest port %d%s\n", f.Host, f.Guest, what)
	}
}

func runVMInteractive(ctx context.Context, cfg *qemu.Config, timeout time.Duration) error {
	cfg.Interactive = true
	vm, err := qemu.Start(ctx, cfg)
	if err != nil {
		return &vmError{qemu.ExitHost, err.Error()}
	}
	fmt.Fprintf(os.Stderr, "ainative vm: booting with %s; Ctrl-A x quits\n", vm.Accel)
	printForwards(cfg)
	var status int
	if timeout > 0 {
		status, err = vm.WaitTimeout(timeout)
	} else {
		status, err = vm.Wait()
	}
	if err != nil {
		return &vmError{qemu.ExitTimeout, err.Error()}
	}
	code, msg := qemu.ExitStatus(qemu.Classify(cfg.Arch, status), false, nil)
	if code != 0 {
		return &vmError{code, msg}
	}
	return nil
}

func runVMCommand(ctx context.Context, cfg *qemu.Config, command string, timeout time.Duration, showConsole bool) error {
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	tmp, err := os.MkdirTemp("", "ainative-vm-")
	if err != nil {
		return &vmError{qemu.ExitHost, err.Error()}
	}
	defer os.RemoveAll(tmp)
	initrd := filepath.Join(tmp, "initramfs.cpio")
	if err := image.WithCommand(initrd, cfg.Initrd, command); err != nil {
		return &vmError{qemu.ExitHost, err.Error()}
	}
	cfg.Initrd = initrd

	// ttyS1 and ttyS2 carry the command's stdout and stderr through pipes.
	var wg sync.WaitGroup
	var serial []*os.File
	for _, dst := range []io.Writer{os.Stdout, os.Stderr} {
		r, w, err := os.Pipe()
		if err != nil {
			return &vmError{qemu.ExitHost, err.Error()}
		}
		serial = append(serial, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(dst, r)
			r.Close()
		}()
	}
	console := &qemu.Tail{Max: 1 << 20}
	cfg.Stdout, cfg.Stderr = console, console
	if showConsole {
		cfg.Stdout = io.MultiWriter(console, os.Stderr)
		cfg.Stderr = cfg.Stdout
	}
	cfg.ExtraSerial = serial
	vm, err := qemu.Start(ctx, cfg)
	for _, w := range serial {
		w.Close() // QEMU holds its own copies
	}
	if err != nil {
		wg.Wait()
		return &vmError{qemu.ExitHost, err.Error()}
	}
	status, werr := vm.WaitTimeout(timeout)
	wg.Wait()
	code, msg := qemu.ExitStatus(qemu.Classify(cfg.Arch, status), true, console.Bytes())
	if werr != nil {
		code, msg = qemu.ExitTimeout, werr.Error()
	}
	if msg != "" {
		if !showConsole {
			fmt.Fprintf(os.Stderr, "--- guest console ---\n%s\n--- end of console ---\n", console.Bytes())
		}
		return &vmError{code, "vm: " + msg}
	}
	if code != 0 {
		return exitStatus(code) // the command's status, without a message of ours
	}
	return nil
}
