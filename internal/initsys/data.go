package initsys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raym33/ainative/internal/datafs"
)

// DataDir is where the data file system is mounted: everything that must
// survive a reboot lives under it.
//
//	/var/lib/ainative/models/     the model store (store.DefaultDir for root)
//	/var/lib/ainative/bus/        the bus's context database and audit log
//	/var/lib/ainative/policy/     policy and configuration overrides
//	/var/lib/ainative/home/NAME/  users' homes; home/root is bind-mounted on
//	                              /root (root's shell history is there)
//
// Without a data disk (`vm --ephemeral`) the same directories are made in
// memory and vanish at power-off.
const DataDir = "/var/lib/ainative"

// DataSubdirs are the directories PID 1 makes under DataDir.
var DataSubdirs = []string{"models", "bus", "policy", "home", "home/root"}

// DataDiskParam is the kernel parameter naming the block device of the
// data file system: a /dev path (`ainative vm` passes ainative.data=/dev/vdX)
// or PARTLABEL=NAME, the GPT partition of that name (disk images).
const DataDiskParam = "ainative.data"

// rootHome is root's home in the image (/etc/passwd).
const rootHome = "/root"

// dataMountFlags keep device nodes and set-user-ID programs on the data
// disk from taking effect.
const dataMountFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOATIME

// dataMountOptions: on a metadata error ext4 goes read-only rather than
// carry on writing into a damaged file system (the kernel's panic
// option would be a boot loop); journal commits every 5 s bound what a
// power cut loses.
const dataMountOptions = "errors=remount-ro,commit=5"

// mountData mounts the data file system of dev at DataDir, formatting dev
// first if it is blank, and makes the state directories. Whatever goes
// wrong (no device, another file system, a corrupt or read-only disk),
// the directories still exist, in memory, and the error says what
// happened: the machine boots to its shell either way.
func mountData(ctx context.Context, log *slog.Logger, dev string) (err error) {
	defer func() {
		if merr := makeStateDirs(); merr != nil {
			err = errors.Join(err, merr)
		}
		if berr := bindRootHome(); berr != nil {
			err = errors.Join(err, berr)
		}
	}()
	if err := os.MkdirAll(DataDir, 0o755); err != nil {
		return err
	}
	if dev == "" {
		log.Info("no data disk: state is kept in memory until power-off")
		return nil
	}
	if label, ok := strings.CutPrefix(dev, partLabelPrefix); ok {
		if dev, err = waitPartition(ctx, label, 10*time.Second); err != nil {
			return fmt.Errorf("data disk: %w; state is kept in memory until power-off", err)
		}
	} else if err := waitDevice(ctx, dev, 10*time.Second); err != nil {
		return fmt.Errorf("data disk: %w; state is kept in memory until power-off", err)
	}
	content, err := probeDevice(dev)
	if err != nil {
		return fmt.Errorf("data disk %s: %w; state is kept in memory until power-off", dev, err)
	}
	switch content.Kind {
	case datafs.Blank:
		begin := time.Now()
		if err := formatDevice(dev); err != nil {
			return fmt.Errorf("data disk %s is blank, and formatting it failed: %w; state is kept in memory until power-off", dev, err)
		}
		log.Info("formatted the blank data disk", "device", dev, "took", time.Since(begin).Round(time.Millisecond))
	case datafs.Ext4:
		if content.Label != datafs.Label {
			log.Warn("data disk has another label; mounting it anyway", "device", dev, "label", content.Label, "want", datafs.Label)
		}
	default:
		return fmt.Errorf("data disk %s holds %s, not an ext4 file system; not formatting it: state is kept in memory until power-off", dev, content.What)
	}
	err = unix.Mount(dev, DataDir, "ext4", dataMountFlags, dataMountOptions)
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) {
		if rerr := unix.Mount(dev, DataDir, "ext4", dataMountFlags|unix.MS_RDONLY, dataMountOptions); rerr == nil {
			warnIfFull(log, DataDir)
			return fmt.Errorf("data disk %s is read-only: mounted it read-only at %s; changes to the state will fail", dev, DataDir)
		}
	}
	if err != nil {
		return fmt.Errorf("mounting data disk %s (ext4) on %s: %w (corrupt? dmesg says more); state is kept in memory until power-off", dev, DataDir, err)
	}
	log.Info("data disk mounted", "device", dev, "dir", DataDir)
	warnIfFull(log, DataDir)
	return nil
}

// makeStateDirs makes DataSubdirs; on a read-only data disk those that
// exist already are enough.
func makeStateDirs() error {
	var errs []error
	for _, d := range DataSubdirs {
		p := filepath.Join(DataDir, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("state directory: %w", err))
		}
	}
	if err := os.Chmod(filepath.Join(DataDir, "home/root"), 0o700); err != nil && !errors.Is(err, unix.EROFS) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// bindRootHome makes /root the persistent home/root, so that root's
// files and shell history survive reboots.
func bindRootHome() error {
	src := filepath.Join(DataDir, "home/root")
	if _, err := os.Stat(src); err != nil {
		return nil // reported by makeStateDirs
	}
	if err := os.MkdirAll(rootHome, 0o700); err != nil {
		return err
	}
	if err := unix.Mount(src, rootHome, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on %s: %w", src, rootHome, err)
	}
	return nil
}

// waitDevice waits for a block device to appear: its driver may still be
// probing when PID 1 starts.
func waitDevice(ctx context.Context, dev string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(dev); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %v", dev, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// partLabelPrefix starts a DataDiskParam that names a GPT partition.
const partLabelPrefix = "PARTLABEL="

// waitPartition waits for the partition named label (its GPT name, which
// the kernel reports as PARTNAME) and returns its device.
func waitPartition(ctx context.Context, label string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if dev := findPartition("/sys/class/block", label); dev != "" {
			return dev, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no partition named %s appeared within %v", label, timeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// findPartition looks through sysfs's block devices for the partition
// named label and returns its /dev path.
func findPartition(sysBlock, label string) string {
	entries, _ := os.ReadDir(sysBlock)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "uevent"))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if strings.TrimSpace(line) == "PARTNAME="+label {
				return "/dev/" + e.Name()
			}
		}
	}
	return ""
}

func probeDevice(dev string) (datafs.Content, error) {
	f, err := os.Open(dev)
	if err != nil {
		return datafs.Content{}, err
	}
	defer f.Close()
	return datafs.Probe(f)
}

// formatDevice writes a new data file system over the whole of dev.
func formatDevice(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_EXCL, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if err := datafs.Format(f, size); err != nil {
		return err
	}
	return f.Sync()
}

// unmountData unmounts /root and the data file system before power-off,
// so that the next boot finds the journal empty. A file system still
// busy (a process that ignored SIGKILL, a lazy file handle) is remounted
// read-only instead; failing that, the sync before power-off and the
// journal keep it consistent.
func unmountData(log *slog.Logger) {
	unix.Unmount(rootHome, 0)
	if !isMountPoint(DataDir) {
		return
	}
	var err error
	for range 20 {
		if err = unix.Unmount(DataDir, 0); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err == nil {
		log.Info("data disk unmounted")
		return
	}
	if rerr := unix.Mount("", DataDir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); rerr != nil {
		log.Error("data disk still in use at power-off; relying on the journal", "unmount", err, "remount read-only", rerr)
		return
	}
	log.Warn("data disk busy at power-off; remounted read-only", "err", err)
}

// isMountPoint reports whether dir is a mount point (its device differs
// from its parent's).
func isMountPoint(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
