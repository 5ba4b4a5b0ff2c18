package initsys

import (
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"
)

// dataFullBytes is the free space below which the data disk counts as
// full: less than a shell history's worth of writes.
const dataFullBytes = 1 << 20

// warnIfFull logs a warning when the file system at dir is (nearly)
// full, so that the failing writes of the services and the shell that
// follow have a cause on the console. A full disk is no reason not to
// boot: reading the state works, and removing files makes room.
func warnIfFull(log *slog.Logger, dir string) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		log.Warn("data disk: cannot tell its free space", "dir", dir, "err", err)
		return
	}
	if msg := fullMessage(dir, uint64(st.Bsize), st.Blocks, st.Bavail, st.Files, st.Ffree); msg != "" {
		log.Warn(msg)
	}
}

// fullMessage says why a file system with these statfs figures is full,
// or returns "" when it is not: too few free bytes, or no free inodes
// (files == 0: the file system does not count inodes).
func fullMessage(dir string, bsize, blocks, avail, files, ffree uint64) string {
	free := avail * bsize
	switch {
	case free < dataFullBytes:
		return fmt.Sprintf("data disk is full: %d KiB free of %d MiB at %s; saving state will fail until files there are removed",
			free>>10, blocks*bsize>>20, dir)
	case files > 0 && ffree == 0:
		return fmt.Sprintf("data disk is full: no free inodes (all %d used) at %s; creating files will fail until some are removed", files, dir)
	}
	return ""
}
