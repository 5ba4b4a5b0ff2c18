package initsys

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mountPoint is one entry of the early mount table.
type mountPoint struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	mode                   os.FileMode
}

// earlyMounts are the file systems every process expects, mounted before
// anything else runs. The root itself is the initramfs (a tmpfs the kernel
// unpacked the archive into), already writable.
var earlyMounts = []mountPoint{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", 0o755},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666", 0o755},
	{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", 0o1777},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755", 0o755},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", 0o1777},
}

// mountEarly mounts earlyMounts, skipping those already mounted (the
// kernel mounts devtmpfs itself with CONFIG_DEVTMPFS_MOUNT).
func mountEarly() error {
	var errs []error
	for _, m := range earlyMounts {
		if err := os.MkdirAll(m.target, m.mode); err != nil {
			errs = append(errs, err)
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if errors.Is(err, unix.EBUSY) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	// /dev/fd and friends, which shells use for process substitution.
	for name, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		if _, err := os.Lstat(name); err != nil {
			_ = os.Symlink(target, name)
		}
	}
	return errors.Join(errs...)
}

// syncDisks writes cached data to the disks before power-off. The root
// is the initramfs (memory), the models disk is read-only and the data
// disk is unmounted by then (unmountData); sync covers any disk mounted
// by hand.
func syncDisks() {
	unix.Sync()
}
