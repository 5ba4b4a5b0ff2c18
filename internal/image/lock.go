package image

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// LockDir takes an exclusive lock for the image directory dir, waiting
// while another process holds it, and returns the function that releases
// it. It is an advisory flock(2) on dir+".lock", so that processes
// sharing an image cache (two `ainative vm` runs) do not build into the
// same directory at once, or boot an image while it is being rebuilt.
// The kernel releases the lock if the process dies.
func LockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	path := filepath.Clean(dir) + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
