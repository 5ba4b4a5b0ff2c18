package hw

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// maxFileSize bounds every read of a /proc or /sys file. The largest one
// read whole is /proc/cpuinfo, about 1.5 KiB per CPU on x86: 8 MiB covers
// several thousand CPUs while keeping a corrupt or endless file harmless.
const maxFileSize = 8 << 20

// sysFS reads the files that describe a Linux system, relative to a root
// directory, so that tests can point it at a fake /proc and /sys tree.
type sysFS struct {
	root string // for error messages
	fsys fs.FS
}

func newSysFS(root string) sysFS {
	return sysFS{root: root, fsys: os.DirFS(root)}
}

// path returns the full path of name for error messages.
func (s sysFS) path(name string) string { return filepath.Join(s.root, name) }

// fsName turns an absolute path found in a system file (a mount point in
// /proc/self/mountinfo, a cgroup path) into a name inside s.
func fsName(abs string) (string, error) {
	name := strings.TrimPrefix(path.Clean("/"+abs), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("invalid path %q", abs)
	}
	return name, nil
}

func (s sysFS) read(name string) ([]byte, error) {
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, s.wrap(name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, s.wrap(name, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", s.path(name), maxFileSize)
	}
	return b, nil
}

// wrap names the file in err, replacing the fs-relative name of a
// *fs.PathError with the full path.
func (s sysFS) wrap(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: s.path(name), Err: pe.Err}
	}
	return fmt.Errorf("%s: %w", s.path(name), err)
}

// readString returns the file's contents without surrounding white space.
func (s sysFS) readString(name string) (string, error) {
	b, err := s.read(name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readInt reads a file holding one decimal integer, or a hexadecimal one
// with a 0x prefix (PCI ids and classes).
func (s sysFS) readInt(name string) (int64, error) {
	str, err := s.readString(name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(str, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.path(name), err)
	}
	return n, nil
}

// meminfo reads and parses a meminfo file (the system's or a NUMA
// node's); see parseMeminfo.
func (s sysFS) meminfo(name string) (map[string]int64, error) {
	b, err := s.read(name)
	if err != nil {
		return nil, err
	}
	m, err := parseMeminfo(b)
	if err != nil {
		return nil, s.wrap(name, err)
	}
	return m, nil
}

// readLink returns the target of a symbolic link such as a device's
// driver link.
func (s sysFS) readLink(name string) (string, error) {
	t, err := fs.ReadLink(s.fsys, name)
	if err != nil {
		return "", s.wrap(name, err)
	}
	return t, nil
}

func (s sysFS) readDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(s.fsys, name)
	if err != nil {
		return nil, s.wrap(name, err)
	}
	return ents, nil
}

func (s sysFS) exists(name string) bool {
	_, err := fs.Stat(s.fsys, name)
	return err == nil
}

// numberedEntries returns the numbers N of the entries named prefix+N in
// directory dir (cpu0, node1, index2, accel0), sorted.
func (s sysFS) numberedEntries(dir, prefix string) ([]int, error) {
	ents, err := s.readDir(dir)
	if err != nil {
		return nil, err
	}
	var ns []int
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 || strconv.Itoa(n) != rest {
			continue // e.g. cpufreq, cpuidle, or a leading zero
		}
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns, nil
}
