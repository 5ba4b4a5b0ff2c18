// Package atomicfile writes output files that readers see whole or not at
// all: the contents go to a temporary file in the same directory, which is
// synced and then renamed over the target, and the directory is synced so
// the rename survives a crash. A failed write leaves the old file, and no
// temporary file, behind.
//
// Only regular files are replaced that way. A path is first resolved
// through its symbolic links, so a link is written through, not replaced;
// a device, a pipe or a socket (/dev/stdout, /dev/null, a FIFO) is opened
// and written directly, since renaming over it would turn it into a
// regular file, and "-" means standard output. A directory is an error.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Stdout is the path that means standard output.
const Stdout = "-"

// maxLinks bounds the symbolic links followed, as the kernel's ELOOP does.
const maxLinks = 40

// Write creates or replaces path, with permissions perm (for a new or
// replaced regular file), with what write produces.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	if path == Stdout {
		return write(os.Stdout)
	}
	target, fi, err := resolve(path)
	if err != nil {
		return err
	}
	switch {
	case fi == nil || fi.Mode().IsRegular():
		return replace(target, perm, write)
	case fi.IsDir():
		return fmt.Errorf("%s is a directory, not a file", path)
	default:
		return writeDirect(target, write)
	}
}

// WriteBytes is Write for contents already in memory.
func WriteBytes(path string, perm os.FileMode, data []byte) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// resolve follows path's symbolic links, including a dangling last one
// (whose target is then created), and returns the final path and its
// FileInfo, nil when it does not exist.
func resolve(path string) (string, os.FileInfo, error) {
	for range maxLinks {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return path, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return path, fi, nil
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", nil, err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	return "", nil, fmt.Errorf("%s: too many levels of symbolic links", path)
}

// writeDirect writes into an existing file that is not a regular one.
func writeDirect(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// replace writes a temporary file beside path and renames it over path.
func replace(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		d.Sync() // best effort: some filesystems refuse to sync a directory
		d.Close()
	}
	return nil
}
